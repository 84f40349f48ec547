/**
 * Submission files and their ledger.
 *
 * A submission is `<dir>/<YYYYMMDD-HHMMSS>-<name>.csv` (UTC time) in the competition's
 * format: the header and ids of `sample_submission.csv` when the competition has one,
 * Kaggle's `ImageId,Label` with ids 1..N otherwise. It is written to a temp file, fsynced,
 * linked into place (never over an existing submission) and only then recorded in the ledger:
 * `<dir>/ledger.jsonl` records one JSON line per submission (what made it, how it validated, its
 * score when answers are known). Reading and checking submission CSVs is `submission-csv.ts`'s.
 */
import transliterate from '@sindresorhus/transliterate';
import { createHash } from 'node:crypto';
import { randomBytes } from 'node:crypto';
import { access, constants, link, readdir, readFile, stat, unlink } from 'node:fs/promises';
import { makeFolders } from '../make-folders.js';
import { isStaleTemp, namingFile, processRunning, removeStaleTempFiles, tempOwner, writeDurably } from '../atomic-file.js';
import { appendJsonLine, isTornJsonLine } from './json-lines.js';
import path from 'node:path';
import { DEFAULT_SUBMISSION_HEADER } from './dataset.js';
import { fileInTheWay, folderBlocked } from '../output-folder.js';
import { UserError, fromSystemError } from '../errors.js';

export const LEDGER_FILE = 'ledger.jsonl';
export const DEFAULT_SUBMISSIONS_DIR = 'submissions';

export interface WriteSubmissionOptions {
  /** The submissions folder (created when missing). */
  dir: string;
  /** Part of the file name after the time stamp, e.g. the run name. */
  name: string;
  /** Header cells from sample_submission.csv; default `ImageId,Label`. */
  header?: readonly string[];
  /** Test ids in test-row order (from sample_submission.csv); default 1..N. */
  ids?: readonly string[];
  /** Predicted digit per test row. */
  labels: ArrayLike<number>;
  /** The time in the file name (default now). */
  now?: Date;
}

export interface WrittenSubmission {
  /** Absolute path of the new file. */
  file: string;
  sha256: string;
  rows: number;
}

export interface LedgerEntry {
  /** The submission file, relative to the ledger's folder when it lies inside it. */
  file: string;
  sha256: string;
  createdAt: string;
  /** The run folder the members came from. */
  run: string;
  members: Array<{ name: string; checkpoint: string }>;
  voting: 'soft' | 'hard';
  /** Per member (in `members` order), when their weights differ: ensemble selection's, or a k-fold recipe's weight shared by its fold members. */
  weights?: number[];
  /** The weights are ensemble selection's: the weighted soft vote (absent for the soft vote, and before session 44, when `weights` could be either). */
  weighted?: true;
  /** Test-time augmentation: the number of transforms averaged (1: none). */
  tta: number;
  /** The number format the test rows were predicted in: int8, fp32, or the mix member by member (absent before session 39). */
  precision?: string;
  /** Ensemble metrics on the held-out training rows, and the number format they were computed in (absent when the run was not evaluated; `precision` absent before session 39). */
  validation?: { accuracy: number; logLoss: number; precision?: string };
  /** Accuracy against an answers file (practice competitions). */
  score?: { accuracy: number; answers: string };
}

/** `20261121-101500` (UTC). */
export function submissionTimestamp(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-');
}

/**
 * The longest name part of a submission file: with the time stamp, a `-N` suffix and the temp
 * file's `.…csv.tmp-<pid>-<hex>`, the name stays well under the 255 bytes a file name may have.
 */
export const MAX_SUBMISSION_NAME = 100;

/**
 * A name safe in a file name: anything but letters, digits, `.`, `_` and `-` becomes `-`;
 * cut to MAX_SUBMISSION_NAME characters. A `.csv` the name ends with is dropped: the file gets
 * its own (`--name "my sub.csv"` was `…-my-sub.csv.csv` until session 48).
 */
