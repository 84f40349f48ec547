/**
 * Entry point of a worker thread: for each job it is sent (`{ job }`, one at a time), initialise
 * the engine the job asks for (a no-op when it is the one already running) and report.
 */
import { parentPort, threadId } from 'node:worker_threads';
import { initEngine } from '../engine/backend.js';
import { measureInference, measureTraining } from './throughput.js';
import type { WorkerMessage } from '../engine/parallel.js';
import type { WorkerJob } from './worker-protocol.js';
import type { ImageSet } from '../data/image-set.js';
import { MemberConfigError } from './member-config-error.js';
import { errorText } from '../errors.js';

const post = (message: WorkerMessage) => parentPort!.postMessage(message);

async function run(job: WorkerJob): Promise<unknown> {
  const engine = await initEngine(job.engine);
  post({ type: 'event', event: { type: 'engine', backend: engine.backend, ort: engine.ort.enabled } });
  switch (job.kind) {
    case 'train-throughput':
      return measureTraining(job.options);
    case 'infer-throughput':
      return measureInference(job.options);
    case 'fail':
      throw new Error(job.message);
    case 'thread':
      return threadId;
    case 'lr-find': {
      const { loadDataset } = await import('../data/dataset.js');
      const { findLearningRate } = await import('./lr-find.js');
      const dataset = await loadDataset(job.datasetDir);
      const data: ImageSet = { images: dataset.trainImages, labels: dataset.trainLabels, count: dataset.trainLabels.length, size: dataset.width, scale: dataset.scale };
      return findLearningRate({ config: job.member, data, trainRows: job.trainRows, ...job.options });
    }
    case 'train-member': {
      const { loadDataset } = await import('../data/dataset.js');
      const { trainMember } = await import('./train-member.js');
      const dataset = await loadDataset(job.datasetDir);
      let data: ImageSet = { images: dataset.trainImages, labels: dataset.trainLabels, count: dataset.trainLabels.length, size: dataset.width, scale: dataset.scale };
      let trainRows: number[] = job.trainRows;
      if (job.extra) {
        // Corrections join the training rows only, never validation, so scores stay comparable.
        const { correctionsAsImageSet, mergeImageSets } = await import('../data/corrections.js');
        // (skipped lines were said once by the process that started the run: one warning per worker repeated them, in Node's raw format)
        const merged = mergeImageSets(data, await correctionsAsImageSet(job.extra, { onWarning: () => {} }));
        data = merged.data;
        trainRows = [...job.trainRows, ...merged.extraRows];
      }
      return trainMember({
        config: job.member,
        data,
        trainRows,
        validationRows: job.validationRows,
        outDir: job.outDir,
        parentExists: job.parentExists,
        resume: job.resume,
        metadata: job.metadata,
        deadline: job.deadline,
        onEvent: (event) => post({ type: 'event', event }),
      });
    }
  }
}

parentPort!.on('message', ({ job }: { job: WorkerJob }) => {
  run(job).then(
    (value) => post({ type: 'result', value }),
    (error: unknown) => post({ type: 'error', error: errorText(error), ...(error instanceof MemberConfigError ? { unrecoverable: true } : {}) }),
  );
});
