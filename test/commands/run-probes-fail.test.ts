/**
 * `digits run` whose every probe fails alike on something the user can put right (a full disk;
 * here, for real and without root, a folder where each probe writes its history.json): one error
 * line naming the file and what to do, exit 2, not an internal error with a stack (exit 70).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { buildPracticeCompetition } from '../../src/data/practice.js';
import { removeTempDirs, tempDir } from '../data/helpers.js';
import { repoRoot } from '../helpers/run-command.js';

const bin = path.join(repoRoot, 'bin/run.js');
const env = { ...process.env, CI: 'true', DIGITS_BACKEND: 'wasm' };

let work: string;
let competition: string;
beforeAll(async () => {
  work = await tempDir('digits-run-probes-fail-');
  competition = path.join(work, 'competitions', 'uniform');
  await buildPracticeCompetition({ recipe: 'uniform', out: competition, trainRows: 300, testRows: 40, seed: 11 });
});
afterAll(removeTempDirs);

test('every probe failing on the same fixable system error is that error (exit 2, one line), not a bug report', { timeout: 300_000 }, async () => {
  // (the mlp preset: one start to range-test and probe, a network that trains in a second; the
  // error's path does not depend on the network)
  const child = spawn(process.execPath, [bin, 'run', '--data', competition, '--budget', '0.5', '--concurrency', '2', '--preset', 'mlp', '--json'], { cwd: work, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  // Given a run whose probes each find a folder where their history.json goes (put there at its
  // first stage line: its run folder is claimed before it, and the probes come after the range tests)
  let blocked = false;
  child.stdout.on('data', (c: Buffer) => {
    stdout += c.toString();
    if (blocked || !stdout.includes('"type":"stage"')) return;
    blocked = true;
    const [run] = readdirSync(path.join(work, 'runs'));
    for (let i = 1; i <= 6; i++) for (const start of ['noisy', 'clean', 'scratch']) mkdirSync(path.join(work, 'runs', run!, 'auto-probes', `probe-${i}-${start}`, 'history.json'), { recursive: true });
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  const last = JSON.parse(stdout.trim().split('\n').at(-1)!) as { type: string; error: string; hint: string | null };
  // Then the run ends with that error as the user's to put right: the file, what is wrong, what to do
  expect(code, `${stdout}\n${stderr}`).toBe(2);
  expect(last).toMatchObject({ type: 'error', error: expect.stringMatching(/^cannot write .*auto-probes\/probe-1-\w+\/history\.json: it is a folder, not a file$/), hint: expect.stringMatching(/^Move that folder aside/) });
  expect(last.error).not.toMatch(/internal error/);
  expect(blocked).toBe(true);
});
