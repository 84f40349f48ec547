/**
 * Members as jobs on BullMQ, with a real Redis (its own redis-server per test, on loopback)
 * and real `digits worker` processes (the built CLI, bin/run.js) training tiny MLPs on a tiny
 * practice competition: the same weights as local training, a SIGKILLed worker's member taken
 * over and resumed from its checkpoint, a bad member config failed once and reported, SIGTERM
 * draining the running job.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { readManifest, resolveDatasetDir } from '../../src/data/dataset.js';
import { importCompetition, resolveCompetitionFiles } from '../../src/data/import.js';
import { buildPracticeCompetition } from '../../src/data/practice.js';
import { ensembleFromJson } from '../../src/ensemble/ensemble-spec.js';
import { initEngine } from '../../src/engine/backend.js';
import { evaluateRun } from '../../src/services/evaluate.js';
import { searchOnQueue, trainOnQueue } from '../../src/services/queue/enqueue.js';
import { openQueueRun } from '../../src/services/queue/run-flow.js';
import { PACKAGE_ROOT } from '../../src/model/shipped.js';
import { RUNS_QUEUE, commonRoot, connectRedis, loadStoredJob, storeJob, type RunJobData, type RunReport, type TrainMemberJob } from '../../src/services/queue/queues.js';
import { Job, Queue } from 'bullmq';
import { parseSearchSpace } from '../../src/training/search/space.js';
import { queueStatus } from '../../src/services/queue/status.js';
import { trainEnsemble } from '../../src/services/train.js';
import type { EnsembleEvent } from '../../src/training/train-member.js';
import { hasRedis, startRedis, type RedisServer } from '../helpers/redis.js';
import { repoRoot } from '../helpers/run-command.js';
import { Redis } from 'ioredis';
import { UserError } from '../../src/errors.js';
import { queueNamed, recordedCommand, redactRedisUrl } from '../../src/services/queue/redis-url.js';
import { startQueueWorker } from '../../src/services/queue/worker.js';
import { formatRunReport } from '../../src/cli/queue.js';

const bin = path.join(repoRoot, 'bin/run.js');
const env = { ...process.env, CI: 'true', DIGITS_BACKEND: 'wasm' };

let root: string;
let competition: string;
let redis: RedisServer | null = null;
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  // Given a tiny practice competition (300 training rows), imported (evaluate runs here, on wasm)
  await initEngine({ backend: 'wasm' });
  root = await mkdtemp(path.join(os.tmpdir(), 'digits-queue-'));
  competition = path.join(root, 'project', 'competitions', 'uniform');
  await buildPracticeCompetition({ recipe: 'uniform', out: competition, trainRows: 300, testRows: 30, seed: 5 });
  await importCompetition({ ...(await resolveCompetitionFiles([competition])), orientation: 'as-is' });
}, 120_000);

afterEach(async () => {
  for (const w of workers.splice(0)) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
  await redis?.stop();
  redis = null;
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

interface WorkerProcess {
  child: ChildProcess;
  /** its stderr lines so far */
  lines: string[];
  name: Promise<string>;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** resolves with the first line matching */
  waitFor(pattern: RegExp): Promise<string>;
}

/** `digits worker` as a child process, one training thread, a 1 s stall interval. */
function startWorker(url: string, extra: string[] = []): WorkerProcess {
  const child = spawn(process.execPath, [bin, 'worker', '--redis', url, '--concurrency', '1', '--stall-interval', '1000', ...extra], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  const lines: string[] = [];
  const waiting: Array<{ pattern: RegExp; resolve: (line: string) => void }> = [];
  let rest = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    rest += chunk;
    const parts = rest.split('\n');
    rest = parts.pop()!;
    for (const line of parts) {
      lines.push(line);
      for (const w of waiting.filter((x) => x.pattern.test(line))) {
        waiting.splice(waiting.indexOf(w), 1);
        w.resolve(line);
      }
    }
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const waitFor = (pattern: RegExp) => {
    const seen = lines.find((l) => pattern.test(l));
    if (seen) return Promise.resolve(seen);
    return new Promise<string>((resolve, reject) => {
      waiting.push({ pattern, resolve });
      void exit.then(({ code, signal }) => reject(new Error(`worker exited (${code ?? signal}) before printing ${pattern}:\n${lines.join('\n')}`)));
    });
  };
  const name = waitFor(/: ready on /).then((line) => line.slice(0, line.indexOf(': ready on ')));
  const worker = { child, lines, name, exit, waitFor };
  workers.push(worker);
  return worker;
}

const member = (name: string, seed: number, extra: Record<string, unknown> = {}) => ({ preset: 'mlp', name, epochs: 2, batchSize: 30, seed, ...extra });
const ensemble = (name: string, members: Array<Record<string, unknown>>) => ensembleFromJson(JSON.stringify({ name, validation: { kind: 'shared', fraction: 0.25, seed: 1 }, members }));
/**
 * The ensemble with its member "bad" made untrainable where it trains, in the worker: "l2" on a
 * member loaded from "init" (an ensemble file with it is refused; job data is not an ensemble
 * file, and another digits could send it). An init of another preset is refused before training.
 */
const withUntrainableMember = (spec: ReturnType<typeof ensemble>) => ({ ...spec, members: spec.members.map((m) => (m.name === 'bad' ? { ...m, l2: 1e-4 } : m)) });
const runDir = (name: string) => path.join(root, 'project', 'runs', name);
const options = (name: string, spec: ReturnType<typeof ensemble>, onEvent?: (e: EnsembleEvent) => void) => ({ ensemble: spec, data: competition, runDir: runDir(name), concurrency: 3, backend: 'wasm' as const, command: 'vitest', onEvent });
const weightsOf = (run: string, m: string) => readFile(path.join(runDir(run), m, 'best', 'weights.bin'));
/** A job's state once it is completed, or after 20 s of looking every 200 ms (what it is then). */
async function settledState(queue: Queue, id: string): Promise<string> {
  let state = '';
  for (let i = 0; i < 100 && state !== 'completed'; i++) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    state = await queue.getJobState(id);
  }
  return state;
}

