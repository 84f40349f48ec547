import { beforeAll, expect, test } from 'vitest';
import * as tf from '../../src/engine/tf.js';
import { createRandom } from '../../src/data/random.js';
import { createAugmenter, pixelShiftImages, pixelTransformImages } from '../../src/model/augment.js';

// the augmenter's tfjs ops run on the pure-JavaScript backend, whatever an earlier file set
beforeAll(() => tf.setBackend('cpu'));

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

test('whole-pixel rotation turns the digit about the centre without inventing a value', () => {
  // Given a uniform-noise image (values in [0.25, 0.5)) with a bright vertical bar through the centre
  const rnd = createRandom(11);
  const img = new Float32Array(784);
  for (let i = 0; i < 784; i++) img[i] = 0.25 + 0.25 * rnd.next();
  for (let y = 6; y < 22; y++) img[y * 28 + 14] = 1;
  const angles: number[] = [];
  for (let seed = 1; seed <= 12; seed++) {
    const out = img.slice();
    // When rotated by up to 20° (no shift)
    pixelTransformImages(out, 1, 28, 0, 20, createRandom(seed));
    const bright = [...out.keys()].filter((i) => out[i] === 1).map((i) => ({ x: i % 28, y: Math.floor(i / 28) }));
    // Then the bar stays a bar of about its length through the centre
    expect(bright.length).toBeGreaterThanOrEqual(14);
    expect(bright.length).toBeLessThanOrEqual(18);
    const cx = bright.reduce((s, p) => s + p.x, 0) / bright.length;
    const cy = bright.reduce((s, p) => s + p.y, 0) / bright.length;
    expect(Math.abs(cx - 13.5)).toBeLessThan(1.1);
    expect(Math.abs(cy - 13.5)).toBeLessThan(1.1);
    // … tilted by at most the range: x against y has slope tan(θ)
    const sxy = bright.reduce((s, p) => s + (p.x - cx) * (p.y - cy), 0);
    const syy = bright.reduce((s, p) => s + (p.y - cy) ** 2, 0);
    const angle = (Math.atan(sxy / syy) * 180) / Math.PI;
    expect(Math.abs(angle)).toBeLessThan(20 + 4);
    angles.push(angle);
    // … and every pixel is one of the original's values (moved or drawn from its frame)
    const originals = new Set(img);
    for (const v of out) expect(originals.has(v)).toBe(true);
  }
  // Both directions occur, and not all draws are near zero
  expect(Math.min(...angles)).toBeLessThan(-3);
  expect(Math.max(...angles)).toBeGreaterThan(3);
});

test('pixelRotation in an augmenter keeps the noise statistics where a bilinear rotation smooths it', () => {
  const rnd = createRandom(3);
  const batch = new Float32Array(16 * 784).map(() => 0.3 * rnd.next());
  for (let i = 0; i < 16; i++) for (let y = 8; y < 20; y++) for (let x = 12; x < 16; x++) batch[i * 784 + y * 28 + x] = 1;
  const out = tf.tidy(() => createAugmenter({ pixelRotation: 15, pixelShift: 1 }, 5).apply(tf.tensor4d(batch, [16, 28, 28, 1])).dataSync() as Float32Array);
  const mean = (a: Float32Array) => a.reduce((s, v) => s + v, 0) / a.length;
  expect(Math.abs(mean(out) - mean(batch))).toBeLessThan(0.01);
  // the background's spread is kept (bilinear interpolation would shrink it)
  const sd = (a: Float32Array) => { const m = mean(a); return Math.sqrt(a.reduce((s, v) => s + (v - m) ** 2, 0) / a.length); };
  const bg = (a: Float32Array) => a.filter((v) => v < 1);
  expect(Math.abs(sd(bg(out)) - sd(bg(batch)))).toBeLessThan(0.005);
  // on pure noise, nearest-neighbour keeps the spread where bilinear interpolation shrinks it
  const noise = new Float32Array(16 * 784).map(() => 0.3 * rnd.next());
  const nearest = tf.tidy(() => createAugmenter({ pixelRotation: 15 }, 6).apply(tf.tensor4d(noise, [16, 28, 28, 1])).dataSync() as Float32Array);
  const bilinear = tf.tidy(() => createAugmenter({ rotation: 15 }, 6).apply(tf.tensor4d(noise, [16, 28, 28, 1])).dataSync() as Float32Array);
  expect(Math.abs(sd(nearest) - sd(noise))).toBeLessThan(0.003);
  expect(sd(noise) - sd(bilinear.filter((v) => v > 0))).toBeGreaterThan(0.01);
});
