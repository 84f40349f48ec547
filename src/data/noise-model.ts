/**
 * The sensor-noise model of a noisy competition, fitted to its own training pixels, and
 * MNIST train images corrupted by it: more training rows whose noise looks like the
 * competition's (`auto` adds them to its members' training rows).
 *
 * The model is the textbook one for an imaging sensor: a gain and an offset on the signal,
 * then additive white Gaussian noise, clipped to the pixel range,
 *
 *   y = clip(gain · x + offset + σ · z, 0, 1),   z ~ N(0, 1) independently per pixel.
 *
 * MNIST digits leave the outer frame of every image black (x = 0), so the frame's pixels
 * are draws of clip(offset + σ z): their histogram fixes offset and σ (a censored normal: the
 * clipped mass sits at 0 and 1). The gain then makes the model's mean over the digit box
 * equal the competition's, with x drawn from MNIST's own pixel histogram. The fit is
 * accepted only when the model explains what it sees: frame pixels independent of their
 * neighbours (fog or blur make correlated backgrounds), both histograms within
 * `MAX_HISTOGRAM_DISTANCE` of the model's (total variation), and noise worth matching
 * (σ ≥ `MIN_SIGMA`).
 *
 * A frame that stays black (`BLACK_FRAME`: 99% of its pixels exactly 0) has no additive noise to fit, and
 * the other textbook sensor noise applies: photon (shot) noise, signal-dependent, zero where
 * no light falls. A pixel of intensity x collects Poisson(λ · gain · x) photons, λ at full
 * scale, and reads their count over λ:
 *
 *   y = clip(Poisson(λ · gain · x) / λ, 0, 1).
 *
 * Its spread at full intensity is 1/√λ, so λ is fitted to the histogram of the digit box
 * (the gain, again, to its mean), and the fit counts only when that spread is noise worth
 * matching (1/√λ ≥ `MIN_SIGMA`) and the histograms agree.
 *
 * A frame whose pixels are all exactly 0 or 1, some of them 1 (`IMPULSE_FRAME`), is impulse
 * (salt-and-pepper) noise: each pixel, with probability `amount`, is replaced by white with
 * probability `salt` and by black otherwise,
 *
 *   y = x with probability 1 − amount, else 1 with probability salt, else 0.
 *
 * Only untouched pixels keep MNIST's grey levels, so the digit box's share of pixels strictly
 * between 0 and 1, against MNIST's, gives 1 − amount; the frame's white share is amount · salt.
 * The fit counts when the digit box's histogram agrees.
 *
 * An image of black and white pixels only may be no noisy digit at all but its outline: the
 * edge map Canny's detector makes of it (σ fitted, skimage's thresholds), recognised by the
 * histogram of its 3×3 pixel patterns against the edge maps of MNIST digits (`fitEdgeMap`).
 * Its synthetic rows are edge maps of MNIST train digits.
 *
 * When no pixel noise explains the images, the digits may be blurred: MNIST-C's glass blur (a
 * Gaussian blur, passes of swaps of neighbouring pixels, the blur again; with no passes a plain
 * Gaussian blur), recognised by the histograms of the pixels and of the differences between
 * neighbouring pixels against those of blurred MNIST digits (`fitGlassBlur`). Its synthetic
 * rows are MNIST train digits blurred so. Nor that: they may be streaked along one direction,
 * MNIST-C's or n-MNIST's motion blur (`fitMotionBlur`), recognised the same way with signed
 * differences along four directions; its synthetic rows are MNIST train digits so streaked.
 *
 * A noisy frame whose pixels are spread evenly over [0, a] rather than like a clipped normal is
 * the other background noise of noisy-MNIST competitions: each pixel the brighter of the digit
 * and a uniform draw (the seed-002 InClass competition's max(digit, U(0, 1))),
 *
 *   y = max(min(gain · x, 1), a · u),   u ~ U(0, 1) independently per pixel.
 *
 * The frame fixes a (its pixels are a · u), the gain the digit box's histogram (near the gain
 * that makes its mean the model's), and the fit counts when both histograms agree, the frame's
 * pixels are independent and the noise is worth matching (a/√12 ≥ `MIN_SIGMA`)
 * (src/data/maximum-noise-model.ts). Its rows are not added by default (`ROWS_NOT_BY_DEFAULT`).
 *
 * Correlated noise fails these checks, and the competition is left as it is.
 */
