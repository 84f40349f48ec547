/**
 * Members on ONNX Runtime in worker threads, so inference never blocks the HTTP event loop.
 *
 * onnxruntime-node's `InferenceSession.run` is one synchronous native call (wrapped in a
 * `setImmediate`, node_modules/onnxruntime-node/lib/backend.ts): while a batch computes on the
 * server's thread, no request is read, parsed or answered, and the batch uses one core unless
 * the session has intra-op threads. Here every worker hosts a session of every member
 * (`createPredictor`, 1 intra-op thread by default), and each member call goes to the next
 * free worker: the batcher's member calls run side by side on separate cores while the event
 * loop keeps reading requests.
 *
 * Calls wait in one queue and go to a worker only when it is idle, so a slow call never holds
 * up a faster worker. Images are copied once and the copy's buffer is transferred; the worker
 * transfers the probabilities back. A worker that dies rejects the calls it held (with the
 * member and the reason) and is replaced; a replacement that cannot load its members is not
 * retried, and with no worker left every call fails saying why. Workers are never terminated
 * from outside (mid-run that aborts the process, see inference-worker.ts): asked to close,
 * they end themselves between runs.
 */
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Worker } from 'node:worker_threads';
import { startWorker } from '../engine/parallel.js';
import { UnsupportedLayerError, exportCheckpointToOnnx } from '../onnx/export.js';
import { EXISTING_EXPORT_NOTE, EXPORTED_NOW_NOTE, type Precision, type Predictor } from '../inference/predictor.js';
import { deserializeError, type FromWorker, type InferenceWorkerData, type LoadedMember, type ToWorker } from './inference-protocol.js';

const here = fileURLToPath(import.meta.url);
const workerFile = fileURLToPath(new URL(here.endsWith('.ts') ? './inference-worker.ts' : './inference-worker.js', import.meta.url));

export interface InferencePoolOptions {
  /** worker threads (default: cores) */
  workers?: number;
  /** ONNX Runtime number format (default 'auto') */
  precision?: Precision;
  /** ONNX Runtime intra-op threads per session in each worker (default 1: the workers are the parallelism) */
  threads?: number;
  /** whether idle intra-op threads spin-wait (default false: they would take cores from the other workers) */
  spin?: boolean;
  /** most images per engine call inside a worker (createPredictor's default when unset) */
  batchSize?: number;
  /**
   * A call of at least twice this many images is cut into pieces of at least this many, one
   * per worker at most, computed side by side (default 8; Infinity never cuts).
   */
  minPiece?: number;
  /**
   * 'onnx' (default): a member that does not export to ONNX is an error. 'auto': it is left
   * out (`predictors[i]` null, `unsupported[i]` says why) for the caller to run on tfjs.
   */
  infer?: 'auto' | 'onnx';
  /** told when a worker stops unexpectedly, and whether it was replaced */
  onWorkerExit?: (event: { worker: number; reason: string; replaced: boolean }) => void;
}

export interface WorkerStats {
  /** the worker's slot (a replacement takes the slot of the worker it replaces) */
  index: number;
  state: 'loading' | 'ready' | 'dead';
  inFlight: number;
  /** member calls answered, by this slot's workers so far */
  calls: number;
  /** ms spent computing those calls inside the workers */
  busyMs: number;
}

export interface PoolStats {
  workers: WorkerStats[];
  /** calls waiting for a free worker */
  queued: number;
  /** workers replaced after they stopped */
  restarts: number;
}

interface Call {
  id: number;
  member: number;
  images: Float32Array;
  count: number;
  resolve: (probs: Float32Array) => void;
  reject: (error: unknown) => void;
}

interface Slot {
  index: number;
  worker: Worker;
  state: 'loading' | 'ready' | 'closing' | 'dead';
  inFlight: Map<number, Call>;
  /** settles when the worker reports its members loaded (or fails to) */
  loaded: Promise<LoadedMember[]>;
  /** the last error event, to explain the exit that follows it */
  error?: string;
  /** settles when the thread has ended */
  ended: Promise<void>;
}

/** Calls a worker holds at once: one, so queued calls go to whichever worker frees up first. */
const DEPTH = 1;

