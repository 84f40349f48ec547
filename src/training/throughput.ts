/**
 * Throughput measurements on the active backend: training steps and batched inference
 * of a preset network on random data. Used by `digits doctor` (a 2-second run) and by
 * `npm run bench`. Speed is measured here, never asserted in tests.
 */
import * as tf from '../engine/tf.js';
import { buildModel } from '../model/presets.js';
import { createTrainStep, type TrainerRequest, type TrainStep } from './train-step.js';

export interface ThroughputOptions {
  preset: string;
  batchSize: number;
  /** measure for about this long, after warm-up steps */
  seconds: number;
  warmupSteps?: number;
  /** training step: 'auto' picks what trainMember picks (the ONNX Runtime trainer when it can) */
  trainer?: TrainerRequest;
}

export interface ThroughputResult {
  preset: string;
  batchSize: number;
  steps: number;
  seconds: number;
  imagesPerSecond: number;
  msPerStep: number;
  /** training only: which step ran, and why */
  trainer?: { kind: string; reason: string };
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
  model.compile({ optimizer: tf.train.rmsprop(1e-3, 0.9, 0, 1e-7), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  return model;
}

/** The step trainMember would use for this model (RMSprop, as seed002's recipe). */
function stepFor(model: tf.LayersModel, trainer: TrainerRequest | undefined, profile = false): TrainStep {
  return createTrainStep(model, model.optimizer, { optimizer: 'rmsprop', seed: 1, trainer, profile });
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
  const step = stepFor(model, options.trainer);
  try {
    const { steps, seconds } = await timeLoop(async () => {
      await step.run(xs, ys, 1e-3);
    }, options.seconds, options.warmupSteps ?? 2);
    return { ...result(options, steps, seconds), trainer: { kind: step.kind, reason: step.reason } };
  } finally {
    step.dispose();
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

export interface StepProfile {
  trainer: { kind: string; reason: string };
  /** sum of kernel (tfjs) or ONNX node (ORT) times of one step */
  totalMs: number;
  /** ORT only: wall time of one step, split into the session run and the JS side (feeds, masks, copies) */
  wallMs?: number;
  split?: { graphMs: number; jsMs: number };
  kernels: KernelTime[];
}

/**
 * Where one training step spends its time, after warm-up: tfjs kernels (`tf.profile`) on the
 * tfjs path; on the ORT path, ONNX node time by op type (ORT profiling) and the wall time
 * split between the session run and the JS side.
 */
export async function profileTrainingStep(preset: string, batchSize: number, top = 12, trainer?: TrainerRequest): Promise<StepProfile> {
  const model = compiled(preset);
  const { xs, ys } = randomBatch(model, batchSize);
  const step = stepFor(model, trainer, true);
  try {
    if (step.ort) {
      const ort = step.ort;
      const x = Float32Array.from(xs.dataSync());
      const y = Float32Array.from(ys.dataSync());
      for (let i = 0; i < 2; i++) ort.step(x, y, 1e-3);
      const runs = 5;
      ort.timing = { graphMs: 0, wallMs: 0 };
      for (let i = 0; i < runs; i++) ort.step(x, y, 1e-3);
      const { graphMs, wallMs } = ort.timing;
      const profile = ort.endProfiling();
      return {
        trainer: { kind: step.kind, reason: step.reason },
        totalMs: profile.totalMs,
        wallMs: Number((wallMs / runs).toFixed(1)),
        split: { graphMs: Number((graphMs / runs).toFixed(1)), jsMs: Number(((wallMs - graphMs) / runs).toFixed(1)) },
        kernels: profile.ops.slice(0, top).map((o) => ({ kernel: o.op, ms: o.ms, share: o.share })),
      };
    }
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
    return { trainer: { kind: step.kind, reason: step.reason }, totalMs: Number(totalMs.toFixed(1)), kernels };
  } finally {
    step.dispose();
    tf.dispose([xs, ys]);
    model.dispose();
  }
}
