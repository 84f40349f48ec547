import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadDataset } from '../../src/data/dataset.js';
import { createSplit, loadSplit } from '../../src/data/splits.js';
import { inspectDataset } from '../../src/data/inspect.js';
import { UserError } from '../../src/errors.js';
import { importCompetition, resolveCompetitionFiles } from '../../src/data/import.js';
import { CORRUPTIONS, isCorruptionRecipe } from '../../src/data/corruptions/index.js';
import { type MnistSet, readMnist } from '../../src/data/mnist.js';
import { PRACTICE_RECIPES, type PracticeRecipe, buildPracticeCompetition, formatUnit, practiceRows } from '../../src/data/practice.js';
import { createRandom, deriveSeed } from '../../src/data/random.js';
import { expectUserError, removeTempDirs, tempDir } from './helpers.js';

let train: MnistSet;
let t10k: MnistSet;
beforeAll(async () => {
  [train, t10k] = await Promise.all([readMnist('train'), readMnist('test')]);
});
afterAll(removeTempDirs);

const TRAIN = 40;
const TEST = 25;
const PIXELS = 784;

interface AnswerKey {
  recipe: string;
  sigma: number | null;
  train: { sourceIndices: number[] };
  test: { sourceIndices: number[]; source: string };
}

async function build(recipe: PracticeRecipe, extra: { seed?: number; sigma?: number; trainRows?: number; testRows?: number } = {}) {
  const dir = await tempDir();
  const out = join(dir, recipe);
  const report = await buildPracticeCompetition({ recipe, out, trainRows: TRAIN, testRows: TEST, seed: 7, ...extra });
  const key = JSON.parse(await readFile(report.answerKey, 'utf8')) as AnswerKey;
  return { dir, out, report, key };
}

function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < a.length; i++) {
    ma += a[i];
    mb += b[i];
  }
  ma /= a.length;
  mb /= b.length;
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += (a[i] - ma) * (b[i] - mb);
    aa += (a[i] - ma) ** 2;
    bb += (b[i] - mb) ** 2;
  }
  return ab / Math.sqrt(aa * bb);
}

const digitOf = (set: MnistSet, index: number) => set.images.subarray(index * PIXELS, (index + 1) * PIXELS);

