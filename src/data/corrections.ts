/**
 * The corrections store: digits drawn on the pad that the ensemble got wrong, with the
 * label the person gave. It is an append-only JSON-lines file (default
 * `<run>/corrections.jsonl`), one record per line:
 *
 *   {"v":1,"time":"2026-…Z","label":7,"predicted":1,"image":[784 integers 0–255]}
 *
 * Durability: each record is written by one `appendFile` of the whole line (opened with
 * O_APPEND, so the write lands at the end even with other writers) followed by `fsync`,
 * and only then acknowledged. A crash can therefore tear at most the last line; before
 * appending, a file that does not end in a newline gets one, so a torn line never glues
 * itself to the next record. Readers skip unreadable lines with a warning naming the line.
 *
 * Corrections feed training back (as the tkinter GUI of seed 003 did):
 * `correctionsAsImageSet` gives them as an `ImageSet`, and `mergeImageSets` appends them to
 * a dataset's training images, returning the new rows to add to every member's training rows.
 */
import { constants, existsSync } from 'node:fs';
import { access, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { ImageSet } from './image-set.js';
import { writeFileAtomic } from '../atomic-file.js';
import { appendJsonLine } from './json-lines.js';
import { fileInTheWay, folderBlocked } from '../output-folder.js';
import { UserError } from '../errors.js';

export const CORRECTIONS_FILE = 'corrections.jsonl';
export const CORRECTION_VERSION = 1;
/** 28×28: the pad draws MNIST-sized digits */
const PIXELS = 28 * 28;

/** A label: a whole number 0–9. */
export function isDigit(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 9;
}

export interface CorrectionRecord {
  v: 1;
  /** ISO 8601 time the correction was saved */
  time: string;
  /** the digit the person says it is */
  label: number;
  /** what the ensemble said, when known */
  predicted: number | null;
  /** 28×28 row-major, 0–255, ink bright on black (as MNIST) */
  image: number[];
}

/**
 * Checks at start-up that the store can be appended to, so a server never answers every save
 * with an error: an existing store must be a writable regular file; a new one needs its
 * nearest existing folder writable (appendCorrection makes the missing folders). Nothing is
 * created here. A problem is a UserError on --corrections.
 */
export async function checkCorrectionsStore(file: string): Promise<void> {
  const target = path.resolve(file);
  const where = { file: target, flag: 'corrections' };
  // A file above it (`--corrections afile/x.jsonl`) is named, where stat's ENOTDIR was said in its own words (session 39).
  const blocker = await fileInTheWay(path.dirname(target));
  if (blocker !== null) throw folderBlocked(path.dirname(target), blocker, { flag: 'corrections', what: "the corrections store's folder", fileFlag: true });
  const info = await stat(target).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null;
    throw new UserError(`cannot use ${target} as the corrections store: ${error.message}`, { where, hint: 'Give a file path with --corrections, e.g. --corrections corrections.jsonl.' });
  });
  if (info && !info.isFile()) {
    throw new UserError(`the corrections store ${target} is ${info.isDirectory() ? 'a folder' : 'not a regular file'}`, {
      where,
      hint: info.isDirectory() ? `Give a file path: --corrections ${path.join(target, CORRECTIONS_FILE)}.` : 'Give a regular file path with --corrections.',
    });
  }
  // A file that is there must be a corrections store: corrections appended to the competition's
  // train.csv, or to a run's run.json, broke them for every command (until session 48).
  if (info && info.size > 0) {
    await readCorrections(target).catch((error: unknown) => {
      if (!(error instanceof UserError)) throw error;
      throw new UserError(error.message, { where: { ...error.where, flag: 'corrections' }, hint: `The corrections are appended to that file: give --corrections a new file or a corrections store (default <run>/${CORRECTIONS_FILE}).` });
    });
  }
  let folder = info ? target : path.dirname(target);
  if (!info) {
    // The nearest existing ancestor must be a folder we may write into.
    for (;;) {
      const found = await stat(folder).catch(() => null);
      if (found) {
        if (!found.isDirectory()) throw new UserError(`cannot create the corrections store ${target}: ${folder} is not a folder`, { where, hint: 'Give a path inside a folder with --corrections.' });
        break;
      }
      const parent = path.dirname(folder);
      if (parent === folder) break;
      folder = parent;
    }
  }
  await access(folder, constants.W_OK).catch(() => {
    throw new UserError(`the corrections store ${target} is not writable (${info ? 'the file' : `the folder ${folder}`} refuses writes)`, { where, hint: 'Fix the permissions, or give another file with --corrections.' });
  });
}

/**
 * Writes a whole corrections file at once (rows a run makes: pseudo-labels, synthetic rows),
 * atomically: a crash leaves the old file or none, never half of the new one.
 */
export async function writeCorrections(file: string, records: readonly CorrectionRecord[]): Promise<void> {
  await writeFileAtomic(file, records.length ? `${records.map((r) => JSON.stringify(r)).join('\n')}\n` : '');
}

/** Appends are chained per file, so two requests of this process never interleave a check and a write. */
const appendChains = new Map<string, Promise<unknown>>();

