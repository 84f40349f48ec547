/**
 * `digits data import`: competition CSVs → the binary dataset cache (see dataset.ts).
 *
 * 1. Look at the first rows of each file and decide the layout (detect.ts), so bad input
 *    fails before anything is written.
 * 2. Stream every row through papaparse, check each cell where it stands (file, line,
 *    column) and write typed arrays straight to temp files: memory stays bounded by one
 *    chunk, not by the file.
 * 3. Rename the files into place and commit with the manifest rename; the previous import
 *    stays usable until that moment, and a failure removes everything this run wrote.
 *
 * Re-importing unchanged sources (same size and mtime, or same bytes when only the mtime
 * moved) with the same overrides returns at once.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, rmSync, rmdirSync } from 'node:fs';
import { readFile, readdir, rename, rm, rmdir, stat, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { makeFolders } from '../make-folders.js';
import { UserError } from '../errors.js';
import { assertFolderPath } from '../output-folder.js';
import { type CsvSample, archiveKind, sampleCsv, streamCsv } from './csv.js';
import { shellArg } from './format.js';
import {
  DATASET_FORMAT,
  DATASET_VERSION,
  DEFAULT_DATASET_SUBDIR,
  DEFAULT_SUBMISSION_HEADER,
  type DatasetManifest,
  type ImportRequest,
  MANIFEST_FILE,
  type PixelDtype,
  type PixelScale,
  type SourceFile,
  cacheFilesPresent,
  manifestFiles,
  dummyLabelDigit,
  readManifest,
  sha256OfFile,
} from './dataset.js';
import { classCoverageWarnings } from './class-coverage.js';
import { type LayoutOverrides, detectTestLayout, detectTrainLayout } from './detect.js';
import type { Orientation, OrientationScorer } from './orientation.js';
import { checkTestMatchesTrain, decideOrientation, decidePolarity, invertInPlace, sampleImages } from './import-decisions.js';
import { namingFile, processRunning, removeStaleTempFiles, tempOwner, writeJsonAtomic } from '../atomic-file.js';
import { TableWriter, sourceColumns } from './table-writer.js';
import { checkUniqueTestIds, increasing, isPermutationOfRowNumbers, readSampleSubmission, reorderRows, sampleOrder, sampleSubmissionIn } from './sample-submission.js';

export interface CompetitionFiles {
  /** The folder the CSVs are in (the default home of the cache). */
  competitionDir: string;
  train: string;
  test?: string;
  sampleSubmission?: string;
}

export interface ImportOptions extends CompetitionFiles {
  /** The dataset folder to write; default `<competitionDir>/.digits`. */
  out?: string;
  /** the flag that chooses `out`, as errors name it (default `out`; null for a command without one: `digits run`) */
  outFlag?: string | null;
  /** true/false force a header row or none; undefined detects. */
  header?: boolean;
  /** 'first', 'last' or a header name; undefined detects. */
  labelColumn?: string;
  scale?: PixelScale;
  size?: number;
  /** The transform that makes stored images upright; undefined detects (as-is until a clean-MNIST checkpoint exists). */
  orientation?: Orientation;
  /** true/false: the CSVs draw dark digits on light (store them inverted) or not; undefined detects (ink.ts). */
  invert?: boolean;
  /** false: take test.csv's images as stored, without comparing them with train.csv's (`--no-test-check`). */
  testCheck?: boolean;
  /** Scores candidate orientations when `orientation` is not given (a clean-MNIST model). */
  orientationScorer?: OrientationScorer;
  /** Fingerprint of the model behind `orientationScorer`, so a cache detected without it (or with another) is redone. */
  orientationModel?: string;
  /** How much better than as-is (in the scorer's units) another orientation must score to be chosen. */
  orientationMargin?: number;
  /** Re-import even when the cache is up to date. */
  force?: boolean;
  onProgress?: (event: ImportProgress) => void;
}

export interface ImportProgress {
  role: SourceFile['role'];
  file: string;
  bytesRead: number;
  totalBytes: number;
  rows: number;
}

