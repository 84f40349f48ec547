import { describe, expect, test } from 'vitest';
import { EarlyStopping, ModelCheckpoint, ReduceLROnPlateau, TimeLimit } from '../../src/training/callbacks.js';

describe('epoch callbacks', () => {
  test('ModelCheckpoint saves only when validation loss improves, and remembers the best epoch', async () => {
    // Given a checkpoint callback that records what it saved
    const saved: number[] = [];
    const cb = new ModelCheckpoint(async (end) => void saved.push(end.epoch));
    // When four epochs end with these losses
    const improved = [];
    for (const [epoch, valLoss] of [0.5, 0.4, 0.45, 0.3].entries()) improved.push(await cb.onEpochEnd({ epoch, valLoss, valAcc: 1 - valLoss }));
    // Then epochs 0, 1 and 3 were saved and 3 is the best
    expect(improved).toEqual([true, true, false, true]);
    expect(saved).toEqual([0, 1, 3]);
    expect([cb.bestEpoch, cb.bestValLoss, cb.bestValAcc]).toEqual([3, 0.3, 0.7]);
  });

  test('ReduceLROnPlateau multiplies the rate after patience epochs without improvement, not below the floor', () => {
    const cb = new ReduceLROnPlateau({ factor: 0.5, patience: 2, minLearningRate: 0.2 });
    const rates = [false, false, false, false, true, false].reduce<number[]>((acc, improved) => [...acc, cb.onEpochEnd(improved, acc.at(-1) ?? 1)], []);
    expect(rates).toEqual([1, 0.5, 0.5, 0.25 > 0.2 ? 0.25 : 0.2, 0.25, 0.25]);
    // Without a config it only counts epochs since the last improvement
    const counter = new ReduceLROnPlateau(undefined);
    expect([counter.onEpochEnd(false, 1), counter.onEpochEnd(false, 1), counter.wait]).toEqual([1, 1, 2]);
  });

  test('EarlyStopping stops after patience epochs without improvement; a resumed stopped member stays stopped', () => {
    const cb = new EarlyStopping(2);
    expect([cb.onEpochEnd(true), cb.onEpochEnd(false), cb.onEpochEnd(false)]).toEqual([false, false, true]);
    expect(new EarlyStopping(2, 2, true).stopped).toBe(true);
    expect(new EarlyStopping(2, 2, false).stopped).toBe(false);
    expect(new EarlyStopping(undefined, 99, true).stopped).toBe(false);
    // patience 0 stops at the first epoch that does not improve, never after one that does (it stopped after a new best)
    const zero = new EarlyStopping(0);
    expect([zero.onEpochEnd(true), zero.onEpochEnd(true), zero.onEpochEnd(false)]).toEqual([false, false, true]);
    expect(new EarlyStopping(0, 0, true).stopped).toBe(false);
    expect(new EarlyStopping(0, 1, true).stopped).toBe(true);
  });

  test('TimeLimit stops when the next epoch, as long as the last, would end after the deadline', () => {
    // Given a clock at 1,000 ms and a deadline at 10,000 ms
    let now = 1000;
    const cb = new TimeLimit(10_000, () => now);
    // Then a 5-second epoch leaves room for another, a 9.5-second one does not
    expect(cb.onEpochEnd(5)).toBe(false);
    now = 6000;
    expect([cb.onEpochEnd(3.9), cb.stopped]).toEqual([false, false]);
    expect([cb.onEpochEnd(4.1), cb.stopped]).toEqual([true, true]);
    // And without a deadline it never stops
    expect(new TimeLimit(undefined, () => Number.MAX_SAFE_INTEGER).onEpochEnd(1e9)).toBe(false);
  });
});
