import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { guessNewline, parseNumberCell, parseDecimalCell, sampleCsv, streamCsv } from '../../src/data/csv.js';
import { mulberry32 } from '../../src/data/random.js';
import { removeTempDirs, tempDir } from './helpers.js';

afterAll(removeTempDirs);

describe('streamCsv', () => {
  test.each([1, 2, 3, 5, 64])('multi-byte characters split across %i-byte chunks arrive intact (papaparse issues 751/1132)', async (highWaterMark) => {
    // Given a CSV whose header has 2-, 3- and 4-byte UTF-8 characters, behind a BOM, with CRLF
    const dir = await tempDir();
    const file = join(dir, 'train.csv');
    const text = '\ufeffétiquette,数字,😀\r\n1,2,3\r\n4,5,6\r\n';
    await writeFile(file, text);
    // When it is streamed in tiny chunks
    const rows: string[][] = [];
    const lines: number[] = [];
    const result = await streamCsv({ file, newline: '\r\n', highWaterMark, onRows: (chunk, first) => chunk.forEach((row, i) => { rows.push(row); lines.push(first + i); }) });
    // Then every character survives, the BOM is gone, lines are counted and the raw bytes hashed
    expect(rows.slice(0, 3)).toEqual([['étiquette', '数字', '😀'], ['1', '2', '3'], ['4', '5', '6']]);
    expect(lines.slice(0, 3)).toEqual([1, 2, 3]);
    expect(result.sha256).toBe(createHash('sha256').update(Buffer.from(text)).digest('hex'));
    expect(result.bytes).toBe(Buffer.byteLength(text));
  });

  test('a throw in onRows rejects the stream with that error', async () => {
    const dir = await tempDir();
    const file = join(dir, 'a.csv');
    await writeFile(file, '1,2\n3,4\n'.repeat(1000));
    const boom = new Error('stop here');
    await expect(streamCsv({ file, newline: '\n', highWaterMark: 64, onRows: () => { throw boom; } })).rejects.toBe(boom);
  });

  test('sampleCsv keeps whole rows only and drops the BOM', async () => {
    const dir = await tempDir();
    const file = join(dir, 'a.csv');
    await writeFile(file, `\ufeffa,b\n${'1,2\n'.repeat(100)}`);
    const sample = await sampleCsv(file, { maxBytes: 50 });
    expect(sample.truncated).toBe(true);
    expect(sample.rows[0].cells).toEqual(['a', 'b']);
    expect(sample.rows.every((row) => row.cells.length === 2)).toBe(true);
  });

  test.each([
    ['a\nb', '\n'],
    ['a\r\nb', '\r\n'],
    ['a\rb', '\r'],
    ['ab', '\n'],
  ])('guessNewline(%j) is %j', (text, newline) => {
    expect(guessNewline(text)).toBe(newline);
  });
});

describe('parseNumberCell is Number() made fast', () => {
  const fixed = ['0', '1', '255', '0.0', '7.0', '0.1234567', '0.71393964', '1.', '.5', '', ' ', ' 1', '1 ', '-0.5', '+1', '1e3', '1E-7', 'NaN', 'Infinity', 'abc', '0x10', '12.5.1', '.', '0.7139396412345678', '123456789012345', '1234567890123456', '00012', '9.999999999999999'];
  test.each(fixed)('%j', (cell) => {
    expect(Object.is(parseNumberCell(cell), Number(cell))).toBe(true);
  });

  test('bit-identical to Number on 200,000 random decimals', () => {
    const random = mulberry32(1);
    for (let i = 0; i < 200_000; i++) {
      const digits = 1 + Math.floor(random() * 15);
      const cell = (random() * 10 ** Math.floor(random() * 4)).toFixed(digits % 10);
      expect(parseNumberCell(cell)).toBe(Number(cell));
    }
  });
});

describe('parseDecimalCell reads what Python float() reads in decimal, and nothing else', () => {
  // Python 3: float(' 7 ') == 7.0, float('1e2') == 100.0, float('.5') == 0.5, float('7.') == 7.0;
  // float('0x10'), float('') and float('.') raise; 'nan', 'inf' and '1_0' are refused here on purpose (see csv.ts).
  test.each([
    ['0', 0],
    ['255', 255],
    ['0.1234567', 0.1234567],
    [' 7 ', 7],
    ['\t7', 7],
    ['+5', 5],
    ['-0.5', -0.5],
    ['1e2', 100],
    ['1E-7', 1e-7],
    ['.5', 0.5],
    ['7.', 7],
    ['0.7139396412345678', 0.7139396412345678],
  ])('%j is %d', (cell, value) => {
    expect(parseDecimalCell(cell)).toBe(value);
  });

  test.each(['', ' ', '.', '0x10', '0X5', '0b1', '0o7', 'NaN', 'nan', 'Infinity', 'inf', '1_0', '12.5.1', '1e', 'e3', '- 1', 'abc'])('%j is not a number', (cell) => {
    expect(parseDecimalCell(cell)).toBeNaN();
  });
});
