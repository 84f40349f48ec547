import { expect, test } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { createRandom } from '../../src/data/random.js';
import { createAugmenter, pixelShiftImages } from '../../src/model/augment.js';

test('whole-pixel shifts move the digit exactly and fill the border from the image\'s own background', () => {
  // Given a uniform-noise image (values in [0.25, 0.5)) with a bright bar
  const rnd = createRandom(9);
  const img = new Float32Array(784);
  for (let i = 0; i < 784; i++) img[i] = 0.25 + 0.25 * rnd.next();
  for (let y = 10; y < 18; y++) img[y * 28 + 14] = 1;
  const shifted = img.slice();
  // When shifted by up to 3 pixels
  pixelShiftImages(shifted, 1, 28, 3, createRandom(4));
  // Then the bar is a whole bar somewhere within ±3 pixels, never smeared
  const bright = [...shifted.keys()].filter((i) => shifted[i] === 1);
  expect(bright).toHaveLength(8);
  const xs = new Set(bright.map((i) => i % 28));
  expect(xs.size).toBe(1);
  const dx = [...xs][0]! - 14;
  const dy = Math.floor(bright[0]! / 28) - 10;
  expect(Math.abs(dx)).toBeLessThanOrEqual(3);
  expect(Math.abs(dy)).toBeLessThanOrEqual(3);
  expect(dx !== 0 || dy !== 0).toBe(true);
  // Every other pixel is one of the original's values: moved, or drawn from its frame (no black, no interpolation)
  const originals = new Set(img);
  for (const v of shifted) expect(originals.has(v)).toBe(true);
  expect(Math.min(...shifted)).toBeGreaterThanOrEqual(0.25);
});

test('pixelShift in an augmenter keeps the noise statistics of a noisy batch', () => {
  const rnd = createRandom(2);
  const batch = new Float32Array(16 * 784).map(() => rnd.next());
  const out = tf.tidy(() => createAugmenter({ pixelShift: 2 }, 5).apply(tf.tensor4d(batch, [16, 28, 28, 1])).dataSync() as Float32Array);
  const mean = (a: Float32Array) => a.reduce((s, v) => s + v, 0) / a.length;
  expect(Math.abs(mean(out) - mean(batch))).toBeLessThan(0.01);
  // a bilinear shift with black fill darkens the borders instead
  const bilinear = tf.tidy(() => createAugmenter({ widthShift: 0.07, heightShift: 0.07 }, 5).apply(tf.tensor4d(batch, [16, 28, 28, 1])).dataSync() as Float32Array);
  expect(mean(batch) - mean(bilinear)).toBeGreaterThan(0.02);
});
