/**
 * Which of a competition's training images are copies of reference digits: each image is
 * paired with the reference digit it correlates with best (Pearson correlation of the pixels,
 * so brightness, contrast and an added background move it little), and the pair is kept only
 * when both choose each other (the reference digit correlates with no other training image
 * better) and the best correlation beats the image's second best by `minGap`.
 *
 * Used to find training rows whose digits the starting checkpoints never trained on (their
 * pretraining validation rows), which can then be held out: rows a checkpoint pretrained on
 * make its networks look better than they are (README, "Ensemble selection and memorised
 * holdout rows"). Corruptions that move the strokes (rotation, shear, scale, translation)
 * or replace them (edges) leave few pairs, and the caller falls back to a random holdout.
 *
 * The correlations are one matrix product per block of images (tfjs, on the backend in use).
 */
import * as tf from '../engine/tf.js';

export interface MatchImages {
  /** count × size² pixels, upright */
  images: Float32Array | Uint8Array;
  count: number;
  size: number;
}

export interface SourceMatchOptions {
  /** best minus second-best correlation an image needs (default MATCH_MIN_GAP) */
  minGap?: number;
  /** images per matrix product (default 2048) */
  blockRows?: number;
}

export interface SourceMatch {
  /** per image, the reference digit it is a copy of, or -1 */
  matches: Int32Array;
  /** how many images were matched */
  matched: number;
  /** per image, its best correlation with a reference digit */
  best: Float32Array;
  /** per image, best minus second-best correlation */
  gap: Float32Array;
  /** per image, the standard deviation of its correlations with the reference digits it was compared with */
  spread: Float32Array;
}

/**
 * The gap a match needs. Matched within label against all 60,000 MNIST train digits, on the
 * bench's practice competitions (12,000 rows each): at 0.02, every image matched on the noise,
 * line, brightness and fog corruptions (70–97% of the rows) was matched to its own source; on
 * rotation, shear, scale, translation, edges, stripes and motion blur 5–18% of the rows matched,
 * mostly wrongly.
 */
export const MATCH_MIN_GAP = 0.02;

/** Rows centred and scaled to unit length, as a tensor (count × pixels). */
function standardised(set: MatchImages, from: number, to: number): tf.Tensor2D {
  const px = set.size * set.size;
  const out = new Float32Array((to - from) * px);
  for (let r = from; r < to; r++) {
    const o = (r - from) * px;
    let mean = 0;
    for (let k = 0; k < px; k++) mean += set.images[r * px + k]!;
    mean /= px;
    let norm = 0;
    for (let k = 0; k < px; k++) {
      const v = set.images[r * px + k]! - mean;
      out[o + k] = v;
      norm += v * v;
    }
    const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
    for (let k = 0; k < px; k++) out[o + k]! *= scale;
  }
  return tf.tensor2d(out, [to - from, px]);
}

/**
 * Pairs `images` with `reference` digits (same size) as described above; with labels, an image
 * is compared only with reference digits of its own label (a copy has its source's label).
 */
export async function matchSources(images: MatchImages & { labels?: ArrayLike<number> }, reference: MatchImages & { labels?: ArrayLike<number> }, options: SourceMatchOptions = {}): Promise<SourceMatch> {
  if (images.size !== reference.size) throw new RangeError(`matchSources: images are ${images.size}² pixels, the reference ${reference.size}²`);
  const minGap = options.minGap ?? MATCH_MIN_GAP;
  const blockRows = Math.max(1, options.blockRows ?? 2048);
  const n = images.count;
  const px = images.size * images.size;
  const best = new Float32Array(n).fill(-Infinity);
  const gap = new Float32Array(n);
  const spread = new Float32Array(n);
  const bestRef = new Int32Array(n).fill(-1);
  // per reference digit, the image that correlates with it best
  const refBest = new Float32Array(reference.count).fill(-Infinity);
  const refBestImage = new Int32Array(reference.count).fill(-1);
  const groups = new Map<number, { rows: number[]; refs: number[] }>();
  const group = (label: number) => groups.get(label) ?? groups.set(label, { rows: [], refs: [] }).get(label)!;
  for (let r = 0; r < n; r++) group(images.labels ? images.labels[r]! : 0).rows.push(r);
  for (let j = 0; j < reference.count; j++) group(reference.labels ? reference.labels[j]! : 0).refs.push(j);
  const pick = (set: MatchImages, rows: number[]): MatchImages => {
    const out = new Float32Array(rows.length * px);
    rows.forEach((r, i) => {
      for (let k = 0; k < px; k++) out[i * px + k] = set.images[r * px + k]!;
    });
    return { images: out, count: rows.length, size: set.size };
  };
  for (const { rows, refs } of groups.values()) {
    if (rows.length === 0 || refs.length === 0) continue;
    // transposed once: a product with a transposed operand is several times slower on wasm
    const ref = tf.tidy(() => tf.transpose(standardised(pick(reference, refs), 0, refs.length)));
    const mine = pick(images, rows);
    try {
      for (let from = 0; from < rows.length; from += blockRows) {
        const to = Math.min(rows.length, from + blockRows);
        const k = Math.min(2, refs.length);
        const out = tf.tidy(() => {
          const scores = tf.matMul(standardised(mine, from, to), ref);
          const { values, indices } = tf.topk(scores, k);
          const { variance } = tf.moments(scores, 1);
          return [values, indices, tf.sqrt(variance), tf.max(scores, 0), tf.argMax(scores, 0)];
        });
        const [t, ix, sd, cm, ca] = await Promise.all(out.map((x) => x.data()));
        tf.dispose(out);
        for (let i = 0; i < to - from; i++) {
          const r = rows[from + i]!;
          best[r] = t![i * k]!;
          bestRef[r] = refs[ix![i * k]!]!;
          gap[r] = k === 2 ? t![i * k]! - t![i * k + 1]! : Infinity;
          spread[r] = sd![i]!;
        }
        refs.forEach((j, q) => {
          if (cm![q]! > refBest[j]!) {
            refBest[j] = cm![q]!;
            refBestImage[j] = rows[from + ca![q]!]!;
          }
        });
      }
    } finally {
      ref.dispose();
    }
  }
  const matches = new Int32Array(n).fill(-1);
  let matched = 0;
  for (let r = 0; r < n; r++) {
    const j = bestRef[r]!;
    if (j >= 0 && refBestImage[j] === r && gap[r]! >= minGap) {
      matches[r] = j;
      matched++;
    }
  }
  return { matches, matched, best, gap, spread };
}
