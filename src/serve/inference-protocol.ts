/** What the inference pool (inference-pool.ts) and its worker threads (inference-worker.ts) say to each other. */
import type { Precision } from '../inference/predictor.js';
import { UserError, type ErrorLocation } from '../errors.js';

/** The worker's `workerData`: which members to load, and how. */
export interface InferenceWorkerData {
  checkpoints: string[];
  options: { precision: Precision; threads: number; spin: boolean; batchSize?: number };
}

/** A member as a worker loaded it. */
export interface LoadedMember {
  imageSize: number;
  precision: 'fp32' | 'int8';
  reason: string;
}

/** An error crossing the thread boundary (a UserError keeps its hint and location). */
export interface SerializedError {
  /** it was a UserError (or a subclass) */
  user: boolean;
  name: string;
  message: string;
  stack?: string;
  hint?: string;
  where?: ErrorLocation;
  exitCode?: number;
}

export type ToWorker =
  | { type: 'predict'; id: number; member: number; images: Float32Array; count: number }
  /** finish the call under way, release the sessions and end */
  | { type: 'close' }
  /** a test hook: exit with `code` on receiving the next call, leaving it unanswered */
  | { type: 'crash-on-next-call'; code: number };

export type FromWorker =
  | { type: 'loaded'; members: LoadedMember[] }
  | { type: 'load-error'; error: SerializedError }
  | { type: 'result'; id: number; probs: Float32Array; ms: number }
  | { type: 'error'; id: number; error: SerializedError };

export function serializeError(error: unknown): SerializedError {
  if (!(error instanceof Error)) return { user: false, name: 'Error', message: String(error) };
  if (error instanceof UserError) return { user: true, name: error.name, message: error.message, stack: error.stack, hint: error.hint, where: error.where, exitCode: error.exitCode };
  return { user: false, name: error.name, message: error.message, stack: error.stack };
}

/** The error as the worker threw it: a UserError stays one (the CLI prints its hint); others keep their stack. */
export function deserializeError(error: SerializedError): Error {
  if (error.user) return new UserError(error.message, { hint: error.hint, where: error.where, exitCode: error.exitCode });
  const rebuilt = new Error(error.message);
  rebuilt.name = error.name;
  if (error.stack) rebuilt.stack = error.stack;
  return rebuilt;
}
