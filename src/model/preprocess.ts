/**
 * Preprocessing: raw [0,1] pixels → a preset's network input (padding, scaling,
 * standardisation). Shared by training, inference and export, so it lives with the model.
 */
import * as tf from '../engine/tf.js';
import type { ImageSet } from '../data/image-set.js';
import type { CheckpointPreprocessing } from './checkpoint.js';
import type { Preset } from './presets.js';


export interface Preprocessor {
  spec: CheckpointPreprocessing;
  /** [B,size,size,1] in [0,1] → the network's input */
  apply(x: tf.Tensor4D): tf.Tensor4D;
}

export function preprocessorFor(preset: Preset, data?: ImageSet, rows?: ArrayLike<number>): Preprocessor {
  const { scale, padTo } = preset.preprocessing;
  let mean = 0;
  let std = 1;
  if (scale === 'standardize') {
    if (!data) throw new Error(`preset ${preset.name} standardises its input: it needs the training data to compute mean and std`);
    // Global pixel mean/std of the training rows (in [0,1] units).
    let sum = 0;
    let sumSq = 0;
    let n = 0;
    const px = data.size * data.size;
    const list = rows ?? Array.from({ length: data.count }, (_, i) => i);
    for (let r = 0; r < list.length; r++) {
      const base = list[r]! * px;
      for (let i = 0; i < px; i++) {
        const v = data.images[base + i]! / data.scale;
        sum += v;
        sumSq += v * v;
      }
      n += px;
    }
    mean = sum / n;
    std = Math.sqrt(Math.max(1e-12, sumSq / n - mean * mean));
  }
  return fromSpec({ scale, padTo, ...(scale === 'standardize' ? { mean, std } : {}) });
}

export function fromSpec(spec: CheckpointPreprocessing): Preprocessor {
  return {
    spec,
    apply(x) {
      return tf.tidy(() => {
        let out: tf.Tensor4D = x;
        if (spec.padTo && spec.padTo > x.shape[1]) {
          const total = spec.padTo - x.shape[1];
          const before = Math.floor(total / 2);
          out = tf.pad(out, [[0, 0], [before, total - before], [before, total - before], [0, 0]]);
        }
        if (spec.scale === '-1-1') out = tf.sub(tf.mul(out, 2), 1);
        else if (spec.scale === 'standardize') out = tf.div(tf.sub(out, spec.mean ?? 0), spec.std ?? 1);
        return out;
      });
    },
  };
}

/** Rows `start`…`end` of `rows` of a data set as raw pixels in [0,1], row-major, one after another. */
export function gatherPixels(data: ImageSet, rows: ArrayLike<number>, start: number, end: number): Float32Array {
  const px = data.size * data.size;
  const n = end - start;
  const out = new Float32Array(n * px);
  const inv = 1 / data.scale;
  for (let i = 0; i < n; i++) {
    const base = rows[start + i]! * px;
    for (let k = 0; k < px; k++) out[i * px + k] = data.images[base + k]! * inv;
  }
  return out;
}

/** Gathers rows into a [B,size,size,1] float tensor in [0,1]. */
export function gatherImages(data: ImageSet, rows: ArrayLike<number>, start: number, end: number): tf.Tensor4D {
  return tf.tensor4d(gatherPixels(data, rows, start, end), [end - start, data.size, data.size, 1]);
}

