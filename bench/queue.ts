/**
 * `npm run bench:queue`: the training queue on this machine. A 6-member ensemble (Deotte's
 * recipe of `full`: deotte CNN, Adam 1e-3 ×0.95/epoch, rotation/zoom/shift augmentation, batch
 * 64) is trained through BullMQ with 1 `digits worker` process and then with 2, each with one
 * training thread; the wall times, their ratio (the ideal is 2×), each member's training time
 * and the queue's overhead per job (from BullMQ's own timestamps: how long a job waited after a
 * worker was free for it) are printed as JSON on stdout, progress on stderr. Then, on paper,
 * what N such machines do for `full` (15 members × 30 epochs) and a 100-trial search.
 *
 *   npm run -s bench:queue > queue.json                       # 12,000 rows, 3 epochs per member
 *   QUEUE_BENCH_EPOCHS=1 QUEUE_BENCH_ROWS=400 QUEUE_BENCH_PRESET=mlp npm run bench:queue   # a smoke run
 *
 * Needs redis-server (Debian package); starts its own on a free loopback port.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Job, Queue } from 'bullmq';
import { importCompetition, resolveCompetitionFiles } from '../src/data/import.js';
import { buildPracticeCompetition } from '../src/data/practice.js';
import { ensembleFromJson } from '../src/ensemble/ensemble-spec.js';
import { trainOnQueue } from '../src/services/queue/enqueue.js';
import { MEMBERS_QUEUE, connectRedis, type MemberJobData, type RunReport } from '../src/services/queue/queues.js';
import type { EpochRecord } from '../src/training/training-state.js';
import { startRedis } from '../test/helpers/redis.js';

const epochs = Number(process.env.QUEUE_BENCH_EPOCHS ?? 3);
const rows = Number(process.env.QUEUE_BENCH_ROWS ?? 12_000);
const preset = process.env.QUEUE_BENCH_PRESET ?? 'deotte';
const members = Number(process.env.QUEUE_BENCH_MEMBERS ?? 6);
const log = (line: string) => process.stderr.write(`${line}\n`);
const root = fileURLToPath(new URL('..', import.meta.url));
const bin = path.join(root, 'bin/run.js');

function startWorker(url: string): { child: ChildProcess; ready: Promise<void>; stopped: Promise<number | null> } {
  const child = spawn(process.execPath, [bin, 'worker', '--redis', url, '--concurrency', '1'], { env: { ...process.env, CI: 'true' }, stdio: ['ignore', 'ignore', 'pipe'] });
  let ready: () => void;
  const isReady = new Promise<void>((resolve) => (ready = resolve));
  child.stderr!.on('data', (chunk: Buffer) => {
    if (chunk.toString().includes(': ready on ')) ready();
  });
  const stopped = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, ready: isReady, stopped };
}

interface Timing {
  workers: number;
  seconds: number;
  /** per member: seconds from its start on a worker to its result (worker thread start included) */
  memberSeconds: Record<string, number>;
  /** mean training seconds of one epoch (history.json) */
  epochSeconds: number;
  /** per job: ms between a worker being free for it (or it being enqueued) and its start */
  dispatchMs: number[];
  report: RunReport | null;
}

async function trainWith(url: string, workers: number, dataDir: string, runDir: string): Promise<Timing> {
  const started = Array.from({ length: workers }, () => startWorker(url));
  await Promise.all(started.map((w) => w.ready));
  const spec = ensembleFromJson(
    JSON.stringify({
      name: `bench-${workers}`,
      validation: { kind: 'shared', fraction: 0.1, seed: 42 },
      members: Array.from({ length: members }, (_, i) => ({
        name: `m${i + 1}`,
        preset,
        optimizer: 'adam',
        learningRate: 1e-3,
        schedule: { kind: 'exponential', decay: 0.95 },
        augmentation: { rotation: 10, zoom: 0.1, widthShift: 0.1, heightShift: 0.1 },
        epochs,
        batchSize: 64,
        seed: 2000 + i,
      })),
    }),
  );
  const t0 = performance.now();
  const { report } = await trainOnQueue({ ensemble: spec, data: dataDir, runDir, concurrency: members, backend: 'auto', command: 'bench/queue.ts' }, { redis: url });
  const seconds = (performance.now() - t0) / 1000;
  await Promise.all(started.map((w) => (w.child.kill('SIGTERM'), w.stopped)));

  // BullMQ's timestamps of our jobs: enqueued, started, finished, and by whom.
  const queue = new Queue<MemberJobData>(MEMBERS_QUEUE, { connection: await connectRedis(url, 'redis') });
  const jobs = (await queue.getCompleted(0, -1)).filter((j) => j.data.run === path.basename(runDir));
  await queue.close();
  const memberSeconds: Record<string, number> = {};
  const byWorker = new Map<string, Job[]>();
  for (const job of jobs) {
    memberSeconds[job.data.member] = Number(((job.finishedOn! - job.processedOn!) / 1000).toFixed(2));
    const list = byWorker.get(job.processedBy ?? '?') ?? [];
    list.push(job);
    byWorker.set(job.processedBy ?? '?', list);
  }
  const dispatchMs: number[] = [];
  for (const list of byWorker.values()) {
    list.sort((a, b) => a.processedOn! - b.processedOn!);
    list.forEach((job, i) => dispatchMs.push(job.processedOn! - Math.max(job.timestamp, i > 0 ? list[i - 1]!.finishedOn! : 0)));
  }
  const histories = await Promise.all(spec.members.map(async (m) => JSON.parse(await readFile(path.join(runDir, m.name, 'history.json'), 'utf8')) as EpochRecord[]));
  const all = histories.flat();
  const epochSeconds = all.reduce((s, r) => s + r.seconds, 0) / Math.max(1, all.length);
  return { workers, seconds: Number(seconds.toFixed(1)), memberSeconds, epochSeconds: Number(epochSeconds.toFixed(2)), dispatchMs, report };
}

