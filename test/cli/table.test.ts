import { describe, expect, test } from 'vitest';
import { displayWidth, renderTable } from '../../src/cli/table.js';
import { SUBMISSION_COLUMNS } from '../../src/commands/submissions.js';

// A ledger row as `digits submissions` shows it (about 150 columns wide unwrapped).
const row = ['2026-11-21 10:15:02', '20261121-101500-quick-ensemble.csv', 'quick-20261121-100000', '4', 'soft int8', '8', '99.12%', '0.0311', '98.75%', 'ok'];

describe('tables that know the terminal width', () => {
  test.each([80, 100, 160])('at %i columns no line is wider, and every character is still there', (width) => {
    const text = renderTable(SUBMISSION_COLUMNS, [row, row], { width });
    const lines = text.split('\n');
    for (const line of lines) expect(line.length, line).toBeLessThanOrEqual(width);
    // nothing is cut off: the table holds every character of the header and the cells
    const letters = (t: string) => [...t.replace(/\s+/g, '')].sort().join('');
    expect(letters(text)).toBe(letters([...SUBMISSION_COLUMNS, ...row, ...row].join('')));
  });

  test('at 80 columns the long names wrap and the dates, numbers and headers keep whole words', () => {
    // (until session 35 every column was squeezed to 6 letters: "2026-1 / 1-21 1 / 0:15:0 / 2")
    const text = renderTable(SUBMISSION_COLUMNS, [row], { width: 80 });
    expect(text).toMatch(/^2026-11-21 /m);
    for (const word of ['created', '(UTC)', '99.12%', '0.0311', '98.75%', 'status']) expect(text).toContain(word);
    for (const line of text.split('\n')) expect(line.length, line).toBeLessThanOrEqual(80);
  });

  test('wide characters are measured by their width on screen: columns stay aligned', () => {
    const text = renderTable(['run', 'acc'], [['試験-run', '9.50%'], ['plain-run', '10.25%']], { width: Number.POSITIVE_INFINITY });
    const [, first, second] = text.split('\n');
    // the accuracy column ends at the same screen column on both rows
    expect(displayWidth(first!)).toBe(displayWidth(second!));
  });

  test('piped (no width): one line per record, numbers right-aligned two spaces apart', () => {
    const text = renderTable(['name', 'acc'], [['a', '9.50%'], ['bb', '10.25%']], { width: Number.POSITIVE_INFINITY });
    expect(text.split('\n')).toEqual(['name     acc', 'a      9.50%', 'bb    10.25%']);
  });
});