import normalCdf from '@stdlib/stats-base-dists-normal-cdf';
import type { ImageSet } from './image-set.js';
import { spreadStride, type MnistSet } from './mnist.js';
import { createRandom, poisson, type Random } from './random.js';
import { PROFILE_FRAME } from './background.js';
import { canny } from './corruptions/canny.js';
import { blurDigit, fitGlassBlur, type GlassBlurModel } from './blur-model.js';
import { FAR_FROM_ANY_BLUR, fitMotionBlur, motionBlurDigit, type MotionBlurModel } from './motion-blur-model.js';
import { BIN_EDGES, BINARY_SHARE, BINS, binOf, grey, normalise, solveGain, totalVariation } from './histograms.js';
import { maximumNoisePixel, searchMaximumNoise, type MaximumNoiseModel } from './maximum-noise-model.js';

export interface GaussianNoiseModel {
  kind: 'gaussian';
  gain: number;
  offset: number;
  sigma: number;
}

/** Photon noise: y = clip(Poisson(photons · gain · x) / photons, 0, 1). */
export interface PoissonNoiseModel {
  kind: 'poisson';
  gain: number;
  /** λ, the expected photon count of a full-intensity pixel at gain 1 */
  photons: number;
}

/** Impulse noise: each pixel, with probability `amount`, becomes 1 (probability `salt`) or 0. */
export interface ImpulseNoiseModel {
  kind: 'impulse';
  amount: number;
  salt: number;
}

/** An edge map: y = 1 on the edges Canny's detector finds in x (smoothing σ, hysteresis thresholds low and high on the gradient), else 0. */
export interface EdgeMapModel {
  kind: 'edges';
  sigma: number;
  low: number;
  high: number;
}

/**
 * A corruption layer independent of the digit: y = clip(gain · x + L), with L one of `layers`
 * layers taken from the competition's own training images (`src/data/corruption-layer.ts`).
 */
export interface CorruptionLayerModel {
  kind: 'layer';
  gain: number;
  /** how many layers there are to draw from (one per training image paired with its MNIST digit) */
  layers: number;
}

export type { MaximumNoiseModel } from './maximum-noise-model.js';
export type { GlassBlurModel } from './blur-model.js';
export { MAX_BLUR_DISTANCE } from './blur-model.js';
export type { MotionBlurModel } from './motion-blur-model.js';
export { MAX_MOTION_DISTANCE } from './motion-blur-model.js';

export type NoiseModel = GaussianNoiseModel | PoissonNoiseModel | ImpulseNoiseModel | MaximumNoiseModel | EdgeMapModel | CorruptionLayerModel | GlassBlurModel | MotionBlurModel;

export interface NoiseFit {
  /** the model, when it explains the competition's pixels; null otherwise */
  model: NoiseModel | null;
  /** the best parameters found, accepted or not (Poisson when the frame stays black, impulse when it is only black and white) */
  fitted: NoiseModel;
  /** total-variation distance between the frame pixels' histogram and the model's */
  frameDistance: number;
  /** the same over the digit box (the central 20×20 pixels) */
  boxDistance: number;
  /** correlation of horizontally adjacent frame pixels (white noise: about 0) */
  neighbourCorrelation: number;
  images: number;
  reason: string;
}

/** Largest total-variation distance between a histogram and the model's that counts as a fit. */
export const MAX_HISTOGRAM_DISTANCE = 0.05;
/** Below this σ there is no noise worth synthesising (clean MNIST's frame fits σ ≈ 0). */
export const MIN_SIGMA = 0.05;
/** Above this |correlation| of neighbouring frame pixels the background is not white noise. */
export const MAX_NEIGHBOUR_CORRELATION = 0.2;
/** A frame with at least this share of pixels at exactly 0 is black: photon noise, not additive, is fitted. */
export const BLACK_FRAME = 0.99;
/** The most photons a fit may find: above it the spread at full intensity, 1/√λ, is under `MIN_SIGMA`. */
export const MAX_PHOTONS = Math.round(1 / (MIN_SIGMA * MIN_SIGMA));
/**
 * The fewest: below 2 photons at full scale the counts read 0, 1/λ > ½ or 1, and below 1 only
 * 0 or 1, so such a model explains any binarised image (an edge map fits λ 0.64 exactly).
 */
export const MIN_PHOTONS = 2;
/** A frame with at most this share of pixels strictly between 0 and 1 (and some at 1) is fitted as impulse noise. */
export const IMPULSE_FRAME = 0.01;
/** Below this amount impulse noise touches too few pixels to be worth synthesising. */
export const MIN_IMPULSE = 0.01;
/** Largest total-variation distance between the 3×3 pixel patterns of the digit boxes and the edge map's that counts as a fit. */
export const MAX_PATTERN_DISTANCE = 0.04;
/**
 * The edge maps tried: Canny's σ, with skimage's thresholds (low 0.1, high 0.2 on the gradient
 * of images in [0, 1]). MNIST's strokes are so sharp that thresholds from half to twice those
 * make nearly the same maps (on the practice recipe's images, 3×3-pattern distances within
 * 0.0004 of each other at σ 1), while σ moves them by 0.02 a quarter-step.
 */
