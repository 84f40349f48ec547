/**
 * Reading competition CSVs: a cheap look at the first rows (to detect the layout) and a
 * streaming pass through papaparse that hands rows to the importer chunk by chunk, so
 * memory stays bounded however large the file is.
 *
 * papaparse gets text, never raw buffers: its stream reader calls `chunk.toString()` on
 * each buffer, which splits multi-byte UTF-8 characters that straddle two chunks
 * (papaparse issues 751 and 1132). We decode with Node's StringDecoder, which carries the
 * partial character over, and hash the raw bytes on the way for the source fingerprint.
 */
import { createHash } from 'node:crypto';
import { createReadStream, fstatSync } from 'node:fs';
import { open } from 'node:fs/promises';
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
    const newline = guessNewline(text);
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
}

export interface CsvStreamResult {
  /** sha256 (hex) of the file's bytes. */
  sha256: string;
  bytes: number;
  /** Rows seen, blank lines included. */
  lines: number;
}

/** Raw bytes in, hashed; UTF-8 text out (partial characters carried over, BOM dropped). */
class HashingDecoder extends Transform {
  readonly hash = createHash('sha256');
  bytes = 0;
  private readonly decoder = new StringDecoder('utf8');
  private first = true;

  constructor() {
    super({ readableObjectMode: true });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
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
    const decoder = new HashingDecoder();
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
  if (i !== length || digits === 0 || digits > 15) return Number(cell);
  return decimals === 0 ? mantissa : mantissa / POW10[decimals];
}
