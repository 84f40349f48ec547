/**
 * The dataset cache: what `digits data import` writes and everything else reads.
 *
 * A dataset folder (`<competition>/.digits/` by default) holds `dataset.json` (this
 * manifest) and flat binary files it names: images row-major, one image after another,
 * uint8 for 0–255 integer data and little-endian float32 otherwise; labels uint8; test ids
 * as a JSON array of strings. Cache file names carry an import id, so the previous
 * import stays readable until the new manifest is renamed into place.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { access, readFile, readdir, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { UserError } from '../errors.js';
import { displayPath, pathArg } from './format.js';
import type { Orientation } from './orientation.js';

export const MANIFEST_FILE = 'dataset.json';
export const DATASET_FORMAT = 'digits-dataset';
export const DATASET_VERSION = 1;
/** Where import puts the cache inside a competition folder unless `--out` says otherwise. */
export const DEFAULT_DATASET_SUBDIR = '.digits';

/** The competition folder of a dataset folder (`comp/.digits` → `comp`): what `--data` is typed as. */
export function competitionFolderOf(datasetDir: string): string {
  return basename(datasetDir) === DEFAULT_DATASET_SUBDIR ? dirname(datasetDir) : datasetDir;
}
export const DEFAULT_SUBMISSION_HEADER: readonly [string, string] = ['ImageId', 'Label'];

export type PixelDtype = 'uint8' | 'float32';
/** Divide stored pixels by this to get [0, 1]. */
export type PixelScale = 1 | 255;

/** A detected value and how it was decided, as import reports it. */
export interface Detection<T> {
  value: T;
  how: 'detected' | 'flag';
  /** In words: what in the file (or which flag) decided it. */
  reason: string;
}

/** The pixel scale stored (`value`), and what the CSV's values are divided by to get it: 255 for pixels 0–255 with fractions, stored as floats in [0, 1]. */
export type ScaleDetection = Detection<PixelScale> & { divideBy?: 255 };

export interface SourceFile {
  role: 'train' | 'test' | 'sampleSubmission';
  /** Absolute path. */
  path: string;
  size: number;
  mtimeMs: number;
  /** sha256 (hex) of the bytes. */
  sha256: string;
}

/** The overrides an import was asked for (null: detect); re-import reuses the cache only when they match. */
export interface ImportRequest {
  header: boolean | null;
  labelColumn: string | null;
  scale: PixelScale | null;
  size: number | null;
  orientation: Orientation;
  /** --invert / --no-invert; null (or absent): detected */
  invert?: boolean | null;
  /** false: --no-test-check (absent: test.csv was compared with train.csv) */
  testCheck?: false;
  /** fingerprint of the clean-MNIST model that detected the orientation, if one did */
  orientationModel?: string | null;
}

export interface TableDetections {
  file: string;
  rows: number;
  columns: number;
  header: Detection<boolean>;
  /** Header cells when there is a header. */
  headerCells: string[] | null;
  /** 0-based column of the label, or null when the table carries none. */
  label: Detection<{ column: number; name: string | null } | null>;
  /** test.csv: how its pixel columns were matched to train.csv's (by header name or by position). */
  pixelsBy?: string;
  /** A column of row ids read around, with its header name (absent before session 39, and when none). */
  idColumn?: { column: number; name: string } | null;
  /** test.csv: how its rows were put in sample_submission.csv's order, matched by id (absent when stored as read). */
  reordered?: string;
}

