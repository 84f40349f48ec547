/** "sampling": "balanced": each epoch draws every digit equally often, from that digit's own rows. */
import { expect, test } from 'vitest';
import { createRandom } from '../../src/data/random.js';
import { ensembleFromJson } from '../../src/ensemble/ensemble-spec.js';
import { balancedOrder } from '../../src/training/train-member.js';
import { heavyImbalance } from '../../src/data/class-coverage.js';

test('an epoch of as many rows as there are, every digit present equally often (±1), each drawn from its own rows', () => {
  // Given 90 ones and one row each of 0, 2…9 (rows 100–189 are the ones), the training rows of a split
  const labels = new Uint8Array(200);
  const rows: number[] = [];
  for (let r = 100; r < 190; r++) (labels[r] = 1), rows.push(r);
  for (const d of [0, 2, 3, 4, 5, 6, 7, 8, 9]) (labels[d] = d), rows.push(d);
  const order = balancedOrder(labels, rows, createRandom(3));
  expect(order.length).toBe(rows.length);
  const counts = new Array<number>(10).fill(0);
  for (const row of order) {
    expect(rows).toContain(row);
    counts[labels[row]!]!++;
  }
  expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
  // the ones drawn are many different rows (with replacement within the digit, not one row repeated)
  expect(new Set(Array.from(order).filter((r) => labels[r] === 1)).size).toBeGreaterThan(5);
  // and the draw is the seed's
  expect(Array.from(balancedOrder(labels, rows, createRandom(3)))).toEqual(Array.from(order));
  // a digit absent from the rows is not drawn
  expect(balancedOrder(labels, rows.filter((r) => labels[r] !== 7), createRandom(1)).some((r) => labels[r] === 7)).toBe(false);
});

test('ensemble files take "sampling": "balanced" and refuse anything else; auto decides it by heavyImbalance', () => {
  expect(ensembleFromJson(JSON.stringify({ members: [{ preset: 'mlp', sampling: 'balanced' }] }), 'e.json').members[0]!.sampling).toBe('balanced');
  expect(ensembleFromJson(JSON.stringify({ members: [{ preset: 'mlp' }] }), 'e.json').members[0]!.sampling).toBeUndefined();
  expect(() => ensembleFromJson(JSON.stringify({ members: [{ preset: 'mlp', sampling: 'oversample' }] }), 'e.json')).toThrow(/members\[0\]\.sampling: must be "balanced"/);
  expect(heavyImbalance([20, 180, 20, 20, 20, 20, 20, 20, 20, 20])).toMatchObject({ digit: 1 });
  expect(heavyImbalance([5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949])).toBeNull();
});
