/**
 * The evaluation dashboard: per-class precision/recall/F1/support for one view (the
 * ensemble, or any member), the confusion matrix as a heat map, the most-confused pairs with
 * the misread digits in half blocks, and each member's training curves as sparklines.
 * Everything on screen comes from the DashboardModel.
 *
 * It fits the terminal: the run header, the tabs (a window of them around the current one)
 * and the view's name are always the first three lines, the keys the last; what is between
 * scrolls (↑/↓, PgUp/PgDn, Home/End). ←/→ (or Tab) step through every view; typing a view's
 * number (1, 12, …) jumps to it; q (or Q, Esc) quits; Ctrl-C interrupts.
 */
import { Box, Text, measureElement, render, useApp, useInput, useStdin, type DOMElement, type Key } from 'ink';
import { isSuspendKey, stopJob } from './suspend.js';
import { useEffect, useRef, useState } from 'react';
import { gridColumns, renderDigitGrid } from '../data/inspect.js';
import {
  type DashboardModel,
  type DashboardView,
  type DigitSource,
  CLASS_TABLE_HEADER,
  classTableLines,
  headerLine,
  crossValidationLines,
  curvesHeading,
  heatColor,
  misreadTiles,
  percent,
  sparkline,
  tabWindow,
} from '../evaluation/dashboard-model.js';
import { useTerminalSize } from './terminal-size.js';
import { viewStream } from './view-stream.js';

export interface DashboardProps {
  model: DashboardModel;
  /** Index into model.views shown first. */
  initialView?: number;
  /** Images for the misread digits; null: list the rows only. */
  digits?: DigitSource | null;
  /** Terminal columns (default: the terminal's, kept current on resize; else 100). */
  width?: number;
  /** Terminal rows (default: the terminal's, kept current on resize; else 40). */
  height?: number;
  /** ANSI colours for the digits (false: shade characters). */
  color?: boolean;
  /** Mark the current view's name in brackets too: where styles are off (NO_COLOR), inverse and bold do not show. */
  bracketCurrent?: boolean;
  /** Called when the user quits (after Ink's own exit). */
  onQuit?: () => void;
  /** Called on Ctrl-C (in raw mode a key, not a signal), before the screen closes. */
  onInterrupt?: () => void;
  /** Called on Ctrl-Z (a key too), with the view shown, before the screen closes: the job is to stop (./suspend.ts). */
  onSuspend?: (view: number) => void;
}

/**
 * The view names in a row, the current one in inverse and bold; without colours (NO_COLOR:
 * `marked`) also in brackets, as bold and inverse go with the colours (until session 43
 * nothing marked it then).
 */
function Tabs({ views, index, columns, marked = false }: { views: DashboardView[]; index: number; columns: number; marked?: boolean }) {
  const labels = views.map((v, i) => (marked && i === index ? `[${i + 1} ${v.key}]` : `${i + 1} ${v.key}`));
  const { start, end } = tabWindow(labels, index, columns);
  return (
    <Box columnGap={2} height={1} overflow="hidden">
      {start > 0 ? <Text dimColor>‹</Text> : null}
      {labels.slice(start, end).map((label, j) => (
        <Text key={views[start + j]!.key} inverse={start + j === index} bold={start + j === index} dimColor={start + j !== index} wrap="truncate">
          {label}
        </Text>
      ))}
      {end < views.length ? <Text dimColor>›</Text> : null}
    </Box>
  );
}

/** The class table's width without its support column ("digit  precision  recall     F1"). */
const CLASS_TABLE_NARROW = CLASS_TABLE_HEADER.indexOf('  support');

function ClassTable({ view, columns }: { view: DashboardView; columns: number }) {
  // Where the whole table does not fit, the support column goes (a cut line wrapped its count
  // onto the next line at 40 columns); the gap to the matrix beside it, where that is below.
  const fit = (line: string) => (columns < CLASS_TABLE_HEADER.length ? line.slice(0, CLASS_TABLE_NARROW) : line);
  const [header, ...rows] = classTableLines(view).map(fit);
  const macro = rows.pop()!;
  return (
    <Box flexDirection="column" marginRight={columns < CLASS_TABLE_HEADER.length + 3 ? 0 : 3} flexShrink={0}>
      <Text color="cyan">{header ?? fit(CLASS_TABLE_HEADER)}</Text>
      {rows.map((line, i) => {
        const c = view.classes[i]!;
        const weak = c.support > 0 && c.f1 < 0.9;
        return (
          <Text key={c.label} color={weak ? 'yellow' : undefined}>
            {line}
          </Text>
        );
      })}
      <Text dimColor>{macro}</Text>
    </Box>
  );
}

