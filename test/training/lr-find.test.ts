import { beforeAll, expect, test } from 'vitest';
import { initEngine } from '../../src/engine/backend.js';
import { findLearningRate, lossSmoother, lrSchedule, rangeTestDiverged, suggestLearningRate } from '../../src/training/lr-find.js';
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

test('lucky first batches do not set the lowest point while the average still carries them', () => {
  // Given 150 batches over 1e-6 → 1 from a checkpoint whose batches cost 0.25 ± 0.03 until
  // 3e-3 and more after it, where the first three batches happened to cost 0.02 (rotated
  // digits from the clean checkpoint did this; the 11th point was the lowest)
  const lrs = lrSchedule(1e-6, 1, 150);
  const rnd = createRandom(7);
  const batches = lrs.map((lr, i) => (i < 3 ? 0.02 : 0.25 + 0.03 * (rnd.next() - 0.5) * 2 + (lr > 3e-3 ? 30 * (lr - 3e-3) : 0)));
  const smooth = lossSmoother();
  const losses = batches.map(smooth);
  expect(losses[10]).toBeLessThan(0.22); // more than the tolerance (0.02) below the flat part
  // When a rate is suggested
  const s = suggestLearningRate({ lrs, losses });
  // Then the flat part's end is found, not the tail of the lucky start
  expect(s.minimumLoss).toBeGreaterThan(0.2);
  expect(s.lrAtEdge).toBeGreaterThan(1e-3);
  expect(s.lrAtEdge).toBeLessThan(1e-2);
});

test("the range test stops on a blown-up loss, not on a checkpoint's batch noise after a lucky start", () => {
  const planned = 150;
  // a checkpoint: a lucky start at 0.014, then batches at 0.06 (over 4 × 0.014)
  const checkpoint = [0.038, 0.02, 0.014, 0.046, 0.054, 0.046, 0.04, 0.034, 0.048, 0.063];
  expect(rangeTestDiverged(checkpoint, planned)).toBe(false);
  const flat = [...checkpoint, ...Array.from({ length: 40 }, (_, i) => 0.05 + 0.01 * Math.sin(i))];
  expect(rangeTestDiverged(flat, planned)).toBe(false);
  // four times its lowest point but only 0.15 nats above it: still noise
  expect(rangeTestDiverged([...flat, 0.2], planned)).toBe(false);
  // blown up: four times and half a nat above the lowest point after the start
  expect(rangeTestDiverged([...flat, 0.6], planned)).toBe(true);
  expect(rangeTestDiverged([...flat, Infinity], planned)).toBe(true);
  // from fresh weights the factor decides: 1.3 → 5.0 is not yet four times, 5.3 is
  const scratch = Array.from({ length: 60 }, (_, i) => 2.3 - i / 60);
  expect(rangeTestDiverged([...scratch, 5.0], planned)).toBe(false);
  expect(rangeTestDiverged([...scratch, 5.3], planned)).toBe(true);
  // a non-finite loss stops it even among the skipped first points
  expect(rangeTestDiverged([2.3, NaN], planned)).toBe(true);
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
