/**
 * The weight average (EMA): the arithmetic against a float64 reference written out here, and
 * both training steps (ONNX Runtime and tfjs) against that reference computed from the
 * weights they report after every step, BN statistics included; the average survives a
 * getState/setState round trip.
 */
import * as tf from '../../src/engine/tf.js';
import { beforeAll, describe, expect, test } from 'vitest';
import { mulberry32 } from '../../src/data/random.js';
import { initEngine } from '../../src/engine/backend.js';
import { randomBatch } from '../helpers/random-batch.js';
import { loadOrt } from '../../src/engine/ort.js';
import { buildModel } from '../../src/model/presets.js';
import { WeightAverage } from '../../src/onnx/training/average.js';
import { createOrtTrainer } from '../../src/onnx/training/runtime.js';
import { createTrainStep } from '../../src/training/train-step.js';

beforeAll(async () => {
  await initEngine({ backend: 'wasm', ortKernels: false });
});

/** EMA in float64: a ← d·a + (1 − d)·w with d = min(decay, (1 + t)/(10 + t)) at update t = 1, 2, … */
function reference(decay: number, initial: Float32Array[], steps: Float32Array[][]): Float64Array[] {
  const avg = initial.map((a) => Float64Array.from(a));
  steps.forEach((weights, s) => {
    const t = s + 1;
    const d = Math.min(decay, (1 + t) / (10 + t));
    weights.forEach((w, i) => w.forEach((v, j) => (avg[i]![j] = d * avg[i]![j]! + (1 - d) * v)));
  });
  return avg;
}

function expectClose(actual: ArrayLike<number>[], expected: ArrayLike<number>[], tolerance: number): void {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  actual.forEach((a, i) => {
    expect(a.length).toBe(expected[i]!.length);
    for (let j = 0; j < a.length; j++) worst = Math.max(worst, Math.abs(a[j]! - expected[i]![j]!));
  });
  expect(worst).toBeLessThan(tolerance);
}

describe('WeightAverage', () => {
  test('follows the warmed-up decay of the float64 reference', () => {
    const next = mulberry32(9);
    const initial = [Float32Array.from({ length: 50 }, () => next()), Float32Array.from({ length: 7 }, () => next())];
    const steps = Array.from({ length: 40 }, () => initial.map((a) => Float32Array.from(a, () => next() * 2 - 1)));
    const average = new WeightAverage(0.9, initial);
    for (const w of steps) average.update(w);
    expect(average.updates).toBe(40);
    expectClose(average.values, reference(0.9, initial, steps), 1e-6);
    // The first updates use the warm-up, not the decay: (1 + 1)/(10 + 1)
    expect(new WeightAverage(0.999, initial).nextDecay()).toBeCloseTo(2 / 11, 12);
    expect(new WeightAverage(0.5, initial, 100).nextDecay()).toBe(0.5);
  });

  test('refuses a decay outside (0, 1) and arrays that do not match', () => {
    expect(() => new WeightAverage(1, [])).toThrow(/decay must lie in \(0, 1\)/);
    expect(() => new WeightAverage(0, [])).toThrow(/decay must lie in \(0, 1\)/);
    const average = new WeightAverage(0.9, [new Float32Array(3)]);
    expect(() => average.update([new Float32Array(4)])).toThrow(/has 3 values, got 4/);
    expect(() => average.update([])).toThrow(/holds 1 arrays, got 0/);
  });
});

