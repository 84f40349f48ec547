/**
 * `digits augment preview`: what an augmentation does to real digits. Each sample row of
 * the dataset is shown as it is, then as several augmented draws, so a user can see what
 * the ranges mean before training with them.
 */
import * as tf from '../engine/tf.js';
import { assertSourcesUnchanged, loadDataset } from '../data/dataset.js';
import { tilesFor, type DigitTile } from '../data/inspect.js';
import { createRandom } from '../data/random.js';
import { createAugmenter, type AugmentationConfig } from '../model/augment.js';

export interface AugmentPreviewOptions {
  data: string;
  augmentation: AugmentationConfig;
  /** how many dataset rows */
  samples: number;
  /** augmented draws per row */
  variants: number;
  seed: number;
}

export interface AugmentPreview {
  /** per sample: the original tile then its augmented draws */
  tiles: DigitTile[];
  columns: number;
  size: number;
  augmentation: AugmentationConfig;
  /** the training rows drawn, one per sample, in tile order */
  rows: number[];
  /** their labels, as numbers (a tile's `label` is its caption text) */
  labels: number[];
}

export async function previewAugmentation(options: AugmentPreviewOptions): Promise<AugmentPreview> {
  await assertSourcesUnchanged(options.data);
  const dataset = await loadDataset(options.data);
  const count = dataset.trainLabels.length;
  const rnd = createRandom(options.seed);
  const rows = Array.from({ length: Math.min(options.samples, count) }, () => rnd.int(count));
  const originals = tilesFor(dataset, 'train', rows);
  const size = dataset.width;
  const augmenter = createAugmenter(options.augmentation, options.seed);
  const tiles: DigitTile[] = [];
  for (const original of originals) {
    // All draws of one row in one batch.
    const batch = new Float32Array(options.variants * size * size);
    for (let v = 0; v < options.variants; v++) batch.set(original.image, v * size * size);
    const out = tf.tidy(() => augmenter.apply(tf.tensor4d(batch, [options.variants, size, size, 1])).dataSync() as Float32Array);
    tiles.push({ ...original, caption: `${original.caption}`, mark: 'original' });
    for (let v = 0; v < options.variants; v++) {
      tiles.push({ image: out.slice(v * size * size, (v + 1) * size * size), caption: `draw ${v + 1}`, label: original.label });
    }
  }
  return { tiles, columns: options.variants + 1, size, augmentation: options.augmentation, rows, labels: rows.map((row) => dataset.trainLabels[row]!) };
}
