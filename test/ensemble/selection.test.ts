/**
 * Caruana's ensemble selection on synthetic probability matrices whose answer is known:
 * complementary members are chosen, a useless one is not, and the in-sample loss never
 * rises above the best single member's.
 */
import { describe, expect, test } from 'vitest';
import { createRandom } from '../../src/data/random.js';
import { caruanaSelection, compareWithBest, crossFittedSelection, logLossAgainstBest, pairedAccuracyDifference, pairedLogLossDifference, weightsBeatEqualVote } from '../../src/ensemble/selection.js';
import { computeMetrics } from '../../src/evaluation/metrics.js';
import { softVote } from '../../src/ensemble/voting.js';

/** rows × 10 probabilities giving `right` to the label where `correct(row)`, else to (label+1)%10. */
function member(labels: number[], correct: (row: number) => boolean, right = 0.9): Float32Array {
  const out = new Float32Array(labels.length * 10).fill((1 - right) / 9);
  labels.forEach((label, r) => (out[r * 10 + (correct(r) ? label : (label + 1) % 10)] = right));
  return out;
}

const labels = Array.from({ length: 200 }, (_, r) => r % 10);
const logLoss = (probs: Float32Array) => computeMetrics(probs, labels).logLoss;

describe('caruanaSelection', () => {
  test('picks the two members that err on different rows, never the uniform one, and starts from the best', () => {
    // Given A wrong on rows 0–29, B wrong on rows 100–139 (complementary), and U uniform
    const a = member(labels, (r) => r >= 30);
    const b = member(labels, (r) => r < 100 || r >= 140);
    const u = new Float32Array(labels.length * 10).fill(0.1);
    // When selecting
    const result = caruanaSelection([a, b, u], labels);
    // Then A (the best alone) is the first pick, B joins, U never does
    expect(result.steps[0]!.candidate).toBe(0);
    expect(result.weights[0]).toBeGreaterThan(0);
    expect(result.weights[1]).toBeGreaterThan(0);
    expect(result.weights[2]).toBe(0);
    expect(result.weights.reduce((s, w) => s + w, 0)).toBeCloseTo(1, 12);
    // and the mix is better than either alone, with the reported loss the real one
    expect(result.logLoss).toBeLessThan(Math.min(logLoss(a), logLoss(b)));
    expect(result.logLoss).toBeCloseTo(logLoss(softVote([a, b, u], result.weights)), 5);
    expect(computeMetrics(softVote([a, b, u], result.weights), labels).accuracy).toBeGreaterThan(computeMetrics(a, labels).accuracy);
  });

  test('a member that only adds noise gets weight 0; the best alone keeps weight 1', () => {
    const best = member(labels, (r) => r % 7 !== 0, 0.95);
    // worse errs wherever best does, and on more rows: any share of it only lowers the true class's probability
    const worse = member(labels, (r) => r % 7 !== 0 && r % 3 !== 0, 0.95);
    const result = caruanaSelection([worse, best], labels);
    expect(result.weights).toEqual([0, 1]);
    expect(result.steps).toHaveLength(1);
  });

  test.each([1, 2, 3, 4, 5])('random matrices (seed %i): the in-sample loss is never above the best single member and falls step by step', (seed) => {
    const random = createRandom(seed);
    const candidates = Array.from({ length: 6 }, () => {
      const p = new Float32Array(labels.length * 10);
      for (let r = 0; r < labels.length; r++) {
        let sum = 0;
        for (let c = 0; c < 10; c++) sum += p[r * 10 + c] = random.next() + (c === labels[r] ? random.next() * 3 : 0);
        for (let c = 0; c < 10; c++) p[r * 10 + c]! /= sum;
      }
      return p;
    });
    const result = caruanaSelection(candidates, labels, { maxSteps: 30 });
    const bestSingle = Math.min(...candidates.map(logLoss));
    expect(result.logLoss).toBeLessThanOrEqual(bestSingle + 1e-9);
    expect(result.steps[0]!.logLoss).toBeCloseTo(bestSingle, 5);
    for (let i = 1; i < result.steps.length; i++) expect(result.steps[i]!.logLoss).toBeLessThan(result.steps[i - 1]!.logLoss);
    expect(result.steps.length).toBeLessThanOrEqual(31);
    // bagged selection gives weights that still sum to 1 over the candidates
    const bagged = caruanaSelection(candidates, labels, { bags: 5, seed });
    expect(bagged.weights.reduce((s, w) => s + w, 0)).toBeCloseTo(1, 12);
  });

  test('with groups, weights move only within a group and each group keeps its share of the equal vote', () => {
    // Given two members from one start (a1 better than a2) and a third, from another start,
    // better than both: ungrouped, selection leans on the third
    const a1 = member(labels, (r) => r % 5 !== 0, 0.9);
    const a2 = member(labels, (r) => r % 4 !== 0, 0.8);
    const b = member(labels, (r) => r % 9 !== 0, 0.97);
    const free = caruanaSelection([a1, a2, b], labels);
    expect(free.weights[2]).toBeGreaterThan(0.5);
    // When the candidates are grouped by start
    const grouped = caruanaSelection([a1, a2, b], labels, { groups: ['x', 'x', 'y'] });
    // Then the third keeps exactly its third, and the first start's two thirds go to its better member
    expect(grouped.weights[2]).toBeCloseTo(1 / 3, 12);
    expect(grouped.weights[0]! + grouped.weights[1]!).toBeCloseTo(2 / 3, 12);
    expect(grouped.weights[0]).toBeGreaterThan(grouped.weights[1]!);
    expect(grouped.logLoss).toBeCloseTo(logLoss(softVote([a1, a2, b], grouped.weights)), 5);
    // one start per candidate leaves the equal vote, also when cross-fitted
    expect(caruanaSelection([a1, a2, b], labels, { groups: ['x', 'y', 'z'] }).weights.map((w) => w * 3)).toEqual([1, 1, 1].map((w) => expect.closeTo(w, 12)));
    for (const half of crossFittedSelection([a1, a2, b], labels, { groups: ['x', 'x', 'y'] }).halves) expect(half[2]).toBeCloseTo(1 / 3, 12);
    // and one group of all is selection as before
    expect(caruanaSelection([a1, a2, b], labels, { groups: ['x', 'x', 'x'] }).weights).toEqual(free.weights);
    expect(() => caruanaSelection([a1, a2, b], labels, { groups: ['x'] })).toThrow(/group keys/);
  });

  test('crossFittedSelection scores every row with weights fitted on the other half', () => {
    const a = member(labels, (r) => r >= 30);
    const b = member(labels, (r) => r < 100 || r >= 140);
    const { probs, halves } = crossFittedSelection([a, b], labels);
    expect(probs).toHaveLength(labels.length * 10);
    for (const w of halves) expect(w.reduce((s, x) => s + x, 0)).toBeCloseTo(1, 12);
    // every row is a proper distribution
    for (let r = 0; r < labels.length; r++) expect(probs.subarray(r * 10, r * 10 + 10).reduce((s, x) => s + x, 0)).toBeCloseTo(1, 5);
    expect(() => caruanaSelection([a], labels.slice(1))).toThrow(/probabilities/);
  });
});

