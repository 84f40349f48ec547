/**
 * A learning-rate range test (Smith 2017, "Cyclical Learning Rates for Training Neural
 * Networks", §3.3; fastai's `lr_find`): from a starting point (a checkpoint or fresh
 * weights), train a few hundred batches with the rate growing exponentially from `minLr` to
 * `maxLr`, record the smoothed training loss, stop once it has blown up, and suggest a rate
 * from the curve. The model is thrown away afterwards: only the curve is kept.
 */
import * as tf from '../engine/tf.js';
import { createRandom, deriveSeed } from '../data/random.js';
import type { ImageSet } from '../data/image-set.js';
import { createAugmenter } from '../model/augment.js';
import { gatherImages, preprocessorFor } from '../model/preprocess.js';
import { getPreset } from '../model/preset-specs.js';
import { balancedOrder, buildOrLoad, makeOptimizer, smoothedCrossEntropy, type MemberConfig } from './train-member.js';
import { createTrainStep, type TrainerRequest } from './train-step.js';

export interface LrFindOptions {
  /** the member whose start (preset, init, optimizer, batch size, augmentation) is tested */
  config: MemberConfig;
  data: ImageSet;
  trainRows: ArrayLike<number>;
  minLr?: number;
  maxLr?: number;
  /** batches (the rate goes from minLr to maxLr over them) */
  steps?: number;
  trainer?: TrainerRequest;
}

export interface LrCurve {
  /** the rate of each step */
  lrs: number[];
  /** the training loss of each step, exponentially smoothed with bias correction */
  losses: number[];
}

export interface LrFindResult extends LrCurve {
  suggestion: LrSuggestion;
  /** training images per second over the test */
  imagesPerSecond: number;
  seconds: number;
}

export interface LrSuggestion {
  lr: number;
  /** the rate at the lowest smoothed loss */
  lrAtMinimum: number;
  /** the highest rate whose smoothed loss is still near the lowest */
  lrAtEdge: number;
  minimumLoss: number;
  reason: string;
}

/** Smoothing factor of the loss average (fastai uses 0.98 over ~100 steps; fewer steps need less). */
export const LR_FIND_BETA = 0.9;
/**
 * The first points of the curve are left out of the suggestion and of the divergence test (at
 * most this many, and at most a quarter of the curve): the bias-corrected average of the first
 * batches is the loss of one to a few batches, and it keeps their weight for a while, so a lucky
 * batch there set the "lowest" point. Three of the average's time constants, 3 / (1 − β),
 * leave under 2% of its weight on the first three batches (17% after one time constant).
 * Evidence:
 * - range tests from checkpoints on three corruption benchmarks put their minimum at the
 *   2nd–4th of ~110 batches (rates 1.1e-6–2.1e-6), which made the suggested rates absurd (1e-7);
 * - skipping one time constant (10 batches, fastai's `skip_start=10`) was not enough: on
 *   rotated digits the clean checkpoint's first batches averaged 0.12–0.16 where its flat part
 *   lies at 0.2–0.3, the lowest point fell on the 11th batch (0.169 at 2.5e-6), and the clean
 *   start was probed at the floor rates only;
 * - on sheared digits the same lucky start (0.014) stopped the test at its 10th batch as
 *   "diverged" (0.063 is over 4 × 0.014).
 */
export const LR_FIND_SKIP_START = Math.round(3 / (1 - LR_FIND_BETA));
/** The test stops once the smoothed loss exceeds this many times its minimum… */
export const LR_FIND_DIVERGENCE = 4;
/**
 * …and exceeds it by this much (nats): a checkpoint's loss can be a few hundredths, and four
 * times that is batch noise, not a blown-up network.
 */
export const LR_FIND_DIVERGENCE_NATS = 0.5;

/** The range test's curve: each batch's loss enters an exponential average (LR_FIND_BETA), bias-corrected. */
export function lossSmoother(): (loss: number) => number {
  let average = 0;
  let count = 0;
  return (loss) => {
    average = LR_FIND_BETA * average + (1 - LR_FIND_BETA) * loss;
    count++;
    return average / (1 - LR_FIND_BETA ** count);
  };
}

/** How many of a curve's first points the suggestion and the divergence test leave out. */
export function skippedPoints(length: number): number {
  return Math.min(LR_FIND_SKIP_START, Math.floor(length / 4));
}

/**
 * Whether a range test can stop after these smoothed losses (of `planned` steps): the last one
 * is not finite, or it is LR_FIND_DIVERGENCE times and LR_FIND_DIVERGENCE_NATS above the
 * lowest one after the skipped start.
 */
export function rangeTestDiverged(losses: readonly number[], planned: number): boolean {
  const last = losses[losses.length - 1];
  if (last === undefined) return false;
  if (!Number.isFinite(last)) return true;
  const first = skippedPoints(planned);
  if (losses.length <= first + 1) return false;
  let minimum = Infinity;
  for (let i = first; i < losses.length; i++) minimum = Math.min(minimum, losses[i]!);
  return last > LR_FIND_DIVERGENCE * minimum && last > minimum + LR_FIND_DIVERGENCE_NATS;
}

