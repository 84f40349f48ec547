/**
 * Dynamic batching: requests that arrive within `windowMs` of each other (or until
 * `maxBatch` images wait) run as one batch, one predictor call per member, and the
 * probabilities are split back per request.
 *
 * One batch runs at a time (or `concurrency`), its member calls all at once: with the
 * inference pool (inference-pool.ts) they spread over the worker threads while the event
 * loop reads the next requests; in process they run one after another. Requests that arrive
 * during a batch go out together in the next one, so under load batches grow by themselves
 * and the window only costs latency when the server is idle.
 *
 * Each request chooses TTA and a subset of members. Its rows (the image, or its 8 shifted
 * copies) are stacked once per batch; a member runs on the whole stack when every request
 * wants it, else on a copy of the rows of the requests that do.
 */
import { type Predictor } from '../inference/predictor.js';
import { TTA_8, shiftImages, type Shift } from '../ensemble/tta.js';

export interface NamedPredictor {
  name: string;
  predictor: Predictor;
  /** its weight in the soft vote (default 1; renormalised over the members a request picks) */
  weight?: number;
}

export interface BatchRequest {
  /** `count` raw images, side×side each, in [0,1] */
  images: Float32Array;
  count: number;
  /** test-time augmentation (the 8-way shift set) */
  tta: boolean;
  /** indices into the batcher's members (all when undefined) */
  members?: readonly number[];
  /**
   * Aborted when the client has gone away: while the request still waits for a batch it is
   * dropped (rejected with BatcherAbortedError) instead of being computed for nobody.
   */
  signal?: AbortSignal;
}

export interface BatchResult {
  /** soft vote over the chosen members (and TTA variants), count × classes */
  ensemble: Float32Array;
  /** per chosen member (in `memberIndices` order), count × classes */
  members: Float32Array[];
  memberIndices: number[];
  classes: number;
  /** ms between submit and the batch starting */
  waitMs: number;
  /** ms the batch's member calls took (shared by every request in it) */
  inferMs: number;
  /** images and requests in the batch this request ran in */
  batchImages: number;
  batchRequests: number;
}

export interface BatchStats {
  images: number;
  rows: number;
  requests: number;
  inferMs: number;
}

export interface BatcherOptions {
  /** most images in one batch (default 256) */
  maxBatch?: number;
  /** how long the first request of a batch waits for company (default 3 ms) */
  windowMs?: number;
  /** TTA shifts used when a request asks for TTA (default TTA_8) */
  tta?: readonly Shift[];
  /** called after every batch */
  onBatch?: (stats: BatchStats) => void;
  /**
   * Batches computing at once (default 1). More than one only helps when the members run
   * elsewhere (the inference pool): a batch can form and start while the last pieces of the
   * previous one still compute, instead of waiting for all of them.
   */
  concurrency?: number;
}

interface Pending extends BatchRequest {
  memberList: number[];
  enqueuedAt: number;
  resolve: (result: BatchResult) => void;
  reject: (error: unknown) => void;
  /** removes the abort listener (once the request leaves the queue) */
  forget: () => void;
}

export class BatcherClosedError extends Error {
  constructor() {
    super('the server is shutting down');
    this.name = 'BatcherClosedError';
  }
}

/** A queued request dropped before it ran: its client went away, or the server stopped waiting for it. */
export class BatcherAbortedError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'BatcherAbortedError';
  }
}

export class DynamicBatcher {
  readonly maxBatch: number;
  readonly windowMs: number;
  private readonly shifts: readonly Shift[];
  private readonly side: number;
  private queue: Pending[] = [];
  private queuedImages = 0;
  private timer: NodeJS.Timeout | null = null;
  /** batches computing at once */
  readonly concurrency: number;
  private readonly running = new Set<Promise<void>>();
  private closed = false;
  private hurrying = false;

  constructor(
    readonly members: readonly NamedPredictor[],
    private readonly options: BatcherOptions = {},
  ) {
    if (members.length === 0) throw new Error('a batcher needs at least one member');
    this.maxBatch = Math.max(1, options.maxBatch ?? 256);
    this.windowMs = Math.max(0, options.windowMs ?? 3);
    this.shifts = options.tta ?? TTA_8;
    this.concurrency = Math.max(1, options.concurrency ?? 1);
    this.side = members[0]!.predictor.imageSize;
  }

