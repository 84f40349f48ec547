/**
 * The trainer's getState()/setState(): everything a step depends on (parameters, optimizer
 * moments and per-step scalars, BN moving statistics, the dropout stream), so that a trainer
 * restored from a state continues exactly as the one it was taken from.
 */
import * as tf from '../../src/engine/tf.js';
import { beforeAll, describe, expect, test } from 'vitest';
import { initEngine } from '../../src/engine/backend.js';
import { randomBatch } from '../helpers/random-batch.js';
import { buildModel } from '../../src/model/presets.js';
import { createOrtTrainer } from '../../src/onnx/training/runtime.js';

beforeAll(async () => {
  await initEngine({ backend: 'wasm', ortKernels: false });
});

describe('trainer state', () => {
  test.each(['adam', 'rmsprop', 'sgd'] as const)('%s: 1 step + state → a new trainer + 2 steps = 3 steps straight (deotte, with dropout)', (optimizer) => {
    // Given two trainers of the same model and seed
    const model = buildModel('deotte');
    const options = { optimizer, momentum: 0.9, seed: 5 };
    const straight = createOrtTrainer(model, options).trainer!;
    const first = createOrtTrainer(model, options).trainer!;
    const batches = [randomBatch(16, 1), randomBatch(16, 2), randomBatch(16, 3)];
    const lossesStraight = batches.map(({ x, y }) => straight.step(x, y, 1e-3).loss);
    // When one takes a step, and a third trainer (whose own weights differ) continues from its state
    first.step(batches[0]!.x, batches[0]!.y, 1e-3);
    const state = first.getState();
    model.layers.forEach((layer) => layer.setWeights(layer.getWeights().map((w) => tf.zerosLike(w))));
    const resumed = createOrtTrainer(model, options).trainer!;
    resumed.setState(state);
    const lossesResumed = batches.slice(1).map(({ x, y }) => resumed.step(x, y, 1e-3).loss);
    // Then the losses and every parameter, moment and statistic are identical
    expect(lossesResumed).toEqual(lossesStraight.slice(1));
    const a = straight.getState();
    const b = resumed.getState();
    expect(b.steps).toBe(3);
    expect([b.accBeta1, b.accBeta2]).toEqual([a.accBeta1, a.accBeta2]);
    expect(b.maskState).toBe(a.maskState);
    for (const key of ['params', 'stats'] as const) a[key]!.forEach((v, i) => expect(Array.from(b[key]![i]!)).toEqual(Array.from(v)));
    a.moments.forEach((m, i) => m.forEach((v, k) => expect(Array.from(b.moments[i]![k]!)).toEqual(Array.from(v))));
    // And the state is a copy: stepping on does not change it
    const before = Array.from(state.params![0]!);
    resumed.step(batches[0]!.x, batches[0]!.y, 1e-3);
    expect(Array.from(state.params![0]!)).toEqual(before);
    [straight, first, resumed].forEach((t) => t.dispose());
    model.dispose();
  });

  test('a state of another optimizer or model is refused', () => {
    const model = buildModel('mlp');
    const adam = createOrtTrainer(model, { optimizer: 'adam' }).trainer!;
    const sgd = createOrtTrainer(model, { optimizer: 'sgd' }).trainer!;
    expect(() => sgd.setState(adam.getState())).toThrow(/the saved optimizer state is adam; this trainer runs sgd/);
    const other = buildModel('deotte');
    const deotte = createOrtTrainer(other, { optimizer: 'adam' }).trainer!;
    expect(() => deotte.setState(adam.getState())).toThrow(/does not fit this network/);
    [adam, sgd, deotte].forEach((t) => t.dispose());
    model.dispose();
    other.dispose();
  });
});
