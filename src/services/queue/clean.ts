/**
 * `digits queue clean`: removes member and trial jobs no worker has started (waiting, delayed,
 * prioritized, paused) of one run or search, or of all. A command that enqueued them and then
 * stopped (Ctrl-C with no worker running) left them to the next worker that came, days later
 * maybe, for another user (session 49's probe). Running jobs are not touched: they finish on
 * their workers, and the command says where. Removing a flow's last pending child lets BullMQ
 * move its parent on, so the run's report is made as for any other end.
 */
import { Queue, type Job } from 'bullmq';
import { MEMBERS_QUEUE, connectRedis, type MemberJobData } from './queues.js';
import { redactRedisUrl } from './redis-url.js';

export interface CleanQueueOptions {
  redis: string;
  /** the run or search folder's name (as `queue status` shows it); undefined: every job */
  run?: string;
}

export interface CleanedJob {
  job: string;
  run: string;
  member: string;
  kind: MemberJobData['kind'];
  state: string;
}

export interface CleanQueueResult {
  redis: string;
  run: string | null;
  /** jobs removed: no worker had started them */
  removed: CleanedJob[];
  /** jobs left alone: a worker runs them now */
  running: Array<CleanedJob & { worker: string | null }>;
}

/** States of a member job no worker has started. */
const NOT_STARTED = ['waiting', 'prioritized', 'delayed', 'paused'] as const;

/** Every member job not finished (running, or not started yet), with its state. */
export async function pendingMemberJobs(members: Queue<MemberJobData>): Promise<Array<{ job: Job<MemberJobData>; state: 'active' | (typeof NOT_STARTED)[number] }>> {
  const pending: Array<{ job: Job<MemberJobData>; state: 'active' | (typeof NOT_STARTED)[number] }> = [];
  for (const state of ['active', ...NOT_STARTED] as const) for (const job of await members.getJobs([state], 0, -1)) if (job) pending.push({ job, state });
  return pending;
}

export async function cleanQueue(options: CleanQueueOptions): Promise<CleanQueueResult> {
  const connection = await connectRedis(options.redis, 'redis');
  const members = new Queue<MemberJobData>(MEMBERS_QUEUE, { connection });
  const ours = (data: Partial<MemberJobData> | undefined) => options.run === undefined || data?.run === options.run;
  const describe = (job: { id?: string; data: Partial<MemberJobData> }, state: string): CleanedJob => ({ job: job.id!, run: String(job.data?.run ?? '?'), member: String(job.data?.member ?? '?'), kind: job.data?.kind ?? 'member', state });
  try {
    const removed: CleanedJob[] = [];
    for (const { job, state } of await pendingMemberJobs(members)) {
      if (state === 'active' || !ours(job.data)) continue;
      // (a job a worker took meanwhile is locked: left to it, and listed as running below)
      const gone = await job.remove().then(() => true, () => false);
      if (gone) removed.push(describe(job, state));
    }
    const running = (await members.getActive()).filter((job) => ours(job.data)).map((job) => ({ ...describe(job, 'active'), worker: (job as { processedBy?: string }).processedBy ?? null }));
    return { redis: redactRedisUrl(options.redis), run: options.run ?? null, removed, running };
  } finally {
    await members.close();
  }
}
