/**
 * The enqueuing side: an ensemble's members (or a search's trials) as a BullMQ flow, the
 * ensemble or search as the parent in `digits-runs`, one child job per member in
 * `digits-members`. It plugs into `trainEnsemble` and `runSearch` as their job runner, so the
 * run folder, run.json, splits, the scheduler and the events are the local ones; only where a
 * member trains changes. Progress comes back through the queue (`job.updateProgress` on the
 * worker, QueueEvents here) as the same training events the local worker threads post.
 *
 * Children retry with exponential backoff; a child that fails for good does not block its
 * parent (`ignoreDependencyOnFailure`), like one failing member locally, and the parent's
 * report names it with its error.
 */
import { randomUUID } from 'node:crypto';
import { FlowProducer, Job, Queue, QueueEvents } from 'bullmq';
import type { Redis, RedisOptions } from 'ioredis';
import type { JobOutcome, ParallelOptions } from '../../engine/parallel.js';
import type { WorkerJob, WorkerJobRunner } from '../../training/worker-protocol.js';
import { startReportWorker } from './report.js';
import {
  ATTEMPTS,
  BACKOFF_MS,
  MEMBERS_QUEUE,
  RUNS_QUEUE,
  RUN_LEASE_MS,
  RUN_LEASE_RENEW_MS,
  clientName,
  leaseKey,
  qualifiedName,
  storeJob,
  type MemberJobData,
  type MemberJobResult,
  type RunJobData,
  type RunReport,
  type TrainMemberJob,
} from './queues.js';

export interface QueueRunOptions {
  connection: RedisOptions;
  kind: RunJobData['kind'];
  /** the run or search folder */
  dir: string;
  run: string;
  /** the folder the jobs' paths are relative to (workers map it with --store) */
  storeRoot: string;
  /** the enqueued flow, once (ids of the parent and children) */
  onEnqueued?: (info: { parent: string; children: number }) => void;
  /** how often a waiting run checks that its jobs still exist (default LOOK_EVERY_MS) */
  lookEveryMs?: number;
  /** an open search's lease (default RUN_LEASE_MS): renewed every RUN_LEASE_RENEW_MS (a quarter of it, if shorter) while this process lives */
  leaseMs?: number;
  /** the command that continues this run once its jobs are gone (said when one vanishes; default: "the same command with --resume") */
  resumeCommand?: string;
  /**
   * Told when the run's jobs wait with nobody to take them (no worker on this queue's
   * database, or Redis not answering), once each time it starts, and when it ends: a run
   * enqueued on a typo'd database, or with no worker started, looked like a hang.
   */
  /** a problem (jobs nobody takes, Redis away) or its end (`resolved`: good news, no warning) */
  onNotice?: (message: string, resolved: boolean) => void;
  /** how often the waiting jobs are checked on (default WATCH_EVERY_MS) */
  watchEveryMs?: number;
  /** `digits worker --redis …` for this queue, as the notice suggests it */
  workerCommand?: string;
}

/** How often waiting jobs are checked for a worker to take them. */
export const WATCH_EVERY_MS = 10_000;

export interface QueueRun {
  /** the runner `trainEnsemble` and `runSearch` take (`runJobs`) */
  runJobs: WorkerJobRunner;
  /** no more children: wait for the parent's report */
  finish(): Promise<RunReport | null>;
  close(): Promise<void>;
}

/** How often a waiting run checks that its jobs still exist. */
const LOOK_EVERY_MS = 15_000;

const childOptions = (jobId: string) => ({
  jobId,
  attempts: ATTEMPTS,
  backoff: { type: 'exponential' as const, delay: BACKOFF_MS },
  ignoreDependencyOnFailure: true,
  // Kept a week: the parent's report and `digits queue status` read finished jobs.
  removeOnComplete: { age: 7 * 24 * 3600 },
  removeOnFail: { age: 7 * 24 * 3600 },
});

