/**
 * Uniform background noise under the digit, the family `fitNoiseModel` (src/data/noise-model.ts)
 * tries when a noisy frame is no clipped normal: each pixel the brighter of the digit and a
 * uniform draw (the seed-002 InClass competition's max(digit, U(0, 1))),
 *
 *   y = max(min(gain · x, 1), a · u),   u ~ U(0, 1) independently per pixel.
 *
 * Its histograms are in closed form: a pixel of intensity v reads v with probability v/a (an atom)
 * and is spread evenly over (v, a] otherwise (read v when v ≥ a), with mean (a² + v²)/2a below a.
 * Here the search; the acceptance, with the Gaussian model's tests, is `fitNoiseModel`'s.
 */
import type { Random } from './random.js';
import { BIN_EDGES, BINS, solveGain, totalVariation } from './histograms.js';

/** Uniform background noise under the digit: y = max(min(gain · x, 1), level · u), u ~ U(0, 1). */
export interface MaximumNoiseModel {
  kind: 'maximum';
  gain: number;
  /** a: the noise is uniform on [0, a] */
  level: number;
}

/** P(max(v, level · u) < t), u ~ U(0, 1). */
function maximumBelow(t: number, v: number, level: number): number {
  if (t <= v) return 0;
  return Math.min(1, Math.max(0, t / level));
}

/** P(max(v, level · u) falls in each bin), added into `out` with weight `w`. */
function addMaximumHistogram(out: Float64Array, v: number, level: number, w: number): void {
  let previous = 0;
  for (let b = 0; b < BINS; b++) {
    const upper = b === BINS - 1 ? 1 : maximumBelow(BIN_EDGES[b + 1]!, v, level);
    out[b]! += w * (upper - previous);
    previous = upper;
  }
}

/** E[max(v, level · u)] in closed form. */
function maximumMean(v: number, level: number): number {
  return v >= level ? v : (level * level + v * v) / (2 * level);
}

/**
 * The nearest uniform-maximum noise to a competition's histograms (frame and digit box, binned
 * as `histograms.ts` bins; `levels`: MNIST's digit-box pixel histogram over 256 levels). The level
 * from the frame (a grid, then a finer one around the best), the gain from the digit box: the one
 * that matches its mean, then the nearest histogram within ±10% of it.
 */
export function searchMaximumNoise(frameH: Float64Array, boxH: Float64Array, boxMean: number, levels: Float64Array): { level: number; gain: number; frameDistance: number; boxDistance: number } {
  const frameAt = (level: number) => {
    const h = new Float64Array(BINS);
    addMaximumHistogram(h, 0, level, 1);
    return totalVariation(frameH, h);
  };
  let best = { level: 1, distance: Number.POSITIVE_INFINITY };
  for (let k = 5; k <= 100; k++) {
    const distance = frameAt(k / 100);
    if (distance < best.distance) best = { level: k / 100, distance };
  }
  for (let k = -10; k <= 10; k++) {
    const level = Math.min(1, best.level + k / 1000);
    const distance = frameAt(level);
    if (distance < best.distance) best = { level, distance };
  }
  const { level } = best;
  const used: number[] = [];
  for (let l = 0; l < 256; l++) if (levels[l]! > 0) used.push(l);
  // MNIST's ink piles up at 252–255, just under white: a gain 2% too high clips all of it to
  // exactly 1, and the mean alone cannot place it that finely on a few hundred images.
  const boxAt = (gain: number) => {
    const h = new Float64Array(BINS);
    for (const l of used) addMaximumHistogram(h, Math.min(1, (gain * l) / 255), level, levels[l]!);
    return totalVariation(boxH, h);
  };
  const meanGain = solveGain((g) => {
    let m = 0;
    for (const l of used) m += levels[l]! * maximumMean(Math.min(1, (g * l) / 255), level);
    return m;
  }, boxMean);
  let fit = { gain: meanGain, distance: boxAt(meanGain) };
  for (let k = -100; k <= 100; k++) {
    const gain = meanGain * (1 + k / 1000);
    const distance = boxAt(gain);
    if (distance < fit.distance) fit = { gain, distance };
  }
  return { level, gain: fit.gain, frameDistance: best.distance, boxDistance: fit.distance };
}

/** One pixel of intensity `x` in [0, 1] under `model`. */
export function maximumNoisePixel(model: MaximumNoiseModel, x: number, random: Random): number {
  return Math.max(Math.min(1, model.gain * x), model.level * random.next());
}