/**
 * The rate to train at: a tenth of the highest rate at which the smoothed loss was still
 * within a tolerance of its lowest value (max(10%, 0.02) above it), counting only points before
 * the loss blew up and after the first LR_FIND_SKIP_START. On a from-scratch curve (falling, then rising) that is about the minimum,
 * Smith's and fastai's rule of thumb: one decade below where the loss stops falling. On a
 * checkpoint's curve, which starts low and stays flat until the rate is too high, the lowest
 * point is anywhere in the flat part by noise; the end of the flat part is not.
 */
export function suggestLearningRate(curve: LrCurve): LrSuggestion {
  if (curve.lrs.length === 0 || curve.lrs.length !== curve.losses.length) throw new Error('an LR curve needs as many losses as rates, and at least one');
  let end = curve.losses.length;
  for (let i = 0; i < curve.losses.length; i++) {
    if (!Number.isFinite(curve.losses[i]!)) {
      end = i;
      break;
    }
  }
  end = Math.max(1, end);
  const first = skippedPoints(end);
  let best = first;
  for (let i = first + 1; i < end; i++) if (curve.losses[i]! < curve.losses[best]!) best = i;
  const minimumLoss = curve.losses[best]!;
  const ceiling = minimumLoss + Math.max(0.1 * minimumLoss, 0.02);
  let edge = best;
  while (edge + 1 < end && curve.losses[edge + 1]! <= ceiling) edge++;
  const lrAtMinimum = curve.lrs[best]!;
  const lr = curve.lrs[edge]! / 10;
  return {
    lr,
    lrAtMinimum,
    lrAtEdge: curve.lrs[edge]!,
    minimumLoss,
    reason: `smoothed training loss lowest (${minimumLoss.toFixed(3)}) at ${lrAtMinimum.toExponential(1)}, within ${(ceiling - minimumLoss).toFixed(3)} of that up to ${curve.lrs[edge]!.toExponential(1)}; a tenth of that: ${lr.toExponential(1)}`,
  };
}

/** The exponentially spaced rates of a range test. */
export function lrSchedule(minLr: number, maxLr: number, steps: number): number[] {
  if (!(minLr > 0 && maxLr > minLr && steps >= 2)) throw new RangeError(`an LR range needs 0 < minLr < maxLr and ≥ 2 steps (got ${minLr}, ${maxLr}, ${steps})`);
  return Array.from({ length: steps }, (_, i) => minLr * (maxLr / minLr) ** (i / (steps - 1)));
}

export async function findLearningRate(options: LrFindOptions): Promise<LrFindResult> {
  const { config, data } = options;
  const steps = options.steps ?? 100;
  const rates = lrSchedule(options.minLr ?? 1e-6, options.maxLr ?? 1, steps);
  const preset = getPreset(config.preset);
  const model = await buildOrLoad(config, preset);
  const rows = Int32Array.from(options.trainRows);
  const pre = preprocessorFor(preset, data, rows);
  const optimizer = makeOptimizer(config, rates[0]!);
  model.compile({ optimizer, loss: smoothedCrossEntropy(config.labelSmoothing ?? 0), metrics: ['accuracy'] });
  const step = createTrainStep(model, optimizer, {
    optimizer: config.optimizer,
    momentum: config.momentum,
    labelSmoothing: config.labelSmoothing,
    seed: deriveSeed(config.seed, config.name, 'lr-find-dropout'),
    trainer: options.trainer,
  });
  const rnd = createRandom(deriveSeed(config.seed, config.name, 'lr-find'));
  const augmenter = createAugmenter(config.augmentation, deriveSeed(config.seed, config.name, 'lr-find-augment'));
  const lrs: number[] = [];
  const losses: number[] = [];
  const smooth = lossSmoother();
  let images = 0;
  const started = performance.now();
  try {
    for (let i = 0; i < steps; i++) {
      // (a "balanced" member's batches draw every digit equally often, as its epochs do)
      const batch = config.sampling === 'balanced' ? balancedOrder(data.labels, rows, rnd).subarray(0, Math.min(config.batchSize, rows.length)) : Int32Array.from({ length: Math.min(config.batchSize, rows.length) }, () => rows[rnd.int(rows.length)]!);
      const x = tf.tidy(() => pre.apply(augmenter.apply(gatherImages(data, batch, 0, batch.length))));
      const labels = new Int32Array(batch.length);
      batch.forEach((row, k) => (labels[k] = data.labels[row]!));
      const y = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(labels, 'int32'), 10), 'float32'));
      const { loss } = await step.run(x, y, rates[i]!).finally(() => tf.dispose([x, y]));
      images += batch.length;
      const smoothed = smooth(loss);
      lrs.push(rates[i]!);
      losses.push(Number.isFinite(smoothed) ? smoothed : Infinity);
      if (rangeTestDiverged(losses, steps)) break;
    }
  } finally {
    step.dispose();
    model.dispose();
    optimizer.dispose();
  }
  const seconds = (performance.now() - started) / 1000;
  return { lrs, losses, suggestion: suggestLearningRate({ lrs, losses }), imagesPerSecond: Math.round(images / seconds), seconds: Number(seconds.toFixed(1)) };
}
