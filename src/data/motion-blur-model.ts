/**
 * Motion-blurred digits, the corruption family `fitNoiseModel` (src/data/noise-model.ts) tries
 * when neither pixel noise nor a glass or Gaussian blur (src/data/blur-model.ts) explains a
 * competition's images: a streak along one direction, either ImageMagick's one-sided Gaussian
 * streak (MNIST-C's motion blur, a direction drawn per image) or a centred line (MATLAB's
 * `fspecial('motion')`, n-MNIST's, one fixed direction). Recognised by the histograms of the
 * pixels and of the signed differences between neighbours along four directions (a streak
 * shrinks the differences along itself, and a one-sided one leaves a soft tail on one side and a
 * sharp edge on the other) against those of MNIST train digits so blurred. Its synthetic rows are
 * MNIST train digits blurred by the fitted model (`motionBlurDigit`). Measured in README, "Motion blur".
 */
import { motionBlur, motionBlurTaps } from './corruptions/mnist-c.js';
import { linearMotionBlur, motionKernel } from './corruptions/n-mnist.js';
import { binOf, BINARY_SHARE, BINS, grey, normalise, totalVariation } from './histograms.js';
import type { ImageSet } from './image-set.js';
import { spreadStride, type MnistSet } from './mnist.js';
import { createRandom, type Random } from './random.js';

/**
 * A motion blur. `streak`: ImageMagick's motion blur as MNIST-C calls it, each pixel the
 * one-sided Gaussian-weighted mean (σ = `extent`, radius ⌈10σ/3⌉, MNIST-C's 10 at σ 3) of the
 * pixels ahead of it along the direction. `line`: a centred line of `extent` pixels (MATLAB's
 * `fspecial('motion')`). Each image's direction, in degrees, is drawn uniformly within
 * `angleDegrees` ± `spreadDegrees`.
 */
export interface MotionBlurModel {
  kind: 'motion';
  profile: 'streak' | 'line';
  extent: number;
  angleDegrees: number;
  spreadDegrees: number;
}

/** A motion-blur fit: the nearest model of the search, the model when it is near enough, and why (with the figures). */
export interface MotionBlurFit {
  model: MotionBlurModel | null;
  fitted: MotionBlurModel;
  /** mean total-variation distance of the five histograms of `addMotionStatistics` */
  distance: number;
  reason: string;
}

/**
 * The coarse grid. Streaks: σ 2–5 px, the direction every 45°, spread 0, ±22.5°, ±45° or ±90°
 * (MNIST-C's motion blur: σ 3, radius 10, direction 0 ± 45°). Lines: 5–11 px, the direction every
 * 15° over a half turn (a centred line has no front), spread 0 or ±45° (n-MNIST's: 5 px at 15°).
 */
const STREAK_SIGMAS = [2, 3, 4, 5];
const STREAK_ANGLES = [0, 45, 90, 135, 180, 225, 270, 315];
const STREAK_SPREADS = [0, 22.5, 45, 90];
const LINE_LENGTHS = [5, 7, 9, 11];
const LINE_ANGLES = [0, 15, 30, 45, 60, 75, 90, 105, 120, 135, 150, 165];
const LINE_SPREADS = [0, 45];
/**
 * The shortest streak and line the search tries. Shorter ones are a slight smoothing, which
 * sheared, rotated or warped digits (interpolated) resemble: with σ 1 streaks and 3-pixel
 * lines in the grid, MNIST-C's shear fitted a streak at 0.019 and its rotation at 0.022.
 */
const MIN_EXTENT = { streak: 1.5, line: 4 } as const;
/** The fine search's step either side of a coarse candidate, per parameter and profile: half the coarse grid's. */
const FINE_STEPS = { streak: { extent: 0.5, angleDegrees: 22.5, spreadDegrees: 11.25 }, line: { extent: 1, angleDegrees: 7.5, spreadDegrees: 22.5 } } as const;

/**
 * Largest distance between the five histograms of the competition's images and of the blurred
 * MNIST digits that counts as a fit (`motionDistance`). MNIST-C's and n-MNIST's motion blurs fit
 * their own models at 0.005 and 0.007 (3,000 rows); of the other practice recipes glass blur comes
 * nearest (0.065, and the glass family takes it first), then shear (0.070) and rotation (0.081)
 * (`bench/noise-fits.ts`; README, "Motion blur").
 */
