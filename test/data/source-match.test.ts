/**
 * matchSources on real MNIST digits: noisy, brighter copies of reference digits are paired with
 * their own source and nothing else; images that are not pixel copies (transposed digits) are
 * almost never paired; labels restrict the comparison to one class.
 */
import { beforeAll, describe, expect, test } from 'vitest';
import { createRandom } from '../../src/data/random.js';
import { readMnist, type MnistSet } from '../../src/data/mnist.js';
import { applyOrientation } from '../../src/data/orientation.js';
import { matchSources } from '../../src/data/source-match.js';
import { initEngine } from '../../src/engine/backend.js';

const PX = 784;
let mnist: MnistSet;
let reference: { images: Uint8Array; labels: Uint8Array; count: number; size: number };

beforeAll(async () => {
  await initEngine({ backend: 'wasm' });
  mnist = await readMnist('train');
  // Given 3,000 MNIST train digits as the reference
  reference = { images: mnist.images.subarray(0, 3000 * PX), labels: mnist.labels.subarray(0, 3000), count: 3000, size: 28 };
}, 60_000);

/** Copies of reference rows `sources`: brightened, with Gaussian noise (σ 0.25), clipped. */
function noisyCopies(sources: number[], seed: number): Float32Array {
  const random = createRandom(seed);
  const out = new Float32Array(sources.length * PX);
  sources.forEach((s, i) => {
    for (let k = 0; k < PX; k++) out[i * PX + k] = Math.min(1, Math.max(0, 0.2 + 0.7 * (mnist.images[s * PX + k]! / 255) + 0.25 * random.normal()));
  });
  return out;
}

describe('matchSources', () => {
  test('pairs noisy copies with their own source digits and no other', async () => {
    const sources = Array.from({ length: 400 }, (_, i) => (i * 7) % 3000);
    const images = { images: noisyCopies(sources, 1), count: sources.length, size: 28, labels: Uint8Array.from(sources, (s) => mnist.labels[s]!) };
    const m = await matchSources(images, reference, { blockRows: 150 });
    const wrong = sources.filter((s, i) => m.matches[i]! >= 0 && m.matches[i] !== s).length;
    expect(wrong).toBe(0);
    expect(m.matched).toBeGreaterThan(0.9 * sources.length);
    expect(m.matched).toBe(Array.from(m.matches).filter((j) => j >= 0).length);
    // without labels every reference digit is a candidate: the same pairs
    const unlabelled = await matchSources({ ...images, labels: undefined }, { ...reference, labels: undefined });
    expect(sources.filter((s, i) => unlabelled.matches[i]! >= 0 && unlabelled.matches[i] !== s).length).toBe(0);
    expect(unlabelled.matched).toBeGreaterThan(0.9 * sources.length);
  });

  test('transposed digits are not copies: few pairs', async () => {
    const sources = Array.from({ length: 400 }, (_, i) => i);
    const transposed = applyOrientation(noisyCopies(sources, 2), 28, 'transpose');
    const m = await matchSources({ images: transposed, count: 400, size: 28, labels: Uint8Array.from(sources, (s) => mnist.labels[s]!) }, reference);
    expect(m.matched).toBeLessThan(0.25 * 400);
  });

  test('refuses images of another size', async () => {
    await expect(matchSources({ images: new Float32Array(16), count: 1, size: 4 }, reference)).rejects.toThrow(/pixels/);
  });
});
