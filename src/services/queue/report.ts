/**
 * The parent of a flow (an ensemble or a search) is processed once its children are done: its
 * result is the report of every member or trial, failures with their error. The processor
 * reads only Redis, so any process may run it: every `digits worker`, and the process that
 * enqueued the flow (so a report never waits for a training slot).
 *
 * A search adds trials while it runs: until the search closes its parent (`closed`), the
 * parent waits for pending children (BullMQ's WaitingChildrenError) or, with none pending,
 * looks again a second later (DelayedError): BullMQ's documented pattern for a parent whose
 * children are added as it goes. A search whose process died never closes its parent: once the
 * lease it renews has expired (`leaseKey`), the parent is reported as it stands, `abandoned`.
 */
import { DelayedError, Job, Queue, WaitingChildrenError, Worker } from 'bullmq';
import type { Redis, RedisOptions } from 'ioredis';
import { MEMBERS_QUEUE, RUNS_QUEUE, attemptOf, leaseKey, type MemberJobData, type MemberJobResult, type RunJobData, type RunReport } from './queues.js';

const jobIdOfKey = (key: string) => key.slice(key.lastIndexOf(':') + 1);

export async function reportOf(parent: Job<RunJobData>, members: Queue<MemberJobData>): Promise<RunReport> {
  const values = (await parent.getChildrenValues()) as Record<string, MemberJobResult>;
  const failures = await parent.getIgnoredChildrenFailures();
  const rows: RunReport['members'] = [];
  for (const [key, value] of Object.entries(values)) {
    const child = await Job.fromId<MemberJobData>(members, jobIdOfKey(key));
    rows.push({ member: child?.data.member ?? key, ok: true, worker: value.worker, resumedAt: value.resumedAt, epochs: value.result.history.length, attempts: value.attempt });
  }
  for (const [key, error] of Object.entries(failures)) {
    const child = await Job.fromId<MemberJobData>(members, jobIdOfKey(key));
    rows.push({ member: child?.data.member ?? key, ok: false, attempts: child ? attemptOf(child) : 0, worker: child?.processedBy, error });
  }
  rows.sort((a, b) => a.member.localeCompare(b.member));
  return { kind: parent.data.kind, run: parent.data.run, dir: parent.data.dir, members: rows };
}

/** A BullMQ worker making the reports of finished flows. */
export function startReportWorker(connection: RedisOptions, name: string): { worker: Worker<RunJobData, RunReport>; close: (force?: boolean) => Promise<void> } {
  const members = new Queue<MemberJobData>(MEMBERS_QUEUE, { connection });
  const worker = new Worker<RunJobData, RunReport>(
    RUNS_QUEUE,
    async (job, token) => {
      if (await job.moveToWaitingChildren(token!)) throw new WaitingChildrenError();
      const open = !job.data.closed && (!job.data.leased || (await ((await members.client) as unknown as Redis).exists(leaseKey(job.id!))) === 1);
      if (open) {
        await job.moveToDelayed(Date.now() + 1000, token);
        throw new DelayedError();
      }
      const report = await reportOf(job, members);
      return job.data.closed ? report : { ...report, abandoned: true };
    },
    { connection, concurrency: 8, name },
  );
  worker.on('error', () => {});
  return {
    worker,
    // force: drop the connections without the goodbye a Redis that is down never answers (a
    // report is quick, and one cut short is made again by the next report worker)
    close: async (force = false) => {
      await worker.close(force);
      if (force) await members.disconnect();
      else await members.close();
    },
  };
}
