/**
 * What the queue's two sides agree on: the queue names, the job data of members and trials
 * (the worker-thread job of local training, with its paths made relative to the store), and
 * how to reach Redis. BullMQ and ioredis are loaded by whoever imports this folder, and only
 * `--queue`, `digits worker` and `digits queue status` import it (dynamic imports in the
 * commands), so nothing else needs Redis or loads its client.
 */
import os from 'node:os';
import path from 'node:path';
import { Redis, type RedisOptions } from 'ioredis';
import { UserError } from '../../errors.js';
import { redactRedisUrl, redisUrlHint } from './redis-url.js';
import { PACKAGE_ROOT } from '../../model/shipped.js';
import type { WorkerJob } from '../../training/worker-protocol.js';
import type { TrainResult } from '../../training/train-member.js';

/** Members and trials: one job trains one member (the same worker-thread job as local training). */
export const MEMBERS_QUEUE = 'digits-members';
/** Ensembles and searches: the parent of their members' or trials' jobs; its result is the report. */
export const RUNS_QUEUE = 'digits-runs';
/** A BullMQ flow's `parent.queue`: the prefix and the queue name. */
export const qualifiedName = (queue: string) => `bull:${queue}`;

export type TrainMemberJob = Extract<WorkerJob, { kind: 'train-member' }>;

export interface MemberJobData {
  format: 'digits-queue-member';
  version: 1;
  /** an ensemble member or a search trial */
  kind: 'member' | 'trial';
  /** the ensemble run or search folder's name */
  run: string;
  member: string;
  /** the folder every path of `job` is relative to, as the enqueuing machine sees it (a worker's --store maps it) */
  storeRoot: string;
  /** the worker-thread job, its paths stored by `toStoreRef` */
  job: TrainMemberJob;
  /** times a worker that could not see the job's files gave it back (each was started, not attempted) */
  givenBack?: number;
}

/** Which attempt a member job is on: its starts, less those a worker gave back unstarted (BullMQ counts both). */
export function attemptOf(job: { attemptsStarted: number; data?: Partial<MemberJobData> }): number {
  return Math.max(0, job.attemptsStarted - (job.data?.givenBack ?? 0));
}

export interface RunJobData {
  format: 'digits-queue-run';
  version: 1;
  kind: 'ensemble' | 'search';
  run: string;
  dir: string;
  /** false while a search may still add trials; the report is made once it is true and no child is pending */
  closed: boolean;
  /**
   * Made with a lease (`leaseKey`): a Redis key with a time to live that the search's process
   * sets again every `RUN_LEASE_RENEW_MS` while it lives. A process that dies (Ctrl-C, SIGKILL,
   * a lost machine) stops doing so; once the key has expired the parent is reported as it
   * stands, `abandoned`, instead of staying open for ever. The key's time runs on the Redis
   * server, so the clocks of the search's and the workers' machines do not matter. A parent made
   * before leases (no `leased`) stays open until its search closes it, as then.
   */
  leased?: boolean;
}

/** How long an open search's parent waits for a sign of life from its process (a laptop's lid closed a while is not death). */
export const RUN_LEASE_MS = 10 * 60_000;
/** How often the search's process renews it. */
export const RUN_LEASE_RENEW_MS = 30_000;

/** The Redis key whose existence is a search parent's lease. */
export const leaseKey = (parentId: string) => `digits:lease:${parentId}`;

/** What a member job returns: the training result, and who trained it from which epoch. */
export interface MemberJobResult {
  result: TrainResult;
  worker: string;
  /** the epoch it started from (> 0: resumed from the member's last checkpoint) */
  resumedAt: number;
  /** times the job was started (retries and stall take-overs included) */
  attempt: number;
}

/** The parent's result: every child's outcome, failures with their error. */
export interface RunReport {
  kind: RunJobData['kind'];
  run: string;
  dir: string;
  /** `epochs`: how many the member has after its job (resumed ones count their earlier epochs) */
  members: Array<{ member: string; ok: boolean; worker?: string; resumedAt?: number; epochs?: number; attempts: number; error?: string }>;
  /** the search that enqueued it stopped (its process died) before closing it: the report is of the trials it had enqueued */
  abandoned?: boolean;
}

/** Retries of a member job (exponential backoff from `BACKOFF_MS`): a crash or a full disk may pass. */
export const ATTEMPTS = 3;
export const BACKOFF_MS = 2000;

/**
 * A path of a job as the store sees it: `store:<relative>` under the store root, `package:<relative>`
 * inside digits itself (shipped checkpoints, which every worker has), or absolute.
 */
export function toStoreRef(storeRoot: string, file: string): string {
  const inPackage = path.relative(PACKAGE_ROOT, file);
  if (!inPackage.startsWith('..') && !path.isAbsolute(inPackage)) return `package:${inPackage}`;
  const inStore = path.relative(storeRoot, file);
  if (!inStore.startsWith('..') && !path.isAbsolute(inStore)) return `store:${inStore}`;
  return file;
}

