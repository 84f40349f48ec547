/**
 * Throughput measurements on the active backend: training steps and batched inference
 * of a preset network on random data. Used by `digits doctor` (a 2-second run) and by
 * `npm run bench`. Speed is measured here, never asserted in tests.
 */
import * as tf from '@tensorflow/tfjs';
import { buildModel } from '../ensemble/presets.js';

export interface ThroughputOptions {
  preset: string;
  batchSize: number;
  /** measure for about this long, after warm-up steps */
  seconds: number;
  warmupSteps?: number;
}

export interface ThroughputResult {
  preset: string;
  batchSize: number;
  steps: number;
  seconds: number;
  imagesPerSecond: number;
  msPerStep: number;
}

export interface KernelTime {
  kernel: string;
  ms: number;
  share: number;
}

function randomBatch(model: tf.LayersModel, batchSize: number): { xs: tf.Tensor; ys: tf.Tensor } {
  const [, h, w, c] = model.inputs[0]!.shape as number[];
  return tf.tidy(() => ({
    xs: tf.randomUniform([batchSize, h!, w!, c!]),
    ys: tf.oneHot(tf.randomUniform([batchSize], 0, 10, 'int32') as tf.Tensor1D, 10),
  }));
}

function compiled(preset: string): tf.LayersModel {
  const model = buildModel(preset);
  model.compile({ optimizer: tf.train.rmsprop(1e-3), loss: 'categoricalCrossentropy' });
  return model;
}

async function timeLoop(step: () => Promise<void>, seconds: number, warmup: number): Promise<{ steps: number; seconds: number }> {
  for (let i = 0; i < warmup; i++) await step();
  const start = performance.now();
  let steps = 0;
  while (steps < 2 || performance.now() - start < seconds * 1000) {
    await step();
    steps++;
  }
  return { steps, seconds: (performance.now() - start) / 1000 };
}

export async function measureTraining(options: ThroughputOptions): Promise<ThroughputResult> {
  const model = compiled(options.preset);
  const { xs, ys } = randomBatch(model, options.batchSize);
  try {
    const { steps, seconds } = await timeLoop(async () => {
      await model.trainOnBatch(xs, ys);
    }, options.seconds, options.warmupSteps ?? 2);
    return result(options, steps, seconds);
  } finally {
    tf.dispose([xs, ys]);
    model.dispose();
  }
}

export async function measureInference(options: ThroughputOptions): Promise<ThroughputResult> {
  const model = buildModel(options.preset);
  const { xs, ys } = randomBatch(model, options.batchSize);
  try {
    const { steps, seconds } = await timeLoop(async () => {
      const out = model.predict(xs) as tf.Tensor;
      await out.data();
      out.dispose();
    }, options.seconds, options.warmupSteps ?? 1);
    return result(options, steps, seconds);
  } finally {
    tf.dispose([xs, ys]);
    model.dispose();
  }
}

function result(options: ThroughputOptions, steps: number, seconds: number): ThroughputResult {
  return {
    preset: options.preset,
    batchSize: options.batchSize,
    steps,
    seconds: Number(seconds.toFixed(3)),
    imagesPerSecond: Math.round((steps * options.batchSize) / seconds),
    msPerStep: Number(((seconds * 1000) / steps).toFixed(1)),
  };
}

/** The top kernels of one training step by time (`tf.profile`), after warm-up. */
export async function profileTrainingStep(preset: string, batchSize: number, top = 12): Promise<{ totalMs: number; kernels: KernelTime[] }> {
  const model = compiled(preset);
  const { xs, ys } = randomBatch(model, batchSize);
  try {
    for (let i = 0; i < 2; i++) await model.trainOnBatch(xs, ys);
    const info = await tf.profile(async () => {
      await model.trainOnBatch(xs, ys);
    });
    const byKernel = new Map<string, number>();
    for (const k of info.kernels) byKernel.set(k.name, (byKernel.get(k.name) ?? 0) + Number(k.kernelTimeMs));
    const totalMs = [...byKernel.values()].reduce((a, b) => a + b, 0);
    const kernels = [...byKernel.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([kernel, ms]) => ({ kernel, ms: Number(ms.toFixed(2)), share: Number((ms / totalMs).toFixed(3)) }));
    return { totalMs: Number(totalMs.toFixed(1)), kernels };
  } finally {
    tf.dispose([xs, ys]);
    model.dispose();
  }
}
