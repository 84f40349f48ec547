/**
 * Reading competition CSVs: a cheap look at the first rows (to detect the layout) and a
 * streaming pass through papaparse that hands rows to the importer chunk by chunk, so
 * memory stays bounded however large the file is.
 *
 * papaparse gets text, never raw buffers: its stream reader calls `chunk.toString()` on
 * each buffer, which splits multi-byte UTF-8 characters that straddle two chunks
 * (papaparse issues 751 and 1132). We decode with Node's StringDecoder, which carries the
 * partial character over, and hash the raw bytes on the way for the source fingerprint.
 *
 * The same pass gives up on absurd files at once, before papaparse buffers anything: a NUL
 * byte is "binary data at line N" (a pre-allocating downloader leaves gigabytes of them), and
 * a line longer than the widest row the layout allows is an error naming that line (a 50 MB
 * line would otherwise be buffered whole by papaparse before any check sees it).
 */
import { createHash } from 'node:crypto';
import { createReadStream, fstatSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import Papa from 'papaparse';
import { UserError } from '../errors.js';

export type Newline = '\n' | '\r\n' | '\r';

export interface CsvSampleRow {
  /** 1-based line number in the file. */
  line: number;
  cells: string[];
}

export interface CsvSample {
  /** Non-blank rows from the start of the file (the header, if any, included). */
  rows: CsvSampleRow[];
  newline: Newline;
  /** Bytes in the file. */
  size: number;
  /** True when the sample stopped before the end of the file. */
  truncated: boolean;
}

const UTF8_BOM = '\ufeff';

/**
 * Characters one cell may take in the widest row we accept: far more than any number a CSV
 * writer makes ("0.12345678901234567" is 19) or a header name, and it keeps the longest
 * allowed line within a few hundred kilobytes for 28×28 and 64×64 images.
 */
export const MAX_CELL_CHARS = 64;

/** The longest line a row of `columns` cells can be: every cell at its widest, commas and a CRLF. */
export function widestRow(columns: number): number {
  return columns * (MAX_CELL_CHARS + 1) + 2;
}

/** Lines longer than this in the detection sample (before the layout is known) are refused. */
const MAX_SAMPLE_LINE = 1 << 20;

function binaryData(file: string, line: number): UserError {
  return new UserError(`binary data at line ${line}: ${basename(file)} holds NUL bytes, so it is not a CSV text file`, {
    where: { file, line },
    hint: 'Is the download unfinished (a pre-allocating downloader fills the rest with zero bytes) or is it an archive? Download the file again, or unpack it first.',
  });
}

export type ArchiveKind = 'gzip' | 'zip' | 'bzip2' | 'xz' | '7z';

/** The compressed format a file's first bytes announce, or null. */
function archiveKindOf(head: Uint8Array): ArchiveKind | null {
  const starts = (...bytes: number[]) => bytes.every((byte, i) => head[i] === byte);
  if (starts(0x1f, 0x8b)) return 'gzip';
  if (starts(0x50, 0x4b, 0x03, 0x04)) return 'zip';
  if (starts(0x42, 0x5a, 0x68)) return 'bzip2';
  if (starts(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00)) return 'xz';
  if (starts(0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c)) return '7z';
  return null;
}

/** The compressed format of `file` by its first bytes (whatever its name), or null; null too when it cannot be read (the reader says why). */
export async function archiveKind(file: string): Promise<ArchiveKind | null> {
  const handle = await open(file, 'r').catch(() => null);
  if (!handle) return null;
  try {
    const head = new Uint8Array(8);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    return archiveKindOf(head.subarray(0, bytesRead));
  } catch {
    return null;
  } finally {
    await handle.close();
  }
}

/**
 * A compressed file or UTF-16 text, by its first bytes: both hold NUL bytes, which used to be
 * reported as "binary data … an unfinished download?", sending the user to download again.
 */
function notUtf8Text(file: string, head: Uint8Array): UserError | null {
  const name = basename(file);
  const starts = (...bytes: number[]) => bytes.every((byte, i) => head[i] === byte);
  const compressed = (kind: string, unpack: string) =>
    new UserError(`${name} is a ${kind} archive, not a CSV text file`, { where: { file }, hint: `Unpack it first (${unpack}), then import the CSV it holds.` });
  const unpack: Record<ArchiveKind, string> = {
    gzip: name.endsWith('.gz') ? `gunzip -k ${name}` : `mv ${name} ${name}.gz && gunzip ${name}.gz`,
    zip: `unzip ${name}`,
    bzip2: `bunzip2 -k ${name}`,
    xz: `unxz -k ${name}`,
    '7z': `7z x ${name}`,
  };
  const kind = archiveKindOf(head);
  if (kind) return compressed(kind, unpack[kind]);
  // An image or a parquet file where a CSV goes (a renamed download): named for what it is.
  const notCsv = (kind: string, hint = 'Give the competition\'s CSV files (train.csv with a label and pixel columns, test.csv with pixel columns).') =>
    new UserError(`${name} is ${kind}, not a CSV text file`, { where: { file }, hint });
  if (starts(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return notCsv('a PNG image');
  if (starts(0xff, 0xd8, 0xff)) return notCsv('a JPEG image');
  if (starts(0x50, 0x41, 0x52, 0x31)) return notCsv('a Parquet file', 'Convert it to CSV first (pandas: pd.read_parquet(f).to_csv(out, index=False)).');
  if (starts(0xff, 0xfe) || starts(0xfe, 0xff)) {
    return new UserError(`${name} is UTF-16 text (it starts with a UTF-16 byte order mark); digits reads UTF-8 CSVs`, {
      where: { file, line: 1 },
      hint: `Save it as UTF-8 (in Excel: "CSV UTF-8"; or iconv -f UTF-16 -t UTF-8 ${name} > ${name.replace(/\.csv$/i, '')}-utf8.csv).`,
    });
  }
  return null;
}

function lineTooLong(file: string, line: number, limit: number, columns: number | null): UserError {
  return new UserError(`line ${line} is longer than ${limit.toLocaleString('en-US')} bytes, more than ${columns === null ? 'any' : `a row of ${columns} cells`} can be`, {
    where: { file, line },
    hint: `A row holds one short number per cell (at most ${MAX_CELL_CHARS} characters each). Is the file damaged, or its line breaks missing?`,
  });
}

/** 1-based line of byte `at` in `bytes`, counting `newline` before it from `line`. */
function lineAt(bytes: Uint8Array, at: number, newlineByte: number, line: number): number {
  let n = line;
  for (let i = bytes.indexOf(newlineByte); i !== -1 && i < at; i = bytes.indexOf(newlineByte, i + 1)) n++;
  return n;
}

export function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

export function guessNewline(text: string): Newline {
  const lf = text.indexOf('\n');
  const cr = text.indexOf('\r');
  if (cr === -1) return '\n';
  if (lf === -1) return '\r';
  return cr + 1 === lf ? '\r\n' : lf < cr ? '\n' : '\r';
}

/** A blank line as papaparse returns it: one empty (or whitespace-only) cell. */
export function isBlankRow(cells: readonly string[]): boolean {
  return cells.length === 1 && cells[0].trim() === '';
}

/** The first rows of a CSV: at most `maxBytes` bytes and `maxRows` non-blank rows. */
export async function sampleCsv(file: string, options: { maxBytes?: number; maxRows?: number } = {}): Promise<CsvSample> {
  const maxBytes = options.maxBytes ?? 1 << 20;
  const maxRows = options.maxRows ?? 1000;
  const handle = await open(file, 'r').catch((error: NodeJS.ErrnoException) => {
    throw new UserError(`cannot read ${file}: ${error.code === 'ENOENT' ? 'no such file' : error.message}`, {
      where: { file },
      hint: 'Check the path; a competition folder holds train.csv, test.csv and usually sample_submission.csv.',
    });
  });
  try {
    const { size } = await handle.stat();
    const buffer = Buffer.alloc(Math.min(size, maxBytes));
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    // stream: true drops a multi-byte character cut at the end of the sample.
    const text = stripBom(new TextDecoder('utf-8').decode(buffer.subarray(0, bytesRead), { stream: bytesRead < size }));
    const encoded = notUtf8Text(file, buffer.subarray(0, bytesRead));
    if (encoded) throw encoded;
    const nul = buffer.subarray(0, bytesRead).indexOf(0);
    const newline = guessNewline(text);
    const newlineByte = newline === '\r' ? 0x0d : 0x0a;
    if (nul !== -1) throw binaryData(file, lineAt(buffer, nul, newlineByte, 1));
    if (bytesRead >= MAX_SAMPLE_LINE && buffer.subarray(0, MAX_SAMPLE_LINE).indexOf(newlineByte) === -1) throw lineTooLong(file, 1, MAX_SAMPLE_LINE, null);
    const parsed = Papa.parse<string[]>(text, { delimiter: ',', newline, skipEmptyLines: false });
    const truncated = bytesRead < size;
    // The last line of a cut sample may be partial.
    const all = truncated ? parsed.data.slice(0, -1) : parsed.data;
    const rows: CsvSampleRow[] = [];
    for (let i = 0; i < all.length && rows.length < maxRows; i++) {
      if (!isBlankRow(all[i])) rows.push({ line: i + 1, cells: all[i] });
    }
    return { rows, newline, size, truncated: truncated || rows.length < all.filter((r) => !isBlankRow(r)).length };
  } finally {
    await handle.close();
  }
}

export interface CsvStreamOptions {
  file: string;
  newline: Newline;
  /**
   * Called with each parsed chunk of rows (blank lines included, as one empty cell) and the
   * 1-based line number of its first row. A throw stops the read and rejects the stream.
   */
  onRows: (rows: string[][], firstLine: number) => void;
  /** Called after each chunk with the bytes read so far. */
  onBytes?: (bytesRead: number, size: number) => void;
  /**
   * Bytes per read. 256 KiB measured best on bench/import.ts: the strings papaparse makes
   * for one chunk die young; 4 MiB chunks halve the throughput in garbage collection.
   */
  highWaterMark?: number;
  /** Cells in a row (from the detected layout): a longer line than such a row can be is an error at once. */
  columns?: number;
}

export interface CsvStreamResult {
  /** sha256 (hex) of the file's bytes. */
  sha256: string;
  bytes: number;
  /** Rows seen, blank lines included. */
  lines: number;
}

/**
 * Raw bytes in, hashed; UTF-8 text out (partial characters carried over, BOM dropped).
 * Counts lines on the way, and fails on a NUL byte or a line longer than `maxLine`.
 */
class HashingDecoder extends Transform {
  readonly hash = createHash('sha256');
  bytes = 0;
  private readonly decoder = new StringDecoder('utf8');
  private first = true;
  /** 1-based line the next byte belongs to */
  private line = 1;
  /** bytes of that line seen so far */
  private lineBytes = 0;
  private readonly newlineByte: number;

  constructor(
    private readonly file: string,
    newline: Newline,
    private readonly maxLine: number,
    private readonly columns: number | null,
  ) {
    super({ readableObjectMode: true });
    this.newlineByte = newline === '\r' ? 0x0d : 0x0a;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const nul = chunk.indexOf(0);
    // Lines before the NUL (or in the whole chunk), each checked for its length.
    const end = nul === -1 ? chunk.length : nul;
    let start = 0;
    for (let i = chunk.indexOf(this.newlineByte); i !== -1 && i < end; i = chunk.indexOf(this.newlineByte, i + 1)) {
      if (this.lineBytes + (i - start) > this.maxLine) return callback(lineTooLong(this.file, this.line, this.maxLine, this.columns));
      this.line++;
      this.lineBytes = 0;
      start = i + 1;
    }
    this.lineBytes += end - start;
    if (this.lineBytes > this.maxLine) return callback(lineTooLong(this.file, this.line, this.maxLine, this.columns));
    if (nul !== -1) return callback(binaryData(this.file, this.line));
    this.hash.update(chunk);
    this.bytes += chunk.length;
    this.emitText(this.decoder.write(chunk));
    callback();
  }

  override _flush(callback: TransformCallback): void {
    this.emitText(this.decoder.end());
    callback();
  }

  private emitText(text: string): void {
    if (this.first && text.length > 0) {
      this.first = false;
      if (text.startsWith(UTF8_BOM)) text = text.slice(1);
    }
    if (text.length > 0) this.push(text);
  }
}

/** Streams a CSV through papaparse (chunk mode) and returns its byte hash. */
export function streamCsv(options: CsvStreamOptions): Promise<CsvStreamResult> {
  return new Promise<CsvStreamResult>((resolve, reject) => {
    const source = createReadStream(options.file, { highWaterMark: options.highWaterMark ?? 1 << 18 });
    const decoder = new HashingDecoder(options.file, options.newline, options.columns ? widestRow(options.columns) : MAX_SAMPLE_LINE, options.columns ?? null);
    let size = 0;
    let settled = false;
    let lines = 0;
    const fail = (error: unknown): void => {
      if (settled) return;
      settled = true;
      source.destroy();
      decoder.destroy();
      reject(error);
    };
    source.on('error', (error: NodeJS.ErrnoException) =>
      fail(new UserError(`cannot read ${options.file}: ${error.message}`, { where: { file: options.file } })),
    );
    source.on('open', (fd: number) => {
      size = fstatSync(fd).size;
    });
    decoder.on('error', (error) => fail(error));
    source.pipe(decoder);
    Papa.parse<string[]>(decoder as unknown as File, {
      delimiter: ',',
      newline: options.newline,
      skipEmptyLines: false,
      chunk: (results, parser) => {
        if (settled) return;
        try {
          const first = results.errors[0];
          if (first) {
            throw new UserError(`malformed CSV: ${first.message}`, {
              where: { file: options.file, line: lines + (first.row ?? 0) + 1 },
              hint: 'Pixel and label cells should be plain numbers separated by commas.',
            });
          }
          options.onRows(results.data, lines + 1);
          lines += results.data.length;
          options.onBytes?.(decoder.bytes, size);
        } catch (error) {
          // Settle first: abort() calls `complete` synchronously.
          fail(error);
          parser.abort();
        }
      },
      complete: () => {
        if (settled) return;
        settled = true;
        resolve({ sha256: decoder.hash.digest('hex'), bytes: decoder.bytes, lines });
      },
      error: (error: Error) => fail(error),
    });
  });
}

const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);

/**
 * `Number(cell)` for CSV cells, about four times faster on the common shapes (`0`, `255`,
 * `0.1234567`): up to 15 digits are accumulated exactly and divided once by an exact
 * power of ten, which IEEE division rounds correctly, so the result is bit-identical to
 * `Number(cell)`. Anything else (signs, exponents, spaces, long mantissas, text) goes to
 * `Number`, so the semantics are exactly Number's, `''` → 0 included.
 */
export function parseNumberCell(cell: string): number {
  const value = fastDecimal(cell);
  return value === undefined ? Number(cell) : value;
}

/** The exact value of a cell of up to 15 digits and at most one dot; undefined for any other shape. */
function fastDecimal(cell: string): number | undefined {
  const length = cell.length;
  let i = 0;
  let mantissa = 0;
  let code = 0;
  while (i < length) {
    code = cell.charCodeAt(i);
    if (code < 48 || code > 57) break;
    mantissa = mantissa * 10 + (code - 48);
    i++;
  }
  let digits = i;
  let decimals = 0;
  if (i < length && code === 46) {
    i++;
    const start = i;
    while (i < length) {
      code = cell.charCodeAt(i);
      if (code < 48 || code > 57) break;
      mantissa = mantissa * 10 + (code - 48);
      i++;
    }
    decimals = i - start;
    digits += decimals;
  }
  if (i !== length || digits === 0 || digits > 15) return undefined;
  return decimals === 0 ? mantissa : mantissa / POW10[decimals];
}

/**
 * What Python's `float()` reads, in decimal only: optional spaces, an optional sign, digits
 * with an optional fraction (`7`, `7.`, `.5`), an optional exponent (`1e2`), optional spaces.
 * Not hex (`0x10`), binary or octal, not `nan`/`inf`/`Infinity`, not an empty cell, and not
 * Python's digit separators (`1_000`), which no CSV writer emits.
 */
const PLAIN_DECIMAL = /^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$/;

/**
 * A pixel cell as a number, or NaN when it is not a plain decimal number (PLAIN_DECIMAL):
 * `parseNumberCell`'s fast path for the common shapes, which are all plain.
 */
export function parseDecimalCell(cell: string): number {
  const value = fastDecimal(cell);
  if (value !== undefined) return value;
  return PLAIN_DECIMAL.test(cell) ? Number(cell) : NaN;
}
