import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { readMnist } from '../../src/data/mnist.js';
import type { ImageSet } from '../../src/data/image-set.js';
import { initEngine } from '../../src/engine/backend.js';
import { loadCheckpoint, readCheckpointMetadata } from '../../src/model/checkpoint.js';
import { fromSpec } from '../../src/model/preprocess.js';
import { trainMember, type MemberConfig, type TrainEvent } from '../../src/training/train-member.js';
import { createRowScorer, lossAndAccuracy, predictRows } from '../../src/training/validation.js';
import { modelWithoutExportRule } from '../helpers/unexportable.js';

let dir: string;
let data: ImageSet;
const trainRows = Array.from({ length: 640 }, (_, i) => i);
const validationRows = Array.from({ length: 300 }, (_, i) => 700 + i);
const metadata = { orientation: 'as-is', dataFingerprint: 'test', command: 'vitest' };
const member = (preset: string): MemberConfig => ({ name: preset, preset, optimizer: 'adam', learningRate: 1e-3, schedule: { kind: 'constant' }, augmentation: {}, epochs: 2, batchSize: 64, seed: 11 });

beforeAll(async () => {
  await initEngine({ backend: 'wasm' });
  dir = await mkdtemp(path.join(os.tmpdir(), 'digits-validation-'));
  const mnist = await readMnist('train');
  data = { images: mnist.images.subarray(0, 1000 * 784), labels: mnist.labels.subarray(0, 1000), count: 1000, size: 28, scale: 255 };
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('scoring rows while training', () => {
  test.each(['seed002', 'mlp'])('%s: ONNX Runtime scores the validation rows as tfjs does, and trainMember uses it on wasm', async (preset) => {
    // Given a member trained two epochs, validated by ONNX Runtime (the default on wasm)
    const events: TrainEvent[] = [];
    const out = path.join(dir, preset);
    const result = await trainMember({ config: member(preset), data, trainRows, validationRows, outDir: out, metadata, onEvent: (e) => events.push(e) });
    expect(events.find((e) => e.type === 'start')).toMatchObject({ validation: expect.stringContaining('onnxruntime-node') });
    // When its best weights are scored on tfjs (the reference) and on ONNX Runtime
    const { model, metadata: meta } = await loadCheckpoint(path.join(out, 'best'));
    const pre = fromSpec(meta.preprocessing);
    const reference = predictRows(model, pre, data, validationRows);
    const scorer = createRowScorer(data, validationRows, pre, 'onnx');
    const probs = await scorer.predict(model);
    const again = await scorer.predict(model);
    model.dispose();
    // Then the probabilities agree to float precision, and the epoch's recorded loss is the reference's
    let worst = 0;
    for (let i = 0; i < reference.length; i++) worst = Math.max(worst, Math.abs(reference[i]! - probs[i]!));
    expect(worst).toBeLessThan(1e-4);
    expect(Array.from(again)).toEqual(Array.from(probs));
    const ref = lossAndAccuracy(reference, data.labels, validationRows);
    expect(result.history[result.bestEpoch]!.valLoss).toBeCloseTo(ref.loss, 5);
    expect(result.history[result.bestEpoch]!.valAcc).toBe(ref.acc);
  }, 120_000);

  test('tfjs scoring when asked for, with its reason; the two engines pick the same best epoch', async () => {
    // Given the same member validated on tfjs
    const events: TrainEvent[] = [];
    const result = await trainMember({ config: member('mlp'), data, trainRows, validationRows, outDir: path.join(dir, 'mlp-tfjs'), metadata, scoring: 'tfjs', onEvent: (e) => events.push(e) });
    expect(events.find((e) => e.type === 'start')).toMatchObject({ validation: 'tfjs on wasm (asked for)' });
    // And the same member validated on ONNX Runtime
    const onnx = await trainMember({ config: member('mlp'), data, trainRows, validationRows, outDir: path.join(dir, 'mlp-onnx'), metadata, scoring: 'onnx' });
    // Then the two histories agree epoch by epoch, and so do their best epochs
    expect(onnx.bestEpoch).toBe(result.bestEpoch);
    result.history.forEach((r, k) => {
      expect(onnx.history[k]!.valLoss).toBeCloseTo(r.valLoss, 5);
      expect(onnx.history[k]!.valAcc).toBe(r.valAcc);
      expect(onnx.history[k]!.loss).toBe(r.loss);
    });
  }, 120_000);

  test('a model without an ONNX export falls back to tfjs when prepared, before its first score', async () => {
    // Given a model with a layer that has no export rule (UpSampling2D) and the scorer's default engine
    const model = modelWithoutExportRule();
    const meta = await readCheckpointMetadata('checkpoints/mnist-clean/seed002');
    const pre = fromSpec(meta.preprocessing);
    const scorer = createRowScorer(data, validationRows, pre);
    expect(scorer.reason).toContain('onnxruntime-node');
    // When it is prepared for the model
    await scorer.prepare(model);
    // Then its reason names tfjs and why, and it scores as tfjs does
    expect(scorer.reason).toBe('tfjs on wasm: a layer has no ONNX export rule');
    const reference = lossAndAccuracy(predictRows(model, pre, data, validationRows), data.labels, validationRows);
    expect(await scorer.score(model)).toEqual(reference);
    // And asked for ONNX Runtime outright, the same model is an error that names the cause
    await expect(createRowScorer(data, validationRows, pre, 'onnx').prepare(model)).rejects.toThrow(/cannot score .* on ONNX Runtime: a layer has no ONNX export rule/);
    model.dispose();
  }, 60_000);
});
