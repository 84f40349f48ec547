/** What `train` says of a split before training: digits it never trains on, digits it never scores. */
import { expect, test } from 'vitest';
import type { SavedSplit } from '../../src/data/splits.js';
import { splitCoverage } from '../../src/services/train.js';

const labels = Uint8Array.from([0, 0, 1, 1, 2, 2, 3, 3]);
const split = (validation: number[][]): SavedSplit =>
  ({ name: 's', spec: { kind: 'holdout', validationFraction: 0.5, seed: 1 }, datasetFingerprint: 'x', rows: 8, folds: validation.map((v) => ({ train: Uint32Array.from([0, 1, 2, 3, 4, 5, 6, 7].filter((r) => !v.includes(r))), validation: Uint32Array.from(v) })) }) as unknown as SavedSplit;

test('a hold-out that takes every row of a digit, or none of one, is said; a balanced one is not', () => {
  expect(splitCoverage(new Map([['h', split([[0, 2, 4, 6]])]]), labels)).toEqual([]);
  // digits 0 and 1 wholly held out (never trained on); digits 2 and 3 never scored
  expect(splitCoverage(new Map([['h', split([[0, 1, 2, 3]])]]), labels)).toEqual([
    'split "h" holds out every row of digits 0, 1: its members never see them in training (hold out less: a smaller "fraction")',
    'split "h" holds out no row of digits 2, 3: its held-out figures say nothing about them (a larger "fraction" holds out more)',
  ]);
  // k folds: each fold is named; a fold scoring no row of a digit is no news (the other folds do)
  expect(splitCoverage(new Map([['k', split([[0, 1], [2, 3, 4, 5, 6, 7]])]]), labels)).toEqual([
    "fold 1 of split \"k\" holds out every row of digit 0: its members never see it in training (the other folds' members train on it; more folds hold out fewer rows of each digit)",
    "fold 2 of split \"k\" holds out every row of digits 1, 2, 3: its members never see them in training (the other folds' members train on them; more folds hold out fewer rows of each digit)",
  ]);
  // a digit of a single row: no fraction or fold count helps, and the advice says so (until session 44: "a smaller fraction, or more folds")
  const oneSeven = Uint8Array.from([0, 0, 1, 1, 2, 2, 7, 2]);
  expect(splitCoverage(new Map([['k', split([[0, 2, 4, 6], [1, 3, 5, 7]])]]), oneSeven)).toEqual([
    "fold 1 of split \"k\" holds out every row of digit 7: its members never see it in training (the other folds' members train on it; it has a single row, which one fold always holds out)",
  ]);
  expect(splitCoverage(new Map([['h', split([[0, 2, 4, 6]])]]), oneSeven)[0]).toBe(
    'split "h" holds out every row of digit 7: its members never see it in training (it has a single training row, which a holdout either trains on or scores: k folds (--folds) train on it in every other fold)',
  );
});