export const EDGE_SIGMAS = [0.5, 0.75, 1, 1.25, 1.5, 2, 3];
const EDGE_THRESHOLDS = { low: 0.1, high: 0.2 };
/** MNIST train digits the edge maps are made from while fitting (spread over the set, both writer populations). */
const FIT_DIGITS = 1000;

/** P(clip(μ + σz) falls in each bin), added into `out` with weight `w`. */
function addModelHistogram(out: Float64Array, mu: number, sigma: number, w: number): void {
  let previous = 0;
  for (let b = 0; b < BINS; b++) {
    const upper = b === BINS - 1 ? 1 : normalCdf(BIN_EDGES[b + 1]!, mu, sigma);
    out[b] += w * (upper - previous);
    previous = upper;
  }
}

/** E[clip(μ + σz, 0, 1)] in closed form. */
function clippedMean(mu: number, sigma: number): number {
  const a = (0 - mu) / sigma;
  const b = (1 - mu) / sigma;
  const phi = (t: number) => Math.exp(-0.5 * t * t) / Math.sqrt(2 * Math.PI);
  const Pa = normalCdf(a, 0, 1);
  const Pb = normalCdf(b, 0, 1);
  // ∫ over (0,1) of y dF + 1 · P(y ≥ 1)
  return mu * (Pb - Pa) + sigma * (phi(a) - phi(b)) + (1 - Pb);
}

/** Above this mean a Poisson count is taken as normal (as `poisson` draws it). */
const POISSON_EXACT_MEAN = 100;

/**
 * Walks the Poisson(m) counts k read below full scale (k/λ < 1) with their probabilities,
 * stopping once the rest is negligible; returns the mass read at full scale (k/λ ≥ 1).
 */
function poissonBelowFullScale(m: number, photons: number, visit: (k: number, p: number) => void): number {
  let p = Math.exp(-m);
  let below = 0;
  for (let k = 0; k / photons < 1; k++) {
    visit(k, p);
    below += p;
    p *= m / (k + 1);
    if (k > m && p < 1e-16) break;
  }
  return Math.max(0, 1 - below);
}

/**
 * P(clip(Poisson(m) / λ, 0, 1), rounded to a byte, falls in each bin), added into `out`
 * with weight `w`; the normal approximation above `POISSON_EXACT_MEAN`.
 */
function addPoissonHistogram(out: Float64Array, m: number, photons: number, w: number): void {
  if (m <= 0) {
    out[0]! += w;
    return;
  }
  if (m > POISSON_EXACT_MEAN) {
    addModelHistogram(out, m / photons, Math.sqrt(m) / photons, w);
    return;
  }
  // a count just under full scale can round into the last bin too, so add to it after the walk
  const full = poissonBelowFullScale(m, photons, (k, p) => (out[binOf(Math.round(255 * (k / photons)) / 255)]! += w * p));
  out[BINS - 1]! += w * full;
}

/** E[clip(Poisson(m) / λ, 0, 1)]. */
function clippedPoissonMean(m: number, photons: number): number {
  if (m <= 0) return 0;
  if (m > POISSON_EXACT_MEAN) return clippedMean(m / photons, Math.sqrt(m) / photons);
  let mean = 0;
  const full = poissonBelowFullScale(m, photons, (k, p) => (mean += p * (k / photons)));
  return mean + full;
}

/**
 * Photon noise fitted to a black-framed competition's digit box: for each λ on a log grid
 * (then a finer one around the best), the gain that matches the box's mean, and the
 * histogram distance; the λ with the smallest distance wins.
 */
function fitPoisson(boxH: Float64Array, boxMean: number, levels: Float64Array): { gain: number; photons: number; distance: number } {
  const used: number[] = [];
  for (let l = 0; l < 256; l++) if (levels[l]! > 0) used.push(l);
  const at = (photons: number) => {
    const gain = solveGain((g) => {
      let m = 0;
      for (const l of used) m += levels[l]! * clippedPoissonMean(photons * g * (l / 255), photons);
      return m;
    }, boxMean);
    const h = new Float64Array(BINS);
    for (const l of used) addPoissonHistogram(h, photons * gain * (l / 255), photons, levels[l]!);
    return { gain, photons, distance: totalVariation(boxH, h) };
  };
  // λ from 0.5 to 2,000 in steps of 2%, then of 0.2% around the best: at small λ the counts'
  // levels k/λ are coarser than the histogram's bins, and the distance jumps as they cross
  // bin edges, so a coarse grid and a local search would find a wrong λ
  let best = at(0.5);
  for (let photons = 0.5 * 1.02; photons <= 2000; photons *= 1.02) {
    const trial = at(photons);
    if (trial.distance < best.distance) best = trial;
  }
  const centre = best.photons;
  for (let k = -10; k <= 10; k++) {
    const trial = at(centre * 1.002 ** k);
    if (trial.distance < best.distance) best = trial;
  }
  return best;
}

