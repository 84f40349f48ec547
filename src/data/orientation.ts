/**
 * Image orientation: competitions in the wild store digits transposed (seed 002's InClass
 * data), mirrored or rotated. The cache always holds images the way MNIST draws them
 * (row-major, upright); `orientation` records the transform that import applied to the
 * stored CSV rows to get there, so predictions on test rows see the same layout.
 *
 * The eight names are the symmetries of a square. Each names what is done to a stored
 * image to make it upright (`out[r][c]` in terms of the stored `in`, side `n`):
 *
 *   as-is           out[r][c] = in[r][c]
 *   transpose       out[r][c] = in[c][r]                 (main diagonal)
 *   flip-h          out[r][c] = in[r][n-1-c]             (mirror left ↔ right)
 *   flip-v          out[r][c] = in[n-1-r][c]             (mirror top ↔ bottom)
 *   rot90           out[r][c] = in[c][n-1-r]             (a quarter turn counter-clockwise, as numpy.rot90)
 *   rot180          out[r][c] = in[n-1-r][n-1-c]
 *   rot270          out[r][c] = in[n-1-c][r]             (a quarter turn clockwise)
 *   transpose-anti  out[r][c] = in[n-1-c][n-1-r]         (anti-diagonal)
 *
 * Automatic detection needs a model trained on clean MNIST to score each candidate; that
 * checkpoint does not exist yet, so `detectOrientation` without a scorer answers `as-is`
 * with confidence null. When the checkpoint lands, pass its scorer here (the seam).
 */

export const ORIENTATIONS = ['as-is', 'transpose', 'flip-h', 'flip-v', 'rot90', 'rot180', 'rot270', 'transpose-anti'] as const;
export type Orientation = (typeof ORIENTATIONS)[number];

export const NO_ORIENTATION_CHECKPOINT_NOTE = 'no clean-MNIST checkpoint yet';


export function isOrientation(value: string): value is Orientation {
  return (ORIENTATIONS as readonly string[]).includes(value);
}

/** For each output pixel (row-major), the index of the stored pixel it comes from. */
export function orientationGather(size: number, orientation: Orientation): Uint32Array {
  const n = size;
  const last = n - 1;
  const gather = new Uint32Array(n * n);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) {
      let sr: number;
      let sc: number;
      switch (orientation) {
        case 'as-is': sr = r; sc = c; break;
        case 'transpose': sr = c; sc = r; break;
        case 'flip-h': sr = r; sc = last - c; break;
        case 'flip-v': sr = last - r; sc = c; break;
        case 'rot90': sr = c; sc = last - r; break;
        case 'rot180': sr = last - r; sc = last - c; break;
        case 'rot270': sr = last - c; sc = r; break;
        case 'transpose-anti': sr = last - c; sc = last - r; break;
      }
      gather[r * n + c] = sr * n + sc;
    }
  }
  return gather;
}

/** The orientation that undoes `orientation`. */
export function inverseOrientation(orientation: Orientation): Orientation {
  if (orientation === 'rot90') return 'rot270';
  if (orientation === 'rot270') return 'rot90';
  return orientation;
}

/**
 * Applies `orientation` to every `size`×`size` image in `images` (row-major, one image
 * after another) and returns a new array of the same type; the input is not changed.
 */
export function applyOrientation<T extends Uint8Array | Float32Array>(images: T, size: number, orientation: Orientation): T {
  const pixels = size * size;
  if (!Number.isInteger(size) || size <= 0 || images.length % pixels !== 0) {
    throw new RangeError(`applyOrientation: ${images.length} values are not whole ${size}×${size} images`);
  }
  const out = images.slice() as T;
  if (orientation === 'as-is') return out;
  const gather = orientationGather(size, orientation);
  for (let base = 0; base < images.length; base += pixels) {
    for (let i = 0; i < pixels; i++) out[base + i] = images[base + gather[i]];
  }
  return out;
}

/** Sample images for `detectOrientation`, in the layout the cache stores. */
export interface OrientationSample {
  images: Uint8Array | Float32Array;
  size: number;
  /** Divide by this to get [0, 1] (255 for uint8 caches, 1 for float32). */
  scale: number;
  /** The sample's labels, when the rows carry them (lets a scorer judge per class). */
  labels?: Uint8Array;
}

/**
 * Scores how MNIST-like a batch of upright-candidate images looks (higher is better), for
 * example the mean top-class probability of a model trained on clean MNIST. `images` are
 * in [0, 1], row-major, `count` images of `size`×`size`.
 */
export type OrientationScorer = (images: Float32Array, count: number, size: number, labels?: Uint8Array) => number | Promise<number>;

export interface OrientationDetection {
  orientation: Orientation;
  /** Best score minus runner-up, in the scorer's units; null when nothing scored. */
  confidence: number | null;
  scores: Partial<Record<Orientation, number>>;
  note: string;
}

/** Picks the orientation under which `scorer` finds the sample most MNIST-like. */
export async function detectOrientation(sample: OrientationSample, scorer?: OrientationScorer, options: { margin?: number } = {}): Promise<OrientationDetection> {
  if (!scorer) return { orientation: 'as-is', confidence: null, scores: {}, note: NO_ORIENTATION_CHECKPOINT_NOTE };
  const pixels = sample.size * sample.size;
  const count = Math.floor(sample.images.length / pixels);
  const unit = Float32Array.from(sample.images.subarray(0, count * pixels), (v) => v / sample.scale);
  const scores: Partial<Record<Orientation, number>> = {};
  const ranked: Array<[Orientation, number]> = [];
  for (const orientation of ORIENTATIONS) {
    const score = await scorer(applyOrientation(unit, sample.size, orientation), count, sample.size, sample.labels?.subarray(0, count));
    scores[orientation] = score;
    ranked.push([orientation, score]);
  }
  ranked.sort((a, b) => b[1] - a[1]);
  const [best, runnerUp] = ranked;
  const asIs = scores['as-is'] ?? -Infinity;
  const margin = options.margin ?? 0;
  // Move away from the stored layout only on clear evidence: on data that does not look
  // like digits at all, every orientation scores about the same.
  if (margin > 0 && best[0] !== 'as-is' && !(best[1] - asIs >= margin)) {
    return { orientation: 'as-is', confidence: best[1] - asIs, scores, note: `no orientation beat as-is by ${margin} over ${count} images` };
  }
  return {
    orientation: best[0],
    confidence: runnerUp ? best[1] - runnerUp[1] : null,
    scores,
    note: `scored ${count} images under each of ${ORIENTATIONS.length} orientations`,
  };
}
