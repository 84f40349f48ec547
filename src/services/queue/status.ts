/**
 * `digits queue status`: how many member and run jobs wait, run, are done or failed, and
 * per worker (BullMQ names each connection after its worker) what it runs now.
 */
import { Queue } from 'bullmq';
import { MEMBERS_QUEUE, RUNS_QUEUE, attemptOf, connectRedis, type MemberJobData, type RunJobData } from './queues.js';
import { redactRedisUrl } from './redis-url.js';
import { resumeNote } from '../../training/resume-note.js';

export interface QueueCounts {
  queue: string;
  waiting: number;
  active: number;
  delayed: number;
  /** parents waiting for their children */
  waitingChildren: number;
  completed: number;
  failed: number;
}

export interface WorkerStatus {
  worker: string;
  /** connected to Redis now (false: a worker that died with jobs still marked active; they are taken over after the stall interval) */
  connected: boolean;
  /** the address Redis sees */
  addr: string | null;
  /** seconds connected */
  age: number | null;
  /** the member jobs it runs now */
  running: Array<{ job: string; run: string; member: string; kind: string; attempt: number; progress: string | null }>;
}

export interface QueueStatus {
  redis: string;
  queues: QueueCounts[];
  workers: WorkerStatus[];
}

const workerNameOf = (rawname: string) => rawname.slice(rawname.indexOf(':w:') + 3);

/** What a job's last progress event says, in a few words. */
function describeProgress(progress: unknown): string | null {
  const p = progress as { type?: string; epoch?: number; epochs?: number; batch?: number; batches?: number; resumedAt?: number } | null;
  if (!p || typeof p !== 'object' || !p.type) return null;
  if (p.type === 'epoch') return `epoch ${p.epoch! + 1}/${p.epochs} done`;
  if (p.type === 'batch') return `epoch ${p.epoch! + 1}, batch ${p.batch}/${p.batches}`;
  if (p.type === 'start') return p.resumedAt ? resumeNote(p.resumedAt, p.epochs) : 'started';
  return p.type;
}

export async function queueStatus(options: { redis: string }): Promise<QueueStatus> {
  const connection = await connectRedis(options.redis, 'redis');
  const members = new Queue<MemberJobData>(MEMBERS_QUEUE, { connection });
  const runs = new Queue<RunJobData>(RUNS_QUEUE, { connection });
  try {
    const queues: QueueCounts[] = [];
    for (const queue of [members, runs]) {
      const c = await queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'waiting-children', 'completed', 'failed');
      queues.push({ queue: queue.name, waiting: (c.waiting ?? 0) + (c.prioritized ?? 0), active: c.active ?? 0, delayed: c.delayed ?? 0, waitingChildren: c['waiting-children'] ?? 0, completed: c.completed ?? 0, failed: c.failed ?? 0 });
    }
    const workers = new Map<string, WorkerStatus>();
    for (const queue of [members, runs]) {
      for (const client of await queue.getWorkers()) {
        // CLIENT LIST is the whole server's: a worker on another database serves other queues.
        if (client.db !== undefined && Number(client.db) !== (connection.db ?? 0)) continue;
        const name = workerNameOf(client.rawname ?? '');
        if (!name || workers.has(name)) continue;
        workers.set(name, { worker: name, connected: true, addr: client.addr ?? null, age: client.age ? Number(client.age) : null, running: [] });
      }
    }
    for (const job of await members.getActive()) {
      const by = (job as { processedBy?: string }).processedBy;
      if (!by) continue;
      const entry = workers.get(by) ?? { worker: by, connected: false, addr: null, age: null, running: [] };
      workers.set(by, entry);
      const data = job.data as MemberJobData;
      entry.running.push({ job: job.id!, run: data.run, member: data.member, kind: data.kind, attempt: attemptOf(job), progress: describeProgress(job.progress) });
    }
    return { redis: redactRedisUrl(options.redis), queues, workers: [...workers.values()].sort((a, b) => a.worker.localeCompare(b.worker)) };
  } finally {
    await Promise.all([members.close(), runs.close()]);
  }
}