export interface ImportReport {
  datasetDir: string;
  fingerprint: string;
  /** Why nothing was read: the sources are unchanged, or touched with the same bytes; null when imported. */
  reused: null | 'unchanged' | 'same-content';
  width: number;
  height: number;
  dtype: PixelDtype;
  scale: PixelScale;
  orientation: Orientation;
  orientationNote: string;
  /** true when the CSVs draw dark digits on light and the cache holds them inverted */
  inverted: boolean;
  train: { file: string; rows: number; classCounts: number[] };
  test: { file: string | null; rows: number; hasLabels: boolean };
  /** What the training labels cannot support (a digit with no rows or very few): `classCoverageWarnings`. */
  warnings: string[];
  /** `inOrder`: every id after the previous one (as numbers when both are; else as text), so `first … last` describes them. */
  ids: { from: 'sample-submission' | 'test-csv' | 'generated'; count: number; first: string | null; last: string | null; inOrder: boolean };
  submissionHeader: string[];
  detected: DatasetManifest['detected'];
  /** Source bytes read by this run (0 when reused). */
  bytesRead: number;
  seconds: number;
  megabytesPerSecond: number | null;
}

/**
 * The competition files from what a user typed: a folder (holding train.csv, test.csv and
 * maybe sample_submission.csv) or the files themselves in the order train, test, sample.
 */
export async function resolveCompetitionFiles(inputs: string[]): Promise<CompetitionFiles> {
  if (inputs.length === 0) {
    throw new UserError('nothing to import', { hint: 'Give a competition folder or train.csv [test.csv] [sample_submission.csv].' });
  }
  const first = resolve(inputs[0]);
  const info = await stat(first).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') throw new UserError(`no such file or folder: ${inputs[0]}`, { where: { file: first }, hint: 'Check the path; give a competition folder or train.csv [test.csv] [sample_submission.csv].' });
    throw unreadable(first, error);
  });
  if (info.isDirectory()) {
    if (inputs.length > 1) throw new UserError('give either a competition folder or the CSV files, not both', { hint: `digits data import ${inputs[0]}` });
    const names = await readdir(first);
    const find = (test: (name: string) => boolean) => names.find(test);
    const train = find((name) => name.toLowerCase() === 'train.csv');
    if (!train) {
      const csvs = names.filter((name) => name.toLowerCase().endsWith('.csv'));
      // Kaggle's downloads come zipped (digit-recognizer.zip) or gzipped (train.csv.gz).
      const packed = names.filter((name) => /\.(zip|gz|tgz|bz2|xz|7z)$/i.test(name));
      // An unzipped download is often one folder down (digit-recognizer/train.csv): name it.
      const below: string[] = [];
      for (const name of names) {
        if (existsSync(join(first, name, 'train.csv'))) below.push(name);
      }
      if (below.length > 0 && csvs.length === 0) {
        throw new UserError(`no train.csv in ${first}, but ${below.map((name) => join(name, 'train.csv')).join(' and ')} is below it`, {
          where: { file: first },
          hint: `Import that folder: digits data import ${join(inputs[0]!, below[0]!)}.`,
        });
      }
      // train.csv.gz (or .zip, …) beside plain test.csv and sample_submission.csv: the hint used to
      // name only the CSVs ("found sample_submission.csv, test.csv") and never the packed train.csv.
      const packedTrain = packed.filter((name) => /^train\.csv\./i.test(name));
      if (packedTrain.length > 0 && csvs.length > 0) {
        throw new UserError(`no train.csv in ${first}, but ${packedTrain.join(' and ')} is there, compressed (beside ${[...csvs].sort().join(', ')})`, {
          where: { file: first },
          hint: `Unpack it first (${packedTrain.map(unpackCommand).join('; ')}, in ${first}), then import the folder again.`,
        });
      }
      throw new UserError(`no train.csv in ${first}${packed.length > 0 && csvs.length === 0 ? ` (only compressed files: ${packed.join(', ')})` : ''}`, {
        where: { file: first },
        hint: csvs.length > 0
          ? `Name the files: digits data import <train> <test> [<sample submission>] (found ${csvs.join(', ')}).`
          : packed.length > 0
            ? `Unpack them first (${packed.map(unpackCommand).slice(0, 3).join('; ')}), then import the folder again.`
            : 'Download the competition data into this folder first.',
      });
    }
    const test = find((name) => name.toLowerCase() === 'test.csv');
    const sample = sampleSubmissionIn(first, names, train, test);
    return {
      competitionDir: first,
      train: join(first, train),
      ...(test ? { test: join(first, test) } : {}),
      ...(sample ? { sampleSubmission: join(first, sample) } : {}),
    };
  }
  if (inputs.length > 3) throw new UserError('too many files', { hint: 'digits data import train.csv [test.csv] [sample_submission.csv]' });
  const files = inputs.map((input) => resolve(input));
  for (const file of files) await checkSourceFile(file);
  // Kaggle's download (digit-recognizer.zip) given as the train file: said at once, with the folder
  // to unpack it into (the command warned "no test.csv" first, or refused to drop a cache's test rows)
  if (files.length === 1 && (await archiveKind(files[0]!)) === 'zip') {
    throw zipDownloadError(files[0]!, (folder) => `digits data import ${shellArg(folder)}`);
  }
  return {
    competitionDir: dirname(first),
    train: files[0],
    ...(files[1] ? { test: files[1] } : {}),
    ...(files[2] ? { sampleSubmission: files[2] } : {}),
  };
}