function Confusion({ view, columns }: { view: DashboardView; columns: number }) {
  const digits = Math.max(1, ...view.heat.flat().map((cell) => String(cell.count).length));
  // Narrower cells where the usual ones do not fit; each row one line, cut rather than wrapped
  // (on 32 columns every row of the matrix took two lines).
  const width = 4 + view.heat.length * (Math.max(2, digits) + 1) <= columns ? Math.max(2, digits) + 1 : digits + 1;
  return (
    <Box flexDirection="column">
      <Text color="cyan" wrap="truncate">
        {'t\\p'.padEnd(4)}
        {view.heat.map((_, p) => String(p).padStart(width)).join('')}
      </Text>
      {view.heat.map((row, t) => (
        <Text key={t} wrap="truncate">
          <Text color="cyan">{String(t).padEnd(4)}</Text>
          {row.map((cell, p) => {
            const bg = heatColor(cell);
            return (
              <Text key={p} backgroundColor={bg ?? undefined} color={bg ? 'white' : undefined} dimColor={!bg} bold={cell.diagonal}>
                {(cell.count === 0 ? '·' : String(cell.count)).padStart(width)}
              </Text>
            );
          })}
        </Text>
      ))}
      <Text dimColor>rows: true digit, columns: predicted</Text>
    </Box>
  );
}

function Pairs({ view, digits, width, color }: { view: DashboardView; digits: DigitSource | null; width: number; color: boolean }) {
  const shown = view.pairs.slice(0, 6);
  const size = digits?.size ?? 28;
  const tiles = misreadTiles(view, digits, gridColumns(width, size, Math.max(1, view.pairs.length)));
  return (
    <Box flexDirection="column" marginTop={1}>
      <Text bold>Most confused</Text>
      {shown.length === 0 ? <Text color="green">no mistakes</Text> : null}
      {shown.map((pair) => (
        <Text key={`${pair.trueLabel}-${pair.predicted}`} wrap="truncate">
          <Text color="red">{`  ${pair.trueLabel} read as ${pair.predicted}`}</Text>
          {`  ${String(pair.count).padStart(4)}×  `}
          <Text dimColor>{pair.samples.map((s) => (s.row === null ? `@${s.position}` : `#${s.row}`)).join(' ')}</Text>
        </Text>
      ))}
      {tiles.length > 0 ? <Text>{renderDigitGrid(tiles, { size, columns: tiles.length, color }).trimEnd()}</Text> : null}
      {shown.length > 0 && tiles.length === 0 ? <Text dimColor>{digits ? '(these rows are not in the dataset cache)' : '(digits not shown: the dataset cache is not available)'}</Text> : null}
    </Box>
  );
}

function Curves({ model }: { model: DashboardModel }) {
  const nameWidth = Math.max(6, ...model.members.map((m) => m.name.length));
  return (
    <Box flexDirection="column" marginTop={1}>
      <Text bold wrap="truncate">{curvesHeading(model)}</Text>
      {model.members.map((m) => (
        <Box key={m.name} flexDirection="column">
          <Text wrap="truncate">
            <Text bold>{`  ${m.name.padEnd(nameWidth)}`}</Text>
            <Text dimColor>{`  ${m.preset}, ${m.epochs} epoch${m.epochs === 1 ? '' : 's'}, best ${m.bestEpoch === null ? '—' : m.bestEpoch + 1}`}</Text>
            {`  evaluated ${percent(m.accuracy)}${m.ttaAccuracy === null ? '' : `, TTA ${percent(m.ttaAccuracy)}`}`}
          </Text>
          {m.epochs > 0 ? (
            <Text wrap="truncate">
              {`  ${''.padEnd(nameWidth)}  val_acc `}
              <Text color="green">{sparkline(m.valAcc)}</Text>
              {` ${percent(m.valAcc[m.epochs - 1]!)}   val_loss `}
              <Text color="yellow">{sparkline(m.valLoss)}</Text>
              {` ${m.valLoss[m.epochs - 1]!.toFixed(4)}`}
            </Text>
          ) : null}
        </Box>
      ))}
    </Box>
  );
}

/**
 * The view's name and figures. Where the line does not fit, the figures come before the name,
 * which is cut instead (at 40 columns "3/8 ensemble (soft vote + TTA ×8): accu…" hid them).
 */
