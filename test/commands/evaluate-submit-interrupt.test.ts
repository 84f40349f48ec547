/**
 * `digits evaluate` and `digits submit` stopped by a signal while they predict, as a user sees
 * it (the built CLI, bin/run.js, plain lines on stderr): the last word names the signal and
 * what is kept, the process dies by the signal, no lock is left, and the next command works.
 * Also SIGHUP, which a closing terminal sends: handled as SIGINT and SIGTERM are.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { buildPracticeCompetition } from '../../src/data/practice.js';
import { removeTempDirs, tempDir } from '../data/helpers.js';
import { repoRoot } from '../helpers/run-command.js';

const exec = promisify(execFile);
const bin = path.join(repoRoot, 'bin/run.js');
const env = { ...process.env, CI: 'true', DIGITS_BACKEND: 'wasm' };

let work: string;
const runDir = () => path.join(work, 'runs', 't');

/** Starts `digits <argv>`, sends `signal` once stderr shows `marker`; how it ended and what it wrote. */
async function interrupt(argv: string[], marker: string, signal: NodeJS.Signals) {
  const child = spawn(process.execPath, [bin, ...argv], { cwd: work, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let sent = false;
  const ended = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('exit', (code, sig) => resolve([code, sig])));
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    if (!sent && stderr.includes(marker)) {
      sent = true;
      child.kill(signal);
    }
  });
  const [code, died] = await ended;
  return { code, died, sent, stderr };
}

beforeAll(async () => {
  work = await tempDir('digits-evaluate-interrupt-');
  // 3,000 test rows, so that predicting them (8-way TTA) outlasts the signal's way to the process
  const competition = path.join(work, 'comp');
  await buildPracticeCompetition({ recipe: 'uniform', out: competition, trainRows: 200, testRows: 3000, seed: 5 });
  await exec(process.execPath, [bin, 'data', 'import', competition], { cwd: work, env });
  await writeFile(path.join(work, 'tiny.json'), JSON.stringify({ name: 'tiny', members: [{ preset: 'seed002', epochs: 1, batchSize: 32 }] }));
  await exec(process.execPath, [bin, 'train', '--data', competition, '--ensemble', 'tiny.json', '--run', runDir(), '--concurrency', '1'], { cwd: work, env });
}, 240_000);
afterAll(removeTempDirs);

test.each(['SIGINT', 'SIGHUP'] as const)('evaluate stopped by %s while it predicts: it says the evaluation is as it was, dies by the signal, and leaves no lock', { timeout: 120_000 }, async (signal) => {
  // Given a trained run, When its evaluation gets the signal while it predicts the test rows
  const { died, sent, stderr } = await interrupt(['evaluate', '--run', runDir()], 'predicting 3000 test rows', signal);
  expect(sent, stderr).toBe(true);
  // Then it dies by that signal, its last word naming the signal and what is kept
  expect(died, stderr).toBe(signal);
  expect(stderr).toContain(`error: interrupted (${signal})`);
  expect(stderr).toContain("hint: The run's evaluation is as it was (evaluation.json is written only when an evaluation ends): run the same command again.");
  // And it wrote no evaluation and left no lock
  expect(existsSync(path.join(runDir(), 'evaluation.json'))).toBe(false);
  expect(existsSync(path.join(runDir(), '.lock'))).toBe(false);
});

test('submit stopped by SIGTERM while it predicts: it says what is kept and how to list it; the same command then submits', { timeout: 120_000 }, async () => {
  // Given a trained run and a submissions folder of the user's choosing
  // When its submission gets SIGTERM while it predicts the test rows
  const { died, sent, stderr } = await interrupt(['submit', '--run', runDir(), '--dir', 'my subs'], 'predicting 3000 test rows', 'SIGTERM');
  expect(sent, stderr).toBe(true);
  // Then it dies by the signal, saying how to go on, with --dir in the listing command
  expect(died, stderr).toBe('SIGTERM');
  expect(stderr).toContain('error: interrupted (SIGTERM)');
  expect(stderr).toContain("hint: Run the same command again. A CSV in 'my subs' named before the interruption but not in its ledger is kept, and `digits submissions --dir 'my subs'` lists it.");
  // And nothing was submitted
  expect(await readdir(path.join(work, 'my subs')).catch(() => [])).not.toContainEqual(expect.stringMatching(/\.csv$/));
  // And the same command then submits (one member: said as one)
  const { stdout } = await exec(process.execPath, [bin, 'submit', '--run', runDir(), '--dir', 'my subs'], { cwd: work, env });
  expect(stdout).toMatch(/3,000 rows, 1 member, soft voting/);
});

test('a submission in another number format than its evaluation says so, and the ledger records both', { timeout: 180_000 }, async () => {
  // Given the run evaluated in fp32
  await exec(process.execPath, [bin, 'evaluate', '--run', runDir(), '--precision', 'fp32', '--no-tta'], { cwd: work, env });
  // When it is submitted in int8
  const { stdout, stderr } = await exec(process.execPath, [bin, 'submit', '--run', runDir(), '--dir', 'formats', '--precision', 'int8'], { cwd: work, env });
  // Then the output says what the test rows were predicted in, and whose the held-out figures are
  expect(stdout).toMatch(/, predicted in int8; validated/);
  expect(stdout).toMatch(/validation accuracy [\d.]+% \(held-out rows, of the fp32 evaluation\)/);
  expect(stderr).toContain("warning: the held-out figures are the fp32 evaluation's; this submission predicted the test rows in int8: `digits evaluate --run runs/t --precision int8` gives its own");
  // and the ledger lists both formats
  const listed = await exec(process.execPath, [bin, 'submissions', '--dir', 'formats'], { cwd: work, env });
  expect(listed.stdout).toMatch(/soft int8\s+no\s+[\d.]+% \(fp32\)/);
  // When it is submitted with the evaluation's own format (fp32: its saved predictions), nothing is said
  const same = await exec(process.execPath, [bin, 'submit', '--run', runDir(), '--dir', 'formats'], { cwd: work, env });
  expect(same.stdout).toMatch(/, predicted in fp32; validated/);
  expect(same.stdout).toMatch(/validation accuracy [\d.]+% \(held-out rows\)\n/);
  expect(same.stderr).not.toContain('warning:');
});
