import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '../../src/engine/tf.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { readMnist } from '../../src/data/mnist.js';
import { initEngine } from '../../src/engine/backend.js';
import { createAugmenter } from '../../src/model/augment.js';
import { loadCheckpoint, readCheckpointMetadata } from '../../src/model/checkpoint.js';
import { fromSpec } from '../../src/model/preprocess.js';
import { trainMember, type MemberConfig, type TrainEvent } from '../../src/training/train-member.js';
import { lossAndAccuracy, predictRows } from '../../src/training/validation.js';
import { type ImageSet } from '../../src/data/image-set.js';

let dir: string;
let data: ImageSet;
const trainRows = Array.from({ length: 1000 }, (_, i) => i);
const validationRows = Array.from({ length: 200 }, (_, i) => 1000 + i);

beforeAll(async () => {
  await initEngine({ backend: 'wasm' });
  dir = await mkdtemp(path.join(os.tmpdir(), 'digits-train-'));
  const mnist = await readMnist('train');
  data = { images: mnist.images.subarray(0, 1200 * 784), labels: mnist.labels.subarray(0, 1200), count: 1200, size: 28, scale: 255 };
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const base: MemberConfig = {
  name: 'm',
  preset: 'mlp',
  optimizer: 'adam',
  learningRate: 1e-3,
  schedule: { kind: 'constant' },
  augmentation: {},
  epochs: 2,
  batchSize: 50,
  seed: 7,
};
const metadata = { orientation: 'as-is', dataFingerprint: 'test', command: 'vitest' };

describe('augmentation', () => {
  const image = () => {
    // a bright bar on the left half of an 8×8 image
    const v = new Float32Array(64);
    for (let y = 2; y < 6; y++) v[y * 8 + 2] = 1;
    return tf.tensor4d(v, [1, 8, 8, 1]);
  };

  test('the same seed gives the same batch; another seed another one', () => {
    const x = image();
    const config = { rotation: 15, widthShift: 0.1, heightShift: 0.1, zoom: 0.1, noise: 0.05, erasing: 0.5 };
    const a = createAugmenter(config, 1).apply(x).dataSync();
    const b = createAugmenter(config, 1).apply(x).dataSync();
    const c = createAugmenter(config, 2).apply(x).dataSync();
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(a)).not.toEqual(Array.from(c));
    for (const v of a) expect(v >= 0 && v <= 1).toBe(true);
  });

  test('background noise raises the background, never lowers a pixel, and keeps bright strokes', () => {
    const x = image();
    const before = x.dataSync();
    const after = createAugmenter({ backgroundNoise: 1 }, 5).apply(tf.tile(x, [16, 1, 1, 1]) as tf.Tensor4D).dataSync();
    let raised = 0;
    for (let i = 0; i < after.length; i++) {
      expect(after[i]!).toBeGreaterThanOrEqual(before[i % 64]!);
      if (before[i % 64] === 1) expect(after[i]).toBe(1);
      if (after[i]! > before[i % 64]!) raised++;
    }
    // about half the background of 16 images is lifted (levels are drawn per image)
    expect(raised).toBeGreaterThan(16 * 60 * 0.3);
  });

  test('no ranges is the identity; a shift moves the mass sideways, not up or down', () => {
    const x = image();
    expect(Array.from(createAugmenter({}, 1).apply(x).dataSync())).toEqual(Array.from(x.dataSync()));
    const centre = (t: tf.Tensor) => {
      const v = t.dataSync();
      let sx = 0;
      let sy = 0;
      let m = 0;
      for (let i = 0; i < 64; i++) {
        sx += (i % 8) * v[i]!;
        sy += Math.floor(i / 8) * v[i]!;
        m += v[i]!;
      }
      return [sx / m, sy / m];
    };
    const [x0, y0] = centre(x);
    const shifted = createAugmenter({ widthShift: 0.25 }, 3).apply(x);
    const [x1, y1] = centre(shifted);
    expect(Math.abs(x1! - x0!)).toBeGreaterThan(0.05);
    expect(Math.abs(x1! - x0!)).toBeLessThanOrEqual(2.01);
    expect(Math.abs(y1! - y0!)).toBeLessThan(0.05);
  });
});

describe('trainMember', () => {
  test('trains, validates on held-out rows, and writes best/, last/ and the history', async () => {
    // Given 1,000 MNIST rows and 200 held out
    const events: TrainEvent[] = [];
    const out = path.join(dir, 'mlp');
    // When the dense baseline trains two epochs
    const result = await trainMember({ config: base, data, trainRows, validationRows, outDir: out, metadata, onEvent: (e) => events.push(e) });
    // Then it learnt, reported each epoch, and its checkpoints describe themselves
    expect(result.history).toHaveLength(2);
    expect(result.bestValAcc).toBeGreaterThan(0.75);
    expect(events.filter((e) => e.type === 'epoch')).toHaveLength(2);
    expect(events.at(-1)).toMatchObject({ type: 'done', member: 'm' });
    const history = JSON.parse(await readFile(path.join(out, 'history.json'), 'utf8'));
    expect(history[1]).toMatchObject({ epoch: 1, lr: 1e-3 });
    const { metadata: meta } = await loadCheckpoint(path.join(out, 'best'));
    expect(meta).toMatchObject({ preset: 'mlp', seed: 7, dataFingerprint: 'test', preprocessing: { scale: '0-1' } });
    expect(meta.metrics.valAcc).toBeCloseTo(result.bestValAcc, 6);
  });

  test('with a weight average, validation and best/ are the average, last/ the trained weights, and both figures are recorded', async () => {
    // Given a member that keeps an average of its weights
    const out = path.join(dir, 'ema');
    const config: MemberConfig = { ...base, ema: { decay: 0.99 } };
    // When it trains two epochs
    const result = await trainMember({ config, data, trainRows, validationRows, outDir: out, metadata });
    // Then every epoch records the trained weights' figures beside the average's, and they differ
    for (const r of result.history) {
      expect(r.trainedValLoss).toBeGreaterThan(0);
      expect(r.trainedValAcc).toBeGreaterThan(0.5);
      expect(r.valLoss).not.toBe(r.trainedValLoss);
    }
    // And best/ scores the average's figure of its epoch, last/ the trained weights' figure of the last epoch
    const score = async (sub: string) => {
      const { model, metadata: meta } = await loadCheckpoint(path.join(out, sub));
      const probs = predictRows(model, fromSpec(meta.preprocessing), data, validationRows);
      model.dispose();
      return lossAndAccuracy(probs, data.labels, validationRows).loss;
    };
    expect(await score('best')).toBeCloseTo(result.history[result.bestEpoch]!.valLoss, 5);
    expect(await score('last')).toBeCloseTo(result.history.at(-1)!.trainedValLoss!, 5);
  });

  test('resume continues from the last epoch with the same history and learning rate', async () => {
    // Given a member trained for 2 epochs with a decaying rate
    const out = path.join(dir, 'resume');
    const config: MemberConfig = { ...base, schedule: { kind: 'exponential', decay: 0.5 } };
    const first = await trainMember({ config, data, trainRows, validationRows, outDir: out, metadata });
    // When it is resumed with 3 epochs
    const second = await trainMember({ config: { ...config, epochs: 3 }, data, trainRows, validationRows, outDir: out, metadata, resume: true });
    // Then epochs 1–2 are kept as they were and epoch 3 runs at the scheduled rate
    expect(second.history).toHaveLength(3);
    expect(second.history.slice(0, 2)).toEqual(first.history);
    expect(second.history[2]!.lr).toBeCloseTo(2.5e-4, 10);
  });

  test('early stopping ends a run whose validation loss stops improving', async () => {
    // Given a learning rate of 0 (nothing can improve after the first epoch)
    const out = path.join(dir, 'early');
    const result = await trainMember({
      config: { ...base, learningRate: 0, epochs: 6, earlyStopping: { patience: 2 } },
      data,
      trainRows,
      validationRows,
      outDir: out,
      metadata,
    });
    // Then it stops after 1 + patience epochs
    expect(result.history).toHaveLength(3);
    expect(result.bestEpoch).toBe(0);
  });

  test('a deadline that has passed stops training after the first epoch, with a checkpoint', async () => {
    // Given a member of 4 epochs whose deadline is already over
    const events: TrainEvent[] = [];
    const result = await trainMember({
      config: { ...base, epochs: 4 },
      data,
      trainRows,
      validationRows,
      outDir: path.join(dir, 'deadline'),
      metadata,
      deadline: Date.now() - 1,
      onEvent: (event) => events.push(event),
    });
    // Then it trains one epoch, says why it stopped, and its best checkpoint loads
    expect(result.history).toHaveLength(1);
    expect(result.stoppedAtDeadline).toBe(true);
    expect(events.at(-1)).toMatchObject({ type: 'done', stoppedAtDeadline: true });
    await expect(loadCheckpoint(result.checkpoint)).resolves.toBeDefined();
    // And a deadline far away changes nothing
    const free = await trainMember({ config: { ...base, epochs: 2 }, data, trainRows, validationRows, outDir: path.join(dir, 'no-deadline'), metadata, deadline: Date.now() + 3_600_000 });
    expect([free.history.length, free.stoppedAtDeadline]).toEqual([2, false]);
  });

  test('a conv member starts from a checkpoint and keeps frozen layers unchanged', async () => {
    // Given a seed002 checkpoint trained one short epoch
    const pre = path.join(dir, 'conv');
    const conv: MemberConfig = { ...base, name: 'conv', preset: 'seed002', optimizer: 'rmsprop', epochs: 1, batchSize: 32, augmentation: { rotation: 10, widthShift: 0.1 } };
    const rows = trainRows.slice(0, 256);
    const first = await trainMember({ config: conv, data, trainRows: rows, validationRows, outDir: pre, metadata });
    const { model: before } = await loadCheckpoint(first.checkpoint);
    const frozen = before.layers[0]!.getWeights().map((w) => Array.from(w.dataSync()));
    // When a member fine-tunes from it with the first two layers frozen
    const tuned = await trainMember({
      config: { ...conv, name: 'tuned', init: first.checkpoint, freezeUpTo: 'bn_1' },
      data,
      trainRows: rows,
      validationRows,
      outDir: path.join(dir, 'tuned'),
      metadata,
    });
    // Then the frozen conv kept its weights and a later layer moved
    const { model: after } = await loadCheckpoint(tuned.checkpoint);
    expect(after.layers[0]!.getWeights().map((w) => Array.from(w.dataSync()))).toEqual(frozen);
    expect(Array.from(after.layers[2]!.getWeights()[0]!.dataSync())).not.toEqual(Array.from(before.layers[2]!.getWeights()[0]!.dataSync()));
    // And the checkpoint names its start relative to itself: ../../conv/best from tuned/best
    expect((await readCheckpointMetadata(tuned.checkpoint)).hyperparameters.init).toBe(path.join('..', '..', 'conv', 'best'));
    before.dispose();
    after.dispose();
  });

  test('parentExists: a member whose folder above was removed fails and brings nothing back; one whose folder above is there trains', async () => {
    // Given the folder a stopped run's probes were in, removed (as a stopped run removes it)
    const gone = path.join(dir, 'stopped-run', 'auto-probes');
    // When a probe starts there, its folder's parent not to be made again
    const config = { ...base, name: 'probe', epochs: 1 };
    await expect(trainMember({ config, data, trainRows: trainRows.slice(0, 100), validationRows, outDir: path.join(gone, 'probe-1'), parentExists: true, metadata })).rejects.toThrow(/ENOENT/);
    // Then it failed, and the run's folder stays gone
    expect(existsSync(path.join(dir, 'stopped-run'))).toBe(false);
    // And under a folder that is there, the same member trains (twice: its own folder may be there already)
    await mkdir(gone, { recursive: true });
    for (let i = 0; i < 2; i++) expect((await trainMember({ config, data, trainRows: trainRows.slice(0, 100), validationRows, outDir: path.join(gone, 'probe-1'), parentExists: true, metadata })).history).toHaveLength(1);
  });
});
