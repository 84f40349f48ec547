/**
 * Layout detection for competition CSVs, from the first rows of each file: header or not,
 * which column is the label, pixel scale, image size, whether test carries labels. Every
 * answer says how it was decided; every answer can be forced with an override (a flag).
 * The streaming pass then checks every row against what was decided here.
 */
import { basename } from 'node:path';
import { UserError } from '../errors.js';
import { type CsvSample, type CsvSampleRow, parseDecimalCell } from './csv.js';
import type { Detection, PixelScale, ScaleDetection, TableDetections } from './dataset.js';

export interface LayoutOverrides {
  header?: boolean;
  /** 'first', 'last' or a header name. */
  labelColumn?: string;
  scale?: PixelScale;
  size?: number;
}

export interface TrainLayout extends TableDetections {
  label: Detection<{ column: number; name: string | null }>;
  /** A column of row ids (a header naming it `id` or `ImageId`, as test.csv's), skipped; null when none. */
  idColumn: { column: number; name: string } | null;
  pixels: number;
  scale: ScaleDetection;
  size: Detection<number>;
  /** The CSV column of each pixel, in the order train.csv stores them (the label skipped). */
  pixelColumns: number[];
  /** Line of the first data row. */
  firstDataLine: number;
}

export function isNumericCell(cell: string): boolean {
  const text = cell.trim();
  return text !== '' && Number.isFinite(parseDecimalCell(text));
}

const LABEL_NAMES = new Set(['label', 'labels']);

function quote(cell: string): string {
  return JSON.stringify(cell.length > 24 ? `${cell.slice(0, 24)}…` : cell);
}

function emptyFile(file: string, what: string): UserError {
  return new UserError(`${basename(file)} ${what}`, {
    where: { file, line: 1 },
    hint: 'Check that the download finished; a competition CSV has one image per line.',
  });
}

/** Header or not: forced, or a first row with any non-numeric cell (or 0,1,2,… column numbers). */
function detectHeader(sample: CsvSample, file: string, forced: boolean | undefined): Detection<boolean> {
  const first = sample.rows[0];
  if (!first) throw emptyFile(file, 'is empty');
  const text = first.cells.find((cell) => !isNumericCell(cell));
  // --no-header on a file whose first row has no number at all: that row is a header, and reading
  // it as pixels would fail later with a puzzling error about the label column.
  if (forced === false && first.cells.length > 1 && first.cells.every((cell) => !isNumericCell(cell))) {
    throw new UserError(`--no-header, but the first row of ${basename(file)} is all text (${first.cells.slice(0, 3).map(quote).join(', ')}, …): a header`, {
      where: { file, line: 1, flag: 'no-header' },
      hint: 'Leave --no-header out (a header is detected), or give --header.',
    });
  }
  if (forced !== undefined) return { value: forced, how: 'flag', reason: forced ? '--header' : '--no-header' };
  if (text !== undefined) return { value: true, how: 'detected', reason: `the first row has text (${quote(text)})` };
  if (first.cells.length > 2 && first.cells.every((cell, i) => Number(cell) === i) && sample.rows.length > 1) {
    return { value: true, how: 'detected', reason: 'the first row numbers the columns 0, 1, 2, … (a pandas header)' };
  }
  return { value: false, how: 'detected', reason: 'the first row is all numbers' };
}

function dataRows(sample: CsvSample, header: boolean): CsvSampleRow[] {
  return header ? sample.rows.slice(1) : sample.rows;
}

/**
 * What an extra column most likely is, when a file has one more column than its images need:
 * the two a Kaggler's own CSV writing leaves (the file is refused either way, with what to do).
 * - every line ending with a comma: a last column empty in every sampled row;
 * - pandas' `to_csv` with its default `index=True`: a first column with no name (or none) that
 *   numbers the rows 0, 1, 2, ….
 */
export function extraColumnCause(rows: CsvSampleRow[], headerCells: string[] | null): string | null {
  if (rows.length === 0) return null;
  const width = rows[0]!.cells.length;
  const last = width - 1;
  if (width > 1 && (!headerCells || headerCells[last]?.trim() === '') && rows.every((row) => (row.cells[last] ?? '').trim() === '')) {
    return `its last column is empty in every row (each line ends with a comma): remove the trailing commas`;
  }
  const numbersRows = rows.every((row, i) => (row.cells[0] ?? '').trim() === String(i) || (row.cells[0] ?? '').trim() === String(i + 1));
  if (width > 1 && (!headerCells || headerCells[0]?.trim() === '') && numbersRows) {
    return `its first column has no name and numbers the rows (pandas' index, written by to_csv's default): save the file again with index=False, or remove that column`;
  }
  return null;
}

