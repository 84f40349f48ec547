/**
 * `digits train --queue` and `digits search --queue`: the local services with the queue as
 * their job runner. Everything else (run folder, run.json, splits, the scheduler, events)
 * is theirs; the store is the run folder's file system, which the workers reach (shared
 * folder; README "Training on many machines").
 */
import path from 'node:path';
import { resolveDatasetDir } from '../../data/dataset.js';
import type { RunManifest } from '../../runs/manifest.js';
import { runSearch, type SearchOptions, type SearchResult } from '../search.js';
import { trainEnsemble, type TrainEnsembleOptions } from '../train.js';
import { Queue } from 'bullmq';
import { UserError } from '../../errors.js';
import { MEMBERS_QUEUE, commonRoot, connectRedis, fromStoreRef, type MemberJobData, type RunReport } from './queues.js';
import { openQueueRun } from './run-flow.js';
import { pendingMemberJobs } from './clean.js';
import { redactRedisUrl } from './redis-url.js';
import { displayPath, shellArg } from '../../data/format.js';

export interface QueueTarget {
  /** redis://host:port */
  redis: string;
  /** the flag that gave it (named in errors) */
  flag?: string;
  /** told once the flow is in the queue */
  onEnqueued?: (info: { parent: string; children: number; storeRoot: string }) => void;
  /** how often the run checks that its jobs still exist (run-flow's LOOK_EVERY_MS by default) */
  lookEveryMs?: number;
  /** the flow's report when the run fails after its members ran (every member failed): who tried each, how often, with what error */
  onFailedReport?: (report: RunReport) => void;
  /** jobs waiting with nobody to take them, and when that ends (run-flow's `onNotice`) */
  onNotice?: (message: string, resolved: boolean) => void;
  /** how often that is checked (run-flow's WATCH_EVERY_MS by default) */
  watchEveryMs?: number;
}

/** What run-flow needs to say that nobody takes the jobs. */
function watching(target: QueueTarget) {
  return { onNotice: target.onNotice, watchEveryMs: target.watchEveryMs, workerCommand: `digits worker --redis ${shellArg(redactRedisUrl(target.redis))}` };
}

async function storeRootOf(dir: string, data: string, extra?: string): Promise<string> {
  const datasetDir = await resolveDatasetDir(data);
  return commonRoot([path.dirname(path.resolve(dir)), datasetDir, ...(extra ? [extra] : [])]);
}

/**
 * Refuses to enqueue again the members (or trials) of `dir` that are still on the queue: the
 * workers go on with what they hold after the command that enqueued it stops, and a resume
 * enqueued them a second time, so two workers trained one member into one folder at once
 * (session 49's probe). Jobs waiting, delayed or running count; finished and failed ones do not.
 */
async function assertNothingPending(connection: Awaited<ReturnType<typeof connectRedis>>, dir: string, target: QueueTarget, what: 'run' | 'search'): Promise<void> {
  const members = new Queue<MemberJobData>(MEMBERS_QUEUE, { connection });
  try {
    const pending: string[] = [];
    for (const { job, state } of await pendingMemberJobs(members)) {
      const data = job.data;
      if (!data?.job?.outDir || typeof data.storeRoot !== 'string') continue;
      if (path.dirname(fromStoreRef(data.storeRoot, data.job.outDir)) === dir) pending.push(`${data.member} (${state === 'active' ? 'being trained' : state})`);
    }
    if (pending.length === 0) return;
    const flag = target.flag ?? 'queue';
    throw new UserError(`${pending.length === 1 ? 'a job' : `${pending.length} jobs`} of ${what} ${path.basename(dir)} ${pending.length === 1 ? 'is' : 'are'} still on the queue: ${pending.slice(0, 4).join(', ')}${pending.length > 4 ? `, and ${pending.length - 4} more` : ''}`, {
      where: { flag },
      hint: `Workers go on with the jobs they hold after the command that enqueued them stops, and enqueuing them again would train each twice into one folder: wait until \`digits queue status --redis ${shellArg(redactRedisUrl(target.redis))}\` shows none of them waiting or running, then continue.`,
    });
  } finally {
    await members.close();
  }
}

export async function trainOnQueue(options: TrainEnsembleOptions, target: QueueTarget): Promise<{ manifest: RunManifest; report: RunReport | null }> {
  const connection = await connectRedis(target.redis, target.flag ?? 'queue');
  const dir = path.resolve(options.runDir);
  if (options.resume) await assertNothingPending(connection, dir, target, 'run');
  const storeRoot = await storeRootOf(dir, options.data, options.extra);
  // (the password hidden: the user types theirs, or the environment's DIGITS_QUEUE gives it)
  const resumeCommand = `digits train --resume --run ${shellArg(displayPath(dir))} --queue ${shellArg(redactRedisUrl(target.redis))}`;
  const queue = await openQueueRun({ connection, kind: 'ensemble', dir, run: path.basename(dir), storeRoot, lookEveryMs: target.lookEveryMs, resumeCommand, ...watching(target), onEnqueued: (info) => target.onEnqueued?.({ ...info, storeRoot }) });
  try {
    let manifest: RunManifest;
    try {
      manifest = await trainEnsemble({ ...options, runJobs: queue.runJobs, resumeCommand });
    } catch (error) {
      // Every member failed (or the run failed after enqueuing): the report still says who tried each member and why it failed.
      const report = await Promise.race([queue.finish(), new Promise<null>((resolve) => setTimeout(() => resolve(null), 10_000).unref())]).catch(() => null);
      if (report) target.onFailedReport?.(report);
      throw error;
    }
    return { manifest, report: await queue.finish() };
  } finally {
    await queue.close();
  }
}

export async function searchOnQueue(options: SearchOptions, target: QueueTarget): Promise<SearchResult & { report: RunReport | null }> {
  const connection = await connectRedis(target.redis, target.flag ?? 'queue');
  const dir = path.resolve(options.out);
  await assertNothingPending(connection, dir, target, 'search');
  const storeRoot = await storeRootOf(dir, options.data);
  const queue = await openQueueRun({ connection, kind: 'search', dir, run: path.basename(dir), storeRoot, lookEveryMs: target.lookEveryMs, ...watching(target), onEnqueued: (info) => target.onEnqueued?.({ ...info, storeRoot }) });
  try {
    const result = await runSearch({ ...options, runJobs: queue.runJobs });
    return { ...result, report: await queue.finish() };
  } finally {
    await queue.close();
  }
}
