/**
 * Scoring a model on fixed rows while it trains: a member's validation rows after every epoch,
 * pretraining's t10k at its end. Where tfjs computes on wasm or the plain CPU backend, the
 * model is exported to ONNX in memory and run by ONNX Runtime instead, about 4–5× faster per
 * image on seed002 (`bench/scoring.ts`; README, "Scoring while training"). On a
 * native tfjs backend (tfjs-node, a GPU) tfjs predicts; so it does when ONNX Runtime does not
 * load or a layer has no export rule.
 */
import * as tf from '../engine/tf.js';
import { LOG_LOSS_EPSILON } from '../log-loss.js';
import type { ImageSet } from '../data/image-set.js';
import { onnxRuntimeStatus } from '../engine/ort.js';
import { createOnnxPredictorForModel, type Predictor } from '../inference/predictor.js';
import { gatherImages, gatherPixels, type Preprocessor } from '../model/preprocess.js';

/** Class probabilities for rows of a data set, in batches, on tfjs. */
export function predictRows(model: tf.LayersModel, pre: Preprocessor, data: ImageSet, rows: ArrayLike<number>, batchSize = 256): Float32Array {
  const out = new Float32Array(rows.length * 10);
  for (let start = 0; start < rows.length; start += batchSize) {
    const end = Math.min(rows.length, start + batchSize);
    const probs = tf.tidy(() => {
      const x = gatherImages(data, rows, start, end);
      return model.predict(pre.apply(x)) as tf.Tensor;
    });
    out.set(probs.dataSync() as Float32Array, start * 10);
    probs.dispose();
  }
  return out;
}

export function lossAndAccuracy(probs: Float32Array, labels: Uint8Array, rows: ArrayLike<number>): { loss: number; acc: number } {
  let loss = 0;
  let correct = 0;
  for (let i = 0; i < rows.length; i++) {
    const label = labels[rows[i]!]!;
    let best = 0;
    for (let k = 1; k < 10; k++) if (probs[i * 10 + k]! > probs[i * 10 + best]!) best = k;
    if (best === label) correct++;
    loss -= Math.log(Math.max(LOG_LOSS_EPSILON, probs[i * 10 + label]!));
  }
  return { loss: loss / Math.max(1, rows.length), acc: correct / Math.max(1, rows.length) };
}

/** `auto`: ONNX Runtime when tfjs runs on wasm or cpu and ONNX Runtime loads, else tfjs. */
export type ScoringEngine = 'auto' | 'onnx' | 'tfjs';

export interface RowScorer {
  /** the engine that scores now, and why */
  readonly reason: string;
  /**
   * Settles the engine for `model` before the first score: where ONNX Runtime was chosen but the
   * model does not export (a layer without a rule, another image size), the scorer falls back
   * now, so `reason` is right from the start. Scoring settles it too when this was not called.
   */
  prepare(model: tf.LayersModel): Promise<void>;
  /** class probabilities of `model` (as it is now) for the rows, rows.length × 10 */
  predict(model: tf.LayersModel): Promise<Float32Array>;
  /** log-loss and accuracy of `model` on the rows */
  score(model: tf.LayersModel): Promise<{ loss: number; acc: number }>;
}

/** Scores models on `rows` of `data` (labels from `data`), with `pre` the models' preprocessing. */
export function createRowScorer(data: ImageSet, rows: ArrayLike<number>, pre: Preprocessor, engine: ScoringEngine = 'auto'): RowScorer {
  const backend = tf.getBackend();
  const status = onnxRuntimeStatus();
  let onnx = engine === 'onnx' || (engine === 'auto' && status.available && (backend === 'wasm' || backend === 'cpu'));
  let reason = onnx ? 'onnxruntime-node fp32, 1 thread (the model exported in memory)' : engine === 'tfjs' ? `tfjs on ${backend} (asked for)` : status.available ? `tfjs on ${backend}` : `tfjs on ${backend}: ${status.reason}`;
  // The raw pixels in [0,1], gathered once: the rows do not change between epochs.
  let raw: Float32Array | null = null;
  const rawImages = (): Float32Array => (raw ??= gatherPixels(data, rows, 0, rows.length));
  // An ONNX session for the model as it is now, or null after falling back to tfjs.
  const open = async (model: tf.LayersModel): Promise<Predictor | null> => {
    if (!onnx) return null;
    const predictor = await createOnnxPredictorForModel(model, pre.spec, { threads: 1 });
    if (predictor && predictor.imageSize === data.size) return predictor;
    predictor?.dispose();
    if (engine === 'onnx') throw new Error(`cannot score ${model.name} on ONNX Runtime: ${predictor ? `it takes ${predictor.imageSize}×${predictor.imageSize} images, the rows are ${data.size}×${data.size}` : status.available ? 'a layer has no ONNX export rule' : status.reason}`);
    onnx = false;
    raw = null;
    reason = `tfjs on ${backend}: ${predictor ? 'the exported model takes other image sizes' : 'a layer has no ONNX export rule'}`;
    return null;
  };
  const predict = async (model: tf.LayersModel): Promise<Float32Array> => {
    const predictor = await open(model);
    if (!predictor) return predictRows(model, pre, data, rows);
    try {
      return Float32Array.from(await predictor.predict(rawImages(), rows.length));
    } finally {
      predictor.dispose();
    }
  };
  return {
    get reason() {
      return reason;
    },
    async prepare(model) {
      (await open(model))?.dispose();
    },
    predict,
    async score(model) {
      return lossAndAccuracy(await predict(model), data.labels, rows);
    },
  };
}
