/**
 * The notes evaluate saves beside the ensemble's figures, case by case (real runs of the
 * common cases are in test/services/evaluate-weighted.test.ts and runs.test.ts).
 */
import { describe, expect, test } from 'vitest';
import { belowBestNote, failedFoldsNote, fewRowsNote, worseLogLossNote } from '../../src/evaluation/ensemble-notes.js';

const FIGURES = 'that no member trained on: its figures, and the TTA and weights decided on them, say little';

describe('few held-out rows', () => {
  test.each([
    {
      name: 'a shared split of a small dataset: the dataset is small, k-fold would score every row',
      rows: 60, trainRows: 600, validation: { kind: 'shared' as const, fraction: 0.1 },
      note: `the ensemble is scored on only 60 rows ${FIGURES} (the dataset is small: the shared split holds out 10% of its 600 training rows; k-fold validation (--folds 4) would score it on every training row)`,
    },
    {
      name: 'a shared split holding out a small share of a larger dataset: a larger fraction, or k-fold',
      rows: 60, trainRows: 3000, validation: { kind: 'shared' as const, fraction: 0.02 },
      note: `the ensemble is scored on only 60 rows ${FIGURES} (the shared split holds out only 2% of the 3000 training rows; a larger "fraction", or k-fold validation (--folds 4) would score it on every training row)`,
    },
    {
      name: 'k-fold on a tiny dataset: k-fold already scores every row',
      rows: 90, trainRows: 90, validation: { kind: 'kfold' as const },
      note: `the ensemble is scored on only 90 rows ${FIGURES} (the dataset is small: k-fold validation already scores it on every one of its 90 training rows)`,
    },
    {
      name: 'k-fold whose failed fold members left rows out',
      rows: 60, trainRows: 90, validation: { kind: 'kfold' as const },
      note: `the ensemble is scored on only 60 rows ${FIGURES} (k-fold validation scores it on the rows of the folds whose members trained: 60 of the 90 training rows)`,
    },
  ])('$name', ({ rows, trainRows, validation, note }) => {
    // Given an ensemble scored on fewer than 100 rows, When the note is made, Then its advice fits the run's validation
    expect(fewRowsNote(rows, trainRows, validation)).toBe(note);
  });
});

describe('the submitted vote below its best member', () => {
  const best = { name: 'deotte-4', accuracy: 0.6667 };
  const options = { what: 'member' as const, rows: 60, tta: true };
  test.each([
    {
      name: 'weighted submission above the best member: no note, though the equal vote is below it (the review\'s run)',
      votes: { equal: 0.65, weighted: 0.6833 },
      note: null,
    },
    {
      name: 'weighted submission below the best member: the note names the weighted vote and its cross-fitted figure',
      votes: { equal: 0.7, weighted: 0.65 },
      note: 'the submitted vote (weighted soft vote, cross-fitted 65.00%) scores below its best member, deotte-4 (66.67%), both with 8-way TTA as submitted, on the 60 held-out rows',
    },
    {
      name: 'equal submission below the best member: the note names the equal vote',
      votes: { equal: 0.65 },
      note: 'the submitted vote (equal soft vote, 65.00%) scores below its best member, deotte-4 (66.67%), both with 8-way TTA as submitted, on the 60 held-out rows',
    },
  ])('$name', ({ votes, note }) => {
    // Given the held-out accuracies of the votes (weighted only when the submission uses the weights)
    // When the note is made, Then it compares the vote the submission uses, and names it
    expect(belowBestNote(votes, best, options)).toBe(note);
  });
});

