/**
 * Held-out rows whose digits no starting checkpoint trained on.
 *
 * Every shipped checkpoint pretrained on MNIST train except 5,002 validation rows. A
 * competition made of MNIST digits (Kaggle's Digit Recognizer, the practice competitions)
 * shares most of its training digits with that pretraining, so on a random holdout the
 * networks that remember those digits best look best: the lowest fine-tuning rates, the
 * start pretrained longest (README, "Ensemble selection and memorised holdout rows"). When a
 * competition's training images are copies of MNIST train digits, the rows that are copies
 * of the checkpoints' validation digits are rows none of them saw, and they are the holdout.
 *
 * Copies are found by `matchSources` against all of MNIST train (a copy of a digit the
 * checkpoints trained on finds its own source, not a validation digit). The holdout is used
 * only when most training images are copies (`UNSEEN_MIN_SHARE`) and enough rows qualify
 * (`UNSEEN_MIN_ROWS`); otherwise the caller keeps its random stratified holdout, and the
 * reason says why.
 */
import { applyOrientation } from '../data/orientation.js';
import type { Dataset } from '../data/dataset.js';
import type { MnistSet } from '../data/mnist.js';
import { MATCH_MIN_GAP, matchSources } from '../data/source-match.js';
import { readCheckpointMetadata } from '../model/checkpoint.js';
import { resolveInit } from '../model/shipped.js';
import { pretrainingValidationRows } from './pretrain.js';

/**
 * Share of the training images that must be copies of MNIST train digits. On the bench's
 * practice competitions (12,000 rows), corruptions that keep the strokes in place gave 70–97%
 * copies, all of them right; rotation, shear, scale, translation, edges, stripes and motion blur
 * gave 5–18%, mostly wrong.
 */
export const UNSEEN_MIN_SHARE = 0.5;
/** Fewest rows an unseen holdout may have (a 12,000-row competition of MNIST digits has about 1,000). */
export const UNSEEN_MIN_ROWS = 100;

export interface UnseenHoldout {
  /** the held-out rows (ascending), or null: keep the random holdout */
  rows: number[] | null;
  reason: string;
  /** training images found to be copies of MNIST train digits */
  copies: number;
  /** MNIST train digits no starting checkpoint trained on (0 when unknown) */
  pool: number;
  /** those digits (MNIST train row numbers, ascending), when known */
  poolRows?: number[];
  minGap: number;
}

/**
 * The MNIST train rows none of `checkpoints` trained on (the intersection of their
 * pretraining validation rows), or null when a checkpoint's metadata does not say.
 */
export async function unseenMnistRows(checkpoints: readonly string[], mnist: Pick<MnistSet, 'labels'>): Promise<{ rows: Set<number> | null; reason: string }> {
  if (checkpoints.length === 0) return { rows: null, reason: 'no starting checkpoint' };
  const each: Array<Set<number>> = [];
  for (const checkpoint of checkpoints) {
    const validation = pretrainingValidationRows(await readCheckpointMetadata(await resolveInit(checkpoint)), mnist);
    if (!validation) return { rows: null, reason: `${checkpoint} does not record which MNIST train rows it held out` };
    each.push(new Set(validation));
  }
  const rows = new Set([...each[0]!].filter((r) => each.every((set) => set.has(r))));
  return { rows, reason: `${rows.size} MNIST train digits none of the ${checkpoints.length} starting checkpoints trained on` };
}

/** The unseen holdout of `dataset` for members starting from `checkpoints` (see above). */
export async function findUnseenHoldout(dataset: Pick<Dataset, 'trainImages' | 'trainLabels' | 'width' | 'height' | 'orientation'>, checkpoints: readonly string[], mnist: MnistSet): Promise<UnseenHoldout> {
  const none = (reason: string, copies = 0, pool = 0): UnseenHoldout => ({ rows: null, reason, copies, pool, minGap: MATCH_MIN_GAP });
  if (dataset.width !== mnist.cols || dataset.height !== mnist.rows) return none(`the images are ${dataset.width}×${dataset.height}, MNIST's ${mnist.cols}×${mnist.rows}`);
  const unseen = await unseenMnistRows(checkpoints, mnist);
  if (!unseen.rows || unseen.rows.size === 0) return none(unseen.reason);
  const count = dataset.trainLabels.length;
  // correlation ignores the pixel scale
  const images = applyOrientation(dataset.trainImages, dataset.width, dataset.orientation);
  const match = await matchSources({ images, count, size: dataset.width, labels: dataset.trainLabels }, { images: mnist.images, count: mnist.count, size: mnist.rows, labels: mnist.labels });
  const share = match.matched / count;
  const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
  if (share < UNSEEN_MIN_SHARE) {
    return none(`${pct(share)} of the training images are copies of MNIST train digits (below ${pct(UNSEEN_MIN_SHARE)}): a random holdout`, match.matched, unseen.rows.size);
  }
  const rows: number[] = [];
  for (let r = 0; r < count; r++) if (match.matches[r]! >= 0 && unseen.rows.has(match.matches[r]!)) rows.push(r);
  if (rows.length < UNSEEN_MIN_ROWS) {
    return none(`${pct(share)} of the training images are copies of MNIST train digits, but only ${rows.length} of digits no starting checkpoint trained on (fewer than ${UNSEEN_MIN_ROWS}): a random holdout`, match.matched, unseen.rows.size);
  }
  return {
    rows,
    reason: `${pct(share)} of the training images are copies of MNIST train digits; the ${rows.length} copies of ${unseen.reason} are the holdout`,
    copies: match.matched,
    pool: unseen.rows.size,
    poolRows: [...unseen.rows].sort((a, b) => a - b),
    minGap: MATCH_MIN_GAP,
  };
}