/**
 * A competition's zip (Kaggle's digit-recognizer.zip holds train.csv, test.csv and
 * sample_submission.csv) given where its folder or train.csv goes: what it is, and in one
 * command line how to unpack it into a folder and go on with that folder (`then(folder)`).
 * `flag` names the flag it was given to (`run --data`).
 */
export function zipDownloadError(zip: string, then: (folder: string) => string, flag?: string): UserError {
  // (relative to the working folder when inside it, else absolute: no ../../..)
  const shown = (file: string) => {
    const near = relative(process.cwd(), file);
    return near === '' ? '.' : near.startsWith('..') ? file : near;
  };
  const stem = basename(zip).replace(/\.zip$/i, '').replace(/\.csv$/i, '');
  const folder = join(dirname(zip), stem === basename(zip) || stem === '' ? `${basename(zip)}-files` : stem);
  const unpacked = existsSync(join(dirname(zip), 'train.csv'));
  return new UserError(`${basename(zip)} is a zip archive${flag ? `; --${flag} takes the competition's folder` : ', not a CSV text file'}`, {
    where: { file: zip, ...(flag ? { flag } : {}) },
    hint: `Unpack it into a folder and use that folder: unzip -d ${shellArg(shown(folder))} ${shellArg(shown(zip))} && ${then(shown(folder))}${unpacked ? ` (or, as its folder holds a train.csv already: ${then(shown(dirname(zip)))})` : ''}.`,
  });
}

/** The command that unpacks a compressed download, by its name (`gunzip -k train.csv.gz`); the name itself when none is known. */
function unpackCommand(name: string): string {
  if (/\.zip$/i.test(name)) return `unzip ${name}`;
  if (/\.gz$/i.test(name)) return `gunzip -k ${name}`;
  if (/\.tgz$/i.test(name)) return `tar -xzf ${name}`;
  if (/\.bz2$/i.test(name)) return `bunzip2 -k ${name}`;
  if (/\.xz$/i.test(name)) return `unxz -k ${name}`;
  if (/\.7z$/i.test(name)) return `7z x ${name}`;
  return name;
}

/** Why `file` cannot be read, as a UserError: a symlink loop, no permission, anything else. */
function unreadable(file: string, error: NodeJS.ErrnoException): UserError {
  if (error.code === 'ELOOP') return new UserError(`${file} is a symbolic link loop (its links never reach a file)`, { where: { file }, hint: 'Point the link at the real CSV (ls -l shows where it leads), or give the file itself.' });
  if (error.code === 'EACCES' || error.code === 'EPERM') return new UserError(`not allowed to read ${file}`, { where: { file }, hint: 'Check the file\'s permissions.' });
  if (error.code === 'ENOENT') return new UserError(`no such file: ${file}`, { where: { file }, hint: 'Check the path.' });
  return new UserError(`cannot read ${file}: ${error.message}`, { where: { file }, hint: 'Check the path.' });
}

/**
 * A source CSV must be a regular file (or a link to one). A folder, a FIFO (whose reader
 * would wait for a writer forever), a socket or a device is named as what it is.
 */
async function checkSourceFile(file: string): Promise<{ size: number; mtimeMs: number }> {
  const info = await stat(file).catch((error: NodeJS.ErrnoException) => {
    throw unreadable(file, error);
  });
  if (info.isFile()) return info;
  const what = info.isDirectory()
    ? 'a folder'
    : info.isFIFO()
      ? 'a FIFO (named pipe)'
      : info.isSocket()
        ? 'a socket'
        : info.isCharacterDevice() || info.isBlockDevice()
          ? 'a device'
          : 'not a regular file';
  throw new UserError(`${file} is ${what}, not a CSV file`, {
    where: { file },
    hint: info.isDirectory() ? 'Give the competition folder that holds train.csv, or the CSV files themselves.' : 'Save the data to a regular file first, then import that file.',
  });
}

// ---------------------------------------------------------------------------------------
// Freshness

/**
 * The overrides that decide what the cache holds, including which model detected the
 * orientation, so a cache imported before the clean-MNIST checkpoint existed is redone.
 */
