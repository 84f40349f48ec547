/**
 * `npm run bench`: throughput of the seed002 reference network (../shared/reference-models.md)
 * on every backend that loads, for 1 worker and for N parallel workers, plus the profile
 * of one training step. Prints JSON on stdout; progress on stderr.
 *
 *   npm run -s bench > bench.json       # all backends, 8 s per measurement
 *   BENCH_SECONDS=4 npm run bench       # shorter
 *   BENCH_BACKENDS=wasm npm run bench   # only these (comma-separated)
 *
 * Variants: `wasm` trains as trainMember does (the whole-step ONNX Runtime trainer,
 * src/onnx/training/, when it loads); `wasm-tfjs-autodiff` is the previous path (tfjs
 * autodiff with ONNX Runtime conv/BN kernels); `wasm-xnnpack` is wasm without ONNX Runtime at all.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '../src/engine/tf.js';
import { initEngine, type BackendRequest } from '../src/engine/backend.js';
import type { TrainerRequest } from '../src/training/train-step.js';
import { runWorkerJobs, type WorkerJob } from '../src/training/worker-protocol.js';
import { profileTrainingStep, type ThroughputResult } from '../src/training/throughput.js';
import { readMnist } from '../src/data/mnist.js';
import { saveCheckpoint } from '../src/model/checkpoint.js';
import { onnxRuntimeStatus } from '../src/engine/ort.js';
import { createOnnxPredictor } from '../src/inference/predictor.js';
import { buildModel } from '../src/model/presets.js';

const seconds = Number(process.env.BENCH_SECONDS ?? 8);
const workers = Number(process.env.BENCH_WORKERS ?? os.availableParallelism());
const variants: Array<{ name: string; backend: BackendRequest; ortKernels: boolean; trainer: TrainerRequest }> = [
  { name: 'gpu', backend: 'gpu', ortKernels: false, trainer: 'auto' },
  { name: 'node', backend: 'node', ortKernels: false, trainer: 'auto' },
  { name: 'wasm', backend: 'wasm', ortKernels: true, trainer: 'auto' },
  { name: 'wasm-tfjs-autodiff', backend: 'wasm', ortKernels: true, trainer: 'tfjs' },
  { name: 'wasm-xnnpack', backend: 'wasm', ortKernels: false, trainer: 'tfjs' },
  { name: 'cpu', backend: 'cpu', ortKernels: false, trainer: 'tfjs' },
];
const wanted = process.env.BENCH_BACKENDS?.split(',');
const log = (line: string) => process.stderr.write(`${line}\n`);

async function loads(backend: BackendRequest): Promise<string | null> {
  try {
    await initEngine({ backend, ortKernels: false });
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}

async function measure(kind: 'train-throughput' | 'infer-throughput', v: (typeof variants)[number], n: number, batchSize: number, secs: number) {
  // The pure-JS backend takes about a minute per seed002 training step at batch 64:
  // measure it on small batches without warm-up, which is enough to show its order.
  const slow = v.name === 'cpu';
  const options = { preset: 'seed002', batchSize: slow ? 8 : batchSize, seconds: secs, warmupSteps: slow ? 0 : undefined, trainer: v.trainer };
  const job: WorkerJob = { kind, engine: { backend: v.backend, ortKernels: v.ortKernels, threads: 1 }, options };
  const outcomes = await runWorkerJobs<ThroughputResult>(Array.from({ length: n }, () => job), { concurrency: n });
  const failed = outcomes.find((o) => !o.ok);
  if (failed && !failed.ok) throw new Error(failed.error);
  const perWorker = outcomes.map((o) => (o.ok ? o.value.imagesPerSecond : 0));
  const trainer = kind === 'train-throughput' && outcomes[0]?.ok ? outcomes[0].value.trainer : undefined;
  return { workers: n, batchSize: options.batchSize, imagesPerSecond: perWorker.reduce((a, b) => a + b, 0), perWorker, msPerStep: outcomes.map((o) => (o.ok ? o.value.msPerStep : null)), ...(trainer ? { trainer } : {}) };
}

const report: Record<string, unknown> = {
  network: 'seed002',
  trainingBatch: 64,
  inferenceBatch: 256,
  secondsPerMeasurement: seconds,
  machine: { cpu: os.cpus()[0]?.model, cores: os.availableParallelism(), node: process.versions.node, tfjs: tf.version.tfjs },
  backends: {} as Record<string, unknown>,
};
for (const v of variants) {
  if (wanted && !wanted.includes(v.name)) continue;
  const problem = await loads(v.backend);
  if (problem) {
    (report.backends as Record<string, unknown>)[v.name] = { skipped: problem };
    log(`${v.name}: skipped (${problem})`);
    continue;
  }
  // The pure-JS backend needs seconds per step: one short measurement is enough to show it.
  const secs = v.name === 'cpu' ? Math.min(seconds, 3) : seconds;
  const entry: Record<string, unknown> = {};
  // Inference does not depend on the training step: measured once per engine configuration.
  const trainingOnly = v.name === 'wasm-tfjs-autodiff' || process.env.BENCH_TRAIN_ONLY === '1';
  for (const n of v.name === 'cpu' ? [1] : [...new Set([1, workers])]) {
    log(`${v.name}: training, ${n} worker(s)…`);
    entry[`train_${n}w`] = await measure('train-throughput', v, n, 64, secs);
    if (trainingOnly) continue;
    log(`${v.name}: inference, ${n} worker(s)…`);
    entry[`infer_${n}w`] = await measure('infer-throughput', v, n, 256, secs);
  }
  if (v.backend === 'wasm') {
    await initEngine({ backend: 'wasm', ortKernels: v.ortKernels });
    entry.profileOfOneTrainingStep = await profileTrainingStep('seed002', 64, 12, v.trainer);
  }
  (report.backends as Record<string, unknown>)[v.name] = entry;
}
// Inference as the product runs it (evaluate, submit, serve): the member exported to ONNX and run
// by ONNX Runtime with intra-op threads = cores, in float32 and in int8 (bench/inference.ts has
// the full picture: batch sizes, tfjs, the 5-member TTA pass).
if (!wanted || wanted.includes('onnx')) {
  const status = onnxRuntimeStatus();
  if (!status.available) {
    report.inferenceOnOnnxRuntime = { skipped: status.reason };
  } else {
    await initEngine({ backend: 'wasm', ortKernels: false });
    const dir = await mkdtemp(path.join(os.tmpdir(), 'digits-bench-'));
    try {
      const model = buildModel('seed002');
      await saveCheckpoint(model, dir, { preset: 'seed002', hyperparameters: {}, preprocessing: { scale: '0-1' }, orientation: 'as-is', seed: 0, dataFingerprint: null, metrics: {}, command: 'bench/run.ts' });
      model.dispose();
      const mnist = await readMnist('train');
      const calibration = async () => ({ images: Float32Array.from(mnist.images.subarray(0, 1024 * 784), (v) => v / 255), count: 1024, source: '1,024 MNIST training images' });
      const entry: Record<string, unknown> = { threads: os.availableParallelism(), batchSize: 256 };
      for (const precision of ['fp32', 'int8'] as const) {
        log(`onnxruntime ${precision}: inference…`);
        const predictor = await createOnnxPredictor(dir, { threads: os.availableParallelism(), batchSize: 256, precision, calibration });
        const images = Float32Array.from({ length: 256 * 784 }, () => Math.random());
        for (let i = 0; i < 2; i++) await predictor.predict(images, 256);
        let calls = 0;
        const start = performance.now();
        while (performance.now() - start < seconds * 1000 || calls < 3) {
          await predictor.predict(images, 256);
          calls++;
        }
        entry[precision] = { imagesPerSecond: Math.round((calls * 256 * 1000) / (performance.now() - start)) };
        predictor.dispose();
      }
      report.inferenceOnOnnxRuntime = entry;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}
process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
