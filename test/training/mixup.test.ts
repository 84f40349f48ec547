/**
 * Mixup: its Beta(α, α) draws against the distribution's moments, the mixed batch against its
 * definition (one λ, one permutation, images and targets alike), and a member trained with it
 * (a tiny mlp on MNIST rows, on the whole-step trainer), deterministic by its seed.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '../../src/engine/tf.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createRandom } from '../../src/data/random.js';
import { readMnist } from '../../src/data/mnist.js';
import type { ImageSet } from '../../src/data/image-set.js';
import { initEngine } from '../../src/engine/backend.js';
import { ensembleFromJson } from '../../src/ensemble/ensemble-spec.js';
import { gammaSample, mixBatch, symmetricBetaSample } from '../../src/training/mixup.js';
import { trainMember, type MemberConfig } from '../../src/training/train-member.js';

const moments = (draws: number[]) => {
  const mean = draws.reduce((a, b) => a + b, 0) / draws.length;
  const variance = draws.reduce((a, b) => a + (b - mean) ** 2, 0) / (draws.length - 1);
  return { mean, variance };
};

describe('draws', () => {
  test.each([0.2, 0.4, 1, 2.5])('Gamma(%s) has mean and variance equal to its shape', (shape) => {
    const rnd = createRandom(11);
    const { mean, variance } = moments(Array.from({ length: 40_000 }, () => gammaSample(rnd, shape)));
    // standard errors: √(shape/n) for the mean; the variance's is wider (heavy right tail at small shapes)
    expect(Math.abs(mean - shape)).toBeLessThan(5 * Math.sqrt(shape / 40_000));
    expect(Math.abs(variance / shape - 1)).toBeLessThan(0.08);
  });

  test.each([0.2, 0.4, 2])('Beta(%s, %s) is symmetric about ½ with variance 1 / (4 (2α + 1)) and stays in [0, 1]', (alpha) => {
    const rnd = createRandom(5);
    const draws = Array.from({ length: 40_000 }, () => symmetricBetaSample(rnd, alpha));
    expect(draws.every((v) => v >= 0 && v <= 1)).toBe(true);
    const { mean, variance } = moments(draws);
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.01);
    expect(Math.abs(variance / (1 / (4 * (2 * alpha + 1))) - 1)).toBeLessThan(0.05);
  });

  test('a shape that is not positive is refused', () => {
    expect(() => gammaSample(createRandom(1), 0)).toThrow(RangeError);
  });
});

describe('the mixed batch', () => {
  test('each row is λ of itself and 1 − λ of one other row, the same row for its image and its target', async () => {
    await initEngine({ backend: 'wasm' });
    // Given 6 images whose pixels all hold their row's index, and their one-hot targets
    const x = tf.tensor4d(Float32Array.from({ length: 6 * 4 }, (_, i) => Math.floor(i / 4)), [6, 2, 2, 1]);
    const y = tf.cast(tf.oneHot(tf.tensor1d([0, 1, 2, 3, 4, 5], 'int32'), 10), 'float32');
    const { x: mx, y: my, lambda } = mixBatch(x, y, 0.4, createRandom(3));
    expect(lambda).toBeGreaterThanOrEqual(0);
    expect(lambda).toBeLessThanOrEqual(1);
    const images = mx.arraySync() as number[][][][];
    const targets = my.arraySync() as number[][];
    const partners = new Set<number>();
    for (let i = 0; i < 6; i++) {
      // the target holds λ on its own class and 1 − λ on its partner's (all λ when it is its own partner)
      const row = targets[i]!;
      expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
      const partner = row.findIndex((v, k) => k !== i && v > 1e-6);
      const j = partner < 0 ? i : partner;
      partners.add(j);
      if (j !== i) {
        expect(row[i]).toBeCloseTo(lambda, 5);
        expect(row[j]).toBeCloseTo(1 - lambda, 5);
      }
      // and the image is the same mixture of the two rows' images
      for (const v of images[i]!.flat(2)) expect(v).toBeCloseTo(lambda * i + (1 - lambda) * j, 4);
    }
    // the partners are a permutation of the batch
    expect(partners.size).toBe(6);
    tf.dispose([x, y, mx, my]);
  });

  test('ensemble files take "mixup" as α > 0 and name it when it is not', () => {
    const spec = ensembleFromJson(JSON.stringify({ members: [{ preset: 'mlp', mixup: 0.2 }] }));
    expect(spec.members[0]!.mixup).toBe(0.2);
    expect(() => ensembleFromJson(JSON.stringify({ members: [{ preset: 'mlp', mixup: 0 }] }), 'e.json')).toThrow(/members\[0\]\.mixup: must be > 0/);
  });
});

describe('a member trained with mixup', () => {
  let dir: string;
  let data: ImageSet;
  beforeAll(async () => {
    await initEngine({ backend: 'wasm' });
    dir = await mkdtemp(path.join(os.tmpdir(), 'digits-mixup-'));
    const mnist = await readMnist('train');
    data = { images: mnist.images.subarray(0, 900 * 784), labels: mnist.labels.subarray(0, 900), count: 900, size: 28, scale: 255 };
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('learns, and the same seed gives the same weights', { timeout: 120_000 }, async () => {
    const config: MemberConfig = { name: 'mix', preset: 'mlp', optimizer: 'adam', learningRate: 1e-3, schedule: { kind: 'constant' }, augmentation: {}, epochs: 2, batchSize: 50, seed: 3, mixup: 0.4 };
    const train = (out: string) =>
      trainMember({ config, data, trainRows: Array.from({ length: 700 }, (_, i) => i), validationRows: Array.from({ length: 200 }, (_, i) => 700 + i), outDir: path.join(dir, out), metadata: { orientation: 'as-is', dataFingerprint: 'test', command: 'vitest' } });
    const a = await train('a');
    const b = await train('b');
    // (an mlp on 700 MNIST rows reaches about 85% in two epochs; chance is 10%)
    expect(a.bestValAcc).toBeGreaterThan(0.6);
    expect(b.history.map((h) => h.valLoss)).toEqual(a.history.map((h) => h.valLoss));
  });
});