function requestOf(options: ImportOptions): ImportRequest {
  return {
    header: options.header ?? null,
    labelColumn: options.labelColumn ?? null,
    scale: options.scale ?? null,
    size: options.size ?? null,
    orientation: options.orientation ?? 'as-is',
    invert: options.invert ?? null,
    // (only when off, so the caches made with the check keep their requests)
    ...(options.testCheck === false ? { testCheck: false } : {}),
    orientationModel: options.orientation ? null : (options.orientationModel ?? null),
  };
}

interface SourceStat {
  role: SourceFile['role'];
  path: string;
  size: number;
  mtimeMs: number;
}

/** 'unchanged' / 'same-content' when the cache in `datasetDir` matches these sources and overrides; else null. */
async function freshness(datasetDir: string, request: ImportRequest, sources: SourceStat[]): Promise<{ manifest: DatasetManifest; reused: 'unchanged' | 'same-content' } | null> {
  const manifest = await readManifest(datasetDir).catch(() => null);
  if (!manifest) return null;
  // Imported before the polarity and test-against-train checks (session 36): check it now.
  if (!manifest.detected.polarity) return null;
  if (JSON.stringify(manifest.request) !== JSON.stringify(request)) return null;
  if (manifest.sources.length !== sources.length) return null;
  const touched: Array<[SourceStat, SourceFile]> = [];
  for (const source of sources) {
    const recorded = manifest.sources.find((item) => item.role === source.role);
    if (!recorded || recorded.path !== source.path || recorded.size !== source.size) return null;
    if (recorded.mtimeMs !== source.mtimeMs) touched.push([source, recorded]);
  }
  if (!(await cacheFilesPresent(datasetDir, manifest))) return null;
  if (touched.length === 0) return { manifest, reused: 'unchanged' };
  for (const [source, recorded] of touched) {
    if ((await sha256OfFile(source.path)) !== recorded.sha256) return null;
  }
  // Same bytes, new mtimes: remember the mtimes so the next check is instant again.
  const updated: DatasetManifest = {
    ...manifest,
    sources: manifest.sources.map((item) => ({ ...item, mtimeMs: sources.find((s) => s.role === item.role)?.mtimeMs ?? item.mtimeMs })),
  };
  await writeJsonAtomic(join(datasetDir, MANIFEST_FILE), updated);
  return { manifest: updated, reused: 'same-content' };
}

/** The network presets take 28×28 images (src/model/presets.ts): other sizes import, but no preset trains on them. */
function sizeWarnings(width: number, height: number): string[] {
  if (width === 28 && height === 28) return [];
  return [`the images are ${width}×${height}, but digits' network presets take 28×28: \`digits run\` and \`digits train\` will refuse this dataset; resize the images to 28×28 (784 pixel columns) and import again`];
}

function reportOf(datasetDir: string, manifest: DatasetManifest, reused: ImportReport['reused'], bytesRead: number, seconds: number): ImportReport {
  const { detected } = manifest;
  const ids = manifest.test.rows;
  return {
    datasetDir,
    fingerprint: manifest.fingerprint,
    reused,
    width: manifest.width,
    height: manifest.height,
    dtype: manifest.dtype,
    scale: manifest.scale,
    orientation: manifest.orientation,
    orientationNote: manifest.orientationNote,
    inverted: manifest.inverted === true,
    train: { file: detected.train.file, rows: manifest.train.rows, classCounts: manifest.train.classCounts },
    test: { file: detected.test?.file ?? null, rows: manifest.test.rows, hasLabels: manifest.test.labels !== null },
    warnings: [...classCoverageWarnings(manifest.train.classCounts), ...sizeWarnings(manifest.width, manifest.height)],
    ids: { from: manifest.submission.idsFrom, count: ids, first: null, last: null, inOrder: true },
    submissionHeader: manifest.submission.header,
    detected,
    bytesRead,
    seconds,
    megabytesPerSecond: reused || seconds === 0 ? null : bytesRead / 1e6 / seconds,
  };
}

// ---------------------------------------------------------------------------------------
// The import