describe.each(PRACTICE_RECIPES.map((recipe) => [recipe]))('data practice --recipe %s', (recipe) => {
  test('imports back cleanly and round-trips images and labels', async () => {
    // Given a small practice competition
    const { out, report, key } = await build(recipe);
    expect((await readdir(out)).sort()).toEqual(['sample_submission.csv', 'test.csv', 'train.csv']);
    // When it is imported with everything detected
    const imported = await importCompetition(await resolveCompetitionFiles([out]));
    const dataset = await loadDataset(out);
    // Then the layout is detected as the recipe wrote it
    const layout = report.layout;
    expect(imported.detected.train.header.value).toBe(layout.header);
    expect(imported.detected.train.label.value?.column).toBe(layout.label === 'first' ? 0 : PIXELS);
    expect(dataset.scale).toBe(layout.pixels === 'integer' ? 255 : 1);
    expect([dataset.width, dataset.height]).toEqual([28, 28]);
    expect(dataset.trainLabels.length).toBe(TRAIN);
    expect(dataset.testImages.length).toBe(TEST * PIXELS);
    expect(dataset.testLabels).toBeUndefined();
    expect(dataset.ids).toEqual(Array.from({ length: TEST }, (_, i) => String(i + 1)));
    // And the cached values are the generated ones, within float formatting tolerance
    const tolerance = layout.pixels === 'integer' ? 0 : 1e-6;
    for (const [split, images, set] of [['train', dataset.trainImages, train], ['test', dataset.testImages, t10k]] as const) {
      let worst = 0;
      for (const row of practiceRows({ recipe, split, count: split === 'train' ? TRAIN : TEST, seed: 7, sigma: report.sigma }, set)) {
        for (let i = 0; i < PIXELS; i++) worst = Math.max(worst, Math.abs(images[row.row * PIXELS + i] - row.values[i]));
        if (split === 'train') expect(dataset.trainLabels[row.row]).toBe(row.label);
      }
      expect(worst).toBeLessThanOrEqual(tolerance);
    }
    // And the labels are MNIST's, train rows from the training set
    expect(Array.from(dataset.trainLabels)).toEqual(key.train.sourceIndices.map((i) => train.labels[i]));
  });

  test('test rows come from t10k and the answers beside the folder are their labels', async () => {
    const { out, report, key } = await build(recipe);
    expect(report.answers).toBe(`${out}-answers.csv`);
    expect(key.test.source).toBe('t10k-images-idx3-ubyte');
    const answers = (await readFile(report.answers, 'utf8')).trim().split('\n');
    expect(answers[0]).toBe('ImageId,Label');
    expect(answers.slice(1)).toEqual(key.test.sourceIndices.map((source, i) => `${i + 1},${t10k.labels[source]}`));
    expect(key.test.sourceIndices.every((i) => i >= 0 && i < 10_000)).toBe(true);

    // The upright test images, in [0, 1]
    const imported = await importCompetition({ ...(await resolveCompetitionFiles([out])), orientation: report.layout.transposed ? 'transpose' : 'as-is' });
    expect(imported.orientation).toBe(report.layout.transposed ? 'transpose' : 'as-is');
    const dataset = await loadDataset(out);
    const image = (row: number) => Array.from(dataset.testImages.subarray(row * PIXELS, (row + 1) * PIXELS), (v) => v / dataset.scale);
    if (recipe === 'clean') {
      // Byte-identical to a t10k image (checked against every t10k image, not just the claimed one)
      const hashes = new Set<string>();
      for (let i = 0; i < t10k.count; i++) hashes.add(createHash('sha1').update(digitOf(t10k, i)).digest('hex'));
      for (let row = 0; row < TEST; row++) {
        const bytes = dataset.testImages.subarray(row * PIXELS, (row + 1) * PIXELS);
        expect(hashes.has(createHash('sha1').update(bytes).digest('hex'))).toBe(true);
        expect(Array.from(bytes)).toEqual(Array.from(digitOf(t10k, key.test.sourceIndices[row])));
      }
    } else if (recipe === 'uniform') {
      // max(digit, noise): never below the t10k digit, and 1 where the digit is 255
      for (let row = 0; row < TEST; row++) {
        const digit = digitOf(t10k, key.test.sourceIndices[row]);
        const values = image(row);
        for (let i = 0; i < PIXELS; i++) {
          expect(values[i]).toBeGreaterThanOrEqual(digit[i] / 255 - 1e-6);
          if (digit[i] === 255) expect(values[i]).toBe(1);
        }
      }
    } else if (isCorruptionRecipe(recipe)) {
      // An MNIST-C or n-MNIST corruption of the claimed t10k image, drawn from that row's own stream
      // (corruptions.test.ts checks what each corruption does)
      const scale = report.layout.pixels === 'integer' ? 255 : 1;
      for (let row = 0; row < TEST; row++) {
        const digit = Float64Array.from(digitOf(t10k, key.test.sourceIndices[row]), (v) => v / 255);
        const expected = CORRUPTIONS[recipe].apply(digit, 28, createRandom(deriveSeed(7, 'practice', 'test', row)));
        const values = image(row);
        let worst = 0;
        for (let i = 0; i < PIXELS; i++) worst = Math.max(worst, Math.abs(values[i] - (scale === 255 ? Math.round(expected[i] * 255) / 255 : expected[i])));
        expect(worst).toBeLessThanOrEqual(1e-6);
      }
    } else {
      // Noisy or moved: each row resembles its t10k source far more than other t10k digits
      let own = 0;
      let other = 0;
      for (let row = 0; row < TEST; row++) {
        own += pearson(image(row), digitOf(t10k, key.test.sourceIndices[row]));
        other += pearson(image(row), digitOf(t10k, key.test.sourceIndices[(row + 1) % TEST]));
      }
      expect(own / TEST).toBeGreaterThan(0.5);
      expect(own / TEST).toBeGreaterThan(other / TEST + 0.3);
    }
  });
});

