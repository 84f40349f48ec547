/**
 * The clean-MNIST checkpoint as an orientation detector for `data import`: under the
 * right orientation a model trained on upright MNIST is most confident, so the import
 * scores a sample of rows under the 8 symmetries of the square with it (mean top-class
 * probability) and keeps the best.
 */
import { access } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { OrientationScorer } from '../data/orientation.js';
import { loadCheckpoint, readCheckpointMetadata } from './checkpoint.js';
import { PACKAGE_ROOT } from './train-ensemble.js';
import { fromSpec } from './train.js';

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

export interface OrientationModel {
  scorer: OrientationScorer;
  /** mean top-class probability another orientation must gain over as-is to be chosen */
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
  const inputSize = (model.inputs[0]!.shape[1] ?? 28) - 0;
  const expected = metadata.preprocessing.padTo ? 28 : inputSize;
  const scorer: OrientationScorer = (images, count, size) => {
    // Another image size: the model cannot tell; every orientation scores the same.
    if (size !== expected || count === 0) return 0;
    const probs = tf.tidy(() => model.predict(pre.apply(tf.tensor4d(images, [count, size, size, 1]))) as tf.Tensor2D);
    const top = tf.tidy(() => tf.mean(tf.max(probs, 1)));
    const score = top.dataSync()[0]!;
    tf.dispose([probs, top]);
    return score;
  };
  return {
    scorer,
    margin: 0.05,
    fingerprint: `${metadata.preset}:${metadata.files['weights.bin']}`,
    checkpoint,
    dispose: () => model.dispose(),
  };
}
