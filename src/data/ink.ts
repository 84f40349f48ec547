/**
 * Ink polarity and test-against-train layout checks, from the first rows of each file (the
 * import's detection sample), without a model: both must hold on noisy competitions too.
 *
 * Polarity. MNIST draws bright ink on a black background; a competition may store dark ink on
 * a light background (white paper). Across a sample, the pixels that vary most are where the
 * strokes fall (the ink region); the outer frame (PROFILE_FRAME pixels wide, as
 * background.ts) is background. Dark-on-light: nearly all frame pixels are on average
 * brighter than the ink region. A noisy background (uniform noise, fog, brightness +0.5)
 * keeps the ink brighter than its frame; mnistc-stripe, whose side columns are inverted, has
 * only part of its frame brighter, so it is not called inverted (checked on every practice
 * recipe: 0% or 100% of frame pixels, stripe 72%).
 *
 * Test against train. Without test labels, each test image is compared (Pearson
 * correlation, so brightness and contrast do not matter) with train's ten class-mean images,
 * and the best match averaged over the sample, under each of the 8 symmetries of the square:
 * test stored like train scores best as-is on every practice recipe (by 0.03 to 0.09 over
 * the runner-up); a test set transposed, mirrored or in another pixel order against train
 * scores best under that transform.
 */
import { ORIENTATIONS, type Orientation, applyOrientation } from './orientation.js';
import { PROFILE_FRAME } from './background.js';

/** Fewer sample images than this and the statistics are noise: no verdict. */
export const MIN_POLARITY_IMAGES = 20;
/** Share of frame pixels brighter than the ink region that makes a sample dark-on-light. */
export const INVERTED_FRAME_SHARE = 0.9;
/** How much brighter than the ink region a frame pixel must be to count. */
const LEVEL_MARGIN = 0.05;

export interface Polarity {
  /** true: dark ink on a light background; false: bright on dark; null: too few images to tell */
  inverted: boolean | null;
  /** mean of the ink region (the tenth of pixels that vary most), in [0, 1] */
  inkLevel: number;
  /** mean of the frame pixels, in [0, 1] */
  frameLevel: number;
  /** share of frame pixels whose mean is brighter than the ink region */
  brighterFrame: number;
  /** in words, for the import's report */
  reason: string;
}

/** The ink polarity of `count` images (values in [0, 1], `size`×`size`, row-major). */
export function inkPolarity(images: Float32Array, count: number, size: number): Polarity {
  const px = size * size;
  const mean = new Float64Array(px);
  const square = new Float64Array(px);
  for (let i = 0; i < count; i++) {
    for (let p = 0; p < px; p++) {
      const v = images[i * px + p]!;
      mean[p] += v;
      square[p] += v * v;
    }
  }
  const sd = new Float64Array(px);
  for (let p = 0; p < px; p++) {
    mean[p] /= Math.max(1, count);
    sd[p] = Math.sqrt(Math.max(0, square[p]! / Math.max(1, count) - mean[p]! * mean[p]!));
  }
  const order = Array.from({ length: px }, (_, p) => p).sort((a, b) => sd[b]! - sd[a]!);
  const inkPixels = order.slice(0, Math.max(1, Math.floor(px / 10)));
  const inkLevel = inkPixels.reduce((sum, p) => sum + mean[p]!, 0) / inkPixels.length;
  let frame = 0;
  let frameSum = 0;
  let brighter = 0;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      if (y >= PROFILE_FRAME && y < size - PROFILE_FRAME && x >= PROFILE_FRAME && x < size - PROFILE_FRAME) continue;
      const m = mean[y * size + x]!;
      frame++;
      frameSum += m;
      if (m > inkLevel + LEVEL_MARGIN) brighter++;
    }
  }
  const frameLevel = frame ? frameSum / frame : 0;
  const brighterFrame = frame ? brighter / frame : 0;
  const figures = `ink region ${inkLevel.toFixed(2)}, frame ${frameLevel.toFixed(2)}, ${Math.round(brighterFrame * 100)}% of frame pixels brighter than the ink, over ${count} images`;
  if (count < MIN_POLARITY_IMAGES || size <= 2 * PROFILE_FRAME) {
    return { inverted: null, inkLevel, frameLevel, brighterFrame, reason: `too few images to tell (${count})` };
  }
  const inverted = brighterFrame >= INVERTED_FRAME_SHARE;
  return { inverted, inkLevel, frameLevel, brighterFrame, reason: figures };
}

