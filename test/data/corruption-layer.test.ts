/**
 * The corruption layer model on real MNIST digits with known sources: an overlay (lines added
 * and clipped) is found at gain 1, a fog that scales the digit down at its gain, and digits under
 * the layers look like the competition's images; clean copies, a corruption that depends on the
 * digit, and images that are mostly not copies are refused.
 */
import { beforeAll, describe, expect, test } from 'vitest';
import { fitCorruptionLayer, MAX_LAYER_DISTANCE, MIN_PAIRED_SHARE } from '../../src/data/corruption-layer.js';
import type { ImageSet } from '../../src/data/image-set.js';
import { readMnist, type MnistSet } from '../../src/data/mnist.js';
import { synthesizeNoisyImages, type CorruptionLayerModel } from '../../src/data/noise-model.js';
import { createRandom, type Random } from '../../src/data/random.js';

const PX = 784;
let mnist: MnistSet;
beforeAll(async () => {
  mnist = await readMnist('train');
});

/** Images made from MNIST train rows 3k (k < count) by `corrupt`, upright in [0, 1], with the sources as matches. */
function copies(count: number, corrupt: (x: Float64Array, random: Random) => Float64Array, seed = 5): { data: ImageSet; matches: Int32Array } {
  const random = createRandom(seed);
  const images = new Float32Array(count * PX);
  const labels = new Uint8Array(count);
  const matches = new Int32Array(count);
  for (let k = 0; k < count; k++) {
    const s = 3 * k;
    const x = Float64Array.from(mnist.images.subarray(s * PX, (s + 1) * PX), (v) => v / 255);
    const y = corrupt(x, random);
    for (let p = 0; p < PX; p++) images[k * PX + p] = Math.round(255 * y[p]!) / 255;
    labels[k] = mnist.labels[s]!;
    matches[k] = s;
  }
  return { data: { images, labels, count, size: 28, scale: 1 }, matches };
}

/** Two random straight lines of full intensity added to the digit and clipped, as MNIST-C draws its lines. */
const lines = (x: Float64Array, random: Random) => {
  const y = Float64Array.from(x);
  for (let l = 0; l < 2; l++) {
    const r0 = random.int(28);
    const r1 = random.int(28);
    for (let c = 0; c < 28; c++) {
      const r = Math.round(r0 + ((r1 - r0) * c) / 27);
      y[r * 28 + c] = Math.min(1, y[r * 28 + c]! + 1);
    }
  }
  return y;
};

/** A smooth random field (a sum of three random waves in [0, 1]) at ¾ strength, the digit at ¼: MNIST-C's fog in form. */
const fog = (x: Float64Array, random: Random) => {
  const waves = Array.from({ length: 3 }, () => ({ fx: random.uniform(0.05, 0.25), fy: random.uniform(0.05, 0.25), phase: random.uniform(0, 6.28) }));
  return x.map((v, p) => {
    const r = Math.floor(p / 28);
    const c = p % 28;
    const field = waves.reduce((s, w) => s + (1 + Math.sin(w.fx * c + w.fy * r + w.phase)) / 6, 0);
    return Math.min(1, 0.25 * v + 0.75 * field);
  });
};

