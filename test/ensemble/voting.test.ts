/** Bagged members' out-of-bag votes (`outOfBag`): each row voted by the members that held it out, and by no other. */
import { expect, test } from 'vitest';
import { outOfBag } from '../../src/ensemble/voting.js';
import { predictedLabels } from '../../src/evaluation/metrics.js';

test('outOfBag votes each row by the members that held it out, and by no other', () => {
  const row = (...p: number[]) => [...p, ...Array(10 - p.length).fill(0)];
  // a holds out rows 1, 2; b holds out 2, 3; c holds out 3
  const a = { rows: [1, 2], probs: Float32Array.from([...row(1), ...row(0.6, 0.4)]) };
  const b = { rows: [3, 2], probs: Float32Array.from([...row(0, 1), ...row(0.2, 0.8)]) };
  const c = { rows: [3], probs: Float32Array.from(row(0, 0.5, 0.5)) };
  const bag = outOfBag([a, b, c]);
  expect(bag.rows).toEqual([1, 2, 3]);
  expect(bag.voters).toEqual([1, 2, 2]);
  expect(Array.from(bag.soft.subarray(0, 3))).toEqual([1, 0, 0]);
  expect(Array.from(bag.soft.subarray(10, 12)).map((v) => Number(v.toFixed(6)))).toEqual([0.4, 0.6]);
  expect(Array.from(bag.soft.subarray(20, 23)).map((v) => Number(v.toFixed(6)))).toEqual([0, 0.75, 0.25]);
  // hard: row 2's tie of one vote each goes to the larger summed probability (class 1); row 3 both vote 1
  expect(Array.from(predictedLabels(bag.hard))).toEqual([0, 1, 1]);
  expect(() => outOfBag([{ rows: [1], probs: new Float32Array(5) }])).toThrow(/member 0 has 5 probabilities for 1 rows/);
});