/** A 1-epoch trial job on the competition (200 training rows, 100 validation rows), as a search hands it to the queue. */
async function trialJobs(dir: string): Promise<(name: string, seed: number) => TrainMemberJob> {
  const datasetDir = await resolveDatasetDir(competition);
  const { fingerprint } = await readManifest(datasetDir);
  return (name, seed) => ({
    kind: 'train-member',
    engine: { backend: 'wasm' },
    member: ensemble('x', [member(name, seed, { epochs: 1 })]).members[0]!,
    datasetDir,
    trainRows: Array.from({ length: 200 }, (_, i) => i),
    validationRows: Array.from({ length: 100 }, (_, i) => 200 + i),
    outDir: path.join(dir, name),
    resume: false,
    metadata: { orientation: 'as-is', dataFingerprint: fingerprint, command: 'vitest' },
  });
}
const historyOf = async (run: string, m: string) => JSON.parse(await readFile(path.join(runDir(run), m, 'history.json'), 'utf8')) as unknown[];

describe.skipIf(!hasRedis)('members as jobs on a BullMQ queue (real Redis, real worker processes)', () => {
  test('a 3-member ensemble over 2 worker processes = local training with the same seeds (weights and evaluation)', { timeout: 240_000 }, async () => {
    // Given Redis and two workers, one training thread each
    redis = await startRedis();
    const [a, b] = [startWorker(redis.url), startWorker(redis.url)];
    const names = await Promise.all([a.name, b.name]);
    const spec = ensemble('three', [member('m1', 1), member('m2', 2), member('m3', 3)]);

    // When the ensemble is trained through the queue, and again here in worker threads
    const events: EnsembleEvent[] = [];
    const { manifest, report } = await trainOnQueue(options('queued', spec, (e) => events.push(e)), { redis: redis.url });
    await trainEnsemble(options('local', spec));

    // Then every member trained on one of the two workers, its progress came back as training events
    expect(report!.members.map((m) => [m.member, m.ok, m.attempts, m.resumedAt])).toEqual([['m1', true, 1, 0], ['m2', true, 1, 0], ['m3', true, 1, 0]]);
    expect(new Set(report!.members.map((m) => m.worker))).toEqual(new Set(names));
    expect(events.filter((e) => e.type === 'epoch').map((e) => e.member).sort()).toEqual(['m1', 'm1', 'm2', 'm2', 'm3', 'm3']);
    expect(manifest.status).toBe('finished');
    // And the weights are the local run's, bit for bit, and so is the evaluation
    for (const m of ['m1', 'm2', 'm3']) expect((await weightsOf('queued', m)).equals(await weightsOf('local', m)), m).toBe(true);
    const [queued, local] = [await evaluateRun({ runDir: runDir('queued'), tta: [], precision: 'fp32' }), await evaluateRun({ runDir: runDir('local'), tta: [], precision: 'fp32' })];
    expect(queued.ensemble.soft).toEqual(local.ensemble.soft);
    expect(queued.members.map((m) => m.metrics)).toEqual(local.members.map((m) => m.metrics));

    // And `queue status --json` counts them: NDJSON, every line typed, the result last
    const status = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, [bin, 'queue', 'status', '--redis', redis!.url, '--json'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk));
      child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`queue status exited ${code}`))));
    });
    const lines = status.trim().split('\n').map((l) => JSON.parse(l) as { type: string; [k: string]: unknown });
    expect(lines.map((l) => l.type)).toEqual(['queue', 'queue', 'worker', 'worker', 'result']);
    expect(lines[0]).toMatchObject({ queue: 'digits-members', completed: 3, failed: 0, active: 0, waiting: 0 });
    expect(lines[1]).toMatchObject({ queue: 'digits-runs', completed: 1 });
    // And the same Redis's database 3, which no worker serves, lists none of them
    expect((await queueStatus({ redis: `${redis!.url}/3` })).workers).toEqual([]);
    expect((await queueStatus({ redis: redis!.url })).workers).toHaveLength(2);
  });

  test('a worker SIGKILLed mid-member: another takes the job over after the stall interval and resumes from the last checkpoint', { timeout: 240_000 }, async () => {
    // Given one worker training a member of 6 slow epochs (batches of 2)
    redis = await startRedis();
    const first = startWorker(redis.url);
    await first.name;
    const spec = ensemble('killed', [member('m', 4, { epochs: 6, batchSize: 2 })]);
    const done = trainOnQueue(options('killed', spec), { redis: redis.url });

    // When it is killed (SIGKILL) after its second epoch, and a second worker starts
    await first.waitFor(/^m: epoch 2\/6/);
    first.child.kill('SIGKILL');
    await first.exit;
    const killedAt = first.lines.filter((l) => /^m: epoch \d\/6/.test(l)).length;
    const second = startWorker(redis.url);
    const { manifest, report } = await done;

    // Then the second worker resumed the member where its last checkpoint was, and trained only the rest
    const [row] = report!.members;
    expect(row).toMatchObject({ member: 'm', ok: true, attempts: 2, worker: await second.name });
    expect(row!.resumedAt).toBeGreaterThanOrEqual(2);
    expect(row!.resumedAt).toBeGreaterThanOrEqual(killedAt);
    expect(row!.resumedAt).toBeLessThan(6);
    const trainedAfter = second.lines.filter((l) => /^m: epoch \d\/6/.test(l)).map((l) => Number(/epoch (\d)/.exec(l)![1]));
    expect(trainedAfter).toEqual(Array.from({ length: 6 - row!.resumedAt! }, (_, i) => row!.resumedAt! + 1 + i));
    expect(second.lines.some((l) => l.includes('resuming from its last checkpoint'))).toBe(true);
    // And the member has its 6 epochs, once each
    expect(await historyOf('killed', 'm')).toHaveLength(6);
    expect(manifest.members).toEqual([expect.objectContaining({ name: 'm', ok: true, epochs: 6 })]);
  });

  test('jobs that vanish from Redis (restarted without its data): the run fails naming --resume instead of waiting for ever', { timeout: 60_000 }, async () => {
    // Given an ensemble enqueued with no worker to take it
    redis = await startRedis();
    const spec = ensemble('vanished', [member('m', 5)]);
    let enqueued!: () => void;
    const onQueue = new Promise<void>((resolve) => (enqueued = resolve));
    const done = trainOnQueue(options('vanished', spec), { redis: redis.url, lookEveryMs: 200, onEnqueued: () => enqueued() });
    await onQueue;
    // When Redis loses every key
    const admin = new Redis(redis.url);
    await admin.flushall();
    admin.disconnect();
    // Then the run fails (its one member failed) and says what to do; run.json records it
    await expect(done).rejects.toThrow(/every member failed \(job .* is no longer in the queue .*--resume/);
    const manifest = JSON.parse(await readFile(path.join(runDir('vanished'), 'run.json'), 'utf8'));
    expect(manifest.status).toBe('failed');
    expect(manifest.members).toEqual([expect.objectContaining({ name: 'm', ok: false, error: expect.stringMatching(/no longer in the queue .*a worker may still be training it: once `digits queue status` shows no job of vanished, `digits train --resume --run \S*vanished --queue redis:\/\/127\.0\.0\.1:\d+` keeps what was trained/) })]);
    // nothing was saved, so the hint may say so
    await expect(done).rejects.toMatchObject({ hint: expect.stringMatching(/^Nothing was trained\. .*`digits train --resume --run \S*vanished --queue redis:/) });
  });

  test('jobs nobody takes: the run says that no worker is on the queue, and when one takes them', { timeout: 120_000 }, async () => {
    redis = await startRedis();
    const notices: string[] = [];
    const noticed = (pattern: RegExp) => new Promise<void>((resolve) => {
      const look = setInterval(() => notices.some((n) => pattern.test(n)) && (clearInterval(look), resolve()), 50);
    });
    const spec = ensemble('nobody', [member('m', 5)]);
    const resolved: boolean[] = [];
    const done = trainOnQueue(options('nobody', spec), { redis: `${redis.url}/0`, watchEveryMs: 200, onNotice: (n, r) => (notices.push(n), resolved.push(r)) });
    await noticed(/^no worker/);
    expect(notices[0]).toMatch(/^no worker takes jobs from this queue \(database 0\): the members wait until one starts \(`digits worker --redis redis:\/\/127\.0\.0\.1:\d+\/0` on a machine that sees the store\)$/);
    // said once, not at every look
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(notices).toHaveLength(1);
    startWorker(redis.url);
    await done;
    // (the worker is seen on the queue, or seen taking the job, whichever look comes first)
    expect(notices).toHaveLength(2);
    expect(notices[1]).toMatch(/^(a worker is on the queue now|the members are taken by workers now)$/);
    // the first a problem (a warning), the second its end (news, not a warning)
    expect(resolved).toEqual([false, true]);
  });

  test('a job that vanishes while a worker trains it: the hint keeps the epochs saved (it said to delete the folder, "nothing in it was trained")', { timeout: 240_000 }, async () => {
    redis = await startRedis();
    const worker = startWorker(redis.url);
    await worker.name;
    const spec = ensemble('vanished-late', [member('m', 5, { epochs: 4, batchSize: 2 })]);
    const done = trainOnQueue(options('vanished-late', spec), { redis: redis.url, lookEveryMs: 200 });
    await worker.waitFor(/^m: epoch 1\/4/);
    const admin = new Redis(redis.url);
    await admin.flushall();
    admin.disconnect();
    const failed = await done.then(() => null, (error: UserError) => error);
    expect(failed).toMatchObject({ message: expect.stringMatching(/every member failed \(job .* is no longer in the queue/), hint: expect.stringMatching(/^The member saved epochs before failing: once what stopped it is put right, `digits train --resume --run \S*vanished-late --queue redis:\/\/127\.0\.0\.1:\d+` continues from the last saved epoch \(keep the folder\)\.$/) });
  });

  test('Ctrl-C of train --queue and search --queue: the hint says the workers go on and to wait for them before continuing', { timeout: 120_000 }, async () => {
    redis = await startRedis();
    await writeFile(path.join(root, 'one.json'), JSON.stringify({ name: 'one', members: [member('m', 5)] }));
    const cases: Array<[string[], RegExp, RegExp]> = [
      [['train', '--data', competition, '--ensemble', path.join(root, 'one.json'), '--run', runDir('int-train')], /^enqueued 1 member on /m, /The enqueued members go on training on the workers .*Once the queue is idle, `digits train --resume --run \S*int-train --queue redis:\/\/127\.0\.0\.1:\d+` collects them/],
      [['search', '--data', competition, '--space', path.join(repoRoot, 'spaces', 'default.json'), '--trials', '1', '--scheduler', 'random', '--out', path.join(root, 'int-search')], /^trials go to /m, /The enqueued trials go on training on the workers .*Once the queue is idle, the same command continues the search; continuing before would train the running trials a second time/],
    ];
    for (const [args, enqueued, hint] of cases) {
      // no worker takes the jobs: the command waits for them until interrupted
      const child = spawn(process.execPath, [bin, ...args, '--queue', redis.url], { env, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk));
      const exit = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
      for (let i = 0; i < 600 && !enqueued.test(stderr); i++) await new Promise((resolve) => setTimeout(resolve, 100));
      expect(stderr, args[0]).toMatch(enqueued);
      child.kill('SIGINT');
      expect(await exit).toBe('SIGINT');
      expect(stderr.replace(/\s+/g, ' '), args[0]).toMatch(hint);
    }
    // And continuing while those jobs still wait is refused, naming them (a resume enqueued them
    // again, and two workers trained one member into one folder at once)
    const again = async (args: string[]) => {
      const child = spawn(process.execPath, [bin, ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk));
      const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
      return { code, stderr };
    };
    const resumed = await again(['train', '--resume', '--run', runDir('int-train'), '--queue', redis.url]);
    expect(resumed.code, resumed.stderr).toBe(2);
    expect(resumed.stderr).toMatch(/error: a job of run int-train is still on the queue: m \(waiting\) \(flag --queue\)/);
    expect(resumed.stderr).toMatch(/hint: Workers go on with the jobs they hold .* wait until `digits queue status --redis redis:\/\/127\.0\.0\.1:\d+` shows none of them waiting or running, then continue\./);
    const searched = await again(['search', '--data', competition, '--space', path.join(repoRoot, 'spaces', 'default.json'), '--trials', '1', '--scheduler', 'random', '--out', path.join(root, 'int-search'), '--queue', redis.url]);
    expect(searched.code, searched.stderr).toBe(2);
    expect(searched.stderr).toMatch(/error: a job of search int-search is still on the queue: trial-001 \(waiting\)/);
    // And `queue clean` removes the jobs no worker started, of one run, then of all
    const cleaned = await again(['queue', 'clean', '--redis', redis.url, '--run', runDir('int-train')]);
    expect(cleaned.code, cleaned.stderr).toBe(0);
    const removedLines = await new Promise<string>((resolve) => {
      const child = spawn(process.execPath, [bin, 'queue', 'clean', '--redis', redis!.url, '--all'], { env, stdio: ['ignore', 'pipe', 'ignore'] });
      let out = '';
      child.stdout!.on('data', (chunk: Buffer) => (out += chunk));
      child.once('exit', () => resolve(out));
    });
    expect(removedLines).toMatch(/^removed 1 job on the queue no worker had started:\n {2}trial trial-001 of int-search \(job [\w-]+, waiting\)\n$/);
    const status = await queueStatus({ redis: redis.url });
    expect(status.queues.find((q) => q.queue === 'digits-members')).toMatchObject({ waiting: 0, active: 0, delayed: 0 });
    // (and the flows' parents no longer wait for them: their reports can be made)
    expect(status.queues.find((q) => q.queue === 'digits-runs')).toMatchObject({ waitingChildren: 0 });
    // so continuing is no longer refused for jobs on the queue
    expect((await again(['queue', 'clean', '--redis', redis.url, '--run', 'int-train'])).code).toBe(0);
    // and the run's own refusals say to resume through the queue, once it is idle
    const evaluated = await again(['evaluate', '--run', runDir('int-train')]);
    expect(evaluated.code).toBe(2);
    expect(evaluated.stderr.replace(/\s+/g, ' ')).toMatch(/hint: Continue it with `digits train --resume --run \S*int-train --queue redis:\/\/127\.0\.0\.1:\d+` .* It was trained through the queue at redis:\/\/127\.0\.0\.1:\d+: first wait until `digits queue status --redis redis:\/\/127\.0\.0\.1:\d+` shows none of its members waiting or running/);
  });

  test('a worker that cannot see the data (a wrong --store) gives the job back and stops; another trains it, on its first attempt', { timeout: 240_000 }, async () => {
    // Given a worker whose --store is an empty folder (it failed every job it took, three times
    // over, while a worker that saw the files was busy)
    redis = await startRedis();
    const empty = await mkdtemp(path.join(root, 'empty-store-'));
    const blind = startWorker(redis.url, ['--store', empty]);
    await blind.name;
    // When a member is trained through the queue
    const training = trainOnQueue(options('blind', ensemble('blind', [member('m', 1, { epochs: 1 })])), { redis: redis.url });
    // Then that worker gives the job back, says why, and ends with the error (exit 2)
    expect(await blind.exit).toEqual({ code: 2, signal: null });
    const said = blind.lines.join('\n');
    expect(said).toMatch(/: m of blind went back to the queue: this worker cannot see the competition's imported data \(.*empty-store-.*\.digits\); it takes no more jobs/);
    expect(said).toMatch(/error: this worker cannot see the competition's imported data of run blind \(.*empty-store-.*, under its --store .*empty-store-[^)]*\): it stopped taking jobs, and the job went back to the queue for another worker/);
    expect(said).toMatch(/hint: Start it again with the --store where this machine mounts/);
    // And a worker that sees the files trains it, as its first attempt (a give-back is no attempt)
    const good = startWorker(redis.url);
    const { manifest, report } = await training;
    expect(manifest.members).toEqual([expect.objectContaining({ name: 'm', ok: true, epochs: 1 })]);
    expect(report!.members).toEqual([expect.objectContaining({ member: 'm', ok: true, attempts: 1, worker: await good.name })]);
    expect(good.lines.find((l) => / m of blind \(attempt/.test(l))).toMatch(/\(attempt 1\)$/);
  });

  test('a bad member config fails its job once (no retries) and the parent reports it; the other member trains', { timeout: 240_000 }, async () => {
    // Given a worker, and an ensemble whose member "bad" starts from a seed002 checkpoint as an mlp
    redis = await startRedis();
    const worker = startWorker(redis.url);
    await worker.name;
    const spec = withUntrainableMember(ensemble('bad', [member('good', 1, { epochs: 1 }), member('bad', 2, { preset: 'seed002', init: 'checkpoints/mnist-clean/seed002' })]));

    // When it is trained through the queue
    const { manifest, report } = await trainOnQueue(options('bad', spec), { redis: redis.url });

    // Then the bad member's job ran once, failed, and its error is in the parent's report and in run.json
    const bad = report!.members.find((m) => m.member === 'bad')!;
    expect(bad).toMatchObject({ ok: false, attempts: 1 });
    expect(bad.error).toMatch(/member bad: "l2" applies when a model is built/);
    expect(worker.lines.filter((l) => /: member bad of bad/.test(l) && l.includes('attempt'))).toHaveLength(1);
    expect(manifest.members.find((m) => m.name === 'bad')).toMatchObject({ ok: false, error: expect.stringMatching(/"l2" applies when a model is built/) });
    expect(manifest.members.find((m) => m.name === 'good')).toMatchObject({ ok: true, epochs: 1 });
    expect(report!.members.find((m) => m.member === 'good')).toMatchObject({ ok: true, attempts: 1 });
  });

  test('every member failed: the run fails, and the flow\'s report (who tried each member, how often, why) still comes back', { timeout: 240_000 }, async () => {
    // Given a worker, and an ensemble whose one member cannot train (an mlp from a seed002 checkpoint)
    redis = await startRedis();
    const worker = startWorker(redis.url);
    await worker.name;
    const spec = withUntrainableMember(ensemble('allbad', [member('bad', 2, { preset: 'seed002', init: 'checkpoints/mnist-clean/seed002' })]));
    // When it is trained through the queue
    const reports: RunReport[] = [];
    const done = trainOnQueue(options('allbad', spec), { redis: redis.url, onFailedReport: (r) => reports.push(r) });
    // Then the run fails naming the cause, and the report of its flow was handed over first
    await expect(done).rejects.toThrow(/every member failed \(.*member bad: "l2" applies when a model is built/);
    expect(reports).toEqual([expect.objectContaining({ kind: 'ensemble', run: 'allbad', members: [expect.objectContaining({ member: 'bad', ok: false, attempts: 1, worker: await worker.name })] })]);
  });

  test('a search through the queue: ASHA trials and promotions as children of the search, the leaderboard as locally', { timeout: 240_000 }, async () => {
    // Given a worker, and a 4-trial ASHA search over 1–3 epochs of mlp
    redis = await startRedis();
    const worker = startWorker(redis.url);
    await worker.name;
    const space = parseSearchSpace({ preset: 'mlp', start: 'scratch', optimizer: ['adam', 'rmsprop'], learningRate: { min: 3e-4, max: 3e-2, log: true }, epochs: { min: 1, max: 3 }, batchSize: 32 });
    const out = path.join(root, 'project', 'runs', 'search');

    // When it runs with its trials on the queue
    let flows = 0;
    const result = await searchOnQueue({ data: competition, space, spaceFile: 'space.json', out, scheduler: 'asha', trials: 4, top: 2, concurrency: 2, backend: 'wasm', seed: 3, command: 'vitest' }, { redis: redis.url, onEnqueued: () => flows++ });

    // Then every trial was trained by the worker (a promotion continues its trial: a second job), and ranked
    expect(flows).toBe(1);
    expect(result.leaderboard).toHaveLength(4);
    expect(result.unfinished).toBe(0);
    const promoted = result.leaderboard.filter((r) => r.rung === 1).map((r) => r.trial);
    expect(promoted.length).toBeGreaterThan(0);
    expect(result.report!.members).toHaveLength(4 + promoted.length);
    expect(result.report!.members.every((m) => m.ok && m.worker !== undefined)).toBe(true);
    // a promoted trial's second job continued from its rung-0 epoch
    for (const trial of promoted) expect(result.report!.members.filter((m) => m.member === trial).map((m) => m.resumedAt)).toEqual(expect.arrayContaining([0, 1]));
    expect(worker.lines.filter((l) => l.includes(' trial ')).length).toBeGreaterThanOrEqual(4);
  });

  test('trials enqueued at the same moment join one flow: one parent, whose report names them all', { timeout: 240_000 }, async () => {
    // Given a worker, an open search flow, and two 1-epoch trials on the competition
    redis = await startRedis();
    const worker = startWorker(redis.url);
    await worker.name;
    const dir = path.join(root, 'project', 'runs', 'same-moment');
    const parents: string[] = [];
    const queue = await openQueueRun({ connection: await connectRedis(redis.url, 'queue'), kind: 'search', dir, run: 'same-moment', storeRoot: path.join(root, 'project'), onEnqueued: ({ parent }) => parents.push(parent) });
    const job = await trialJobs(dir);
    try {
      // When both are handed to the queue in the same tick (a search's concurrent trials start so)
      const outcomes = await Promise.all([queue.runJobs([job('trial-a', 1)]), queue.runJobs([job('trial-b', 2)])]);
      const report = await queue.finish();
      // Then one flow was made, both trials trained in it, and its report names both
      expect(outcomes.flat().map((o) => o.ok)).toEqual([true, true]);
      expect(parents).toHaveLength(1);
      expect(report!.members.map((m) => m.member)).toEqual(['trial-a', 'trial-b']);
      expect(report!.abandoned).toBeUndefined();
    } finally {
      await queue.close();
    }
  });

  test('a search whose process dies before closing its flow: once its lease runs out, the parent is reported as it stands, not left open', { timeout: 240_000 }, async () => {
    // Given a worker, and an open search flow with a 1 s lease and one finished trial
    redis = await startRedis();
    const worker = startWorker(redis.url);
    await worker.name;
    const dir = path.join(root, 'project', 'runs', 'abandoned');
    let parent = '';
    const queue = await openQueueRun({ connection: await connectRedis(redis.url, 'queue'), kind: 'search', dir, run: 'abandoned', storeRoot: path.join(root, 'project'), leaseMs: 1000, onEnqueued: (info) => (parent = info.parent) });
    const job = await trialJobs(dir);
    expect((await queue.runJobs([job('trial-a', 1)])).map((o) => o.ok)).toEqual([true]);
    // (while the search lives, its parent stays open past the lease: the process renews it)
    await new Promise((resolve) => setTimeout(resolve, 2500));
    const runs = new Queue(RUNS_QUEUE, { connection: await connectRedis(redis.url, 'queue') });
    try {
      expect(['delayed', 'waiting', 'active']).toContain(await runs.getJobState(parent));

      // When its process stops without closing the flow (what Ctrl-C or SIGKILL leave)
      await queue.close();

      // Then a worker reports the parent once the lease has run out, naming the trial and saying it was abandoned
      expect(await settledState(runs, parent)).toBe('completed');
      const report = (await Job.fromId<RunJobData, RunReport>(runs, parent))!.returnvalue;
      expect(report).toMatchObject({ kind: 'search', run: 'abandoned', abandoned: true, members: [expect.objectContaining({ member: 'trial-a', ok: true })] });
      expect(formatRunReport(report)).toContain('abandoned: the search stopped renewing its lease before closing its flow');
    } finally {
      await runs.close();
    }
  });

  test('a search that outlives its lease (a machine asleep) finds its parent reported, and its later trials make a new parent', { timeout: 240_000 }, async () => {
    // Given a worker, and an open search flow with one finished trial
    redis = await startRedis();
    const worker = startWorker(redis.url);
    await worker.name;
    const dir = path.join(root, 'project', 'runs', 'slept');
    const parents: string[] = [];
    const queue = await openQueueRun({ connection: await connectRedis(redis.url, 'queue'), kind: 'search', dir, run: 'slept', storeRoot: path.join(root, 'project'), onEnqueued: ({ parent }) => parents.push(parent) });
    const job = await trialJobs(dir);
    const runs = new Queue(RUNS_QUEUE, { connection: await connectRedis(redis.url, 'queue') });
    try {
      expect((await queue.runJobs([job('trial-a', 1)])).map((o) => o.ok)).toEqual([true]);
      // When its lease expires while it lives (the key's time ran out on the server), and a worker reports the parent
      const admin = new Redis(redis.url);
      await admin.del(`digits:lease:${parents[0]}`);
      admin.disconnect();
      expect(await settledState(runs, parents[0]!)).toBe('completed');
      // Then its next trial makes a new parent (it would have joined a finished one), whose report names it
      expect((await queue.runJobs([job('trial-b', 2)])).map((o) => o.ok)).toEqual([true]);
      expect(parents).toHaveLength(2);
      const report = await queue.finish();
      expect(report).toMatchObject({ members: [expect.objectContaining({ member: 'trial-b', ok: true })] });
      expect(report!.abandoned).toBeUndefined();
    } finally {
      await runs.close();
      await queue.close();
    }
  });

  // (SIGHUP: the terminal the worker was started from closed; until session 36 it died at once)
  test.each(['SIGTERM', 'SIGHUP'] as const)('%s drains: the running member finishes, then the worker exits 0', { timeout: 240_000 }, async (signal) => {
    // Given a worker training a member of 4 slow epochs
    redis = await startRedis();
    const worker = startWorker(redis.url);
    const name = await worker.name;
    const spec = ensemble(`drained-${signal}`, [member('m', 5, { epochs: 4, batchSize: 2 })]);
    const done = trainOnQueue(options(`drained-${signal}`, spec), { redis: redis.url });
    await worker.waitFor(/^m: epoch 1\/4/);
    // (queue status shows what it runs)
    const status = await queueStatus({ redis: redis.url });
    expect(status.workers.find((w) => w.worker === name)?.running).toEqual([expect.objectContaining({ member: 'm', run: `drained-${signal}`, kind: 'member', attempt: 1 })]);

    // When it gets the signal in the middle of the member
    worker.child.kill(signal);

    // Then it finishes the member, on its first attempt, and exits with 0
    const { manifest, report } = await done;
    expect(await worker.exit).toEqual({ code: 0, signal: null });
    expect(worker.lines).toContain('stopping: no new jobs; waiting for 1 running job to finish (signal again to stop at once)');
    expect(report!.members).toEqual([expect.objectContaining({ member: 'm', ok: true, attempts: 1, resumedAt: 0, worker: name })]);
    expect(manifest.members).toEqual([expect.objectContaining({ name: 'm', ok: true, epochs: 4 })]);
    expect(await historyOf(`drained-${signal}`, 'm')).toHaveLength(4);
  });

  test('an idle worker whose Redis has gone stops at the first SIGTERM (it waited for Redis for ever)', { timeout: 60_000 }, async () => {
    redis = await startRedis();
    const worker = startWorker(redis.url);
    await worker.name;
    await redis.stop();
    worker.child.kill('SIGTERM');
    expect(await Promise.race([worker.exit, new Promise((resolve) => setTimeout(() => resolve('still running after 15 s'), 15_000))])).toEqual({ code: 0, signal: null });
    expect(worker.lines).toContain('stopping: no new jobs; no job running');
  });

  test('a second SIGTERM stops the worker at once (exit 143), saying when its job is taken over; another worker finishes it', { timeout: 240_000 }, async () => {
    // Given a worker draining after a first SIGTERM, in the middle of a member of 4 slow epochs
    redis = await startRedis();
    const worker = startWorker(redis.url);
    await worker.name;
    const spec = ensemble('twice', [member('m', 5, { epochs: 4, batchSize: 2 })]);
    const done = trainOnQueue(options('twice', spec), { redis: redis.url });
    await worker.waitFor(/^m: epoch 1\/4/);
    worker.child.kill('SIGTERM');
    await worker.waitFor(/^stopping: no new jobs/);

    // When it gets a second one
    worker.child.kill('SIGTERM');

    // Then it dies by the signal at once (a shell's 143; it used to call process.exit, which aborted with SIGABRT
    // in ONNX Runtime), saying its job is taken over after the stall interval (1 s in these tests)
    expect(await worker.exit).toEqual({ code: null, signal: 'SIGTERM' });
    expect(worker.lines).toContain('stopped at once: the job it was running is taken over by another worker in 1–2 s (the stall interval) and resumes from its last saved epoch');
    // and a second worker takes the member over from its last epoch and finishes it
    const second = startWorker(redis.url);
    const { manifest, report } = await done;
    expect(report!.members).toEqual([expect.objectContaining({ member: 'm', ok: true, worker: await second.name })]);
    expect(report!.members[0]!.resumedAt).toBeGreaterThanOrEqual(1);
    expect(manifest.members).toEqual([expect.objectContaining({ name: 'm', ok: true, epochs: 4 })]);
  });
});

test('job paths travel relative to the store root, so a worker maps them with --store; shipped checkpoints resolve in its own digits', () => {
  // Given a member job as the enqueuing machine sees it
  const job = {
    kind: 'train-member',
    engine: { backend: 'wasm' },
    member: { ...ensemble('x', [member('m', 1)]).members[0]!, init: path.join(PACKAGE_ROOT, 'checkpoints', 'mnist-noisy', 'deotte') },
    datasetDir: '/srv/lab/project/competitions/c/.digits',
    trainRows: [1],
    validationRows: [2],
    outDir: '/srv/lab/project/runs/r/m',
    resume: false,
    metadata: { orientation: 'as-is', dataFingerprint: 'f', command: 'c' },
  } as TrainMemberJob;
  const root = commonRoot(['/srv/lab/project/runs', job.datasetDir]);
  expect(root).toBe('/srv/lab/project');
  // When it is stored, and loaded on a worker that mounts the store at /mnt/lab
  const stored = storeJob(job, root);
  expect([stored.outDir, stored.datasetDir, stored.member.init]).toEqual(['store:runs/r/m', 'store:competitions/c/.digits', 'package:checkpoints/mnist-noisy/deotte']);
  const loaded = loadStoredJob(stored, '/mnt/lab');
  // Then its paths are under the mount, the checkpoint in the worker's own package
  expect([loaded.outDir, loaded.datasetDir, loaded.member.init]).toEqual(['/mnt/lab/runs/r/m', '/mnt/lab/competitions/c/.digits', job.member.init]);
  expect(loadStoredJob(stored, root)).toEqual(job);
});

test('--version, --help and the help of train, worker and queue status load neither bullmq nor ioredis', { timeout: 60_000 }, async () => {
  const trace = path.join(repoRoot, 'test/helpers/import-trace.mjs');
  for (const argv of [['--version'], ['--help'], ['train', '--help'], ['worker', '--help'], ['queue', 'status', '--help']]) {
    const loaded = await new Promise<string>((resolve) => {
      const child = spawn(process.execPath, ['--import', trace, bin, ...argv], { env, stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (chunk: Buffer) => (err += chunk));
      child.once('exit', () => resolve(err));
    });
    expect(loaded, argv.join(' ')).toMatch(/^loaded @oclif\/core$/m);
    expect(loaded, argv.join(' ')).not.toMatch(/^loaded (bullmq|ioredis)$/m);
  }
});

test('--queue with a Redis nobody listens on is an error naming the flag', async () => {
  const spec = ensemble('nowhere', [member('m', 1)]);
  await expect(trainOnQueue(options('nowhere', spec), { redis: 'redis://127.0.0.1:1', flag: 'queue' })).rejects.toMatchObject({ message: expect.stringMatching(/cannot reach Redis at redis:\/\/127\.0\.0\.1:1/), where: { flag: 'queue' } });
  await expect(trainOnQueue(options('nowhere', spec), { redis: 'http://x', flag: 'queue' })).rejects.toMatchObject({ message: expect.stringMatching(/not a Redis URL/) });
  // an IPv6 address is dialled, not looked up with its brackets as a host name (ENOTFOUND [::1])
  const v6 = await connectRedis('redis://[::1]:1', 'queue').catch((error: Error) => error);
  expect((v6 as Error).message).toMatch(/^cannot reach Redis at redis:\/\/\[::1\]:1: .*(ECONNREFUSED|EADDRNOTAVAIL|ENETUNREACH)/);
});

test('a password is never printed: errors, status and the worker name the URL with *** for it', async () => {
  expect(redactRedisUrl('redis://:secretpw@127.0.0.1:6399/2')).toBe('redis://:***@127.0.0.1:6399/2');
  // nor recorded (run.json and checkpoints keep the command line), nor printed when enqueuing, which says where the URL came from
  expect(recordedCommand(['digits', 'train', '--queue', 'redis://:secretpw@10.0.0.5:6379', '--data', 'x'])).toBe('digits train --queue redis://:***@10.0.0.5:6379 --data x');
  expect(recordedCommand(['digits', 'search', '--queue=rediss://u:pw@h:6380/1'])).toBe('digits search --queue=rediss://u:***@h:6380/1');
  expect(queueNamed('redis://:pw@h:6379', ['--queue', 'redis://:pw@h:6379'])).toBe('redis://:***@h:6379');
  expect(queueNamed('redis://h:6379', ['--data', 'x'])).toBe('redis://h:6379 (from DIGITS_QUEUE)');
  expect(redactRedisUrl('rediss://user:pw@host:6380')).toBe('rediss://user:***@host:6380');
  expect(redactRedisUrl('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
  const refused = await connectRedis('redis://:secretpw@127.0.0.1:1', 'queue').catch((error: Error) => error);
  expect(refused).toBeInstanceOf(UserError);
  expect((refused as Error).message).toMatch(/cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:1/);
  expect((refused as Error).message).not.toContain('secretpw');
  await expect(connectRedis('http://:secretpw@127.0.0.1:6379', 'queue')).rejects.toMatchObject({ message: expect.stringMatching(/^--queue http:\/\/:\*\*\*@127\.0\.0\.1:6379\/? is not a Redis URL/) });
  // a password the URL parser cannot read (# / ? unencoded) is hidden too, and the hint says how to write it
  const unparsed = await connectRedis('redis://:s3cr#t/pw@127.0.0.1:6391', 'queue').catch((error: UserError) => error);
  expect(unparsed).toMatchObject({ message: '--queue redis://:***@127.0.0.1:6391 is not a Redis URL (Invalid URL)', hint: expect.stringMatching(/percent-encoded.*# as %23/) });
  expect(redactRedisUrl('redis://user:p@ss/w@h:1/0')).toBe('redis://user:***@h:1/0');
  // a scheme in capitals connects as well, so it is hidden as well (run.json kept the password)
  expect(redactRedisUrl('REDIS://:s3cr%23t@h:6379')).toBe('REDIS://:***@h:6379');
  expect(recordedCommand(['digits', 'train', '--queue', 'REDIS://:s3cr%23t@h:6379'])).toBe('digits train --queue REDIS://:***@h:6379');
  expect(redactRedisUrl('redis://[::1]:6390')).toBe('redis://[::1]:6390');
});

test('a worker whose --store this machine does not have refuses to start, before taking a job', async () => {
  await expect(startQueueWorker({ redis: 'redis://127.0.0.1:1', concurrency: 1, store: path.join(root, 'no-such-store') })).rejects.toMatchObject({
    message: expect.stringMatching(/--store .*no-such-store is not a folder on this machine/),
    where: { flag: 'store' },
  });
});

describe.skipIf(!hasRedis)('Redis URLs the server refuses (real Redis)', () => {
  test('a database the server does not have, and wrong credentials, are errors naming the flag', { timeout: 30_000 }, async () => {
    redis = await startRedis();
    // Given a server with 16 databases and no password
    // When a URL names database 99, Then the error says so (it used to train in database 0)
    await expect(connectRedis(`${redis.url}/99`, 'queue')).rejects.toMatchObject({ message: expect.stringMatching(/has no database 99/), where: { flag: 'queue' }, hint: expect.stringMatching(/databases/) });
    await expect(connectRedis(`${redis.url}/3`, 'queue')).resolves.toMatchObject({ db: 3 });
    // When the server requires a password and the URL's is wrong, Then the hint is about the credentials, not a server to start
    const admin = new Redis(redis.url);
    await admin.config('SET', 'requirepass', 'right');
    admin.disconnect();
    const url = redis.url.replace('redis://', 'redis://:wrong@');
    const error = (await connectRedis(url, 'queue').catch((e: unknown) => e)) as UserError;
    expect(error).toMatchObject({ where: { flag: 'queue' }, hint: expect.stringMatching(/refused the credentials/) });
    expect(error.message).not.toContain(':wrong@');
    await expect(connectRedis(redis.url.replace('redis://', 'redis://:right@'), 'queue')).resolves.toMatchObject({ password: 'right' });
  });

  test('a TLS URL to a plain server says so (it was told to start a server)', { timeout: 30_000 }, async () => {
    redis = await startRedis();
    const url = redis.url.replace('redis://', 'rediss://');
    const error = (await connectRedis(url, 'queue').catch((e: unknown) => e)) as UserError;
    expect(error).toMatchObject({ message: expect.stringMatching(/^cannot reach Redis at rediss:\/\/127\.0\.0\.1:\d+: /), where: { flag: 'queue' } });
    expect(error.hint).toMatch(/^rediss:\/\/ asks for TLS: check that the server at 127\.0\.0\.1:\d+ speaks TLS there \(a plain Redis takes redis:\/\/\), or start one\.$/);
  });
});