/** Imports a competition's CSVs into the dataset cache and reports what it detected. */
export async function importCompetition(options: ImportOptions): Promise<ImportReport> {
  const started = performance.now();
  const datasetDir = resolve(options.out ?? join(options.competitionDir, DEFAULT_DATASET_SUBDIR));
  // A file in the way is named before the CSVs are read (mkdir's own words, after them, named neither the file nor the flag: session 39).
  await assertFolderPath(datasetDir, { ...(options.outFlag !== null ? { flag: options.outFlag ?? 'out' } : {}), what: 'the dataset folder' });
  const request = requestOf(options);
  const roles: Array<[SourceFile['role'], string | undefined]> = [
    ['train', options.train],
    ['test', options.test],
    ['sampleSubmission', options.sampleSubmission],
  ];
  const sources: SourceStat[] = [];
  for (const [role, file] of roles) {
    if (!file) continue;
    const path = resolve(file);
    const info = await checkSourceFile(path);
    sources.push({ role, path, size: info.size, mtimeMs: info.mtimeMs });
  }
  const seconds = () => (performance.now() - started) / 1000;

  await removeStaleImportTemps(datasetDir);
  if (!options.force) {
    const fresh = await freshness(datasetDir, request, sources);
    if (fresh) return withIds(reportOf(datasetDir, fresh.manifest, fresh.reused, 0, seconds()), datasetDir, fresh.manifest);
  }

  // 1. Layout, from the first rows of each file.
  const overrides: LayoutOverrides = { header: options.header, labelColumn: options.labelColumn, scale: options.scale, size: options.size };
  const trainPath = resolve(options.train);
  const trainSample = await sampleCsv(trainPath);
  const train = detectTrainLayout(trainPath, trainSample, overrides);
  const testPath = options.test ? resolve(options.test) : null;
  const testSample = testPath ? await sampleCsv(testPath) : null;
  const test = testPath && testSample ? detectTestLayout(testPath, testSample, train, overrides) : null;
  const samplePath = options.sampleSubmission ? resolve(options.sampleSubmission) : null;
  const submission = samplePath ? await readSampleSubmission(samplePath, await sampleCsv(samplePath)) : null;
  // (the values a pixel of 1 reads as in the CSV: 255 for 0–255 pixels with fractions too)
  const fullScale = train.scale.value * (train.scale.divideBy ?? 1);
  const trainLook = sampleImages(trainSample, train.header.value, train.columns, train.pixelColumns, fullScale, train.label.value.column);
  const testLook = test && testSample ? sampleImages(testSample, test.header.value, test.columns, test.pixelColumns, fullScale, null) : null;
  const polarity = decidePolarity(options, train, trainLook, test, testLook);
  const testMatch = test && testLook && options.testCheck !== false ? checkTestMatchesTrain(train, trainLook, test, testLook) : null;
  if (polarity.value === 'inverted') invertInPlace(trainLook.images);
  const orientation = await decideOrientation(options, train, trainLook);

  // 2. Stream into temp files beside the final ones.
  const existed = await stat(datasetDir).then(() => true, () => false);
  // (the first folder this import creates: on failure it goes, with the parents it made for --out a/b)
  const firstCreated = await makeFolders(datasetDir).catch((error: Error) => {
    // (--out is import's flag; `digits run` imports into the competition's own .digits/ and has none)
    throw new UserError(`cannot create the dataset folder ${datasetDir}: ${error.message}`, {
      where: { file: datasetDir },
      hint: options.outFlag !== null ? `Choose another folder with --${options.outFlag ?? 'out'}.` : `The dataset cache goes beside the CSVs: copy the competition to a folder you can write and pass that folder (or import it elsewhere first: \`digits data import <folder> --out <writable folder>\`, then --data <writable folder>).`,
    });
  });
  // The id carries our pid: data files renamed into place by an import killed before its
  // manifest was written are recognised as no import's and removed (removeStaleImportTemps).
  const id = `${Date.now().toString(36)}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const dtype: PixelDtype = train.scale.value === 255 ? 'uint8' : 'float32';
  const extension = dtype === 'uint8' ? 'u8' : 'f32';
  const names = {
    trainImages: `train-images-${id}.${extension}`,
    trainLabels: `train-labels-${id}.u8`,
    testImages: `test-images-${id}.${extension}`,
    testLabels: test?.label.value ? `test-labels-${id}.u8` : null,
    ids: `test-ids-${id}.json`,
  };
  const written = Object.values(names).filter((name): name is string => name !== null);
  // Temp names carry our pid: a killed import's leftovers are recognised and removed below.
  const tempTag = `tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const temp = (name: string) => join(datasetDir, `${name}.${tempTag}`);
  const sourceFiles: SourceFile[] = [];
  let bytesRead = 0;
  try {
    const size = train.size.value;
    const trainWriter = new TableWriter({
      file: trainPath,
      columns: train.columns,
      headerLine: train.header.value ? trainSample.rows[0].line : null,
      sourceColumn: sourceColumns(size, orientation.value, train.pixelColumns),
      labelColumn: train.label.value.column,
      invert: polarity.value === 'inverted',
      dtype,
      imagesPath: temp(names.trainImages),
      labelsPath: temp(names.trainLabels),
      scaleReason: train.scale,
      labelReason: train.label.reason,
    });
    const trainRead = await streamInto(trainWriter, 'train', trainPath, trainSample, options);
    const trainHashes = trainWriter.finish();
    bytesRead += trainRead.bytes;
    sourceFiles.push(sourceOf('train', trainPath, sources, trainRead.sha256));

    let testRows = 0;
    /** The ids of test.csv's own id column, when it has one, and their lines. */
    let testIds: string[] | null = null;
    let testIdLines: number[] = [];
    /** How test's rows were put in the sample submission's order, when they were. */
    let reordered: string | null = null;
    let testHashes: { images: string; labels: string | null } = { images: createHash('sha256').digest('hex'), labels: null };
    if (test && testPath && testSample) {
      const testWriter = new TableWriter({
        file: testPath,
        columns: test.columns,
        headerLine: test.header.value ? testSample.rows[0].line : null,
        sourceColumn: sourceColumns(size, orientation.value, test.pixelColumns),
        labelColumn: test.label.value?.column ?? null,
        idColumn: test.idColumn?.column ?? null,
        invert: polarity.value === 'inverted',
        dtype,
        imagesPath: temp(names.testImages),
        labelsPath: names.testLabels ? temp(names.testLabels) : null,
        scaleReason: train.scale,
        scaleFile: trainPath,
        labelReason: test.label.reason,
        optionalLabels: true,
      });
      const testRead = await streamInto(testWriter, 'test', testPath, testSample, options);
      testHashes = testWriter.finish();
      testRows = testWriter.rows;
      if (test.idColumn) {
        testIds = testWriter.ids;
        testIdLines = testWriter.idLines;
      }
      bytesRead += testRead.bytes;
      sourceFiles.push(sourceOf('test', testPath, sources, testRead.sha256));
    } else {
      await writeFile(temp(names.testImages), new Uint8Array(0));
    }

    let ids: string[];
    if (submission && samplePath && testIds && test?.idColumn && testPath) {
      // test.csv's ids and the sample's: the same set, in the sample's order (Kaggle matches a
      // submission by id, but a user reads it against the sample), else refused naming the ids
      checkUniqueTestIds(testPath, testIds, testIdLines, test.idColumn.column);
      const order = sampleOrder(testPath, testIds, testIdLines, test.idColumn, samplePath, submission);
      if (order) {
        // (a test.csv with an id column carries no labels: the images are the only rows file)
        const rowBytes = size * size * (dtype === 'uint8' ? 1 : 4);
        testHashes = { ...testHashes, images: reorderRows(temp(names.testImages), rowBytes, order, temp(`${names.testImages}-ordered`)) };
        const moved = order.filter((row, i) => row !== i).length;
        reordered = `rows put in ${basename(samplePath)}'s order, matched by id (${moved} of ${order.length} stood elsewhere in ${basename(testPath)})`;
      }
      ids = submission.ids;
      const info = sources.find((item) => item.role === 'sampleSubmission') as SourceStat;
      bytesRead += info.size;
      sourceFiles.push(sourceOf('sampleSubmission', samplePath, sources, await sha256OfFile(samplePath)));
    } else if (submission && samplePath) {
      if (submission.ids.length !== testRows) {
        if (!testPath) {
          throw new UserError(`${basename(samplePath)} lists ${submission.ids.length} test ids, but there is no test.csv beside it`, {
            where: { file: dirname(samplePath) },
            hint: `Put the competition's test.csv in ${dirname(samplePath)} (or name it after train.csv: digits data import train.csv test.csv sample_submission.csv).`,
          });
        }
        throw new UserError(`${basename(samplePath)} lists ${submission.ids.length} ids but ${basename(testPath)} has ${testRows} rows`, {
          where: { file: samplePath },
          hint: 'The sample submission must have one row per test row, in the same order.',
        });
      }
      ids = submission.ids;
      const info = sources.find((item) => item.role === 'sampleSubmission') as SourceStat;
      bytesRead += info.size;
      sourceFiles.push(sourceOf('sampleSubmission', samplePath, sources, await sha256OfFile(samplePath)));
    } else if (testIds && test?.idColumn && testPath) {
      checkUniqueTestIds(testPath, testIds, testIdLines, test.idColumn.column);
      ids = testIds;
    } else {
      ids = Array.from({ length: testRows }, (_, i) => String(i + 1));
    }
    const idsText = JSON.stringify(ids);
    await writeFile(temp(names.ids), idsText).catch((error: unknown) => Promise.reject(namingFile(error, temp(names.ids))));

    const layout = {
      width: size,
      height: size,
      dtype,
      scale: train.scale.value,
      orientation: orientation.value,
      // Only when set, so caches of bright-on-dark data keep the fingerprints they had.
      ...(polarity.value === 'inverted' ? { inverted: true } : {}),
      train: { rows: trainWriter.rows, ...trainHashes },
      test: { rows: testRows, ...testHashes, ids: createHash('sha256').update(idsText).digest('hex') },
      // With no sample, test.csv's id column names the submission's (Kannada-MNIST's: id,label)
      submissionHeader: submission?.headerCells ?? (testIds && test?.idColumn ? [test.idColumn.name, train.label.value.name ?? 'label'] : [...DEFAULT_SUBMISSION_HEADER]),
    };
    const manifest: DatasetManifest = {
      format: DATASET_FORMAT,
      version: DATASET_VERSION,
      fingerprint: `sha256:${createHash('sha256').update(JSON.stringify(layout)).digest('hex')}`,
      createdAt: new Date().toISOString(),
      width: size,
      height: size,
      dtype,
      scale: train.scale.value,
      byteOrder: 'little-endian',
      orientation: orientation.value,
      orientationNote: orientation.note,
      ...(polarity.value === 'inverted' ? { inverted: true } : {}),
      train: { rows: trainWriter.rows, images: names.trainImages, labels: names.trainLabels, classCounts: trainWriter.classCounts },
      test: { rows: testRows, images: names.testImages, labels: names.testLabels, ids: names.ids },
      submission: { header: layout.submissionHeader, idsFrom: submission ? 'sample-submission' : testIds ? 'test-csv' : 'generated' },
      detected: {
        train: { file: train.file, rows: trainWriter.rows, columns: train.columns, header: train.header, headerCells: train.headerCells, label: train.label, ...(train.idColumn ? { idColumn: train.idColumn } : {}) },
        test: test
          ? {
              file: test.file,
              rows: testRows,
              columns: test.columns,
              header: test.header,
              headerCells: test.headerCells,
              label: test.label,
              pixelsBy: test.pixelsBy,
              ...(test.idColumn ? { idColumn: test.idColumn } : {}),
              ...(reordered ? { reordered } : {}),
            }
          : null,
        sampleSubmission: submission && samplePath ? { file: samplePath, rows: submission.ids.length, header: submission.header } : null,
        scale: train.scale,
        size: train.size,
        orientation: { value: orientation.value, how: orientation.how, reason: orientation.reason, confidence: orientation.confidence },
        polarity,
        ...(testMatch ? { testMatch: testMatch.note } : {}),
      },
      sources: sourceFiles,
      request,
    };

    // 3. Commit: rename the data files, then the manifest (the moment the new import exists).
    const previous = await readManifest(datasetDir).catch(() => null);
    for (const name of written) await rename(temp(name), join(datasetDir, name));
    await writeJsonAtomic(join(datasetDir, MANIFEST_FILE), manifest);
    if (previous) {
      for (const name of manifestFiles(previous)) if (!written.includes(name)) await unlink(join(datasetDir, name)).catch(() => undefined);
    }
    return withIds(reportOf(datasetDir, manifest, null, bytesRead, seconds()), datasetDir, manifest, ids);
  } catch (error) {
    for (const name of written) {
      await rm(temp(name), { force: true });
      await rm(join(datasetDir, name), { force: true });
    }
    if (!existed) {
      // empty folders only, from the dataset folder up to the first one this import made
      for (let dir = datasetDir; firstCreated !== undefined; dir = dirname(dir)) {
        if (!(await rmdir(dir).then(() => true, () => false)) || dir === resolve(firstCreated)) break;
      }
    }
    throw error;
  }
}

