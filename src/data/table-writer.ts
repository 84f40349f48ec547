/**
 * The import's row writer: streams a CSV table's rows into the dataset cache's typed-array
 * files (images, and labels for the training table), checking every cell where it stands
 * (file, line, column) and hashing what it writes. `import.ts` decides the layout and commits;
 * this file only checks and writes rows.
 */
import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import { closeSync, openSync, writeSync } from 'node:fs';
import { namingFile } from '../atomic-file.js';
import { UserError } from '../errors.js';
import { isBlankRow, parseDecimalCell } from './csv.js';
import type { PixelDtype, ScaleDetection } from './dataset.js';
import { type Orientation, orientationGather } from './orientation.js';

interface TableSpec {
  file: string;
  columns: number;
  /** Line of the header, skipped; null when none. */
  headerLine: number | null;
  /** For each output pixel, the CSV column it is read from (label and orientation folded in). */
  sourceColumn: Int32Array;
  labelColumn: number | null;
  /** A column of row ids to collect (`ids`), or none. */
  idColumn?: number | null;
  /** Store 255 − v (1 − v for floats): the competition draws dark digits on a light background (ink.ts). */
  invert?: boolean;
  dtype: PixelDtype;
  imagesPath: string;
  labelsPath: string | null;
  /** Why pixels are read at this scale, for error hints. */
  scaleReason: ScaleDetection;
  /** The file the scale was detected from (train.csv), when it is not this one. */
  scaleFile?: string;
  labelReason: string;
  /** The labels are test.csv's, which a competition may leave out (or fill with dummy values). */
  optionalLabels?: boolean;
}

export function shown(cell: string): string {
  return JSON.stringify(cell.length > 20 ? `${cell.slice(0, 20)}…` : cell);
}

/** Streams rows into an images file (and a labels file), checking every cell. */
export class TableWriter {
  rows = 0;
  readonly classCounts = new Array<number>(10).fill(0);
  /** The rows' ids, in row order, when the table has an id column. */
  readonly ids: string[] = [];
  /** The CSV line of each of `ids`. */
  readonly idLines: number[] = [];
  private readonly imagesFd: number;
  private readonly labelsFd: number | null;
  private readonly imagesHash = createHash('sha256');
  private readonly labelsHash = createHash('sha256');
  private readonly pixels: number;

  /** cells in a row */
  get columns(): number {
    return this.spec.columns;
  }

  constructor(private readonly spec: TableSpec) {
    this.pixels = spec.sourceColumn.length;
    this.imagesFd = openSync(spec.imagesPath, 'w');
    this.labelsFd = spec.labelsPath ? openSync(spec.labelsPath, 'w') : null;
  }

  consume(rows: string[][], firstLine: number): void {
    const { spec, pixels } = this;
    const count = rows.length;
    const images = spec.dtype === 'uint8' ? new Uint8Array(count * pixels) : new Float32Array(count * pixels);
    const labels = new Uint8Array(count);
    let kept = 0;
    for (let i = 0; i < count; i++) {
      const row = rows[i];
      const line = firstLine + i;
      if (line === spec.headerLine) continue;
      if (row.length !== spec.columns) {
        if (isBlankRow(row)) continue;
        throw this.ragged(row, line);
      }
      const base = kept * pixels;
      const bad = images instanceof Uint8Array ? readIntegerPixels(row, spec.sourceColumn, images, base) : readUnitPixels(row, spec.sourceColumn, images, base, spec.scaleReason.divideBy ?? 1);
      if (bad !== -1) throw this.badPixel(row[bad], line, bad);
      if (spec.invert) {
        const top = images instanceof Uint8Array ? 255 : 1;
        for (let p = base; p < base + pixels; p++) images[p] = top - images[p];
      }
      if (spec.idColumn != null) {
        const id = row[spec.idColumn]!.trim();
        if (id === '') throw new UserError('empty id', { where: { file: spec.file, line, column: spec.idColumn + 1 }, hint: 'Every test row needs its id.' });
        this.ids.push(id);
        this.idLines.push(line);
      }
      if (spec.labelColumn !== null) {
        const cell = row[spec.labelColumn];
        // A label is a plain decimal (as for pixels) holding a whole number: `7`, ` 7 ` and `7.0` (seed 002's files) are 7; `0x5` is refused.
        const value = parseDecimalCell(cell);
        if (!(value >= 0 && value <= 9 && Math.floor(value) === value)) throw this.badLabel(cell, line);
        labels[kept] = value;
        this.classCounts[value]++;
      }
      kept++;
    }
    if (kept === 0) return;
    const bytes = new Uint8Array(images.buffer, 0, kept * pixels * images.BYTES_PER_ELEMENT);
    try {
      writeSync(this.imagesFd, bytes);
    } catch (error) {
      throw namingFile(error, spec.imagesPath);
    }
    this.imagesHash.update(bytes);
    if (this.labelsFd !== null) {
      const labelBytes = labels.subarray(0, kept);
      try {
        writeSync(this.labelsFd, labelBytes);
      } catch (error) {
        throw namingFile(error, spec.labelsPath!);
      }
      this.labelsHash.update(labelBytes);
    }
    this.rows += kept;
  }

  /** Closes the files and returns their hashes. */
  finish(): { images: string; labels: string | null } {
    this.close();
    return { images: this.imagesHash.digest('hex'), labels: this.labelsFd === null ? null : this.labelsHash.digest('hex') };
  }

  close(): void {
    closeQuietly(this.imagesFd);
    if (this.labelsFd !== null) closeQuietly(this.labelsFd);
  }