/**
 * Appends one record as one line and fsyncs it; resolves once it is durable. Missing folders
 * are made unless `createFolders` is false (then a folder that is gone is an ENOENT error).
 */
export async function appendCorrection(file: string, record: CorrectionRecord, options: { createFolders?: boolean } = {}): Promise<void> {
  const target = path.resolve(file);
  const previous = appendChains.get(target) ?? Promise.resolve();
  const next = previous.catch(() => undefined).then(() => appendJsonLine(target, `${JSON.stringify(record)}\n`, options));
  appendChains.set(target, next);
  try {
    await next;
  } finally {
    if (appendChains.get(target) === next) appendChains.delete(target);
  }
}

export interface CorrectionLog {
  file: string;
  records: CorrectionRecord[];
  /** unreadable lines that were skipped, e.g. "corrections.jsonl:12: torn line (…), skipped" */
  warnings: string[];
}

function checkRecord(value: unknown): string | null {
  if (typeof value !== 'object' || value === null) return 'not a JSON object';
  const r = value as Partial<CorrectionRecord> & { v?: unknown };
  // A record of another format version is not read as if it were this one (it was, in silence, until session 43).
  if (r.v !== undefined && r.v !== CORRECTION_VERSION) return `a record of format version ${JSON.stringify(r.v)}, which this digits does not read (it reads version ${CORRECTION_VERSION}; a newer digits wrote it?)`;
  if (r.label === undefined) return 'it has no "label"';
  if (!isDigit(r.label)) return `label ${JSON.stringify(r.label)} is not 0–9`;
  if (r.predicted !== null && r.predicted !== undefined && !isDigit(r.predicted)) return `predicted ${JSON.stringify(r.predicted)} is not 0–9`;
  if (!Array.isArray(r.image) || r.image.length !== PIXELS) return `image is not ${PIXELS} values`;
  if (!r.image.every((v) => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 255)) return 'image values are not integers 0–255';
  return null;
}

/**
 * Reads the store. Lines that do not parse (a torn last line after a crash) or do not hold a
 * correction are skipped, each with a warning naming file and line. A missing file is a
 * UserError.
 */
export async function readCorrections(file: string, options: { flag?: string } = {}): Promise<CorrectionLog> {
  const resolved = path.resolve(file);
  // (the flag that names the file: --file of `digits corrections`, --extra of `digits train`)
  const flag = options.flag ?? 'file';
  let text: string;
  try {
    text = await readFile(resolved, 'utf8');
  } catch (error) {
    const code = (error as { code?: string }).code;
    // (a folder: said to be one, where the system's EISDIR text was printed until session 43)
    if (code === 'EISDIR') {
      const inside = path.join(resolved, CORRECTIONS_FILE);
      throw new UserError(`${resolved} is a folder, not a corrections file`, {
        where: { file: resolved, flag },
        hint: existsSync(inside)
          ? `Did you mean --${flag} ${inside}?`
          : `Give --${flag} the corrections file itself (the drawing pad of \`digits serve\` saves them in <run>/${CORRECTIONS_FILE}).`,
      });
    }
    // (a file above it, afile/x.jsonl: named, where the system's ENOTDIR text was printed)
    const blocker = code === 'ENOTDIR' ? await fileInTheWay(path.dirname(resolved)) : null;
    throw new UserError(code === 'ENOENT' ? `there is no corrections file ${resolved}` : blocker ? `there is no corrections file ${resolved}: ${blocker} is a file, not a folder` : `cannot read ${resolved}: ${(error as Error).message}`, {
      where: { file: blocker ?? resolved, flag },
      hint: `Corrections are saved by the drawing pad of \`digits serve\` (default <run>/corrections.jsonl); pass the file with --${flag}.`,
    });
  }
  const records: CorrectionRecord[] = [];
  const warnings: string[] = [];
  const lines = text.split('\n');
  const name = path.basename(resolved);
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    const last = i === lines.length - 1; // no newline after it: the write did not finish
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      warnings.push(`${name}:${i + 1}: ${last ? 'torn last line (a write did not finish)' : 'unreadable line (not JSON)'}, skipped`);
      return;
    }
    const problem = checkRecord(value);
    if (problem) {
      warnings.push(`${name}:${i + 1}: ${problem}, skipped`);
      return;
    }
    const r = value as CorrectionRecord;
    records.push({ v: CORRECTION_VERSION, time: String(r.time ?? ''), label: r.label, predicted: r.predicted ?? null, image: r.image });
  });
  // Lines and not one record, or ten times as many lines that are none as records: another kind
  // of file (a ledger, a CSV; one a server appended a correction to), not a damaged store (until
  // session 48 a CSV with one correction appended read as a store with one record and 600 warnings).
  if (records.length > 0 && warnings.length >= 10 && warnings.length > 10 * records.length) {
    throw new UserError(`${resolved} is not a corrections file: only ${records.length} of its ${records.length + warnings.length} lines ${records.length === 1 ? 'is a correction' : 'are corrections'} (${warnings[0]!.replace(/, skipped$/, '')})`, {
      where: { file: resolved, line: Number(/:(\d+):/.exec(warnings[0]!)?.[1]) || undefined },
      hint: 'A corrections file has one JSON record {"label", "image", …} per line, as the drawing pad of `digits serve` saves them (default <run>/corrections.jsonl).',
    });
  }
  if (records.length === 0 && warnings.length > 1) {
    if (warnings.every((w) => w.includes('format version'))) {
      throw new UserError(`${resolved} holds only corrections of another format version (${warnings[0]!.replace(/, skipped$/, '')})`, {
        where: { file: resolved, line: Number(/:(\d+):/.exec(warnings[0]!)?.[1]) || undefined },
        hint: 'Read it with the digits that wrote it.',
      });
    }
    throw new UserError(`${resolved} is not a corrections file: none of its ${warnings.length} lines is a correction (${warnings[0]!.replace(/, skipped$/, '')})`, {
      where: { file: resolved, line: Number(/:(\d+):/.exec(warnings[0]!)?.[1]) || undefined },
      hint: 'A corrections file has one JSON record {"label", "image", …} per line, as the drawing pad of `digits serve` saves them (default <run>/corrections.jsonl).',
    });
  }
  return { file: resolved, records, warnings };
}

