import { describe, expect, test } from 'vitest';
import { formatMeanSd, meanSd, outOfFold, scoreByFold, valuesByFold } from '../../src/evaluation/cross-validation.js';
import { evaluationShape } from '../../src/evaluation/evaluation-shape.js';

describe('mean ± sd', () => {
  test.each([
    [[0.96, 0.97, 0.98], 0.97, 0.01],
    [[2, 4, 4, 4, 5, 5, 7, 9], 5, Math.sqrt(32 / 7)],
    [[0.5], 0.5, 0],
  ])('%j → mean %d, sample sd %d', (values, mean, sd) => {
    const r = meanSd(values);
    expect(r.mean).toBeCloseTo(mean, 12);
    expect(r.sd).toBeCloseTo(sd, 12);
    expect(r.values).toEqual(values);
  });

  test('formats as a Kaggler writes it', () => {
    expect(formatMeanSd(meanSd([0.9637, 0.9687]), 'percent')).toBe('96.62 ± 0.35%');
    expect(formatMeanSd(meanSd([0.1, 0.2]), 'loss')).toBe('0.1500 ± 0.0707');
    expect(() => meanSd([])).toThrow(RangeError);
  });
});

describe('out-of-fold predictions', () => {
  test('each row gets the probabilities of the fold that held it out; overlapping folds are refused', () => {
    const row = (v: number) => Array.from({ length: 10 }, (_, c) => v + c / 100);
    const oof = outOfFold([
      { rows: [4, 0], probs: Float32Array.from([...row(4), ...row(0)]) },
      { rows: [1, 3, 2], probs: Float32Array.from([...row(1), ...row(3), ...row(2)]) },
    ]);
    expect(oof.rows).toEqual([0, 1, 2, 3, 4]);
    expect(oof.fold).toEqual([0, 1, 1, 1, 0]);
    expect(Array.from(oof.probs.subarray(30, 40))).toEqual(row(3).map(Math.fround));
    expect(() => outOfFold([{ rows: [1], probs: new Float32Array(10) }, { rows: [1], probs: new Float32Array(10) }])).toThrow(/row 1 is held out by folds 0 and 1/);
  });

  test('scoreByFold scores each fold on its own rows', () => {
    // fold 0: 2 rows, both right; fold 1: 2 rows, one right
    const probs = new Float32Array(40).fill(0);
    const labels = [3, 5, 7, 1];
    probs[3] = 1;
    probs[10 + 5] = 1;
    probs[20 + 7] = 1;
    probs[30 + 2] = 1;
    const s = scoreByFold(probs, labels, [0, 1, 0, 1]);
    expect(s.accuracy.values).toEqual([1, 0.5]);
    expect(s.accuracy.mean).toBeCloseTo(0.75, 12);
    expect(s.accuracy.sd).toBeCloseTo(Math.sqrt(0.125), 12);
  });

  test('scoreByFold keys each value by its fold (1-based): a fold no row came from is not another fold\'s', () => {
    // Given rows of folds 0 and 2 only (fold 1's member failed)
    const probs = new Float32Array(30).fill(0);
    probs[3] = 1; // right
    probs[10 + 4] = 1; // wrong (label 5)
    probs[20 + 7] = 1; // right
    const s = scoreByFold(probs, [3, 5, 7], [0, 2, 2]);
    // Then fold 3's value is said to be fold 3's
    expect(s.accuracy).toMatchObject({ values: [1, 0.5], folds: [1, 3] });
    expect(s.logLoss.folds).toEqual([1, 3]);
  });
});

describe('per-fold values under their folds', () => {
  test.each([
    { name: 'keyed by fold: the missing fold is blank', value: { ...meanSd([0.73, 0.694], [1, 3]) }, folds: 3, placed: [0.73, null, 0.694] },
    { name: 'every fold, keyed', value: meanSd([0.7, 0.8, 0.9], [1, 2, 3]), folds: 3, placed: [0.7, 0.8, 0.9] },
    { name: 'an older evaluation without folds, every fold there: in order', value: meanSd([0.7, 0.8, 0.9]), folds: 3, placed: [0.7, 0.8, 0.9] },
    { name: 'an older evaluation without folds, a fold missing: cannot be placed', value: meanSd([0.73, 0.694]), folds: 3, placed: null },
  ])('$name', ({ value, folds, placed }) => {
    expect(valuesByFold(value, folds)).toEqual(placed);
  });

  test('meanSd refuses folds that are not one per value; evaluation.json\'s shape takes values with or without folds, not folds of another length', () => {
    expect(() => meanSd([0.5, 0.6], [1])).toThrow(/1 folds for 2 values/);
    const cvOf = (accuracy: object) => ({ folds: 3, split: 's', recipes: [], ensemble: { accuracy, logLoss: accuracy }, oofFile: 'oof.json' });
    const shape = evaluationShape.shape.cv.unwrap();
    expect(shape.safeParse(cvOf({ mean: 0.5, sd: 0, values: [0.5] })).success).toBe(true);
    expect(shape.safeParse(cvOf({ mean: 0.5, sd: 0, values: [0.5], folds: [3] })).success).toBe(true);
    const wrong = shape.safeParse(cvOf({ mean: 0.5, sd: 0, values: [0.5], folds: [1, 3] }));
    expect(wrong.success).toBe(false);
    expect(wrong.error?.issues[0]).toMatchObject({ message: 'not one fold per value', path: ['ensemble', 'accuracy', 'folds'] });
  });
});
