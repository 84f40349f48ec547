/**
 * Tables that know the terminal's width (cli-table3, borderless): columns keep their
 * natural width while the table fits; when it does not, the widest columns are narrowed and
 * their cells wrap, so no line is wider than the terminal. Piped output (no width known) is
 * never wrapped, so a line stays one record for grep and awk.
 */
import Table from 'cli-table3';
import stringWidth from 'string-width';

export interface TableOptions {
  /** columns the table may use (default: stdout's when it is a terminal, else unlimited) */
  width?: number;
  /** per column; default: right for columns whose cells are all numbers, else left */
  align?: Array<'left' | 'right'>;
}

const GAP = 2;
/** Narrowest a column is squeezed to before the table gives up fitting. */
const MIN_COLUMN = 6;
/** A column is first narrowed only down to its longest word, when that is at most this wide. */
const WORD_FLOOR_MAX = 20;
/** Header words up to this wide are kept whole while cells are (longer ones break first). */
const HEADER_WORD_MAX = 8;
/** Words longer than this (file and run names) are broken before shorter ones (dates, numbers). */
const LONG_TOKEN = 12;

export function terminalWidth(stream: NodeJS.WriteStream = process.stdout): number {
  return stream.isTTY && stream.columns ? stream.columns : Number.POSITIVE_INFINITY;
}

/** How many terminal columns a text takes (wide characters count two; `.length` misaligned them). */
export const displayWidth = (text: string): number => stringWidth(text);

/**
 * Column widths (text only, no gap) that fit `width`. The widest column shrinks first, at first
 * only down to its longest word (`floors`, so dates and numbers wrap between words, if at all);
 * when that is not enough, columns with long tokens (file and run names) break inside them, and
 * only then any column, down to MIN_COLUMN. (Until session
 * 35 every column shrank alike: an 80-column ledger had its dates broken into 6-letter pieces.)
 */
export function fitWidths(natural: number[], width: number, floors: number[] = natural.map(() => MIN_COLUMN)): number[] {
  const widths = [...natural];
  const budget = width - GAP * (widths.length - 1);
  let total = widths.reduce((a, b) => a + b, 0);
  const wordFloor = (i: number) => Math.max(MIN_COLUMN, Math.min(floors[i]!, WORD_FLOOR_MAX));
  // 1. down to whole words; 2. long tokens (file and run names) break first; 3. then any word
  const phases = [wordFloor, (i: number) => (floors[i]! > LONG_TOKEN ? MIN_COLUMN : wordFloor(i)), () => MIN_COLUMN];
  for (const floorOf of phases) {
    while (total > budget) {
      let widest = -1;
      for (let i = 0; i < widths.length; i++) if (widths[i]! > floorOf(i) && (widest < 0 || widths[i]! > widths[widest]!)) widest = i;
      if (widest < 0) break;
      widths[widest]!--;
      total--;
    }
  }
  return widths;
}

/**
 * A cell's text in lines of at most `width` screen columns: broken between words, and inside a
 * word only when it alone is wider (cli-table3's own wrapping either cut words anywhere or, on
 * word boundaries, truncated long ones with "…").
 */
export function wrapCell(text: string, width: number): string {
  if (displayWidth(text) <= width) return text;
  const lines: string[] = [];
  let line = '';
  const push = (piece: string) => {
    if (line && displayWidth(line) + 1 + displayWidth(piece) <= width) line += ` ${piece}`;
    else {
      if (line) lines.push(line);
      line = piece;
    }
  };
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (displayWidth(word) <= width) {
      push(word);
      continue;
    }
    // a word wider than the column: whole pieces of it, by screen width
    let piece = '';
    for (const char of word) {
      if (displayWidth(piece + char) > width) {
        push(piece);
        piece = '';
      }
      piece += char;
    }
    if (piece) push(piece);
  }
  if (line) lines.push(line);
  return lines.join('\n');
}

/** A column's longest word (header included): the width it is first narrowed to. */
function longestWord(cells: string[]): number {
  return Math.max(0, ...cells.flatMap((cell) => cell.split(/\s+/).map(displayWidth)));
}

export function renderTable(head: string[], rows: string[][], options: TableOptions = {}): string {
  const width = options.width ?? terminalWidth();
  const natural = head.map((h, i) => Math.max(displayWidth(h), ...rows.map((r) => displayWidth(r[i] ?? ''))));
  // (a header's words count only when short: a long one, "validation", breaks before the cells do)
  const widths = fitWidths(natural, width, head.map((h, i) => Math.max(longestWord(rows.map((r) => r[i] ?? '')), ...h.split(/\s+/).map(displayWidth).filter((w) => w <= HEADER_WORD_MAX))));
  const align = options.align ?? head.map((_, i) => (rows.length > 0 && rows.every((r) => /^[\d.,%—-]+$/.test(r[i] ?? '')) ? 'right' : 'left'));
  const table = new Table({
    head: head.map((h, i) => wrapCell(h, widths[i]!)),
    // One column of padding each side: the gap between columns is 2 whatever their alignment.
    colWidths: widths.map((w) => w + GAP),
    colAligns: align,
    // Cells come wrapped (wrapCell): between words, inside one only when it is wider than its column.
    wordWrap: false,
    chars: { top: '', 'top-mid': '', 'top-left': '', 'top-right': '', bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '', left: '', 'left-mid': '', mid: '', 'mid-mid': '', right: '', 'right-mid': '', middle: '' },
    style: { head: [], border: [], 'padding-left': 1, 'padding-right': 1, compact: true },
  });
  table.push(...rows.map((r) => head.map((_, i) => wrapCell(r[i] ?? '', widths[i]!))));
  // The first column's left padding is not a gap: drop it.
  return table
    .toString()
    .split('\n')
    .map((line) => line.slice(1).trimEnd())
    .join('\n');
}