/** Whether every sampled value of `column` is an integer 0–9, and how many distinct ones. */
function labelLike(rows: CsvSampleRow[], column: number): { ok: boolean; distinct: number } {
  const seen = new Set<number>();
  for (const row of rows) {
    const value = Number(row.cells[column]);
    if (row.cells[column] === undefined || !Number.isInteger(value) || value < 0 || value > 9 || row.cells[column].trim() === '') {
      return { ok: false, distinct: 0 };
    }
    seen.add(value);
  }
  return { ok: rows.length > 0, distinct: seen.size };
}

/** Header names (lower case) of a column holding the rows' ids, in test.csv or train.csv. */
const ID_COLUMN_NAMES = ['id', 'imageid'];

/** The column whose header names the rows' ids (`id`, `ImageId`, any case), or -1: test.csv's and train.csv's alike. */
function findIdColumn(headerCells: string[]): number {
  return headerCells.findIndex((cell) => ID_COLUMN_NAMES.includes(cell.trim().toLowerCase()));
}

function findNamed(headerCells: string[], name: string): number {
  const exact = headerCells.indexOf(name);
  if (exact !== -1) return exact;
  const lower = name.toLowerCase();
  return headerCells.findIndex((cell) => cell.trim().toLowerCase() === lower);
}

function detectLabel(
  file: string,
  rows: CsvSampleRow[],
  columns: number,
  headerCells: string[] | null,
  forced: string | undefined,
  /** columns that are neither label nor pixels (an id column) */
  others = 0,
): Detection<{ column: number; name: string | null }> {
  const nameOf = (column: number) => (headerCells ? headerCells[column] : null);
  if (forced !== undefined) {
    if (forced === 'first') return { value: { column: 0, name: nameOf(0) }, how: 'flag', reason: '--label-column first' };
    if (forced === 'last') return { value: { column: columns - 1, name: nameOf(columns - 1) }, how: 'flag', reason: '--label-column last' };
    if (!headerCells) {
      throw new UserError(`--label-column ${forced} names a column, but ${basename(file)} has no header`, {
        where: { flag: 'label-column', file },
        hint: 'Use --label-column first or --label-column last, or --header if the first row is a header.',
      });
    }
    const column = findNamed(headerCells, forced);
    if (column === -1) {
      throw new UserError(`${basename(file)} has no column named ${quote(forced)}`, {
        where: { flag: 'label-column', file, line: 1 },
        hint: `Its header starts ${headerCells.slice(0, 4).map(quote).join(', ')}; or use --label-column first|last.`,
      });
    }
    return { value: { column, name: headerCells[column] }, how: 'flag', reason: `--label-column ${forced}` };
  }
  if (headerCells) {
    const column = headerCells.findIndex((cell) => LABEL_NAMES.has(cell.trim().toLowerCase()));
    if (column !== -1) return { value: { column, name: headerCells[column] }, how: 'detected', reason: `the column is named ${quote(headerCells[column])}` };
  }
  // n × n columns are a whole image and no label: a test file given where the training file goes
  // (it was "both columns look like labels", and --label-column then blamed an id column).
  const side = Math.round(Math.sqrt(columns - others));
  if (side >= 4 && side * side === columns - others) {
    throw new UserError(`${basename(file)} has ${columns} columns, the ${side}×${side} pixels of an image${others > 0 ? ' and an id column' : ''} and no label column: it looks like a test file`, {
      where: { file, line: rows[0]?.line },
      hint: `Give the training file (a label and ${columns - others} pixel columns) first, then the test file: digits data import train.csv test.csv, or the competition's folder.`,
    });
  }
  const first = labelLike(rows, 0);
  const last = labelLike(rows, columns - 1);
  const describe = (which: string, stats: { distinct: number }) =>
    `the ${which} column holds integers 0–9 (${stats.distinct} distinct in ${rows.length} rows)`;
  let pick: 'first' | 'last' | null = null;
  if (first.ok && !last.ok) pick = 'first';
  else if (last.ok && !first.ok) pick = 'last';
  else if (first.ok && last.ok && first.distinct !== last.distinct) pick = first.distinct > last.distinct ? 'first' : 'last';
  if (pick === null) {
    const why = first.ok ? 'both the first and the last column look like labels' : 'neither the first nor the last column holds only integers 0–9';
    throw new UserError(`cannot tell which column of ${basename(file)} is the label: ${why}`, {
      where: { file, line: rows[0]?.line },
      hint: 'Say which with --label-column first, --label-column last or --label-column <header name>.',
    });
  }
  const column = pick === 'first' ? 0 : columns - 1;
  const other = pick === 'first' ? last : first;
  const otherWhich = pick === 'first' ? 'last' : 'first';
  const versus = other.ok ? `, the ${otherWhich} only ${other.distinct}` : `; the ${otherWhich} does not`;
  return { value: { column, name: nameOf(column) }, how: 'detected', reason: `${describe(pick, pick === 'first' ? first : last)}${versus}` };
}

