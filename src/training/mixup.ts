/**
 * Mixup (Zhang et al. 2018, "mixup: Beyond Empirical Risk Minimization"): each batch is mixed
 * with a shuffled copy of itself, images and one-hot targets alike, by one λ drawn from
 * Beta(α, α): x' = λ x + (1 − λ) x[π], y' = λ y + (1 − λ) y[π]. The training step takes the soft
 * targets as they come (its cross-entropy is over target distributions; label smoothing is
 * applied on top).
 */
import * as tf from '../engine/tf.js';
import type { Random } from '../data/random.js';

/** A Gamma(shape, 1) draw: Marsaglia and Tsang (2000) for shape ≥ 1, boosted by U^(1/shape) below it. */
export function gammaSample(rnd: Random, shape: number): number {
  if (!(shape > 0)) throw new RangeError(`gamma shape must be > 0, got ${shape}`);
  if (shape < 1) return gammaSample(rnd, shape + 1) * Math.pow(Math.max(rnd.next(), Number.MIN_VALUE), 1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = rnd.normal();
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = rnd.next();
    if (u < 1 - 0.0331 * x * x * x * x) return d * v;
    if (Math.log(Math.max(u, Number.MIN_VALUE)) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}

/** A Beta(a, a) draw, as the ratio of two Gamma(a) draws. */
export function symmetricBetaSample(rnd: Random, a: number): number {
  const x = gammaSample(rnd, a);
  const y = gammaSample(rnd, a);
  return x + y > 0 ? x / (x + y) : 0.5;
}

/**
 * The batch mixed with a permutation of itself by λ ~ Beta(alpha, alpha); new tensors (the
 * inputs are not disposed). A batch of one is returned as copies.
 */
export function mixBatch(x: tf.Tensor, y: tf.Tensor, alpha: number, rnd: Random): { x: tf.Tensor; y: tf.Tensor; lambda: number } {
  const batch = x.shape[0]!;
  const lambda = symmetricBetaSample(rnd, alpha);
  const order = Int32Array.from({ length: batch }, (_, i) => i);
  for (let i = batch - 1; i > 0; i--) {
    const j = rnd.int(i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return tf.tidy(() => {
    const perm = tf.tensor1d(order, 'int32');
    const mix = (t: tf.Tensor) => tf.add(tf.mul(t, lambda), tf.mul(tf.gather(t, perm), 1 - lambda));
    return { x: mix(x), y: mix(y), lambda };
  });
}
