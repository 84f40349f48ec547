/**
 * A reader of the CLI's output that goes away (`digits train … 2>&1 | head -1`): the job goes on
 * to its end and saves what it would have saved, and exits 0, where training died with exit 1
 * and pretraining with 7 (the uncaught EPIPE's handler threw again writing to the closed stderr),
 * each leaving its lock and no checkpoint (until session 43). The built CLI, as a shell runs it.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { importCompetition, resolveCompetitionFiles } from '../../src/data/import.js';
import { buildPracticeCompetition } from '../../src/data/practice.js';
import { removeTempDirs, tempDir } from '../data/helpers.js';
import { repoRoot } from '../helpers/run-command.js';

const bin = path.join(repoRoot, 'bin/run.js');
let work: string;

/** Runs `digits <argv>` with stdout and stderr on one pipe whose reader closes it after the first line; its exit code. */
function untilFirstLine(argv: string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null; first: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...argv], { cwd: work, env: { ...process.env, CI: 'true', DIGITS_BACKEND: 'wasm' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let first = '';
    const close = (chunk: Buffer) => {
      if (first) return;
      first = chunk.toString().split('\n')[0]!;
      // the reader goes away, as `head -1` does after its line: both ends of the pipe close
      child.stdout.destroy();
      child.stderr.destroy();
    };
    child.stdout.on('data', close);
    child.stderr.on('data', close);
    child.on('exit', (code, signal) => resolve({ code, signal, first }));
  });
}

beforeAll(async () => {
  work = await tempDir('digits-closed-output-');
  await buildPracticeCompetition({ recipe: 'uniform', out: path.join(work, 'comp'), trainRows: 200, testRows: 20, seed: 3 });
  await importCompetition({ ...(await resolveCompetitionFiles([path.join(work, 'comp')])), orientation: 'as-is' });
  await writeFile(path.join(work, 'mlp.json'), JSON.stringify({ name: 'mlp1', members: [{ preset: 'mlp', epochs: 2 }] }));
});
afterAll(removeTempDirs);

describe('a closed output pipe', () => {
  test('train goes on to its end: the run is finished, its member saved, no lock left', async () => {
    const result = await untilFirstLine(['train', '--data', 'comp', '--ensemble', 'mlp.json', '--run', 'runs/piped']);
    expect(result.first).not.toBe('');
    expect(result, result.first).toMatchObject({ code: 0, signal: null });
    const run = JSON.parse(await readFile(path.join(work, 'runs', 'piped', 'run.json'), 'utf8')) as { status: string; members: Array<{ ok: boolean }> };
    expect(run.status).toBe('finished');
    expect(run.members.every((m) => m.ok)).toBe(true);
    expect(existsSync(path.join(work, 'runs', 'piped', '.lock'))).toBe(false);
  });

  test('pretrain goes on to its end and writes its checkpoint', async () => {
    const result = await untilFirstLine(['pretrain', '--preset', 'mlp', '--limit', '400', '--epochs', '1', '--out', 'ck/piped']);
    expect(result).toMatchObject({ code: 0, signal: null });
    expect(existsSync(path.join(work, 'ck', 'piped', 'COMPLETE'))).toBe(true);
  });
});
