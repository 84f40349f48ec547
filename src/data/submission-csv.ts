/**
 * Reading submission and answers CSVs: `validateSubmission` checks a submission the way Kaggle's
 * upload check would (header, ids in order, labels 0–9, row count), `readIdLabelCsv` and
 * `readAnswerLabels` read `id,label` files, and `scoreAgainstAnswers` scores a submission
 * against a practice competition's answers. Every problem is a UserError naming file, line and
 * column. Writing submissions and the ledger is `submission.ts`'s.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseDecimalCell } from './csv.js';
import { DEFAULT_SUBMISSION_HEADER, dummyLabelDigit } from './dataset.js';
import { idColumnByName } from './sample-submission.js';
import { UserError } from '../errors.js';

/** One CSV line split into cells (RFC 4180 quotes; a submission has no multi-line cells). */
export function splitCsvLine(line: string): string[] {
  const cells: string[] = [];
  let i = 0;
  for (;;) {
    if (line[i] === '"') {
      let value = '';
      i++;
      for (;;) {
        const quote = line.indexOf('"', i);
        if (quote < 0) {
          value += line.slice(i);
          i = line.length;
          break;
        }
        value += line.slice(i, quote);
        if (line[quote + 1] === '"') {
          value += '"';
          i = quote + 2;
        } else {
          i = quote + 1;
          break;
        }
      }
      const comma = line.indexOf(',', i);
      value += comma < 0 ? line.slice(i) : line.slice(i, comma);
      cells.push(value);
      if (comma < 0) return cells;
      i = comma + 1;
    } else {
      const comma = line.indexOf(',', i);
      if (comma < 0) {
        cells.push(line.slice(i));
        return cells;
      }
      cells.push(line.slice(i, comma));
      i = comma + 1;
    }
  }
}

