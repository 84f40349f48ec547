/**
 * Held-out rows, decided once and saved with the dataset, so every model, ensemble member
 * and report that says "validation" means the same rows.
 *
 * Stratified: each class keeps its share. A hold-out split gives class c
 * floor or ceil of n_c × fraction validation rows (largest remainders first, so the
 * total is round(N × fraction)); k-fold puts each class's shuffled rows round the folds in
 * turn, so every fold holds floor or ceil of n_c / k of each class. Shuffles are seeded.
 *
 * Saved as `<dataset>/splits/<name>.json`: kind, seed, parameters, the dataset fingerprint
 * and the validation indices (train is the complement). Loading checks the fingerprint, so
 * a split never silently applies to re-imported, different data.
 */
import { createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../atomic-file.js';
import { makeFolders } from '../make-folders.js';
import { assertFolderPath } from '../output-folder.js';
import { UserError } from '../errors.js';
import { classCoverageWarnings } from './class-coverage.js';
import { assertSourcesUnchanged, readManifest, resolveDatasetDir, loadDataset } from './dataset.js';
import { createRandom, shuffleInPlace } from './random.js';


/**
 * The number of folds the workbench uses and suggests: `digits run`'s folds when `--folds` is
 * not given (k-fold is its default whenever it costs the ensemble nothing: README, "k-fold
 * members"), and the `--folds` every hint names, so the advice is what the default does.
 */
export const DEFAULT_FOLDS = 4;

export interface HoldoutSplit {
  /** Row indices, ascending. */
  train: Uint32Array;
  validation: Uint32Array;
}

export type Fold = HoldoutSplit;

function groupByClass(labels: ArrayLike<number>): Map<number, number[]> {
  const groups = new Map<number, number[]>();
  for (let i = 0; i < labels.length; i++) {
    const group = groups.get(labels[i]);
    if (group) group.push(i);
    else groups.set(labels[i], [i]);
  }
  return new Map([...groups.entries()].sort((a, b) => a[0] - b[0]));
}

function ascending(values: number[]): Uint32Array {
  return Uint32Array.from(values).sort();
}

/** A seeded, stratified train/validation split of row indices 0..labels.length-1. */
export function stratifiedSplit(labels: ArrayLike<number>, options: { validationFraction: number; seed: number }): HoldoutSplit {
  const fraction = options.validationFraction;
  if (!(fraction > 0 && fraction < 1)) throw new RangeError(`validationFraction must be in (0, 1), got ${fraction}`);
  const random = createRandom(options.seed);
  const groups = [...groupByClass(labels).values()];
  const exact = groups.map((group) => group.length * fraction);
  const take = exact.map(Math.floor);
  let missing = Math.round(labels.length * fraction) - take.reduce((a, b) => a + b, 0);
  const byRemainder = exact.map((value, i) => ({ i, remainder: value - take[i] })).sort((a, b) => b.remainder - a.remainder || a.i - b.i);
  for (const { i, remainder } of byRemainder) {
    if (missing <= 0) break;
    if (remainder > 0) {
      take[i]++;
      missing--;
    }
  }
  const train: number[] = [];
  const validation: number[] = [];
  groups.forEach((group, i) => {
    const shuffled = shuffleInPlace(group.slice(), random);
    validation.push(...shuffled.slice(0, take[i]));
    train.push(...shuffled.slice(take[i]));
  });
  return { train: ascending(train), validation: ascending(validation) };
}

/** Seeded, stratified k folds; fold i validates on its rows and trains on all others. */
export function stratifiedKFold(labels: ArrayLike<number>, options: { k: number; seed: number }): Fold[] {
  const { k } = options;
  if (!Number.isInteger(k) || k < 2 || k > labels.length) throw new RangeError(`k must be an integer from 2 to ${labels.length}, got ${k}`);
  const random = createRandom(options.seed);
  // Uint32: fold numbers past 255 wrapped in the Uint8Array this was, leaving folds empty.
  const assignment = new Uint32Array(labels.length);
  let position = 0;
  for (const group of groupByClass(labels).values()) {
    for (const index of shuffleInPlace(group.slice(), random)) assignment[index] = position++ % k;
  }
  return foldsFromAssignment(assignment, k);
}

function foldsFromAssignment(assignment: ArrayLike<number>, k: number): Fold[] {
  const validation: number[][] = Array.from({ length: k }, () => []);
  for (let i = 0; i < assignment.length; i++) validation[assignment[i]].push(i);
  return validation.map((rows, fold) => {
    const train: number[] = [];
    for (let i = 0; i < assignment.length; i++) if (assignment[i] !== fold) train.push(i);
    return { train: Uint32Array.from(train), validation: Uint32Array.from(rows) };
  });
}

// ---------------------------------------------------------------------------------------
// Saved splits

export const SPLITS_DIR = 'splits';
/** A split's name (its file's): letters, digits, dots, dashes and underscores, up to 64. */
export const SPLIT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const NAME = SPLIT_NAME;

export type SplitSpec = { kind: 'holdout'; validationFraction: number; seed: number } | { kind: 'kfold'; k: number; seed: number };

/** `splits/<name>.json` */
export interface SavedSplitFile {
  format: 'digits-split';
  version: 1;
  name: string;
  spec: SplitSpec;
  datasetFingerprint: string;
  rows: number;
  createdAt: string;
  /** Validation row indices: one list for a hold-out split, one per fold for k-fold. */
  validation: number[][];
}

export interface SavedSplit {
  name: string;
  spec: SplitSpec;
  datasetFingerprint: string;
  rows: number;
  /** One entry for a hold-out split, k for k-fold. */
  folds: Fold[];
}

function checkName(name: string): void {
  if (!NAME.test(name)) {
    throw new UserError(`invalid split name ${JSON.stringify(name)}`, {
      where: { flag: 'name' },
      hint: 'Use letters, digits, dots, dashes and underscores (up to 64), starting with a letter or digit.',
    });
  }
}

/**
 * A short digest of a split's validation rows, fold by fold. A run records the digest of each
 * split it trained on, so a split replaced later under the same name (`data split --force`)
 * is noticed before its members are scored on rows they trained on.
 */
export function splitDigest(split: Pick<SavedSplit, 'folds'>): string {
  const hash = createHash('sha256');
  for (const fold of split.folds) hash.update(`${Array.from(fold.validation).join(',')}|`);
  return `sha256:${hash.digest('hex').slice(0, 16)}`;
}

/** Refuses a split whose rows are not those a run recorded when it trained on it. */
export function assertSplitUnchanged(split: SavedSplit, recorded: string | undefined, run: { name: string; file: string }): void {
  if (recorded === undefined || splitDigest(split) === recorded) return;
  throw new UserError(`split ${JSON.stringify(split.name)} changed since run ${run.name} was trained on it (replaced, e.g. by digits data split --force): its members would be scored on rows they trained on`, {
    where: { file: run.file },
    hint: `Save the split again as it was (digits data split with the same --name, --folds or --validation and --seed, and --force), or train the run again.`,
  });
}

/** Computes a split over labels. */
export function computeSplit(labels: ArrayLike<number>, spec: SplitSpec): Fold[] {
  return spec.kind === 'holdout' ? [stratifiedSplit(labels, spec)] : stratifiedKFold(labels, spec);
}

/** Writes `splits/<name>.json` in the dataset folder (atomically) and returns its path. */
export async function saveSplit(datasetDir: string, split: SavedSplit): Promise<string> {
  checkName(split.name);
  const dir = join(datasetDir, SPLITS_DIR);
  // (a file named splits in the dataset folder: named, where mkdir's EEXIST was an internal error)
  await assertFolderPath(dir, { what: 'the splits folder' });
  await makeFolders(dir);
  const file: SavedSplitFile = {
    format: 'digits-split',
    version: 1,
    name: split.name,
    spec: split.spec,
    datasetFingerprint: split.datasetFingerprint,
    rows: split.rows,
    createdAt: new Date().toISOString(),
    validation: split.folds.map((fold) => Array.from(fold.validation)),
  };
  const path = join(dir, `${split.name}.json`);
  // (a temp file a failed write left went with it only from session 45, and a full disk named no file)
  await writeFileAtomic(path, `${JSON.stringify(file)}\n`);
  return path;
}

export async function listSplits(datasetDir: string): Promise<string[]> {
  const names = await readdir(join(datasetDir, SPLITS_DIR)).catch(() => [] as string[]);
  return names.filter((name) => name.endsWith('.json')).map((name) => name.slice(0, -'.json'.length)).sort();
}

/**
 * The saved splits made for other data than `fingerprint` (the dataset re-imported with other
 * content since): loading them is refused, and `data split --force` makes them again.
 */
export async function staleSplits(datasetDir: string, fingerprint: string): Promise<string[]> {
  const stale: string[] = [];
  for (const name of await listSplits(datasetDir)) {
    const file = await readFile(join(datasetDir, SPLITS_DIR, `${name}.json`), 'utf8').then((text) => JSON.parse(text) as Partial<SavedSplitFile>, () => null);
    if (file && file.datasetFingerprint !== fingerprint) stale.push(name);
  }
  return stale;
}

/**
 * Reads `splits/<name>.json`. With `expectedFingerprint` (normally the dataset's), a split
 * made for other data is refused.
 */
export async function loadSplit(datasetDir: string, name: string, expectedFingerprint?: string): Promise<SavedSplit> {
  checkName(name);
  const path = join(datasetDir, SPLITS_DIR, `${name}.json`);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    const available = await listSplits(datasetDir);
    throw new UserError(`no split named ${JSON.stringify(name)} in ${datasetDir}`, {
      where: { file: path },
      hint: available.length > 0 ? `Saved splits: ${available.join(', ')}.` : 'Make one with digits data split.',
    });
  }
  const file = JSON.parse(text) as SavedSplitFile;
  if (file.format !== 'digits-split' || !Array.isArray(file.validation)) {
    throw new UserError(`${path} is not a digits split`, { where: { file: path }, hint: 'Make it again with digits data split --force.' });
  }
  if (expectedFingerprint !== undefined && file.datasetFingerprint !== expectedFingerprint) {
    throw new UserError(`split ${JSON.stringify(name)} was made for other data (the dataset was re-imported with different content)`, {
      where: { file: path },
      hint: `Make it again for this data: digits data split --name ${name} --force.`,
    });
  }
  // Each row's fold; -1 for rows no fold validates on (the training rows of a hold-out split).
  const assignment = new Int32Array(file.rows).fill(-1);
  file.validation.forEach((rows, fold) => rows.forEach((row) => (assignment[row] = fold)));
  const folds = file.validation.map((rows, fold) => {
    const train: number[] = [];
    for (let i = 0; i < file.rows; i++) if (assignment[i] !== fold) train.push(i);
    return { train: Uint32Array.from(train), validation: Uint32Array.from(rows) };
  });
  return { name: file.name, spec: file.spec, datasetFingerprint: file.datasetFingerprint, rows: file.rows, folds };
}

