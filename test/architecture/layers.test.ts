/**
 * The layout's rule, checked on the sources: a folder of src/ imports only folders below it
 * (README, "Layout"), and no two files import each other, even through others.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';

const src = fileURLToPath(new URL('../../src', import.meta.url));

/** Higher imports lower; equal ranks (tui, serve, report) do not import each other. */
const RANK: Record<string, number> = {
  commands: 10, cli: 9, services: 8, tui: 7, serve: 7, report: 7, runs: 6.7, ensemble: 6,
  evaluation: 5.5, training: 5, inference: 4, onnx: 3.5, model: 2, data: 1, engine: 0, '.': -1,
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const file = path.join(dir, name);
    if (statSync(file).isDirectory()) return sourceFiles(file);
    return /\.tsx?$/.test(name) ? [file] : [];
  });
}

const folderOf = (file: string) => {
  const parts = path.relative(src, file).split(path.sep);
  return parts.length > 1 ? parts[0]! : '.';
};

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
    const target = path.resolve(path.dirname(file), m[1]!).replace(/\.js$/, '');
    for (const ext of ['.ts', '.tsx']) {
      try {
        if (statSync(target + ext).isFile()) out.push(target + ext);
      } catch {
        /* not this extension */
      }
    }
  }
  return out;
}

const files = sourceFiles(src);
const edges = new Map(files.map((f) => [f, importsOf(f)]));

describe('layout', () => {
  test('every folder of src/ has a rank', () => {
    expect(files.map(folderOf).filter((f) => !(f in RANK))).toEqual([]);
  });

  test('no folder imports a folder above it or beside it', () => {
    const upward: string[] = [];
    for (const [file, targets] of edges) {
      for (const target of targets) {
        const from = folderOf(file);
        const to = folderOf(target);
        if (from !== to && RANK[to]! >= RANK[from]!) upward.push(`${path.relative(src, file)} → ${path.relative(src, target)}`);
      }
    }
    expect(upward).toEqual([]);
  });

  test('no import cycle between files', () => {
    const cycles: string[] = [];
    const done = new Set<string>();
    const stack: string[] = [];
    const visit = (file: string) => {
      const at = stack.indexOf(file);
      if (at >= 0) {
        cycles.push([...stack.slice(at), file].map((f) => path.relative(src, f)).join(' → '));
        return;
      }
      if (done.has(file)) return;
      stack.push(file);
      for (const target of edges.get(file) ?? []) visit(target);
      stack.pop();
      done.add(file);
    };
    files.forEach(visit);
    expect(cycles).toEqual([]);
  });
});
