import { beforeAll, expect, test } from 'vitest';
import * as tf from '../../src/engine/tf.js';
import { createRandom } from '../../src/data/random.js';
import { createAugmenter, elasticImages } from '../../src/model/augment.js';

// the augmenter's tfjs ops run on the pure-JavaScript backend, whatever an earlier file set
beforeAll(() => tf.setBackend('cpu'));

test('elastic distortion displaces pixels by the root-mean-square distance asked for, smoothly', () => {
  // Given ramps whose value is the column (horizontal) or the row (vertical): bilinear
  // sampling of a ramp reads back the displacement itself wherever the sample stays inside
  const size = 56;
  const ramp = (axis: 'x' | 'y') => Float32Array.from({ length: size * size }, (_, i) => (axis === 'x' ? i % size : Math.floor(i / size)));
  for (const rms of [0.5, 1.5, 3]) {
    const dx = ramp('x');
    const dy = ramp('y');
    // When both are distorted with the same random stream (so the same field)
    elasticImages(dx, 1, size, rms, 4, false, createRandom(11));
    elasticImages(dy, 1, size, rms, 4, false, createRandom(11));
    let sq = 0;
    let n = 0;
    let jump = 0;
    for (let y = 14; y < size - 14; y++) {
      for (let x = 14; x < size - 14; x++) {
        const ux = dx[y * size + x]! - x;
        const uy = dy[y * size + x]! - y;
        sq += ux * ux + uy * uy;
        n++;
        jump = Math.max(jump, Math.abs(ux - (dx[y * size + x + 1]! - x - 1)));
      }
    }
    // Then the displacement's root-mean-square is the one asked for (in the interior, whose samples all stay inside)
    expect(Math.sqrt(sq / n)).toBeGreaterThan(0.75 * rms);
    expect(Math.sqrt(sq / n)).toBeLessThan(1.25 * rms);
    // and neighbours move together: a field smoothed over 4 pixels changes little from one pixel to the next
    expect(jump).toBeLessThan(0.5 * rms);
  }
});

test('elastic distortion sampled nearest-neighbour invents no value, and zero displacement changes nothing', () => {
  const rnd = createRandom(3);
  const img = Float32Array.from({ length: 784 }, () => 0.25 + 0.25 * rnd.next());
  for (let y = 8; y < 20; y++) img[y * 28 + 13] = 1;
  const out = img.slice();
  elasticImages(out, 1, 28, 2, 4, true, createRandom(5));
  const originals = new Set(img);
  for (const v of out) expect(originals.has(v)).toBe(true);
  expect(out).not.toEqual(img);
  const same = img.slice();
  elasticImages(same, 1, 28, 0, 4, false, createRandom(5));
  expect(same).toEqual(img);
});

test('an augmenter with elastic distorts each image of a batch differently and keeps ink in the image', () => {
  const digit = new Float32Array(784);
  for (let y = 6; y < 22; y++) for (let x = 12; x < 16; x++) digit[y * 28 + x] = 1;
  const batch = new Float32Array(4 * 784);
  for (let i = 0; i < 4; i++) batch.set(digit, i * 784);
  const out = tf.tidy(() => createAugmenter({ elastic: 1.5 }, 7).apply(tf.tensor4d(batch, [4, 28, 28, 1])).dataSync() as Float32Array);
  const images = [0, 1, 2, 3].map((i) => out.subarray(i * 784, (i + 1) * 784));
  const ink = (a: Float32Array) => a.reduce((s, v) => s + v, 0);
  for (const image of images) {
    expect(image).not.toEqual(digit);
    expect(Math.abs(ink(image) - ink(digit)) / ink(digit)).toBeLessThan(0.2);
  }
  expect(images[0]).not.toEqual(images[1]);
});
