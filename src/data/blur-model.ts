/**
 * Blurred digits, the corruption family `fitNoiseModel` (src/data/noise-model.ts) tries when no
 * pixel noise explains a competition's images: MNIST-C's glass blur, and with no swaps a plain
 * Gaussian blur, recognised by the histograms of the pixels and of the differences between
 * neighbouring pixels against those of MNIST train digits blurred by each model of a grid. Its
 * synthetic rows are MNIST train digits blurred so (`blurDigit`). Measured in README, "Blurs".
 */
import { glassBlurAfterFirst, glassBlurFirst } from './corruptions/mnist-c.js';
import { binOf, BINARY_SHARE, BINS, grey, normalise, totalVariation } from './histograms.js';
import type { ImageSet } from './image-set.js';
import { spreadStride, type MnistSet } from './mnist.js';
import { createRandom, type Random } from './random.js';

/**
 * Glass blur, as MNIST-C makes it: a Gaussian blur (σ), then `iterations` passes that swap
 * pixels with a neighbour at most `maxDelta` away, then the blur again. With no passes it is a
 * plain Gaussian blur (of σ√2).
 */
export interface GlassBlurModel {
  kind: 'glass';
  sigma: number;
  maxDelta: number;
  iterations: number;
}

/** A blur fit: the nearest blur of the grid, the model when it is near enough, and why (with the figures). */
export interface BlurFit {
  model: GlassBlurModel | null;
  fitted: GlassBlurModel;
  /** mean total-variation distance of the three histograms of `addBlurStatistics` */
  distance: number;
  reason: string;
}

/**
 * The coarse grid of blurs: σ from 0.5 to 1.5 by 0.2 (the fine search then moves it by 0.1), at
 * most 3 passes of swaps at most 1–3 pixels away (MNIST-C's glass blur: σ 0.7, 1 pixel, 2
 * passes; its harsher severities reach σ 1.5, 4 pixels). No passes is a plain Gaussian blur,
 * and then the reach of the swaps does not matter (1 is tried).
 */
const BLUR_SIGMAS = [0.5, 0.7, 0.9, 1.1, 1.3, 1.5];
const BLUR_DELTAS = [1, 2, 3];
const BLUR_ITERATIONS = [0, 1, 2, 3];
/**
 * Largest distance between the pixel and neighbour-difference histograms of the competition's
 * images and of the blurred MNIST digits that counts as a fit (`blurDistance`). MNIST-C's glass
 * blur fits its own parameters at 0.003–0.005; of the other practice recipes MNIST-C's motion
 * blur comes nearest, at 0.041, then n-MNIST's at 0.064, shear, rotation and an affine warp at
 * 0.07–0.09, the rest at 0.13 or more (`bench/noise-fits.ts`).
 */
export const MAX_BLUR_DISTANCE = 0.02;
/** MNIST train digits each blur of the coarse grid is made of. */
const COARSE_DIGITS = 250;
/** The nearest blurs of the coarse grid the fine search starts from. */
const FINE_CANDIDATES = 6;
/** A coarse distance beyond which no finer blur will fit (three times `MAX_BLUR_DISTANCE`): the fine search is skipped. */
const FAR_FROM_BLUR = 0.06;
/** The seed of the swaps of the blurs a fit compares (fixed: a fit depends on the images alone). */
const GLASS_FIT_SEED = 7;
/** MNIST train digits each blur of the fine search is made of (as many as an edge-map fit uses). */
const FIT_DIGITS = 1000;

/** Bins of the absolute difference between neighbouring pixels (equal bins over [0, 1]). */
const DIFFERENCE_BINS = 16;
/** Where each histogram of `addBlurStatistics` starts: pixels, horizontal differences, vertical differences. */
const BLUR_PARTS = [0, BINS, BINS + DIFFERENCE_BINS, BINS + 2 * DIFFERENCE_BINS] as const;

/**
 * Adds one n×n image (`at(p)` in [0, 1]) to three histograms side by side: its pixels
 * (`binOf`), and the absolute differences between horizontally and between vertically
 * neighbouring pixels. A blur moves grey into the pixels and shrinks the differences; swaps
 * raise them again, more the farther they reach.
 */
function addBlurStatistics(out: Float64Array, at: (p: number) => number, n: number): void {
  const differenceBin = (d: number) => Math.min(DIFFERENCE_BINS - 1, Math.floor(Math.abs(d) * DIFFERENCE_BINS));
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      const v = at(y * n + x);
      out[binOf(v)]! += 1;
      if (x + 1 < n) out[BLUR_PARTS[1] + differenceBin(at(y * n + x + 1) - v)]! += 1;
      if (y + 1 < n) out[BLUR_PARTS[2] + differenceBin(at((y + 1) * n + x) - v)]! += 1;
    }
  }
}

/** The mean total-variation distance of the three histograms of `addBlurStatistics` (raw counts). */
function blurDistance(a: Float64Array, b: Float64Array): number {
  let sum = 0;
  for (let part = 0; part < 3; part++) {
    const lo = BLUR_PARTS[part]!;
    const hi = BLUR_PARTS[part + 1]!;
    sum += totalVariation(normalise(a.slice(lo, hi)), normalise(b.slice(lo, hi)));
  }
  return sum / 3;
}

/**
 * One MNIST digit (0–255 bytes) blurred as `model` says, quantised to bytes as integer layouts
 * store it. `first`: the digit's `glassBlurFirst` at the model's σ, when the caller has it.
 */