  /** Images waiting for a batch. */
  get queued(): number {
    return this.queuedImages;
  }

  submit(request: BatchRequest): Promise<BatchResult> {
    if (this.closed) return Promise.reject(new BatcherClosedError());
    const px = this.side * this.side;
    if (request.count < 1 || request.images.length < request.count * px) return Promise.reject(new Error(`a batch request needs ≥ 1 image of ${px} values`));
    const memberList = request.members ? [...request.members] : this.members.map((_, i) => i);
    if (memberList.length === 0 || memberList.some((i) => !this.members[i])) return Promise.reject(new Error('a batch request names no member, or one that does not exist'));
    const signal = request.signal;
    if (signal?.aborted) return Promise.reject(new BatcherAbortedError('the client went away before its request was computed'));
    return new Promise<BatchResult>((resolve, reject) => {
      const pending: Pending = { ...request, memberList, enqueuedAt: performance.now(), resolve, reject, forget: () => undefined };
      if (signal) {
        const onAbort = () => this.drop(pending, new BatcherAbortedError('the client went away before its request was computed'));
        signal.addEventListener('abort', onAbort, { once: true });
        pending.forget = () => signal.removeEventListener('abort', onAbort);
      }
      this.queue.push(pending);
      this.queuedImages += request.count;
      this.schedule();
    });
  }

  /** Removes a request that still waits for a batch (one already computing is left to finish). */
  private drop(pending: Pending, error: Error): void {
    const at = this.queue.indexOf(pending);
    if (at < 0) return;
    this.queue.splice(at, 1);
    this.queuedImages -= pending.count;
    pending.forget();
    pending.reject(error);
  }

  /**
   * Rejects every request still waiting for a batch (shutdown after the grace period: their
   * clients are cut, so computing them would only delay the exit). Batches already computing
   * finish; `close()` then waits for those only.
   */
  dropQueued(reason = 'the server stopped before this request was computed'): number {
    const dropped = this.queue.length;
    for (const pending of [...this.queue]) this.drop(pending, new BatcherAbortedError(reason));
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    return dropped;
  }

  /** From now on queued requests run at once instead of waiting out the window (shutdown). */
  hurry(): void {
    this.hurrying = true;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.schedule();
  }

  /** Stops taking requests; the queued ones run at once (those not dropped by `dropQueued`). Resolves when all have answered. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.running.size > 0 || this.queue.length > 0) {
      if (this.timer) {
        clearTimeout(this.timer);
        this.timer = null;
      }
      if (this.queue.length > 0 && !this.busy) this.startBatch();
      if (this.running.size > 0) await Promise.race(this.running);
      // (a turn of the event loop between batches, as in startBatch)
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** as many batches as allowed are computing */
  private get busy(): boolean {
    return this.running.size >= this.concurrency;
  }