export async function openQueueRun(options: QueueRunOptions): Promise<QueueRun> {
  const { connection } = options;
  const members = new Queue<MemberJobData, MemberJobResult>(MEMBERS_QUEUE, { connection });
  const runs = new Queue<RunJobData, RunReport>(RUNS_QUEUE, { connection });
  const flows = new FlowProducer({ connection });
  const memberEvents = new QueueEvents(MEMBERS_QUEUE, { connection });
  const runEvents = new QueueEvents(RUNS_QUEUE, { connection });
  // This process makes reports too, so its flow's report never waits for a training slot.
  const reporter = startReportWorker(connection, clientName('client'));
  await Promise.all([memberEvents.waitUntilReady(), runEvents.waitUntilReady()]);

  /** progress of our children: job id → the listener of its events */
  const listeners = new Map<string, (event: unknown) => void>();
  /** jobs of ours a worker has reported on */
  const heard = new Set<string>();
  memberEvents.on('progress', ({ jobId, data }) => {
    if (listeners.has(jobId)) heard.add(jobId);
    listeners.get(jobId)?.(data);
  });

  // Jobs that nobody takes: say why (no worker on this database, Redis away), once per spell.
  let said: 'no-worker' | 'no-redis' | null = null;
  const db = connection.db ?? 0;
  const watch = async (ids: readonly string[]) => {
    if (ids.every((id) => heard.has(id) || !listeners.has(id))) {
      if (said !== null) options.onNotice?.(`the ${options.kind === 'ensemble' ? 'members' : 'trials'} are taken by workers now`, true);
      said = null;
      return;
    }
    let workers: number;
    try {
      const clients = await Promise.race([members.getWorkers(), new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no answer in 5 s')), 5000).unref())]);
      workers = clients.filter((c) => c.db === undefined || Number(c.db) === db).length;
    } catch (error) {
      if (said !== 'no-redis') options.onNotice?.(`Redis is not answering (${(error as Error).message}): the run waits for it to come back`, false);
      said = 'no-redis';
      return;
    }
    if (workers === 0 && ids.some((id) => listeners.has(id) && !heard.has(id))) {
      if (said !== 'no-worker') options.onNotice?.(`no worker takes jobs from this queue (database ${db}): the ${options.kind === 'ensemble' ? 'members' : 'trials'} wait until one starts${options.workerCommand ? ` (\`${options.workerCommand}\` on a machine that sees the store)` : ''}`, false);
      said = 'no-worker';
    } else if (said !== null) {
      // (Redis back with workers on it was said as "a worker is on the queue now" until session 49)
      const back = said === 'no-redis' ? 'Redis answers again' : '';
      const on = workers === 0 ? '' : `${workers === 1 ? 'a worker is' : `${workers} workers are`} on the queue now`;
      options.onNotice?.([back, on].filter(Boolean).join(', and ') || 'Redis answers again', true);
      said = null;
    }
  };

  // The flow's parent, made by the first batch. A search runs trials concurrently, so a second
  // batch can arrive while the first is still adding the flow: it waits for that parent rather
  // than making a second one (whose report would miss the first flow's children).
  let parentId: Promise<string> | null = null;
  const childData = (job: WorkerJob): MemberJobData => {
    if (job.kind !== 'train-member') throw new Error(`a queue runs member training only, not ${job.kind} jobs`);
    return {
      format: 'digits-queue-member',
      version: 1,
      kind: options.kind === 'ensemble' ? 'member' : 'trial',
      run: options.run,
      member: job.member.name,
      storeRoot: options.storeRoot,
      job: storeJob(job as TrainMemberJob, options.storeRoot),
    };
  };
  const leaseMs = options.leaseMs ?? RUN_LEASE_MS;
  const parentData = (closed: boolean): RunJobData => ({ format: 'digits-queue-run', version: 1, kind: options.kind, run: options.run, dir: options.dir, closed, ...(options.kind === 'search' ? { leased: true } : {}) });
  const setLease = async (id: string) => {
    await ((await runs.client) as unknown as Redis).set(leaseKey(id), '1', 'PX', leaseMs);
  };

  // An open parent (a search's) is kept alive by this process: should it die before `finish`,
  // the lease key expires and the parent is reported as it stands (report.ts) instead of staying
  // open for ever. A renewal in flight is awaited when renewing stops.
  let renewal: NodeJS.Timeout | undefined;
  let renewing: Promise<void> = Promise.resolve();
  const stopRenewing = async () => {
    clearInterval(renewal);
    renewal = undefined;
    await renewing;
  };
  const renewLease = (id: string) => {
    renewal = setInterval(() => {
      renewing = (async () => {
        if (renewal !== undefined) await setLease(id);
      })().catch(() => {}); // Redis away: the next renewal tries again
    }, Math.max(50, Math.min(RUN_LEASE_RENEW_MS, leaseMs / 4)));
    renewal.unref();
  };

  // (a worker may still be training the job: resuming before it is done trains the member twice)
  const gone = (id: string) => `job ${id} is no longer in the queue (removed, or Redis restarted without its data); a worker may still be training it: once \`digits queue status\` shows no job of ${options.run}, ${options.resumeCommand ? `\`${options.resumeCommand}\`` : 'the same command with --resume'} keeps what was trained and enqueues what is left`;
  const waitFor = async <T>(id: string): Promise<JobOutcome<T>> => {
    const job = await Job.fromId<MemberJobData, MemberJobResult>(members, id);
    if (!job) return { ok: false, error: gone(id) };
    // Events tell when a job finishes, never that it vanished (a Redis restarted without its
    // data): look for it now and then, so the run fails instead of waiting for ever.
    let timer: NodeJS.Timeout | undefined;
    const vanished = new Promise<JobOutcome<T>>((resolve) => {
      const look = async () => {
        const state = await members.getJobState(id).catch(() => null); // Redis away: look again later
        if (state === 'unknown') resolve({ ok: false, error: gone(id) });
        else timer = setTimeout(look, options.lookEveryMs ?? LOOK_EVERY_MS);
      };
      timer = setTimeout(look, options.lookEveryMs ?? LOOK_EVERY_MS);
    });
    const finished = job.waitUntilFinished(memberEvents).then(
      (value: MemberJobResult): JobOutcome<T> => ({ ok: true, value: value.result as T }),
      (error: Error): JobOutcome<T> => ({ ok: false, error: error.message }),
    );
    try {
      return await Promise.race([finished, vanished]);
    } finally {
      clearTimeout(timer);
    }
  };

  const runJobs: WorkerJobRunner = async <T>(jobs: readonly WorkerJob[], runOptions: ParallelOptions = {}) => {
    const ids = jobs.map(() => randomUUID());
    ids.forEach((id, i) => listeners.set(id, (event) => runOptions.onEvent?.(i, event)));
    const children = jobs.map((job, i) => ({ name: options.kind === 'ensemble' ? 'member' : 'trial', queueName: MEMBERS_QUEUE, data: childData(job), opts: childOptions(ids[i]!) }));
    // A search that lived through its lease's expiry (a machine asleep longer than the lease) finds
    // its parent reported as abandoned: its later trials make a new parent rather than join a finished one.
    // (trials started in the same tick may all find it so: only the first, while parentId is still the one it
    // looked at, drops it; the others then join the new parent, as for the first flow above)
    const checked = parentId;
    if (checked !== null && options.kind === 'search' && (await runs.getJobState(await checked)) === 'completed' && parentId === checked) {
      parentId = null;
      await stopRenewing();
    }
    if (parentId === null) {
      // The first batch makes the flow: an ensemble's whole flow at once (closed), a search's
      // parent with its first trial (open: trials are added as the scheduler picks them), its
      // lease set before the parent exists, so no worker sees a leased parent without one.
      const parent = randomUUID();
      parentId = (options.kind === 'search' ? setLease(parent) : Promise.resolve())
        .then(() => flows.add({ name: options.kind, queueName: RUNS_QUEUE, data: parentData(options.kind === 'ensemble'), opts: { jobId: parent, removeOnComplete: { age: 7 * 24 * 3600 }, removeOnFail: { age: 7 * 24 * 3600 } }, children }))
        .then(() => parent);
      parentId.catch(() => {
        parentId = null;
      });
      await parentId;
      if (options.kind !== 'ensemble') renewLease(parent);
      options.onEnqueued?.({ parent, children: children.length });
    } else {
      const parent = { id: await parentId, queue: qualifiedName(RUNS_QUEUE) };
      await members.addBulk(children.map((c) => ({ name: c.name, data: c.data, opts: { ...c.opts, parent } })));
    }
    const watcher = setInterval(() => void watch(ids).catch(() => {}), options.watchEveryMs ?? WATCH_EVERY_MS);
    watcher.unref();
    try {
      return await Promise.all(ids.map((id) => waitFor<T>(id)));
    } finally {
      clearInterval(watcher);
      for (const id of ids) {
        listeners.delete(id);
        heard.delete(id);
      }
    }
  };

  return {
    runJobs,
    async finish() {
      await stopRenewing();
      if (parentId === null) return null;
      const parent = await Job.fromId<RunJobData, RunReport>(runs, await parentId);
      if (!parent) return null;
      if (!parent.data.closed) await parent.updateData(parentData(true));
      return (await parent.waitUntilFinished(runEvents)) as RunReport;
    },
    async close() {
      await stopRenewing();
      await reporter.close();
      await Promise.all([memberEvents.close(), runEvents.close(), flows.close(), members.close(), runs.close()]);
    },
  };
}