describe('pairedLogLossDifference', () => {
  test('mean and standard error of the per-row log-loss difference, against a direct computation', () => {
    const a = member(labels, (r) => r % 7 !== 0, 0.8);
    const b = member(labels, (r) => r % 5 !== 0, 0.95);
    const d = pairedLogLossDifference(a, b, labels);
    // the mean difference is the difference of the two log-losses
    expect(d.mean).toBeCloseTo(logLoss(a) - logLoss(b), 10);
    // the standard error by the textbook formula on the per-row differences
    const perRow = labels.map((label, r) => -Math.log(a[r * 10 + label]!) + Math.log(b[r * 10 + label]!));
    const mean = perRow.reduce((s, x) => s + x, 0) / perRow.length;
    const sd = Math.sqrt(perRow.reduce((s, x) => s + (x - mean) ** 2, 0) / (perRow.length - 1));
    expect(d.standardError).toBeCloseTo(sd / Math.sqrt(perRow.length), 6);
    expect(d.rows).toBe(200);
    // identical predictions: no difference, no spread
    expect(pairedLogLossDifference(a, a, labels)).toEqual({ mean: 0, standardError: 0, rows: 200 });
    expect(() => pairedLogLossDifference(a, b.subarray(10), labels)).toThrow(/probabilities/);
  });
});