describe('the submitted vote clearly worse in log-loss than its best member', () => {
  const best = { name: 'seed002-2', logLoss: 0.0325 };
  const options = { what: 'member' as const, rows: 600, tta: false, margin: 2 };
  test('a difference beyond the margin is noted, naming the vote, the member and the figures', () => {
    expect(worseLogLossNote({ weighted: false, logLoss: 0.0452 }, { ...best, difference: { mean: 0.0127, standardError: 0.003 } }, options)).toBe(
      "the submitted vote's log-loss (equal soft vote, 0.0452) is above its best member's, seed002-2 (0.0325) (39% higher) on the 600 held-out rows, by 0.0127 ± 0.0030 (standard error of the per-row difference; noted beyond 2): its probabilities are worse than that member's alone, whatever its accuracy",
    );
  });
  test('a difference within the margin, or a vote better than the member, says nothing', () => {
    expect(worseLogLossNote({ weighted: true, logLoss: 0.034 }, { ...best, difference: { mean: 0.0015, standardError: 0.001 } }, options)).toBeNull();
    expect(worseLogLossNote({ weighted: false, logLoss: 0.03 }, { ...best, difference: { mean: -0.0025, standardError: 0.001 } }, options)).toBeNull();
  });
  test('on fewer than 10 held-out rows no difference is claimed (one row read "0.3686 ± 0.0000 … noted beyond 2")', () => {
    expect(worseLogLossNote({ weighted: false, logLoss: 2.1766 }, { ...best, logLoss: 1.808, difference: { mean: 0.3686, standardError: 0 } }, { ...options, rows: 1 })).toBeNull();
    expect(worseLogLossNote({ weighted: false, logLoss: 0.0452 }, { ...best, difference: { mean: 0.0127, standardError: 0.003 } }, { ...options, rows: 10 })).not.toBeNull();
  });
});

describe('k-fold with failed fold members', () => {
  const base = { folds: 3, trainRows: 1500 };
  test.each([
    {
      name: 'every fold member trained: nothing to say',
      failed: [], recipes: [{ name: 'a', folds: [1, 2, 3] }, { name: 'b', folds: [1, 2, 3] }], ensembleFolds: 3, rows: 1500,
      note: null,
    },
    {
      name: 'one fold member failed: the folds the ensemble covers, and the recipe that lost a fold with the folds it keeps',
      failed: ['a-f2'], recipes: [{ name: 'a', folds: [1, 3] }, { name: 'b', folds: [1, 2, 3] }], ensembleFolds: 2, rows: 1000,
      note: "fold member a-f2 failed: the ensemble's cross-validation covers 2 of 3 folds (1000 of 1500 training rows); each recipe's covers the folds its members trained (a: folds 1, 3 of 3)",
    },
    {
      name: 'every fold member of a recipe failed: it is named out of the ensemble (it read "covers 3 of 3 folds" and nothing more)',
      failed: ['b-f1', 'b-f2', 'b-f3'], recipes: [{ name: 'a', folds: [1, 2, 3] }, { name: 'b', folds: [] }], ensembleFolds: 3, rows: 1500,
      note: "fold members b-f1, b-f2, b-f3 failed: recipe b is out of the ensemble (none of its fold members trained), which is recipe a alone; the ensemble's cross-validation covers 3 of 3 folds (1500 of 1500 training rows)",
    },
    {
      name: 'two recipes out, two kept, one of them short of a fold',
      failed: ['b-f1', 'b-f2', 'b-f3', 'c-f1', 'c-f2', 'c-f3', 'd-f3'], recipes: [{ name: 'a', folds: [1, 2, 3] }, { name: 'b', folds: [] }, { name: 'c', folds: [] }, { name: 'd', folds: [1, 2] }], ensembleFolds: 2, rows: 1000,
      note: "fold members b-f1, b-f2, b-f3, c-f1, c-f2, c-f3, d-f3 failed: recipes b, c are out of the ensemble (none of their fold members trained), which is recipes a, d; the ensemble's cross-validation covers 2 of 3 folds (1000 of 1500 training rows); each recipe's covers the folds its members trained (d: folds 1, 2 of 3)",
    },
  ])('$name', ({ failed, recipes, ensembleFolds, rows, note }) => {
    expect(failedFoldsNote({ ...base, failed, recipes, ensembleFolds, rows })).toBe(note);
  });
});
