/** One writer per run folder: the lock file, a second writer's error, stale locks. */
import { mkdir, mkdtemp, readFile, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import os from 'node:os';
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { LOCK_FILE, TORN_LOCK_GRACE_MS, lockRun } from '../../src/runs/lock.js';
import { trainEnsemble } from '../../src/services/train.js';
import { ensembleFromJson } from '../../src/ensemble/ensemble-spec.js';
import { expectUserError } from '../data/helpers.js';
import { deadPid } from '../helpers/dead-pid.js';
import { SKIP_REASON, canMount, mountSmallDisk } from '../helpers/small-disk.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'digits-lock-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('a second writer gets an error naming the holder; after release the folder is free', async () => {
  // Given a run folder locked by a training
  const run = path.join(dir, 'a');
  await mkdir(run);
  const held = await lockRun(run, 'digits train --run a');
  const onDisk = JSON.parse(await readFile(path.join(run, LOCK_FILE), 'utf8'));
  expect(onDisk).toMatchObject({ pid: process.pid, hostname: os.hostname(), command: 'digits train --run a' });

  // When another writer asks for it
  const error = await expectUserError(lockRun(run, 'digits evaluate --run a'), { message: /in use by pid \d+ on .* \(digits train --run a\)/, file: LOCK_FILE, hint: /kill \d+/ });
  expect(error.message).toContain(String(process.pid));

  // Then once released it can be taken again
  await held.release();
  const again = await lockRun(run, 'digits evaluate --run a');
  await again.release();
});

test('a lock left by a killed process (its pid is gone) is taken over', async () => {
  const run = path.join(dir, 'b');
  await mkdir(run);
  const pid = await deadPid();
  await writeFile(path.join(run, LOCK_FILE), JSON.stringify({ pid, hostname: os.hostname(), startedAt: '2026-01-01T00:00:00Z', command: 'digits train' }));
  const lock = await lockRun(run, 'digits train --resume');
  expect(JSON.parse(await readFile(path.join(run, LOCK_FILE), 'utf8')).pid).toBe(process.pid);
  await lock.release();
});

test('a lock from another host is not judged stale: the error says how to remove it', async () => {
  const run = path.join(dir, 'c');
  await mkdir(run);
  await writeFile(path.join(run, LOCK_FILE), JSON.stringify({ pid: 1, hostname: 'elsewhere.example', startedAt: '2026-01-01T00:00:00Z', command: 'digits train' }));
  await expectUserError(lockRun(run, 'digits train'), { message: /in use by pid 1 on elsewhere\.example/, hint: /delete .*\.lock/ });
});

test('training into a run folder another process writes fails before anything is written', async () => {
  // Given a run folder held by a live writer
  const run = path.join(dir, 'd');
  await mkdir(run);
  const held = await lockRun(run, 'digits train --run d');
  try {
    // When a second training targets it
    const ensemble = ensembleFromJson(JSON.stringify({ name: 'x', validation: { kind: 'shared', fraction: 0.2, seed: 1 }, members: [{ preset: 'mlp', name: 'm', epochs: 1 }] }));
    await expectUserError(trainEnsemble({ ensemble, data: path.join(dir, 'nodata'), runDir: run, concurrency: 1, backend: 'wasm', command: 'digits train --run d' }), { message: /in use by pid/ });
    // Then it wrote nothing there
    expect(await readdir(run)).toEqual([LOCK_FILE]);
  } finally {
    await held.release();
  }
});

test.each(['SIGINT', 'SIGTERM', 'SIGHUP'] as const)('a process ended by %s while it holds a lock removes it, and still dies by the signal', async (signal) => {
  // Given a process holding a run folder's lock, with no signal handler of its own (as evaluate)
  const run = path.join(dir, `sig-${signal}`);
  await mkdir(run);
  const lockModule = pathToFileURL(path.resolve('src/runs/lock.ts')).href;
  const script = `const { lockRun } = await import(${JSON.stringify(lockModule)}); await lockRun(${JSON.stringify(run)}, 'digits evaluate'); console.log('held'); setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => child.stdout.on('data', (chunk: Buffer) => String(chunk).includes('held') && resolve()));
  expect(await readdir(run)).toEqual([LOCK_FILE]);
  // When it is sent the signal
  const ended = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('exit', (code, sig) => resolve([code, sig])));
  child.kill(signal);
  // Then it ends by that signal, as it would without a lock, and its lock is gone
  expect(await ended).toEqual([null, signal]);
  expect(await readdir(run)).toEqual([]);
}, 30_000);

test.runIf(process.platform === 'linux')('a lock whose pid now belongs to a process started after it (a reused pid) is taken over, not blamed on that process', async () => {
  // Given a lock naming the pid of a live process that started after the lock was taken (as after a reboot)
  const run = path.join(dir, 'reused');
  await mkdir(run);
  const other = spawn('sleep', ['30'], { stdio: 'ignore' });
  try {
    await writeFile(path.join(run, LOCK_FILE), JSON.stringify({ pid: other.pid, hostname: os.hostname(), startedAt: new Date(Date.now() - 60_000).toISOString(), command: 'digits train' }));
    // When a writer asks for the folder
    const lock = await lockRun(run, 'digits train --resume');
    // Then it gets it (it was told to kill the unrelated process)
    expect(JSON.parse(await readFile(path.join(run, LOCK_FILE), 'utf8')).pid).toBe(process.pid);
    await lock.release();
    // While a lock that process took after it started is its own
    await writeFile(path.join(run, LOCK_FILE), JSON.stringify({ pid: other.pid, hostname: os.hostname(), startedAt: new Date(Date.now() + 1000).toISOString(), command: 'digits train' }));
    await expectUserError(lockRun(run, 'digits train --resume'), { message: new RegExp(`in use by pid ${other.pid} `) });
  } finally {
    other.kill();
  }
});

test.each([
  ['empty', ''],
  ['torn', '{"pid":12'],
])('an %s lock file older than the grace period (its locker died between create and write) is taken over', async (kind, text) => {
  // Given a lock file with no holder in it, last written a minute ago
  const run = path.join(dir, `torn-${kind}`);
  await mkdir(run);
  const file = path.join(run, LOCK_FILE);
  await writeFile(file, text);
  const old = new Date(Date.now() - 60_000);
  await utimes(file, old, old);

  // When a writer asks for the folder, Then it gets it, and the lock names it
  const lock = await lockRun(run, 'digits evaluate --run x');
  expect(JSON.parse(await readFile(file, 'utf8')).pid).toBe(process.pid);
  await lock.release();
  expect(await readdir(run)).toEqual([]);
});

test('an empty lock file younger than the grace period (a locker about to write its holder) is still respected', async () => {
  const run = path.join(dir, 'torn-young');
  await mkdir(run);
  await writeFile(path.join(run, LOCK_FILE), '');
  expect(TORN_LOCK_GRACE_MS).toBeGreaterThan(1000);
  await expectUserError(lockRun(run, 'digits evaluate --run x'), { message: /in use by another process/, file: LOCK_FILE });
});

describe.runIf(canMount)(`on a full disk (${SKIP_REASON})`, () => {
  let disk: ReturnType<typeof mountSmallDisk>;
  beforeAll(() => {
    disk = mountSmallDisk();
  });
  afterAll(() => disk?.unmount());

  test('a lock that cannot be written is removed again, so the folder is free once space is freed', async () => {
    // Given a run folder on a disk with no space left
    const run = path.join(disk.dir, 'run');
    await mkdir(run);
    disk.fill();

    // When a writer asks for the lock, Then it fails with ENOSPC naming the lock, and leaves no lock file
    const error = (await lockRun(run, 'digits evaluate --run run').catch((caught: unknown) => caught)) as NodeJS.ErrnoException;
    expect(error.code).toBe('ENOSPC');
    expect(error.path).toBe(path.join(run, LOCK_FILE));
    expect(await readdir(run)).toEqual([]);

    // And once space is freed the folder can be locked
    disk.free();
    const lock = await lockRun(run, 'digits evaluate --run run');
    await lock.release();
  });
});