describe('data practice is seeded and reproducible', () => {
  const sha = async (file: string) => createHash('sha256').update(await readFile(file)).digest('hex');

  test('the same seed gives the same files; another seed different ones; fewer rows are a prefix', async () => {
    const a = await build('gaussian', { seed: 3 });
    const b = await build('gaussian', { seed: 3 });
    const c = await build('gaussian', { seed: 4 });
    const short = await build('gaussian', { seed: 3, trainRows: 10 });
    for (const name of ['train.csv', 'test.csv', 'sample_submission.csv']) expect(await sha(join(a.out, name))).toBe(await sha(join(b.out, name)));
    expect(await sha(`${a.out}-answers.csv`)).toBe(await sha(`${b.out}-answers.csv`));
    expect(await sha(join(a.out, 'train.csv'))).not.toBe(await sha(join(c.out, 'train.csv')));
    const lines = (await readFile(join(a.out, 'train.csv'), 'utf8')).split('\n');
    const shortLines = (await readFile(join(short.out, 'train.csv'), 'utf8')).split('\n');
    expect(shortLines.slice(0, 11)).toEqual(lines.slice(0, 11));
  });

  test('uniform is the seed-002 layout: no header, 785 columns, label last like 7.0', async () => {
    const { out } = await build('uniform');
    const first = (await readFile(join(out, 'train.csv'), 'utf8')).split('\n')[0].split(',');
    expect(first).toHaveLength(785);
    expect(first[784]).toMatch(/^[0-9]\.0$/);
    expect(first.slice(0, 784).every((cell) => /^(0\.[0-9]{1,7}|1\.0|0\.0)$/.test(cell))).toBe(true);
    const test = (await readFile(join(out, 'test.csv'), 'utf8')).split('\n')[0].split(',');
    expect(test).toHaveLength(784);
  });

  test('clean is the Kaggle layout', async () => {
    const { out } = await build('clean');
    const [header, row] = (await readFile(join(out, 'train.csv'), 'utf8')).split('\n');
    expect(header.split(',').slice(0, 3)).toEqual(['label', 'pixel0', 'pixel1']);
    expect(header.split(',')).toHaveLength(785);
    expect(row.split(',').every((cell) => /^\d+$/.test(cell))).toBe(true);
    expect((await readFile(join(out, 'test.csv'), 'utf8')).split('\n')[0].split(',')[0]).toBe('pixel0');
    expect((await readFile(join(out, 'sample_submission.csv'), 'utf8')).split('\n').slice(0, 2)).toEqual(['ImageId,Label', '1,0']);
  });

  test.each([
    [0, '0.0'],
    [1, '1.0'],
    [0.5, '0.5'],
    [0.12345678, '0.1234568'],
    [1e-9, '0.0'],
    [0.99999999, '1.0'],
    [0.0000001, '0.0000001'],
  ])('formatUnit(%f) is %s', (value, text) => {
    expect(formatUnit(value)).toBe(text);
    expect(Math.abs(Number(text) - value)).toBeLessThanOrEqual(5e-8);
  });
});