export interface CreateSplitOptions {
  /** Competition or dataset folder. */
  data: string;
  name: string;
  spec: SplitSpec;
  /** Replace a saved split of that name that differs. */
  force?: boolean;
}

export interface CreateSplitReport {
  name: string;
  file: string;
  datasetDir: string;
  spec: SplitSpec;
  rows: number;
  /** Per fold: validation rows per class (index = label). */
  validationPerClass: number[][];
  trainPerClass: number[][];
  unchanged: boolean;
  /** A saved split of that name was made for other data (the dataset was re-imported since) and was replaced. */
  replacedStale: boolean;
  /** What the split's validation rows cannot score: digits with too few rows for its folds, a hold-out missing a digit */
  warnings: string[];
}

/** What a split's validation rows cannot say (printed as warnings; the split is saved all the same). */
function splitWarnings(classCounts: readonly number[], spec: SplitSpec, validationPerClass: readonly number[][]): string[] {
  if (spec.kind === 'kfold') return classCoverageWarnings(classCounts, { folds: spec.k });
  const digits = (list: number[]) => `${list.length === 1 ? 'digit' : 'digits'} ${list.join(', ')}`;
  const out: string[] = [];
  // (as train says of a split before training: until session 49 \`data split --validation 0.99\` saved
  // a split that trained on no row of four digits, and said nothing)
  const untrained = classCounts.flatMap((count, digit) => (count > 0 && validationPerClass[0]![digit] === count ? [digit] : []));
  if (untrained.length > 0) {
    const it = untrained.length === 1 ? 'it' : 'them';
    const single = untrained.every((d) => classCounts[d] === 1);
    out.push(`the hold-out takes every row of ${digits(untrained)}: networks trained on this split never see ${it} (${single ? `${untrained.length === 1 ? 'it has' : 'each has'} a single row, which a hold-out either trains on or scores: --folds trains on ${it} in every other fold` : 'a smaller --validation holds out less'})`);
  }
  const unscored = classCounts.flatMap((count, digit) => (count > 0 && validationPerClass[0]![digit] === 0 ? [digit] : []));
  if (unscored.length > 0) out.push(`the hold-out has no row of ${digits(unscored)}: its figures say nothing about ${unscored.length === 1 ? 'it' : 'them'} (a larger --validation holds out more)`);
  return out;
}

