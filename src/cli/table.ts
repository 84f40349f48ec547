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
  /** per column: its cells are file or run names, which break before other words do */
  names?: boolean[];
  /**
   * columns that leave the table, in this order, when it cannot fit with whole words: each then
   * reads `header: cell` on its own line below its row (`differs in` of `digits runs`)
   */
  detachable?: number[];
}

const GAP = 2;
/** Narrowest a column is squeezed to before the table gives up fitting. */
const MIN_COLUMN = 6;
/** File and run names break into pieces no narrower than this before other words break. */
const NAME_PIECE = 10;
/** Where a cell may wrap: spaces, not a no-break space (U+00A0, which keeps `98.00 ± 0.47%` on one line). */
const BREAKABLE = /[ \t\n]+/;
/** A detached cell's line is indented by this much, its continuation lines twice as much. */
const DETACHED_INDENT = 2;

export function terminalWidth(stream: NodeJS.WriteStream = process.stdout): number {
  return stream.isTTY && stream.columns ? stream.columns : Number.POSITIVE_INFINITY;
}

/** How many terminal columns a text takes (wide characters count two; `.length` misaligned them). */
export const displayWidth = (text: string): number => stringWidth(text);

/**
 * Column widths (text only, no gap) that fit `width`, phase by phase: 1. the widest column
 * shrinks, down to its longest word (`floors`, the header's words included, so dates, numbers,
 * `key=value` pairs and headers wrap between words); 2. columns of file and run names (`names`)
 * break inside them, into pieces of at least NAME_PIECE; 3. only then any column, down to
 * MIN_COLUMN. `phases` stops after that many (a caller that would rather leave a column out than
 * break words asks for 2), and `namePieces` keeps names in that many pieces at most. Until session 35 every column shrank alike (an 80-column ledger had its
 * dates in 6-letter pieces); until session 43 a column was kept whole only down to 20 columns and
 * any column whose words were over 12 wide counted as names, so `differs in` broke
 * `init=mnist-noisy/seed002` while run names stayed whole, and headers broke (`validatio`/`n`).
 */
export function fitWidths(natural: number[], width: number, floors: number[] = natural.map(() => MIN_COLUMN), names: boolean[] = [], phases = 3, namePieces = Number.POSITIVE_INFINITY): number[] {
  const widths = [...natural];
  const budget = width - GAP * (widths.length - 1);
  let total = widths.reduce((a, b) => a + b, 0);
  const wordFloor = (i: number) => Math.max(MIN_COLUMN, Math.min(floors[i]!, natural[i]!));
  // (`namePieces`: names break into that many pieces at most, each of NAME_PIECE at least)
  const nameFloor = (i: number) => Math.min(wordFloor(i), Math.max(NAME_PIECE, Math.ceil(natural[i]! / namePieces)));
  const order = [wordFloor, (i: number) => (names[i] ? nameFloor(i) : wordFloor(i)), () => MIN_COLUMN].slice(0, phases);
  for (const floorOf of order) {
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

const fitsIn = (widths: number[], width: number) => widths.reduce((a, b) => a + b, 0) + GAP * (widths.length - 1) <= width;

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
  for (const word of text.split(BREAKABLE).filter(Boolean)) {
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
  return Math.max(0, ...cells.flatMap((cell) => cell.split(BREAKABLE).map(displayWidth)));
}

/**
 * A table that fits the terminal: columns narrowed as `fitWidths` says. When the table cannot
 * fit with whole words (names broken in two at most), the `detachable` columns
 * leave it one by one, each cell then on its own line below its row, until it can; only a table
 * that cannot fit even so has words broken.
 */
export function renderTable(head: string[], rows: string[][], options: TableOptions = {}): string {
  const width = options.width ?? terminalWidth();
  const columns = head.map((_, i) => i);
  const layout = (kept: number[]) => {
    const natural = kept.map((i) => Math.max(displayWidth(head[i]!), ...rows.map((r) => displayWidth(r[i] ?? ''))));
    const floors = kept.map((i) => longestWord([head[i]!, ...rows.map((r) => r[i] ?? '')]));
    const names = kept.map((i) => options.names?.[i] ?? false);
    // whole words, names in two pieces at most: what a column is moved out for
    return { natural, floors, names, whole: fitWidths(natural, width, floors, names, 2, 2) };
  };
  let kept = columns;
  let fit = layout(kept);
  for (const column of options.detachable ?? []) {
    if (fitsIn(fit.whole, width)) break;
    kept = kept.filter((i) => i !== column);
    fit = layout(kept);
  }
  const shorterNames = fitWidths(fit.natural, width, fit.floors, fit.names, 2);
  const widths = fitsIn(fit.whole, width) ? fit.whole : fitsIn(shorterNames, width) ? shorterNames : fitWidths(fit.natural, width, fit.floors, fit.names, 3);
  const detached = columns.filter((i) => !kept.includes(i));
  const align = kept.map((i) => options.align?.[i] ?? (rows.length > 0 && rows.every((r) => /^[\d.,%—-]+$/.test(r[i] ?? '')) ? 'right' : 'left'));
  const headCells = kept.map((i, k) => wrapCell(head[i]!, widths[k]!));
  const rowCells = rows.map((r) => kept.map((i, k) => wrapCell(r[i] ?? '', widths[k]!)));
  const table = new Table({
    head: headCells,
    // One column of padding each side: the gap between columns is 2 whatever their alignment.
    colWidths: widths.map((w) => w + GAP),
    colAligns: align,
    // Cells come wrapped (wrapCell): between words, inside one only when it is wider than its column.
    wordWrap: false,
    chars: { top: '', 'top-mid': '', 'top-left': '', 'top-right': '', bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '', left: '', 'left-mid': '', mid: '', 'mid-mid': '', right: '', 'right-mid': '', middle: '' },
    style: { head: [], border: [], 'padding-left': 1, 'padding-right': 1, compact: true },
  });
  table.push(...rowCells);
  // The first column's left padding is not a gap: drop it.
  // (a no-break space only holds a cell's words together here: printed, it is a space, for grep and awk)
  const lines = table
    .toString()
    .replaceAll('\u00a0', ' ')
    .split('\n')
    .map((line) => line.slice(1).trimEnd());
  if (detached.length === 0) return lines.join('\n');
  // Each row is as tall as its tallest cell: its detached cells go below its last line, as one
  // paragraph (`created (UTC): 2026-12-06 04:52:20; differs in: data=comp2 …`).
  const height = (cells: string[]) => Math.max(1, ...cells.map((c) => c.split('\n').length));
  const out = lines.slice(0, height(headCells));
  let at = out.length;
  rows.forEach((row, r) => {
    const tall = height(rowCells[r]!);
    out.push(...lines.slice(at, at + tall));
    at += tall;
    const below = detached.filter((i) => (row[i] ?? '').trim() !== '').map((i) => `${head[i]}: ${row[i]}`);
    if (below.length === 0) return;
    const text = wrapCell(below.join('; '), Math.max(MIN_COLUMN, width - 2 * DETACHED_INDENT)).replaceAll('\u00a0', ' ').split('\n');
    out.push(...text.map((line, k) => `${' '.repeat(k === 0 ? DETACHED_INDENT : 2 * DETACHED_INDENT)}${line}`));
  });
  return out.join('\n');
}