/**
 * Histogram of MNIST's digit-box pixel values (256 levels, as probabilities), over every
 * image: MNIST train alternates its two writer populations (even and odd rows differ in mean
 * ink by 13%), so a strided sample would be biased.
 */
export function mnistBoxLevels(mnist: MnistSet): Float64Array {
  const levels = new Float64Array(256);
  const n = mnist.rows;
  for (let i = 0; i < mnist.count; i++) {
    const base = i * n * n;
    for (let y = 4; y < n - 4; y++) for (let x = 4; x < n - 4; x++) levels[mnist.images[base + y * n + x]!]! += 1;
  }
  return normalise(levels);
}

export interface NoiseFitOptions {
  /** most training images looked at, spread over the set (default 20,000) */
  limit?: number;
  /** MNIST train, whose digits the edge maps are made from; without it a binary competition is not fitted as one */
  digits?: MnistSet;
}

/**
 * Fits the model to up to `limit` training images spread over `data`; `levels` is the
 * histogram of clean digit-box pixels the gain is fitted against (`mnistBoxLevels`).
 */
export function fitNoiseModel(data: ImageSet, levels: Float64Array, options: NoiseFitOptions = {}): NoiseFit {
  const count = Math.min(options.limit ?? 20_000, data.count);
  const step = data.count / Math.max(1, count);
  const fit = fitPixelNoise(data, levels, count, step, options.digits);
  if (fit.model || !options.digits) return fit;
  // no noise explains the pixels: the digits may be blurred (a blurred frame is neither black nor white noise)
  const blur = fitGlassBlur(data, count, step, options.digits);
  if (blur.model) return { model: blur.model, fitted: blur.fitted, frameDistance: blur.distance, boxDistance: blur.distance, neighbourCorrelation: fit.neighbourCorrelation, images: count, reason: blur.reason };
  // nor a blur the same in every direction: the digits may be streaked along one
  if (!(blur.distance <= FAR_FROM_ANY_BLUR)) return { ...fit, reason: `${fit.reason}; ${blur.reason}; no noise model: no motion blur either (the nearest blur is past ${FAR_FROM_ANY_BLUR})` };
  const motion = fitMotionBlur(data, count, step, options.digits);
  if (!motion.model) return { ...fit, reason: `${fit.reason}; ${blur.reason}; ${motion.reason}` };
  return { model: motion.model, fitted: motion.fitted, frameDistance: motion.distance, boxDistance: motion.distance, neighbourCorrelation: fit.neighbourCorrelation, images: count, reason: motion.reason };
}