/** A data file an import renames into place, named with its writer's pid (group 1). */
const IMPORT_DATA_FILE = /^(?:train|test)-(?:images|labels|ids)-[0-9a-z]+-(\d+)-[0-9a-f]{6}\.(?:u8|f32|json)$/;

/**
 * Temp files of imports that were killed (their pid is gone), the pid-less ones older versions
 * wrote, and data files an import killed between its renames and its manifest left under their
 * final names (full-size copies of the images that no manifest names).
 */
async function removeStaleImportTemps(datasetDir: string): Promise<void> {
  await removeStaleTempFiles(datasetDir, 1);
  const names = await readdir(datasetDir).catch(() => [] as string[]);
  const current = await readManifest(datasetDir).catch(() => null);
  const named = new Set(current ? manifestFiles(current) : []);
  for (const name of names) {
    if (/^(train|test)-(images|labels|ids)-[0-9a-z-]+\.(u8|f32|json)\.tmp$/.test(name)) await rm(join(datasetDir, name), { force: true });
    const orphan = IMPORT_DATA_FILE.exec(name);
    if (orphan && !named.has(name) && !processRunning(Number(orphan[1]))) await rm(join(datasetDir, name), { force: true });
  }
}

function sourceOf(role: SourceFile['role'], path: string, stats: SourceStat[], sha256: string): SourceFile {
  const info = stats.find((item) => item.role === role) as SourceStat;
  return { role, path, size: info.size, mtimeMs: info.mtimeMs, sha256 };
}