export const MAX_MOTION_DISTANCE = 0.02;
/**
 * The glass family's distance (`fitGlassBlur`, tried first) past which the images are no motion
 * blur either, and the search is skipped: five streaks and lines made from MNIST train digits,
 * up to the grid's longest (σ 5, 11 px, the farthest), lay within 0.094 of some glass or
 * Gaussian blur; clean digits lie at 0.158, translated ones at 0.159, noise at 0.2 and more.
 */
export const FAR_FROM_ANY_BLUR = 0.13;
/** MNIST train digits each model of the coarse grid is made of. */
const COARSE_DIGITS = 120;
/** The nearest models of the coarse grid the fine search starts from. */
const FINE_CANDIDATES = 2;
/** A coarse distance beyond which no finer model will fit (three times `MAX_MOTION_DISTANCE`): the fine search is skipped. */
const FAR_FROM_MOTION = 0.06;
/** The seed of the directions the fit draws (fixed: a fit depends on the images alone). */
const MOTION_FIT_SEED = 11;
/** MNIST train digits each model of the fine search is made of. */
const FIT_DIGITS = 1000;

/** Bins of the signed difference between neighbouring pixels (equal bins over [−1, 1]). */
const DIFFERENCE_BINS = 32;
/** Neighbour offsets (row, column) of the four difference histograms: right, down, down-right, down-left. */
const DIRECTIONS: ReadonlyArray<readonly [number, number]> = [
  [0, 1],
  [1, 0],
  [1, 1],
  [1, -1],
];
const PARTS = DIRECTIONS.length + 1;
const PART_SIZES = [BINS, ...DIRECTIONS.map(() => DIFFERENCE_BINS)];
const PART_STARTS = PART_SIZES.reduce<number[]>((starts, size, i) => [...starts, starts[i]! + size], [0]);

/**
 * Adds one n×n image (`values[offset + p] · scale`, in [0, 1]) to five histograms side by side:
 * its pixels (`binOf`), and the signed differences between each pixel and its neighbour to the
 * right, below, below right and below left (`DIRECTIONS`' order). Written out per direction,
 * on a copy of the image (`image`, overwritten), with no callback per pixel or direction: the
 * fit calls it for every digit of every model it tries.
 */
function addMotionStatistics(out: Float64Array, values: ArrayLike<number>, offset: number, scale: number, n: number, image: Float64Array): void {
  for (let p = 0; p < n * n; p++) image[p] = values[offset + p]! * scale;
  const [right, down, downRight, downLeft] = [PART_STARTS[1]!, PART_STARTS[2]!, PART_STARTS[3]!, PART_STARTS[4]!];
  const differenceBin = (d: number) => Math.max(0, Math.min(DIFFERENCE_BINS - 1, Math.floor(((d + 1) / 2) * DIFFERENCE_BINS)));
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      const p = y * n + x;
      const v = image[p]!;
      out[binOf(v)]! += 1;
      if (x + 1 < n) out[right + differenceBin(image[p + 1]! - v)]! += 1;
      if (y + 1 < n) {
        out[down + differenceBin(image[p + n]! - v)]! += 1;
        if (x + 1 < n) out[downRight + differenceBin(image[p + n + 1]! - v)]! += 1;
        if (x >= 1) out[downLeft + differenceBin(image[p + n - 1]! - v)]! += 1;
      }
    }
  }
}

/** The mean total-variation distance of the five histograms of `addMotionStatistics` (raw counts). */
function motionDistance(a: Float64Array, b: Float64Array): number {
  let sum = 0;
  for (let part = 0; part < PARTS; part++) {
    const lo = PART_STARTS[part]!;
    const hi = PART_STARTS[part + 1]!;
    sum += totalVariation(normalise(a.slice(lo, hi)), normalise(b.slice(lo, hi)));
  }
  return sum / PARTS;
}

/** The streak's radius for its σ: MNIST-C's pair (radius 10, σ 3) scaled. */
export function streakRadius(sigma: number): number {
  return Math.ceil((10 * sigma) / 3 - 1e-9);
}