export class InferencePool {
  /** per checkpoint (in the order given): its predictor, or null when it was left out ('auto' and no ONNX export) */
  readonly predictors: Array<Predictor | null>;
  /** per checkpoint: why it was left out, or null */
  readonly unsupported: Array<string | null>;
  /** worker threads (0 when every member was left out) */
  readonly size: number;
  private readonly slots: Slot[] = [];
  private readonly queue: Call[] = [];
  private readonly calls: number[];
  private readonly busyMs: number[];
  private readonly released = new Set<number>();
  private nextId = 1;
  private restarts = 0;
  private disposed = false;
  private broken: string | null = null;
  /** pixels of one image, per pooled member */
  private pixels: number[] = [];
  /** where the next tie between idle workers is broken, so calls spread evenly */
  private turn = 0;
  /** the checkpoints the workers load (those not left out) */
  private readonly pooled: string[];
  /** fewest rows in each piece when a call is cut over the workers */
  private readonly minPiece: number;

  /** @internal use `createInferencePool` */
  constructor(
    checkpoints: string[],
    unsupported: Array<string | null>,
    /** per checkpoint: its ONNX export was made (or remade) by `createInferencePool` just now */
    private readonly exportedNow: boolean[],
    private readonly data: InferenceWorkerData,
    workers: number,
    private readonly options: InferencePoolOptions,
  ) {
    this.unsupported = unsupported;
    this.pooled = checkpoints.filter((_, i) => !unsupported[i]);
    this.predictors = checkpoints.map(() => null);
    this.size = this.pooled.length === 0 ? 0 : workers;
    this.minPiece = Math.max(1, options.minPiece ?? 8);
    this.calls = new Array<number>(this.size).fill(0);
    this.busyMs = new Array<number>(this.size).fill(0);
  }

  /** ONNX Runtime intra-op threads per session, in each worker */
  get threadsPerSession(): number {
    return this.data.options.threads;
  }

  /** Starts every worker and waits until each has loaded every member; @internal */
  async start(): Promise<void> {
    if (this.pooled.length === 0) return;
    for (let i = 0; i < this.size; i++) this.slots.push(this.spawn(i));
    let loaded: LoadedMember[][];
    try {
      loaded = await Promise.all(this.slots.map((s) => s.loaded));
    } catch (error) {
      await this.dispose();
      throw error;
    }
    const first = loaded[0]!;
    this.pixels = first.map((m) => m.imageSize ** 2);
    const workers = `${this.size} inference worker${this.size === 1 ? '' : 's'}`;
    let p = 0;
    this.unsupported.forEach((left, i) => {
      if (left) return;
      const member = first[p]!;
      // (the workers found the export this process made a moment ago: to the user it is new)
      const reason = this.exportedNow[i] ? member.reason.replace(EXISTING_EXPORT_NOTE, EXPORTED_NOW_NOTE) : member.reason;
      this.predictors[i] = new PooledPredictor(this, p, member.imageSize, member.precision, `${reason}; in each of ${workers}`);
      p++;
    });
  }

  /** Class probabilities of `count` images from pooled member `member` (an index into the pooled members). */
  async run(member: number, images: Float32Array, count: number): Promise<Float32Array> {
    if (this.disposed) throw new Error('the inference pool was disposed');
    if (this.broken) throw new Error(`no inference worker is left: ${this.broken}`);
    if (!Number.isInteger(count) || count < 0) throw new Error(`count must be a non-negative integer, got ${count}`);
    const px = this.pixels[member]!;
    if (images.length < count * px) throw new Error(`${count} images of ${px} pixels need ${count * px} values, got ${images.length}`);
    if (count === 0) return new Float32Array(0);
    // Large calls are cut into one piece per worker, so one member's rows do not wait on a
    // single core while another worker idles (5 members on 2 workers would split 3/2).
    const pieces = Math.max(1, Math.min(this.size, Math.floor(count / this.minPiece)));
    if (pieces === 1) return this.send(member, images.slice(0, count * px), count);
    const starts = Array.from({ length: pieces + 1 }, (_, k) => Math.round((k * count) / pieces));
    const parts = await Promise.all(starts.slice(0, -1).map((from, k) => this.send(member, images.slice(from * px, starts[k + 1]! * px), starts[k + 1]! - from)));
    const out = new Float32Array(parts.reduce((sum, part) => sum + part.length, 0));
    let at = 0;
    for (const part of parts) {
      out.set(part, at);
      at += part.length;
    }
    return out;
  }