function ViewLine({ number, view, columns }: { number: string; view: DashboardView; columns: number }) {
  const figures = `log-loss ${view.logLoss.toFixed(4)} on ${view.rows} rows`;
  const full = `${number} ${view.title}: accuracy ${percent(view.accuracy)}, ${figures}`;
  if ([...full].length <= columns) {
    return (
      <Text wrap="truncate">
        <Text bold>{`${number} ${view.title}`}</Text>
        {`: accuracy `}
        <Text color="green">{percent(view.accuracy)}</Text>
        {`, ${figures}`}
      </Text>
    );
  }
  return (
    <Text wrap="truncate">
      <Text bold>{number}</Text> <Text color="green">{percent(view.accuracy)}</Text>
      {`, log-loss ${view.logLoss.toFixed(4)}: `}
      <Text bold>{view.title}</Text>
      {` on ${view.rows} rows`}
    </Text>
  );
}

/** Lines above and below the scrolled body: header, tabs, view name; keys. */
const FIXED_LINES = 4;
/** How long a typed view number waits for its next digit (1 then 2 → view 12). */
const NUMBER_WAIT_MS = 800;

export function Dashboard({ model, initialView = 0, digits = null, width, height, color = true, bracketCurrent = false, onQuit, onInterrupt, onSuspend }: DashboardProps) {
  const [index, setIndex] = useState(Math.min(Math.max(0, initialView), model.views.length - 1));
  // The view shown, for Ctrl-Z: Ink writes a frame before its effects run, so a key typed as
  // soon as the frame is seen can reach the handler of the frame before (seen: Ctrl-Z right
  // after → came back on the view before it).
  const shown = useRef(index);
  shown.current = index;
  const [scroll, setScroll] = useState(0);
  const [contentHeight, setContentHeight] = useState(0);
  const body = useRef<DOMElement>(null);
  const typed = useRef({ text: '', at: 0 });
  const { isRawModeSupported } = useStdin();
  const { exit } = useApp();
  const terminal = useTerminalSize();
  const columns = width ?? terminal.columns ?? 100;
  const rows = height ?? terminal.rows ?? 40;
  // One line fewer than the terminal: a frame as tall as it takes Ink's full-screen path, which
  // clears the screen and scrollback at each frame and leaves no newline after the last one
  // (the shell's prompt was glued to the keys line after q).
  const bodyHeight = Math.max(1, rows - 1 - FIXED_LINES);
  const maxScroll = Math.max(0, contentHeight - bodyHeight);
  const top = Math.min(scroll, maxScroll);
  useEffect(() => {
    if (!body.current) return;
    const measured = measureElement(body.current).height;
    setContentHeight((h) => (h === measured ? h : measured));
  });
  const show = (next: (current: number) => number) => {
    setIndex(next);
    setScroll(0);
  };
  /** One key; true when it ends the dashboard (the keys after it in a chunk are not for it). */
  const handleKey = (input: string, key: Key): boolean => {
    const count = model.views.length;
    if ((key.ctrl && input === 'c') || input === '\u0003') {
      onInterrupt?.();
      exit();
      return true;
    }
    if (isSuspendKey(input, key)) {
      onSuspend?.(shown.current);
      exit();
      return true;
    }
    // (Shift-Tab goes back, as Tab goes on: it went on too until session 43)
    if (key.tab && key.shift) show((i) => (i - 1 + count) % count);
    else if (key.rightArrow || key.tab) show((i) => (i + 1) % count);
    else if (key.leftArrow) show((i) => (i - 1 + count) % count);
    else if (/^[0-9]$/.test(input)) {
      // Digits typed in quick succession make one number: 1, then 2 → view 12.
      const now = Date.now();
      const text = now - typed.current.at < NUMBER_WAIT_MS && typed.current.text ? typed.current.text + input : input;
      const number = Number(text);
      typed.current = { text: number * 10 <= count ? text : '', at: now };
      if (number >= 1 && number <= count) show(() => number - 1);
    } else if (key.downArrow || input === 'j') setScroll((t) => Math.min(maxScroll, Math.min(t, maxScroll) + 1));
    else if (key.upArrow || input === 'k') setScroll((t) => Math.max(0, Math.min(t, maxScroll) - 1));
    else if (key.pageDown || input === ' ') setScroll((t) => Math.min(maxScroll, Math.min(t, maxScroll) + Math.max(1, bodyHeight - 1)));
    else if (key.pageUp) setScroll((t) => Math.max(0, Math.min(t, maxScroll) - Math.max(1, bodyHeight - 1)));
    else if (key.home) setScroll(0);
    else if (key.end) setScroll(maxScroll);
    else if (input === 'q' || input === 'Q' || key.escape) {
      onQuit?.();
      exit();
      return true;
    }
    return false;
  };
  useInput(
    (input, key) => {
      // Keys that arrive in one read (fast typing, key repeat, a paste, a slow SSH link) come as
      // one input when they are not escape sequences: each is handled in turn, as the training
      // view does for Ctrl-C (until session 43 "j" + Ctrl-C, "jq" or "12" together did nothing).
      if (input.length > 1 && !input.includes('\u001B')) {
        for (const ch of input) if (handleKey(ch, { ...key, ctrl: false, shift: false })) return;
        return;
      }
      handleKey(input, key);
    },
    { isActive: isRawModeSupported === true },
  );
  const view = model.views[index]!;
  const position = maxScroll > 0 ? ` · lines ${top + 1}–${Math.min(contentHeight, top + bodyHeight)} of ${contentHeight}` : '';
  return (
    <Box flexDirection="column" width={columns}>
      <Text bold wrap="truncate">
        {headerLine(model)}
      </Text>
      <Tabs views={model.views} index={index} columns={columns} marked={bracketCurrent} />
      <ViewLine number={`${index + 1}/${model.views.length}`} view={view} columns={columns} />
      <Box height={bodyHeight} overflow="hidden" flexDirection="column">
        {/* (out of the flow: inside a body of one or two rows Yoga measured the page at 3 lines,
            not 43, and showed its 6th line first) */}
        <Box ref={body} position="absolute" width={columns} flexDirection="column" flexShrink={0} marginTop={-top}>
          {crossValidationLines(model, columns).map((line, i) => (
            // (a NOTE wraps: cut, its end could not be read anywhere in the view)
            <Text key={`cv-${i}`} wrap={line.startsWith('NOTE') ? 'wrap' : 'truncate'} color={line.startsWith('NOTE') ? 'yellow' : undefined} dimColor={line.startsWith('  ') && !line.includes(' acc ')}>
              {line}
            </Text>
          ))}
          <Box flexWrap="wrap" marginTop={1}>
            <ClassTable view={view} columns={columns} />
            <Confusion view={view} columns={columns} />
          </Box>
          <Pairs view={view} digits={digits} width={columns} color={color} />
          <Curves model={model} />
        </Box>
      </Box>
      {isRawModeSupported ? (
        <Text dimColor wrap="truncate">
          {keysLine(position, columns)}
        </Text>
      ) : null}
    </Box>
  );
}