export function fromStoreRef(storeRoot: string, ref: string): string {
  if (ref.startsWith('package:')) return path.join(PACKAGE_ROOT, ref.slice('package:'.length));
  if (ref.startsWith('store:')) return path.join(storeRoot, ref.slice('store:'.length));
  return ref;
}

/** The deepest folder holding every one of `files`: the store root of a run. */
export function commonRoot(files: readonly string[]): string {
  let root = path.resolve(files[0]!);
  for (const file of files.slice(1)) {
    while (path.relative(root, path.resolve(file)).startsWith('..')) root = path.dirname(root);
  }
  return root;
}

/** The job with each of its paths (dataset, output, corrections, init checkpoint) mapped by `map`. */
function mapJobPaths(job: TrainMemberJob, map: (file: string) => string): TrainMemberJob {
  return {
    ...job,
    datasetDir: map(job.datasetDir),
    outDir: map(job.outDir),
    extra: job.extra ? map(job.extra) : undefined,
    member: { ...job.member, init: job.member.init ? map(job.member.init) : undefined },
  };
}

/** The job as it travels: paths relative to the store root. */
export function storeJob(job: TrainMemberJob, storeRoot: string): TrainMemberJob {
  return mapJobPaths(job, (file) => toStoreRef(storeRoot, file));
}

/** The job as a worker runs it: paths under its own view of the store root. */
export function loadStoredJob(job: TrainMemberJob, storeRoot: string): TrainMemberJob {
  return mapJobPaths(job, (ref) => fromStoreRef(storeRoot, ref));
}

/** This process as a queue client: host and pid, so `queue status` says who runs what. */
export function clientName(role: 'worker' | 'client'): string {
  return `${role}:${os.hostname()}:${process.pid}`;
}

/**
 * The connection options of the Redis at `url`, for BullMQ, which opens (and closes) one
 * connection per object; `maxRetriesPerRequest: null` is what its workers require. The URL is
 * checked and the server pinged first, so a wrong URL is an error naming the flag, not a
 * process that waits for ever.
 */
export async function connectRedis(url: string, flag: string): Promise<RedisOptions> {
  let options: RedisOptions;
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') throw new Error(`protocol ${parsed.protocol}`);
    options = {
      // (an IPv6 address comes bracketed, redis://[::1]:6379, which the resolver does not take)
      host: parsed.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1',
      port: parsed.port ? Number(parsed.port) : 6379,
      username: parsed.username ? decodeURIComponent(parsed.username) : undefined,
      password: parsed.password ? decodeURIComponent(parsed.password) : undefined,
      db: parsed.pathname.length > 1 ? Number(parsed.pathname.slice(1)) : 0,
      tls: parsed.protocol === 'rediss:' ? {} : undefined,
    };
    if (!Number.isInteger(options.db)) throw new Error(`database ${parsed.pathname.slice(1)}`);
  } catch (error) {
    throw new UserError(`--${flag} ${redactRedisUrl(url)} is not a Redis URL (${(error as Error).message.replace(url, redactRedisUrl(url))})`, { where: { flag }, hint: redisUrlHint(url) ?? 'For example redis://127.0.0.1:6379 (or rediss://user:password@host:port/0 with TLS).' });
  }
  // The probe selects the database itself: ioredis's own SELECT on connect fails without a word
  // (a database the server does not have left every job in database 0).
  const probe = new Redis({ ...options, db: 0, lazyConnect: true, connectTimeout: 5000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  let cause: Error | null = null;
  probe.on('error', (error: Error) => (cause ??= error));
  try {
    await probe.connect();
    await probe.ping();
  } catch (error) {
    const message = (cause ?? (error as Error)).message;
    const credentials = /WRONGPASS|NOAUTH|NOPERM|invalid password|invalid username/i.test(message);
    probe.disconnect();
    throw new UserError(`cannot reach Redis at ${redactRedisUrl(url)}: ${message}`, {
      where: { flag },
      // (a TLS URL to a plain server times out on the handshake: it was told to start a server, session 49)
      hint: credentials
        ? 'The server answered but refused the credentials: check the user and password in the URL (redis://user:password@host:port).'
        : options.tls && /ETIMEDOUT|ECONNRESET|EPROTO|wrong version number|socket hang up|Connection is closed/i.test(message)
          ? `rediss:// asks for TLS: check that the server at ${options.host}:${options.port} speaks TLS there (a plain Redis takes redis://), or start one.`
          : 'Start one (`redis-server`, Debian package redis-server) or pass the URL of a running one.',
    });
  }
  try {
    if (options.db) await probe.select(options.db);
  } catch (error) {
    throw new UserError(`Redis at ${redactRedisUrl(url)} has no database ${options.db}: ${(error as Error).message}`, {
      where: { flag },
      hint: 'Use a database the server has (0 unless its `databases` setting allows more), for example redis://host:6379/0.',
    });
  } finally {
    probe.disconnect();
  }
  return { ...options, maxRetriesPerRequest: null };
}