function perClass(labels: Uint8Array, rows: Uint32Array): number[] {
  const counts = new Array<number>(10).fill(0);
  for (const row of rows) counts[labels[row]]++;
  return counts;
}

/**
 * A --validation that holds out at least one of `n` (≥ 2) rows and leaves one: 0.1 when it
 * does (from 5 rows), else the fraction of one row (0.5 of 2, 0.33 of 3, 0.25 of 4).
 */
export function validationExample(n: number): number {
  return Math.round(n * 0.1) >= 1 ? 0.1 : Number((1 / n).toPrecision(2));
}

/** Computes a stratified split of an imported dataset's training rows and saves it with the dataset. */
export async function createSplit(given: CreateSplitOptions): Promise<CreateSplitReport> {
  // A name typed as the file it makes (`--name holdout.json`) is that name: it was saved as
  // splits/holdout.json.json until session 49.
  const options = { ...given, name: given.name.replace(/\.json$/i, '') || given.name };
  checkName(options.name);
  const datasetDir = await resolveDatasetDir(options.data);
  const manifest = await readManifest(datasetDir);
  await assertSourcesUnchanged(datasetDir);
  const dataset = await loadDataset(datasetDir);
  const labels = dataset.trainLabels;
  const n = labels.length;
  const flag = options.spec.kind === 'kfold' ? 'folds' : 'validation';
  // Fewer than 2 rows cannot be split at all: the hints below gave ranges that were empty ("at
  // least 0.5 and below 0.5", "from 2 to 1") and examples outside them, until session 43.
  if (n < 2) {
    throw new UserError(`the dataset has ${n === 0 ? 'no training row' : 'one training row'}: too few to split (a hold-out or k folds need at least 2)`, {
      where: { flag },
      hint: 'Import a competition with more training rows (or build a practice one with a larger --train), then split it.',
    });
  }
  if (options.spec.kind === 'holdout' && !(options.spec.validationFraction > 0 && options.spec.validationFraction < 1)) {
    throw new UserError(`the validation fraction must be between 0 and 1, not ${options.spec.validationFraction}`, { where: { flag: 'validation' }, hint: `For example --validation ${validationExample(n)} holds out ${Number((validationExample(n) * 100).toPrecision(3))}%.` });
  }
  if (options.spec.kind === 'kfold' && !(Number.isInteger(options.spec.k) && options.spec.k >= 2 && options.spec.k <= n)) {
    throw new UserError(`the number of folds must be a whole number from 2 to ${n}, not ${options.spec.k}`, { where: { flag: 'folds' }, hint: `For example --folds ${Math.min(DEFAULT_FOLDS, n)}.` });
  }
  const folds = computeSplit(labels, options.spec);
  if (options.spec.kind === 'holdout') {
    // A fraction inside (0, 1) can still round to no validation row, or to all of them.
    const held = folds[0]!.validation.length;
    if (held === 0 || held === n) {
      throw new UserError(`--validation ${options.spec.validationFraction} holds out ${held === 0 ? 'no row' : `all ${n} rows, leaving none to train on`}`, {
        where: { flag: 'validation' },
        hint: `With ${n} training rows, use a fraction of at least ${Number((0.5 / n).toPrecision(2))} and below ${Number(((n - 0.5) / n).toPrecision(4))} (for example --validation ${validationExample(n)}).`,
      });
    }
  }
  const split: SavedSplit = { name: options.name, spec: options.spec, datasetFingerprint: manifest.fingerprint, rows: labels.length, folds };
  const existing = (await listSplits(datasetDir)).includes(options.name) ? await loadSplit(datasetDir, options.name).catch(() => null) : null;
  const same =
    existing !== null &&
    existing.datasetFingerprint === split.datasetFingerprint &&
    JSON.stringify(existing.spec) === JSON.stringify(split.spec) &&
    existing.folds.every((fold, i) => folds[i] && fold.validation.join() === folds[i].validation.join());
  // A split saved for other content (the dataset was re-imported since, e.g. with another orientation) can
  // serve no model of this data: every use of it is refused. Replacing it needs no --force.
  const stale = existing !== null && existing.datasetFingerprint !== split.datasetFingerprint;
  if (existing && !same && !stale && !options.force) {
    throw new UserError(`a different split named ${JSON.stringify(options.name)} is already saved`, {
      where: { file: join(datasetDir, SPLITS_DIR, `${options.name}.json`) },
      hint: 'Models refer to splits by name: choose another --name, or --force to replace it.',
    });
  }
  const file = same ? join(datasetDir, SPLITS_DIR, `${options.name}.json`) : await saveSplit(datasetDir, split);
  const validationPerClass = folds.map((fold) => perClass(labels, fold.validation));
  return {
    name: options.name,
    file,
    datasetDir,
    spec: options.spec,
    rows: labels.length,
    validationPerClass,
    trainPerClass: folds.map((fold) => perClass(labels, fold.train)),
    unchanged: same,
    replacedStale: stale,
    warnings: splitWarnings(manifest.train.classCounts, options.spec, validationPerClass),
  };
}
