/** The live training view: one row per member, sparklines of val_acc, overall progress. */
import { Box, Text } from 'ink';
import stringWidth from 'string-width';
import { useTerminalSize } from './terminal-size.js';
import { type MemberRow, etaSeconds, formatDuration, overallProgress, sparkline, type TrainViewState } from './train-state.js';

const pct = (v: number | null) => (v === null ? '—' : `${(v * 100).toFixed(2)}%`);

function Bar({ fraction, width }: { fraction: number; width: number }) {
  const full = Math.round(fraction * width);
  return (
    <Text>
      <Text color="green">{'█'.repeat(full)}</Text>
      <Text dimColor>{'░'.repeat(width - full)}</Text>
    </Text>
  );
}

const COLUMNS = ['member', 'epoch', 'loss', 'acc', 'val_acc', 'lr', 'img/s', 'ETA', 'val_acc by epoch'];
const WIDTHS = [14, 9, 8, 8, 8, 9, 7, 8, 20];
/** The member column's widest on a narrow terminal: longer names are cut there (a 40-character name would push every figure off 80 columns). */
const NAME_WIDTH_MAX = 30;

/**
 * The columns' widths for these member names: the member column as wide as the longest name
 * and its gap, from 14 up to NAME_WIDTH_MAX or, on a wider terminal (`columns`), up to what
 * leaves the other columns their room (at a fixed 14, `seed002-noisy-f1` and
 * `seed002-noisy-f2` were both cut to `seed002-noisy`; until session 43 the cap was 30 at any
 * width, and a name cut there lost its `-f1` at 120 columns with 35 to spare). A name still
 * longer is cut in its middle (`MemberLine`), so its fold suffix stays.
 */
export function columnWidths(names: readonly string[], columns = 0): number[] {
  const longest = Math.max(0, ...names.map((name) => stringWidth(name)));
  const others = WIDTHS.slice(1).reduce((sum, w) => sum + w, 0);
  return [Math.min(Math.max(NAME_WIDTH_MAX, columns - others), Math.max(WIDTHS[0]!, longest + 1)), ...WIDTHS.slice(1)];
}

/**
 * How many columns fit in `width` terminal columns. Cells never shrink: a shrunk cell lost
 * its gap and the header read "val_acclr" on 80 columns (issue 15); the last columns are
 * left out instead.
 */
export function columnsThatFit(width: number, widths: readonly number[] = WIDTHS): number {
  let used = 0;
  let n = 0;
  while (n < widths.length && used + widths[n]! <= width) used += widths[n++]!;
  return Math.max(1, n);
}

function Cell({ children, i, color, shown = WIDTHS.length, widths = WIDTHS }: { children: string; i: number; color?: string; shown?: number; widths?: readonly number[] }) {
  if (i >= shown) return null;
  return (
    <Box width={widths[i]} flexShrink={0} paddingRight={1}>
      {/* a member's name is cut in its middle, so `…-f1` and `…-f2` stay apart */}
      <Text color={color} wrap={i === 0 ? 'truncate-middle' : 'truncate'}>
        {children}
      </Text>
    </Box>
  );
}

/** Lines the view has besides its member rows: title, column header, progress bar. */
const FIXED_LINES = 3;

export interface VisibleMembers {
  shown: MemberRow[];
  /** "+ 12 more: 9 done, 3 queued", or null when every member has its row */
  more: string | null;
}

/**
 * The member rows that fit in `lines` lines, in their order, the others counted on one line.
 * Running members come first, then failed, done and queued ones: a view taller than the
 * terminal made Ink clear the whole screen (and the scrollback) at every frame, with the title,
 * header and running members out of sight (`train --folds 5` of three recipes has 33 lines; 80×24 has 24).
 */
export function visibleMembers(members: MemberRow[], lines: number): VisibleMembers {
  if (members.length <= lines) return { shown: members, more: null };
  const keep = Math.max(0, lines - 1);
  const rank = { training: 0, failed: 1, done: 2, waiting: 3 } as const;
  const chosen = new Set(
    members
      .map((row, i) => ({ row, i }))
      .sort((a, b) => rank[a.row.status] - rank[b.row.status] || a.i - b.i)
      .slice(0, keep)
      .map(({ row }) => row),
  );
  const hidden = members.filter((row) => !chosen.has(row));
  const count = (status: MemberRow['status']) => hidden.filter((row) => row.status === status).length;
  const parts = [
    [count('training'), 'running'],
    [count('done'), 'done'],
    [count('failed'), 'failed'],
    [count('waiting'), 'queued'],
  ]
    .filter(([n]) => (n as number) > 0)
    .map(([n, what]) => `${n} ${what}`);
  return { shown: members.filter((row) => chosen.has(row)), more: `+ ${hidden.length} more: ${parts.join(', ')}` };
}

