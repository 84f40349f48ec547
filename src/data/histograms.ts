/**
 * The pixel histograms the corruption models are fitted with (src/data/noise-model.ts,
 * src/data/blur-model.ts, src/data/corruption-layer.ts, src/data/maximum-noise-model.ts): intensities
 * in [0, 1] in bins that keep exact black and exact white apart, the distance between two
 * histograms, and a model's gain from a histogram's mean.
 */

export const INTERIOR_BINS = 32;
/** bins: [exactly 0, 32 equal bins inside (0, 1), exactly 1] */
export const BINS = INTERIOR_BINS + 2;
/** Half a grey level of a byte image: a pixel this near 0 or 1 counts as exactly black or white. */
export const ATOM = 0.5 / 255;

export function binOf(v: number): number {
  if (v <= ATOM) return 0;
  if (v >= 1 - ATOM) return BINS - 1;
  return 1 + Math.min(INTERIOR_BINS - 1, Math.floor(v * INTERIOR_BINS));
}

/** The bins' edges: bin b holds [BIN_EDGES[b], BIN_EDGES[b + 1]) (`binOf`), so a model's histogram is its CDF's steps there. */
export const BIN_EDGES: readonly number[] = (() => {
  const edges = [Number.NEGATIVE_INFINITY, ATOM];
  for (let k = 1; k < INTERIOR_BINS; k++) edges.push(k / INTERIOR_BINS);
  edges.push(1 - ATOM, Number.POSITIVE_INFINITY);
  return edges;
})();

/** The gain at which `meanAt(gain)`, increasing in the gain, equals `target` (bisection on [0, 3]): a model's gain from a histogram's mean. */
export function solveGain(meanAt: (gain: number) => number, target: number): number {
  let lo = 0;
  let hi = 3;
  for (let k = 0; k < 24; k++) {
    const mid = (lo + hi) / 2;
    if (meanAt(mid) < target) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** At most this share of pixels strictly between 0 and 1 (`grey`), and an image is binary: black and white only. */
export const BINARY_SHARE = 0.01;

/** A histogram's share strictly between 0 and 1 (neither of its two end bins). */
export function grey(h: Float64Array): number {
  return 1 - h[0]! - h[BINS - 1]!;
}

export function normalise(h: Float64Array): Float64Array {
  let total = 0;
  for (const v of h) total += v;
  return total > 0 ? h.map((v) => v / total) : h;
}

export function totalVariation(a: Float64Array, b: Float64Array): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d += Math.abs(a[i]! - b[i]!);
  return d / 2;
}
