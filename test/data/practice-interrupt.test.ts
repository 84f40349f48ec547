/**
 * A practice competition build stopped by Ctrl-C, as a user sees it (the built CLI, bin/run.js):
 * `data practice`, and `digits run` while it builds the default competition. Its temp folder and
 * files (57–127 MB) go at once, its last word says so, and a later build sweeps what a killed
 * one (a dead pid) left beside --out.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { removeTempDirs, tempDir } from './helpers.js';
import { repoRoot } from '../helpers/run-command.js';
import { runBuilt } from '../helpers/built-cli.js';
import { deadPid } from '../helpers/dead-pid.js';

const bin = path.join(repoRoot, 'bin/run.js');
const env = { ...process.env, CI: 'true', DIGITS_BACKEND: 'wasm' };
afterAll(removeTempDirs);

const temps = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((name) => name.includes('.tmp-')) : []);

/** `digits <argv> --json` in `cwd`, sent SIGINT once `inDir` holds a temp file or folder of the build: how it died and its last line. */
async function interruptBuild(argv: string[], cwd: string, inDir: string) {
  const child = spawn(process.execPath, [bin, ...argv, '--json'], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  // (once train.csv is being written in the temp folder: the build is well under way)
  while (child.exitCode === null && !temps(inDir).some((name) => existsSync(path.join(inDir, name, 'train.csv')))) await new Promise((r) => setTimeout(r, 20));
  child.kill('SIGINT');
  const signal = await exited;
  return { signal, last: JSON.parse(stdout.trim().split('\n').at(-1) || '{}') as Record<string, unknown>, stderr };
}

test('data practice stopped by Ctrl-C removes its temp folder and files and says so; a later build sweeps what a killed one left', { timeout: 300_000 }, async () => {
  const work = await tempDir('digits-practice-stop-');
  // Given a large build, interrupted while it writes train.csv
  const { signal, last, stderr } = await interruptBuild(['data', 'practice', '--train', '40000', '--test', '5000', '--out', 'pr'], work, work);
  // Then it died by the signal with the interrupt line and a hint, and nothing of it is left
  expect(signal, stderr).toBe('SIGINT');
  expect(last).toMatchObject({ type: 'error', error: 'interrupted (SIGINT)', hint: 'The competition was not built (its partial files are removed): run the same command again.' });
  expect(temps(work)).toEqual([]);
  expect(existsSync(path.join(work, 'pr'))).toBe(false);
  // Given what a killed build (a pid that no longer runs) left beside --out, and a live process's temp
  const dead = await deadPid();
  await mkdir(path.join(work, `pr.tmp-${dead}-0a1b2c`));
  await writeFile(path.join(work, `pr.tmp-${dead}-0a1b2c`, 'train.csv'), 'label,pixel0\n');
  await writeFile(path.join(work, `pr-answers.csv.tmp-${dead}-0a1b2c`), 'ImageId,Label\n');
  await writeFile(path.join(work, `pr-answers.json.tmp-${dead}-0a1b2c`), '{');
  const live = `pr-answers.csv.tmp-${process.pid}-0d0e0f`;
  await writeFile(path.join(work, live), 'ImageId,Label\n');
  // When a build into the same --out succeeds
  const built = await runBuilt(['data', 'practice', '--train', '100', '--test', '20', '--out', 'pr'], work);
  expect(built.code, built.stderr).toBe(0);
  // Then the dead build's temps are gone, the live process's stays
  expect(temps(work)).toEqual([live]);
  expect((await readdir(path.join(work, 'pr'))).sort()).toEqual(['sample_submission.csv', 'test.csv', 'train.csv']);
});

test('digits run stopped by Ctrl-C while it builds the default practice competition leaves no temp folder beside it, nor the competitions/ folder it made', { timeout: 300_000 }, async () => {
  const work = await tempDir('digits-run-practice-stop-');
  const competitions = path.join(work, 'competitions');
  // Given a run in an empty folder, interrupted while it builds competitions/uniform
  const { signal, last, stderr } = await interruptBuild(['run', '--budget', '1'], work, competitions);
  // Then it says nothing is kept, and nothing is: no temp folder or file under competitions/, no run folder
  expect(signal, stderr).toBe('SIGINT');
  expect(last).toMatchObject({ type: 'error', error: 'interrupted (SIGINT)', hint: expect.stringMatching(/^Training had not started, so nothing is kept and no run folder is left/) });
  expect(temps(competitions)).toEqual([]);
  expect(existsSync(path.join(work, 'runs'))).toBe(false);
  // nor the competitions/ folder the run made for it (it was left empty until session 46)
  expect(existsSync(competitions)).toBe(false);
});