  /** Queues one call; `images` is a copy the worker will own (its buffer is transferred, not cloned). */
  private send(member: number, images: Float32Array, count: number): Promise<Float32Array> {
    return new Promise<Float32Array>((resolve, reject) => {
      this.queue.push({ id: this.nextId++, member, images, count, resolve, reject });
      this.pump();
    });
  }

  stats(): PoolStats {
    return {
      workers: this.slots.map((s) => ({ index: s.index, state: s.state === 'closing' ? 'dead' : s.state, inFlight: s.inFlight.size, calls: this.calls[s.index]!, busyMs: this.busyMs[s.index]! })),
      queued: this.queue.length,
      restarts: this.restarts,
    };
  }

  /**
   * A test hook (and fire drill): worker `index` exits with `code` when its next call reaches
   * it, as if it had crashed there; that call is rejected and the worker replaced. (Terminating
   * a worker from outside is no way to test this: during a native ONNX Runtime run it aborts
   * the whole process, see inference-worker.ts.)
   */
  crashWorkerOnNextCall(index: number, code = 70): void {
    const slot = this.slots[index];
    if (!slot || slot.state === 'dead' || slot.state === 'closing') throw new Error(`there is no running inference worker ${index}`);
    const message: ToWorker = { type: 'crash-on-next-call', code };
    slot.worker.postMessage(message);
  }

  /** Marks one member's predictor disposed; the workers stop when every member's is. @internal */
  release(member: number): void {
    this.released.add(member);
    if (this.released.size === this.pooled.length) void this.dispose();
  }

  /**
   * Stops every worker: waiting and in-flight calls are rejected at once, and each worker ends
   * itself after the run under way (never terminated mid-run). Resolves when all have ended.
   */
  async dispose(): Promise<void> {
    if (!this.disposed) {
      this.disposed = true;
      const error = new Error('the inference pool was disposed');
      for (const call of this.queue.splice(0)) call.reject(error);
      for (const slot of this.slots) {
        for (const call of slot.inFlight.values()) call.reject(error);
        slot.inFlight.clear();
        if (slot.state === 'dead') continue;
        slot.state = 'closing';
        const message: ToWorker = { type: 'close' };
        slot.worker.postMessage(message);
        // It finishes its run and loads (if still loading) first: keep the process alive till then.
        slot.worker.ref();
      }
    }
    await Promise.all(this.slots.map((slot) => slot.ended));
  }

  private spawn(index: number): Slot {
    const worker = startWorker(workerFile, this.data);
    let onLoaded!: (members: LoadedMember[]) => void;
    let onFailed!: (error: Error) => void;
    const loaded = new Promise<LoadedMember[]>((resolve, reject) => {
      onLoaded = resolve;
      onFailed = reject;
    });
    // Startup waits on `loaded`; a replacement's failure is handled in exited(), not here.
    loaded.catch(() => undefined);
    const ended = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    const slot: Slot = { index, worker, state: 'loading', inFlight: new Map(), loaded, ended };
    worker.on('message', (message: FromWorker) => {
      // A closing or replaced worker answers nothing more (its calls were rejected).
      if (this.slots[index] !== slot || (slot.state !== 'loading' && slot.state !== 'ready')) return;
      switch (message.type) {
        case 'loaded':
          slot.state = 'ready';
          onLoaded(message.members);
          this.updateRef(slot);
          this.pump();
          break;
        case 'load-error':
          // (the worker ends itself after saying so)
          onFailed(deserializeError(message.error));
          slot.error = message.error.message;
          break;
        case 'result':
        case 'error': {
          const call = slot.inFlight.get(message.id);
          if (!call) return;
          slot.inFlight.delete(message.id);
          if (message.type === 'result') {
            this.calls[index]!++;
            this.busyMs[index]! += message.ms;
            call.resolve(message.probs);
          } else {
            call.reject(deserializeError(message.error));
          }
          this.updateRef(slot);
          this.pump();
          break;
        }
      }
    });
    worker.on('error', (error) => {
      slot.error = error.stack ?? error.message;
    });
    worker.on('exit', (code) => {
      const reason = slot.error ? `it failed: ${slot.error.split('\n')[0]}` : `it exited with code ${code}`;
      onFailed(new Error(`an inference worker stopped while loading the members: ${reason}`));
      this.exited(slot, reason);
    });
    return slot;
  }