  private ragged(row: string[], line: number): UserError {
    const { spec } = this;
    return new UserError(`row has ${row.length} column${row.length === 1 ? '' : 's'}, expected ${spec.columns}`, {
      where: { file: spec.file, line, column: Math.min(row.length, spec.columns) + 1 },
      hint: 'Every row needs as many cells as the first one: a truncated download, a stray comma or a missing value?',
    });
  }

  private badPixel(cell: string, line: number, column: number): UserError {
    const { spec } = this;
    const where = { file: spec.file, line, column: column + 1 };
    const text = cell.trim();
    if (text === '') return new UserError('empty pixel cell', { where, hint: 'Fill in missing pixels before importing (0 is background).' });
    const value = parseDecimalCell(text);
    if (!Number.isFinite(value)) {
      return new UserError(`pixel cell is not a number: ${shown(cell)}`, {
        where,
        hint: 'Pixel cells must be plain decimal numbers, as Python\'s float() reads them (12, 0.5, 1e2); hex (0x10), NaN, infinity and text are not read.',
      });
    }
    const range = spec.dtype === 'uint8' ? 'integers 0–255' : spec.scaleReason.divideBy ? 'numbers in [0, 255]' : 'numbers in [0, 1]';
    if (spec.scaleFile && spec.scaleReason.how === 'detected') {
      // test.csv on another scale than train.csv: "this file" was the wrong file to blame.
      const other = basename(spec.scaleFile);
      return new UserError(`pixel value ${text} in ${basename(spec.file)} does not fit the scale of ${other} (${range}): the two files use different pixel scales`, {
        where,
        hint: `${other} was read as ${range} because of ${spec.scaleReason.reason}; both files must use the same scale: rescale ${basename(spec.file)} to ${range}${spec.dtype === 'uint8' ? ' (× 255, rounded, for values in [0, 1])' : ''}.`,
      });
    }
    // A whole number out of 0–255 in 0–255 data is a bad cell, not another scale (--scale 1 was offered for a 300).
    if (spec.dtype === 'uint8' && Number.isInteger(value)) {
      return new UserError(`pixel value ${text} is outside the range of this file (${range})`, {
        where,
        hint: `The file's pixels are integers 0–255, and no pixel of such an image is ${text}: correct that cell (${value > 255 ? 'at most 255' : 'at least 0'}; e.g. clip the column) and import again.`,
      });
    }
    const how = spec.scaleReason.how === 'flag' ? `as you asked (${spec.scaleReason.reason})` : `because of ${spec.scaleReason.reason}`;
    const other = spec.dtype === 'uint8' ? '--scale 1 reads floats in [0, 1]' : '--scale 255 reads integers 0–255';
    return new UserError(`pixel value ${text} is outside the range of this file (${range})`, {
      where,
      hint: `Pixels are read as ${range} ${how}; ${other}. Values of other scales must be rescaled first.`,
    });
  }

  private badLabel(cell: string, line: number): UserError {
    const { spec } = this;
    const where = { file: spec.file, line, column: (spec.labelColumn as number) + 1 };
    const empty = cell.trim() === '';
    const what = empty ? 'empty label cell' : `label ${shown(cell)} is not an integer 0–9`;
    const column = (spec.labelColumn as number) + 1;
    // What to do about the value comes first: the column is usually the right one (until session
    // 48 the hint only said to pick another column, for a label of 10 in a column named label).
    const fix = spec.optionalLabels
      ? `Test labels are optional: if column ${column} holds dummy values rather than the test digits, delete that column from ${basename(spec.file)} and import again`
      : empty
        ? 'Every training row needs its digit: fill it in or delete that row'
        : parseDecimalCell(cell) === 10
          ? 'A label is a digit 0–9: correct that row (a dataset that writes the digit 0 as 10, as SVHN does, needs its labels mapped to 0–9 first)'
          : 'A label is a digit 0–9: correct that row';
    return new UserError(what, {
      where,
      hint: `${fix}. Column ${column} is read as the label (${spec.labelReason}); if that is the wrong column, pick another with --label-column first|last|<name>.`,
    });
  }
}

/** Integer pixels 0–255 (plain decimals, see parseDecimalCell) into uint8; returns the CSV column of the first bad cell, or -1. */
function readIntegerPixels(row: string[], sourceColumn: Int32Array, out: Uint8Array, base: number): number {
  for (let p = 0; p < sourceColumn.length; p++) {
    const column = sourceColumn[p];
    const value = parseDecimalCell(row[column]);
    if (value >= 0 && value <= 255 && (value | 0) === value) {
      out[base + p] = value;
    } else {
      return column;
    }
  }
  return -1;
}

/** Pixels in [0, 1] into float32; returns the CSV column of the first bad cell, or -1. */
/** Floats in [0, divideBy] into [0, 1] (divideBy 255: pixels 0–255 with fractions). */
function readUnitPixels(row: string[], sourceColumn: Int32Array, out: Float32Array, base: number, divideBy: number): number {
  for (let p = 0; p < sourceColumn.length; p++) {
    const column = sourceColumn[p];
    const value = parseDecimalCell(row[column]);
    if (value >= 0 && value <= divideBy) {
      out[base + p] = divideBy === 1 ? value : value / divideBy;
    } else {
      return column;
    }
  }
  return -1;
}

export function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}

/** CSV column for each output pixel: the orientation's gather over the table's pixel columns (in train's stored order). */
export function sourceColumns(size: number, orientation: Orientation, pixelColumns: readonly number[]): Int32Array {
  const gather = orientationGather(size, orientation);
  const columns = new Int32Array(gather.length);
  for (let p = 0; p < gather.length; p++) columns[p] = pixelColumns[gather[p]]!;
  return columns;
}

