/**
 * Real concurrency on CPU: tfjs-backend-wasm is single-threaded under Node (tfjs issue
 * 3830), so independent work (ensemble members, benchmark workers) runs in
 * `worker_threads`, each with its own tfjs engine and backend, limited by p-limit
 * (default: the number of cores).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import os from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import pLimit from 'p-limit';

/** What a job's worker posts back: progress events, then one result or one error. */
export type WorkerMessage =
  | { type: 'event'; event: unknown }
  | { type: 'result'; value: unknown }
  | { type: 'error'; error: string; unrecoverable?: boolean };

/**
 * The file of a worker entry that sits beside `importMetaUrl`: the `.ts` source when running
 * from sources (tests, bin/dev.js), the built `.js` otherwise.
 */
export function workerEntry(importMetaUrl: string, name: string): string {
  const fromSource = fileURLToPath(importMetaUrl).endsWith('.ts');
  return fileURLToPath(new URL(`./${name}${fromSource ? '.ts' : '.js'}`, importMetaUrl));
}

export interface ParallelOptions {
  /** at most this many workers at once (default: cores) */
  concurrency?: number;
  /** progress events a job posts while it runs */
  onEvent?: (jobIndex: number, event: unknown) => void;
  /** the job as it starts, from the job as queued (a training re-planned from the speed of the jobs before it); called when a worker takes it */
  prepare?: (jobIndex: number, job: unknown) => unknown | Promise<unknown>;
}

/** `unrecoverable`: the job's own input is wrong (a bad config), so running it again cannot help. */
export type JobOutcome<T> = { ok: true; value: T } | { ok: false; error: string; unrecoverable?: boolean };

/**
 * A worker thread running `file` (absolute path of a module of this package). Running from
 * TypeScript sources (tests, bin/dev.js), the worker registers tsx's loader before importing
 * its entry (`--import` in a worker's execArgv is not honoured). tsx is located from here: an
 * eval worker resolves bare names from the current folder, which may be anywhere.
 */
export function startWorker(file: string, workerData: unknown): Worker {
  if (!file.endsWith('.ts')) return new Worker(file, { workerData });
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api')).href;
  return new Worker(`import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(pathToFileURL(file).href)}); });`, { eval: true, workerData });
}

/**
 * A child process running `file` (absolute path of a module of this package), with an IPC
 * channel that carries typed arrays (`serialization: 'advanced'`, structured clone). Its
 * stdin and stdout are closed; stderr is a pipe for the caller to read (why it stopped).
 * Running from TypeScript sources, the child registers tsx's loader with `--import` (located
 * from here, as in `startWorker`). Unlike a worker thread's, a process's memory all goes back
 * to the system when it exits (decode-pool.ts says why that matters).
 */
export function startProcess(file: string, args: string[] = []): ChildProcess {
  const execArgv = file.endsWith('.ts') ? ['--import', pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href] : [];
  return fork(file, args, { execArgv, serialization: 'advanced', stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
}

/**
 * Runs one job on `worker`, a worker thread whose entry answers each `{ job }` message with
 * events, then one result or one error; resolves with that outcome. The worker stays alive
 * for the next job unless it died.
 */
function runOn<T>(worker: Worker, job: unknown, onEvent?: (event: unknown) => void): Promise<JobOutcome<T>> {
  return new Promise((resolve) => {
    const settle = (outcome: JobOutcome<T>) => {
      worker.off('message', onMessage).off('error', onError).off('exit', onExit);
      resolve(outcome);
    };
    const onMessage = (message: WorkerMessage) => {
      if (message.type === 'event') onEvent?.(message.event);
      else if (message.type === 'result') settle({ ok: true, value: message.value as T });
      else settle({ ok: false, error: message.error, ...(message.unrecoverable ? { unrecoverable: true } : {}) });
    };
    const onError = (error: Error) => settle({ ok: false, error: error.stack ?? error.message });
    const onExit = (code: number) => settle({ ok: false, error: `worker exited with code ${code} before reporting a result` });
    worker.on('message', onMessage).on('error', onError).on('exit', onExit);
    worker.postMessage({ job });
  });
}

/** How long a worker with no job waits for the next one (auto's range tests, then its probes, then the members) before it is ended. */
const IDLE_MS = 1000;

/** Workers between jobs, by entry file: unreferenced, so they never keep the process alive. */
const idleWorkers = new Map<string, Array<{ worker: Worker; timer: NodeJS.Timeout }>>();

function takeIdle(file: string): Worker | undefined {
  const list = idleWorkers.get(file);
  while (list?.length) {
    const { worker, timer } = list.pop()!;
    clearTimeout(timer);
    // (threadId is −1 once a worker has stopped: one that died while idle is handed no job)
    if (worker.threadId === -1) continue;
    worker.ref();
    return worker;
  }
  return undefined;
}

function leaveIdle(file: string, worker: Worker): void {
  worker.unref();
  const list = idleWorkers.get(file) ?? [];
  const entry = {
    worker,
    timer: setTimeout(() => {
      list.splice(list.indexOf(entry), 1);
      void worker.terminate();
    }, IDLE_MS).unref(),
  };
  list.push(entry);
  idleWorkers.set(file, list);
}

/**
 * Runs jobs in worker threads of `file`, at most `concurrency` at once. One failing job is
 * reported in its outcome and does not stop the others.
 *
 * A worker that finished a job takes the next one, of this call or, within a second, of the
 * next: starting a worker (its module graph, its engine: wasm, ONNX Runtime) costs 0.5 s from
 * the built files and 1 s from sources, about as much as one of auto's short probes trains. A
 * worker whose job failed is ended and a fresh one takes the next job, so nothing a failure
 * left behind reaches another job.
 */
export async function runJobsInParallel<T>(file: string, jobs: readonly unknown[], options: ParallelOptions = {}): Promise<JobOutcome<T>[]> {
  const limit = pLimit(Math.max(1, options.concurrency ?? os.availableParallelism()));
  return Promise.all(
    jobs.map((job, i) =>
      limit(async () => {
        const prepared = options.prepare ? await options.prepare(i, job) : job;
        const worker = takeIdle(file) ?? startWorker(file, null);
        const outcome = await runOn<T>(worker, prepared, (event) => options.onEvent?.(i, event));
        if (outcome.ok) leaveIdle(file, worker);
        else void worker.terminate();
        return outcome;
      }),
    ),
  );
}