  /** A worker stopped: reject what it held, and replace it unless it never got ready. */
  private exited(slot: Slot, reason: string): void {
    if (this.disposed || this.slots[slot.index] !== slot || slot.state === 'dead') return;
    const wasReady = slot.state === 'ready';
    slot.state = 'dead';
    for (const call of slot.inFlight.values()) {
      call.reject(new Error(`inference worker ${slot.index} stopped (${reason}) while running member ${this.pooled[call.member]}; the call was not answered`));
    }
    slot.inFlight.clear();
    // A worker that never got ready would likely fail again: it is not replaced.
    const replaced = wasReady;
    if (replaced) {
      this.restarts++;
      this.slots[slot.index] = this.spawn(slot.index);
    }
    this.options.onWorkerExit?.({ worker: slot.index, reason, replaced });
    if (!this.slots.some((s) => s.state === 'ready' || s.state === 'loading')) {
      // Nothing left to answer: fail what waits, and everything after.
      this.broken = reason;
      const error = new Error(`no inference worker is left: ${reason}`);
      for (const call of this.queue.splice(0)) call.reject(error);
    }
  }

  /** Sends waiting calls to idle workers, the least loaded first. */
  private pump(): void {
    while (this.queue.length > 0) {
      let best: Slot | null = null;
      for (let k = 0; k < this.slots.length; k++) {
        const slot = this.slots[(this.turn + k) % this.slots.length]!;
        if (slot.state !== 'ready' || slot.inFlight.size >= DEPTH) continue;
        if (!best || slot.inFlight.size < best.inFlight.size) best = slot;
      }
      if (!best) return;
      this.turn = (best.index + 1) % this.slots.length;
      const call = this.queue.shift()!;
      best.inFlight.set(call.id, call);
      const message: ToWorker = { type: 'predict', id: call.id, member: call.member, images: call.images, count: call.count };
      best.worker.postMessage(message, [call.images.buffer as ArrayBuffer]);
      this.updateRef(best);
    }
  }

  /** A worker keeps the process alive only while it loads or computes, so a forgotten pool cannot hang a command. */
  private updateRef(slot: Slot): void {
    if (slot.state === 'loading' || slot.inFlight.size > 0) slot.worker.ref();
    else slot.worker.unref();
  }
}

class PooledPredictor implements Predictor {
  readonly kind = 'onnx' as const;
  private disposed = false;

  constructor(
    private readonly pool: InferencePool,
    private readonly member: number,
    readonly imageSize: number,
    readonly precision: 'fp32' | 'int8',
    readonly reason: string,
  ) {}

  predict(images: Float32Array, count: number): Promise<Float32Array> {
    if (this.disposed) return Promise.reject(new Error('predict on a disposed pooled predictor'));
    return this.pool.run(this.member, images, count);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.pool.release(this.member);
  }
}

function isWriteRefused(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return code === 'EACCES' || code === 'EPERM' || code === 'EROFS';
}

/**
 * Starts the workers, each loading every member of `checkpoints` on ONNX Runtime, and
 * resolves once all have (with a warm-up run each). A member that cannot be loaded fails
 * the start with the error `createPredictor` throws (a UserError for the user's mistakes).
 *
 * The ONNX exports are made here first, on this thread, so the workers find them up to date
 * instead of racing to write the same files.
 */
export async function createInferencePool(checkpoints: string[], options: InferencePoolOptions = {}): Promise<InferencePool> {
  const size = Math.max(1, Math.floor(options.workers ?? os.availableParallelism()));
  const unsupported: Array<string | null> = [];
  const exportedNow: boolean[] = [];
  for (const checkpoint of checkpoints) {
    exportedNow.push(false);
    try {
      exportedNow[exportedNow.length - 1] = (await exportCheckpointToOnnx(checkpoint)).exported;
      unsupported.push(null);
    } catch (error) {
      if (error instanceof UnsupportedLayerError && options.infer === 'auto') unsupported.push(error.message);
      // A read-only checkpoint: each worker exports it in memory.
      else if (isWriteRefused(error)) unsupported.push(null);
      else throw error;
    }
  }
  const data: InferenceWorkerData = {
    checkpoints: checkpoints.filter((_, i) => !unsupported[i]),
    options: { precision: options.precision ?? 'auto', threads: Math.max(1, options.threads ?? 1), spin: options.spin ?? false, ...(options.batchSize ? { batchSize: options.batchSize } : {}) },
  };
  const pool = new InferencePool(checkpoints, unsupported, exportedNow, data, size, options);
  await pool.start();
  return pool;
}
