import { findNodeAtLocation, parse as parseJsonc, parseTree, printParseErrorCode, visit as visitJson, type ParseError } from 'jsonc-parser';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { withoutTempSuffix } from './atomic-file.js';

/**
 * Two kinds of error (after Shopify CLI's AbortError / BugError):
 * a UserError is something the user can fix; it says what was wrong, where, and what to try.
 * Anything else is a bug and is printed with its stack.
 */
export interface ErrorLocation {
  file?: string;
  line?: number;
  column?: number;
  flag?: string;
}

export class UserError extends Error {
  readonly hint?: string;
  readonly where?: ErrorLocation;
  readonly exitCode: number;

  constructor(message: string, options: { hint?: string; where?: ErrorLocation; exitCode?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'UserError';
    this.hint = options.hint;
    this.where = options.where;
    this.exitCode = options.exitCode ?? 2;
  }
}

export function formatLocation(where: ErrorLocation | undefined): string {
  if (!where) return '';
  const parts: string[] = [];
  if (where.file) {
    let loc = where.file;
    if (where.line !== undefined) loc += `:${where.line}`;
    if (where.column !== undefined) loc += `:${where.column}`;
    parts.push(loc);
  }
  if (where.flag) parts.push(`flag --${where.flag}`);
  return parts.join(', ');
}

/** The plain-text form printed by the CLI: "error: <what> (<where>)\n  hint: <what to do>". */
export function formatUserError(error: UserError): string {
  // A file the message names already is not repeated after it ("no imported dataset in /x
  // (/x, flag --data)"), unless the location adds a line and column to it.
  const file = error.where?.file;
  const named = file !== undefined && error.where?.line === undefined && error.message.includes(file);
  const where = formatLocation(named ? { ...error.where, file: undefined } : error.where);
  let text = `error: ${error.message}${where ? ` (${where})` : ''}`;
  if (error.hint) text += `\n  hint: ${error.hint}`;
  return text;
}

/**
 * Where the first syntax error of a JSON text is: its line and column (1-based, as editors
 * count) and what was expected there ("colon expected"). JSON.parse's own message names a
 * position only for some mistakes on Node 20 ("Unexpected token '[', …" names none), so the
 * text is scanned again with Microsoft's jsonc-parser (VS Code's), in strict JSON mode, which
 * gives the offset of every error. `fallback` (JSON.parse's message) is used when the scan
 * finds nothing.
 */
export function jsonSyntaxError(text: string, fallback: string): { message: string; line?: number; column?: number } {
  const errors: ParseError[] = [];
  parseJsonc(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
  const first = errors[0];
  if (!first) return { message: fallback };
  const words = printParseErrorCode(first.error).replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();
  const before = text.slice(0, first.offset);
  return { message: words, line: before.split('\n').length, column: first.offset - before.lastIndexOf('\n') };
}

/**
 * Where the value at `path` (keys and array indices, as a schema error names them) is written in
 * a JSON text, 1-based as editors count: the key itself for an object member (an unknown or
 * wrong key is found where it is typed), else the value; the nearest enclosing value that exists
 * for a key that is missing. Null when the text does not parse.
 */
export function jsonPathLocation(text: string, path: readonly PropertyKey[]): { line: number; column: number } | null {
  const root = parseTree(text);
  if (!root) return null;
  const keys = path.filter((k): k is string | number => typeof k === 'string' || typeof k === 'number');
  for (let n = keys.length; n >= 0; n--) {
    const node = findNodeAtLocation(root, keys.slice(0, n));
    if (!node) continue;
    const at = node.parent?.type === 'property' ? node.parent.children![0]!.offset : node.offset;
    const before = text.slice(0, at);
    return { line: before.split('\n').length, column: at - before.lastIndexOf('\n') };
  }
  return null;
}

/**
 * The first key written twice in one object of a JSON text, with its second line and column
 * (1-based), or null. JSON.parse keeps the last silently, so a file edited by hand can say two
 * things of one key and mean the one further down; the same scanner as syntax errors finds it.
 */
export function duplicateJsonKey(text: string): { key: string; line: number; column: number } | null {
  const objects: Array<Set<string>> = [];
  let found: { key: string; line: number; column: number } | null = null;
  visitJson(text, {
    onObjectBegin: () => void objects.push(new Set()),
    onObjectEnd: () => void objects.pop(),
    onObjectProperty: (key, _offset, _length, line, character) => {
      const keys = objects.at(-1);
      if (!keys || found) return;
      if (keys.has(key)) found = { key, line: line + 1, column: character + 1 };
      keys.add(key);
    },
  });
  return found;
}

/**
 * A JSON file's text parsed, or a user error naming the file, line and column of the first
 * syntax error (a damaged or hand-edited file), with `hint` saying what to do.
 */
export function parseJsonFile<T>(text: string, file: string, what: string, hint: string): T {
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    const { message, line, column } = jsonSyntaxError(text, (error as Error).message);
    throw new UserError(`${what} is not valid JSON: ${message}`, { where: { file, line, column }, hint });
  }
}

/** `--run` named a file (`runs/x/run.json`) where it takes the run's folder: name the folder. */
export function runIsAFile(runDir: string): UserError {
  // (its folder is suggested only when it is a run's: a stray file elsewhere suggested its folder, which was none)
  const folder = path.dirname(runDir);
  return new UserError(`--run takes a run's folder, and ${runDir} is a file`, {
    where: { file: runDir, flag: 'run' },
    hint: existsSync(path.join(folder, 'run.json')) ? `Did you mean --run ${folder}?` : 'Name a run folder (`digits runs` lists them), or train one with `digits run --data <competition>`.',
  });
}

/** System error codes a user can put right: a full disk, a folder they may not write. */
const FIXABLE_SYSTEM_ERRORS: Record<string, { what: string; fix: string; kept?: true }> = {
  ENOSPC: { what: 'the disk is full', fix: 'Free some space (or point the command at another disk)', kept: true },
  EDQUOT: { what: 'the disk quota is used up', fix: 'Free some space within your quota (or point the command at another disk)' },
  EACCES: { what: 'permission denied', fix: 'Give yourself write access to that folder (or point the command at another one)' },
  EPERM: { what: 'operation not permitted', fix: 'Give yourself write access to that folder (or point the command at another one)' },
  EROFS: { what: 'the file system is read-only', fix: 'Point the command at a writable folder' },
  // (a folder put where a file of the command goes, search.json say: an internal error with a stack until session 45)
  EISDIR: { what: 'it is a folder, not a file', fix: 'Move that folder aside (or point the command at another place)' },
};

/** System calls whose failure is said as "cannot write". */
const WRITING_CALLS = new Set(['open', 'write', 'mkdir', 'rename', 'copyfile']);

/**
 * A system error the user can put right (ENOSPC, EACCES…), from any step of any command: one
 * error line naming the file and saying what to do, exit 2, not an internal error with a stack
 * (exit 70). The file named is the one the user knows: a temp file written on the way
 * (`x.csv.tmp-8614-…`) is named as the file it was to become.
 */
export function fromSystemError(error: unknown, options: { then?: string } = {}): UserError | null {
  const e = (error instanceof Error && !(error as NodeJS.ErrnoException).code && error.cause instanceof Error ? error.cause : error) as NodeJS.ErrnoException;
  const known = e instanceof Error && e.code ? FIXABLE_SYSTEM_ERRORS[e.code] : undefined;
  if (!known) return null;
  const file = typeof e.path === 'string' ? withoutTempSuffix(e.path) : undefined;
  const doing = !e.syscall || WRITING_CALLS.has(e.syscall) ? 'cannot write' : `cannot ${e.syscall}`;
  // `then`: what to do once it is put right, where running the same command again is not it
  // (a pretraining with saved epochs goes on with --resume; run again, it started over)
  const hint = options.then ? `${known.fix}, then ${options.then}.` : `${known.fix}, then run it again${known.kept ? ': files it finished writing are kept, and no file is left half-written' : ''}.`;
  return new UserError(file ? `${doing} ${file}: ${known.what}` : `${known.what} (${e.code}${e.syscall ? ` in ${e.syscall}` : ''})`, { ...(file ? { where: { file } } : {}), hint, exitCode: 2 });
}

/**
 * An error as text that can cross a thread or a queue (only text does): its message, with the
 * path of a system error added as Node writes it (`ENOSPC: no space left on device, write
 * '/x'`) when the message lacks it. A write through a descriptor fails without a path, and
 * `namingFile` puts one on the error, not in its message: a member that filled the disk was
 * reported as "ENOSPC: no space left on device, write", naming no file, until session 47.
 */
export function errorText(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const e = error as NodeJS.ErrnoException;
  if (typeof e.code === 'string' && typeof e.path === 'string' && !e.message.includes(e.path) && /^E[A-Z0-9]+: [^\n]+, \w+$/.test(e.message)) return `${e.message} '${e.path}'`;
  return e.message;
}

/**
 * A recorded failure as a user reads it (a member's error in run.json, a queue job's): its first
 * line, with a system error a user can put right said as `fromSystemError` says it, naming the
 * file it could not write (not a temp name), so the live line, the summary and evaluate's note
 * say it alike.
 */
export function failureLine(text: string | undefined): string {
  const first = (text ?? '').split('\n')[0]!.trim();
  if (!first) return 'no error recorded';
  const system = systemErrorFromText(first);
  return (system && fromSystemError(system)?.message) || first;
}

/**
 * A system error read back from its text, as a worker thread or a queue job reports it (only the
 * message crosses: "ENOSPC: no space left on device, write", "EACCES: permission denied, open
 * '/x'"): the code, the call and the path again, so that `fromSystemError` can say it, or null
 * for any other text.
 */
export function systemErrorFromText(text: string): NodeJS.ErrnoException | null {
  const match = /^(E[A-Z0-9]+): ([^,\n]+), (\w+)(?: '([^'\n]*)')?/.exec(text.trim());
  if (!match) return null;
  return Object.assign(new Error(match[0]), { code: match[1]!, syscall: match[3]!, ...(match[4] !== undefined ? { path: match[4] } : {}) });
}

/**
 * The error that every one of several jobs (a run's probes) failed with, when each is the same
 * system error a user can put right (a full disk fills for all of them): the first of them, to be
 * said as one (`fromSystemError`); null when any failed otherwise, which stays a bug to report.
 */
export function commonFixableSystemError(texts: readonly (string | undefined)[]): NodeJS.ErrnoException | null {
  const errors = texts.map((t) => (t === undefined ? null : systemErrorFromText(t)));
  const first = errors[0];
  if (!first || !fromSystemError(first)) return null;
  return errors.every((e) => e !== null && e.code === first.code) ? first : null;
}