export interface CorrectionSummary {
  count: number;
  /** corrections per given label */
  perLabel: number[];
  /** confusion[given][predicted], rows the true digit as in evaluation.json's; corrections without a prediction are not in it */
  confusion: number[][];
  /** (predicted → given, count), most frequent first; the ensemble's mistakes only (not the diagonal) */
  pairs: Array<{ predicted: number; label: number; count: number }>;
  withoutPrediction: number;
  /** saved with the digit the ensemble said (the pad does not refuse them): training rows, not confusions */
  confirmed: number;
}

export function summarizeCorrections(records: readonly CorrectionRecord[]): CorrectionSummary {
  const perLabel = new Array<number>(10).fill(0);
  const confusion = Array.from({ length: 10 }, () => new Array<number>(10).fill(0));
  let withoutPrediction = 0;
  for (const r of records) {
    perLabel[r.label]!++;
    if (r.predicted === null) withoutPrediction++;
    else confusion[r.label]![r.predicted]!++;
  }
  const pairs: CorrectionSummary['pairs'] = [];
  confusion.forEach((row, label) => row.forEach((count, predicted) => count > 0 && predicted !== label && pairs.push({ predicted, label, count })));
  const confirmed = confusion.reduce((sum, row, label) => sum + row[label]!, 0);
  pairs.sort((a, b) => b.count - a.count || a.predicted - b.predicted || a.label - b.label);
  return { count: records.length, perLabel, confusion, pairs, withoutPrediction, confirmed };
}

/**
 * The corrections as training data: images Float32Array in [0,1] (scale 1), 28×28, labels
 * as given. Skipped lines are reported through `onWarning` (default: a process warning).
 */
export async function correctionsAsImageSet(file: string, options: { onWarning?: (message: string) => void } = {}): Promise<ImageSet> {
  const log = await readCorrections(file);
  const warn = options.onWarning ?? ((message: string) => process.emitWarning(message, 'CorrectionsWarning'));
  for (const w of log.warnings) warn(w);
  const images = new Float32Array(log.records.length * PIXELS);
  const labels = new Uint8Array(log.records.length);
  log.records.forEach((r, i) => {
    for (let p = 0; p < PIXELS; p++) images[i * PIXELS + p] = r.image[p]! / 255;
    labels[i] = r.label;
  });
  return { images, labels, count: log.records.length, size: 28, scale: 1 };
}

/**
 * `extra` appended after `base`'s rows, in `base`'s pixel type and scale (uint8 0–255 data
 * stays uint8). `extraRows` are the new rows' indices: add them to every member's training
 * rows (never to validation rows, so validation stays comparable).
 */
export function mergeImageSets(base: ImageSet, extra: ImageSet): { data: ImageSet; extraRows: number[] } {
  if (base.size !== extra.size) {
    throw new UserError(`the extra images are ${extra.size}×${extra.size}, the dataset's ${base.size}×${base.size}`, { hint: 'Corrections are 28×28; use them with 28×28 datasets.' });
  }
  const px = base.size * base.size;
  const total = base.count + extra.count;
  const images = base.images instanceof Uint8Array ? new Uint8Array(total * px) : new Float32Array(total * px);
  images.set(base.images.subarray(0, base.count * px));
  const factor = base.scale / extra.scale;
  const integer = images instanceof Uint8Array;
  for (let i = 0; i < extra.count * px; i++) {
    const v = extra.images[i]! * factor;
    images[base.count * px + i] = integer ? Math.round(v) : v;
  }
  const labels = new Uint8Array(total);
  labels.set(base.labels.subarray(0, base.count));
  labels.set(extra.labels.subarray(0, extra.count), base.count);
  return {
    data: { images, labels, count: total, size: base.size, scale: base.scale },
    extraRows: Array.from({ length: extra.count }, (_, i) => base.count + i),
  };
}
