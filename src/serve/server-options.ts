/**
 * What `buildServer` and `startServer` take (server.ts), and what closing reports: the knobs of
 * `digits serve`, each with its default and why it exists.
 */
import type { FastifyServerOptions } from 'fastify';
import type { DecodePoolOptions } from './decode-pool.js';
import type { ServedEnsemble } from './ensemble.js';

export interface ServerOptions {
  ensemble: ServedEnsemble;
  /** most images in one inference batch, and in one request (default 256) */
  maxBatch?: number;
  /** how long a batch waits for more requests (default 3 ms) */
  batchWindowMs?: number;
  /**
   * Batches computing at once (default 2 when the members run in the inference pool: the next
   * batch forms and queues while the last pieces of the previous one compute, so the workers
   * do not idle through the batching window; 1 in process, where a batch blocks the thread)
   */
  batchConcurrency?: number;
  /** the corrections store (default <run>/corrections.jsonl) */
  correctionsFile?: string;
  /** largest request body in bytes, whatever its encoding, multipart included (default 8 MiB) */
  bodyLimit?: number;
  /** most files in one multipart request (default 16) */
  maxFiles?: number;
  /** request bodies being received at once, in bytes (declared, or the body limit when undeclared), before new uploads get 503 (default 8 × bodyLimit) */
  maxBodyBytesInFlight?: number;
  /**
   * Slowest body a prediction may be sent at, in bytes a second, averaged from the start once
   * `slowBodyGraceMs` has passed (default 16 KiB/s): a slower one ends with a 408, so a trickling
   * upload cannot hold its share of `maxBodyBytesInFlight` for long
   */
  minBodyBytesPerSecond?: number;
  /** how long a prediction's body may arrive at any speed before `minBodyBytesPerSecond` applies (default 10 s) */
  slowBodyGraceMs?: number;
  /** images allowed to wait for a batch before new requests get 503 (default 32 × maxBatch) */
  maxQueuedImages?: number;
  /** the image decoding pool (workers, lanes, queued pixels) */
  decode?: DecodePoolOptions;
  /** corrections one client (IP address) may save per minute (default 30) */
  correctionsPerMinute?: number;
  /** origins besides the loopback names allowed to save corrections, e.g. http://digits.lan:8080 */
  allowedOrigins?: string[];
  /** when set, saving a correction needs `Authorization: Bearer <token>` (required to listen beyond loopback) */
  token?: string;
  /** Fastify's logger (pino): false (default) for none, or pino options such as {level, stream} */
  logger?: FastifyServerOptions['logger'];
  /**
   * where internal errors and cut requests are reported, with their level (default: plain lines
   * on stderr; `digits serve --json` passes `jsonLogLines()`, so stderr holds only JSON lines)
   */
  log?: (line: string, level: 'warn' | 'error') => void;
  /** the interface the server will listen on (startServer passes it): its name is an allowed Host */
  host?: string;
}

/** What `close()` did with the requests in flight. */
export interface CloseReport {
  /** in flight when closing began and answered */
  finished: number;
  /** still in flight when the grace period ended, their connections closed */
  cut: Array<{ method: string; url: string; seconds: number }>;
}
