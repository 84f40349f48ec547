/**
 * PNG/JPEG decoding off the HTTP thread. Decoding a 4-megapixel image takes pngjs ~60–140 ms
 * and jpeg-js ~450 ms of one core (bench/hostile.ts, README "Hostile input"), and on the
 * server's thread nothing else is read or answered meanwhile: one multipart of 16 such files
 * held /healthz for seconds (issue 14). Here the files go to worker threads, so the event
 * loop only reads bodies and headers.
 *
 * Two lanes keep small requests from waiting behind large ones: files of at most
 * `smallPixels` (the pad's 280×280 canvas, a phone crop of one digit) queue apart, and the
 * first worker takes only those, so a large decode never holds one up; the other workers
 * take large files first, then small ones, at a lower priority (decode-worker.ts). Admission is bounded by declared pixels: a
 * request whose files would push the queued pixels over `maxQueuedPixels` is refused at
 * once (503, retry) instead of waiting behind minutes of decoding. Workers start on the
 * first file, run at a lower priority (decode-worker.ts), and hold the process open only
 * while they decode.
 */
import { fileURLToPath } from 'node:url';
import type { Worker } from 'node:worker_threads';
import { startWorker } from '../engine/parallel.js';
import { InputError } from './image-input.js';

const here = fileURLToPath(import.meta.url);
const workerFile = fileURLToPath(new URL(here.endsWith('.ts') ? './decode-worker.ts' : './decode-worker.js', import.meta.url));

export interface DecodeWorkerData {
  /** nice value the worker thread gives itself (0 leaves it) */
  nice: number;
}

export interface DecodeRequest {
  id: number;
  bytes: Uint8Array;
  what: string;
}

export type DecodeReply =
  | { id: number; digit: Float32Array }
  | { id: number; input: { status: number; message: string; hint: string; kind: string } }
  | { id: number; failure: string };

export interface DecodePoolOptions {
  /** worker threads (default 2: one for small files, one for the rest) */
  workers?: number;
  /** files of at most this many declared pixels use the small lane (default 512×512) */
  smallPixels?: number;
  /** declared pixels allowed to wait for a worker before new files are refused (default 64 MP) */
  maxQueuedPixels?: number;
  /** nice value of the worker threads (default 10) */
  nice?: number;
  /** the workers end after this long with nothing to decode, returning their memory (default 5 s); they start again on the next file */
  idleMs?: number;
  /** told when a worker stops unexpectedly */
  onWorkerExit?: (reason: string) => void;
}

interface Job {
  id: number;
  bytes: Uint8Array;
  what: string;
  pixels: number;
  resolve: (digit: Float32Array) => void;
  reject: (error: unknown) => void;
}

interface Slot {
  worker: Worker;
  /** takes only small files */
  smallOnly: boolean;
  ready: boolean;
  job: Job | null;
  ended: Promise<void>;
}

export class DecodePool {
  readonly size: number;
  readonly smallPixels: number;
  readonly maxQueuedPixels: number;
  private readonly nice: number;
  private readonly slots: Slot[] = [];
  private readonly small: Job[] = [];
  private readonly large: Job[] = [];
  private pixelsQueued = 0;
  private nextId = 1;
  private closed = false;
  private idleTimer: NodeJS.Timeout | null = null;
  /** files decoded, and files refused because the queue was full */
  decoded = 0;
  refused = 0;

  constructor(private readonly options: DecodePoolOptions = {}) {
    this.size = Math.max(1, Math.floor(options.workers ?? 2));
    this.smallPixels = options.smallPixels ?? 512 * 512;
    this.maxQueuedPixels = options.maxQueuedPixels ?? 64_000_000;
    this.nice = options.nice ?? 10;
  }

  /** files waiting for a worker */
  get queued(): number {
    return this.small.length + this.large.length;
  }

  /** their declared pixels */
  get queuedPixels(): number {
    return this.pixelsQueued;
  }

  /** whether a request with large files would be refused now (checked before reading its body) */
  get full(): boolean {
    return this.pixelsQueued >= this.maxQueuedPixels;
  }

  /** workers decoding right now */
  get busy(): number {
    return this.slots.filter((s) => s.job !== null).length;
  }

  /**
   * Decodes the files of one request, all or none: when their declared pixels do not fit in
   * the queue, nothing is queued and the request is refused with a 503.
   */
  decodeAll(files: Array<{ bytes: Uint8Array; what: string; pixels: number }>): Promise<Float32Array[]> {
    if (this.closed) return Promise.reject(new InputError(503, 'the server is shutting down', 'Retry against a running server.', 'closing'));
    const pixels = files.reduce((sum, f) => sum + (f.pixels > this.smallPixels ? f.pixels : 0), 0);
    // Small files are never refused: their lane is served by its own worker and they cost little.
    // An empty queue takes any request (its files were each checked against the per-image limit).
    if (pixels > 0 && this.pixelsQueued > 0 && this.pixelsQueued + pixels > this.maxQueuedPixels) {
      this.refused += files.length;
      const mp = (n: number) => (n / 1e6).toFixed(1);
      return Promise.reject(
        new InputError(503, `the server is busy decoding images (${mp(this.pixelsQueued)} megapixels waiting; this request adds ${mp(pixels)})`, 'Retry in a few seconds, send smaller images, or fewer files per request.', 'decode_busy'),
      );
    }
    const jobs: Job[] = [];
    const all = Promise.all(files.map((f) => this.enqueue(f.bytes, f.what, f.pixels, jobs)));
    // The first file that fails fails the request: its files still waiting are dropped, not decoded for nothing.
    all.catch(() => this.drop(jobs));
    return all;
  }