/** Fewer labelled train images or test images than these and the layout check is skipped. */
export const MIN_MATCH_TRAIN = 50;
export const MIN_MATCH_TEST = 20;
/** How much better than as-is another orientation must match train for test to be refused. */
export const MATCH_MARGIN = 0.03;

export interface LayoutMatch {
  /** the transform of test's stored images that matches train's best; null when not checked */
  best: Orientation | null;
  /** mean best correlation with train's class means, per orientation of test */
  scores: Partial<Record<Orientation, number>>;
  /** true when another orientation beats as-is by MATCH_MARGIN or more */
  differs: boolean;
  note: string;
}

/** Centres and scales each of `count` vectors of length `px` to unit length, in place (flat ones stay 0). */
function standardise(values: Float32Array, count: number, px: number): Float32Array {
  for (let i = 0; i < count; i++) {
    const row = values.subarray(i * px, (i + 1) * px);
    let sum = 0;
    for (const v of row) sum += v;
    const m = sum / px;
    let norm = 0;
    for (let p = 0; p < px; p++) {
      row[p] -= m;
      norm += row[p]! * row[p]!;
    }
    const scale = norm > 1e-12 ? 1 / Math.sqrt(norm) : 0;
    for (let p = 0; p < px; p++) row[p] *= scale;
  }
  return values;
}

/**
 * How test's images (as stored) line up with train's (as stored): the orientation of test
 * under which its images best match train's class means. Both in [0, 1], `size`×`size`.
 */
export function matchTestToTrain(
  train: { images: Float32Array; labels: Uint8Array; count: number },
  test: { images: Float32Array; count: number },
  size: number,
): LayoutMatch {
  if (train.count < MIN_MATCH_TRAIN || test.count < MIN_MATCH_TEST) {
    return { best: null, scores: {}, differs: false, note: `not checked: too few rows in the sample (train ${train.count}, test ${test.count})` };
  }
  const px = size * size;
  const sums = new Float32Array(10 * px);
  const counts = new Array<number>(10).fill(0);
  for (let i = 0; i < train.count; i++) {
    const label = train.labels[i]!;
    counts[label]!++;
    for (let p = 0; p < px; p++) sums[label * px + p] += train.images[i * px + p]!;
  }
  const present = counts.flatMap((n, label) => (n > 0 ? [label] : []));
  const means = new Float32Array(present.length * px);
  present.forEach((label, j) => {
    for (let p = 0; p < px; p++) means[j * px + p] = sums[label * px + p]! / counts[label]!;
  });
  standardise(means, present.length, px);
  const scores: Partial<Record<Orientation, number>> = {};
  for (const orientation of ORIENTATIONS) {
    const turned = standardise(applyOrientation(test.images.subarray(0, test.count * px), size, orientation), test.count, px);
    let total = 0;
    for (let i = 0; i < test.count; i++) {
      let best = -Infinity;
      for (let j = 0; j < present.length; j++) {
        let dot = 0;
        for (let p = 0; p < px; p++) dot += turned[i * px + p]! * means[j * px + p]!;
        if (dot > best) best = dot;
      }
      total += best;
    }
    scores[orientation] = total / test.count;
  }
  const ranked = ORIENTATIONS.map((o) => [o, scores[o]!] as const).sort((a, b) => b[1] - a[1]);
  const [best, bestScore] = ranked[0]!;
  const asIs = scores['as-is']!;
  const differs = best !== 'as-is' && bestScore - asIs >= MATCH_MARGIN;
  return {
    best,
    scores,
    differs,
    note: `test images match train's class means ${asIs.toFixed(2)} as stored${best === 'as-is' ? '' : `, ${bestScore.toFixed(2)} under ${best}`} (mean correlation over ${test.count} test rows)`,
  };
}
