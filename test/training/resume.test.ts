/**
 * Resume after a crash, for real: a `digits train` process is killed with SIGKILL in the
 * middle of its second epoch, and `digits train --resume --run X` (nothing else: the run
 * folder records its ensemble and data) finishes the run, keeping the first epoch as it was.
 */
import { spawn } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { importCompetition, resolveCompetitionFiles } from '../../src/data/import.js';
import { buildPracticeCompetition } from '../../src/data/practice.js';
import { evaluateRun } from '../../src/services/evaluate.js';
import { UserError } from '../../src/errors.js';
import { deadPid } from '../helpers/dead-pid.js';
import { ensembleFromJson } from '../../src/ensemble/ensemble-spec.js';
import { trainEnsemble } from '../../src/services/train.js';

let dir: string;
let competition: string;
const ensembleFile = () => path.join(dir, 'ensemble.json');

beforeAll(async () => {
  // Given a tiny uniform practice competition, imported
  dir = await mkdtemp(path.join(os.tmpdir(), 'digits-resume-'));
  competition = path.join(dir, 'uniform');
  await buildPracticeCompetition({ recipe: 'uniform', out: competition, trainRows: 400, testRows: 20, seed: 3 });
  await importCompetition({ ...(await resolveCompetitionFiles([competition])), orientation: 'as-is' });
  await writeFile(
    ensembleFile(),
    JSON.stringify({ name: 'resume', validation: { kind: 'shared', fraction: 0.25, seed: 1 }, members: [{ preset: 'mlp', name: 'only', epochs: 4, batchSize: 10, schedule: { kind: 'exponential', decay: 0.5 } }] }),
  );
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function train(args: string[]) {
  return spawn(process.execPath, ['bin/run.js', 'train', '--run', path.join(dir, 'run'), '--concurrency', '1', ...args], {
    env: { ...process.env, CI: 'true' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

async function readHistory(): Promise<Array<{ epoch: number; lr: number; loss: number }>> {
  return JSON.parse(await readFile(path.join(dir, 'run', 'only', 'history.json'), 'utf8'));
}

test('a training process killed mid-run resumes from its last finished epoch', async () => {
  // When the run is killed once its first epoch is on disk
  const first = train(['--ensemble', ensembleFile(), '--data', competition]);
  let stderr = '';
  first.stderr.on('data', (chunk) => (stderr += chunk));
  const killedAfter = await new Promise<number>((resolve, reject) => {
    const poll = setInterval(async () => {
      const history = await readHistory().catch(() => []);
      if (history.length >= 1) {
        clearInterval(poll);
        first.kill('SIGKILL');
        resolve(history.length);
      }
    }, 50);
    first.on('exit', (code) => {
      clearInterval(poll);
      if (code !== null) reject(new Error(`training ended (${code}) before it could be killed:\n${stderr}`));
    });
  });
  // (the next command a user types finds the process gone: wait for it to be)
  if (first.exitCode === null && first.signalCode === null) await new Promise((resolve) => first.on('exit', resolve));
  const before = await readHistory();
  expect(before.length).toBe(killedAfter);
  expect(killedAfter).toBeLessThan(4);

  // Then run.json says the training has not finished, and evaluating it says how to resume
  const interrupted = JSON.parse(await readFile(path.join(dir, 'run', 'run.json'), 'utf8'));
  expect(interrupted).toMatchObject({ status: 'training', ensemble: { name: 'resume' } });
  const evaluation = await evaluateRun({ runDir: path.join(dir, 'run') }).catch((error: unknown) => error);
  expect(evaluation).toBeInstanceOf(UserError);
  expect((evaluation as UserError).hint).toContain(`digits train --resume --run ${path.join(dir, 'run')}`);

  // And resumed with --run alone
  const second = train(['--resume']);
  let out = '';
  second.stdout.on('data', (chunk) => (out += chunk));
  second.stderr.on('data', (chunk) => (out += chunk));
  const code = await new Promise<number | null>((resolve) => second.on('exit', resolve));
  expect(code, out).toBe(0);

  // Then all four epochs are there, the first ones unchanged, the rates on schedule
  const after = await readHistory();
  expect(after.map((r) => r.epoch)).toEqual([0, 1, 2, 3]);
  expect(after.slice(0, before.length)).toEqual(before);
  expect(after.map((r) => r.lr)).toEqual([1e-3, 5e-4, 2.5e-4, 1.25e-4]);
  expect(out).toContain(`resumed at epoch ${before.length + 1}`);
  const manifest = JSON.parse(await readFile(path.join(dir, 'run', 'run.json'), 'utf8'));
  expect(manifest.members[0]).toMatchObject({ name: 'only', ok: true, epochs: 4 });
  expect(manifest.status).toBe('finished');
  // the run's time counts both sessions
  expect(manifest.seconds).toBeGreaterThanOrEqual(interrupted.seconds);
}, 180_000);

test('a run killed in its second member: run.json kept its time so far, and the resume says the first member is already trained', async () => {
  // Given a run of two members trained one after the other, killed once the second has an epoch on disk
  const runDir = path.join(dir, 'two');
  const file = path.join(dir, 'two.json');
  const member = (name: string) => ({ preset: 'mlp', name, epochs: 3, batchSize: 10 });
  await writeFile(file, JSON.stringify({ name: 'two', validation: { kind: 'shared', fraction: 0.25, seed: 1 }, members: [member('a'), member('b')] }));
  const start = (args: string[]) => spawn(process.execPath, ['bin/run.js', 'train', '--run', runDir, '--concurrency', '1', ...args], { env: { ...process.env, CI: 'true' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const first = start(['--ensemble', file, '--data', competition]);
  await new Promise<void>((resolve) => {
    const poll = setInterval(async () => {
      const history = await readFile(path.join(runDir, 'b', 'history.json'), 'utf8').catch(() => '[]');
      if ((JSON.parse(history) as unknown[]).length >= 1) {
        clearInterval(poll);
        first.kill('SIGKILL');
        resolve();
      }
    }, 50);
  });
  await new Promise((resolve) => first.on('exit', resolve));
  const interrupted = JSON.parse(await readFile(path.join(runDir, 'run.json'), 'utf8'));
  // (four epochs and more were done by then; the process died without a last write)
  expect(interrupted.status).toBe('training');
  expect(interrupted.seconds).toBeGreaterThan(0);

  // When it is resumed
  const second = start(['--resume']);
  let out = '';
  second.stderr.on('data', (chunk) => (out += chunk));
  expect(await new Promise<number | null>((resolve) => second.on('exit', resolve)), out).toBe(0);

  // Then the first member is reported as trained already (not "resumed at epoch 4" of 3), and the time adds up
  expect(out).toContain('a: 300 training rows, 100 validation rows, 3 epochs × 30 batches (already trained (3 epochs))');
  expect(out).not.toContain('resumed at epoch 4');
  const finished = JSON.parse(await readFile(path.join(runDir, 'run.json'), 'utf8'));
  expect(finished.members.map((m: { ok: boolean; epochs: number }) => [m.ok, m.epochs])).toEqual([[true, 3], [true, 3]]);
  expect(finished.seconds).toBeGreaterThanOrEqual(interrupted.seconds);
}, 180_000);

test('a second `digits train` into the same run folder fails, naming the first; the first is unharmed', async () => {
  // Given a training that holds its run folder (stopped with SIGSTOP once run.json exists)
  const runDir = path.join(dir, 'shared');
  const args = ['bin/run.js', 'train', '--ensemble', ensembleFile(), '--data', competition, '--run', runDir, '--concurrency', '1'];
  const first = spawn(process.execPath, args, { env: { ...process.env, CI: 'true' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const firstExit = new Promise<number | null>((resolve) => first.on('exit', resolve));
  await new Promise<void>((resolve) => {
    const poll = setInterval(async () => {
      const text = await readFile(path.join(runDir, 'run.json'), 'utf8').catch(() => '');
      if (text.includes('"status": "training"')) {
        clearInterval(poll);
        first.kill('SIGSTOP');
        resolve();
      }
    }, 50);
  });
  try {
    // When a second one targets the same folder
    const second = spawn(process.execPath, args, { env: { ...process.env, CI: 'true' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    second.stderr.on('data', (chunk) => (err += chunk));
    const code = await new Promise<number | null>((resolve) => second.on('exit', resolve));
    // Then it fails at once and names the holder
    expect(code).not.toBe(0);
    expect(err).toContain(`in use by pid ${first.pid}`);
  } finally {
    first.kill('SIGCONT');
  }
  // And the first finishes normally
  expect(await firstExit).toBe(0);
  expect(JSON.parse(await readFile(path.join(runDir, 'run.json'), 'utf8')).status).toBe('finished');
}, 180_000);

test('a new run is refused in a folder holding a run or other files, and the run there is left as it was', async () => {
  // Given the finished run of the first test, and a folder holding a note
  const finished = path.join(dir, 'run');
  const before = await readFile(path.join(finished, 'run.json'), 'utf8');
  expect(JSON.parse(before).status).toBe('finished');
  const notes = path.join(dir, 'notes');
  await mkdir(notes, { recursive: true });
  await writeFile(path.join(notes, 'notes.txt'), 'mine');
  const attempt = async (args: string[]) => {
    const child = spawn(process.execPath, ['bin/run.js', ...args], { env: { ...process.env, CI: 'true' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (chunk) => (err += chunk));
    return { code: await new Promise<number | null>((resolve) => child.on('exit', resolve)), err };
  };

  // When a new run is trained into either, or a search started in the run's folder
  const over = await attempt(['train', '--ensemble', ensembleFile(), '--data', competition, '--run', finished, '--concurrency', '1']);
  const among = await attempt(['train', '--ensemble', ensembleFile(), '--data', competition, '--run', notes, '--concurrency', '1']);
  const space = path.join(dir, 'space.json');
  await writeFile(space, JSON.stringify({ preset: 'mlp', start: 'scratch', optimizer: 'adam', learningRate: 1e-3, epochs: 1, batchSize: 32 }));
  const search = await attempt(['search', '--data', competition, '--space', space, '--trials', '1', '--out', finished]);

  // Then each is refused, naming the folder and what to do, and nothing there changed
  expect(over.code, over.err).toBe(2);
  expect(over.err).toMatch(/already holds run run, finished; a new run needs a new or empty folder \(.*run\.json, flag --run\)\n {2}hint: Give --run a new folder/);
  expect(among.code).toBe(2);
  expect(among.err).toMatch(/already holds files \(notes\.txt\); a new run needs a new or empty folder \(flag --run\)/);
  expect(search.code, search.err).toBe(2);
  expect(search.err).toMatch(/already holds run run, finished; a new search needs a new or empty folder \(.*flag --out\)/);
  // (the service refuses the same, for callers other than the command: holding the folder's lock itself, it names the run, not itself)
  const spec = ensembleFromJson(await readFile(ensembleFile(), 'utf8'));
  await expect(trainEnsemble({ ensemble: spec, data: competition, runDir: finished, concurrency: 1, backend: 'wasm', command: 'vitest' })).rejects.toThrow(/already holds run run, finished; a new run needs a new or empty folder/);
  expect(await readFile(path.join(finished, 'run.json'), 'utf8')).toBe(before);
  expect(await readdir(notes)).toEqual(['notes.txt']);

  // But what a writer killed before its first epoch leaves (its lock, a temp file) does not count: the same command starts the run there
  const left = path.join(dir, 'killed-early');
  await mkdir(left, { recursive: true });
  const pid = await deadPid();
  await writeFile(path.join(left, '.lock'), `${JSON.stringify({ pid, hostname: os.hostname(), startedAt: new Date().toISOString(), command: 'digits train' })}\n`);
  await writeFile(path.join(left, `run.json.tmp-${pid}-0a1b2c3d`), '{');
  const again = await attempt(['train', '--ensemble', ensembleFile(), '--data', competition, '--run', left, '--concurrency', '1', '--epochs', '1']);
  expect(again.code, again.err).toBe(0);
  expect(JSON.parse(await readFile(path.join(left, 'run.json'), 'utf8')).status).toBe('finished');
}, 180_000);

test('an init checkpoint of another preset, or a freezeUpTo naming no layer, is refused before training: no run folder is left', async () => {
  const tryTrain = (member: Record<string, unknown>, runName: string) =>
    trainEnsemble({ ensemble: ensembleFromJson(JSON.stringify({ name: 'wrong', validation: { kind: 'shared', fraction: 0.25, seed: 1 }, members: [member] })), data: competition, runDir: path.join(dir, runName), concurrency: 1, backend: 'wasm', command: 'vitest' }).then(
      () => null,
      (error: unknown) => error as UserError,
    );
  // Given an mlp member that starts from a seed002 checkpoint
  const mismatch = await tryTrain({ preset: 'mlp', name: 'm', epochs: 1, init: 'checkpoints/mnist-clean/seed002' }, 'wrong-preset');
  // Then it is refused before anything is trained, naming the checkpoint's preset and what to change
  expect(mismatch).toBeInstanceOf(UserError);
  expect(mismatch!.message).toMatch(/^member m: its init checkpoint .*seed002 is a seed002 network, and the member's preset is mlp$/);
  expect(mismatch!.hint).toMatch(/^Give the member "preset": "seed002", or an init checkpoint of preset mlp\. Fix the member in the ensemble file\.$/);
  // And a layer that the checkpoint does not have is refused the same way, listing its layers
  const frozen = await tryTrain({ preset: 'seed002', name: 'f', epochs: 1, init: 'checkpoints/mnist-clean/seed002', freezeUpTo: 'nolayer' }, 'wrong-layer');
  expect(frozen!.message).toMatch(/^member f: "freezeUpTo": "nolayer" names no layer of its init checkpoint \(layers: conv_0, bn_1, .*dense_21\)$/);
  // and neither left a run folder behind
  expect((await readdir(dir)).filter((name) => name.startsWith('wrong-'))).toEqual([]);
}, 60_000);

test('a run whose every member fails ends with an error line and exit 1, and run.json says failed; a damaged init is refused before any of it', async () => {
  const run = async (file: string, args: string[]) => {
    const child = spawn(process.execPath, ['bin/run.js', 'train', '--ensemble', file, '--data', competition, '--concurrency', '1', ...args], { env: { ...process.env, CI: 'true' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.stderr.on('data', (chunk) => (err += chunk));
    return { code: await new Promise<number | null>((resolve) => child.on('exit', resolve)), out, err };
  };
  // Given an init checkpoint damaged after it was saved (its weights no longer match the hashes its marker recorded)
  const damaged = path.join(dir, 'damaged-seed002');
  await cp('checkpoints/mnist-clean/seed002', damaged, { recursive: true });
  const weights = await readFile(path.join(damaged, 'weights.bin'));
  weights[100] = weights[100]! ^ 0xff;
  await writeFile(path.join(damaged, 'weights.bin'), weights);
  const damagedFile = path.join(dir, 'damaged.json');
  await writeFile(damagedFile, JSON.stringify({ name: 'damaged', validation: { kind: 'shared', fraction: 0.25, seed: 1 }, members: [{ preset: 'seed002', name: 'only', epochs: 1, init: damaged }] }));
  // Then it is refused before training, naming the file (since session 42: its member failed in its worker), and no run folder is left
  const refused = await run(damagedFile, ['--run', path.join(dir, 'damaged')]);
  expect(refused.code, refused.err).toBe(2);
  expect(refused.err).toMatch(/error: member only: its init .*damaged-seed002 cannot be read: .*weights\.bin/);
  await expect(readFile(path.join(dir, 'damaged', 'run.json'))).rejects.toMatchObject({ code: 'ENOENT' });
  // Given an ensemble whose one member cannot be trained: its backend does not load in the worker
  const file = path.join(dir, 'frozen.json');
  await writeFile(file, JSON.stringify({ name: 'frozen', validation: { kind: 'shared', fraction: 0.25, seed: 1 }, members: [{ preset: 'mlp', name: 'only', epochs: 1 }] }));
  const runDir = path.join(dir, 'frozen');
  // When it is trained, with --json too
  const plain = await run(file, ['--run', runDir, '--backend', 'gpu']);
  const json = await run(file, ['--run', `${runDir}-json`, '--json', '--backend', 'gpu']);
  // Then each ends with an error naming the cause, exit 1, and run.json records the run as failed
  expect(plain.code, plain.err).toBe(1);
  expect(plain.err).toMatch(/error: run frozen: every member failed \(the gpu backend cannot load: .*\) \(.*run\.json\)\n {2}hint: Nothing was trained/);
  expect(json.code).toBe(1);
  const last = JSON.parse(json.out.trim().split('\n').at(-1)!);
  expect(last).toMatchObject({ type: 'error', error: expect.stringMatching(/every member failed/) });
  const manifest = JSON.parse(await readFile(path.join(runDir, 'run.json'), 'utf8'));
  expect(manifest).toMatchObject({ status: 'failed', error: expect.stringMatching(/^every member failed/), members: [expect.objectContaining({ name: 'only', ok: false })] });
}, 180_000);