async function streamInto(writer: TableWriter, role: 'train' | 'test', file: string, sample: CsvSample, options: ImportOptions) {
  try {
    return await streamCsv({
      file,
      newline: sample.newline,
      columns: writer.columns,
      onRows: (rows, firstLine) => writer.consume(rows, firstLine),
      onBytes: (bytesRead, totalBytes) => options.onProgress?.({ role, file, bytesRead, totalBytes, rows: writer.rows }),
    });
  } catch (error) {
    writer.close();
    throw error;
  }
}

async function withIds(report: ImportReport, datasetDir: string, manifest: DatasetManifest, ids?: string[]): Promise<ImportReport> {
  const list = ids ?? (manifest.test.rows > 0 ? (JSON.parse(await readFile(join(datasetDir, manifest.test.ids), 'utf8')) as string[]) : []);
  const inOrder = increasing(list);
  const warnings = [...report.warnings];
  // Shuffled ids that are exactly 1 … n may number test.csv's rows (Kaggle's ImageId does), where
  // the submission pairs test row k with the sample's k-th id: said, not guessed (session 48).
  // (a test.csv with an id column is matched to the sample by id: nothing to guess there)
  if (report.ids.from === 'sample-submission' && !manifest.detected.test?.idColumn && !inOrder && isPermutationOfRowNumbers(list)) {
    const sample = basename(manifest.detected.sampleSubmission?.file ?? 'sample_submission.csv');
    warnings.push(`the ids of ${sample} are 1 … ${list.length} out of order: the submission gives test row k the k-th id of ${sample}, as it pairs rows by position; if the ids number ${basename(manifest.detected.test?.file ?? 'test.csv')}'s rows instead, sort ${sample} by its id column and import again`);
  }
  // test.csv's labels one digit on every row: dummy values, which the dataset then does not score against
  const testLabels = manifest.test.labels === null ? null : await readFile(join(datasetDir, manifest.test.labels));
  const dummy = testLabels ? dummyLabelDigit(testLabels) : null;
  if (dummy !== null) {
    warnings.push(`every one of the ${manifest.test.rows} labels in ${basename(manifest.detected.test?.file ?? 'test.csv')} is ${dummy}: they are taken for dummy values, not the test digits, and nothing is scored against them (give the test labels with --answers where a command takes it)`);
  }
  return { ...report, warnings, test: { ...report.test, hasLabels: report.test.hasLabels && dummy === null }, ids: { ...report.ids, first: list[0] ?? null, last: list[list.length - 1] ?? null, inOrder } };
}