describe.skipIf(!loadOrt())('ONNX Runtime step', () => {
  test('the average of parameters and BN statistics matches the reference; sync puts the trained weights back; the state carries it', () => {
    // Given an ORT trainer of a network with BN (deotte) keeping an average
    const model = buildModel('deotte');
    const options = { optimizer: 'adam' as const, seed: 3 };
    const trainer = createOrtTrainer(model, options).trainer!;
    trainer.enableAverage(0.8);
    const flat = () => {
      const s = trainer.snapshot();
      return [...s.params, ...s.stats];
    };
    const initial = flat();
    // When it takes 6 steps
    const seen: Float32Array[][] = [];
    for (let i = 0; i < 6; i++) {
      const { x, y } = randomBatch(8, 20 + i);
      trainer.step(x, y, 2e-3);
      seen.push(flat());
    }
    // Then the model holds the reference average after syncAverageToModel, the trained weights after syncToModel
    const slots = [...trainer.plan.params, ...trainer.plan.stats];
    const inModel = () => slots.map((s) => s.variable.read().dataSync() as Float32Array);
    trainer.syncAverageToModel();
    expectClose(inModel(), reference(0.8, initial, seen), 1e-5);
    trainer.syncToModel();
    expect(inModel().map((a) => Array.from(a))).toEqual(seen.at(-1)!.map((a) => Array.from(a)));

    // And a trainer restored from its state continues the same average
    const state = trainer.getState();
    expect(state.average?.updates).toBe(6);
    const restored = createOrtTrainer(model, options).trainer!;
    restored.setState(state);
    const { x, y } = randomBatch(8, 99);
    trainer.step(x, y, 2e-3);
    restored.step(x, y, 2e-3);
    expect(restored.getState().average!.values.map((a) => Array.from(a))).toEqual(trainer.getState().average!.values.map((a) => Array.from(a)));
    // And without enableAverage there is none to write
    const plain = createOrtTrainer(model, options).trainer!;
    expect(() => plain.syncAverageToModel()).toThrow(/keeps no weight average/);
    [trainer, restored, plain].forEach((t) => t.dispose());
    model.dispose();
  });
});

describe('tfjs step', () => {
  test('the average follows every weight (BN statistics too); sync restores the trained ones; the saved state restores the average', async () => {
    // Given a tfjs step with an average, on a small network with BN
    const make = () => {
      const model = tf.sequential({
        layers: [
          tf.layers.flatten({ inputShape: [28, 28, 1] }),
          tf.layers.dense({ units: 12, kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }),
          tf.layers.batchNormalization(),
          tf.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 4 }) }),
        ],
      });
      const optimizer = tf.train.adam(2e-3);
      model.compile({ optimizer, loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
      return { model, optimizer, step: createTrainStep(model, optimizer, { optimizer: 'adam', seed: 1, trainer: 'tfjs', averageDecay: 0.7 }) };
    };
    const first = make();
    const read = () => first.model.weights.map((w) => Float32Array.from(w.read().dataSync() as Float32Array));
    const initial = read();
    const seen: Float32Array[][] = [];
    const batches = Array.from({ length: 5 }, (_, i) => randomBatch(8, 40 + i)).map(({ x, y }) => ({ x: tf.tensor4d(x, [8, 28, 28, 1]), y: tf.tensor2d(y, [8, 10]) }));
    // When it takes 4 steps
    for (const b of batches.slice(0, 4)) {
      await first.step.run(b.x, b.y, 2e-3);
      seen.push(read());
    }
    // Then syncAverage puts the reference average in the model (moving mean and variance included)
    expect(first.model.weights.some((w) => w.name.includes('moving_variance'))).toBe(true);
    first.step.syncAverage();
    expectClose(read(), reference(0.7, initial, seen), 1e-5);
    // And training on while the model holds the average is refused
    await expect(first.step.run(batches[4]!.x, batches[4]!.y, 2e-3)).rejects.toThrow(/call sync\(\) before training on/);
    // And sync puts the trained weights back
    first.step.sync();
    expect(read().map((a) => Array.from(a))).toEqual(seen.at(-1)!.map((a) => Array.from(a)));

    // And a fresh step given the saved state (and the same weights) continues the same average
    const state = await first.step.getState();
    expect(state.scalars.averageUpdates).toBe(4);
    const second = make();
    second.model.setWeights(first.model.getWeights());
    await second.step.setState(state);
    await first.step.run(batches[4]!.x, batches[4]!.y, 2e-3);
    await second.step.run(batches[4]!.x, batches[4]!.y, 2e-3);
    first.step.syncAverage();
    second.step.syncAverage();
    const a = first.model.getWeights().map((w) => Array.from(w.dataSync()));
    const b = second.model.getWeights().map((w) => Array.from(w.dataSync()));
    expect(b).toEqual(a);
    tf.dispose(batches.flatMap((b) => [b.x, b.y]));
    for (const s of [first, second]) {
      s.model.dispose();
      s.optimizer.dispose();
    }
  }, 60_000);
});