export interface DatasetManifest {
  format: typeof DATASET_FORMAT;
  version: typeof DATASET_VERSION;
  /** `sha256:<hex>` over the cache contents (images, labels, ids, layout). */
  fingerprint: string;
  createdAt: string;
  width: number;
  height: number;
  dtype: PixelDtype;
  scale: PixelScale;
  byteOrder: 'little-endian';
  orientation: Orientation;
  orientationNote: string;
  /**
   * true: the CSVs draw dark digits on a light background and the cache holds them inverted
   * (255 − v), bright on dark as MNIST. Absent in caches imported before session 36.
   */
  inverted?: boolean;
  train: { rows: number; images: string; labels: string; classCounts: number[] };
  test: { rows: number; images: string; labels: string | null; ids: string };
  submission: { header: string[]; idsFrom: 'sample-submission' | 'test-csv' | 'generated' };
  detected: {
    train: TableDetections;
    test: TableDetections | null;
    sampleSubmission: { file: string; rows: number; header: Detection<boolean> } | null;
    scale: ScaleDetection;
    size: Detection<number>;
    orientation: Detection<Orientation> & { confidence: number | null };
    /** Ink polarity (ink.ts); absent in caches imported before session 36, which are imported again. */
    polarity?: Detection<'as-is' | 'inverted'>;
    /** test.csv's images against train.csv's (ink.ts), in words. */
    testMatch?: string;
  };
  sources: SourceFile[];
  request: ImportRequest;
}

export type Images = Uint8Array | Float32Array;

export interface Dataset {
  /** The dataset folder (the one holding dataset.json). */
  dir: string;
  manifest: DatasetManifest;
  trainImages: Images;
  trainLabels: Uint8Array;
  testImages: Images;
  /** Present when test.csv carried labels. */
  testLabels?: Uint8Array;
  /** Test row ids for the submission, in test-row order. */
  ids: string[];
  submissionHeader: string[];
  width: number;
  height: number;
  scale: PixelScale;
  orientation: Orientation;
  fingerprint: string;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(() => true, () => false);
}

/**
 * The dataset folder for `dir`: `dir` itself when it holds dataset.json, else
 * `dir/.digits`. Throws a UserError naming both when neither does.
 */
export async function resolveDatasetDir(dir: string): Promise<string> {
  const absolute = resolve(dir);
  if (await exists(join(absolute, MANIFEST_FILE))) return absolute;
  const nested = join(absolute, DEFAULT_DATASET_SUBDIR);
  if (await exists(join(nested, MANIFEST_FILE))) return nested;
  // A file where the competition's folder is meant (`--data comp/train.csv`): name the folder.
  const found = await stat(absolute).catch(() => null);
  if (!found) {
    throw new UserError(`there is no folder ${absolute}`, {
      where: { flag: 'data' },
      hint: 'Check the path: --data takes the folder holding the competition\'s train.csv (or build a practice one with digits data practice --recipe uniform).',
    });
  }
  const isFile = found.isFile();
  if (isFile) {
    const folder = dirname(absolute);
    const imported = (await exists(join(folder, MANIFEST_FILE))) || (await exists(join(folder, DEFAULT_DATASET_SUBDIR, MANIFEST_FILE)));
    throw new UserError(`${absolute} is a file, where the competition's folder (the one holding train.csv) is expected`, {
      where: { file: absolute, flag: 'data' },
      hint: imported ? `Give its folder instead: ${displayPath(folder)}` : `Import its folder first (digits data import ${pathArg(displayPath(folder))}), then give that folder.`,
    });
  }
  throw new UserError(`no imported dataset in ${absolute}`, {
    where: { file: absolute, flag: 'data' },
    hint: await noDatasetHint(absolute),
  });
}

/**
 * What to do when a folder holds no imported dataset: import it when it holds a competition's
 * CSVs; else give --data one of the imported competitions below it (the working folder is
 * --data's default, so `digits data inspect` in a project said "digits data import <project>",
 * which fails); else say what --data takes.
 */
async function noDatasetHint(folder: string): Promise<string> {
  const shown = displayPath(folder);
  if (await exists(join(folder, 'train.csv'))) return `Import the competition first: digits data import ${pathArg(shown)}`;
  const below: string[] = [];
  const children = async (dir: string) => (await readdir(dir, { withFileTypes: true }).catch(() => [])).filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => join(dir, e.name));
  for (const child of await children(folder)) {
    for (const candidate of [child, ...(await children(child))]) {
      if ((await exists(join(candidate, MANIFEST_FILE))) || (await exists(join(candidate, DEFAULT_DATASET_SUBDIR, MANIFEST_FILE)))) below.push(candidate);
    }
    if (below.length >= 5) break;
  }
  if (below.length > 0) {
    const named = below.slice(0, 5).map((c) => pathArg(displayPath(c)));
    return `--data takes a competition's folder (the working folder when not given); imported competitions below ${shown}: ${named.join(', ')}. For example --data ${named[0]}.`;
  }
  return `--data takes the folder holding the competition's train.csv (the working folder when not given): import one with digits data import <folder>, or build a practice one with digits data practice --recipe uniform.`;
}