async function readLines(file: string, what: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // (a folder, the competition's say, is said to be one, naming --answers: it was "(EISDIR)" until session 48)
    if (code === 'EISDIR' && what === 'answers') {
      throw new UserError(`the answers ${file} is a folder, not a file`, {
        where: { file, flag: 'answers' },
        hint: `Give the answers CSV (a practice competition writes ${path.basename(file)}-answers.csv beside its folder).`,
      });
    }
    throw new UserError(`cannot read the ${what} ${file} (${code ?? (error as Error).message})`, {
      where: { file },
      hint: what === 'submission' ? 'Check the path; `digits submissions` lists the files written.' : 'Check the path (a practice competition writes <folder>-answers.csv beside its folder).',
    });
  }
  if (text.startsWith('\ufeff')) text = text.slice(1);
  const lines = text.split(/\r?\n/);
  // One final newline is normal; anything more is a blank line (reported by the caller).
  if (lines.length > 1 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

export interface ValidateSubmissionOptions {
  expectedRows: number;
  /** Test ids in order; default 1..expectedRows. */
  ids?: readonly string[];
  /** Header cells; default `ImageId,Label`. */
  header?: readonly string[];
}

export interface ValidationResult {
  rows: number;
  header: string[];
}

/**
 * Checks a submission as Kaggle would before scoring it: the header, two cells on every
 * line, no blank lines, every test id once and in order, labels integers 0–9, the row
 * count. The first problem is thrown as a UserError with file, line and column (1-based).
 */
export async function validateSubmission(file: string, options: ValidateSubmissionOptions): Promise<ValidationResult> {
  const header = options.header ?? DEFAULT_SUBMISSION_HEADER;
  const expectedIds = options.ids ?? Array.from({ length: options.expectedRows }, (_, i) => String(i + 1));
  if (expectedIds.length !== options.expectedRows) throw new RangeError(`validateSubmission: ${expectedIds.length} ids for ${options.expectedRows} rows`);
  const fail = (message: string, line: number, column: number | undefined, hint: string) => new UserError(message, { where: { file, line, ...(column === undefined ? {} : { column }) }, hint });
  const regenerate = 'Write it again with digits submit rather than editing it by hand.';
  const lines = await readLines(file, 'submission');
  if (lines.length === 1 && lines[0] === '') throw fail('the submission is empty', 1, undefined, regenerate);
  const cells = splitCsvLine(lines[0]!);
  for (let c = 0; c < Math.max(cells.length, header.length); c++) {
    if (cells[c] !== header[c]) {
      throw fail(
        c >= header.length ? `the header has an extra column "${cells[c]}"` : `the header should be "${header.join(',')}"; column ${c + 1} is ${cells[c] === undefined ? 'missing' : `"${cells[c]}"`}`,
        1,
        c + 1,
        `The competition expects the header ${header.join(',')} (from its sample_submission.csv).`,
      );
    }
  }
  const firstLine = new Map<string, number>();
  const positionOf = new Map<string, number>();
  expectedIds.forEach((id, i) => positionOf.set(id, i));
  for (let i = 1; i < lines.length; i++) {
    const lineNo = i + 1;
    const line = lines[i]!;
    if (line.trim() === '') throw fail('blank line', lineNo, undefined, 'Remove blank lines: every line after the header is one test row.');
    const row = splitCsvLine(line);
    if (row.length !== 2) {
      throw fail(`row has ${row.length} column${row.length === 1 ? '' : 's'}, expected 2`, lineNo, Math.min(row.length, 2) + 1, 'Each row is <id>,<label>.');
    }
    const [id, label] = row as [string, string];
    const position = i - 1;
    if (position >= expectedIds.length) throw fail(`extra row: the competition has ${expectedIds.length} test rows`, lineNo, 1, regenerate);
    const seen = firstLine.get(id);
    if (seen !== undefined) throw fail(`id ${id} appears twice (first on line ${seen})`, lineNo, 1, regenerate);
    firstLine.set(id, lineNo);
    if (id !== expectedIds[position]) {
      const at = positionOf.get(id);
      throw fail(
        at === undefined ? `id "${id}" is not a test id (expected ${expectedIds[position]})` : `ids out of order: expected ${expectedIds[position]}, found ${id} (the test row on line ${at + 2})`,
        lineNo,
        1,
        'Keep the ids and their order from sample_submission.csv.',
      );
    }
    if (!/^[0-9]$/.test(label)) throw fail(`label "${label}" is not an integer 0–9`, lineNo, 2, 'Labels are single digits 0–9.');
  }
  const rows = lines.length - 1;
  if (rows !== options.expectedRows) {
    throw fail(`${rows} rows, expected ${options.expectedRows}: the first missing id is ${expectedIds[rows]}`, lines.length + 1, undefined, regenerate);
  }
  return { rows, header: cells };
}

/* ---------- scoring against answers ---------- */

/**
 * Rows of an `id,label` CSV (a submission or an answers file), ids trimmed, with their line numbers. A file
 * that is not such a CSV (JSON, say: its first line is no two-column header) and an id on two
 * rows are UserErrors naming the file and line.
 */
export async function readIdLabelCsv(file: string, what: 'submission' | 'answers'): Promise<Array<{ id: string; label: string; line: number; labelColumn: number }>> {
  const lines = await readLines(file, what);
  const header = lines[0]!;
  const format = `The ${what} file is a CSV with the header ImageId,Label (or the competition's id and label columns) and one id,label row per test row.`;
  if (/^\s*[[{]/.test(header)) throw new UserError(`the ${what} file ${path.basename(file)} is not CSV (it looks like JSON)`, { where: { file, line: 1, column: 1 }, hint: format });
  const headerCells = splitCsvLine(header);
  if (headerCells.length !== 2) {
    throw new UserError(`the ${what} file ${path.basename(file)} is not an id,label CSV: its first line has ${headerCells.length} column${headerCells.length === 1 ? '' : 's'}, not a header of 2`, { where: { file, line: 1 }, hint: format });
  }
  // The columns by their names, as Kaggle reads them: `Label,ImageId` has its ids in column 2
  // (until session 48 they were read by position, and the labels taken for ids).
  const idColumn = idColumnByName(headerCells);
  const labelColumn = 1 - idColumn;
  // Blank lines at the end of an answers file are accepted, as the competition CSVs accept them
  // (they were "blank line in the answers" until session 39); one in the middle stays an error.
  let end = lines.length;
  if (what === 'answers') while (end > 1 && lines[end - 1]!.trim() === '') end--;
  const rows: Array<{ id: string; label: string; line: number; labelColumn: number }> = [];
  const firstLine = new Map<string, number>();
  for (let i = 1; i < end; i++) {
    if (lines[i]!.trim() === '') throw new UserError(`blank line in the ${what}`, { where: { file, line: i + 1 }, hint: what === 'answers' ? 'Remove that blank line: every line between the header and the last row is one id,label row (blank lines at the end are fine).' : 'Remove blank lines.' });
    const cells = splitCsvLine(lines[i]!);
    if (cells.length !== 2) throw new UserError(`row has ${cells.length} columns, expected 2 (id,label)`, { where: { file, line: i + 1, column: Math.min(cells.length, 2) + 1 }, hint: `The ${what} file is ImageId,Label.` });
    const id = cells[idColumn]!.trim();
    const seen = firstLine.get(id);
    if (seen !== undefined) {
      throw new UserError(`test id ${id} appears twice in the ${what} (first on line ${seen})`, { where: { file, line: i + 1, column: idColumn + 1 }, hint: `Keep one row per test id in ${path.basename(file)}.` });
    }
    firstLine.set(id, i + 1);
    rows.push({ id, label: cells[labelColumn]!, line: i + 1, labelColumn: labelColumn + 1 });
  }
  return rows;
}

/**
 * An answers CSV (`ImageId,Label`, as practice competitions write beside their folder): each
 * id (trimmed) and its digit, read as the import reads labels (`parseDecimalCell`: `7.0` is 7,
 * `0x5` is no digit); a label that is not a whole number 0–9 is an error at its line and
 * column. `evaluate`, `run` and `submit` all read answers through it.
 */
export async function readAnswerLabels(file: string): Promise<Array<{ id: string; label: number; line: number }>> {
  const answers = (await readIdLabelCsv(file, 'answers')).map((row) => {
    const label = parseDecimalCell(row.label);
    if (!Number.isInteger(label) || label < 0 || label > 9) {
      throw new UserError(`answers: label ${JSON.stringify(row.label)} is not a digit 0–9`, { where: { file, line: row.line, column: row.labelColumn }, hint: 'The answers file has the columns ImageId,Label.' });
    }
    return { id: row.id, label, line: row.line };
  });
  // One digit on every row of a test set is a sample submission's dummy column, not answers: its
  // "score" was recorded in the ledger as the share of that digit among the predictions.
  if (dummyLabelDigit(answers.map((a) => a.label)) !== null) {
    throw new UserError(`every one of the ${answers.length} answers in ${path.basename(file)} is ${answers[0]!.label}: it looks like a sample submission, not the test set's answers`, {
      where: { file },
      hint: 'Give the file of the test labels (a practice competition writes <folder>-answers.csv beside its folder), or leave --answers out.',
    });
  }
  return answers;
}

/**
 * Accuracy of a submission against an answers CSV (`readAnswerLabels`), matched by id. An
 * answer id the submission lacks, or a submission id the answers lack, is a
 * UserError.
 */
export async function scoreAgainstAnswers(submissionFile: string, answersFile: string): Promise<{ accuracy: number; rows: number }> {
  const [submission, answers] = await Promise.all([readIdLabelCsv(submissionFile, 'submission'), readAnswerLabels(answersFile)]);
  const predicted = new Map<string, { label: string; line: number }>();
  for (const row of submission) predicted.set(row.id, row);
  const known = new Set<string>();
  let correct = 0;
  for (const answer of answers) {
    known.add(answer.id);
    const guess = predicted.get(answer.id);
    if (!guess) {
      throw new UserError(`the submission has no row for id ${answer.id}`, {
        where: { file: submissionFile },
        hint: `Is ${path.basename(answersFile)} the answers of this competition? It lists id ${answer.id} (line ${answer.line}).`,
      });
    }
    if (Number(guess.label) === answer.label) correct++;
  }
  const stray = submission.find((row) => !known.has(row.id));
  if (stray) {
    throw new UserError(`id ${stray.id} is not in the answers`, {
      where: { file: submissionFile, line: stray.line, column: 3 - stray.labelColumn },
      hint: `Is ${path.basename(answersFile)} the answers of this competition?`,
    });
  }
  return { accuracy: answers.length > 0 ? correct / answers.length : 0, rows: answers.length };
}