function detectScale(file: string, rows: CsvSampleRow[], skipped: ReadonlySet<number>, forced: PixelScale | undefined): ScaleDetection {
  if (forced !== undefined) return { value: forced, how: 'flag', reason: `--scale ${forced}` };
  let max = -Infinity;
  // The first cell above 1 and the first fraction, with how many of each: a file with both
  // fits neither scale (0–255 is whole numbers), and the rarer kind is the likely mistake.
  type Cell = { value: number; line: number; column: number; count: number };
  let above = null as Cell | null;
  let fraction = null as Cell | null;
  let fractionAbove1 = null as Cell | null;
  for (const row of rows) {
    for (let c = 0; c < row.cells.length; c++) {
      if (skipped.has(c)) continue; // the label, an id column
      const value = Number(row.cells[c]);
      if (!Number.isFinite(value)) continue; // the full pass reports it with its place
      if (value > max) max = value;
      if (value > 1) {
        if (above) above.count++;
        else above = { value, line: row.line, column: c + 1, count: 1 };
      }
      if (!Number.isInteger(value) && value > 1) {
        if (fractionAbove1) fractionAbove1.count++;
        else fractionAbove1 = { value, line: row.line, column: c + 1, count: 1 };
      }
      if (!Number.isInteger(value)) {
        if (fraction) fraction.count++;
        else fraction = { value, line: row.line, column: c + 1, count: 1 };
      }
    }
  }
  // 0–255 with fractions throughout (a resize, a mean), not a few stray cells: read as floats
  // and divided by 255 (they were refused; before that, --scale 1 and 255 each refused them,
  // the hint sending the user from one to the other).
  if (above && fraction && max <= 255 && fractionAbove1 && fractionAbove1.count >= 10 && fractionAbove1.count >= above.count / 100) {
    return {
      value: 1,
      how: 'detected',
      reason: `pixel values from 0 to 255 with fractions (${fractionAbove1.count} above 1, the first ${fractionAbove1.value} at line ${fractionAbove1.line}, column ${fractionAbove1.column}, in the first ${rows.length} rows of ${basename(file)}): read as floats divided by 255`,
      divideBy: 255,
    };
  }
  if (above && fraction) {
    const [odd, kind] = above.count <= fraction.count ? [above, 'above 1'] : [fraction, 'a fraction'];
    throw new UserError(
      `${basename(file)} mixes fractions (${fraction.count} in the first ${rows.length} rows, the first ${fraction.value} at line ${fraction.line}, column ${fraction.column}) with values above 1 (${above.count}, the first ${above.value} at line ${above.line}, column ${above.column}): pixels are either in [0, 1] or whole numbers 0–255; ${odd.value} is ${kind}`,
      { where: { file, line: odd.line, column: odd.column }, hint: 'Fix the cells that do not fit, or say the scale with --scale 1 or --scale 255 and the import names every cell outside it.' },
    );
  }
  if (max > 1) return { value: 255, how: 'detected', reason: `whole-number pixel values above 1 (up to ${max}) in the first ${rows.length} rows of ${basename(file)}` };
  return { value: 1, how: 'detected', reason: `pixel values within [0, 1] in the first ${rows.length} rows of ${basename(file)}` };
}

/**
 * Pixel columns whose header names do not follow the pixels' own naming (`pixel12` is `pixel#`,
 * and most columns are named so): the likely extra columns of a count that is not square.
 */