const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / Math.max(1, xs.length);

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'digits-bench-queue-'));
  const redis = await startRedis();
  try {
    log(`practice competition: ${rows} rows`);
    const competition = path.join(dir, 'project', 'competitions', 'uniform');
    await buildPracticeCompetition({ recipe: 'uniform', out: competition, trainRows: rows, testRows: 100, seed: 5 });
    await importCompetition({ ...(await resolveCompetitionFiles([competition])), orientation: 'as-is' });
    const results: Timing[] = [];
    for (const workers of [1, 2]) {
      log(`${members} × ${preset} × ${epochs} epochs through the queue, ${workers} worker process${workers > 1 ? 'es' : ''} (1 thread each)`);
      results.push(await trainWith(redis.url, workers, competition, path.join(dir, 'project', 'runs', `w${workers}`)));
      log(`  ${results.at(-1)!.seconds}s`);
    }
    const [one, two] = results as [Timing, Timing];
    // One member's time per epoch, and the fixed part (worker thread, engine, data, checkpoints).
    const memberMean = mean(Object.values(one.memberSeconds));
    const fixed = Math.max(0, memberMean - one.epochSeconds * epochs);
    const dispatch = mean([...one.dispatchMs, ...two.dispatchMs]);
    const perMember30 = fixed + 30 * one.epochSeconds;
    // On paper: N machines like this one (2 cores: 2 workers of 1 thread), members spread evenly.
    const slots = (n: number) => 2 * n;
    const full = [1, 2, 4, 8].map((n) => ({ machines: n, minutes: Number(((Math.ceil(15 / slots(n)) * (perMember30 + dispatch / 1000)) / 60).toFixed(1)) }));
    // 100 trials of the default space (1–9 epochs): ASHA with η = 3 trains about 100×1 + 33×2 + 11×6 = 232 epochs; random about 100×5.
    const search = [1, 2, 4, 8].map((n) => ({
      machines: n,
      ashaMinutes: Number(((232 * one.epochSeconds + 144 * (fixed + dispatch / 1000)) / slots(n) / 60).toFixed(1)),
      randomMinutes: Number(((500 * one.epochSeconds + 100 * (fixed + dispatch / 1000)) / slots(n) / 60).toFixed(1)),
    }));
    const out = {
      machine: { cores: os.availableParallelism(), cpu: os.cpus()[0]?.model ?? 'unknown' },
      setting: { members, preset, epochs, rows },
      oneWorker: { seconds: one.seconds, memberSeconds: one.memberSeconds, epochSeconds: one.epochSeconds },
      twoWorkers: { seconds: two.seconds, memberSeconds: two.memberSeconds, epochSeconds: two.epochSeconds, workersUsed: new Set(two.report?.members.map((m) => m.worker)).size },
      speedup: Number((one.seconds / two.seconds).toFixed(2)),
      overhead: {
        dispatchMsMean: Number(dispatch.toFixed(1)),
        dispatchMsMax: Math.max(...one.dispatchMs, ...two.dispatchMs),
        /** wall time beyond the members' own time, per job, with one worker (client, queue, result) */
        perJobSeconds: Number(((one.seconds - Object.values(one.memberSeconds).reduce((s, x) => s + x, 0)) / members).toFixed(2)),
        /** per member: worker thread, engine, data, checkpoints (member time − its epochs) */
        memberFixedSeconds: Number(fixed.toFixed(2)),
      },
      onPaper: { note: 'N machines like this one, 2 worker processes of 1 thread each; members and trials spread evenly; per-epoch time of this bench', fullMember30EpochsSeconds: Math.round(perMember30), full, search100: search },
    };
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  } finally {
    await redis.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
