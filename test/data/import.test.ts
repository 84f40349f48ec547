import { execFileSync } from 'node:child_process';
import { cp, mkdir, readdir, readFile, rm, stat, symlink, truncate, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { assertSourcesUnchanged, loadDataset, readManifest, resolveDatasetDir } from '../../src/data/dataset.js';
import { type ImportOptions, importCompetition, resolveCompetitionFiles } from '../../src/data/import.js';
import { competition, csv, expectUserError, type ExpectedUserError, removeTempDirs, tempDir } from './helpers.js';
import { deadPid } from '../helpers/dead-pid.js';

afterAll(removeTempDirs);

type Overrides = Omit<ImportOptions, 'competitionDir' | 'train' | 'test' | 'sampleSubmission'>;

async function importDir(dir: string, overrides: Overrides = {}) {
  const files = await resolveCompetitionFiles([dir]);
  return importCompetition({ ...files, ...overrides });
}

interface Detected {
  header: boolean;
  labelColumn: number;
  labelHow?: 'detected' | 'flag';
  scale: 1 | 255;
  size: number;
  trainImages: number[];
  trainLabels: number[];
  testImages?: number[];
  testLabels?: number[];
  ids?: string[];
  submissionHeader?: string[];
}

const kaggleTrain = csv('label,pixel0,pixel1,pixel2,pixel3', '1,0,255,128,0', '7,12,0,0,3');
const kaggleTest = csv('pixel0,pixel1,pixel2,pixel3', '0,0,0,255');

describe('data import detects the layout', () => {
  const cases: Array<{ name: string; files: Record<string, string>; options?: Overrides; expected: Detected }> = [
    {
      name: 'Kaggle Digit Recognizer layout (header, label first by name, 0–255)',
      files: { 'train.csv': kaggleTrain, 'test.csv': kaggleTest, 'sample_submission.csv': csv('ImageId,Label', '1,0') },
      expected: { header: true, labelColumn: 0, scale: 255, size: 2, trainImages: [0, 255, 128, 0, 12, 0, 0, 3], trainLabels: [1, 7], testImages: [0, 0, 0, 255], ids: ['1'], submissionHeader: ['ImageId', 'Label'] },
    },
    {
      name: 'seed-002 InClass layout (no header, floats in [0,1], label last written 7.0)',
      files: { 'train.csv': csv('0.5,0.25,1.0,0.0,7.0', '0.125,0.75,0.5,1,3.0'), 'test.csv': csv('0.5,0.5,0.5,0.5') },
      expected: { header: false, labelColumn: 4, scale: 1, size: 2, trainImages: [0.5, 0.25, 1, 0, 0.125, 0.75, 0.5, 1], trainLabels: [7, 3], testImages: [0.5, 0.5, 0.5, 0.5], ids: ['1'], submissionHeader: ['ImageId', 'Label'] },
    },
    {
      name: 'no header, label first found by content',
      files: { 'train.csv': csv('3,0,200,255,0', '9,10,20,30,40', '0,0,0,0,1') },
      expected: { header: false, labelColumn: 0, scale: 255, size: 2, trainImages: [0, 200, 255, 0, 10, 20, 30, 40, 0, 0, 0, 1], trainLabels: [3, 9, 0], testImages: [], ids: [] },
    },
    {
      name: 'UTF-8 BOM and CRLF line ends',
      files: { 'train.csv': '\ufeffLabel,a,b,c,d\r\n5,1,2,3,4\r\n6,4,3,2,1\r\n', 'test.csv': '\ufeffa,b,c,d\r\n9,9,9,9\r\n' },
      expected: { header: true, labelColumn: 0, scale: 255, size: 2, trainImages: [1, 2, 3, 4, 4, 3, 2, 1], trainLabels: [5, 6], testImages: [9, 9, 9, 9] },
    },
    {
      name: 'both ends hold digits: the one with more distinct values is the label',
      files: { 'train.csv': csv('1,0,0,0,0', '2,0,0,0,1', '3,0,0,0,0', '4,0,0,5,0') },
      expected: { header: false, labelColumn: 0, scale: 255, size: 2, trainImages: [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 5, 0], trainLabels: [1, 2, 3, 4] },
    },
    {
      name: 'a column named label in the middle',
      files: { 'train.csv': csv('p0,p1,label,p2,p3', '1,2,5,3,4') },
      expected: { header: true, labelColumn: 2, scale: 255, size: 2, trainImages: [1, 2, 3, 4], trainLabels: [5] },
    },
    {
      name: 'test with as many columns as train carries labels',
      files: { 'train.csv': kaggleTrain, 'test.csv': csv('label,pixel0,pixel1,pixel2,pixel3', '4,1,2,3,4', '8,5,6,7,8') },
      expected: { header: true, labelColumn: 0, scale: 255, size: 2, trainImages: [0, 255, 128, 0, 12, 0, 0, 3], trainLabels: [1, 7], testImages: [1, 2, 3, 4, 5, 6, 7, 8], testLabels: [4, 8] },
    },
    {
      name: 'ids and header from the sample submission',
      files: { 'train.csv': kaggleTrain, 'test.csv': csv('pixel0,pixel1,pixel2,pixel3', '0,0,0,1', '0,0,0,2'), 'sampleSubmission.csv': csv('Id,Category', 'a17,0', 'b3,0') },
      expected: { header: true, labelColumn: 0, scale: 255, size: 2, trainImages: [0, 255, 128, 0, 12, 0, 0, 3], trainLabels: [1, 7], testImages: [0, 0, 0, 1, 0, 0, 0, 2], ids: ['a17', 'b3'], submissionHeader: ['Id', 'Category'] },
    },
    {
      name: 'a sample submission saved Label,ImageId: ids from the column named so, the submission written ImageId,Label',
      files: { 'train.csv': kaggleTrain, 'test.csv': csv('pixel0,pixel1,pixel2,pixel3', '0,0,0,1', '0,0,0,2'), 'sample_submission.csv': csv('Label,ImageId', '0,1', '0,2') },
      expected: { header: true, labelColumn: 0, scale: 255, size: 2, trainImages: [0, 255, 128, 0, 12, 0, 0, 3], trainLabels: [1, 7], testImages: [0, 0, 0, 1, 0, 0, 0, 2], ids: ['1', '2'], submissionHeader: ['ImageId', 'Label'] },
    },
    {
      name: 'Kannada-MNIST layout: an id column in test.csv, the sample id,label: ids checked against it, the pixels read around it',
      files: { 'train.csv': csv('label,pixel0,pixel1,pixel2,pixel3', '1,0,255,128,0', '7,12,0,0,3'), 'test.csv': csv('id,pixel0,pixel1,pixel2,pixel3', '0,0,0,0,1', '1,0,0,0,2'), 'sample_submission.csv': csv('id,label', '0,5', '1,5') },
      expected: { header: true, labelColumn: 0, scale: 255, size: 2, trainImages: [0, 255, 128, 0, 12, 0, 0, 3], trainLabels: [1, 7], testImages: [0, 0, 0, 1, 0, 0, 0, 2], ids: ['0', '1'], submissionHeader: ['id', 'label'] },
    },
    {
      name: 'an ImageId column in test.csv and no sample submission: its ids and name make the submission (id first or last)',
      files: { 'train.csv': kaggleTrain, 'test.csv': csv('pixel0,pixel1,pixel2,pixel3,ImageId', '0,0,0,1,a7', '0,0,0,2,b9') },
      expected: { header: true, labelColumn: 0, scale: 255, size: 2, trainImages: [0, 255, 128, 0, 12, 0, 0, 3], trainLabels: [1, 7], testImages: [0, 0, 0, 1, 0, 0, 0, 2], ids: ['a7', 'b9'], submissionHeader: ['ImageId', 'label'] },
    },
    {
      name: 'a pandas header of column numbers',
      files: { 'train.csv': csv('0,1,2,3,4', '0.5,0.5,0.5,0.5,2.0', '0.25,0.25,0.25,0.25,8.0') },
      expected: { header: true, labelColumn: 4, scale: 1, size: 2, trainImages: [0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25], trainLabels: [2, 8] },
    },
    {
      name: 'blank lines (inside and trailing) are skipped',
      files: { 'train.csv': '1,0,9,9,90\n\n2,0,8,8,80\n\n\n' },
      expected: { header: false, labelColumn: 0, scale: 255, size: 2, trainImages: [0, 9, 9, 90, 0, 8, 8, 80], trainLabels: [1, 2] },
    },
    {
      name: '28×28 images from 784 pixel columns',
      files: { 'train.csv': csv(`5,${new Array(784).fill(0).map((_, i) => i % 256).join(',')}`, `2,${new Array(784).fill(7).join(',')}`) },
      expected: {
        header: false,
        labelColumn: 0,
        scale: 255,
        size: 28,
        trainImages: [...new Array(784).fill(0).map((_, i) => i % 256), ...new Array(784).fill(7)],
        trainLabels: [5, 2],
      },
    },
    {
      name: '--header forces a numeric first row to be the header',
      files: { 'train.csv': csv('9,9,9,9,9', '1,0,0,0,10', '2,0,0,0,20') },
      options: { header: true },
      expected: { header: true, labelColumn: 0, labelHow: 'detected', scale: 255, size: 2, trainImages: [0, 0, 0, 10, 0, 0, 0, 20], trainLabels: [1, 2] },
    },
    {
      name: '--no-header and --label-column last',
      files: { 'train.csv': csv('5,1,1,1,2', '5,1,1,1,3') },
      options: { header: false, labelColumn: 'last' },
      expected: { header: false, labelColumn: 4, labelHow: 'flag', scale: 255, size: 2, trainImages: [5, 1, 1, 1, 5, 1, 1, 1], trainLabels: [2, 3] },
    },
    {
      name: '--label-column by header name',
      files: { 'train.csv': csv('digit,a,b,c,d', '3,0,0,0,0') },
      options: { labelColumn: 'digit' },
      expected: { header: true, labelColumn: 0, labelHow: 'flag', scale: 1, size: 2, trainImages: [0, 0, 0, 0], trainLabels: [3] },
    },
    {
      name: '0–255 pixels with fractions throughout (29.5, a resize or a mean): read as floats divided by 255 (both --scale values refused them)',
      files: { 'train.csv': csv('label,a,b,c,d', ...Array.from({ length: 12 }, (_, i) => `${i % 10},0,${i + 0.5},200,255`)), 'test.csv': csv('a,b,c,d', '0,127.5,255,0.5') },
      expected: {
        header: true,
        labelColumn: 0,
        scale: 1,
        size: 2,
        trainImages: Array.from({ length: 12 }, (_, i) => [0, Math.fround((i + 0.5) / 255), Math.fround(200 / 255), 1]).flat(),
        trainLabels: Array.from({ length: 12 }, (_, i) => i % 10),
        testImages: [0, Math.fround(127.5 / 255), 1, Math.fround(0.5 / 255)],
      },
    },
    {
      name: '--scale 255 stores 0/1 integer data as uint8',
      files: { 'train.csv': csv('3,0,1,1,0', '4,1,0,0,1', '5,0,0,0,0') },
      options: { scale: 255, size: 2 },
      expected: { header: false, labelColumn: 0, scale: 255, size: 2, trainImages: [0, 1, 1, 0, 1, 0, 0, 1, 0, 0, 0, 0], trainLabels: [3, 4, 5] },
    },
  ];

  test.each(cases)('$name', async ({ files, options, expected }) => {
    // Given a competition folder with these files
    const dir = await competition(files);
    // When it is imported
    const report = await importDir(dir, options);
    const dataset = await loadDataset(dir);
    // Then the detections and the cached arrays are as expected
    expect(report.reused).toBeNull();
    expect(report.detected.train.header.value).toBe(expected.header);
    expect(report.detected.train.label.value?.column).toBe(expected.labelColumn);
    if (expected.labelHow) expect(report.detected.train.label.how).toBe(expected.labelHow);
    expect(dataset.scale).toBe(expected.scale);
    expect(dataset.trainImages).toBeInstanceOf(expected.scale === 255 ? Uint8Array : Float32Array);
    expect([dataset.width, dataset.height]).toEqual([expected.size, expected.size]);
    expect(Array.from(dataset.trainImages)).toEqual(expected.trainImages);
    expect(Array.from(dataset.trainLabels)).toEqual(expected.trainLabels);
    if (expected.testImages) expect(Array.from(dataset.testImages)).toEqual(expected.testImages);
    if (expected.testLabels) expect(Array.from(dataset.testLabels ?? [])).toEqual(expected.testLabels);
    else expect(dataset.testLabels).toBeUndefined();
    if (expected.ids) expect(dataset.ids).toEqual(expected.ids);
    expect(dataset.submissionHeader).toEqual(expected.submissionHeader ?? ['ImageId', 'Label']);
    expect(dataset.orientation).toBe('as-is');
    expect(dataset.manifest.orientationNote).toBe('no clean-MNIST checkpoint yet');
    expect(dataset.fingerprint).toMatch(/^sha256:[0-9a-f]{64}$/);
  });
});

describe("train.csv's id column", () => {
  test.each([
    { scale: 255 as const, rows: ['101,1,0,255,128,0', '102,7,12,0,0,3'], test: '9,0,0,0,255', images: [0, 255, 128, 0, 12, 0, 0, 3], testImages: [0, 0, 0, 255] },
    { scale: 1 as const, rows: ['101,1,0,0.5,1,0', '102,7,0.25,0,0,0.75'], test: '9,0,0.5,0,1', images: [0, 0.5, 1, 0, 0.25, 0, 0, 0.75], testImages: [0, 0.5, 0, 1] },
  ])('a column whose header names ids (id,label,pixel0,…) is skipped as test.csv\'s is (scale $scale; refused as "not a square image" until session 39)', async ({ scale, rows, test, images, testImages }) => {
    // Given train.csv id,label,pixel0..3 (ids above 1, whatever the pixels' scale), test.csv id,pixel0..3 and an id,label sample
    const dir = await competition({
      'train.csv': csv('id,label,pixel0,pixel1,pixel2,pixel3', ...rows),
      'test.csv': csv('id,pixel0,pixel1,pixel2,pixel3', test),
      'sample_submission.csv': csv('id,label', '9,0'),
    });
    // When it is imported
    const report = await importDir(dir);
    const dataset = await loadDataset(dir);
    // Then the id column is recorded as skipped, and the pixels, labels, scale and test rows are read around it
    expect(report.detected.train.idColumn).toEqual({ column: 0, name: 'id' });
    expect(report.detected.train.label.value).toEqual({ column: 1, name: 'label' });
    expect(dataset.scale).toBe(scale);
    expect([dataset.width, dataset.height]).toEqual([2, 2]);
    expect(Array.from(dataset.trainImages)).toEqual(images.map(Math.fround));
    expect(Array.from(dataset.trainLabels)).toEqual([1, 7]);
    expect(Array.from(dataset.testImages)).toEqual(testImages);
    expect(dataset.ids).toEqual(['9']);
  });

  test('a column count still not square names the extra columns, with their numbers', async () => {
    // Given train.csv with a pandas index named "index" besides its id column
    const dir = await competition({ 'train.csv': csv('index,id,label,pixel0,pixel1,pixel2,pixel3', '0,5,1,0,0,0,0', '1,6,2,0,9,0,0') });
    // When it is imported: the id column is skipped, and "index" is named as the column in the way
    await expectUserError(importDir(dir), {
      message: /^train\.csv has 5 pixel columns besides the label, which is not a square image: column 1 "index" is not named like the pixels \("pixel0" …\); without it 4 = 2×2$/,
      file: 'train.csv',
      line: 1,
      hint: /^Remove that column \(column 1\), then import again/,
    });
  });
});

describe("test.csv's id column and a sample submission listing the same ids in another order", () => {
  test.each([
    { scale: 255, pixels: ['10,11,12,13', '20,21,22,23', '30,31,32,33'], images: [[30, 31, 32, 33], [10, 11, 12, 13], [20, 21, 22, 23]] },
    { scale: 1, pixels: ['0.1,0.11,0.12,0.13', '0.2,0.21,0.22,0.23', '0.3,0.31,0.32,0.33'], images: [[0.3, 0.31, 0.32, 0.33], [0.1, 0.11, 0.12, 0.13], [0.2, 0.21, 0.22, 0.23]].map((row) => row.map(Math.fround)) },
  ])('the test rows are put in the sample\'s order, matched by id (scale $scale; it was refused until session 39)', async ({ scale, pixels, images }) => {
    // Given test.csv with ids 1, 2, 3 and a sample submission listing 3, 1, 2
    const train = scale === 255 ? kaggleTrain : csv('label,pixel0,pixel1,pixel2,pixel3', '1,0,0.5,1,0', '7,0.25,0,0,0.75');
    const dir = await competition({
      'train.csv': train,
      'test.csv': csv('ImageId,pixel0,pixel1,pixel2,pixel3', ...pixels.map((row, i) => `${i + 1},${row}`)),
      'sample_submission.csv': csv('ImageId,Label', '3,0', '1,0', '2,0'),
    });
    // When it is imported
    const report = await importDir(dir);
    const dataset = await loadDataset(dir);
    // Then the cache holds the test rows in the sample's order, each with its own id, and says so
    expect(dataset.ids).toEqual(['3', '1', '2']);
    expect(Array.from(dataset.testImages)).toEqual(images.flat());
    expect(report.detected.test?.reordered).toBe("rows put in sample_submission.csv's order, matched by id (3 of 3 stood elsewhere in test.csv)");
    expect(report.detected.test?.idColumn).toEqual({ column: 0, name: 'ImageId' });
    expect(report.warnings.filter((w) => w.includes('out of order'))).toEqual([]);
    expect((await readdir(join(dir, '.digits'))).filter((name) => name.includes('tmp'))).toEqual([]);
    // and the same ids in the same order are stored as read, with nothing said
    await writeFile(join(dir, 'sample_submission.csv'), csv('ImageId,Label', '1,0', '2,0', '3,0'));
    const inOrder = await importDir(dir);
    expect((await loadDataset(dir)).ids).toEqual(['1', '2', '3']);
    expect(inOrder.detected.test?.reordered).toBeUndefined();
  });

  test('test labels of one digit on every row are placeholders: said at the import, and nothing is scored against them', async () => {
    const rows = (n: number, label: (i: number) => number) => Array.from({ length: n }, (_, i) => `${label(i)},0,0,0,${i % 256}`);
    const dir = await competition({ 'train.csv': kaggleTrain, 'test.csv': csv('label,pixel0,pixel1,pixel2,pixel3', ...rows(20, () => 0)) });
    const report = await importDir(dir);
    expect(report.warnings.filter((w) => w.includes('dummy values'))).toEqual(['every one of the 20 labels in test.csv is 0: they are taken for dummy values, not the test digits, and nothing is scored against them (give the test labels with --answers where a command takes it)']);
    expect(report.test.hasLabels).toBe(false);
    expect((await loadDataset(dir)).testLabels).toBeUndefined();
    // real labels (or a few rows of one digit) are labels
    await writeFile(join(dir, 'test.csv'), csv('label,pixel0,pixel1,pixel2,pixel3', ...rows(20, (i) => (i === 7 ? 3 : 0))));
    expect((await importDir(dir)).test.hasLabels).toBe(true);
    expect((await loadDataset(dir)).testLabels).toHaveLength(20);
  });

  test('a sample submission of 1 … n out of order beside a test.csv without ids: paired by position, and the import says the ids may number the rows', async () => {
    const dir = await competition({ 'train.csv': kaggleTrain, 'test.csv': csv('pixel0,pixel1,pixel2,pixel3', '0,0,0,255', '0,0,255,0', '0,255,0,0'), 'sample_submission.csv': csv('ImageId,Label', '3,0', '1,0', '2,0') });
    const report = await importDir(dir);
    expect((await loadDataset(dir)).ids).toEqual(['3', '1', '2']);
    expect(report.warnings.filter((w) => w.includes('out of order'))).toEqual(["the ids of sample_submission.csv are 1 … 3 out of order: the submission gives test row k the k-th id of sample_submission.csv, as it pairs rows by position; if the ids number test.csv's rows instead, sort sample_submission.csv by its id column and import again"]);
    // ids that are not the row numbers (or in order) say nothing
    await writeFile(join(dir, 'sample_submission.csv'), csv('ImageId,Label', '30,0', '10,0', '20,0'));
    expect((await importDir(dir)).warnings.filter((w) => w.includes('out of order'))).toEqual([]);
  });
});

const floatRows = (count: number) => Array.from({ length: count }, (_, i) => `0.5,0.25,0.125,${(i % 7) / 8},${i % 10}.0`);

describe('data import rejects bad input with file, line, column and a hint', () => {
  const cases: Array<{ name: string; files: Record<string, string>; options?: Overrides; expected: ExpectedUserError }> = [
    { name: 'a short (ragged) row', files: { 'train.csv': kaggleTrain + '3,1,2\n' }, expected: { message: /row has 3 columns, expected 5/, file: 'train.csv', line: 4, column: 4 } },
    { name: 'a long (ragged) row', files: { 'train.csv': kaggleTrain + '3,1,2,3,4,5\n' }, expected: { message: /row has 6 columns, expected 5/, file: 'train.csv', line: 4, column: 6 } },
    { name: 'a non-numeric pixel', files: { 'train.csv': csv('label,a,b,c,d', '1,0,0,0,0', '2,0,abc,0,0') }, expected: { message: /not a number: "abc"/, file: 'train.csv', line: 3, column: 3 } },
    { name: 'a NaN pixel', files: { 'train.csv': csv('label,a,b,c,d', '1,0,0,0,0', '2,0,0,NaN,0') }, expected: { message: /not a number: "NaN"/, file: 'train.csv', line: 3, column: 4 } },
    { name: 'an empty pixel', files: { 'train.csv': csv('label,a,b,c,d', '1,0,0,0,0', '2,0,0,,0') }, expected: { message: /empty pixel/, file: 'train.csv', line: 3, column: 4 } },
    { name: 'a label above 9', files: { 'train.csv': csv('label,a,b,c,d', '1,0,0,0,0', '10,0,0,0,0') }, expected: { message: /label "10" is not an integer 0–9/, file: 'train.csv', line: 3, column: 1, hint: /^A label is a digit 0–9: correct that row \(a dataset that writes the digit 0 as 10, as SVHN does, needs its labels mapped to 0–9 first\)\. Column 1 is read as the label \(.*\); if that is the wrong column, pick another with --label-column first\|last\|<name>\.$/ } },
    { name: 'placeholder labels in test.csv', files: { 'train.csv': csv('label,a,b,c,d', '1,0,0,0,0', '7,0,0,0,0'), 'test.csv': csv('label,a,b,c,d', '-1,0,0,0,0', '-1,0,0,0,0') }, expected: { message: /^label "-1" is not an integer 0–9$/, file: 'test.csv', line: 2, column: 1, hint: /^Test labels are optional: if column 1 holds dummy values rather than the test digits, delete that column from test\.csv and import again\. Column 1 is read as the label/ } },
    { name: 'a non-integer label', files: { 'train.csv': csv('label,a,b,c,d', '1,0,0,0,0', '3.5,0,0,0,0') }, expected: { message: /label "3.5"/, file: 'train.csv', line: 3, column: 1 } },
    { name: 'a pixel above 255', files: { 'train.csv': csv('label,a,b,c,d', '1,0,255,0,0', '2,0,0,256,0') }, expected: { message: /pixel value 256 .*integers 0–255/, file: 'train.csv', line: 3, column: 4, hint: /^The file's pixels are integers 0–255, and no pixel of such an image is 256: correct that cell \(at most 255/ } },
    { name: 'a negative pixel', files: { 'train.csv': csv('label,a,b,c,d', '1,0,255,0,0', '2,-1,0,0,0') }, expected: { message: /pixel value -1/, file: 'train.csv', line: 3, column: 2 } },
    { name: 'a fraction in 0–255 data', files: { 'train.csv': csv('label,a,b,c,d', '1,0,255,0,0', '2,0,12.5,0,0') }, expected: { message: /mixes fractions .*12\.5 is a fraction/, file: 'train.csv', line: 3, column: 3, hint: /--scale 255/ } },
    {
      name: 'test.csv in [0, 1] where train.csv is 0–255: both files named',
      files: { 'train.csv': kaggleTrain, 'test.csv': csv('pixel0,pixel1,pixel2,pixel3', '0,0.5,0,1') },
      expected: { message: /^pixel value 0\.5 in test\.csv does not fit the scale of train\.csv \(integers 0–255\): the two files use different pixel scales$/, file: 'test.csv', line: 2, column: 2, hint: /train\.csv was read as integers 0–255 because of whole-number pixel values above 1 \(up to 255\) in the first 2 rows of train\.csv; both files must use the same scale/ },
    },
    { name: 'a pixel above 1 in [0, 1] data', files: { 'train.csv': csv('label,a,b,c,d', '1,0,0.25,0.5,0', '2,0,0.75,0,1.5') }, expected: { message: /mixes fractions .*1\.5 is above 1/, file: 'train.csv', line: 3, column: 5, hint: /--scale 1/ } },
    {
      name: 'a float above 1 after the detection sample',
      files: { 'train.csv': csv(...floatRows(1200), '0.5,2.5,0,0,1.0') },
      expected: { message: /pixel value 2.5 .*\[0, 1\]/, file: 'train.csv', line: 1201, column: 2, hint: /first 1000 rows/ },
    },
    { name: 'a float above 1 with --scale 1', files: { 'train.csv': csv('0.5,0.5,0.5,0.5,1', '0.5,1.5,0.5,0.5,2') }, options: { scale: 1 }, expected: { message: /pixel value 1.5/, line: 2, column: 2, hint: /--scale 1/ } },
    { name: 'an empty train.csv', files: { 'train.csv': '' }, expected: { message: /train.csv is empty/, file: 'train.csv', line: 1 } },
    { name: 'a train.csv of blank lines', files: { 'train.csv': '\n \n\n' }, expected: { message: /train.csv is empty/, file: 'train.csv' } },
    { name: 'a header without rows', files: { 'train.csv': csv('label,a,b,c,d') }, expected: { message: /header but no data rows/, file: 'train.csv' } },
    { name: 'an empty test.csv', files: { 'train.csv': kaggleTrain, 'test.csv': '' }, expected: { message: /test.csv is empty/, file: 'test.csv' } },
    { name: 'test narrower than train', files: { 'train.csv': kaggleTrain, 'test.csv': csv('a,b,c', '1,2,3') }, expected: { message: /test.csv rows have 3 columns, but train.csv has 4 pixels/, file: 'test.csv', line: 1 } },
    { name: 'test wider than train', files: { 'train.csv': kaggleTrain, 'test.csv': csv('1,2,3,4,5,6') }, expected: { message: /6 columns/, file: 'test.csv', line: 1 } },
    { name: 'a bad label in a labelled test.csv', files: { 'train.csv': kaggleTrain, 'test.csv': csv('label,a,b,c,d', '1,0,0,0,0', '12,0,0,0,0') }, expected: { message: /label "12"/, file: 'test.csv', line: 3, column: 1 } },
    { name: 'a ragged test row', files: { 'train.csv': kaggleTrain, 'test.csv': csv('a,b,c,d', '1,2,3,4', '1,2,3') }, expected: { message: /row has 3 columns, expected 4/, file: 'test.csv', line: 3, column: 4 } },
    { name: 'a pixel of test outside the train scale', files: { 'train.csv': csv('0.5,0.5,0.5,0.5,1.0'), 'test.csv': csv('0.5,0.5,3,0.5') }, expected: { message: /pixel value 3/, file: 'test.csv', line: 1, column: 3 } },
    {
      name: 'duplicate ids in the sample submission',
      files: { 'train.csv': kaggleTrain, 'test.csv': csv('a,b,c,d', '1,2,3,4', '1,2,3,4', '1,2,3,4'), 'sample_submission.csv': csv('ImageId,Label', '1,0', '2,0', '1,0') },
      expected: { message: /duplicate id "1" \(first on line 2\)/, file: 'sample_submission.csv', line: 4, column: 1 },
    },
    {
      // (until session 39: "test.csv's row 2 has id "2" …, but sample_submission.csv's row 2 has "1"", the same for ids merely in another order)
      name: "test.csv's id column listing other ids than the sample submission: the id missing on each side is named",
      files: { 'train.csv': kaggleTrain, 'test.csv': csv('id,pixel0,pixel1,pixel2,pixel3', '0,1,2,3,4', '2,1,2,3,4'), 'sample_submission.csv': csv('id,label', '1,0', '0,0') },
      expected: {
        message: /^test\.csv's id column \("id"\) and sample_submission\.csv list different test ids: an id of sample_submission\.csv is missing from test\.csv: "1" \(line 2\); an id of test\.csv is not in sample_submission\.csv: "2" \(line 3\)$/,
        file: 'test.csv',
        line: 3,
        column: 1,
        hint: /same test ids \(in any order/,
      },
    },
    {
      name: 'test ids written as floats (27611.0) against the sample submission\'s integers: said to be the same numbers written two ways',
      files: { 'train.csv': kaggleTrain, 'test.csv': csv('id,pixel0,pixel1,pixel2,pixel3', '27611.0,1,2,3,4', '27612.0,1,2,3,4'), 'sample_submission.csv': csv('id,label', '27611,0', '27612,0') },
      expected: {
        message: /list different test ids: 2 ids of sample_submission\.csv are missing from test\.csv/,
        file: 'test.csv',
        line: 2,
        column: 1,
        hint: /^They are the same numbers written two ways \("27611\.0" in test\.csv, "27611" in sample_submission\.csv\): write the ids the same way in both files/,
      },
    },
    {
      name: 'a sample submission lacking ids of test.csv\'s id column: named, with the sample\'s lines when test.csv has all of them',
      files: { 'train.csv': kaggleTrain, 'test.csv': csv('ImageId,pixel0,pixel1,pixel2,pixel3', '1,1,2,3,4', '2,1,2,3,4'), 'sample_submission.csv': csv('ImageId,Label', '2,0', '1,0', '3,0', '4,0') },
      expected: { message: /: 2 ids of sample_submission\.csv are missing from test\.csv: "3" \(line 4\), "4" \(line 5\)$/, file: 'sample_submission.csv', line: 4, column: 1 },
    },
    {
      name: 'duplicate ids in test.csv without a sample submission',
      files: { 'train.csv': kaggleTrain, 'test.csv': csv('id,pixel0,pixel1,pixel2,pixel3', '4,1,2,3,4', '4,1,2,3,4') },
      expected: { message: /^duplicate id "4" in test\.csv \(first on line 2\)$/, file: 'test.csv', line: 3, column: 1 },
    },
    {
      name: 'an extra test column that is neither the label nor named as ids',
      files: { 'train.csv': kaggleTrain, 'test.csv': csv('row,pixel0,pixel1,pixel2,pixel3', '0,1,2,3,4') },
      expected: { message: /has 5 columns like train\.csv but no "label" column, nor an id column/, file: 'test.csv', line: 1, hint: /"id" or "imageid"/ },
    },
    {
      name: 'train.csv with every line ending in a comma: the empty last column is named as such',
      files: { 'train.csv': csv('label,a,b,c,d,', '1,0,0,0,0,', '2,0,9,0,0,') },
      expected: { message: /^train\.csv has 5 columns besides the label, one more than 2×2 images need: its last column is empty in every row \(each line ends with a comma\)/, file: 'train.csv', line: 1 },
    },
    {
      name: "train.csv written by pandas with its index: the unnamed first column that numbers the rows is named as such",
      files: { 'train.csv': csv(',label,a,b,c,d', '0,1,0,0,0,0', '1,2,0,9,0,0', '2,3,0,9,0,0') },
      expected: { message: /one more than 2×2 images need: its first column has no name and numbers the rows \(pandas' index/, file: 'train.csv', hint: /Keep the label and the 4 pixel columns/ },
    },
    {
      name: 'test.csv written by pandas with its index',
      files: { 'train.csv': kaggleTrain, 'test.csv': csv(',pixel0,pixel1,pixel2,pixel3', '0,1,2,3,4', '1,1,2,3,4') },
      expected: { message: /^test\.csv rows have 5 columns, one more than train\.csv's 4 pixels: its first column has no name and numbers the rows/, file: 'test.csv', line: 1 },
    },
    {
      name: 'a sample submission with fewer rows than test',
      files: { 'train.csv': kaggleTrain, 'test.csv': csv('a,b,c,d', '1,2,3,4', '1,2,3,4'), 'sample_submission.csv': csv('ImageId,Label', '1,0') },
      expected: { message: /lists 1 ids but test.csv has 2 rows/, file: 'sample_submission.csv' },
    },
    {
      name: 'a sample submission without test.csv',
      files: { 'train.csv': kaggleTrain, 'sample_submission.csv': csv('ImageId,Label', '1,0', '2,0') },
      expected: { message: /^sample_submission.csv lists 2 test ids, but there is no test.csv beside it$/, hint: /Put the competition's test.csv in / },
    },
    {
      name: 'a sample submission with a third column',
      files: { 'train.csv': kaggleTrain, 'test.csv': kaggleTest, 'sample_submission.csv': csv('ImageId,Label,Prob', '1,0,0.1') },
      expected: { message: /^sample_submission\.csv has 3 columns \(ImageId,Label,Prob\); a sample submission has two, an id and a label$/, file: 'sample_submission.csv', line: 1, hint: /Keep only the id and label columns/ },
    },
    { name: 'an empty sample submission', files: { 'train.csv': kaggleTrain, 'test.csv': kaggleTest, 'sample_submission.csv': '' }, expected: { message: /sample_submission.csv is empty/, file: 'sample_submission.csv' } },
    { name: 'no column looks like a label', files: { 'train.csv': csv('0.5,0.5,0.5,0.5,0.5') }, expected: { message: /cannot tell which column/, file: 'train.csv', hint: /--label-column/ } },
    // (session 38: "both the first and the last column look like labels", then an id column was blamed)
    {
      name: 'a test file where the training file goes (n×n columns, no label)',
      files: { 'train.csv': csv(Array.from({ length: 16 }, (_, i) => `pixel${i}`).join(','), Array.from({ length: 16 }, (_, i) => String(i % 10)).join(',')) },
      expected: { message: /^train\.csv has 16 columns, the 4×4 pixels of an image and no label column: it looks like a test file$/, file: 'train.csv', hint: /^Give the training file \(a label and 16 pixel columns\) first/ },
    },
    { name: 'cells separated by semicolons', files: { 'train.csv': csv('label;a;b;c;d', '1;0;0;0;0') }, expected: { message: /^train\.csv has 1 column: its cells are separated by ";"; training data needs a label and pixel columns$/, file: 'train.csv', hint: /sep=';'/ } },
    { name: 'both end columns look equally like labels', files: { 'train.csv': csv('1,0,0,0,2', '2,0,0,0,1') }, expected: { message: /both the first and the last/, hint: /--label-column first/ } },
    { name: 'pixel columns that are not a square', files: { 'train.csv': csv('label,a,b,c', '1,0,0,0') }, expected: { message: /3 pixel columns .* not a square/, file: 'train.csv' } },
    { name: '--size that does not fit', files: { 'train.csv': kaggleTrain }, options: { size: 3 }, expected: { message: /--size 3 means 9 pixels/, flag: 'size' } },
    { name: '--label-column naming a missing column', files: { 'train.csv': kaggleTrain }, options: { labelColumn: 'digit' }, expected: { message: /no column named "digit"/, flag: 'label-column' } },
    { name: '--label-column by name without a header', files: { 'train.csv': csv('1,0,0,0,0') }, options: { labelColumn: 'label' }, expected: { message: /has no header/, flag: 'label-column' } },
    { name: '--no-header on a file with a header', files: { 'train.csv': kaggleTrain }, options: { header: false }, expected: { message: /--no-header, but the first row of train.csv is all text \("label", /, file: 'train.csv', line: 1, flag: 'no-header', hint: /Leave --no-header out/ } },
  ];

  test.each(cases)('$name', async ({ files, options, expected }) => {
    // Given a competition with one defect
    const dir = await competition(files);
    // When it is imported
    await expectUserError(importDir(dir, options), expected);
    // Then nothing was written
    const leftovers = await readdir(dir);
    expect(leftovers.sort()).toEqual(Object.keys(files).sort());
  });

  test('an --out two folders deep that did not exist: neither folder is left after a refusal (the parent stayed until session 38)', async () => {
    const dir = await competition({ 'train.csv': csv('label,a,b,c,d', '1,0,0,0,0', '10,0,0,0,0') });
    await expectUserError(importDir(dir, { out: join(dir, 'outfail', 'deep') }), { message: /label "10" is not an integer 0–9/ });
    expect((await readdir(dir)).sort()).toEqual(['train.csv']);
  });
});

describe('data import writes atomically and re-imports only when needed', () => {
  test('a failed re-import leaves the previous dataset readable and no temp files', async () => {
    // Given a good import
    const dir = await competition({ 'train.csv': kaggleTrain, 'test.csv': kaggleTest });
    const first = await importDir(dir);
    const before = (await readdir(join(dir, '.digits'))).sort();
    // When train.csv is damaged and re-imported
    await writeFile(join(dir, 'train.csv'), kaggleTrain + '1,2,3,4,x\n');
    await expectUserError(importDir(dir), { message: /not a number/, line: 4, column: 5 });
    // Then the old cache is untouched and still loads
    expect((await readdir(join(dir, '.digits'))).sort()).toEqual(before);
    const dataset = await loadDataset(dir);
    expect(dataset.fingerprint).toBe(first.fingerprint);
    expect(Array.from(dataset.trainLabels)).toEqual([1, 7]);
  });

  test('unchanged sources are reused without reading; touched ones are hashed; changed ones re-imported', async () => {
    const dir = await competition({ 'train.csv': kaggleTrain, 'test.csv': kaggleTest });
    const first = await importDir(dir);
    expect(first.reused).toBeNull();
    // unchanged
    const second = await importDir(dir);
    expect(second.reused).toBe('unchanged');
    expect(second.bytesRead).toBe(0);
    expect(second.fingerprint).toBe(first.fingerprint);
    // touched, same bytes
    const later = new Date(Date.now() + 5000);
    await utimes(join(dir, 'train.csv'), later, later);
    expect((await importDir(dir)).reused).toBe('same-content');
    expect((await importDir(dir)).reused).toBe('unchanged');
    // other overrides → re-import
    const transposed = await importDir(dir, { orientation: 'transpose' });
    expect(transposed.reused).toBeNull();
    expect(transposed.fingerprint).not.toBe(first.fingerprint);
    // changed content of the same size → re-import
    await writeFile(join(dir, 'train.csv'), kaggleTrain.replace('1,0,255', '2,0,255'));
    const changed = await importDir(dir, { orientation: 'transpose' });
    expect(changed.reused).toBeNull();
    expect(changed.train.classCounts[2]).toBe(1);
    // old cache files are cleaned up: one set of files plus the manifest
    const files = await readdir(join(dir, '.digits'));
    expect(files.filter((name) => name.startsWith('train-images-'))).toHaveLength(1);
  });

  test('readers of the cache refuse it once a CSV changed after the import, and accept it again after a re-import', async () => {
    const dir = await competition({ 'train.csv': kaggleTrain, 'test.csv': kaggleTest });
    await importDir(dir);
    await assertSourcesUnchanged(dir);
    // touched with the same bytes: still the same data
    const later = new Date(Date.now() + 5000);
    await utimes(join(dir, 'test.csv'), later, later);
    await assertSourcesUnchanged(dir);
    // one row fewer: the cache holds rows the CSV no longer has
    await writeFile(join(dir, 'train.csv'), kaggleTrain.split('\n').slice(0, -2).join('\n') + '\n');
    await expectUserError(assertSourcesUnchanged(dir), { message: /train\.csv changed after it was imported .*: the dataset cache still holds the old rows/, file: 'train.csv', hint: /digits data import/ });
    await importDir(dir);
    await assertSourcesUnchanged(dir);
    // a moved competition checks its own CSVs; without them the cache stands on its own
    const moved = join(await tempDir(), 'moved');
    await cp(dir, moved, { recursive: true });
    await writeFile(join(dir, 'train.csv'), kaggleTrain);
    await assertSourcesUnchanged(moved);
    await rm(join(moved, 'train.csv'));
    await rm(join(dir, 'train.csv'));
    await assertSourcesUnchanged(moved);
  });

  test('--force re-imports; --out puts the cache elsewhere', async () => {
    const dir = await competition({ 'train.csv': kaggleTrain, 'test.csv': kaggleTest, 'out/keep.txt': 'mine' });
    const out = join(dir, 'out');
    const report = await importDir(dir, { out });
    expect(report.datasetDir).toBe(out);
    expect((await importDir(dir, { out, force: true })).reused).toBeNull();
    expect(await readFile(join(out, 'keep.txt'), 'utf8')).toBe('mine');
    expect((await loadDataset(out)).trainLabels.length).toBe(2);
    await expect(stat(join(dir, '.digits'))).rejects.toThrow();
  });

  test('a CSV given where the competition folder is expected is refused naming its folder, imported or not; a missing folder is named as missing', async () => {
    const dir = await competition({ 'train.csv': kaggleTrain, 'test.csv': kaggleTest });
    await expectUserError(resolveDatasetDir(join(dir, 'nope')), { message: /^there is no folder .*nope$/, flag: 'data', hint: /Check the path/ });
    await expectUserError(resolveDatasetDir(join(dir, 'train.csv')), { message: /train\.csv is a file, where the competition's folder .* is expected/, hint: /Import its folder first \(digits data import .*\), then give that folder/ });
    await importDir(dir);
    await expectUserError(resolveDatasetDir(join(dir, 'test.csv')), { message: /test\.csv is a file/, hint: new RegExp(`Give its folder instead: ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) });
  });

  test('the files may be named one by one; the fingerprint covers content, not paths', async () => {
    const a = await competition({ 'tr.csv': kaggleTrain, 'te.csv': kaggleTest });
    const b = await competition({ 'train.csv': kaggleTrain, 'test.csv': kaggleTest });
    const files = await resolveCompetitionFiles([join(a, 'tr.csv'), join(a, 'te.csv')]);
    const named = await importCompetition(files);
    const folder = await importDir(b);
    expect(named.datasetDir).toBe(join(a, '.digits'));
    expect(named.fingerprint).toBe(folder.fingerprint);
  });

  test('temp files of a killed import are removed at the next start; a running import\'s are kept', async () => {
    // Given a dataset cache with leftovers: a killed import's (its pid is gone), an older
    // version's (no pid), and one of an import still running (our own pid)
    const dir = await competition({ 'train.csv': kaggleTrain, 'test.csv': kaggleTest });
    await importDir(dir);
    const cache = join(dir, '.digits');
    const dead = await deadPid();
    const killed = `train-images-mk2x-0a1b2c.u8.tmp-${dead}-0a1b2c3d`;
    const legacy = 'train-images-mk2y-0a1b2c.u8.tmp';
    const running = `train-images-mk2z-0a1b2c.u8.tmp-${process.pid}-0a1b2c3d`;
    // and data files a killed import renamed into place before writing its manifest (no manifest names them), beside a live import's
    const orphan = `test-images-mk30-${dead}-0a1b2c.u8`;
    const renamedLive = `test-images-mk31-${process.pid}-0a1b2c.u8`;
    for (const name of [killed, legacy, running, orphan, renamedLive]) await writeFile(join(cache, name), new Uint8Array(1000));
    const kept = (await readManifest(cache)).train.images;
    // When the next import starts (even one that finds the cache up to date)
    expect((await importDir(dir)).reused).toBe('unchanged');
    // Then the dead ones are gone and the live one is left alone
    const files = await readdir(cache);
    expect(files).not.toContain(killed);
    expect(files).not.toContain(legacy);
    expect(files).not.toContain(orphan);
    expect(files).toContain(running);
    expect(files).toContain(renamedLive);
    // and the current import's own files stay
    expect(files).toContain(kept);
    expect(kept).toMatch(new RegExp(`^train-images-[0-9a-z]+-${process.pid}-[0-9a-f]{6}\\.u8$`));
  });

  test('the sample submission of a folder: sample_submission.csv before a copy of it; several look-alikes and none of that name are refused', async () => {
    const sample = csv('ImageId,Label', '1,0');
    const dir = await competition({ 'train.csv': kaggleTrain, 'test.csv': kaggleTest, 'sample_submission (1).csv': sample, 'sample_submission.csv': sample });
    expect((await resolveCompetitionFiles([dir])).sampleSubmission).toBe(join(dir, 'sample_submission.csv'));
    const one = await competition({ 'train.csv': kaggleTrain, 'test.csv': kaggleTest, 'sampleSubmission.csv': sample });
    expect((await resolveCompetitionFiles([one])).sampleSubmission).toBe(join(one, 'sampleSubmission.csv'));
    const two = await competition({ 'train.csv': kaggleTrain, 'test.csv': kaggleTest, 'sample_submission_v2.csv': sample, 'sample-submission-old.csv': sample });
    await expectUserError(resolveCompetitionFiles([two]), {
      message: /^2 files in .* look like the sample submission \(sample-submission-old\.csv, sample_submission_v2\.csv\), and none is named sample_submission\.csv$/,
      hint: /^Name the files: digits data import \S*train\.csv \S*test\.csv \S*sample-submission-old\.csv \(or rename the one to use to sample_submission\.csv\)\.$/,
    });
  });

  test('a folder without train.csv says what it found', async () => {
    const dir = await competition({ 'mnist_train.csv': kaggleTrain });
    await expectUserError(resolveCompetitionFiles([dir]), { message: /no train.csv/, hint: /mnist_train.csv/ });
    // an unzipped download one folder down is named, with the command that imports it
    const above = await competition({});
    await mkdir(join(above, 'digit-recognizer'));
    await writeFile(join(above, 'digit-recognizer', 'train.csv'), kaggleTrain);
    await expectUserError(resolveCompetitionFiles([above]), { message: /^no train\.csv in .*, but digit-recognizer\/train\.csv is below it$/, hint: new RegExp(`^Import that folder: digits data import ${join(above, 'digit-recognizer').replaceAll('/', '\\/')}\\.$`) });
  });
});

describe('data import orientation', () => {
  const rows = csv('label,a,b,c,d,e,f,g,h,i', '1,1,2,3,4,5,6,7,8,9', '2,10,20,30,40,50,60,70,80,90');

  test.each(['transpose', 'flip-h', 'rot90', 'rot270', 'transpose-anti'] as const)('--orientation %s stores applyOrientation of the rows and records it', async (orientation) => {
    const { applyOrientation } = await import('../../src/data/orientation.js');
    const plain = await competition({ 'train.csv': rows });
    const turned = await competition({ 'train.csv': rows });
    await importDir(plain);
    const report = await importDir(turned, { orientation });
    const [a, b] = await Promise.all([loadDataset(plain), loadDataset(turned)]);
    expect(Array.from(b.trainImages)).toEqual(Array.from(applyOrientation(a.trainImages, 3, orientation)));
    expect(b.orientation).toBe(orientation);
    expect(report.detected.orientation).toMatchObject({ value: orientation, how: 'flag', confidence: null });
  });

  test('a scorer (the seam for the clean-MNIST checkpoint) decides when no flag is given', async () => {
    const dir = await competition({ 'train.csv': rows });
    // Likes images whose first pixel is largest: 9 (or 90) moves to the top-left under rot180 and transpose-anti.
    const report = await importDir(dir, { orientationScorer: (images) => images[0] });
    expect(['rot180', 'transpose-anti']).toContain(report.orientation);
    expect(report.detected.orientation.how).toBe('detected');
    expect(report.detected.orientation.confidence).toBe(0);
    expect((await loadDataset(dir)).trainImages[0]).toBe(9);
  });
});

describe('data import gives up on absurd files at once, naming what and where', () => {
  const rows = (n: number) => Array.from({ length: n }, (_, i) => `${i % 10},0,255,128,${i % 256}`);

  test('NUL bytes after valid rows are "binary data at line N" (a 2 GB sparse tail, read no further than its start)', async () => {
    // Given 2,000 valid rows and then 2 GB of NUL bytes, as a pre-allocating downloader leaves them
    const dir = await competition({ 'train.csv': csv('label,a,b,c,d', ...rows(2000)) });
    const file = join(dir, 'train.csv');
    await truncate(file, (await stat(file)).size + 2e9);
    // When it is imported, Then the error names the first line of NULs
    await expectUserError(importDir(dir), { message: /binary data at line 2002/, file: 'train.csv', line: 2002, hint: /download/i });
    expect((await readdir(dir)).sort()).toEqual(['train.csv']);
  });

  test('a file of nothing but NUL bytes is binary data at line 1, not "empty"', async () => {
    const dir = await competition({ 'train.csv': '' });
    await truncate(join(dir, 'train.csv'), 2e9);
    await expectUserError(importDir(dir), { message: /binary data at line 1\b/, file: 'train.csv', line: 1 });
  });

  test('compressed files and UTF-16 text are called what they are, with the command that makes a CSV of them', async () => {
    const { gzipSync } = await import('node:zlib');
    const text = csv('label,a,b,c,d', ...rows(20));
    // train.csv that is gzip inside (a browser that kept the bytes and dropped the .gz)
    const gz = await competition({ 'train.csv': gzipSync(text) });
    await expectUserError(importDir(gz), { message: /^train\.csv is a gzip archive, not a CSV text file$/, file: 'train.csv', hint: /mv train\.csv train\.csv\.gz && gunzip train\.csv\.gz/ });
    // an image renamed train.csv is named as one (it was "binary data at line 3 … an archive?")
    const png = await competition({ 'train.csv': Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]) });
    await expectUserError(importDir(png), { message: /^train\.csv is a PNG image, not a CSV text file$/, file: 'train.csv', hint: /^Give the competition's CSV files/ });
    // Kaggle's zip given as the train file
    const zip = await competition({ 'digit-recognizer.zip': new Uint8Array([0x50, 0x4b, 0x03, 0x04, 0x14, 0, 0, 0]) });
    await expectUserError(importCompetition({ competitionDir: zip, train: join(zip, 'digit-recognizer.zip') }), { message: /is a zip archive/, hint: /unzip digit-recognizer\.zip/ });
    // a folder holding only train.csv.gz
    const packed = await competition({ 'train.csv.gz': gzipSync(text), 'test.csv.gz': gzipSync(text) });
    await expectUserError(resolveCompetitionFiles([packed]), { message: /no train\.csv in .* \(only compressed files: .*train\.csv\.gz/, hint: /gunzip -k test\.csv\.gz; gunzip -k train\.csv\.gz/ });
    // UTF-16 (Excel's "Unicode text"), byte order mark first
    const utf16 = await competition({ 'train.csv': Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]) });
    await expectUserError(importDir(utf16), { message: /^train\.csv is UTF-16 text/, file: 'train.csv', line: 1, hint: /Save it as UTF-8/ });
  });

  test('a train.csv.gz beside plain test.csv and sample_submission.csv is named, with the command that unpacks it', async () => {
    const { gzipSync } = await import('node:zlib');
    const text = csv('label,a,b,c,d', ...rows(20));
    // train.csv.gz beside plain test.csv and sample_submission.csv: the packed train.csv is named, with gunzip -k
    // (the error named only the CSVs it found until session 39)
    const half = await competition({ 'train.csv.gz': gzipSync(text), 'test.csv': csv('a,b,c,d', '0,0,0,0'), 'sample_submission.csv': csv('ImageId,Label', '1,0') });
    await expectUserError(resolveCompetitionFiles([half]), { message: /^no train\.csv in .*, but train\.csv\.gz is there, compressed \(beside sample_submission\.csv, test\.csv\)$/, hint: /^Unpack it first \(gunzip -k train\.csv\.gz, in .*\), then import the folder again\.$/ });
    const zipped = await competition({ 'train.csv.zip': new Uint8Array([0x50, 0x4b, 0x03, 0x04, 0x14, 0, 0, 0]), 'test.csv': csv('a,b,c,d', '0,0,0,0') });
    await expectUserError(resolveCompetitionFiles([zipped]), { message: /but train\.csv\.zip is there, compressed/, hint: /unzip train\.csv\.zip/ });
  });

  test('a line longer than the widest row of the layout is refused at once, naming the line', async () => {
    // Given a 5-column file whose third line is 5 MB long (no row of 5 short cells is)
    const dir = await competition({ 'train.csv': csv('label,a,b,c,d', '1,0,0,0,0', `2,0,0,0,${'1'.repeat(5_000_000)}`, '3,0,0,0,0') });
    await expectUserError(importDir(dir), { message: /line 3 is longer than 327 bytes, more than a row of 5 cells can be/, file: 'train.csv', line: 3 });
  });

  test('a first line of several megabytes without a line break is refused while detecting', async () => {
    const dir = await competition({ 'train.csv': `${'0,'.repeat(2_000_000)}0\n` });
    await expectUserError(importDir(dir), { message: /line 1 is longer than 1,048,576 bytes/, file: 'train.csv', line: 1 });
  });

  test.each([
    ['a folder named train.csv', async (dir: string) => mkdir(join(dir, 'train.csv')), /train.csv is a folder, not a CSV file/],
    ['a FIFO named train.csv', async (dir: string) => execFileSync('mkfifo', [join(dir, 'train.csv')]), /train.csv is a FIFO \(named pipe\), not a CSV file/],
    [
      'a symlink loop named train.csv',
      async (dir: string) => {
        await symlink(join(dir, 'loop.csv'), join(dir, 'train.csv'));
        await symlink(join(dir, 'train.csv'), join(dir, 'loop.csv'));
      },
      /train.csv is a symbolic link loop/,
    ],
  ])('%s is named as what it is', async (_name, make, message) => {
    const dir = await competition({ 'test.csv': kaggleTest });
    await make(dir);
    // By folder and by name
    await expectUserError(importDir(dir), { message, file: 'train.csv' });
    await expectUserError(resolveCompetitionFiles([join(dir, 'test.csv'), join(dir, 'train.csv')]).then((files) => importCompetition(files)), { message, file: 'train.csv' });
  });
});

describe('pixels and labels are plain decimal numbers, as Python float() reads them', () => {
  // Python: float('1e2') == 100.0 and float(' 7 ') == 7.0 are read; float('0x10') and float('nan')-like text are not numbers here.
  test.each([
    { name: 'hex pixel 0x10', row: '1,0,0x10,0,0', message: /pixel cell is not a number: "0x10"/, column: 3 },
    { name: 'hex label 0x5', row: '0x5,0,0,0,0', message: /label "0x5" is not an integer 0–9/, column: 1 },
    { name: 'binary pixel 0b1', row: '1,0,0,0b1,0', message: /not a number: "0b1"/, column: 4 },
    { name: 'Infinity pixel', row: '1,Infinity,0,0,0', message: /not a number: "Infinity"/, column: 2 },
    { name: 'digit separators 1_0', row: '1,0,0,0,1_0', message: /not a number: "1_0"/, column: 5 },
    { name: 'blank pixel (spaces only)', row: '1,0,  ,0,0', message: /empty pixel cell/, column: 3 },
    { name: 'label 1e2 (100)', row: '1e2,0,0,0,0', message: /label "1e2" is not an integer 0–9/, column: 1 },
  ])('$name is refused with its line and column', async ({ row, message, column }) => {
    const dir = await competition({ 'train.csv': csv('label,a,b,c,d', '1,0,0,0,0', row) });
    await expectUserError(importDir(dir), { message, file: 'train.csv', line: 3, column });
  });

  test('spaces around a number, exponents and a trailing dot are read as Python reads them', async () => {
    const dir = await competition({ 'train.csv': csv('label,a,b,c,d', ' 7 ,1e2, 3 ,4.,+5', '9e0,0,0,0,0') });
    await importDir(dir);
    const dataset = await loadDataset(dir);
    expect(Array.from(dataset.trainImages)).toEqual([100, 3, 4, 5, 0, 0, 0, 0]);
    expect(Array.from(dataset.trainLabels)).toEqual([7, 9]);
  });
});