export function blurDigit(model: GlassBlurModel, digit: Uint8Array, n: number, random: Random, first?: Float64Array): Float64Array {
  const start = first ? first.slice() : glassBlurFirst(Float64Array.from(digit, (v) => v / 255), n, model.sigma);
  const image = glassBlurAfterFirst(start, n, model.sigma, model.maxDelta, model.iterations, random);
  for (let p = 0; p < image.length; p++) image[p] = Math.round(255 * image[p]!) / 255;
  return image;
}

/**
 * `fitNoiseModel`'s family for when no pixel noise explains the images: a blur or none. The histograms of
 * `addBlurStatistics` over the competition's images against those of MNIST train digits blurred
 * by each model of a grid (swaps drawn from one fixed seed): first the coarse grid
 * (`BLUR_SIGMAS` × `BLUR_DELTAS` × `BLUR_ITERATIONS`) on `COARSE_DIGITS` digits, then, unless
 * the nearest is far from any blur, its `FINE_CANDIDATES` nearest with σ a tenth either side, on
 * `FIT_DIGITS`. The nearest counts when within `MAX_BLUR_DISTANCE`.
 */
export function fitGlassBlur(data: ImageSet, count: number, step: number, digits: MnistSet): BlurFit {
  const n = data.size;
  const px = n * n;
  const scale = 1 / data.scale;
  const seen = new Float64Array(BLUR_PARTS[3]);
  for (let i = 0; i < count; i++) {
    const base = Math.floor(i * step) * px;
    addBlurStatistics(seen, (p) => data.images[base + p]! * scale, n);
  }
  const stride = spreadStride(digits, FIT_DIGITS);
  // a blur makes grey pixels; binary images (an edge map, thresholded strokes) are no blur
  const greyShare = grey(normalise(seen.slice(0, BINS)));
  const binary = greyShare <= BINARY_SHARE;
  // the first blur of each digit depends on σ alone: worked out once per σ, not once per model
  // (a σ has 10 models in the coarse grid): mnistc-glass-blur on 1,500 images fitted in 3.9 s, not 5.6
  const firsts = new Map<number, Float64Array[]>();
  const firstOf = (sigma: number, k: number, digit: Uint8Array): Float64Array => {
    let list = firsts.get(sigma);
    if (!list) firsts.set(sigma, (list = []));
    return (list[k] ??= glassBlurFirst(Float64Array.from(digit, (v) => v / 255), n, sigma));
  };
  const distanceOf = (model: GlassBlurModel, many: number) => {
    const made = new Float64Array(seen.length);
    const random = createRandom(GLASS_FIT_SEED);
    for (let k = 0; k * stride < digits.count && k < many; k++) {
      const src = k * stride * px;
      const digit = digits.images.subarray(src, src + px);
      const image = blurDigit(model, digit, n, random, firstOf(model.sigma, k, digit));
      addBlurStatistics(made, (p) => image[p]!, n);
    }
    return blurDistance(seen, made);
  };
  let best: { model: GlassBlurModel; distance: number } = { model: { kind: 'glass', sigma: 1, maxDelta: 1, iterations: 0 }, distance: Number.POSITIVE_INFINITY };
  if (digits.rows === n && !binary) {
    const coarse: Array<{ model: GlassBlurModel; distance: number }> = [];
    for (const sigma of BLUR_SIGMAS) {
      for (const iterations of BLUR_ITERATIONS) {
        for (const maxDelta of iterations === 0 ? [1] : BLUR_DELTAS) {
          const model: GlassBlurModel = { kind: 'glass', sigma, maxDelta, iterations };
          coarse.push({ model, distance: distanceOf(model, COARSE_DIGITS) });
        }
      }
    }
    coarse.sort((a, b) => a.distance - b.distance);
    best = coarse[0]!;
    if (best.distance <= FAR_FROM_BLUR) {
      best = { ...best, distance: Number.POSITIVE_INFINITY };
      const tried = new Set<string>();
      for (const { model } of coarse.slice(0, FINE_CANDIDATES)) {
        for (const shift of [-0.1, 0, 0.1]) {
          const sigma = Number((model.sigma + shift).toFixed(1));
          const candidate: GlassBlurModel = { ...model, sigma };
          const key = JSON.stringify(candidate);
          if (sigma < BLUR_SIGMAS[0]! || sigma > BLUR_SIGMAS.at(-1)! || tried.has(key)) continue;
          tried.add(key);
          const distance = distanceOf(candidate, FIT_DIGITS);
          if (distance < best.distance) best = { model: candidate, distance };
        }
      }
    }
  }
  const { model, distance } = best;
  const what = model.iterations === 0 ? `Gaussian blur σ ${model.sigma} twice` : `glass blur σ ${model.sigma}, ${model.iterations} pass${model.iterations === 1 ? '' : 'es'} of swaps up to ${model.maxDelta} px`;
  const figures = binary ? `${(100 * greyShare).toFixed(1)}% of pixels grey; ${count} images` : Number.isFinite(distance) ? `nearest blur: ${what}, pixel and neighbour-difference distance ${distance.toFixed(3)}; ${count} images` : `${count} images`;
  const why =
    digits.rows !== n
      ? `the images are ${n}×${n}, MNIST's ${digits.rows}×${digits.rows}`
      : binary
        ? 'binary images are no blur'
        : distance > MAX_BLUR_DISTANCE
          ? `the digits are not blurred MNIST digits (pixel and neighbour-difference distance ${distance.toFixed(3)} > ${MAX_BLUR_DISTANCE})`
          : null;
  return { model: why ? null : model, fitted: model, distance: Number(distance.toFixed(4)), reason: why ? `no noise model: ${why} (${figures})` : `${what} (${figures})` };
}
