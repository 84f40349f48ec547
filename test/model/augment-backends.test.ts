/**
 * Geometric augmentation gives the same images on every tfjs backend. tfjs's cpu kernel for
 * `tf.image.transform` zeroes every image after the first of a batch; `transformImages` works
 * around it, and wasm (its own kernel) is the reference.
 */
import { afterAll, expect, test } from 'vitest';
import * as tf from '../../src/engine/tf.js';
import '@tensorflow/tfjs-backend-wasm';
import { createAugmenter } from '../../src/model/augment.js';

const before = tf.getBackend();
afterAll(async () => {
  if (before) await tf.setBackend(before);
});

/** Three digit-like images (a bright block in the middle of each, different in each) augmented on `backend`. */
async function augmentOn(backend: string): Promise<Float32Array> {
  await tf.setBackend(backend);
  await tf.ready();
  const pixels = new Float32Array(3 * 784);
  for (let k = 0; k < 3; k++) for (let y = 8 + k; y < 20; y++) for (let x = 10; x < 18 - k; x++) pixels[k * 784 + y * 28 + x] = 1;
  const images = tf.tensor4d(pixels, [3, 28, 28, 1]);
  const out = createAugmenter({ rotation: 10, zoom: 0.1, widthShift: 0.1, heightShift: 0.1 }, 7).apply(images);
  const data = (await out.data()) as Float32Array;
  tf.dispose([images, out]);
  return data;
}

test('rotation, zoom and shifts: the cpu backend transforms every image of a batch as wasm does', async () => {
  const wasm = await augmentOn('wasm');
  const cpu = await augmentOn('cpu');
  for (let k = 0; k < 3; k++) {
    const ink = (data: Float32Array) => data.subarray(k * 784, (k + 1) * 784).reduce((a, b) => a + b, 0);
    // every image keeps its ink (the cpu kernel left images 2 and 3 black)
    expect(ink(cpu), `image ${k + 1}`).toBeGreaterThan(50);
    let worst = 0;
    for (let i = k * 784; i < (k + 1) * 784; i++) worst = Math.max(worst, Math.abs(cpu[i]! - wasm[i]!));
    expect(worst, `image ${k + 1}`).toBeLessThan(1e-4);
  }
});
