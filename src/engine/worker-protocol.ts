import type { BackendRequest } from './backend.js';
import type { ThroughputOptions } from './throughput.js';

/** What a worker thread is asked to do. Each job brings its own engine choice. */
export type WorkerJob =
  | { kind: 'train-throughput'; engine: { backend: BackendRequest; ortKernels?: boolean; threads?: number }; options: ThroughputOptions }
  | { kind: 'infer-throughput'; engine: { backend: BackendRequest; ortKernels?: boolean; threads?: number }; options: ThroughputOptions }
  | { kind: 'fail'; engine: { backend: BackendRequest }; message: string };

export type WorkerMessage =
  | { type: 'event'; event: unknown }
  | { type: 'result'; value: unknown }
  | { type: 'error'; error: string };