/** One MNIST digit (0–255 bytes) blurred as `model` says (its direction drawn from `random`), quantised to bytes as integer layouts store it. */
export function motionBlurDigit(model: MotionBlurModel, digit: Uint8Array, n: number, random: Random): Float64Array {
  const angle = drawAngle(model, random);
  const x = Float64Array.from(digit, (v) => v / 255);
  const image = model.profile === 'streak' ? motionBlur(x, n, streakRadius(model.extent), model.extent, angle) : linearMotionBlur(x, n, model.extent, angle);
  for (let p = 0; p < image.length; p++) image[p] = Math.round(255 * image[p]!) / 255;
  return image;
}

/** The direction of one image: drawn within the spread (nothing drawn without one). */
function drawAngle(model: MotionBlurModel, random: Random): number {
  return model.spreadDegrees > 0 ? random.uniform(model.angleDegrees - model.spreadDegrees, model.angleDegrees + model.spreadDegrees) : model.angleDegrees;
}

/**
 * The blur's taps at `angleDegrees`: output pixel (r, c) is Σ w · input(r + dy, c + dx). The
 * streak's as `motionBlur` (mnist-c.ts) takes them, the line's the non-zero cells of `motionKernel`.
 */
export function motionTaps(model: MotionBlurModel, angleDegrees: number): Array<{ dy: number; dx: number; w: number }> {
  if (model.profile === 'streak') {
    const { weights, offsets, total } = motionBlurTaps(streakRadius(model.extent), model.extent, angleDegrees);
    return weights.map((w, i) => ({ dy: offsets[i]![0], dx: offsets[i]![1], w: w / total }));
  }
  const taps: Array<{ dy: number; dx: number; w: number }> = [];
  const { kernel, size } = motionKernel(model.extent, angleDegrees);
  const radius = (size - 1) / 2;
  for (let r = 0; r < size; r++) for (let c = 0; c < size; c++) if (kernel[r * size + c]! !== 0) taps.push({ dy: r - radius, dx: c - radius, w: kernel[r * size + c]! });
  return taps;
}

/**
 * `motionBlurDigit` for the fit, about six times faster: each inked pixel spreads its ink to the pixels
 * whose taps reach it (MNIST digits are 80% blank). The same image as `motionBlurDigit` but where
 * the streak reaches past the border, whose pixels `motionBlur` repeats; MNIST's outermost
 * pixels are blank in all but a few digits, so there it is the same. `out` is overwritten.
 */
export function motionBlurDigitFast(model: MotionBlurModel, digit: Uint8Array, n: number, random: Random, out: Float64Array): Float64Array {
  const taps = motionTaps(model, drawAngle(model, random));
  out.fill(0);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) {
      const v = digit[r * n + c]!;
      if (v === 0) continue;
      const x = v / 255;
      for (const { dy, dx, w } of taps) {
        const tr = r - dy;
        const tc = c - dx;
        if (tr >= 0 && tr < n && tc >= 0 && tc < n) out[tr * n + tc]! += w * x;
      }
    }
  }
  for (let p = 0; p < out.length; p++) out[p] = Math.round(255 * Math.min(1, Math.max(0, out[p]!))) / 255;
  return out;
}

/** The model in words, for reasons and reports. */
export function describeMotionBlur(model: MotionBlurModel): string {
  const spread = model.spreadDegrees > 0 ? ` ± ${model.spreadDegrees}°` : '';
  return model.profile === 'streak'
    ? `motion blur: one-sided Gaussian streak σ ${model.extent} px at ${model.angleDegrees}°${spread}`
    : `motion blur: a line of ${model.extent} px at ${model.angleDegrees}°${spread}`;
}

function coarseGrid(): MotionBlurModel[] {
  const grid: MotionBlurModel[] = [];
  for (const extent of STREAK_SIGMAS) for (const angleDegrees of STREAK_ANGLES) for (const spreadDegrees of STREAK_SPREADS) grid.push({ kind: 'motion', profile: 'streak', extent, angleDegrees, spreadDegrees });
  for (const extent of LINE_LENGTHS) for (const angleDegrees of LINE_ANGLES) for (const spreadDegrees of LINE_SPREADS) grid.push({ kind: 'motion', profile: 'line', extent, angleDegrees, spreadDegrees });
  return grid;
}

