import { beforeAll, expect, test } from 'vitest';
import { initEngine } from '../../src/engine/backend.js';
import { findLearningRate, lrSchedule, suggestLearningRate } from '../../src/training/lr-find.js';
import { memberFromInput } from '../../src/ensemble/ensemble-spec.js';
import { createRandom } from '../../src/data/random.js';

beforeAll(async () => {
  await initEngine({ backend: 'wasm' });
});

test('from scratch: a tenth of where the loss stops falling, ignoring what follows a blow-up', () => {
  const lrs = lrSchedule(1e-5, 1, 11);
  expect(lrs[0]).toBeCloseTo(1e-5, 12);
  expect(lrs[10]).toBeCloseTo(1, 9);
  const losses = [2.3, 2.3, 2.2, 1.9, 1.2, 0.7, 0.5, 0.9, Infinity, 0.1, 0.1];
  const s = suggestLearningRate({ lrs, losses });
  expect(s.lrAtMinimum).toBeCloseTo(lrs[6]!, 12);
  expect(s.lrAtEdge).toBeCloseTo(lrs[6]!, 12);
  expect(s.lr).toBeCloseTo(lrs[6]! / 10, 12);
});

test('from a checkpoint: a flat low curve gives a tenth of where it starts to rise, wherever the noise put its lowest point', () => {
  const lrs = lrSchedule(1e-6, 1, 7);
  const flat = (dip: number) => [0.1, 0.1, 0.1, 0.1, 0.1, 0.3, 2].map((v, i) => (i === dip ? 0.095 : v));
  for (const dip of [0, 2, 4]) {
    const s = suggestLearningRate({ lrs, losses: flat(dip) });
    expect(s.lrAtEdge).toBeCloseTo(lrs[4]!, 12);
    expect(s.lr).toBeCloseTo(lrs[4]! / 10, 12);
  }
});

test('a lucky batch at the start of the curve (the average of one or two batches) does not set the lowest point', () => {
  // Given 100 rates over 1e-6 → 1: a checkpoint's flat curve (0.14 ± 0.01) with a dip to 0.08
  // at the 2nd point, that rises from 1e-2 on
  const lrs = lrSchedule(1e-6, 1, 100);
  const losses = lrs.map((lr, i) => (i === 1 ? 0.08 : lr < 1e-2 ? 0.14 + 0.01 * Math.sin(i) : 0.14 + 20 * (lr - 1e-2)));
  const s = suggestLearningRate({ lrs, losses });
  // Then the edge is where the flat part ends (about 1e-2), not at the dip's 1.1e-6
  expect(s.lrAtMinimum).toBeGreaterThanOrEqual(lrs[10]!);
  expect(s.minimumLoss).toBeGreaterThan(0.12);
  expect(s.lrAtEdge).toBeGreaterThan(5e-3);
  expect(s.lrAtEdge).toBeLessThan(2e-2);
  expect(s.lr).toBeCloseTo(s.lrAtEdge / 10, 12);
});

test('a real range test on a tiny mlp: the loss falls, then blows up and the test stops', async () => {
  // Given 512 separable images (the label is the row of a bright bar)
  const rnd = createRandom(3);
  const n = 512;
  const images = new Float32Array(n * 784);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = i % 10;
    for (let k = 0; k < 784; k++) images[i * 784 + k] = 0.2 * rnd.next();
    for (let x = 4; x < 24; x++) images[i * 784 + (4 + 2 * labels[i]!) * 28 + x] = 1;
  }
  const config = memberFromInput({ name: 'probe', preset: 'mlp', optimizer: 'adam', batchSize: 32, augmentation: {}, seed: 1 }, 0);
  // When the rate sweeps 1e-5 → 10 over 120 batches
  const result = await findLearningRate({ config, data: { images, labels, count: n, size: 28, scale: 1 }, trainRows: Array.from({ length: n }, (_, i) => i), minLr: 1e-5, maxLr: 10, steps: 120 });
  // Then the smoothed loss reached well below its start, the suggestion sits before the minimum, and the test stopped early
  expect(result.suggestion.minimumLoss).toBeLessThan(result.losses[0]! * 0.5);
  expect(result.suggestion.lr).toBeLessThan(result.suggestion.lrAtEdge);
  expect(result.suggestion.lrAtEdge).toBeGreaterThanOrEqual(result.suggestion.lrAtMinimum);
  expect(result.suggestion.lr).toBeGreaterThan(1e-5);
  expect(result.lrs.length).toBeLessThan(120);
}, 60_000);
