import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { importCompetition, resolveCompetitionFiles } from '../../src/data/import.js';
import { createSplit, listSplits, loadSplit, saveSplit, stratifiedKFold, stratifiedSplit, validationExample } from '../../src/data/splits.js';
import { competition, csv, expectUserError, removeTempDirs } from './helpers.js';

afterAll(removeTempDirs);

/** Labels with `counts[c]` rows of class c, interleaved so classes are not contiguous. */
function labelsWith(counts: number[]): Uint8Array {
  const labels: number[] = [];
  const left = counts.slice();
  while (left.some((n) => n > 0)) left.forEach((n, c) => { if (n > 0) { labels.push(c); left[c]--; } });
  return Uint8Array.from(labels);
}

function countsOf(labels: Uint8Array, rows: Uint32Array): number[] {
  const counts = new Array(10).fill(0);
  for (const row of rows) counts[labels[row]]++;
  return counts;
}

const distributions: Array<[string, number[]]> = [
  ['balanced', [100, 100, 100, 100, 100, 100, 100, 100, 100, 100]],
  ['MNIST-like', [592, 674, 595, 613, 584, 542, 591, 626, 585, 594]],
  ['imbalanced with tiny classes', [500, 3, 1, 0, 77, 250, 9, 2, 30, 128]],
  ['one class', [37, 0, 0, 0, 0, 0, 0, 0, 0, 0]],
];

describe('stratifiedSplit', () => {
  const cases = distributions.flatMap(([name, counts]) => [0.1, 0.2, 0.5].map((fraction) => ({ name, counts, fraction })));

  test.each(cases)('$name, validation $fraction: per-class within one row of exact, disjoint and complete', ({ counts, fraction }) => {
    const labels = labelsWith(counts);
    const { train, validation } = stratifiedSplit(labels, { validationFraction: fraction, seed: 11 });
    // per class within one sample of exact
    countsOf(labels, validation).forEach((count, c) => expect(Math.abs(count - counts[c] * fraction)).toBeLessThan(1));
    // the total is the rounded share
    expect(validation.length).toBe(Math.round(labels.length * fraction));
    // no overlap, full coverage, ascending
    const all = [...train, ...validation].sort((a, b) => a - b);
    expect(all).toEqual(Array.from({ length: labels.length }, (_, i) => i));
    expect(Array.from(validation)).toEqual([...validation].sort((a, b) => a - b));
  });

  test('is seeded', () => {
    const labels = labelsWith(distributions[1][1]);
    const a = stratifiedSplit(labels, { validationFraction: 0.1, seed: 1 });
    const b = stratifiedSplit(labels, { validationFraction: 0.1, seed: 1 });
    const c = stratifiedSplit(labels, { validationFraction: 0.1, seed: 2 });
    expect(a.validation).toEqual(b.validation);
    expect(a.validation).not.toEqual(c.validation);
  });

  test.each([0, 1, -0.1, Number.NaN])('rejects validationFraction %f', (fraction) => {
    expect(() => stratifiedSplit(labelsWith([5, 5]), { validationFraction: fraction, seed: 1 })).toThrow(RangeError);
  });
});

describe('stratifiedKFold', () => {
  const cases = distributions.flatMap(([name, counts]) => [2, 5, 10].map((k) => ({ name, counts, k })));

  test.each(cases)('$name, k=$k: each fold holds floor or ceil of every class, folds partition the rows', ({ counts, k }) => {
    const labels = labelsWith(counts);
    const folds = stratifiedKFold(labels, { k, seed: 5 });
    expect(folds).toHaveLength(k);
    const seen = new Uint8Array(labels.length);
    for (const fold of folds) {
      countsOf(labels, fold.validation).forEach((count, c) => expect(Math.abs(count - counts[c] / k)).toBeLessThan(1));
      for (const row of fold.validation) seen[row]++;
      // train is the complement of validation
      expect(fold.train.length + fold.validation.length).toBe(labels.length);
      const validation = new Set(fold.validation);
      expect(Array.from(fold.train).some((row) => validation.has(row))).toBe(false);
    }
    expect(seen.every((times) => times === 1)).toBe(true);
    const sizes = folds.map((fold) => fold.validation.length);
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
  });

  test('more than 255 folds: none is empty (fold numbers wrapped past 255 once)', () => {
    const labels = Uint8Array.from({ length: 2000 }, (_, i) => i % 10);
    const folds = stratifiedKFold(labels, { k: 1000, seed: 3 });
    expect(folds.map((fold) => fold.validation.length)).toEqual(new Array(1000).fill(2));
  });

  test.each([1, 0, 2.5, 1000])('rejects k = %f for 37 rows', (k) => {
    expect(() => stratifiedKFold(labelsWith([37]), { k, seed: 1 })).toThrow(RangeError);
  });
});