/**
 * What an import stopped by a signal leaves of its own in `datasetDir`, removed at once (Ctrl-C
 * left about 12 MB of temp files for the next import to find): its temp files, and data files
 * it had renamed into place that no manifest names yet. A manifest it had already written stays,
 * and so does everything else. The folder goes when that leaves it empty. Synchronous: it runs
 * in the signal's handler, before the process dies. Returns whether a cache is there now.
 */
export function removeOwnImportFilesSync(datasetDir: string): boolean {
  let names: string[];
  try {
    names = readdirSync(datasetDir);
  } catch {
    return false;
  }
  let named = new Set<string>();
  try {
    named = new Set(manifestFiles(JSON.parse(readFileSync(join(datasetDir, MANIFEST_FILE), 'utf8')) as DatasetManifest));
  } catch {
    // no manifest (a first import): none of its files is named
  }
  const ours = (name: string) => tempOwner(name) === process.pid || Number(IMPORT_DATA_FILE.exec(name)?.[1]) === process.pid;
  for (const name of names) if (ours(name) && !named.has(name)) rmSync(join(datasetDir, name), { force: true });
  try {
    if (readdirSync(datasetDir).length === 0) rmdirSync(datasetDir);
  } catch {
    // gone already
  }
  return named.size > 0;
}
