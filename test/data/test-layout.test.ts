/**
 * test.csv laid out differently from train.csv (transposed, inverted, columns in another
 * order), and competitions drawn dark on light: real practice competitions built from MNIST,
 * rewritten the way the review found them in the wild (session 36).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { loadDataset } from '../../src/data/dataset.js';
import { importCompetition, resolveCompetitionFiles } from '../../src/data/import.js';
import { inkPolarity, matchTestToTrain } from '../../src/data/ink.js';
import { applyOrientation } from '../../src/data/orientation.js';
import { buildPracticeCompetition, type PracticeRecipe } from '../../src/data/practice.js';
import { expectUserError, removeTempDirs, tempDir } from './helpers.js';

afterAll(removeTempDirs);

interface Table {
  header: string[] | null;
  rows: string[][];
}

async function readTable(file: string, header = true): Promise<Table> {
  const lines = (await readFile(file, 'utf8')).split('\n').filter((line) => line !== '');
  const cells = lines.map((line) => line.split(','));
  return header ? { header: cells[0]!, rows: cells.slice(1) } : { header: null, rows: cells };
}

async function writeTable(file: string, table: Table): Promise<void> {
  const lines = [...(table.header ? [table.header] : []), ...table.rows].map((cells) => cells.join(','));
  await writeFile(file, `${lines.join('\n')}\n`);
}

/** A Kaggle-layout practice competition (header, label first, integers 0–255). */
async function practice(recipe: PracticeRecipe = 'clean', trainRows = 300, testRows = 100): Promise<string> {
  const dir = join(await tempDir('digits-layout-'), recipe);
  await buildPracticeCompetition({ recipe, out: dir, trainRows, testRows, seed: 5 });
  return dir;
}

async function importDir(dir: string) {
  return importCompetition(await resolveCompetitionFiles([dir]));
}

/** Each row's pixel cells (from `first`) as a 28×28 image turned by `orientation`. */
function turnRows(rows: string[][], first: number, orientation: 'transpose' | 'flip-h'): string[][] {
  return rows.map((row) => {
    const pixels = Float32Array.from(row.slice(first), Number);
    const turned = applyOrientation(pixels, 28, orientation);
    return [...row.slice(0, first), ...Array.from(turned, String)];
  });
}

const invertCell = (cell: string) => String(255 - Number(cell));

