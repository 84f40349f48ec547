import { runJobsInParallel, workerEntry, type JobOutcome, type ParallelOptions } from '../engine/parallel.js';
import type { BackendRequest } from '../engine/backend.js';
import type { ThroughputOptions } from './throughput.js';
import type { MemberConfig, TrainOptions } from './train-member.js';
import type { LrFindOptions } from './lr-find.js';

/** What a worker thread is asked to do. Each job brings its own engine choice. */
export type WorkerJob =
  | { kind: 'train-throughput'; engine: { backend: BackendRequest; ortKernels?: boolean; threads?: number }; options: ThroughputOptions }
  | { kind: 'infer-throughput'; engine: { backend: BackendRequest; ortKernels?: boolean; threads?: number }; options: ThroughputOptions }
  | { kind: 'fail'; engine: { backend: BackendRequest }; message: string }
  /** which worker thread ran it (its `threadId`): how the tests see a worker take job after job */
  | { kind: 'thread'; engine: { backend: BackendRequest } }
  | {
      kind: 'train-member';
      engine: { backend: BackendRequest };
      member: MemberConfig;
      datasetDir: string;
      trainRows: number[];
      validationRows: number[];
      outDir: string;
      /** TrainOptions.parentExists: the folder above outDir is there and is not made again */
      parentExists?: boolean;
      resume: boolean;
      metadata: TrainOptions['metadata'];
      /** corrections file (JSON lines from the pad) added to the training rows only */
      extra?: string;
      /** epoch-milliseconds by which training should be over (TrainOptions.deadline) */
      deadline?: number;
    }
  | {
      /** a learning-rate range test (`findLearningRate`) from the member's starting point */
      kind: 'lr-find';
      engine: { backend: BackendRequest };
      member: MemberConfig;
      datasetDir: string;
      trainRows: number[];
      options: Pick<LrFindOptions, 'minLr' | 'maxLr' | 'steps'>;
    };

/** What runs a batch of worker jobs: these worker threads (`runWorkerJobs`), or a queue (services/queue). */
export type WorkerJobRunner = <T>(jobs: readonly WorkerJob[], options?: ParallelOptions) => Promise<JobOutcome<T>[]>;

/** Runs training-side jobs (members, throughput probes) in worker threads, at most `concurrency` at once. */
export function runWorkerJobs<T>(jobs: readonly WorkerJob[], options: ParallelOptions = {}): Promise<JobOutcome<T>[]> {
  return runJobsInParallel<T>(workerEntry(import.meta.url, 'worker-main'), jobs, options);
}
