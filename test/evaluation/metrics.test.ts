import { describe, expect, test } from 'vitest';
import { type Metrics, CLASSES, LOG_LOSS_EPSILON, argmaxRow, computeMetrics, predictedLabels } from '../../src/evaluation/metrics.js';
import { hardVote, hardVoteLabels, softVote } from '../../src/ensemble/voting.js';

/** Rows of 10 probabilities from sparse {class: p} maps; the rest of each row is 0. */
function rows(...sparse: Array<Record<number, number>>): Float32Array {
  const out = new Float32Array(sparse.length * CLASSES);
  sparse.forEach((row, r) => {
    for (const [c, p] of Object.entries(row)) out[r * CLASSES + Number(c)] = p;
  });
  return out;
}

const oneHot = (...classes: number[]) => rows(...classes.map((c) => ({ [c]: 1 })));
const classOf = (m: Metrics, label: number) => m.perClass[label]!;

describe('computeMetrics on hand-computed cases', () => {
  test('perfect predictions: accuracy 1, log-loss ≈ 0, diagonal confusion, no confused pairs', () => {
    // Given three rows predicted with certainty
    const m = computeMetrics(oneHot(0, 1, 2), [0, 1, 2]);
    // Then
    expect(m.rows).toBe(3);
    expect(m.accuracy).toBe(1);
    expect(m.logLoss).toBeCloseTo(-Math.log(1 - LOG_LOSS_EPSILON), 20); // ≈ 1e-15: certainty is clipped too
    expect(m.mostConfused).toEqual([]);
    for (const label of [0, 1, 2]) expect(classOf(m, label)).toEqual({ label, precision: 1, recall: 1, f1: 1, support: 1 });
    // Classes absent from both labels and predictions: everything 0 by convention
    for (let label = 3; label < CLASSES; label++) expect(classOf(m, label)).toEqual({ label, precision: 0, recall: 0, f1: 0, support: 0 });
    expect(m.confusion[1]).toEqual([0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
  });

  test('a mixed case, including a class nobody predicted (precision 0 by convention)', () => {
    // Given labels 0,0,1,1,2 read as 0,1,1,1,1: class 2 is never predicted
    const probs = rows({ 0: 0.9, 1: 0.1 }, { 0: 0.4, 1: 0.6 }, { 1: 0.7, 2: 0.3 }, { 1: 0.8, 3: 0.2 }, { 1: 0.5, 2: 0.2, 7: 0.3 });
    const m = computeMetrics(probs, Uint8Array.from([0, 0, 1, 1, 2]));
    // Then, by hand:
    expect(m.accuracy).toBeCloseTo(3 / 5, 12);
    // log-loss: the probabilities given to the true class
    expect(m.logLoss).toBeCloseTo(-(Math.log(0.9) + Math.log(0.4) + Math.log(0.7) + Math.log(0.8) + Math.log(0.2)) / 5, 6);
    // class 0: 1 of 1 predicted right, 1 of 2 found
    expect(classOf(m, 0)).toMatchObject({ precision: 1, recall: 0.5, support: 2 });
    expect(classOf(m, 0).f1).toBeCloseTo(2 / 3, 12);
    // class 1: 2 of 4 predictions right, 2 of 2 found
    expect(classOf(m, 1)).toMatchObject({ precision: 0.5, recall: 1, support: 2 });
    expect(classOf(m, 1).f1).toBeCloseTo(2 / 3, 12);
    // class 2: never predicted → precision 0 (not NaN), recall 0, F1 0
    expect(classOf(m, 2)).toEqual({ label: 2, precision: 0, recall: 0, f1: 0, support: 1 });
    expect(m.confusion[0]!.slice(0, 3)).toEqual([1, 1, 0]);
    expect(m.confusion[1]!.slice(0, 3)).toEqual([0, 2, 0]);
    expect(m.confusion[2]!.slice(0, 3)).toEqual([0, 1, 0]);
    expect(m.confusion.flat().reduce((a, b) => a + b)).toBe(5);
    // equal counts: ordered by true label
    expect(m.mostConfused).toEqual([
      { trueLabel: 0, predicted: 1, count: 1, examples: [1] },
      { trueLabel: 2, predicted: 1, count: 1, examples: [4] },
    ]);
  });

  const pairCases: Array<{ name: string; probs: Float32Array; labels: number[]; options?: { examplesPerPair?: number; pairs?: number }; expected: Metrics['mostConfused'] }> = [
    {
      name: 'most frequent pair first',
      probs: rows({ 9: 0.6, 4: 0.4 }, { 7: 0.9, 1: 0.1 }, { 9: 0.7, 4: 0.3 }, { 4: 1 }),
      labels: [4, 1, 4, 4],
      expected: [
        { trueLabel: 4, predicted: 9, count: 2, examples: [2, 0] }, // 0.7 before 0.6: most confident mistake first
        { trueLabel: 1, predicted: 7, count: 1, examples: [1] },
      ],
    },
    {
      name: 'examplesPerPair and pairs limit what is kept (count stays the full count)',
      probs: rows({ 9: 0.6 }, { 9: 0.6 }, { 9: 0.6 }, { 7: 0.9 }),
      labels: [4, 4, 4, 1],
      options: { examplesPerPair: 2, pairs: 1 },
      expected: [{ trueLabel: 4, predicted: 9, count: 3, examples: [0, 1] }], // equal confidence: row order
    },
  ];
  test.each(pairCases)('most-confused pairs: $name', ({ probs, labels, options, expected }) => {
    expect(computeMetrics(probs, labels, options).mostConfused).toEqual(expected);
  });

  const lossCases: Array<{ name: string; probs: Float32Array; labels: number[]; expected: number }> = [
    { name: 'probability 0 for the true class is clipped to 1e-15', probs: rows({ 1: 1 }), labels: [0], expected: -Math.log(1e-15) },
    { name: 'rows are divided by their sum first (Kaggle)', probs: rows({ 0: 1, 1: 3 }), labels: [0], expected: -Math.log(0.25) },
    { name: 'an all-zero row counts as probability 0', probs: rows({}), labels: [3], expected: -Math.log(1e-15) },
  ];
  test.each(lossCases)('log-loss: $name', ({ probs, labels, expected }) => {
    expect(computeMetrics(probs, labels).logLoss).toBeCloseTo(expected, 6);
  });

  test('argmax ties go to the lower label; no rows gives zeros', () => {
    expect(argmaxRow(rows({ 3: 0.5, 8: 0.5 }), 0)).toBe(3);
    expect(Array.from(predictedLabels(rows({ 3: 0.5, 8: 0.5 }, { 6: 1 })))).toEqual([3, 6]);
    expect(computeMetrics(new Float32Array(0), [])).toMatchObject({ rows: 0, accuracy: 0, logLoss: 0, mostConfused: [] });
  });

  test('shape and label errors are bugs (RangeError), not silent', () => {
    expect(() => computeMetrics(new Float32Array(15), [0])).toThrow(RangeError);
    expect(() => computeMetrics(oneHot(0), [10])).toThrow(/label 10/);
  });
});

describe('voting', () => {
  const a = rows({ 0: 0.6, 1: 0.4 }, { 5: 1 });
  const b = rows({ 0: 0.2, 1: 0.8 }, { 5: 0.5, 6: 0.5 });

  const softCases: Array<{ name: string; weights?: number[]; expected: number[] }> = [
    { name: 'equal weights: the mean', expected: [0.4, 0.6] },
    { name: 'weights 3:1 (normalised by their sum)', weights: [3, 1], expected: [0.5, 0.5] },
    { name: 'a zero weight ignores that member', weights: [0, 2], expected: [0.2, 0.8] },
  ];
  test.each(softCases)('softVote: $name', ({ weights, expected }) => {
    const probs = softVote([a, b], weights);
    expect(probs).toHaveLength(20);
    expect(probs[0]).toBeCloseTo(expected[0]!, 6);
    expect(probs[1]).toBeCloseTo(expected[1]!, 6);
  });

  test('softVote rejects mismatched members and bad weights', () => {
    expect(() => softVote([])).toThrow(/no members/);
    expect(() => softVote([a, rows({ 0: 1 })])).toThrow(/member 1/);
    expect(() => softVote([a, b], [1])).toThrow(/1 weights for 2 members/);
    expect(() => softVote([a, b], [1, -1])).toThrow(/≥ 0/);
    expect(() => softVote([a, b], [0, 0])).toThrow(/sum to 0/);
  });

  const hardCases: Array<{ name: string; members: Float32Array[]; expected: number }> = [
    { name: 'majority wins even against a more confident minority', members: [rows({ 2: 0.51, 7: 0.49 }), rows({ 2: 0.51, 7: 0.49 }), rows({ 7: 1 })], expected: 2 },
    { name: 'three-way tie: the largest summed probability wins', members: [rows({ 1: 0.9, 4: 0.1 }), rows({ 4: 0.5, 1: 0.3, 6: 0.2 }), rows({ 6: 0.4, 4: 0.35, 1: 0.25 })], expected: 1 },
    { name: 'two-member tie broken by summed probability', members: [rows({ 3: 0.55, 8: 0.45 }), rows({ 8: 0.9, 3: 0.1 })], expected: 8 },
    { name: 'tie of votes and of summed probability: the lower label', members: [rows({ 3: 0.6, 8: 0.4 }), rows({ 8: 0.6, 3: 0.4 })], expected: 3 },
    // the summed probabilities differ by one float32 ulp: the vote output must still pick 7
    { name: 'a tie decided below float32 resolution in the output', members: [rows({ 2: 0.6, 7: 0.4 }), rows({ 7: Math.fround(0.6) + 6e-8, 2: 0.4 - 6e-8 })], expected: 7 },
  ];
  test.each(hardCases)('hardVote: $name', ({ members, expected }) => {
    expect(hardVoteLabels(members)[0]).toBe(expected);
    const probs = hardVote(members);
    // The vote output's argmax is the winner, and it is a distribution
    expect(argmaxRow(probs, 0)).toBe(expected);
    expect(probs.reduce((s, p) => s + p, 0)).toBeCloseTo(1, 5);
  });

  test('hardVote output: vote shares mixed with the soft vote at α = 1/(2(M+1)), so log-loss stays finite', () => {
    // Given two members that both vote 1 while the truth is 0
    const members = [rows({ 1: 0.7, 0: 0.3 }), rows({ 1: 0.9, 0: 0.1 })];
    const probs = hardVote(members);
    const alpha = 1 / 6;
    expect(probs[1]).toBeCloseTo((1 - alpha) + alpha * 0.8, 6);
    expect(probs[0]).toBeCloseTo(alpha * 0.2, 6);
    const m = computeMetrics(probs, [0]);
    expect(m.accuracy).toBe(0);
    expect(m.logLoss).toBeCloseTo(-Math.log(alpha * 0.2), 5);
  });
});
