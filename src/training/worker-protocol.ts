import type { BackendRequest } from '../engine/backend.js';
import type { ThroughputOptions } from './throughput.js';
import type { MemberConfig, TrainOptions } from './train-member.js';

/** What a worker thread is asked to do. Each job brings its own engine choice. */
export type WorkerJob =
  | { kind: 'train-throughput'; engine: { backend: BackendRequest; ortKernels?: boolean; threads?: number }; options: ThroughputOptions }
  | { kind: 'infer-throughput'; engine: { backend: BackendRequest; ortKernels?: boolean; threads?: number }; options: ThroughputOptions }
  | { kind: 'fail'; engine: { backend: BackendRequest }; message: string }
  | {
      kind: 'train-member';
      engine: { backend: BackendRequest };
      member: MemberConfig;
      datasetDir: string;
      trainRows: number[];
      validationRows: number[];
      outDir: string;
      resume: boolean;
      metadata: TrainOptions['metadata'];
      /** corrections file (JSON lines from the pad) added to the training rows only */
      extra?: string;
    };

export type WorkerMessage =
  | { type: 'event'; event: unknown }
  | { type: 'result'; value: unknown }
  | { type: 'error'; error: string };
