/**
 * Orientation detection with a clean-MNIST model: a small model trained here on upright
 * MNIST rows finds how a noisy, transposed sample (the seed-002 layout) must be turned.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { readMnist } from '../../src/data/mnist.js';
import { applyOrientation, detectOrientation, ORIENTATIONS } from '../../src/data/orientation.js';
import { createRandom } from '../../src/data/random.js';
import { initEngine } from '../../src/engine/backend.js';
import { loadOrientationModel, type OrientationModel } from '../../src/inference/orientation-model.js';
import { trainMember } from '../../src/training/train-member.js';

let dir: string;
let detector: OrientationModel;
let sample: { images: Float32Array; labels: Uint8Array };

beforeAll(async () => {
  await initEngine({ backend: 'wasm' });
  dir = await mkdtemp(path.join(os.tmpdir(), 'digits-orient-'));
  const mnist = await readMnist('train');
  // Given a dense model trained on 3,000 upright MNIST rows
  const rows = Array.from({ length: 3000 }, (_, i) => i);
  const result = await trainMember({
    config: { name: 'clean', preset: 'mlp', optimizer: 'adam', learningRate: 1e-3, schedule: { kind: 'constant' }, augmentation: {}, epochs: 3, batchSize: 64, seed: 1 },
    data: { images: mnist.images, labels: mnist.labels, count: mnist.count, size: 28, scale: 255 },
    trainRows: rows.slice(0, 2700),
    validationRows: rows.slice(2700),
    outDir: path.join(dir, 'clean'),
    metadata: { orientation: 'as-is', dataFingerprint: 'test', command: 'vitest' },
  });
  detector = await loadOrientationModel(result.checkpoint);
  // and 300 other rows stored like seed 002's competition: noisy (max(digit, U(0,1))) and transposed
  const rnd = createRandom(9);
  const upright = Float32Array.from(mnist.images.subarray(10_000 * 784, 10_300 * 784), (v) => Math.max(v / 255, rnd.next()));
  sample = { images: applyOrientation(upright, 28, 'transpose'), labels: mnist.labels.slice(10_000, 10_300) };
}, 120_000);

afterAll(async () => {
  detector.dispose();
  await rm(dir, { recursive: true, force: true });
});

test('with labels, class means reveal the transpose despite the noise', async () => {
  const detection = await detectOrientation({ images: sample.images, size: 28, scale: 1, labels: sample.labels }, detector.scorer, { margin: detector.margin });
  expect(detection.orientation).toBe('transpose');
  expect(detection.confidence!).toBeGreaterThan(detector.margin);
  expect(Object.keys(detection.scores).sort()).toEqual([...ORIENTATIONS].sort());
});

test('images already upright stay as they are', async () => {
  const upright = applyOrientation(sample.images, 28, 'transpose');
  const detection = await detectOrientation({ images: upright, size: 28, scale: 1, labels: sample.labels }, detector.scorer, { margin: detector.margin });
  expect(detection.orientation).toBe('as-is');
});

test('pure noise does not move away from as-is', async () => {
  const rnd = createRandom(4);
  const noise = Float32Array.from({ length: 300 * 784 }, () => rnd.next());
  const detection = await detectOrientation({ images: noise, size: 28, scale: 1, labels: sample.labels }, detector.scorer, { margin: detector.margin });
  expect(detection.orientation).toBe('as-is');
});

test('another image size scores nothing, so nothing moves', async () => {
  expect(await detector.scorer(new Float32Array(10 * 16 * 16), 10, 16)).toBe(0);
});

test('the import command detects the transposed practice competition with the shipped checkpoint', async () => {
  // Given the shipped clean checkpoint and a uniform practice competition of 400 rows
  const { findCleanCheckpoint } = await import('../../src/inference/orientation-model.js');
  const { buildPracticeCompetition } = await import('../../src/data/practice.js');
  const { importCompetition, resolveCompetitionFiles } = await import('../../src/data/import.js');
  const shipped = await findCleanCheckpoint();
  expect(shipped).not.toBeNull();
  const model = await loadOrientationModel(shipped!);
  try {
    const out = path.join(dir, 'uniform');
    await buildPracticeCompetition({ recipe: 'uniform', out, trainRows: 400, testRows: 10, seed: 11 });
    const importWith = async (rows: string) => {
      const files = await resolveCompetitionFiles([rows]);
      return importCompetition({ ...files, out: path.join(rows, '.digits'), force: true, orientationScorer: model.scorer, orientationModel: model.fingerprint, orientationMargin: model.margin });
    };
    // When it is imported, Then the transposition is found and undone
    const report = await importWith(out);
    expect(report.orientation).toBe('transpose');
    // And from 50 labelled rows on the class means judge (a 90-row competition was kept as stored until session 42)
    const small = path.join(dir, 'small');
    await buildPracticeCompetition({ recipe: 'uniform', out: small, trainRows: 60, testRows: 5, seed: 11 });
    expect((await importWith(small)).orientation).toBe('transpose');
    // And below that the model's confidence judges, with the margin: on noise too weak to move, nothing is turned, and it says so
    const tiny = path.join(dir, 'tiny');
    await buildPracticeCompetition({ recipe: 'uniform', out: tiny, trainRows: 30, testRows: 5, seed: 11 });
    const report30 = await importWith(tiny);
    expect(report30.orientation).toBe('as-is');
    expect(report30.detected.orientation.reason).toMatch(/no orientation beat as-is by 0\.1 over 30 images/);
  } finally {
    model.dispose();
  }
}, 120_000);