describe('data practice refuses what it cannot do', () => {
  test.each([
    ['more test rows than t10k has', { recipe: 'clean' as const, testRows: 10_001 }, { message: /test rows must be a whole number from 1 to 10,000/, flag: 'test', hint: /t10k/ }],
    ['more training rows than MNIST has', { recipe: 'clean' as const, trainRows: 60_001 }, { message: /training rows/, flag: 'train' }],
    ['zero training rows', { recipe: 'uniform' as const, trainRows: 0 }, { message: /training rows/, flag: 'train' }],
    ['σ for a recipe without noise', { recipe: 'uniform' as const, sigma: 0.2 }, { message: /takes no σ/, flag: 'sigma' }],
    ['a negative σ', { recipe: 'gaussian' as const, sigma: -1 }, { message: /σ must be between 0 and 10/, flag: 'sigma' }],
  ])('%s', async (_name, options, expected) => {
    const dir = await tempDir();
    await expectUserError(buildPracticeCompetition({ out: join(dir, 'c'), seed: 1, trainRows: 5, testRows: 5, ...options }), expected);
    expect(await readdir(dir)).toEqual([]);
  });

  test('an existing folder is kept unless --force, and --force replaces only a practice competition', async () => {
    const dir = await tempDir();
    const out = join(dir, 'mine');
    await buildPracticeCompetition({ recipe: 'clean', out, seed: 1, trainRows: 5, testRows: 5 });
    await writeFile(join(out, 'notes.txt'), 'mine');
    await mkdir(join(out, 'sub'));
    await expectUserError(buildPracticeCompetition({ recipe: 'clean', out, seed: 1, trainRows: 5, testRows: 5 }), { message: /already exists/, flag: 'out', hint: /another --out .*--force would refuse it too/ });
    // --force never deletes what a practice competition does not hold (`--out .` in a project)
    await expectUserError(buildPracticeCompetition({ recipe: 'clean', out, seed: 2, trainRows: 6, testRows: 5, force: true }), { message: /holds files a practice competition does not \(notes\.txt, sub\)/, file: 'mine', hint: /move those files away/ });
    expect(await readFile(join(out, 'notes.txt'), 'utf8')).toBe('mine');
    expect((await readdir(dir)).sort()).toEqual(['mine', 'mine-answers.csv', 'mine-answers.json']);
    await rm(join(out, 'notes.txt'));
    await rm(join(out, 'sub'), { recursive: true });
    await importCompetition({ ...(await resolveCompetitionFiles([out])), orientation: 'as-is' });
    expect(await readdir(out)).toContain('.digits');
    const before = await stat(out);
    await buildPracticeCompetition({ recipe: 'clean', out, seed: 2, trainRows: 6, testRows: 5, force: true });
    // the same folder (it may be the shell's working folder), new files, the old import's cache gone
    expect((await stat(out)).ino).toBe(before.ino);
    expect((await readdir(out)).sort()).toEqual(['sample_submission.csv', 'test.csv', 'train.csv']);
    expect((await readFile(join(out, 'train.csv'), 'utf8')).trim().split('\n')).toHaveLength(7);
    expect((await readdir(dir)).sort()).toEqual(['mine', 'mine-answers.csv', 'mine-answers.json']);
  });

  test('--force keeps the saved splits: rebuilt unchanged, the runs that name them still find them; rebuilt otherwise, they are refused as made for other data', async () => {
    // Given a practice competition, imported, with a saved split
    const out = join(await tempDir(), 'kept');
    const build = (seed: number) => buildPracticeCompetition({ recipe: 'uniform', out, seed, trainRows: 40, testRows: 5, force: true });
    await build(1);
    const imported = async () => importCompetition({ ...(await resolveCompetitionFiles([out])), orientation: 'as-is' });
    const first = await imported();
    await createSplit({ data: out, name: 'h', spec: { kind: 'holdout', validationFraction: 0.25, seed: 3 } });
    // When it is rebuilt with --force from the same recipe and seed, and imported again
    await build(1);
    const same = await imported();
    // Then the data is the same and the split is still there for it
    expect(same.fingerprint).toBe(first.fingerprint);
    expect((await loadSplit(same.datasetDir, 'h', same.fingerprint)).folds[0]!.validation.length).toBe(10);
    expect((await inspectDataset({ data: same.datasetDir, set: 'train', count: 0, seed: 1 })).stats).toMatchObject({ splits: ['h'], staleSplits: [] });
    // And rebuilt from another seed, the split is kept but refused for the new data
    await build(2);
    const other = await imported();
    await expect(loadSplit(other.datasetDir, 'h', other.fingerprint)).rejects.toThrow(UserError);
    // and data inspect says it is stale (it listed it as any other split)
    expect((await inspectDataset({ data: other.datasetDir, set: 'train', count: 0, seed: 1 })).stats).toMatchObject({ splits: ['h'], staleSplits: ['h'] });
  });

  test('--force refuses CSVs practice did not write (a Kaggle download), naming them, and the first refusal does not recommend it', async () => {
    // Given a folder holding a Kaggle download (no answers beside it)
    const dir = await tempDir();
    const kaggle = join(dir, 'kaggle');
    await mkdir(kaggle);
    await writeFile(join(kaggle, 'train.csv'), 'label,pixel0\n1,0\n');
    await writeFile(join(kaggle, 'test.csv'), 'pixel0\n0\n');
    await writeFile(join(kaggle, 'sample_submission.csv'), 'ImageId,Label\n1,0\n');
    // When practice is asked to build there, with and without --force
    await expectUserError(buildPracticeCompetition({ recipe: 'clean', out: kaggle, seed: 1, trainRows: 5, testRows: 5 }), { message: /already exists/, hint: /not a practice competition, so --force would refuse it too/ });
    await expectUserError(buildPracticeCompetition({ recipe: 'clean', out: kaggle, seed: 1, trainRows: 5, testRows: 5, force: true }), {
      message: /is not a practice competition: --force would destroy train\.csv, test\.csv, sample_submission\.csv/,
      file: 'kaggle',
      hint: /another --out/,
    });
    // Then the user's files are untouched and nothing was written beside them
    expect(await readFile(join(kaggle, 'train.csv'), 'utf8')).toBe('label,pixel0\n1,0\n');
    expect(await readdir(dir)).toEqual(['kaggle']);

    // Given a practice competition whose train.csv the user replaced, the answers still beside it
    const out = join(dir, 'edited');
    await buildPracticeCompetition({ recipe: 'clean', out, seed: 1, trainRows: 5, testRows: 5 });
    await expectUserError(buildPracticeCompetition({ recipe: 'clean', out, seed: 1, trainRows: 5, testRows: 5 }), { message: /already exists/, hint: /holds a practice competition.*pass --force/ });
    await writeFile(join(out, 'train.csv'), 'label,pixel0\n1,0\n');
    await expectUserError(buildPracticeCompetition({ recipe: 'clean', out, seed: 2, trainRows: 6, testRows: 5, force: true }), { message: /--force would destroy train\.csv, which/ });
    expect(await readFile(join(out, 'train.csv'), 'utf8')).toBe('label,pixel0\n1,0\n');
  });

  test('a rebuild under --force killed while its files were swapped leaves a folder the next --force still replaces', async () => {
    // Given a practice competition rebuilt under --force, killed after its new answer key went in
    // and before its CSVs did (the old CSVs in the folder, the new key beside it)
    const dir = await tempDir();
    const out = join(dir, 'comp');
    await buildPracticeCompetition({ recipe: 'clean', out, seed: 1, trainRows: 5, testRows: 5 });
    const old = Object.fromEntries(await Promise.all(['train.csv', 'test.csv', 'sample_submission.csv'].map(async (f) => [f, await readFile(join(out, f))] as const)));
    await buildPracticeCompetition({ recipe: 'clean', out, seed: 2, trainRows: 7, testRows: 6, force: true });
    for (const [file, bytes] of Object.entries(old)) await writeFile(join(out, file), bytes);
    // When it is built again with --force, Then it is replaced (until session 43 the key went in last,
    // and a folder left between the two was refused by every later --force as "not a practice competition")
    const rebuilt = await buildPracticeCompetition({ recipe: 'clean', out, seed: 3, trainRows: 8, testRows: 5, force: true });
    expect(rebuilt.trainRows).toBe(8);
    expect((await readFile(join(out, 'train.csv'), 'utf8')).trim().split('\n')).toHaveLength(9);
  });

  test('--force recognises a practice competition whose answer key predates file sizes by its rows', async () => {
    // Given a practice competition with an answer key as written before session 43 (no sizes)
    const out = join(await tempDir(), 'old');
    await buildPracticeCompetition({ recipe: 'uniform', out, seed: 1, trainRows: 7, testRows: 5 });
    const key = JSON.parse(await readFile(`${out}-answers.json`, 'utf8'));
    expect(key.files['train.csv']).toBe((await stat(join(out, 'train.csv'))).size);
    delete key.files;
    await writeFile(`${out}-answers.json`, JSON.stringify(key));
    // When --force rebuilds it, it is replaced
    await buildPracticeCompetition({ recipe: 'uniform', out, seed: 2, trainRows: 6, testRows: 5, force: true });
    expect((await readFile(join(out, 'train.csv'), 'utf8')).trim().split('\n')).toHaveLength(6);
    // But with a train.csv of other rows than the key records, it is refused
    const newer = JSON.parse(await readFile(`${out}-answers.json`, 'utf8'));
    delete newer.files;
    newer.train.rows = 9;
    await writeFile(`${out}-answers.json`, JSON.stringify(newer));
    await expectUserError(buildPracticeCompetition({ recipe: 'uniform', out, seed: 2, trainRows: 6, testRows: 5, force: true }), { message: /would destroy train\.csv,/ });
  });

  test('an existing empty folder is filled in place', async () => {
    const out = join(await tempDir(), 'empty');
    await mkdir(out);
    const before = await stat(out);
    await buildPracticeCompetition({ recipe: 'clean', out, seed: 1, trainRows: 5, testRows: 5 });
    expect((await stat(out)).ino).toBe(before.ino);
    expect((await readdir(out)).sort()).toEqual(['sample_submission.csv', 'test.csv', 'train.csv']);
  });
});
