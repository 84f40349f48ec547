/**
 * The clean-MNIST checkpoint as an orientation detector for `data import`: under the
 * right orientation a model trained on upright MNIST is most confident, so the import
 * scores a sample of rows under the 8 symmetries of the square with it (mean top-class
 * probability) and keeps the best.
 */
import { access } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '../engine/tf.js';
import type { OrientationScorer } from '../data/orientation.js';
import { loadCheckpoint, readCheckpointMetadata } from '../model/checkpoint.js';
import { PACKAGE_ROOT } from '../model/shipped.js';
import { fromSpec } from '../model/preprocess.js';

/** Shipped clean checkpoints, in order of preference. */
const CANDIDATES = ['seed002', 'deotte'];

export async function findCleanCheckpoint(root = PACKAGE_ROOT): Promise<string | null> {
  for (const preset of CANDIDATES) {
    const dir = path.join(root, 'checkpoints', 'mnist-clean', preset);
    const ok = await access(path.join(dir, 'COMPLETE')).then(
      () => true,
      () => false,
    );
    if (ok) return dir;
  }
  return null;
}

/**
 * From this many labelled sample rows the class means judge; below it the model's confidence
 * does, with the margin (session 42: it was 100 and fewer rows scored 0 everywhere, so a 90-row
 * transposed competition was kept as stored, reported as checked, and scored chance. At 50–60
 * rows the class means found the orientation of 18 practice competitions of 6 recipes, 3 seeds
 * each, without a miss; at 30 noisy rows they had picked flip-h, so the margin stays).
 */
export const MIN_LABELLED_ROWS = 50;

export interface OrientationModel {
  scorer: OrientationScorer;
  /** score (mean probability of the right class, or of the top class without labels) another orientation must gain over as-is to be chosen */
  margin: number;
  /** identifies the model (checkpoint folder + weights hash) for cache freshness */
  fingerprint: string;
  checkpoint: string;
  dispose(): void;
}

/** Loads a clean checkpoint as a scorer (on the engine already initialised). */
export async function loadOrientationModel(checkpoint: string): Promise<OrientationModel> {
  const metadata = await readCheckpointMetadata(checkpoint);
  const { model } = await loadCheckpoint(checkpoint);
  const pre = fromSpec(metadata.preprocessing);
  const expected = metadata.preprocessing.padTo ? 28 : (model.inputs[0]!.shape[1] ?? 28);
  const predict = (images: Float32Array, count: number, size: number): Float32Array => {
    const probs = tf.tidy(() => model.predict(pre.apply(tf.tensor4d(images, [count, size, size, 1]))) as tf.Tensor2D);
    const out = probs.dataSync() as Float32Array;
    probs.dispose();
    return out;
  };
  const scorer: OrientationScorer = (images, count, size, labels) => {
    // Another image size: the model cannot tell; every orientation scores the same.
    if (size !== expected || count === 0) return 0;
    // Too few labelled rows for class means (they are still noise): the model's confidence
    // instead, as without labels (it returned 0 for every orientation, and a transposed
    // competition of 90 rows was kept as stored and scored chance, reported as checked).
    if (!labels || count < MIN_LABELLED_ROWS) {
      // No labels: how confident the model is, on average.
      const probs = predict(images, count, size);
      let sum = 0;
      for (let i = 0; i < count; i++) sum += Math.max(...probs.subarray(i * 10, i * 10 + 10));
      return sum / count;
    }
    // With labels: the mean image of each class averages the noise away (a noisy
    // competition can fool a clean model image by image), stretched to [0,1]; the score
    // is the mean probability the model gives each class mean its own label.
    const px = size * size;
    const means = new Float32Array(10 * px);
    const counts = new Array<number>(10).fill(0);
    for (let i = 0; i < count; i++) {
      const label = labels[i]!;
      counts[label]!++;
      for (let p = 0; p < px; p++) means[label * px + p] += images[i * px + p]!;
    }
    const present = counts.flatMap((n, label) => (n > 0 ? [label] : []));
    const stacked = new Float32Array(present.length * px);
    present.forEach((label, j) => {
      const mean = means.subarray(label * px, (label + 1) * px).map((v) => v / counts[label]!);
      // Background = the median level (digits cover well under half of an MNIST image);
      // stretch what rises above it to [0,1], so noisy backgrounds read as black.
      const background = Float32Array.from(mean).sort()[Math.floor(px / 2)]!;
      const top = Math.max(...mean);
      for (let p = 0; p < px; p++) stacked[j * px + p] = top > background ? Math.min(1, Math.max(0, (mean[p]! - background) / (top - background))) : 0;
    });
    const probs = predict(stacked, present.length, size);
    let sum = 0;
    present.forEach((label, j) => (sum += probs[j * 10 + label]!));
    return sum / present.length;
  };
  return {
    scorer,
    margin: 0.1,
    fingerprint: `${metadata.preset}:${metadata.files['weights.bin']}`,
    checkpoint,
    dispose: () => model.dispose(),
  };
}