function damaged(dir: string, what: string): UserError {
  return new UserError(`the dataset cache in ${dir} is damaged: ${what}`, {
    where: { file: join(dir, MANIFEST_FILE) },
    hint: 'Re-import the competition with digits data import --force.',
  });
}

export async function readManifest(datasetDir: string): Promise<DatasetManifest> {
  const file = join(datasetDir, MANIFEST_FILE);
  let manifest: DatasetManifest;
  try {
    manifest = JSON.parse(await readFile(file, 'utf8')) as DatasetManifest;
  } catch (error) {
    throw damaged(datasetDir, `cannot read ${MANIFEST_FILE} (${(error as Error).message})`);
  }
  if (manifest.format !== DATASET_FORMAT) throw damaged(datasetDir, `${MANIFEST_FILE} is not a digits dataset manifest`);
  if (manifest.version !== DATASET_VERSION) {
    throw new UserError(`the dataset in ${datasetDir} has format version ${manifest.version}; this digits reads ${DATASET_VERSION}`, {
      where: { file },
      hint: 'Re-import the competition with digits data import --force.',
    });
  }
  return manifest;
}

async function readBinary(dir: string, name: string, expectedBytes: number): Promise<Buffer> {
  const path = join(dir, name);
  const bytes = await readFile(path).catch(() => {
    throw damaged(dir, `${name} is missing`);
  });
  if (bytes.length !== expectedBytes) throw damaged(dir, `${name} has ${bytes.length} bytes, expected ${expectedBytes}`);
  return bytes;
}