describe('fitCorruptionLayer', () => {
  test('lines drawn over the digit: gain 1, and other digits under the layers have the images\' histogram', () => {
    const { data, matches } = copies(1500, lines);
    const { fit, layers } = fitCorruptionLayer(data, matches, mnist, 0.5);
    expect(fit.model).toEqual({ kind: 'layer', gain: 1, layers: 1500 });
    expect(fit.boxDistance).toBeLessThan(MAX_LAYER_DISTANCE);
    expect(fit.reason).toMatch(/^a corruption layer over the digit: y = clip\(1·x \+ L\)/);
    // a layer is what the lines added: never negative, full where a line crossed black
    expect(layers!.length).toBe(1500 * PX);
    expect(Math.min(...layers!.subarray(0, 20 * PX))).toBeGreaterThanOrEqual(0);
  });

  test('a fog that scales the digit to a quarter: the gain is found, the layer is the fog', () => {
    const { data, matches } = copies(1500, fog);
    const { fit, layers } = fitCorruptionLayer(data, matches, mnist, 1);
    const model = fit.model as CorruptionLayerModel;
    expect(model.kind).toBe('layer');
    expect(Math.abs(model.gain - 0.25)).toBeLessThan(0.02);
    // a layer is its image's fog: over 100 images its correlation with the paired digit averages about 0
    const mean = (a: ArrayLike<number>) => Array.from(a).reduce((t, v) => t + v, 0) / a.length;
    const correlation = (a: ArrayLike<number>, b: ArrayLike<number>) => {
      const ma = mean(a);
      const mb = mean(b);
      let ab = 0;
      let aa = 0;
      let bb = 0;
      for (let p = 0; p < a.length; p++) {
        ab += (a[p]! - ma) * (b[p]! - mb);
        aa += (a[p]! - ma) ** 2;
        bb += (b[p]! - mb) ** 2;
      }
      return ab / Math.sqrt(aa * bb);
    };
    const r = Array.from({ length: 100 }, (_, k) => correlation(mnist.images.subarray(3 * k * PX, (3 * k + 1) * PX), layers!.subarray(k * PX, (k + 1) * PX)));
    expect(Math.abs(mean(r))).toBeLessThan(0.05);
  });

  test('clean copies leave nothing to lay over another digit', () => {
    const { data, matches } = copies(800, (x) => x);
    const { fit, layers } = fitCorruptionLayer(data, matches, mnist, 0.9);
    expect(fit.model).toBeNull();
    expect(layers).toBeNull();
    expect(fit.reason).toMatch(/their MNIST digits as they are/);
  });

  test('a corruption that depends on the digit (a gamma curve) is refused: its layers carry the paired digit', () => {
    const { data, matches } = copies(1500, (x) => x.map((v) => v ** 4));
    const { fit } = fitCorruptionLayer(data, matches, mnist, 0.9);
    expect(fit.model).toBeNull();
    expect(fit.boxDistance).toBeGreaterThan(MAX_LAYER_DISTANCE);
    expect(fit.reason).toMatch(/depends on the digit/);
  });

  test(`fewer than ${100 * MIN_PAIRED_SHARE}% of the images paired: refused`, () => {
    const { data, matches } = copies(1000, lines);
    for (let i = 0; i < 600; i++) matches[i] = -1;
    const { fit } = fitCorruptionLayer(data, matches, mnist, 0.5);
    expect(fit.model).toBeNull();
    expect(fit.reason).toMatch(/too few training images are copies of MNIST train digits \(40\.0%/);
  });
});

describe('synthesizeNoisyImages with a corruption layer', () => {
  test('each image is another MNIST digit under one of the layers, clipped; a model without its layers is refused', () => {
    const { data, matches } = copies(300, lines);
    const { fit, layers } = fitCorruptionLayer(data, matches, mnist, 0.5);
    const model = fit.model as CorruptionLayerModel;
    const s = synthesizeNoisyImages(mnist, model, 400, 3, layers!);
    for (let k = 0; k < s.count; k += 41) {
      const x = mnist.images.subarray(s.sources[k]! * PX, (s.sources[k]! + 1) * PX);
      // some layer l gives exactly this image
      const found = Array.from({ length: model.layers }, (_, l) => l).some((l) =>
        Array.from(s.images.subarray(k * PX, (k + 1) * PX)).every((v, p) => v === Math.round(255 * Math.min(1, Math.max(0, x[p]! / 255 + layers![l * PX + p]!)))),
      );
      expect(found).toBe(true);
      expect(s.labels[k]).toBe(mnist.labels[s.sources[k]!]);
    }
    expect(() => synthesizeNoisyImages(mnist, model, 10, 3)).toThrow(/needs its 300 layers/);
  });
});