export function safeFileName(name: string, fallback = 'submission'): string {
  // Letters of other scripts and accents are written in Latin letters first (`Café` → `Cafe`,
  // `Straße` → `Strasse`): until session 44 each became a dash (`Caf`).
  const safe = transliterate(name.trim().replace(/\.csv$/i, ''))
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .slice(0, MAX_SUBMISSION_NAME)
    .replace(/^[-.]+|-+$/g, '');
  return safe || fallback;
}

/**
 * Creates the submissions folder when missing; a file in its place is a UserError naming it
 * (`where.flag` is `dir`, the flag of submit and submissions).
 */
export async function ensureSubmissionsDir(dir: string): Promise<void> {
  const root = path.resolve(dir);
  try {
    await makeFolders(root);
  } catch (error) {
    throw await submissionsDirError(root, error);
  }
}

/**
 * Checks, without creating anything, that the submissions folder can be used: a folder, or
 * missing under a folder that can be written to (it is created when the submission is
 * written, so a submit refused before that leaves no empty folder behind). The same
 * UserErrors as `ensureSubmissionsDir`.
 */
export async function checkSubmissionsDir(dir: string): Promise<void> {
  const root = path.resolve(dir);
  // The folder itself, or the nearest folder above it that exists.
  for (let existing = root; ; existing = path.dirname(existing)) {
    let isFolder: boolean;
    try {
      isFolder = (await stat(existing)).isDirectory();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' && path.dirname(existing) !== existing) continue;
      throw await submissionsDirError(root, error);
    }
    if (!isFolder) throw folderBlocked(root, existing, SUBMISSIONS_FOLDER);
    if (existing !== root) {
      try {
        await access(existing, constants.W_OK);
      } catch (error) {
        throw await submissionsDirError(root, error);
      }
    }
    return;
  }
}

const SUBMISSIONS_FOLDER = { flag: 'dir', what: 'the submissions folder' };

async function submissionsDirError(root: string, error: unknown): Promise<Error> {
  const code = (error as NodeJS.ErrnoException).code;
  // The file in the way is named: the folder itself, or the one above it (`--dir afile/sub` named afile/sub, which did not exist, as the file: session 39).
  if (code === 'EEXIST' || code === 'ENOTDIR') return folderBlocked(root, (await fileInTheWay(root)) ?? root, SUBMISSIONS_FOLDER);
  // A read-only file system, a full disk, a folder one may not write: said as every other command
  // says it (until session 45 "cannot use the submissions folder … (EROFS) (flag --dir)", also
  // when --dir was not given).
  const fixable = fromSystemError(namingFile(error, root));
  if (fixable) return fixable;
  return new UserError(`cannot use the submissions folder ${root} (${code ?? (error as Error).message})`, { where: { file: root, flag: 'dir' }, hint: 'Check the folder and its permissions, or pass another one with --dir.' });
}