/** `fitNoiseModel`'s families of pixel noise (and edge maps), fitted to `count` images `step` apart. */
function fitPixelNoise(data: ImageSet, levels: Float64Array, count: number, step: number, digits: MnistSet | undefined): NoiseFit {
  const size = data.size;
  const px = size * size;
  const scale = 1 / data.scale;
  const frame = new Float64Array(BINS);
  const box = new Float64Array(BINS);
  let boxSum = 0;
  let boxN = 0;
  // neighbour correlation along the top and bottom frame rows
  let sx = 0;
  let sy = 0;
  let sxx = 0;
  let syy = 0;
  let sxy = 0;
  let pairs = 0;
  const boxLo = Math.floor((size - 20) / 2);
  const boxHi = boxLo + 20;
  for (let i = 0; i < count; i++) {
    const base = Math.floor(i * step) * px;
    const at = (y: number, x: number) => data.images[base + y * size + x]! * scale;
    for (let y = 0; y < size; y++) {
      const edgeRow = y < PROFILE_FRAME || y >= size - PROFILE_FRAME;
      for (let x = 0; x < size; x++) {
        const v = at(y, x);
        if (edgeRow || x < PROFILE_FRAME || x >= size - PROFILE_FRAME) frame[binOf(v)]! += 1;
        if (y >= boxLo && y < boxHi && x >= boxLo && x < boxHi) {
          box[binOf(v)]! += 1;
          boxSum += v;
          boxN++;
        }
        if (edgeRow && x + 1 < size) {
          const w = at(y, x + 1);
          sx += v;
          sy += w;
          sxx += v * v;
          syy += w * w;
          sxy += v * w;
          pairs++;
        }
      }
    }
  }
  const frameH = normalise(frame);
  const boxH = normalise(box);
  const boxMean = boxN ? boxSum / boxN : 0;
  const cov = sxy / pairs - (sx / pairs) * (sy / pairs);
  const varX = sxx / pairs - (sx / pairs) ** 2;
  const varY = syy / pairs - (sy / pairs) ** 2;
  const neighbourCorrelation = varX > 1e-12 && varY > 1e-12 ? cov / Math.sqrt(varX * varY) : 0;

  // a binary image (black and white pixels only, some white in the digit box) may be an edge map
  // of the digit; wide edges reach the frame, so it need not be all black
  // (frame and digit box at most `BINARY_SHARE` grey)
  if (digits && grey(boxH) <= BINARY_SHARE && grey(frameH) <= BINARY_SHARE && boxH[BINS - 1]! > 0) {
    const edges = fitEdgeMap(data, count, step, digits, neighbourCorrelation, frameH);
    if (edges.model || frameH[0]! >= BLACK_FRAME) return edges;
  }
  if (frameH[0]! >= BLACK_FRAME) return fitPhotonNoise(frameH, boxH, boxMean, neighbourCorrelation, count, levels);
  if (grey(frameH) <= IMPULSE_FRAME) return fitImpulseNoise(frameH, boxH, neighbourCorrelation, count, levels);

  // offset and σ: a grid, then a finer grid around the best point
  let best = { offset: 0, sigma: 0.01, distance: Number.POSITIVE_INFINITY };
  const search = (offsets: number[], sigmas: number[]) => {
    for (const offset of offsets) {
      for (const sigma of sigmas) {
        const h = new Float64Array(BINS);
        addModelHistogram(h, offset, sigma, 1);
        const distance = totalVariation(frameH, h);
        if (distance < best.distance) best = { offset, sigma, distance };
      }
    }
  };
  const range = (lo: number, hi: number, by: number) => Array.from({ length: Math.round((hi - lo) / by) + 1 }, (_, k) => lo + k * by);
  search(range(-0.5, 1, 0.02), range(0.005, 0.6, 0.01));
  search(range(best.offset - 0.02, best.offset + 0.02, 0.002), range(Math.max(0.001, best.sigma - 0.01), best.sigma + 0.01, 0.001));
  const { offset, sigma } = best;

  // gain: the model's mean over the digit box equals the competition's (monotone in the gain)
  const modelBoxMean = (gain: number) => {
    let m = 0;
    for (let l = 0; l < 256; l++) if (levels[l]! > 0) m += levels[l]! * clippedMean(gain * (l / 255) + offset, sigma);
    return m;
  };
  const gain = solveGain(modelBoxMean, boxMean);
  const modelBox = new Float64Array(BINS);
  for (let l = 0; l < 256; l++) if (levels[l]! > 0) addModelHistogram(modelBox, gain * (l / 255) + offset, sigma, levels[l]!);
  const boxDistance = totalVariation(boxH, modelBox);
  const fitted: GaussianNoiseModel = { kind: 'gaussian', gain: round(gain), offset: round(offset), sigma: round(sigma) };
  const figures = `gain ${fitted.gain}, offset ${fitted.offset}, σ ${fitted.sigma}; histogram distance ${best.distance.toFixed(3)} on the frame, ${boxDistance.toFixed(3)} on the digit box; neighbouring frame pixels correlate ${neighbourCorrelation.toFixed(2)}; ${count} images`;
  const why =
    sigma < MIN_SIGMA
      ? `no noise worth matching (σ ${fitted.sigma} < ${MIN_SIGMA})`
      : Math.abs(neighbourCorrelation) > MAX_NEIGHBOUR_CORRELATION
        ? `the background is not white noise (neighbouring frame pixels correlate ${neighbourCorrelation.toFixed(2)})`
        : best.distance > MAX_HISTOGRAM_DISTANCE
          ? `the frame's pixels are not clipped Gaussian noise (distance ${best.distance.toFixed(3)} > ${MAX_HISTOGRAM_DISTANCE})`
          : boxDistance > MAX_HISTOGRAM_DISTANCE
            ? `the digits' pixels are not gain, offset and Gaussian noise (distance ${boxDistance.toFixed(3)} > ${MAX_HISTOGRAM_DISTANCE})`
            : null;
  const gaussianFit = fitResult(fitted, why, `Gaussian sensor noise: y = clip(${fitted.gain}·x + ${fitted.offset} + ${fitted.sigma}·z)`, figures, { frameDistance: best.distance, boxDistance, neighbourCorrelation, images: count });
  if (gaussianFit.model) return gaussianFit;
  // not Gaussian: the frame may be spread evenly, the digit the brighter of it and the noise
  const maximum = fitMaximumNoise(frameH, boxH, boxMean, neighbourCorrelation, count, levels);
  return maximum.model ? maximum : { ...gaussianFit, reason: `${gaussianFit.reason}; ${maximum.reason.replace(/^no noise model: /, 'no uniform maximum either: ')}` };
}