/** A candidate's neighbours of the fine search: each parameter moved by its step either way, kept in range (directions modulo a turn, or a half turn for lines). */
function neighbours(model: MotionBlurModel): MotionBlurModel[] {
  const step = FINE_STEPS[model.profile];
  const turn = model.profile === 'streak' ? 360 : 180;
  const out: MotionBlurModel[] = [model];
  for (const sign of [-1, 1]) {
    const extent = model.extent + sign * step.extent;
    if (extent >= MIN_EXTENT[model.profile]) out.push({ ...model, extent });
    out.push({ ...model, angleDegrees: (((model.angleDegrees + sign * step.angleDegrees) % turn) + turn) % turn });
    const spreadDegrees = model.spreadDegrees + sign * step.spreadDegrees;
    if (spreadDegrees >= 0 && spreadDegrees <= 90) out.push({ ...model, spreadDegrees });
  }
  return out;
}

/**
 * `fitNoiseModel`'s family for motion blur: a streak or a line, or none. The histograms of
 * `addMotionStatistics` over the competition's images against those of MNIST train digits
 * blurred by each model of a coarse grid (directions drawn from one fixed seed) on
 * `COARSE_DIGITS` digits, then, unless the nearest is far from any motion blur, the
 * `FINE_CANDIDATES` nearest and their neighbours at half the grid's steps on `FIT_DIGITS`.
 * The nearest counts when within `MAX_MOTION_DISTANCE`.
 */
export function fitMotionBlur(data: ImageSet, count: number, step: number, digits: MnistSet): MotionBlurFit {
  const n = data.size;
  const px = n * n;
  const scale = 1 / data.scale;
  const seen = new Float64Array(PART_STARTS[PARTS]!);
  const scratch = new Float64Array(px);
  for (let i = 0; i < count; i++) addMotionStatistics(seen, data.images, Math.floor(i * step) * px, scale, n, scratch);
  const stride = spreadStride(digits, FIT_DIGITS);
  const greyShare = grey(normalise(seen.slice(0, BINS)));
  const binary = greyShare <= BINARY_SHARE;
  const distanceOf = (model: MotionBlurModel, many: number) => {
    const made = new Float64Array(seen.length);
    const random = createRandom(MOTION_FIT_SEED);
    const image = new Float64Array(px);
    for (let k = 0; k * stride < digits.count && k < many; k++) {
      const src = k * stride * px;
      motionBlurDigitFast(model, digits.images.subarray(src, src + px), n, random, image);
      addMotionStatistics(made, image, 0, 1, n, scratch);
    }
    return motionDistance(seen, made);
  };
  let best: { model: MotionBlurModel; distance: number } = { model: { kind: 'motion', profile: 'streak', extent: 3, angleDegrees: 0, spreadDegrees: 45 }, distance: Number.POSITIVE_INFINITY };
  if (digits.rows === n && !binary) {
    const coarse = coarseGrid().map((model) => ({ model, distance: distanceOf(model, COARSE_DIGITS) }));
    coarse.sort((a, b) => a.distance - b.distance);
    best = coarse[0]!;
    if (best.distance <= FAR_FROM_MOTION) {
      best = { ...best, distance: Number.POSITIVE_INFINITY };
      const tried = new Set<string>();
      for (const { model } of coarse.slice(0, FINE_CANDIDATES)) {
        for (const candidate of neighbours(model)) {
          const key = JSON.stringify(candidate);
          if (tried.has(key)) continue;
          tried.add(key);
          const distance = distanceOf(candidate, FIT_DIGITS);
          if (distance < best.distance) best = { model: candidate, distance };
        }
      }
    }
  }
  const { model, distance } = best;
  const what = describeMotionBlur(model);
  const figures = binary ? `${(100 * greyShare).toFixed(1)}% of pixels grey; ${count} images` : Number.isFinite(distance) ? `nearest ${what}, pixel and signed neighbour-difference distance ${distance.toFixed(3)}; ${count} images` : `${count} images`;
  const why =
    digits.rows !== n
      ? `the images are ${n}×${n}, MNIST's ${digits.rows}×${digits.rows}`
      : binary
        ? 'binary images are no motion blur'
        : distance > MAX_MOTION_DISTANCE
          ? `the digits are not motion-blurred MNIST digits (pixel and signed neighbour-difference distance ${distance.toFixed(3)} > ${MAX_MOTION_DISTANCE})`
          : null;
  return { model: why ? null : model, fitted: model, distance: Number(distance.toFixed(4)), reason: why ? `no noise model: ${why} (${figures})` : `${what} (${figures})` };
}
