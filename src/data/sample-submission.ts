/**
 * sample_submission.csv for the import: its header and ids (the submission's format), and the
 * test rows matched to its ids when test.csv has an id column of its own (checked unique, put
 * in the sample's order when it lists the same ids in another order). Split from import.ts.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, join } from 'node:path';
import { namingFile } from '../atomic-file.js';
import { shellArg } from './format.js';
import { UserError } from '../errors.js';
import { type CsvSample, isBlankRow, streamCsv } from './csv.js';
import { DEFAULT_SUBMISSION_HEADER, type Detection } from './dataset.js';
import { isNumericCell } from './detect.js';
import { shown } from './table-writer.js';

export interface SampleSubmission {
  header: Detection<boolean>;
  headerCells: string[];
  ids: string[];
  /** The CSV line of each id, and the 0-based column the ids are in. */
  idLines: number[];
  idColumn: number;
}

/**
 * Which of a two-column header's cells holds the ids: the second when it is named like an id
 * (`ImageId`, `Id`, `image_id`) and the first is not, else the first. Kaggle reads a
 * submission's columns by name, and so do the sample submission and the answers file here.
 */
export function idColumnByName(cells: readonly string[]): 0 | 1 {
  const isId = (cell: string | undefined) => cell !== undefined && /^(image_?)?id$/i.test(cell.trim());
  return isId(cells[1]) && !isId(cells[0]) ? 1 : 0;
}

export async function readSampleSubmission(file: string, sample: CsvSample): Promise<SampleSubmission> {
  const first = sample.rows[0];
  if (!first) {
    throw new UserError(`${basename(file)} is empty`, { where: { file, line: 1 }, hint: 'A sample submission lists each test id with some label (usually 0).' });
  }
  const columns = first.cells.length;
  if (columns < 2) {
    throw new UserError(`${basename(file)} has ${columns} column; a sample submission has an id and a label column`, {
      where: { file, line: first.line },
      hint: 'Expected something like "ImageId,Label".',
    });
  }
  const hasHeader = !isNumericCell(first.cells[0]) || !isNumericCell(first.cells[1]);
  if (columns > 2) {
    // Submissions are written id,label: an extra column (a probability, say) used to pass here
    // and fail only when the submission was checked against this file, after the training.
    throw new UserError(`${basename(file)} has ${columns} columns${hasHeader ? ` (${first.cells.map((cell) => cell.trim()).join(',')})` : ''}; a sample submission has two, an id and a label`, {
      where: { file, line: first.line },
      hint: `Keep only the id and label columns (for example ImageId,Label) in ${basename(file)}, or move it away: without it the submission is ImageId,Label with test rows numbered from 1.`,
    });
  }
  const cells = first.cells.map((cell) => cell.trim());
  // The id column by its name: Kaggle reads a submission's columns by name, so a sample saved
  // Label,ImageId takes its ids from the second column and the submission is written ImageId,Label.
  const idFirst = !hasHeader || idColumnByName(cells) === 0;
  const idColumn = idFirst ? 0 : 1;
  const header: Detection<boolean> = hasHeader
    ? { value: true, how: 'detected', reason: `the first row is ${cells.join(',')}${idFirst ? '' : ` (ids in column 2, "${cells[1]}")`}` }
    : { value: false, how: 'detected', reason: 'the first row is all numbers' };
  const headerCells = hasHeader ? (idFirst ? cells : [cells[1]!, cells[0]!]) : [...DEFAULT_SUBMISSION_HEADER];
  const ids: string[] = [];
  const idLines: number[] = [];
  const seen = new Map<string, number>();
  await streamCsv({
    file,
    newline: sample.newline,
    columns,
    onRows: (rows, firstLine) => {
      for (let i = 0; i < rows.length; i++) {
        const line = firstLine + i;
        const row = rows[i];
        if (hasHeader && line === first.line) continue;
        if (isBlankRow(row)) continue;
        if (row.length !== columns) {
          throw new UserError(`row has ${row.length} columns, expected ${columns}`, {
            where: { file, line, column: Math.min(row.length, columns) + 1 },
            hint: 'Every row of a sample submission is an id and a label.',
          });
        }
        const id = row[idColumn].trim();
        if (id === '') throw new UserError('empty id', { where: { file, line, column: idColumn + 1 }, hint: 'Every test row needs an id.' });
        const earlier = seen.get(id);
        if (earlier !== undefined) {
          throw new UserError(`duplicate id ${shown(id)} (first on line ${earlier})`, {
            where: { file, line, column: idColumn + 1 },
            hint: 'Ids must be unique: each names one test row. Is the file damaged, or two files concatenated?',
          });
        }
        seen.set(id, line);
        ids.push(id);
        idLines.push(line);
      }
    },
  });
  if (ids.length === 0) {
    throw new UserError(`${basename(file)} has a header but no rows`, { where: { file, line: 2 }, hint: 'A sample submission lists each test id.' });
  }
  return { header, headerCells, ids, idLines, idColumn };
}