function asImages(bytes: Buffer, dtype: PixelDtype): Images {
  if (dtype === 'uint8') return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
  if (bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
  return new Float32Array(new Uint8Array(bytes).buffer);
}

/** sha256 (hex) of a file's bytes, streamed. */
export async function sha256OfFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Refuses a cache whose competition CSVs changed after the import: `train`, `search`,
 * `data inspect`, `data split` and `augment preview` read the cache, not the CSVs, and
 * would otherwise go on silently with the old rows. A source is looked for beside the cache
 * first (the competition folder, when the cache is its `.digits/`, so a moved project checks
 * its own files), then at the path recorded; one found nowhere is not checked (the cache
 * stands on its own). Same size and mtime: unchanged; otherwise the bytes are hashed, so a
 * file touched or copied with the same contents passes.
 */
export async function assertSourcesUnchanged(dir: string): Promise<void> {
  const datasetDir = await resolveDatasetDir(dir);
  const manifest = await readManifest(datasetDir);
  const competition = basename(datasetDir) === DEFAULT_DATASET_SUBDIR ? dirname(datasetDir) : null;
  for (const source of manifest.sources) {
    const beside = competition ? join(competition, basename(source.path)) : null;
    const file = beside && (await exists(beside)) ? beside : source.path;
    const info = await stat(file).catch(() => null);
    if (!info) continue;
    if (info.size === source.size && info.mtimeMs === source.mtimeMs) continue;
    if (info.size === source.size && (await sha256OfFile(file)) === source.sha256) continue;
    throw new UserError(`${basename(file)} changed after it was imported (${manifest.createdAt}): the dataset cache still holds the old rows`, {
      where: { file },
      hint: `Import it again: digits data import ${competition ?? datasetDir}`,
    });
  }
}

/** The test ids of an imported dataset, in row order (without reading its images). */
export async function readTestIds(dir: string): Promise<string[]> {
  const datasetDir = await resolveDatasetDir(dir);
  const manifest = await readManifest(datasetDir);
  const ids = JSON.parse(
    await readFile(join(datasetDir, manifest.test.ids), 'utf8').catch(() => {
      throw damaged(datasetDir, `${manifest.test.ids} is missing`);
    }),
  ) as string[];
  if (!Array.isArray(ids) || ids.length !== manifest.test.rows) throw damaged(datasetDir, `${manifest.test.ids} does not hold ${manifest.test.rows} ids`);
  return ids;
}

/** At least this many rows of one digit are no labels (ten digits make that chance at most 10^-19). */
const DUMMY_LABEL_ROWS = 20;

/**
 * Labels that are one digit on every one of at least DUMMY_LABEL_ROWS rows: a test.csv's
 * column of dummy values (or a sample submission given as answers), not the test digits. The
 * digit, or null for real labels.
 */
export function dummyLabelDigit(labels: ArrayLike<number>): number | null {
  if (labels.length < DUMMY_LABEL_ROWS) return null;
  for (let i = 1; i < labels.length; i++) if (labels[i] !== labels[0]) return null;
  return labels[0]!;
}


/** Reads an imported dataset (a dataset folder, or a competition folder holding `.digits/`). */
export async function loadDataset(dir: string): Promise<Dataset> {
  const datasetDir = await resolveDatasetDir(dir);
  const manifest = await readManifest(datasetDir);
  const pixels = manifest.width * manifest.height;
  const bytesPerPixel = manifest.dtype === 'uint8' ? 1 : 4;
  const [trainImages, trainLabels, testImages, testLabels, ids] = await Promise.all([
    readBinary(datasetDir, manifest.train.images, manifest.train.rows * pixels * bytesPerPixel),
    readBinary(datasetDir, manifest.train.labels, manifest.train.rows),
    readBinary(datasetDir, manifest.test.images, manifest.test.rows * pixels * bytesPerPixel),
    manifest.test.labels === null ? Promise.resolve(null) : readBinary(datasetDir, manifest.test.labels, manifest.test.rows),
    readTestIds(datasetDir),
  ]);
  return {
    dir: datasetDir,
    manifest,
    trainImages: asImages(trainImages, manifest.dtype),
    trainLabels: new Uint8Array(trainLabels.buffer, trainLabels.byteOffset, trainLabels.length),
    testImages: asImages(testImages, manifest.dtype),
    // (test labels that are one digit on every row are dummy values: scored against, they gave the
    // share of that digit as a "test accuracy" until session 48)
    ...(testLabels && dummyLabelDigit(testLabels) === null ? { testLabels: new Uint8Array(testLabels.buffer, testLabels.byteOffset, testLabels.length) } : {}),
    ids,
    submissionHeader: manifest.submission.header,
    width: manifest.width,
    height: manifest.height,
    scale: manifest.scale,
    orientation: manifest.orientation,
    fingerprint: manifest.fingerprint,
  };
}

/** The cache files a manifest refers to (for cleanup and freshness checks). */
export function manifestFiles(manifest: DatasetManifest): string[] {
  const files = [manifest.train.images, manifest.train.labels, manifest.test.images, manifest.test.ids];
  if (manifest.test.labels) files.push(manifest.test.labels);
  return files;
}

export async function cacheFilesPresent(datasetDir: string, manifest: DatasetManifest): Promise<boolean> {
  const pixels = manifest.width * manifest.height * (manifest.dtype === 'uint8' ? 1 : 4);
  const expected: Array<[string, number | null]> = [
    [manifest.train.images, manifest.train.rows * pixels],
    [manifest.train.labels, manifest.train.rows],
    [manifest.test.images, manifest.test.rows * pixels],
    [manifest.test.ids, null],
  ];
  if (manifest.test.labels) expected.push([manifest.test.labels, manifest.test.rows]);
  for (const [name, bytes] of expected) {
    const info = await stat(join(datasetDir, name)).catch(() => null);
    if (!info || (bytes !== null && info.size !== bytes)) return false;
  }
  return true;
}