function oddlyNamedColumns(headerCells: string[] | null, pixelColumns: readonly number[]): number[] {
  if (!headerCells) return [];
  const form = (column: number) => (headerCells[column] ?? '').trim().toLowerCase().replace(/\d+/g, '#');
  const counts = new Map<string, number>();
  for (const column of pixelColumns) counts.set(form(column), (counts.get(form(column)) ?? 0) + 1);
  const [common, count] = [...counts].reduce((best, entry) => (entry[1] > best[1] ? entry : best), ['', 0] as [string, number]);
  if (count * 2 <= pixelColumns.length) return [];
  return pixelColumns.filter((column) => form(column) !== common);
}

function detectSize(file: string, pixels: number, forced: number | undefined, headerCells: string[] | null = null, pixelColumns: readonly number[] = []): Detection<number> {
  const side = Math.round(Math.sqrt(pixels));
  if (forced !== undefined) {
    if (forced * forced !== pixels) {
      throw new UserError(`--size ${forced} means ${forced * forced} pixels per image, but ${basename(file)} has ${pixels} pixel columns`, {
        where: { flag: 'size', file, line: 1 },
        hint: side * side === pixels ? `Its images are ${side}×${side}; drop --size or use --size ${side}.` : 'Check the label column and the file.',
      });
    }
    return { value: forced, how: 'flag', reason: `--size ${forced}` };
  }
  if (side * side !== pixels || pixels === 0) {
    // The extra columns named, with their numbers (it was "an extra id column is not supported",
    // and an id column named so is skipped since session 39)
    const odd = oddlyNamedColumns(headerCells, pixelColumns);
    const below = Math.floor(Math.sqrt(pixels));
    const named = odd.slice(0, 5).map((column) => `${column + 1} ${quote(headerCells![column]!)}`).join(', ') + (odd.length > 5 ? ` and ${odd.length - 5} more` : '');
    const square = (n: number) => Math.round(Math.sqrt(n)) ** 2 === n && n > 0;
    const what = odd.length > 0
      ? `: ${odd.length === 1 ? 'column' : 'columns'} ${named} ${odd.length === 1 ? 'is' : 'are'} not named like the pixels (${quote(headerCells![pixelColumns.find((c) => !odd.includes(c)) ?? pixelColumns[0]!]!)} …)${square(pixels - odd.length) ? `; without ${odd.length === 1 ? 'it' : 'them'} ${pixels - odd.length} = ${Math.round(Math.sqrt(pixels - odd.length))}×${Math.round(Math.sqrt(pixels - odd.length))}` : ''}`
      : below > 0 ? `: ${pixels - below * below} more than ${below}×${below} (${below * below})` : '';
    throw new UserError(`${basename(file)} has ${pixels} pixel columns besides the label, which is not a square image${what}`, {
      where: { file, line: 1 },
      hint: odd.length > 0
        ? `Remove ${odd.length === 1 ? 'that column' : 'those columns'} (column ${odd.map((column) => column + 1).join(', ')}), then import again; a column of row ids is skipped when its header names it id or ImageId.`
        : 'Square images need n×n pixel columns (784 for 28×28): remove the extra columns, then import again; a column of row ids is skipped when its header names it id or ImageId.',
    });
  }
  return { value: side, how: 'detected', reason: `${pixels} pixel columns = ${side}×${side}` };
}