  private drop(jobs: Job[]): void {
    for (const job of jobs) {
      for (const queue of [this.small, this.large]) {
        const at = queue.indexOf(job);
        if (at < 0) continue;
        queue.splice(at, 1);
        if (job.pixels > this.smallPixels) this.pixelsQueued -= job.pixels;
      }
    }
  }

  private enqueue(bytes: Uint8Array, what: string, pixels: number, jobs: Job[]): Promise<Float32Array> {
    this.start();
    return new Promise<Float32Array>((resolve, reject) => {
      const job: Job = { id: this.nextId++, bytes, what, pixels, resolve, reject };
      jobs.push(job);
      if (pixels <= this.smallPixels) this.small.push(job);
      else {
        this.large.push(job);
        this.pixelsQueued += pixels;
      }
      this.pump();
    });
  }

  /** Rejects what waits, lets the decodes under way finish, and ends the workers. */
  async close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      if (this.idleTimer) clearTimeout(this.idleTimer);
      const error = new InputError(503, 'the server is shutting down', 'Retry against a running server.', 'closing');
      for (const job of [...this.small.splice(0), ...this.large.splice(0)]) job.reject(error);
      this.pixelsQueued = 0;
    }
    await Promise.all(
      this.slots.map(async (slot) => {
        while (slot.job) await new Promise((r) => setTimeout(r, 10));
        await slot.worker.terminate();
        await slot.ended;
      }),
    );
  }

  private start(): void {
    if (this.idleTimer) {
      clearTimeout(this.idleTimer);
      this.idleTimer = null;
    }
    if (this.slots.length > 0 || this.closed) return;
    for (let i = 0; i < this.size; i++) this.slots.push(this.spawn(this.size > 1 && i === 0));
  }

  private spawn(smallOnly: boolean): Slot {
    // The small lane keeps normal priority: it serves the pad and the phone crops promptly.
    const data: DecodeWorkerData = { nice: smallOnly ? 0 : this.nice };
    const worker = startWorker(workerFile, data);
    const slot: Slot = { worker, smallOnly, ready: false, job: null, ended: new Promise((resolve) => worker.once('exit', () => resolve())) };
    let lastError = '';
    worker.on('message', (message: DecodeReply | { ready: true }) => {
      if ('ready' in message) {
        slot.ready = true;
        this.pump();
        return;
      }
      const job = slot.job;
      if (!job || job.id !== message.id) return;
      slot.job = null;
      worker.unref();
      this.decoded++;
      if ('digit' in message) job.resolve(message.digit);
      else if ('input' in message) job.reject(new InputError(message.input.status, message.input.message, message.input.hint, message.input.kind));
      else job.reject(new Error(`decoding ${job.what} failed: ${message.failure}`));
      this.pump();
    });
    worker.on('error', (error) => {
      lastError = error.message;
    });
    worker.on('exit', (code) => {
      const index = this.slots.indexOf(slot);
      // Closing, or retired after idling: nothing to report.
      if (this.closed || index < 0) return;
      const reason = lastError || `exit code ${code}`;
      // The file it was decoding is what stopped it (an allocation failure on a crafted file, most likely).
      slot.job?.reject(new InputError(400, `${slot.job.what} could not be decoded: the decoder stopped (${reason})`, 'Send an intact PNG or JPEG of at most 4 megapixels.', 'decoder_failed'));
      slot.job = null;
      this.options.onWorkerExit?.(reason);
      // A worker that never started would fail again: not replaced; with none left, what waits fails.
      if (slot.ready) this.slots[index] = this.spawn(slot.smallOnly);
      else this.slots.splice(index, 1);
      if (this.slots.length === 0) {
        const error = new Error(`no image decoder is left: ${reason}`);
        for (const waiting of [...this.small.splice(0), ...this.large.splice(0)]) waiting.reject(error);
        this.pixelsQueued = 0;
      }
    });
    worker.unref();
    return slot;
  }

  private pump(): void {
    this.scheduleIdleExit();
    for (const slot of this.slots) {
      if (!slot.ready || slot.job) continue;
      // One worker alone serves small files first; with more, the first is the small lane.
      const job = slot.smallOnly || this.size === 1 ? (this.small.shift() ?? (slot.smallOnly ? undefined : this.large.shift())) : (this.large.shift() ?? this.small.shift());
      if (!job) continue;
      if (job.pixels > this.smallPixels) this.pixelsQueued -= job.pixels;
      slot.job = job;
      slot.worker.ref();
      // A copy the worker owns (transferred, not cloned: a Buffer's view may share a larger pool).
      const bytes = new Uint8Array(job.bytes);
      const request: DecodeRequest = { id: job.id, bytes, what: job.what };
      slot.worker.postMessage(request, [bytes.buffer]);
    }
  }

  /**
   * With nothing queued or decoding, the workers end after `idleMs`: a decoder's heap keeps
   * what its largest image needed, and after a burst the server's memory should come back.
   * (Terminating an idle decoder is safe: nothing native runs there between files.)
   */
  private scheduleIdleExit(): void {
    const idle = this.slots.length > 0 && this.queued === 0 && this.slots.every((s) => s.job === null);
    if (!idle || this.idleTimer || this.closed) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = null;
      if (this.queued > 0 || this.slots.some((s) => s.job !== null)) return;
      const leaving = this.slots.splice(0);
      for (const slot of leaving) void slot.worker.terminate();
    }, this.options.idleMs ?? 5000);
    this.idleTimer.unref();
  }
}
