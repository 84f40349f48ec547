/** Soft voting of members over TTA variants, straight from raw images. */
import { UserError } from '../errors.js';
import { checkImages, type Predictor } from '../inference/predictor.js';
import { IDENTITY, shiftImages, type Shift } from './tta.js';

export interface EnsembleOptions {
  /** shifts to average over; default none (the identity only). `TTA_8` is the usual 8-way set. */
  tta?: readonly Shift[];
  /** rows (images × TTA variants) per member call; default 1024 */
  rowsPerCall?: number;
  /** called after each batch of images, with how many are done */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Soft voting: the mean, over members and TTA variants, of the class probabilities of
 * `count` raw images. Each batch is stacked once (variant after variant) and each member
 * runs once on the stack; its output is summed into the result in one pass.
 */
export async function predictEnsemble(predictors: readonly Predictor[], images: Float32Array, count: number, options: EnsembleOptions = {}): Promise<Float32Array> {
  if (predictors.length === 0) throw new Error('an ensemble needs at least one member');
  const size = predictors[0]!.imageSize;
  const mismatched = predictors.find((p) => p.imageSize !== size);
  if (mismatched) throw new UserError(`ensemble members take different image sizes (${size} and ${mismatched.imageSize})`);
  const shifts = options.tta && options.tta.length > 0 ? options.tta : IDENTITY;
  const px = size * size;
  checkImages(images, count, px);
  const variants = shifts.length;
  const perBatch = Math.max(1, Math.floor((options.rowsPerCall ?? 1024) / variants));
  // Without augmentation the members read the caller's images in place.
  const identityOnly = variants === 1 && shifts[0]!.dx === 0 && shifts[0]!.dy === 0;
  const stack = identityOnly ? null : new Float32Array(Math.min(perBatch, count) * variants * px);
  let out: Float32Array | null = null;
  let classes = 0;
  for (let start = 0; start < count; start += perBatch) {
    const n = Math.min(perBatch, count - start);
    let batch: Float32Array;
    if (stack) {
      shifts.forEach((shift, t) => shiftImages(images, start, n, size, shift, stack, t * n * px));
      batch = stack;
    } else {
      batch = images.subarray(start * px, (start + n) * px);
    }
    for (const predictor of predictors) {
      const probs = await predictor.predict(batch, n * variants);
      if (!out) {
        classes = probs.length / (n * variants);
        out = new Float32Array(count * classes);
      }
      const base = start * classes;
      for (let t = 0; t < variants; t++) {
        const from = t * n * classes;
        for (let j = 0; j < n * classes; j++) out[base + j]! += probs[from + j]!;
      }
    }
    options.onProgress?.(start + n, count);
  }
  if (!out) return new Float32Array(0);
  const scale = 1 / (predictors.length * variants);
  for (let j = 0; j < out.length; j++) out[j]! *= scale;
  return out;
}