/** Detects the layout of train.csv from its first rows. */
export function detectTrainLayout(file: string, sample: CsvSample, overrides: LayoutOverrides): TrainLayout {
  const header = detectHeader(sample, file, overrides.header);
  const rows = dataRows(sample, header.value);
  if (rows.length === 0) throw emptyFile(file, 'has a header but no data rows');
  const firstRow = sample.rows[0];
  const columns = firstRow.cells.length;
  if (columns < 2) {
    // (a semicolon or tab between the numbers is another separator, said as such)
    const separator = [';', '\t', '|'].find((c) => (firstRow.cells[0] ?? '').split(c).length > 2);
    const named = separator === '\t' ? 'tabs' : separator ? `"${separator}"` : undefined;
    throw new UserError(`${basename(file)} has ${columns} column${named ? `: its cells are separated by ${named}` : ''}; training data needs a label and pixel columns`, {
      where: { file, line: firstRow.line },
      hint: named ? `Cells must be separated by commas: save the file as CSV with commas (e.g. pandas: pd.read_csv(f, sep=${separator === '\t' ? "'\\t'" : `'${separator}'`}).to_csv(f, index=False)).` : 'Cells must be separated by commas.',
    });
  }
  const consistent = rows.filter((row) => row.cells.length === columns);
  const headerCells = header.value ? firstRow.cells.map((cell) => cell.trim()) : null;
  // A column of row ids, found as test.csv's is (by its header name), is skipped: Kaggle-style
  // `id,label,pixel0,…` was refused as "not a square image" until session 39
  const idAt = headerCells ? findIdColumn(headerCells) : -1;
  const label = detectLabel(file, consistent, columns, headerCells, overrides.labelColumn, idAt === -1 ? 0 : 1);
  const idColumn = idAt !== -1 && idAt !== label.value.column ? { column: idAt, name: headerCells![idAt]! } : null;
  const pixels = columns - 1 - (idColumn ? 1 : 0);
  const pixelColumns = Array.from({ length: columns }, (_, c) => c).filter((c) => c !== label.value.column && c !== idColumn?.column);
  const side = Math.round(Math.sqrt(pixels - 1));
  if (overrides.size === undefined && side * side === pixels - 1) {
    const cause = extraColumnCause(rows, headerCells);
    if (cause) throw new UserError(`${basename(file)} has ${pixels} columns besides the label, one more than ${side}×${side} images need: ${cause}`, { where: { file, line: firstRow.line }, hint: `Keep the label and the ${pixels - 1} pixel columns only, then import again.` });
  }
  return {
    file,
    rows: 0,
    columns,
    header,
    headerCells,
    label,
    idColumn,
    pixels,
    scale: detectScale(file, consistent, new Set([label.value.column, ...(idColumn ? [idColumn.column] : [])]), overrides.scale),
    size: detectSize(file, pixels, overrides.size, headerCells, pixelColumns),
    pixelColumns,
    firstDataLine: rows[0].line,
  };
}

export interface TestLayout extends TableDetections {
  /** The CSV column of each of train.csv's pixels (by header name when both files name them). */
  pixelColumns: number[];
  /** A column of row ids (`id`, `ImageId`: Kannada-MNIST's test.csv has one), with its header name; null when none. */
  idColumn: { column: number; name: string } | null;
  /** How the pixel columns were matched to train.csv's, in words. */
  pixelsBy: string;
  firstDataLine: number;
}

/**
 * Test's pixel columns in train's order. When both files have a header naming every pixel
 * column once, the names decide (a test.csv saved with its columns in another order, pixel783
 * first, used to be read by position: a near-random submission and no warning); when the
 * two headers share only some names, the files disagree and test.csv is refused at line 1.
 * Otherwise (no header, or names that are not unique) the columns are taken by position.
 */
function matchPixelColumns(file: string, train: TrainLayout, headerCells: string[] | null, candidates: number[], headerLine: number): { columns: number[]; by: string } {
  const byPosition = { columns: candidates, by: 'by position' };
  const trainCells = train.headerCells;
  if (!trainCells || !headerCells) return byPosition;
  // A pandas header numbers the columns (0, 1, 2, …): positions, not pixel names.
  const numbersColumns = (cells: string[]) => cells.every((cell, i) => cell.trim() !== '' && Number(cell) === i);
  if (numbersColumns(trainCells) || numbersColumns(headerCells)) return byPosition;
  const trainNames = train.pixelColumns.map((c) => trainCells[c]!.trim());
  const testNames = candidates.map((c) => headerCells[c]!.trim());
  const unique = (names: string[]) => names.every((name) => name !== '') && new Set(names).size === names.length;
  if (!unique(trainNames) || !unique(testNames)) return byPosition;
  const where = new Map(testNames.map((name, i) => [name, candidates[i]!]));
  const missing = trainNames.filter((name) => !where.has(name));
  if (missing.length === trainNames.length) return byPosition; // two naming schemes: nothing to match by
  if (missing.length > 0) {
    const extra = testNames.filter((name) => !trainNames.includes(name));
    throw new UserError(`${basename(file)}'s header does not name the same pixel columns as ${basename(train.file)}'s: it lacks ${missing.slice(0, 3).map(quote).join(', ')}${missing.length > 3 ? ` and ${missing.length - 3} more` : ''} and has ${extra.slice(0, 3).map(quote).join(', ')}${extra.length > 3 ? ` and ${extra.length - 3} more` : ''}`, {
      where: { file, line: headerLine },
      hint: `Both files must name the same ${trainNames.length} pixel columns (columns are matched by name); check they come from the same competition, or give test.csv the header of train.csv (without the label) if its columns are in the same order.`,
    });
  }
  const columns = trainNames.map((name) => where.get(name)!);
  const moved = columns.filter((c, i) => c !== candidates[i]).length;
  return { columns, by: moved === 0 ? 'by header name (in the same order as train.csv)' : `by header name (${moved} of ${columns.length} in another order than train.csv's)` };
}

