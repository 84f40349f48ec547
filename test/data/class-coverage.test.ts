import { afterAll, describe, expect, test } from 'vitest';
import { classCoverageWarnings, heavyImbalance } from '../../src/data/class-coverage.js';
import { importCompetition, resolveCompetitionFiles } from '../../src/data/import.js';
import { competition, csv, removeTempDirs } from './helpers.js';

afterAll(removeTempDirs);

describe('class coverage of the training labels', () => {
  test('all ten digits by the dozen: nothing to say', () => {
    expect(classCoverageWarnings(new Array(10).fill(50))).toEqual([]);
    expect(classCoverageWarnings(new Array(10).fill(50), { folds: 5 })).toEqual([]);
  });

  test('a digit without rows, and digits with a few, are named with their counts', () => {
    const counts = [66, 82, 67, 61, 55, 56, 50, 54, 0, 2];
    const warnings = classCoverageWarnings(counts);
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/^digit 8 has no training rows: .*no held-out figure scores it$/);
    expect(warnings[1]).toMatch(/^few training rows for digit 9: 2: held-out figures for it rest on a row or two$/);
    expect(classCoverageWarnings([0, 0, 5, 5, 5, 5, 5, 5, 5, 5])[0]).toMatch(/^digits 0, 1 have no training rows/);
  });

  test('under k-fold, fewer rows than folds says which digits some folds cannot validate', () => {
    const counts = [40, 40, 40, 40, 40, 40, 40, 40, 12, 3];
    expect(classCoverageWarnings(counts)).toEqual([expect.stringMatching(/^few training rows for digit 9: 3:/)]);
    const kfold = classCoverageWarnings(counts, { folds: 13 });
    // (8 has 12 rows, enough for held-out figures: the 13 folds are what is short; 9 has 3, short either way)
    expect(kfold).toEqual([
      expect.stringMatching(/^few training rows for digit 9: 3: .*; fewer than the 13 folds for 9, so some folds validate none of it$/),
      '13 folds are more than the training rows of digit 8: 12: some folds validate none of it; fewer folds (5 or 10, as usual) validate every digit in every fold',
    ]);
    // 200 folds of about 100 rows a digit: the folds are named, not "a row or two"
    expect(classCoverageWarnings(new Array(10).fill(100), { folds: 200 })).toEqual([expect.stringMatching(/^200 folds are more than the training rows of digits 0: 100, 1: 100, .*9: 100: some folds validate none of them/)]);
  });

  test('heavy imbalance is said: a digit with over 30% of the rows, or five times another\'s; MNIST\'s own spread is not', () => {
    const imbalance = /^the training labels are heavily imbalanced \(digit 1: (\d+)% of the rows, (\d+) against (\d+) for the rarest\)/;
    expect(classCoverageWarnings([200, 1800, 20, 20, 20, 20, 20, 20, 20, 20]).at(-1)).toMatch(imbalance);
    expect(classCoverageWarnings([200, 1800, 20, 20, 20, 20, 20, 20, 20, 20]).at(-1)!.match(imbalance)!.slice(1)).toEqual(['83', '1800', '20']);
    expect(classCoverageWarnings([100, 500, 100, 100, 100, 100, 100, 100, 100, 99]).at(-1)).toMatch(/digit 1: 36% of the rows, 500 against 99/);
    expect(classCoverageWarnings([5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949])).toEqual([]);
  });

  test('the imbalance is weighed against another digit with enough rows, never the largest against itself ("4 against 4 for the rarest")', () => {
    // Given 9 rows, 4 of digit 3 and one of five others: no other digit has 10 rows
    const tiny = classCoverageWarnings([0, 1, 1, 4, 0, 1, 0, 1, 1, 0]).at(-1)!;
    expect(tiny).toMatch(/^the training labels are heavily imbalanced \(digit 3: 44% of the rows\): /);
    expect(tiny).not.toMatch(/against/);
    expect(heavyImbalance([0, 1, 1, 4, 0, 1, 0, 1, 1, 0])).toMatchObject({ digit: 3, largest: 4, smallest: null });
    // One digit by the hundred among digits of a few rows: no "against" either
    expect(classCoverageWarnings([200, 5, 5, 5, 5, 5, 5, 5, 5, 5]).at(-1)).toMatch(/\(digit 0: 82% of the rows\)/);
    // Others with enough rows besides digits with a few: against the rarest of those, said so
    expect(classCoverageWarnings([300, 20, 3, 20, 20, 20, 20, 20, 20, 20]).at(-1)).toMatch(/\(digit 0: 65% of the rows, 300 against 20 for the rarest of those with 10 rows or more\)/);
  });

  test('no training rows at all is not a coverage problem (import says there are none)', () => {
    expect(classCoverageWarnings(new Array(10).fill(0))).toEqual([]);
  });

  test('the import report carries the warnings of what it imported', async () => {
    const rows = Array.from({ length: 90 }, (_, i) => `${i % 9},${i},0,0,${255 - i}`); // no 9s
    const dir = await competition({ 'train.csv': csv('label,a,b,c,d', ...rows, '9,1,2,3,4'), 'test.csv': csv('a,b,c,d', '0,0,0,0') });
    const report = await importCompetition({ ...(await resolveCompetitionFiles([dir])) });
    expect(report.train.classCounts).toEqual([10, 10, 10, 10, 10, 10, 10, 10, 10, 1]);
    // and, 2×2 images being no preset's size, says so (since session 36)
    expect(report.warnings).toEqual([expect.stringMatching(/^few training rows for digit 9: 1:/), expect.stringMatching(/^the images are 2×2, but digits' network presets take 28×28: `digits run` and `digits train` will refuse this dataset/)]);
  });
});
