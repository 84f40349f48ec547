/**
 * `digits worker`: takes member and trial jobs from the queue and trains each with the code of
 * local training (`runWorkerJobs`: one worker thread per job, its own engine), at most
 * `concurrency` at once; the thread's events go back through the queue (`job.updateProgress`).
 *
 * Faults, with BullMQ's own machinery:
 * - a job started a second time (a retry after an error, or a take-over after its worker died
 *   and its lock expired: a stalled job) resumes from the member's `last/` checkpoint, exactly
 *   (training-state.ts), instead of starting over;
 * - a member that cannot be trained as configured (MemberConfigError in the thread, or job data
 *   this digits does not read) fails at once: BullMQ's UnrecoverableError skips the retries;
 * - a job whose files this machine cannot see (a wrong --store, a share not mounted) is this
 *   worker's fault, not the job's: it goes back to the queue without spending an attempt, and
 *   the worker stops taking jobs and ends with the error (`stopped`). Until session 49 it failed
 *   each job in a second, three times over, while a worker that saw the files was busy;
 * - `close()` (SIGTERM) stops taking jobs and waits for the running ones (`worker.close()`).
 */
import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { UserError } from '../../errors.js';
import { DelayedError, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { EnsembleEvent, TrainResult } from '../../training/train-member.js';
import { runWorkerJobs } from '../../training/worker-protocol.js';
import { startReportWorker } from './report.js';
import { MEMBERS_QUEUE, attemptOf, clientName, connectRedis, loadStoredJob, type MemberJobData, type MemberJobResult, type TrainMemberJob } from './queues.js';
import { redactRedisUrl } from './redis-url.js';

export interface QueueWorkerOptions {
  redis: string;
  /** jobs (worker threads) at once */
  concurrency: number;
  /** where this machine sees the store root of the jobs (default: the enqueuing machine's path) */
  store?: string;
  /**
   * How long a job's lock lasts without renewal, and how often stalled jobs are looked for
   * (ms; BullMQ's lockDuration and stalledInterval, default 30 s): a worker killed mid-member
   * has its job taken over by another within about twice this.
   */
  stallMs?: number;
  onEvent?: (event: QueueWorkerEvent) => void;
}

export type QueueWorkerEvent =
  | { type: 'worker-ready'; worker: string; concurrency: number; redis: string; /** --store, when given */ store?: string }
  | { type: 'job-start'; job: string; run: string; member: string; kind: MemberJobData['kind']; attempt: number; resume: boolean }
  | { type: 'job-event'; job: string; event: EnsembleEvent }
  | { type: 'job-done'; job: string; run: string; member: string; resumedAt: number; epochs: number }
  | { type: 'job-failed'; job: string; run: string; member: string; error: string; retry: boolean }
  | { type: 'worker-error'; error: string }
  | { type: 'worker-blind'; job: string; run: string; member: string; missing: string; what: string }
  | { type: 'worker-draining'; running: number }
  | { type: 'worker-closed' };

export interface QueueWorker {
  name: string;
  /** stop taking jobs, let the running ones finish, disconnect */
  close(): Promise<void>;
  /** settles when the worker stopped of itself: with the error that stopped it (it cannot see a job's files) */
  readonly stopped: Promise<UserError>;
  /** jobs running now */
  readonly running: number;
}

/** The first of a job's files this machine does not have, and what it is (the data, the init checkpoint, the extra rows). */
export function missingJobFile(job: TrainMemberJob): { file: string; what: string } | null {
  const needed: Array<[string | undefined, string]> = [
    [job.datasetDir, "the competition's imported data"],
    [job.member.init, 'the init checkpoint'],
    [job.extra, 'the extra training rows'],
  ];
  for (const [file, what] of needed) if (file && !existsSync(file)) return { file, what };
  return null;
}

/** How long an idle worker's forced close may take before the worker reports itself closed anyway. */
const FORCED_CLOSE_MS = 2000;

/** Batch events go through Redis at most this often per job; epochs and the rest always. */
const BATCH_EVERY_MS = 1000;

export async function startQueueWorker(options: QueueWorkerOptions): Promise<QueueWorker> {
  // A store this machine does not have would fail every job it took, spending their retries.
  if (options.store && !(await stat(options.store).then((info) => info.isDirectory(), () => false))) {
    throw new UserError(`--store ${options.store} is not a folder on this machine`, {
      where: { flag: 'store', file: options.store },
      hint: 'Pass where this machine mounts the folder that holds the competitions and runs (the enqueuing machine\'s project), or leave --store out when the paths are the same here.',
    });
  }
  const connection = await connectRedis(options.redis, 'redis');
  const name = clientName('worker');
  const emit = options.onEvent ?? (() => {});
  const stall = options.stallMs ? { lockDuration: options.stallMs, stalledInterval: options.stallMs } : {};

  let running = 0;
  let stop: (error: UserError) => void = () => {};
  const stopped = new Promise<UserError>((resolve) => (stop = resolve));
  let blind: UserError | null = null;
  const processMember = async (job: Job<MemberJobData, MemberJobResult>, token?: string): Promise<MemberJobResult> => {
    running++;
    try {
      return await trainMemberJob(job, token);
    } finally {
      running--;
    }
  };
  const trainMemberJob = async (job: Job<MemberJobData, MemberJobResult>, token?: string): Promise<MemberJobResult> => {
    const data = job.data;
    if (data?.format !== 'digits-queue-member' || data.version !== 1 || data.job?.kind !== 'train-member') {
      throw new UnrecoverableError(`job ${job.id} is not a member job this digits reads (format ${String(data?.format)}, version ${String(data?.version)})`);
    }
    // Started before (a retry, or a take-over from a worker that died): continue from last/.
    const attempt = attemptOf(job);
    const resume = data.job.resume || attempt > 1;
    const workerJob = { ...loadStoredJob(data.job, options.store ?? data.storeRoot), resume };
    const missing = missingJobFile(workerJob);
    if (missing || blind) {
      // Back to the queue for a worker that sees the files (a delay spends no attempt), and this
      // one stops taking jobs: each it took would come back the same way.
      await job.updateData({ ...data, givenBack: (data.givenBack ?? 0) + 1 });
      await job.moveToDelayed(Date.now() + 1000, token);
      if (missing && !blind) {
        const store = options.store ? `its --store ${options.store}` : `the enqueuing machine's path ${data.storeRoot}`;
        blind = new UserError(`this worker cannot see ${missing.what} of run ${data.run} (${missing.file}, under ${store}): it stopped taking jobs, and the job went back to the queue for another worker`, {
          where: { file: missing.file, flag: 'store' },
          hint: options.store
            ? 'Start it again with the --store where this machine mounts the folder that holds the enqueuing machine\'s competitions and runs.'
            : `Mount the enqueuing machine's project folder at ${data.storeRoot} here, or start the worker with --store <where it is mounted>.`,
        });
        emit({ type: 'worker-blind', job: job.id!, run: data.run, member: data.member, missing: missing.file, what: missing.what });
        setImmediate(() => void close().then(() => stop(blind!)));
      }
      throw new DelayedError();
    }
    emit({ type: 'job-start', job: job.id!, run: data.run, member: data.member, kind: data.kind, attempt, resume });
    let resumedAt = 0;
    let lastBatch = 0;
    const [outcome] = await runWorkerJobs<TrainResult>([workerJob], {
      concurrency: 1,
      onEvent: (_i, raw) => {
        const event = raw as EnsembleEvent;
        if (event.type === 'engine') Object.assign(event, { member: data.member });
        if (event.type === 'start') resumedAt = event.resumedAt;
        emit({ type: 'job-event', job: job.id!, event });
        if (event.type === 'batch') {
          if (Date.now() - lastBatch < BATCH_EVERY_MS) return;
          lastBatch = Date.now();
        }
        // A lost lock (the job was taken over) or a gone job must not stop the training.
        job.updateProgress(event as object).catch(() => {});
      },
    });
    if (!outcome!.ok) {
      const retry = !outcome!.unrecoverable && job.attemptsMade + 1 < (job.opts.attempts ?? 1);
      // Paths a failure names are this worker's view of the run: say where it came from.
      const error = options.store ? `${outcome!.error} (on worker ${name}, which reads the run's files under its --store ${options.store})` : outcome!.error;
      emit({ type: 'job-failed', job: job.id!, run: data.run, member: data.member, error, retry });
      throw outcome!.unrecoverable ? new UnrecoverableError(error) : new Error(error);
    }
    emit({ type: 'job-done', job: job.id!, run: data.run, member: data.member, resumedAt, epochs: outcome!.value.history.length });
    return { result: outcome!.value, worker: name, resumedAt, attempt };
  };

  const worker = new Worker<MemberJobData, MemberJobResult>(MEMBERS_QUEUE, processMember, {
    connection,
    concurrency: options.concurrency,
    name,
    maxStalledCount: 3,
    ...stall,
  });
  // Redis going away and coming back: BullMQ reconnects; say so at most every 10 s.
  let lastError = 0;
  worker.on('error', (error) => {
    if (Date.now() - lastError < 10_000) return;
    lastError = Date.now();
    emit({ type: 'worker-error', error: error.message });
  });
  const reporter = startReportWorker(connection, name);
  await worker.waitUntilReady();
  emit({ type: 'worker-ready', worker: name, concurrency: options.concurrency, redis: redactRedisUrl(options.redis), ...(options.store ? { store: options.store } : {}) });
  let closing: Promise<void> | null = null;
  const close = () => {
    closing ??= (async () => {
      emit({ type: 'worker-draining', running });
      // With no job running there is nothing to wait for: close without the connections'
      // goodbye, which a Redis that is down never answers (the worker waited for it for
      // ever, and after Redis came back as well). With jobs running, their results need
      // Redis, so the worker waits for it (a second signal stops it at once).
      const force = running === 0;
      const closed = Promise.all([worker.close(force), reporter.close(force)]);
      if (!force) await closed;
      else {
        // (BullMQ's forced close can still wait on a connection that never comes back: once
        // the sockets are dropped nothing else is pending, so a short wait is enough)
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([closed.catch(() => {}), new Promise<void>((resolve) => (timer = setTimeout(resolve, FORCED_CLOSE_MS)))]);
        clearTimeout(timer);
      }
      emit({ type: 'worker-closed' });
    })();
    return closing;
  };
  return {
    name,
    get running() {
      return running;
    },
    close,
    stopped,
  };
}