/**
 * The keys line; where it does not fit, how to quit and where the page is come first (cut
 * at its end on 40 columns, "q: quit" and the position were the part not seen).
 */
export function keysLine(position: string, columns: number): string {
  const full = `←/→ or its number: view · ↑/↓ PgUp/PgDn: scroll${position} · q: quit`;
  return [...full].length <= columns ? full : `q: quit${position} · ←/→: view · ↑/↓: scroll`;
}

/**
 * Shows the dashboard on stderr (results stay on stdout) until the user quits: 'quit' (q, Q,
 * Esc) or 'interrupted' (Ctrl-C, which the caller turns into the exit status of an interrupted
 * command: Ink's own Ctrl-C handling ended the command with 0). Ctrl-Z closes the screen, stops
 * the job, and shows the dashboard again, at the same view, when the shell continues it.
 */
export async function showDashboard(props: DashboardProps): Promise<'quit' | 'interrupted'> {
  let view = props.initialView;
  for (;;) {
    // (set by the key handlers below, after render: an object, so the type is not narrowed to 'quit')
    const ended: { how: 'quit' | 'interrupted' | 'suspended' } = { how: 'quit' };
    // (its size is the terminal's, followed on resize: passed once, it kept the first one)
    const instance = render(
      <Dashboard
        {...props}
        initialView={view}
        onInterrupt={() => {
          ended.how = 'interrupted';
          props.onInterrupt?.();
        }}
        onSuspend={(shown) => {
          ended.how = 'suspended';
          view = shown;
        }}
      />,
      { stdout: viewStream(), patchConsole: false, exitOnCtrlC: false },
    );
    await instance.waitUntilExit();
    if (ended.how !== 'suspended') return ended.how;
    await new Promise<void>((resolve) => stopJob(resolve));
  }
}