/** `fitNoiseModel` for a noisy frame that is no clipped normal: uniform noise under the digit (`searchMaximumNoise`) or none. */
function fitMaximumNoise(frameH: Float64Array, boxH: Float64Array, boxMean: number, neighbourCorrelation: number, count: number, levels: Float64Array): NoiseFit {
  const { level, gain, frameDistance, boxDistance } = searchMaximumNoise(frameH, boxH, boxMean, levels);
  const fitted: MaximumNoiseModel = { kind: 'maximum', gain: round(gain), level: round(level) };
  const spread = level / Math.sqrt(12);
  const figures = `frame uniform on [0, ${fitted.level}], gain ${fitted.gain}; histogram distance ${frameDistance.toFixed(3)} on the frame, ${boxDistance.toFixed(3)} on the digit box; neighbouring frame pixels correlate ${neighbourCorrelation.toFixed(2)}; ${count} images`;
  const why =
    spread < MIN_SIGMA
      ? `no noise worth matching (uniform noise on [0, ${fitted.level}] spreads ${spread.toFixed(3)} < ${MIN_SIGMA})`
      : Math.abs(neighbourCorrelation) > MAX_NEIGHBOUR_CORRELATION
        ? `the background is not white noise (neighbouring frame pixels correlate ${neighbourCorrelation.toFixed(2)})`
        : frameDistance > MAX_HISTOGRAM_DISTANCE
          ? `the frame's pixels are not uniform noise (distance ${frameDistance.toFixed(3)} > ${MAX_HISTOGRAM_DISTANCE})`
          : boxDistance > MAX_HISTOGRAM_DISTANCE
            ? `the digits' pixels are not the brighter of the digit and the noise (distance ${boxDistance.toFixed(3)} > ${MAX_HISTOGRAM_DISTANCE})`
            : null;
  return fitResult(fitted, why, `uniform background noise under the digit: y = max(${fitted.gain}·x, ${fitted.level}·u)`, figures, { frameDistance, boxDistance, neighbourCorrelation, images: count });
}

/** `fitNoiseModel` for a black frame: photon noise or none. */
function fitPhotonNoise(frameH: Float64Array, boxH: Float64Array, boxMean: number, neighbourCorrelation: number, count: number, levels: Float64Array): NoiseFit {
  const { gain, photons, distance } = fitPoisson(boxH, boxMean, levels);
  const fitted: PoissonNoiseModel = { kind: 'poisson', gain: round(gain), photons: Number(photons.toPrecision(3)) };
  const frameDistance = 1 - frameH[0]!;
  const spread = 1 / Math.sqrt(photons);
  const figures = `black frame (${(100 * frameH[0]!).toFixed(1)}% of frame pixels at 0); λ ${fitted.photons} photons at full scale, gain ${fitted.gain}; histogram distance ${distance.toFixed(3)} on the digit box; ${count} images`;
  const why =
    photons > MAX_PHOTONS
      ? `no noise worth matching (photon noise would need λ ${fitted.photons} > ${MAX_PHOTONS}: a spread of ${spread.toFixed(3)} at full intensity)`
      : photons < MIN_PHOTONS
        ? `the digits' pixels are nearly binary, not photon counts (λ ${fitted.photons} < ${MIN_PHOTONS} would make any binarised image)`
        : distance > MAX_HISTOGRAM_DISTANCE
        ? `the digits' pixels are not photon noise (distance ${distance.toFixed(3)} > ${MAX_HISTOGRAM_DISTANCE})`
        : null;
  return fitResult(fitted, why, `photon (shot) noise: y = clip(Poisson(${fitted.photons}·${fitted.gain}·x) / ${fitted.photons})`, figures, { frameDistance, boxDistance: distance, neighbourCorrelation, images: count });
}

/** `fitNoiseModel` for a frame of only black and white pixels: impulse noise or none. */
function fitImpulseNoise(frameH: Float64Array, boxH: Float64Array, neighbourCorrelation: number, count: number, levels: Float64Array): NoiseFit {
  // MNIST's digit box, binned as the competition's: the untouched pixels' histogram
  const clean = new Float64Array(BINS);
  for (let l = 0; l < 256; l++) clean[binOf(l / 255)]! += levels[l]!;
  const amount = Math.min(1, Math.max(0, 1 - grey(boxH) / grey(clean)));
  const white = frameH[BINS - 1]!;
  const salt = amount > 0 ? Math.min(1, white / amount) : 0;
  const fitted: ImpulseNoiseModel = { kind: 'impulse', amount: round(amount), salt: round(salt) };
  const model = clean.map((p) => (1 - amount) * p);
  model[0]! += amount * (1 - salt);
  model[BINS - 1]! += amount * salt;
  const distance = totalVariation(boxH, model);
  const frameDistance = 1 - frameH[0]! - white;
  const figures = `frame pixels ${(100 * frameH[0]!).toFixed(1)}% black, ${(100 * white).toFixed(1)}% white; ${(100 * fitted.amount).toFixed(1)}% of pixels replaced, ${(100 * fitted.salt).toFixed(0)}% of them white; histogram distance ${distance.toFixed(3)} on the digit box; neighbouring frame pixels correlate ${neighbourCorrelation.toFixed(2)}; ${count} images`;
  const why =
    Math.abs(neighbourCorrelation) > MAX_NEIGHBOUR_CORRELATION
      ? `the white frame pixels are not independent (neighbours correlate ${neighbourCorrelation.toFixed(2)})`
      : amount < MIN_IMPULSE
        ? `no noise worth matching (${(100 * amount).toFixed(1)}% of pixels replaced < ${100 * MIN_IMPULSE}%)`
        : distance > MAX_HISTOGRAM_DISTANCE
          ? `the digits' pixels are not impulse noise (distance ${distance.toFixed(3)} > ${MAX_HISTOGRAM_DISTANCE})`
          : null;
  return fitResult(fitted, why, `impulse (salt-and-pepper) noise: each pixel replaced with probability ${fitted.amount}, by white with probability ${fitted.salt}`, figures, { frameDistance, boxDistance: distance, neighbourCorrelation, images: count });
}