describe('test.csv against train.csv', () => {
  test('a test set transposed against an upright train set is refused, naming test.csv and the transform', async () => {
    const dir = await practice();
    const test = await readTable(join(dir, 'test.csv'));
    await writeTable(join(dir, 'test.csv'), { header: test.header, rows: turnRows(test.rows, 0, 'transpose') });
    await expectUserError(importDir(dir), { message: /test\.csv's images are not stored like train\.csv's: they look transposed/, file: 'test.csv', line: 2, hint: /same way.*--no-test-check/ });
    // and with --no-test-check (the user says it is right as it is) it imports, recorded in the request
    const report = await importCompetition({ ...(await resolveCompetitionFiles([dir])), testCheck: false });
    expect(report.test.rows).toBe(100);
    const manifest = JSON.parse(await readFile(join(report.datasetDir, 'dataset.json'), 'utf8'));
    expect(manifest.request.testCheck).toBe(false);
  });

  test('a test set mirrored against train is refused', async () => {
    const dir = await practice();
    const test = await readTable(join(dir, 'test.csv'));
    await writeTable(join(dir, 'test.csv'), { header: test.header, rows: turnRows(test.rows, 0, 'flip-h') });
    await expectUserError(importDir(dir), { message: /mirrored left to right/, file: 'test.csv', line: 2 });
  });

  test('a test set inverted (255 − v) against train is refused, saying which file draws which way', async () => {
    const dir = await practice();
    const test = await readTable(join(dir, 'test.csv'));
    await writeTable(join(dir, 'test.csv'), { header: test.header, rows: test.rows.map((row) => row.map(invertCell)) });
    await expectUserError(importDir(dir), { message: /test\.csv draws dark digits on a light background, but train\.csv draws bright digits/, file: 'test.csv', line: 2, hint: /255 − v/ });
  });

  test('test.csv naming its pixels in another order (pixel783 … pixel0) is read by name: the same images as in order', async () => {
    const dir = await practice();
    const reference = await loadDataset((await importDir(dir)).datasetDir);
    const test = await readTable(join(dir, 'test.csv'));
    await writeTable(join(dir, 'test.csv'), { header: [...test.header!].reverse(), rows: test.rows.map((row) => [...row].reverse()) });
    const report = await importDir(dir);
    expect(report.detected.test?.pixelsBy).toMatch(/by header name \(784 of 784 in another order/);
    const reordered = await loadDataset(report.datasetDir);
    expect(Buffer.from(reordered.testImages.buffer).equals(Buffer.from(reference.testImages.buffer))).toBe(true);
    expect(reordered.fingerprint).toBe(reference.fingerprint);
  });

  test('a test header naming pixel columns train.csv does not have is refused at test.csv:1', async () => {
    const dir = await practice();
    const test = await readTable(join(dir, 'test.csv'));
    // pixel1 … pixel784: shifted by one (783 names shared, one not).
    await writeTable(join(dir, 'test.csv'), { header: test.header!.map((_, i) => `pixel${i + 1}`), rows: test.rows });
    await expectUserError(importDir(dir), { message: /does not name the same pixel columns as train\.csv's: it lacks "pixel0" and has "pixel784"/, file: 'test.csv', line: 1 });
  });

  test('headers in two naming schemes, or a pandas header numbering the columns, are read by position', async () => {
    const dir = await practice();
    const test = await readTable(join(dir, 'test.csv'));
    await writeTable(join(dir, 'test.csv'), { header: test.header!.map((_, i) => `${Math.floor(i / 28) + 1}x${(i % 28) + 1}`), rows: test.rows });
    expect((await importDir(dir)).detected.test?.pixelsBy).toBe('by position');
    await writeTable(join(dir, 'test.csv'), { header: test.header!.map((_, i) => String(i)), rows: test.rows });
    const train = await readTable(join(dir, 'train.csv'));
    await writeTable(join(dir, 'train.csv'), { header: train.header!.map((_, i) => String(i)), rows: train.rows });
    expect((await importDir(dir)).detected.test?.pixelsBy).toBe('by position');
  });

  // Every recipe's own test set matches its train set: no false alarm, noisy or not.
  test.each(['clean', 'uniform', 'mnistc-stripe', 'mnistc-brightness', 'mnistc-fog', 'nmnist-contrast-awgn', 'mnistc-translate'] as PracticeRecipe[])('the %s practice competition imports as it is: same layout, bright on dark', async (recipe) => {
    const report = await importDir(await practice(recipe));
    expect(report.inverted).toBe(false);
    expect(report.detected.polarity?.how).toBe('detected');
    expect(report.detected.testMatch).toMatch(/as stored/);
  });
});

describe('dark digits on a light background', () => {
  test('a competition inverted in both files is stored inverted back, recorded, with the clean import\'s images', async () => {
    const dir = await practice();
    const reference = await loadDataset((await importDir(dir)).datasetDir);
    for (const name of ['train.csv', 'test.csv']) {
      const table = await readTable(join(dir, name));
      const first = name === 'train.csv' ? 1 : 0;
      await writeTable(join(dir, name), { header: table.header, rows: table.rows.map((row) => [...row.slice(0, first), ...row.slice(first).map(invertCell)]) });
    }
    const report = await importDir(dir);
    expect(report.inverted).toBe(true);
    expect(report.detected.polarity).toMatchObject({ value: 'inverted', how: 'detected' });
    const manifest = (await loadDataset(report.datasetDir)).manifest;
    expect(manifest.inverted).toBe(true);
    const inverted = await loadDataset(report.datasetDir);
    expect(Buffer.from(inverted.trainImages.buffer).equals(Buffer.from(reference.trainImages.buffer))).toBe(true);
    expect(Buffer.from(inverted.testImages.buffer).equals(Buffer.from(reference.testImages.buffer))).toBe(true);
    // Recorded in the fingerprint: another dataset than the one drawn bright on dark.
    expect(inverted.fingerprint).not.toBe(reference.fingerprint);
    // --no-invert keeps them as stored.
    const kept = await importCompetition({ ...(await resolveCompetitionFiles([dir])), invert: false });
    expect(kept.inverted).toBe(false);
    expect(kept.detected.polarity).toMatchObject({ value: 'as-is', how: 'flag' });
    // a flag against what the pixels show is done, and said (session 38: --invert on bright digits went through without a word)
    expect(kept.detected.polarity!.reason).toMatch(/^--no-invert, against what train\.csv's first \d+ rows show \(.*\): the cache holds dark digits on a light background as they are$/);
    const clean = await practice();
    const forced = await importCompetition({ ...(await resolveCompetitionFiles([clean])), invert: true });
    expect(forced.detected.polarity!.reason).toMatch(/^--invert, against what train\.csv's first \d+ rows show \(.*\): the cache holds dark digits on a light background, which no shipped checkpoint was trained on$/);
  });

  test('floats in [0, 1] (the uniform recipe, noisy and transposed) inverted as 1 − v are detected too', async () => {
    const dir = await practice('uniform');
    for (const name of ['train.csv', 'test.csv']) {
      const table = await readTable(join(dir, name), false);
      const last = name === 'train.csv' ? 1 : 0; // the uniform layout: label last
      await writeTable(join(dir, name), { header: null, rows: table.rows.map((row) => [...row.slice(0, row.length - last).map((cell) => String(1 - Number(cell))), ...row.slice(row.length - last)]) });
    }
    const report = await importDir(dir);
    expect(report.inverted).toBe(true);
  });

  test('inkPolarity gives no verdict on too few images, and matchTestToTrain does not judge too few rows', () => {
    const images = new Float32Array(5 * 28 * 28).fill(1);
    expect(inkPolarity(images, 5, 28).inverted).toBeNull();
    const match = matchTestToTrain({ images, labels: new Uint8Array(5), count: 5 }, { images, count: 5 }, 28);
    expect(match).toMatchObject({ best: null, differs: false });
  });
});
