import { describe, expect, test } from 'vitest';
import { renderTable } from '../../src/cli/table.js';
import { SUBMISSION_COLUMNS } from '../../src/commands/submissions.js';

// A ledger row as `digits submissions` shows it (about 150 columns wide unwrapped).
const row = ['2026-11-21 10:15:02', '20261121-101500-quick-ensemble.csv', 'quick-20261121-100000', 'seed002-1 deotte-2 seed002-3 deotte-4', 'soft', '8', '99.12%', '0.0311', '98.75%', 'ok'];

describe('tables that know the terminal width', () => {
  test.each([80, 100, 160])('at %i columns no line is wider, and every character is still there', (width) => {
    const text = renderTable(SUBMISSION_COLUMNS, [row, row], { width });
    const lines = text.split('\n');
    for (const line of lines) expect(line.length, line).toBeLessThanOrEqual(width);
    // nothing is cut off: the table holds every character of the header and the cells
    const letters = (t: string) => [...t.replace(/\s+/g, '')].sort().join('');
    expect(letters(text)).toBe(letters([...SUBMISSION_COLUMNS, ...row, ...row].join('')));
  });

  test('piped (no width): one line per record, numbers right-aligned two spaces apart', () => {
    const text = renderTable(['name', 'acc'], [['a', '9.50%'], ['bb', '10.25%']], { width: Number.POSITIVE_INFINITY });
    expect(text.split('\n')).toEqual(['name     acc', 'a      9.50%', 'bb    10.25%']);
  });
});