/** An id of test.csv's id column on two rows: the submission is matched to the rows by id. */
export function checkUniqueTestIds(file: string, ids: readonly string[], lines: readonly number[], column: number): void {
  const seen = new Map<string, number>();
  ids.forEach((id, i) => {
    const first = seen.get(id);
    if (first !== undefined) {
      // (a line number, as where the error points: "row 4" read as the fifth line)
      throw new UserError(`duplicate id ${JSON.stringify(id)} in ${basename(file)} (first on line ${lines[first]})`, {
        where: { file, line: lines[i], column: column + 1 },
        hint: 'Each test row needs an id of its own: the submission is matched to the rows by id.',
      });
    }
    seen.set(id, i);
  });
}

/**
 * test.csv's id column against the sample submission's ids: the same ids in the same order
 * (null), the same ids in another order (for each sample row, the test row holding its id: the
 * rows are put in the sample's order), or other ids: refused, naming the first id missing on
 * each side with its file and line. Until session 39 any other order was refused, at the first
 * row where the two disagreed, with a hint that the files may be from different competitions.
 */
export function sampleOrder(testFile: string, testIds: readonly string[], testLines: readonly number[], idColumn: { column: number; name: string }, sampleFile: string, sample: SampleSubmission): number[] | null {
  const rowOf = new Map(testIds.map((id, i) => [id, i]));
  const inSample = new Set(sample.ids);
  const missing = sample.ids.map((id, i) => ({ id, line: sample.idLines[i]! })).filter(({ id }) => !rowOf.has(id));
  const extra = testIds.map((id, i) => ({ id, line: testLines[i]! })).filter(({ id }) => !inSample.has(id));
  if (missing.length > 0 || extra.length > 0) {
    const test = basename(testFile);
    const sub = basename(sampleFile);
    const parts: string[] = [];
    const few = (list: Array<{ id: string; line: number }>) => `${list.slice(0, 3).map(({ id, line }) => `${JSON.stringify(id)} (line ${line})`).join(', ')}${list.length > 3 ? ` and ${list.length - 3} more` : ''}`;
    if (missing.length > 0) parts.push(`${missing.length === 1 ? 'an id' : `${missing.length} ids`} of ${sub} ${missing.length === 1 ? 'is' : 'are'} missing from ${test}: ${few(missing)}`);
    if (extra.length > 0) parts.push(`${extra.length === 1 ? 'an id' : `${extra.length} ids`} of ${test} ${extra.length === 1 ? 'is' : 'are'} not in ${sub}: ${few(extra)}`);
    const where = extra.length > 0 ? { file: testFile, line: extra[0]!.line, column: idColumn.column + 1 } : { file: sampleFile, line: missing[0]!.line, column: sample.idColumn + 1 };
    // The same numbers written two ways (`27611.0` from a float column, `27611`): said as such,
    // since the files are of one competition and only the writing differs (session 48).
    const asNumber = (id: string) => (id.trim() !== '' && Number.isFinite(Number(id)) ? Number(id) : null);
    const missingNumbers = new Set(missing.map(({ id }) => asNumber(id)));
    const sameNumbers = extra.length > 0 && extra.length === missing.length && extra.every(({ id }) => asNumber(id) !== null && missingNumbers.has(asNumber(id)));
    throw new UserError(`${test}'s id column (${JSON.stringify(idColumn.name)}) and ${sub} list different test ids: ${parts.join('; ')}`, {
      where,
      hint: sameNumbers
        ? `They are the same numbers written two ways (${JSON.stringify(extra[0]!.id)} in ${test}, ${JSON.stringify(testIdOf(missing, extra[0]!.id, asNumber))} in ${sub}): write the ids the same way in both files (as whole numbers, e.g. an integer column in pandas), then import again.`
        : `Both files must list the same test ids (in any order: the submission follows ${sub}'s); check both come from the same competition and are complete.`,
    });
  }
  const order = sample.ids.map((id) => rowOf.get(id)!);
  return order.every((row, i) => row === i) ? null : order;
}

