/**
 * PNG/JPEG decoding off the HTTP thread. Decoding a 4-megapixel image takes pngjs ~60–140 ms
 * and jpeg-js ~450 ms of one core (bench/hostile.ts, README "Hostile input"), and on the
 * server's thread nothing else is read or answered meanwhile: one multipart of 16 such files
 * held /healthz for seconds (issue 14). Here the files go to decoder processes, so the event
 * loop only reads bodies and headers.
 *
 * Processes, not worker threads, so that memory comes back after a burst. A 4 MP decode
 * allocates several buffers of 16 MB (RGBA, grey levels, ink); freed, glibc keeps them in the
 * thread's malloc arena (after the first such free it raises its mmap threshold to 16 MB and
 * its trim threshold to 32 MB, so later ones are no longer unmapped), and a thread that ends
 * does not take its arena with it. With decoder threads the server stayed ~150 MB above its
 * start after 30 s idle, all of it free to glibc (a malloc_trim from gdb took it back to a
 * fresh server's size); a process that exits returns everything. A decoder that runs out of
 * memory on a crafted file also takes down only itself.
 *
 * Two lanes keep small requests from waiting behind large ones: files of at most
 * `smallPixels` (the pad's 280×280 canvas, a phone crop of one digit) queue apart, and the
 * first worker takes only those, so a large decode never holds one up; the other workers
 * take large files first, then small ones, at a lower priority (decode-worker.ts). Admission is bounded by declared pixels: a
 * request whose files would push the queued pixels over `maxQueuedPixels` is refused at
 * once (503, retry) instead of waiting behind minutes of decoding. Decoders start on the
 * first file, run at a lower priority (decode-worker.ts), hold the server open only while
 * they decode, and exit after `idleMs` with nothing to do.
 */
import type { ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { startProcess } from '../engine/parallel.js';
import { InputError } from './image-input.js';

const here = fileURLToPath(import.meta.url);
const workerFile = fileURLToPath(new URL(here.endsWith('.ts') ? './decode-worker.ts' : './decode-worker.js', import.meta.url));

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
  /** decoder processes (default 2: one for small files, one for the rest) */
  workers?: number;
  /** files of at most this many declared pixels use the small lane (default 512×512) */
  smallPixels?: number;
  /** declared pixels allowed to wait for a worker before new files are refused (default 64 MP) */
  maxQueuedPixels?: number;
  /** nice value of the decoders (default 10; the small-file lane keeps 0) */
  nice?: number;
  /** the decoders exit after this long with nothing to decode, returning their memory (default 5 s); they start again on the next file */
  idleMs?: number;
  /** told when a decoder stops unexpectedly */
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
  worker: ChildProcess;
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

  /** decoders decoding right now */
  get busy(): number {
    return this.slots.filter((s) => s.job !== null).length;
  }

  /** decoder processes running (0 before the first file and after `idleMs` idle) */
  get running(): number {
    return this.slots.length;
  }

  /** their process ids */
  get pids(): number[] {
    return this.slots.flatMap((s) => (s.worker.pid === undefined ? [] : [s.worker.pid]));
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

  /** Rejects what waits, lets the decodes under way finish, and ends the decoders. */
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
        // (held until it has gone, so closing waits for it)
        hold(slot.worker, true);
        slot.worker.kill();
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
    const worker = startProcess(workerFile, [String(smallOnly ? 0 : this.nice)]);
    // (a process that could not start says 'error' and never 'exit')
    const ended = new Promise<void>((resolve) => {
      worker.once('exit', () => resolve());
      worker.once('error', () => worker.pid === undefined && resolve());
    });
    const slot: Slot = { worker, smallOnly, ready: false, job: null, ended };
    let lastError = '';
    // Its stderr says why it stopped, when it does (the last lines are enough).
    let stderr = '';
    worker.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-2000);
    });
    (worker.stderr as Socket | null)?.unref();
    worker.on('message', (message: DecodeReply | { ready: true }) => {
      if ('ready' in message) {
        slot.ready = true;
        hold(worker, false);
        this.pump();
        return;
      }
      const job = slot.job;
      if (!job || job.id !== message.id) return;
      slot.job = null;
      hold(worker, false);
      this.decoded++;
      if ('digit' in message) job.resolve(message.digit);
      else if ('input' in message) job.reject(new InputError(message.input.status, message.input.message, message.input.hint, message.input.kind));
      else job.reject(new Error(`decoding ${job.what} failed: ${message.failure}`));
      this.pump();
    });
    let stopped = false;
    const onStop = (code: number | null, signal: NodeJS.Signals | null) => {
      if (stopped) return;
      stopped = true;
      const index = this.slots.indexOf(slot);
      // Closing, or retired after idling: nothing to report.
      if (this.closed || index < 0) return;
      const said = stderr.trim().split('\n').filter((l) => /error|memory|abort/i.test(l)).pop();
      const reason = lastError || [signal ? `signal ${signal}` : `exit code ${code}`, said].filter(Boolean).join(': ');
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
    };
    worker.on('error', (error) => {
      lastError = error.message;
      if (worker.pid === undefined) onStop(null, null);
    });
    // 'close' comes after 'exit' and after its stderr is read to the end.
    worker.on('close', onStop);
    // Started for a file: it holds the server open until it is ready to take one.
    hold(worker, true);
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
      hold(slot.worker, true);
      // (serialized as the view's bytes only, not the pool a Buffer may share)
      const request: DecodeRequest = { id: job.id, bytes: job.bytes, what: job.what };
      slot.worker.send(request);
    }
  }

  /**
   * With nothing queued or decoding, the decoders exit after `idleMs`: a decoder keeps what
   * its largest image needed, and after a burst the server's memory should come back.
   */
  private scheduleIdleExit(): void {
    const idle = this.slots.length > 0 && this.queued === 0 && this.slots.every((s) => s.job === null);
    if (!idle || this.idleTimer || this.closed) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = null;
      if (this.queued > 0 || this.slots.some((s) => s.job !== null)) return;
      const leaving = this.slots.splice(0);
      for (const slot of leaving) slot.worker.kill();
    }, this.options.idleMs ?? 5000);
    this.idleTimer.unref();
  }
}

/** A decoder keeps the server running only while it decodes (its process and its channel both count). */
function hold(child: ChildProcess, busy: boolean): void {
  if (busy) {
    child.ref();
    child.channel?.ref();
  } else {
    child.unref();
    child.channel?.unref();
  }
}