/** Side of the square pixel patterns whose histogram an edge map is fitted to. */
const PATTERN = 3;
/** Adds the 3×3 binary patterns (pixel ≥ ½ is 1) of the central 20×20 box of one n×n image (`at(p)` in [0, 1]) into a 512-bin histogram. */
function addPatterns(out: Float64Array, at: (p: number) => number, n: number): void {
  const lo = Math.floor((n - 20) / 2);
  for (let y = lo; y <= lo + 20 - PATTERN; y++) {
    for (let x = lo; x <= lo + 20 - PATTERN; x++) {
      let code = 0;
      for (let dy = 0; dy < PATTERN; dy++) for (let dx = 0; dx < PATTERN; dx++) code = (code << 1) | (at((y + dy) * n + x + dx) >= 0.5 ? 1 : 0);
      out[code]! += 1;
    }
  }
}

/** The edge map of one MNIST digit (0–255 bytes), as the model makes it: 0 or 1 per pixel. */
function edgeMap(model: EdgeMapModel, digit: Uint8Array, n: number): Float64Array {
  return canny(Float64Array.from(digit, (v) => v / 255), n, { sigma: model.sigma, low: model.low, high: model.high });
}

/**
 * `fitNoiseModel` for a binary image: an edge map or none. The
 * histogram of the competition's 3×3 pixel patterns in the digit box (512 of them: how much is
 * lit, and how, thin outlines or filled strokes, which way they run and bend) against that of
 * Canny's edges of MNIST train digits, over a grid of σ; the nearest counts when within
 * `MAX_PATTERN_DISTANCE`. (2×2 patterns could not tell σ 1 from 1.25 on the practice recipe.)
 */
function fitEdgeMap(data: ImageSet, count: number, step: number, digits: MnistSet, neighbourCorrelation: number, frameH: Float64Array): NoiseFit {
  const n = data.size;
  const px = n * n;
  const scale = 1 / data.scale;
  const seen = new Float64Array(1 << (PATTERN * PATTERN));
  for (let i = 0; i < count; i++) {
    const base = Math.floor(i * step) * px;
    addPatterns(seen, (p) => data.images[base + p]! * scale, n);
  }
  const target = normalise(seen);
  const stride = spreadStride(digits, FIT_DIGITS);
  let best: { model: EdgeMapModel; distance: number } = { model: { kind: 'edges', sigma: 1, ...EDGE_THRESHOLDS }, distance: Number.POSITIVE_INFINITY };
  if (digits.rows === n) {
    for (const sigma of EDGE_SIGMAS) {
      const model: EdgeMapModel = { kind: 'edges', sigma, ...EDGE_THRESHOLDS };
      const made = new Float64Array(target.length);
      for (let k = 0; k * stride < digits.count && k < FIT_DIGITS; k++) {
        const src = k * stride * px;
        const edges = edgeMap(model, digits.images.subarray(src, src + px), n);
        addPatterns(made, (p) => edges[p]!, n);
      }
      const distance = totalVariation(target, normalise(made));
      if (distance < best.distance) best = { model, distance };
    }
  }
  const { model, distance } = best;
  const lit = 1 - target[0]!;
  const figures = `binary images (${(100 * frameH[0]!).toFixed(1)}% of frame pixels at 0); nearest edge map σ ${model.sigma}: 3×3-pattern distance ${distance.toFixed(3)} (${(100 * lit).toFixed(1)}% of the box's 3×3 windows lit); ${count} images`;
  const why =
    digits.rows !== n
      ? `the images are ${n}×${n}, MNIST's ${digits.rows}×${digits.rows}`
      : distance > MAX_PATTERN_DISTANCE
        ? `the digits' pixels are binary but not an edge map of MNIST digits (3×3-pattern distance ${distance.toFixed(3)} > ${MAX_PATTERN_DISTANCE})`
        : null;
  return fitResult(model, why, `edge map (Canny, σ ${model.sigma}, thresholds ${model.low} and ${model.high})`, figures, { frameDistance: 1 - frameH[0]!, boxDistance: distance, neighbourCorrelation, images: count });
}