function csvCell(value: string): string {
  return /[",\r\n]/.test(value) || value !== value.trim() ? `"${value.replace(/"/g, '""')}"` : value;
}

function sha256(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** A submission written to a temp file in its folder, not yet under its name. */
export interface PreparedSubmission {
  /** the temp file (`.<stem>.csv.tmp-<pid>-<hex>`): validate and score this one */
  temp: string;
  dir: string;
  stem: string;
  sha256: string;
  rows: number;
}

/**
 * Writes a submission to a temp file beside its final place (fsynced). Nothing is visible as
 * a submission until `commitSubmission`; a process killed before leaves only the temp file,
 * which `removeStaleTempFiles` clears on the next start.
 */
export async function prepareSubmission(options: WriteSubmissionOptions): Promise<PreparedSubmission> {
  const header = options.header ?? DEFAULT_SUBMISSION_HEADER;
  const rows = options.labels.length;
  if (header.length !== 2) {
    throw new UserError(`a submission has two columns (id and label); the header given has ${header.length}: ${header.join(',')}`, {
      hint: 'Check sample_submission.csv: it should hold an id column and a label column.',
    });
  }
  if (options.ids && options.ids.length !== rows) {
    throw new UserError(`${rows} predictions for ${options.ids.length} test ids`, {
      hint: 'Predict every test row of the dataset the ids come from (re-import it if the test file changed).',
    });
  }
  const lines = [header.map(csvCell).join(',')];
  for (let i = 0; i < rows; i++) {
    const label = options.labels[i]!;
    if (!Number.isInteger(label) || label < 0 || label > 9) throw new RangeError(`writeSubmission: label ${label} of row ${i} is not a digit 0–9`);
    lines.push(`${csvCell(options.ids ? options.ids[i]! : String(i + 1))},${label}`);
  }
  const text = `${lines.join('\n')}\n`;
  const dir = path.resolve(options.dir);
  await ensureSubmissionsDir(dir);
  const stem = `${submissionTimestamp(options.now ?? new Date())}-${safeFileName(options.name)}`;
  const temp = path.join(dir, `.${stem}.csv.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  await writeDurably(temp, text).catch((error: unknown) => {
    // Named as the submission it was to become: the temp's name, `.<stem>.csv` once its suffix
    // is taken off, never exists (a read-only folder named it until session 45).
    if (typeof (error as NodeJS.ErrnoException).path === 'string') (error as NodeJS.ErrnoException).path = path.join(dir, `${stem}.csv`);
    throw error;
  });
  return { temp, dir, stem, sha256: sha256(text), rows };
}

/**
 * Gives a prepared submission its name and records it: the temp file is linked to
 * `<stem>.csv`, or `<stem>-2.csv`… when that is taken, then `record(file)` appends its ledger
 * line, then the temp name goes.
 *
 * Why this order: link() never replaces a file, so the name is claimed before anything refers
 * to it. Of two submits choosing one name at once the second takes the next one, and a ledger
 * line never names a file this submit does not own. The reverse order (ledger line, then name)
 * let a submit killed between the two leave a line naming a file that did not exist, whose only
 * copy was a temp file the next submit deleted, and let the submit that lost a name to another
 * leave a line for the other's file. Now a kill leaves:
 *  - before the link: the temp file alone, removed on the next start (nothing was submitted);
 *  - between the link and the ledger line: the CSV without its line (and the temp file, a second
 *    name of the same bytes, removed on the next start). Nothing is lost and the ledger says
 *    nothing false; `unrecordedSubmissions` finds such a CSV and `digits submissions` and the
 *    next submit report it;
 *  - after the ledger line: the temp file alone, removed on the next start.
 * When `record` fails, the CSV just linked is removed again, so no unrecorded file is left.
 */
export async function commitSubmission(prepared: PreparedSubmission, record: (file: string) => Promise<void> = async () => {}): Promise<WrittenSubmission> {
  try {
    for (let n = 1; n < 1000; n++) {
      const file = path.join(prepared.dir, `${prepared.stem}${n === 1 ? '' : `-${n}`}.csv`);
      // link() fails when the name is taken, even by a submit that chose it a moment ago: never overwritten.
      const linked = await link(prepared.temp, file).then(
        () => true,
        (error: NodeJS.ErrnoException) => {
          if (error.code === 'EEXIST') return false;
          throw error;
        },
      );
      if (!linked) continue;
      try {
        await record(file);
      } catch (error) {
        await unlink(file).catch(() => {});
        throw error;
      }
      return { file, sha256: prepared.sha256, rows: prepared.rows };
    }
    throw new Error(`no free submission name for ${prepared.stem} in ${prepared.dir}`);
  } finally {
    await unlink(prepared.temp).catch(() => {});
  }
}

/** `20261121-101500-<name>.csv`, or `…-<name>-2.csv`: what `commitSubmission` names a submission. */
const SUBMISSION_FILE = /^\d{8}-\d{6}-.+\.csv$/;
/** The temp file of a prepared submission: `.<stem>.csv.tmp-<pid>-<hex>`. */
const SUBMISSION_TEMP = /^\..+\.csv\.tmp-\d+-[0-9a-f]+$/;

/**
 * Submission files in `dir` that no ledger line names: left by a submit killed between naming its
 * CSV and recording it (or put there by hand). They are reported, never deleted: the ledger
 * does not say what made them, so they are not listed as submissions either.
 */
export async function unrecordedSubmissions(dir: string, entries: readonly LedgerEntry[]): Promise<string[]> {
  const root = path.resolve(dir);
  const recordedIn = (list: readonly LedgerEntry[]) => new Set(list.map((e) => path.resolve(root, e.file)));
  const names = await readdir(root).catch(() => [] as string[]);
  const candidates = names.filter((name) => SUBMISSION_FILE.test(name) && !recordedIn(entries).has(path.join(root, name)));
  if (candidates.length === 0) return [];
  // A submit still running between naming its CSV and recording it is no killed one (until
  // session 45 a submit started at that moment warned about the other's file, recorded a moment
  // later): its temp file is a second name of the CSV until its ledger line is appended
  // (commitSubmission), under the pid of a process that runs.
  const live = new Set<string>();
  for (const name of names) {
    const pid = SUBMISSION_TEMP.test(name) ? tempOwner(name) : null;
    if (pid === null || !processRunning(pid)) continue;
    const info = await stat(path.join(root, name)).catch(() => null);
    if (info) live.add(`${info.dev}:${info.ino}`);
  }
  const unsettled: string[] = [];
  for (const name of candidates) {
    const info = await stat(path.join(root, name)).catch(() => null);
    // (gone: a submit whose ledger line failed takes its CSV back)
    if (info && !live.has(`${info.dev}:${info.ino}`)) unsettled.push(name);
  }
  if (unsettled.length === 0) return [];
  // A submit that recorded its file after `entries` were read let go of its temp file only once
  // its line was in: read the ledger again, now that the temp files were looked at.
  const recorded = recordedIn(await readLedger(root, { onDamagedLine: () => {} }).catch(() => entries));
  return unsettled
    .filter((name) => !recorded.has(path.join(root, name)))
    .sort()
    .map((name) => path.join(root, name));
}

/** The warning for a CSV of `unrecordedSubmissions`. */
export function unrecordedWarning(file: string): string {
  return `${path.basename(file)} is in the submissions folder but not in ${LEDGER_FILE} (a submit killed before it recorded the file, or a file put there by hand): nothing says what made it or that it was validated; delete it, or run digits submit again for a recorded one`;
}

/**
 * Restores submissions that a submit of an earlier version left half done: it appended the ledger
 * line before naming the file, so a kill between the two left a line whose file is missing and
 * the only copy in its temp file. A temp file whose writer no longer runs and whose bytes are
 * those a ledger line records for a missing file is linked back under that name (before
 * `removeStaleTempFiles` clears temp files). Returns the files restored.
 */
async function restoreSubmissions(dir: string, entries: readonly LedgerEntry[]): Promise<string[]> {
  const root = path.resolve(dir);
  const restored: string[] = [];
  const names = await readdir(root).catch(() => [] as string[]);
  for (const name of names) {
    if (!SUBMISSION_TEMP.test(name) || !isStaleTemp(name)) continue;
    const temp = path.join(root, name);
    // A temp file with a second name was linked into place already (killed before its ledger line).
    if ((await stat(temp).catch(() => null))?.nlink !== 1) continue;
    const bytes = await readFile(temp).catch(() => null);
    if (bytes === null) continue;
    const hash = sha256(bytes);
    // The names commitSubmission gives this temp file's stem: `<stem>.csv`, `<stem>-<n>.csv`.
    const stem = name.slice(1, name.lastIndexOf('.csv.tmp-'));
    const named = (file: string) => file === `${stem}.csv` || (file.startsWith(`${stem}-`) && /^\d+\.csv$/.test(file.slice(stem.length + 1)));
    for (const entry of entries) {
      const file = path.resolve(root, entry.file);
      if (entry.sha256 !== hash || path.dirname(file) !== root || !named(path.basename(file)) || restored.includes(file)) continue;
      if (await access(file).then(() => true, () => false)) continue;
      if (await link(temp, file).then(() => true, () => false)) restored.push(file);
      break;
    }
  }
  return restored;
}

/** Discards a prepared submission (its inputs failed a check). */
export async function discardSubmission(prepared: PreparedSubmission): Promise<void> {
  await unlink(prepared.temp).catch(() => {});
}

/** Writes a submission CSV atomically and returns its path, sha256 and row count. */
export async function writeSubmission(options: WriteSubmissionOptions): Promise<WrittenSubmission> {
  return commitSubmission(await prepareSubmission(options));
}

/**
 * Puts the submissions folder right after killed submits, at the start of a submit (with the
 * ledger just read): files an earlier version recorded but had not named are restored from their
 * temp files (`restoreSubmissions`), submission files no ledger line names are reported through
 * `onWarning` and kept, and then the temp files of writers that no longer run are removed.
 */
export async function recoverKilledSubmits(dir: string, entries: readonly LedgerEntry[], onWarning: (message: string) => void = () => {}): Promise<void> {
  const root = path.resolve(dir);
  for (const file of await restoreSubmissions(root, entries)) {
    onWarning(`restored ${path.basename(file)} from the temp file of a submit killed after it recorded the file and before it named it`);
  }
  for (const file of await unrecordedSubmissions(root, entries)) onWarning(unrecordedWarning(file));
  await removeStaleTempFiles(root, 1);
}

/* ---------- ledger ---------- */

/**
 * Appends one JSON line to `<dir>/ledger.jsonl` (created with the folder when missing). A
 * torn last line (a crash mid-append) is ended first, so the new record stays whole.
 */
export async function appendLedger(dir: string, entry: LedgerEntry): Promise<string> {
  const root = path.resolve(dir);
  await ensureSubmissionsDir(root);
  const file = path.join(root, LEDGER_FILE);
  const relative = path.relative(root, path.resolve(root, entry.file));
  const stored: LedgerEntry = { ...entry, file: relative.startsWith('..') || path.isAbsolute(relative) ? entry.file : relative };
  // One write of one line with O_APPEND: concurrent appenders do not interleave.
  try {
    await appendJsonLine(file, `${JSON.stringify(stored)}\n`);
  } catch (error) {
    throw await ledgerFileError(file, error);
  }
  return file;
}

async function ledgerFileError(file: string, error: unknown): Promise<Error> {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EISDIR') {
    return new UserError(`${file} is a folder; the ledger is a file`, { where: { file }, hint: `Move that folder aside: digits submit writes ${LEDGER_FILE} as a file of JSON lines.` });
  }
  if (code === 'ENOTDIR') return await submissionsDirError(path.dirname(file), error);
  // (a full disk, a read-only one: said as every command says it; it was "cannot read or write the ledger … (ENOSPC)", hint "Check the file and its permissions", until session 45)
  const system = fromSystemError(namingFile(error, file));
  if (system) return system;
  return new UserError(`cannot read or write the ledger ${file} (${code ?? (error as Error).message})`, { where: { file }, hint: 'Check the file and its permissions.' });
}

const isString = (v: unknown): v is string => typeof v === 'string';
const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** What is wrong with a parsed ledger line, or null when it is a submission entry. */
function ledgerEntryProblem(value: unknown): string | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'is not a JSON object';
  const e = value as Record<string, unknown>;
  for (const key of ['file', 'sha256', 'createdAt', 'run'] as const) {
    if (!isString(e[key])) return e[key] === undefined ? `has no "${key}"` : `has a "${key}" that is not a string`;
  }
  if (!Array.isArray(e.members)) return e.members === undefined ? 'has no "members"' : 'has "members" that are not a list';
  if (!e.members.every((m: unknown) => typeof m === 'object' && m !== null && isString((m as Record<string, unknown>).name) && isString((m as Record<string, unknown>).checkpoint))) {
    return 'has a member without a name or checkpoint';
  }
  if (e.voting !== 'soft' && e.voting !== 'hard') return e.voting === undefined ? 'has no "voting"' : `has voting ${JSON.stringify(e.voting)} (soft or hard expected)`;
  if (!(Number.isInteger(e.tta) && (e.tta as number) >= 1)) return e.tta === undefined ? 'has no "tta"' : `has tta ${JSON.stringify(e.tta)} (a whole number ≥ 1 expected)`;
  if (e.weights !== undefined && !(Array.isArray(e.weights) && e.weights.every(isNumber))) return 'has "weights" that are not a list of numbers';
  const validation = e.validation as Record<string, unknown> | undefined;
  if (validation !== undefined && !(typeof validation === 'object' && validation !== null && isNumber(validation.accuracy) && isNumber(validation.logLoss))) {
    return 'has a "validation" without accuracy and logLoss';
  }
  const score = e.score as Record<string, unknown> | undefined;
  if (score !== undefined && !(typeof score === 'object' && score !== null && isNumber(score.accuracy) && isString(score.answers))) return 'has a "score" without accuracy and answers';
  return null;
}

export interface ReadLedgerOptions {
  /** a torn line that was skipped, e.g. "ledger.jsonl:12: torn line (a write did not finish), skipped" (and, from listSubmissions, a submission file no line names) */
  onWarning?: (message: string) => void;
  /**
   * A damaged line (not JSON, or lacking a field), as the error it is: given, the line is skipped
   * and the others are read (`digits runs`, whose table is of use without one line's score);
   * absent, the error is thrown (`digits submissions`, `submit`).
   */
  onDamagedLine?: (error: UserError) => void;
}

/**
 * The ledger's entries, oldest first; none when there is no ledger yet. A torn line (a crash
 * mid-append: a last line without its newline, or a record cut short that a later append ended)
 * is skipped with a warning; any other damaged line, or one lacking a field, is a UserError
 * naming file and line (thrown, or given to `onDamagedLine`).
 */
export async function readLedger(dir: string, options: ReadLedgerOptions = {}): Promise<LedgerEntry[]> {
  const file = path.join(path.resolve(dir), LEDGER_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw await ledgerFileError(file, error);
  }
  const entries: LedgerEntry[] = [];
  const damaged = (error: UserError): void => {
    if (!options.onDamagedLine) throw error;
    options.onDamagedLine(error);
  };
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    const where = { file, line: i + 1 };
    let entry: unknown;
    try {
      entry = JSON.parse(line);
    } catch (error) {
      // No newline after it: the write did not finish. A record cut short and followed by
      // another: a later append ended the torn line (a whole write never ends mid-record).
      const last = i === lines.length - 1;
      if (last || (isTornJsonLine(line) && lines.slice(i + 1).some((l) => l.trim() !== ''))) {
        options.onWarning?.(`${LEDGER_FILE}:${i + 1}: ${last ? 'torn last line' : 'torn line'} (a write did not finish), skipped`);
        return;
      }
      return damaged(
        new UserError(`the ledger line is not JSON (${(error as Error).message})`, {
          where,
          hint: 'Fix or delete that line: every line of ledger.jsonl is one JSON object.',
        }),
      );
    }
    const problem = ledgerEntryProblem(entry);
    if (problem) return damaged(new UserError(`the ledger line ${problem}, so it is not a submission entry`, { where, hint: 'Fix or delete that line: digits submit writes every field of it.' }));
    entries.push(entry as LedgerEntry);
  });
  return entries;
}

export interface ListedSubmission extends LedgerEntry {
  /** Absolute path of the file. */
  path: string;
  /** Whether the file is still there with the bytes the ledger recorded. */
  status: 'ok' | 'missing' | 'modified';
}

/**
 * The ledger with each file checked against its recorded sha256. A submission file that no line
 * names (`unrecordedSubmissions`) is reported through `onWarning`.
 */
export async function listSubmissions(dir: string, options: ReadLedgerOptions = {}): Promise<ListedSubmission[]> {
  const root = path.resolve(dir);
  const entries = await readLedger(root, options);
  for (const file of await unrecordedSubmissions(root, entries)) options.onWarning?.(unrecordedWarning(file));
  return Promise.all(
    entries.map(async (entry) => {
      const file = path.resolve(root, entry.file);
      const bytes = await readFile(file).catch(() => null);
      const status: ListedSubmission['status'] = bytes === null ? 'missing' : sha256(bytes) === entry.sha256 ? 'ok' : 'modified';
      return { ...entry, path: file, status };
    }),
  );
}
