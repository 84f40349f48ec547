/**
 * What a command loads before it runs: the built command modules (dist/, what `digits` runs)
 * and everything they import statically. tfjs alone takes about a second to load, so a command
 * that builds no model (or builds one only after its flags and files are checked) must reach
 * it only through a dynamic `import()`: then a mistyped flag, a missing file or `digits runs`
 * answers at once. `npm test` builds dist/ first.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';

const dist = fileURLToPath(new URL('../../dist', import.meta.url));
/** Packages that take a noticeable time to load, or start native runtimes. */
const HEAVY = ['@tensorflow/tfjs-core', '@tensorflow/tfjs-layers', '@tensorflow/tfjs-backend-cpu', '@tensorflow/tfjs-backend-wasm', 'onnxruntime-node', 'onnxruntime-web', 'ink', 'react', 'bullmq', 'ioredis', 'fastify', 'playwright-core'];
/** Commands whose every run needs a model at once: importing a competition detects its orientation with one. */
const NEEDS_A_MODEL = new Set(['data/import.js']);

function commandFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const file = path.join(dir, name);
    if (statSync(file).isDirectory()) return commandFiles(file);
    return name.endsWith('.js') ? [file] : [];
  });
}

/** The chain of static imports from `start` to the first heavy package it reaches, or null. */
function heavyChain(start: string): string[] | null {
  const from = new Map<string, string | null>([[start, null]]);
  const queue = [start];
  const chain = (file: string, spec: string) => {
    const out = [spec];
    for (let at: string | null = file; at; at = from.get(at) ?? null) out.push(path.relative(dist, at));
    return out.reverse();
  };
  while (queue.length > 0) {
    const file = queue.shift()!;
    const text = readFileSync(file, 'utf8');
    // import … from '…', export … from '…', import '…' at a statement's start (dynamic import() is not matched),
    // and a `require` made by createRequire called at the top level, as engine/tf.js loads tfjs
    // (`load('…')` or `const x = load('…')`; one inside a function runs when called, as import() does)
    for (const m of text.matchAll(/^(?:import|export)\s[^'";]*?from\s*['"]([^'"]+)['"]|^import\s*['"]([^'"]+)['"]|^(?:(?:const|let|var)\s[^=;]*=\s*)?(?:load|require)\(\s*['"]([^'"]+)['"]/gm)) {
      const spec = (m[1] ?? m[2] ?? m[3])!;
      if (spec.startsWith('.')) {
        const target = path.resolve(path.dirname(file), spec);
        if (!from.has(target) && existsSync(target)) {
          from.set(target, file);
          queue.push(target);
        }
      } else if (HEAVY.some((pkg) => spec === pkg || spec.startsWith(`${pkg}/`))) {
        return chain(file, spec);
      }
    }
  }
  return null;
}

describe('command start-up', () => {
  const commands = path.join(dist, 'commands');
  test('dist/ is built (npm test builds it)', () => {
    expect(existsSync(commands)).toBe(true);
  });

  test('no command loads tfjs, ONNX Runtime, Ink, Redis or the server before it runs, but data import', () => {
    const files = existsSync(commands) ? commandFiles(commands) : [];
    expect(files.length).toBeGreaterThan(10);
    const heavy = files
      .filter((file) => !NEEDS_A_MODEL.has(path.relative(commands, file)))
      .map((file) => heavyChain(file))
      .filter((c): c is string[] => c !== null)
      .map((c) => c.join(' → '));
    expect(heavy).toEqual([]);
  });

  test('the check sees a static import of tfjs (data import has one)', () => {
    expect(heavyChain(path.join(commands, 'data', 'import.js'))?.at(-1)).toMatch(/^@tensorflow\/tfjs/);
  });
});