/** A family's fit as `fitNoiseModel` returns it: the model unless `why` refuses it, and the reason with the figures. */
function fitResult(fitted: NoiseModel, why: string | null, description: string, figures: string, stats: Pick<NoiseFit, 'frameDistance' | 'boxDistance' | 'neighbourCorrelation' | 'images'>): NoiseFit {
  return {
    model: why ? null : fitted,
    fitted,
    frameDistance: round(stats.frameDistance),
    boxDistance: round(stats.boxDistance),
    neighbourCorrelation: round(stats.neighbourCorrelation),
    images: stats.images,
    reason: why ? `no noise model: ${why} (${figures})` : `${description} (${figures})`,
  };
}

function round(v: number): number {
  return Number(v.toFixed(4));
}

/** One pixel of intensity `x` in [0, 1] through `model` (a pixel-wise noise). */
function corruptPixel(model: GaussianNoiseModel | PoissonNoiseModel | ImpulseNoiseModel | MaximumNoiseModel, x: number, random: Random): number {
  if (model.kind === 'impulse') return random.next() < model.amount ? (random.next() < model.salt ? 1 : 0) : x;
  if (model.kind === 'maximum') return maximumNoisePixel(model, x, random);
  const y = model.kind === 'poisson' ? poisson(model.photons * model.gain * x, random) / model.photons : model.gain * x + model.offset + model.sigma * random.normal();
  return Math.min(1, Math.max(0, y));
}

/**
 * The MNIST train rows synthetic images are made from: `n` distinct rows of `total` (all of them
 * when n is more), the first draws of `random` (a partial shuffle, so fewer rows are a prefix of
 * more), sorted.
 */
export function syntheticSources(random: Random, total: number, count: number): Uint32Array {
  const n = Math.min(count, total);
  const order = new Uint32Array(total);
  for (let i = 0; i < order.length; i++) order[i] = i;
  for (let i = 0; i < n; i++) {
    const j = i + random.int(order.length - i);
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  return order.slice(0, n).sort();
}

/**
 * `count` MNIST train images (a seeded choice, `syntheticSources`) corrupted by `model`, as
 * 0–255 integers (the corrections format's pixels): noise drawn once, from `seed`. A
 * corruption layer model needs its layers (`layers × size²` values, as `fitCorruptionLayer`
 * returns them): each image gets one of them, drawn at random.
 */
export function synthesizeNoisyImages(mnist: MnistSet, model: NoiseModel, count: number, seed: number, layers?: Float32Array): { images: Uint8Array; labels: Uint8Array; count: number; sources: Uint32Array } {
  const px = mnist.rows * mnist.cols;
  const random = createRandom(seed);
  const n = Math.min(count, mnist.count);
  if (model.kind === 'layer' && (!layers || layers.length < model.layers * px || model.layers < 1)) throw new RangeError(`synthesizeNoisyImages: a corruption layer model needs its ${model.layers} layers of ${px} pixels`);
  const sources = syntheticSources(random, mnist.count, n);
  const images = new Uint8Array(n * px);
  const labels = new Uint8Array(n);
  for (let k = 0; k < n; k++) {
    const src = sources[k]! * px;
    labels[k] = mnist.labels[sources[k]!]!;
    if (model.kind === 'edges') {
      const edges = edgeMap(model, mnist.images.subarray(src, src + px), mnist.rows);
      for (let p = 0; p < px; p++) images[k * px + p] = edges[p]! ? 255 : 0;
      continue;
    }
    if (model.kind === 'glass' || model.kind === 'motion') {
      const digit = mnist.images.subarray(src, src + px);
      const image = model.kind === 'glass' ? blurDigit(model, digit, mnist.rows, random) : motionBlurDigit(model, digit, mnist.rows, random);
      for (let p = 0; p < px; p++) images[k * px + p] = Math.round(255 * image[p]!);
      continue;
    }
    if (model.kind === 'layer') {
      const layer = random.int(model.layers) * px;
      for (let p = 0; p < px; p++) images[k * px + p] = Math.round(255 * Math.min(1, Math.max(0, model.gain * (mnist.images[src + p]! / 255) + layers![layer + p]!)));
      continue;
    }
    for (let p = 0; p < px; p++) {
      images[k * px + p] = Math.round(255 * corruptPixel(model, mnist.images[src + p]! / 255, random));
    }
  }
  return { images, labels, count: n, sources };
}