describe('weightsBeatEqualVote', () => {
  test('weights replace the equal vote when their log-loss is lower by more than 2 standard errors, unless their accuracy is lower by as much', () => {
    const same = { mean: 0, standardError: 0 };
    expect(weightsBeatEqualVote({ mean: -0.01, standardError: 0.004 }, same)).toEqual({ lowerLogLoss: true, lowerAccuracy: false, used: true });
    // within 2 standard errors: equal weights
    expect(weightsBeatEqualVote({ mean: -0.01, standardError: 0.006 }, { mean: 0.005, standardError: 0.001 })).toMatchObject({ lowerLogLoss: false, used: false });
    // a row lower in accuracy is noise: the weights stay
    expect(weightsBeatEqualVote({ mean: -0.01, standardError: 0.004 }, { mean: -1 / 80, standardError: 1 / 80 })).toMatchObject({ lowerAccuracy: false, used: true });
    // a lower log-loss bought with accuracy (session 38: 1.635 → 1.623, 74.0% → 68.9%): equal weights
    expect(weightsBeatEqualVote({ mean: -0.0119, standardError: 0.002 }, { mean: -0.0512, standardError: 0.015 })).toEqual({ lowerLogLoss: true, lowerAccuracy: true, used: false });
  });

  test('pairedAccuracyDifference counts the rows one vote gets right and the other wrong', () => {
    const probs = (picks: number[]) => Float32Array.from(picks.flatMap((c) => Array.from({ length: 10 }, (_, k) => (k === c ? 0.9 : 0.1 / 9))));
    const labels = [0, 1, 2, 3];
    // a right on rows 0–2, b right on rows 0 and 3 only: +1, +1 where a alone is right, −1 where b alone is
    const d = pairedAccuracyDifference(probs([0, 1, 2, 9]), probs([0, 9, 9, 3]), labels);
    expect(d.mean).toBeCloseTo((0 + 1 + 1 - 1) / 4);
    expect(d.rows).toBe(4);
    const sd = Math.sqrt(([0, 1, 1, -1].reduce((s, x) => s + (x - 0.25) ** 2, 0)) / 3);
    expect(d.standardError).toBeCloseTo(sd / 2);
  });
});

describe('compareWithBest', () => {
  test('says when the equal vote is below its best member, and not when it is above', () => {
    // Given one strong member and two weak ones that agree on the same wrong rows
    const strong = member(labels, (r) => r % 10 !== 0, 0.6);
    const weak1 = member(labels, (r) => r % 4 !== 0, 0.95);
    const weak2 = member(labels, (r) => r % 4 !== 0, 0.95);
    const result = compareWithBest([weak1, strong, weak2], softVote([weak1, strong, weak2]), labels);
    // Then the strong member is the best and the vote (outvoted by the confident weak pair) is below it
    expect(result.best).toBe(1);
    expect(result.accuracy).toBeCloseTo(0.9, 12);
    expect(result.below).toBe(true);
    // and two complementary members' vote is not below either
    const a = member(labels, (r) => r >= 30);
    const b = member(labels, (r) => r < 100 || r >= 140);
    expect(compareWithBest([a, b], softVote([a, b]), labels).below).toBe(false);
  });
});

describe('logLossAgainstBest', () => {
  /** rows × 10: `p(row)` = [probability of the label, of (label+1)%10]; the rest spread over the other 8 classes. */
  const shaped = (p: (row: number) => [number, number]) => {
    const out = new Float32Array(labels.length * 10);
    labels.forEach((label, r) => {
      const [right, wrong] = p(r);
      out.fill((1 - right - wrong) / 8, r * 10, r * 10 + 10);
      out[r * 10 + label] = right;
      out[r * 10 + ((label + 1) % 10)] = wrong;
    });
    return out;
  };

  test('flags a vote whose log-loss is clearly above its best member\'s though its accuracy is higher', () => {
    // Given a calibrated member right on 90% of the rows (a near miss on the others), and two
    // overconfident ones, each sure and wrong on a fifth of the rows (other rows each): their vote
    // is right on every row, and far worse in log-loss than the calibrated member
    const calibrated = shaped((r) => (r % 10 === 0 ? [0.3, 0.35] : [0.99, 0.005]));
    const bold1 = shaped((r) => (r % 10 === 1 || r % 10 === 2 ? [1e-6, 1 - 9e-6] : [1 - 9e-6, 1e-6]));
    const bold2 = shaped((r) => (r % 10 === 3 || r % 10 === 4 ? [1e-6, 1 - 9e-6] : [1 - 9e-6, 1e-6]));
    const candidates = [bold1, calibrated, bold2];
    const vote = softVote(candidates);
    expect(compareWithBest(candidates, vote, labels).below).toBe(false);
    expect(computeMetrics(vote, labels).accuracy).toBe(1);
    // Then the best by log-loss is the calibrated member, and the vote is worse than it beyond the margin
    const result = logLossAgainstBest(candidates, vote, labels);
    expect(result.best).toBe(1);
    expect(result.logLoss).toBeCloseTo(logLoss(calibrated), 6);
    expect(result.difference.mean).toBeCloseTo(logLoss(vote) - logLoss(calibrated), 5);
    expect(result.worse).toBe(true);
    // and a vote no worse than its best member is not flagged
    const a = member(labels, (r) => r >= 30);
    const b = member(labels, (r) => r < 100 || r >= 140);
    expect(logLossAgainstBest([a, b], softVote([a, b]), labels).worse).toBe(false);
  });
});