export interface TrainViewProps {
  state: TrainViewState;
  now?: number;
  /** Terminal columns (default: the terminal's, kept current on resize). */
  width?: number;
  /** Terminal rows (default: the terminal's, kept current; none: every member has its row). */
  height?: number;
}

/**
 * The view (callable as a plain function, as the commands do: the hooks live in TrainScreen).
 */
export function TrainView(props: TrainViewProps) {
  return <TrainScreen {...props} />;
}

function TrainScreen({ state, now = Date.now(), width, height }: TrainViewProps) {
  const terminal = useTerminalSize();
  const columns = width ?? terminal.columns ?? 100;
  const rows = height ?? terminal.rows;
  const progress = overallProgress(state);
  const widths = columnWidths(state.members.map((m) => m.name), columns);
  const shown = columnsThatFit(columns, widths);
  // One line fewer than the terminal: a frame as tall as the screen takes Ink's full-screen path.
  const { shown: members, more } = visibleMembers(state.members, rows === undefined ? Infinity : rows - 1 - FIXED_LINES - (state.notice ? 1 : 0));
  return (
    <Box flexDirection="column" width={columns}>
      <Text wrap="truncate">
        <Text bold>{state.title}</Text>
        {/* (the elapsed time before the backend's long description: at 80 columns it was the part cut, `el…`, until session 43) */}
        <Text dimColor>{`  elapsed ${formatDuration((now - state.startedAt) / 1000)}  backend: ${state.backend}`}</Text>
      </Text>
      {state.notice ? (
        <Text wrap="truncate" color="yellow">
          {state.notice}
        </Text>
      ) : null}
      <Box>
        {COLUMNS.map((c, i) => (
          <Cell key={c} i={i} color="cyan" shown={shown} widths={widths}>
            {c}
          </Cell>
        ))}
      </Box>
      {members.map((r) => (
        <MemberLine key={r.name} row={r} shown={shown} widths={widths} now={now} />
      ))}
      {more ? (
        <Text dimColor wrap="truncate">
          {more}
        </Text>
      ) : null}
      <Text wrap="truncate">
        <Bar fraction={progress} width={Math.max(10, Math.min(40, columns - 6))} /> {`${(progress * 100).toFixed(0)}%`}
      </Text>
    </Box>
  );
}

/** One member's row; a failed member's error takes the place of its figures, so that it is read at any width (in the last column it was hidden below 91 columns). */
function MemberLine({ row: r, shown, widths, now }: { row: MemberRow; shown: number; widths: readonly number[]; now: number }) {
  if (r.status === 'failed') {
    return (
      <Box>
        <Cell shown={shown} i={0} color="red" widths={widths}>
          {r.name}
        </Cell>
        <Cell shown={shown} i={1} widths={widths}>
          failed
        </Cell>
        {shown > 2 ? (
          <Text color="yellow" wrap="truncate">
            {r.error ?? ''}
          </Text>
        ) : null}
      </Box>
    );
  }
  return (
    <Box>
      <Cell shown={shown} i={0} color={r.status === 'done' ? 'green' : undefined} widths={widths}>
        {r.name}
      </Cell>
      <Cell shown={shown} i={1} widths={widths}>{`${r.epoch}/${r.epochs}`}</Cell>
      <Cell shown={shown} i={2} widths={widths}>{r.loss === null ? '—' : r.loss.toFixed(4)}</Cell>
      <Cell shown={shown} i={3} widths={widths}>{pct(r.acc)}</Cell>
      <Cell shown={shown} i={4} widths={widths}>{pct(r.valAcc)}</Cell>
      <Cell shown={shown} i={5} widths={widths}>{r.lr === null ? '—' : r.lr.toExponential(1)}</Cell>
      <Cell shown={shown} i={6} widths={widths}>{r.imagesPerSecond === null ? '—' : String(Math.round(r.imagesPerSecond))}</Cell>
      <Cell shown={shown} i={7} widths={widths}>{r.status === 'done' ? 'done' : formatDuration(etaSeconds(r, now))}</Cell>
      <Cell shown={shown} i={8} widths={widths} color="yellow">
        {sparkline(r.valAccHistory)}
      </Cell>
    </Box>
  );
}