describe('saved splits', () => {
  const train = csv('label,a,b,c,d', ...Array.from({ length: 60 }, (_, i) => `${i % 10},${i},0,0,0`));

  async function imported() {
    const dir = await competition({ 'train.csv': train });
    const report = await importCompetition(await resolveCompetitionFiles([dir]));
    return { dir, datasetDir: report.datasetDir, fingerprint: report.fingerprint };
  }

  test('createSplit saves indices, seed and fingerprint; loadSplit reads them back', async () => {
    const { dir, datasetDir, fingerprint } = await imported();
    const report = await createSplit({ data: dir, name: 'holdout', spec: { kind: 'holdout', validationFraction: 0.2, seed: 3 } });
    expect(report.file).toBe(join(datasetDir, 'splits', 'holdout.json'));
    // 6 rows per class × 0.2 = 1.2 each: every class gives 1 or 2, 12 in all
    expect(report.validationPerClass[0].every((count) => count === 1 || count === 2)).toBe(true);
    expect(report.validationPerClass[0].reduce((a, b) => a + b, 0)).toBe(12);
    const loaded = await loadSplit(datasetDir, 'holdout', fingerprint);
    expect(loaded.spec).toEqual({ kind: 'holdout', validationFraction: 0.2, seed: 3 });
    expect(loaded.folds).toHaveLength(1);
    expect(loaded.folds[0].validation.length).toBe(12);
    expect(loaded.folds[0].train.length).toBe(48);
    const direct = stratifiedSplit(Uint8Array.from({ length: 60 }, (_, i) => i % 10), { validationFraction: 0.2, seed: 3 });
    expect(loaded.folds[0].validation).toEqual(direct.validation);
    expect(loaded.folds[0].train).toEqual(direct.train);
    // (a name typed as its file names the split, not splits/holdout.json.json)
    const typed = await createSplit({ data: dir, name: 'holdout.json', spec: { kind: 'holdout', validationFraction: 0.2, seed: 3 } });
    expect(typed).toMatchObject({ name: 'holdout', file: join(datasetDir, 'splits', 'holdout.json'), unchanged: true });
    // Saving the same split again is a no-op; a different one under the same name needs force
    expect((await createSplit({ data: dir, name: 'holdout', spec: { kind: 'holdout', validationFraction: 0.2, seed: 3 } })).unchanged).toBe(true);
    await expectUserError(createSplit({ data: dir, name: 'holdout', spec: { kind: 'holdout', validationFraction: 0.2, seed: 4 } }), { message: /different split named "holdout"/, hint: /--force/ });
    expect((await createSplit({ data: dir, name: 'holdout', spec: { kind: 'holdout', validationFraction: 0.2, seed: 4 }, force: true })).unchanged).toBe(false);
  });

  test('a split whose validation rows cannot score every digit says so (saved all the same); one that can says nothing', async () => {
    // Given 60 rows, 6 of each digit
    const { dir } = await imported();
    // When split into 12 folds (each digit has 6 rows: half the folds validate none of it)
    const folds = await createSplit({ data: dir, name: 'cv12', spec: { kind: 'kfold', k: 12, seed: 1 } });
    expect(folds.warnings).toEqual([expect.stringMatching(/fewer than the 12 folds for 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, so some folds validate none of them/)]);
    // or held out at 5% (3 rows: 7 digits unscored)
    const small = await createSplit({ data: dir, name: 'small', spec: { kind: 'holdout', validationFraction: 0.05, seed: 1 } });
    const unscored = small.validationPerClass[0]!.flatMap((count, digit) => (count === 0 ? [digit] : []));
    expect(unscored).toHaveLength(7);
    expect(small.warnings).toEqual([`the hold-out has no row of digits ${unscored.join(', ')}: its figures say nothing about them (a larger --validation holds out more)`]);
    // or held out at 95% (57 rows: 3 rows left to train on, so at least 7 digits never trained on)
    const large = await createSplit({ data: dir, name: 'large', spec: { kind: 'holdout', validationFraction: 0.95, seed: 1 } });
    const untrained = large.trainPerClass[0]!.flatMap((count, digit) => (count === 0 ? [digit] : []));
    expect(untrained.length).toBeGreaterThanOrEqual(7);
    expect(large.warnings).toEqual([`the hold-out takes every row of digits ${untrained.join(', ')}: networks trained on this split never see them (a smaller --validation holds out less)`]);
    // Then 3 folds and a 20% hold-out score every digit (6 rows each is still few: that warning stays)
    expect((await createSplit({ data: dir, name: 'cv3', spec: { kind: 'kfold', k: 3, seed: 1 } })).warnings.join()).not.toMatch(/folds validate none/);
    expect((await createSplit({ data: dir, name: 'h20', spec: { kind: 'holdout', validationFraction: 0.2, seed: 1 } })).warnings).toEqual([]);
  });

  test('k-fold splits round-trip', async () => {
    const { dir, datasetDir, fingerprint } = await imported();
    await createSplit({ data: dir, name: 'cv3', spec: { kind: 'kfold', k: 3, seed: 9 } });
    const loaded = await loadSplit(datasetDir, 'cv3', fingerprint);
    const direct = stratifiedKFold(Uint8Array.from({ length: 60 }, (_, i) => i % 10), { k: 3, seed: 9 });
    expect(loaded.folds.map((f) => Array.from(f.validation))).toEqual(direct.map((f) => Array.from(f.validation)));
    expect(loaded.folds.map((f) => Array.from(f.train))).toEqual(direct.map((f) => Array.from(f.train)));
    expect(await listSplits(datasetDir)).toEqual(['cv3']);
  });

  test('a split made for other data is refused after a re-import with different content', async () => {
    const { dir, datasetDir } = await imported();
    await createSplit({ data: dir, name: 'holdout', spec: { kind: 'holdout', validationFraction: 0.1, seed: 1 } });
    await writeFile(join(dir, 'train.csv'), train.replace('1,1,0,0,0', '2,1,0,0,0'));
    const report = await importCompetition(await resolveCompetitionFiles([dir]));
    await expectUserError(loadSplit(datasetDir, 'holdout', report.fingerprint), { message: /made for other data/, hint: /--force/ });
    // Making it again (as `digits run` and `train` do with their default split) replaces the stale one without --force
    const again = await createSplit({ data: dir, name: 'holdout', spec: { kind: 'holdout', validationFraction: 0.1, seed: 1 } });
    expect(again).toMatchObject({ unchanged: false, replacedStale: true });
    expect((await loadSplit(datasetDir, 'holdout', report.fingerprint)).datasetFingerprint).toBe(report.fingerprint);
    // A different split of the same name for this same data still needs --force
    await expectUserError(createSplit({ data: dir, name: 'holdout', spec: { kind: 'holdout', validationFraction: 0.1, seed: 2 } }), { message: /different split named/ });
  });

  test.each([
    ['a missing split', 'nope', { message: /no split named "nope"/, hint: /digits data split/ }],
    ['a bad name', '../evil', { message: /invalid split name/, flag: 'name' }],
  ])('%s', async (_what, name, expected) => {
    const { datasetDir } = await imported();
    await expectUserError(loadSplit(datasetDir, name), expected);
  });

  test('a file named splits in the dataset folder is a user error naming it, not a crash on mkdir', async () => {
    // Given a file where the splits folder goes
    const { dir, datasetDir } = await imported();
    await writeFile(join(datasetDir, 'splits'), 'x');
    // Then making a split names that file (it was mkdir's EEXIST, an internal error)
    await expectUserError(createSplit({ data: dir, name: 'h', spec: { kind: 'holdout', validationFraction: 0.2, seed: 1 } }), { message: /^the splits folder .*splits is a file, not a folder$/, file: 'splits', hint: /Move .*splits aside/ });
  });

  test('one training row is too few to split, and the hints say so (they gave "at least 0.5 and below 0.5" and "from 2 to 1")', async () => {
    const dir = await competition({ 'train.csv': csv('label,a,b,c,d', '1,0,255,0,0'), 'test.csv': csv('a,b,c,d', '0,0,0,0') });
    await importCompetition(await resolveCompetitionFiles([dir]));
    await expectUserError(createSplit({ data: dir, name: 'h', spec: { kind: 'holdout', validationFraction: 0.1, seed: 1 } }), { message: /^the dataset has one training row: too few to split/, flag: 'validation', hint: /more training rows/ });
    await expectUserError(createSplit({ data: dir, name: 'k', spec: { kind: 'kfold', k: 2, seed: 1 } }), { message: /too few to split/, flag: 'folds', hint: /more training rows/ });
  });

  test.each([2, 3, 4, 5, 7, 20])('with %i training rows every hint\'s example is one the split takes', async (n) => {
    // Given n training rows
    const dir = await competition({ 'train.csv': csv('label,a,b,c,d', ...Array.from({ length: n }, (_, i) => `${i % 10},0,255,0,0`)), 'test.csv': csv('a,b,c,d', '0,0,0,0') });
    await importCompetition(await resolveCompetitionFiles([dir]));
    // When a fraction that holds out no row, and too many folds, are asked for
    const none = await expectUserError(createSplit({ data: dir, name: 'h', spec: { kind: 'holdout', validationFraction: 0.001, seed: 1 } }), { message: /holds out no row/, flag: 'validation' });
    const folds = await expectUserError(createSplit({ data: dir, name: 'k', spec: { kind: 'kfold', k: n + 1, seed: 1 } }), { message: new RegExp(`from 2 to ${n}, not ${n + 1}$`), flag: 'folds' });
    const outside = await expectUserError(createSplit({ data: dir, name: 'h', spec: { kind: 'holdout', validationFraction: 1.5, seed: 1 } }), { message: /between 0 and 1/ });
    // Then the examples their hints give are taken
    const fraction = Number(/for example --validation ([\d.]+)\)/.exec(none.hint!)![1]);
    expect(fraction).toBe(validationExample(n));
    expect(Number(/For example --validation ([\d.]+) /.exec(outside.hint!)![1])).toBe(fraction);
    const lower = Number(/at least ([\d.]+)/.exec(none.hint!)![1]);
    const upper = Number(/below ([\d.]+)/.exec(none.hint!)![1]);
    expect(lower).toBeLessThan(upper);
    const held = (await createSplit({ data: dir, name: 'h', spec: { kind: 'holdout', validationFraction: fraction, seed: 1 } })).validationPerClass[0]!.reduce((a, b) => a + b, 0);
    expect(held).toBeGreaterThan(0);
    expect(held).toBeLessThan(n);
    const k = Number(/For example --folds (\d+)\./.exec(folds.hint!)![1]);
    expect(k).toBeLessThanOrEqual(n);
    expect((await createSplit({ data: dir, name: 'k', spec: { kind: 'kfold', k, seed: 1 } })).validationPerClass).toHaveLength(k);
  });

  test('saveSplit rejects bad names and bad parameters are user errors', async () => {
    const { dir, datasetDir, fingerprint } = await imported();
    await expectUserError(saveSplit(datasetDir, { name: 'a/b', spec: { kind: 'kfold', k: 2, seed: 1 }, datasetFingerprint: fingerprint, rows: 0, folds: [] }), { message: /invalid split name/ });
    await expectUserError(createSplit({ data: dir, name: 'x', spec: { kind: 'holdout', validationFraction: 1.5, seed: 1 } }), { message: /between 0 and 1/, flag: 'validation' });
    await expectUserError(createSplit({ data: dir, name: 'x', spec: { kind: 'kfold', k: 1, seed: 1 } }), { message: /number of folds/, flag: 'folds' });
  });
});
