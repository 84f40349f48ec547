/**
 * Tables that know the terminal's width (cli-table3, borderless): columns keep their
 * natural width while the table fits; when it does not, the widest columns are narrowed and
 * their cells wrap, so no line is wider than the terminal. Piped output (no width known) is
 * never wrapped, so a line stays one record for grep and awk.
 */
import Table from 'cli-table3';

export interface TableOptions {
  /** columns the table may use (default: stdout's when it is a terminal, else unlimited) */
  width?: number;
  /** per column; default: right for columns whose cells are all numbers, else left */
  align?: Array<'left' | 'right'>;
}

const GAP = 2;
/** Narrowest a column is squeezed to before the table gives up fitting. */
const MIN_COLUMN = 6;

export function terminalWidth(stream: NodeJS.WriteStream = process.stdout): number {
  return stream.isTTY && stream.columns ? stream.columns : Number.POSITIVE_INFINITY;
}

/** Column widths (text only, no gap) that fit `width`: the widest shrinks first. */
export function fitWidths(natural: number[], width: number): number[] {
  const widths = [...natural];
  const budget = width - GAP * (widths.length - 1);
  let total = widths.reduce((a, b) => a + b, 0);
  while (total > budget) {
    const widest = widths.indexOf(Math.max(...widths));
    if (widths[widest]! <= MIN_COLUMN) break;
    widths[widest]!--;
    total--;
  }
  return widths;
}

export function renderTable(head: string[], rows: string[][], options: TableOptions = {}): string {
  const width = options.width ?? terminalWidth();
  const natural = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const widths = fitWidths(natural, width);
  const align = options.align ?? head.map((_, i) => (rows.length > 0 && rows.every((r) => /^[\d.,%—-]+$/.test(r[i] ?? '')) ? 'right' : 'left'));
  const table = new Table({
    head,
    // One column of padding each side: the gap between columns is 2 whatever their alignment.
    colWidths: widths.map((w) => w + GAP),
    colAligns: align,
    wordWrap: true,
    // Long tokens (file names, run names) break inside the word rather than being cut off.
    wrapOnWordBoundary: false,
    chars: { top: '', 'top-mid': '', 'top-left': '', 'top-right': '', bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '', left: '', 'left-mid': '', mid: '', 'mid-mid': '', right: '', 'right-mid': '', middle: '' },
    style: { head: [], border: [], 'padding-left': 1, 'padding-right': 1, compact: true },
  });
  table.push(...rows);
  // The first column's left padding is not a gap: drop it.
  return table
    .toString()
    .split('\n')
    .map((line) => line.slice(1).trimEnd())
    .join('\n');
}