/** The id among `missing` that is the same number as `id`. */
function testIdOf(missing: ReadonlyArray<{ id: string }>, id: string, asNumber: (id: string) => number | null): string {
  return missing.find((m) => asNumber(m.id) === asNumber(id))!.id;
}

/**
 * Rewrites a file of fixed-size rows so that its row i holds the old row `order[i]` (test rows
 * put in the sample submission's order), through `scratch` and a rename, a chunk of rows in
 * memory at a time; returns the sha256 of the new bytes.
 */
export function reorderRows(file: string, rowBytes: number, order: readonly number[], scratch: string): string {
  const hash = createHash('sha256');
  const chunkRows = Math.max(1, Math.floor((1 << 20) / rowBytes));
  const chunk = new Uint8Array(chunkRows * rowBytes);
  const input = openSync(file, 'r');
  try {
    const output = openSync(scratch, 'w');
    try {
      for (let start = 0; start < order.length; start += chunkRows) {
        const count = Math.min(chunkRows, order.length - start);
        for (let i = 0; i < count; i++) {
          const read = readSync(input, chunk, i * rowBytes, rowBytes, order[start + i]! * rowBytes);
          if (read !== rowBytes) throw new Error(`reorderRows: row ${order[start + i]} of ${file} is short (${read} of ${rowBytes} bytes)`);
        }
        const bytes = chunk.subarray(0, count * rowBytes);
        try {
          writeSync(output, bytes);
        } catch (error) {
          throw namingFile(error, file);
        }
        hash.update(bytes);
      }
    } finally {
      closeSync(output);
    }
    renameSync(scratch, file);
  } catch (error) {
    rmSync(scratch, { force: true });
    throw error;
  } finally {
    closeSync(input);
  }
  return hash.digest('hex');
}

const SAMPLE_SUBMISSION = /^sample[_-]?submission.*\.csv$/i;

/**
 * The sample submission among a folder's files: `sample_submission.csv` itself when it is there,
 * else the one file named like it (`sampleSubmission.csv`, `sample_submission_v2.csv`); several
 * such files and none of that name are refused, naming them: the first in sorted order had been
 * taken, so a `sample_submission (1).csv` beside the real one won without a word.
 */
export function sampleSubmissionIn(folder: string, names: readonly string[], train: string, test: string | undefined): string | undefined {
  const exact = names.find((name) => name.toLowerCase() === 'sample_submission.csv');
  if (exact) return exact;
  const like = names.filter((name) => SAMPLE_SUBMISSION.test(name)).sort();
  if (like.length <= 1) return like[0];
  throw new UserError(`${like.length} files in ${folder} look like the sample submission (${like.join(', ')}), and none is named sample_submission.csv`, {
    where: { file: folder },
    hint: `Name the files: digits data import ${[train, test ?? 'test.csv', like[0]!].map((name) => shellArg(join(folder, name))).join(' ')} (or rename the one to use to sample_submission.csv).`,
  });
}


/** Whether every id comes after the one before it: as numbers when both are numbers (2 before 10), else as text. */
export function increasing(ids: readonly string[]): boolean {
  const numeric = /^[+-]?\d+(\.\d+)?$/;
  for (let i = 1; i < ids.length; i++) {
    const [a, b] = [ids[i - 1]!, ids[i]!];
    const after = numeric.test(a) && numeric.test(b) ? Number(b) > Number(a) : b > a;
    if (!after) return false;
  }
  return true;
}


/** Whether the ids are 1 … n, each once, written as plain whole numbers. */
export function isPermutationOfRowNumbers(ids: readonly string[]): boolean {
  const seen = new Uint8Array(ids.length + 1);
  for (const id of ids) {
    if (!/^[1-9]\d*$/.test(id)) return false;
    const n = Number(id);
    if (n > ids.length || seen[n]) return false;
    seen[n] = 1;
  }
  return true;
}