  private schedule(): void {
    if (this.busy || this.queue.length === 0) return;
    if (this.queuedImages >= this.maxBatch || this.closed || this.hurrying) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      this.startBatch();
      return;
    }
    if (this.timer) return;
    // The window runs from the oldest waiting request (which may have waited through a batch).
    const waited = performance.now() - this.queue[0]!.enqueuedAt;
    this.timer = setTimeout(() => {
      this.timer = null;
      if (!this.busy && this.queue.length > 0) this.startBatch();
    }, Math.max(0, this.windowMs - waited));
  }

  private startBatch(): void {
    const batch: Pending[] = [];
    let images = 0;
    while (this.queue.length > 0 && (batch.length === 0 || images + this.queue[0]!.count <= this.maxBatch)) {
      const next = this.queue.shift()!;
      next.forget();
      batch.push(next);
      images += next.count;
    }
    this.queuedImages -= images;
    const run: Promise<void> = this.runBatch(batch, images)
      .catch((error: unknown) => {
        for (const job of batch) job.reject(error);
      })
      .finally(() => {
        this.running.delete(run);
        // The next batch starts on a later turn of the event loop, never straight from this
        // promise chain: a batch computed in process (tfjs, --workers 0) blocks the thread, and
        // back-to-back batches started from microtasks would let no request be read, no
        // /healthz answered and no timer fire until the whole backlog was done.
        setImmediate(() => this.schedule());
      });
    this.running.add(run);
  }

  private async runBatch(batch: Pending[], images: number): Promise<void> {
    const started = performance.now();
    const px = this.side * this.side;
    // Row layout: each request's rows in turn; a TTA request's rows are variant-major.
    const rowStart: number[] = [];
    const rowCount: number[] = [];
    let rows = 0;
    for (const job of batch) {
      rowStart.push(rows);
      const n = job.count * (job.tta ? this.shifts.length : 1);
      rowCount.push(n);
      rows += n;
    }
    let stack: Float32Array;
    if (batch.length === 1 && !batch[0]!.tta) {
      stack = batch[0]!.images.subarray(0, batch[0]!.count * px);
    } else {
      stack = new Float32Array(rows * px);
      batch.forEach((job, j) => {
        const at = rowStart[j]! * px;
        if (!job.tta) stack.set(job.images.subarray(0, job.count * px), at);
        else this.shifts.forEach((shift, t) => shiftImages(job.images, 0, job.count, this.side, shift, stack, at + t * job.count * px));
      });
    }
    // Each member once, on the rows of the requests that want it; all members at once, so
    // with an inference pool they run side by side on different workers.
    const calls: Array<Promise<void>> = [];
    const perMember = new Map<number, { probs: Float32Array; offsets: Map<number, number> }>();
    let classes = 0;
    for (let m = 0; m < this.members.length; m++) {
      const wanting = batch.map((job, j) => (job.memberList.includes(m) ? j : -1)).filter((j) => j >= 0);
      if (wanting.length === 0) continue;
      let input = stack;
      let inputRows = rows;
      const offsets = new Map<number, number>();
      if (wanting.length === batch.length) {
        batch.forEach((_, j) => offsets.set(j, rowStart[j]!));
      } else {
        inputRows = wanting.reduce((sum, j) => sum + rowCount[j]!, 0);
        input = new Float32Array(inputRows * px);
        let at = 0;
        for (const j of wanting) {
          input.set(stack.subarray(rowStart[j]! * px, (rowStart[j]! + rowCount[j]!) * px), at * px);
          offsets.set(j, at);
          at += rowCount[j]!;
        }
      }
      calls.push(
        this.members[m]!.predictor.predict(input, inputRows).then((probs) => {
          classes = probs.length / inputRows;
          // ONNX Runtime may hand over its own output buffer: copy out what we keep.
          perMember.set(m, { probs: probs.slice(), offsets });
        }),
      );
    }
    await Promise.all(calls);
    const inferMs = performance.now() - started;
    this.options.onBatch?.({ images, rows, requests: batch.length, inferMs });
    batch.forEach((job, j) => {
      const variants = job.tta ? this.shifts.length : 1;
      const memberProbs = job.memberList.map((m) => {
        const { probs, offsets } = perMember.get(m)!;
        const base = offsets.get(j)! * classes;
        const out = new Float32Array(job.count * classes);
        for (let t = 0; t < variants; t++) {
          const from = base + t * job.count * classes;
          for (let k = 0; k < out.length; k++) out[k]! += probs[from + k]!;
        }
        if (variants > 1) for (let k = 0; k < out.length; k++) out[k]! /= variants;
        return out;
      });
      const ensemble = new Float32Array(job.count * classes);
      const weights = job.memberList.map((m) => this.members[m]!.weight ?? 1);
      // A request that picks only members of weight 0 gets their plain mean.
      const total = weights.reduce((a, b) => a + b, 0);
      memberProbs.forEach((p, i) => {
        const w = total > 0 ? weights[i]! / total : 1 / weights.length;
        for (let k = 0; k < ensemble.length; k++) ensemble[k]! += w * p[k]!;
      });
      job.resolve({
        ensemble,
        members: memberProbs,
        memberIndices: job.memberList,
        classes,
        waitMs: started - job.enqueuedAt,
        inferMs,
        batchImages: images,
        batchRequests: batch.length,
      });
    });
  }
}