/** Detects the layout of test.csv given train's: same width means it carries labels. */
export function detectTestLayout(file: string, sample: CsvSample, train: TrainLayout, overrides: LayoutOverrides): TestLayout {
  const header = detectHeader(sample, file, overrides.header);
  const rows = dataRows(sample, header.value);
  if (rows.length === 0) throw emptyFile(file, 'has a header but no data rows');
  const columns = sample.rows[0].cells.length;
  const headerCells = header.value ? sample.rows[0].cells.map((cell) => cell.trim()) : null;
  let label: TableDetections['label'];
  let idColumn: TestLayout['idColumn'] = null;
  if (columns === train.pixels) {
    label = { value: null, how: 'detected', reason: `${columns} columns = pixels only` };
  } else if (columns === train.pixels + 1) {
    // (by position: train's label column among its columns other than an id column)
    let column = train.label.value.column - (train.idColumn && train.idColumn.column < train.label.value.column ? 1 : 0);
    // Without names, a first column counting the rows past 9 cannot be labels: pandas' index
    const cause = headerCells ? null : rows.length > 10 ? extraColumnCause(rows, null) : null;
    if (cause) throw new UserError(`${basename(file)} rows have ${columns} columns, one more than train.csv's ${train.pixels} pixels: ${cause}`, { where: { file, line: sample.rows[0].line }, hint: `Keep the ${train.pixels} pixel columns, then import again.` });
    if (headerCells && train.label.value.name !== null) {
      const named = findNamed(headerCells, train.label.value.name);
      // One column besides the pixels and no label: an id column where it is named so (test.csv
      // of Kannada-MNIST: id,pixel0,…; it was refused as "not supported", with nothing to do)
      const id = named === -1 ? findIdColumn(headerCells) : -1;
      if (id !== -1) idColumn = { column: id, name: headerCells[id]!.trim() };
      else if (named === -1) {
        const cause = extraColumnCause(rows, headerCells);
        if (cause) throw new UserError(`${basename(file)} rows have ${columns} columns, one more than train.csv's ${train.pixels} pixels: ${cause}`, { where: { file, line: sample.rows[0].line }, hint: `Keep the ${train.pixels} pixel columns (and an id column if it has one, named id or ImageId), then import again.` });
        throw new UserError(`${basename(file)} has ${columns} columns like train.csv but no ${quote(train.label.value.name)} column, nor an id column`, {
          where: { file, line: sample.rows[0].line },
          hint: `A test file holds the pixel columns, and besides them either the label like train.csv or the rows' ids in a column named ${ID_COLUMN_NAMES.map(quote).join(' or ')}; name its extra column so, or remove it.`,
        });
      }
      column = named;
    }
    label = idColumn ? { value: null, how: 'detected', reason: `${columns} columns: the pixels and the rows' ids (column ${quote(idColumn.name)})` } : { value: { column, name: headerCells ? headerCells[column] : null }, how: 'detected', reason: `${columns} columns, as many as train.csv: it carries labels` };
  } else {
    throw new UserError(`${basename(file)} rows have ${columns} columns, but train.csv has ${train.pixels} pixels (+1 label)`, {
      where: { file, line: sample.rows[0].line },
      hint: `Test rows need ${train.pixels} pixel columns (or ${train.pixels + 1} with labels or ids); check both files come from the same competition.`,
    });
  }
  const other = label.value?.column ?? idColumn?.column ?? null;
  const candidates = Array.from({ length: columns }, (_, c) => c).filter((c) => c !== other);
  const pixels = matchPixelColumns(file, train, headerCells, candidates, sample.rows[0].line);
  return { file, rows: 0, columns, header, headerCells, label, idColumn, pixelColumns: pixels.columns, pixelsBy: pixels.by, firstDataLine: rows[0].line };
}
