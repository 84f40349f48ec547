/** The live training view: one row per member, sparklines of val_acc, overall progress. */
import { Box, Text } from 'ink';
import { etaSeconds, formatDuration, overallProgress, sparkline, type TrainViewState } from './train-state.js';

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

/**
 * How many columns fit in `width` terminal columns. Cells never shrink: a shrunk cell lost
 * its gap and the header read "val_acclr" on 80 columns (issue 15); the last columns are
 * left out instead.
 */
export function columnsThatFit(width: number): number {
  let used = 0;
  let n = 0;
  while (n < WIDTHS.length && used + WIDTHS[n]! <= width) used += WIDTHS[n++]!;
  return Math.max(1, n);
}

function Cell({ children, i, color, shown = WIDTHS.length }: { children: string; i: number; color?: string; shown?: number }) {
  if (i >= shown) return null;
  return (
    <Box width={WIDTHS[i]} flexShrink={0} paddingRight={1}>
      <Text color={color} wrap="truncate">
        {children}
      </Text>
    </Box>
  );
}

export function TrainView({ state, now = Date.now(), width = process.stderr.columns || 100 }: { state: TrainViewState; now?: number; width?: number }) {
  const progress = overallProgress(state);
  const shown = columnsThatFit(width);
  return (
    <Box flexDirection="column" width={width}>
      <Text wrap="truncate">
        <Text bold>{state.title}</Text>
        <Text dimColor>{`  backend: ${state.backend}  elapsed ${formatDuration((now - state.startedAt) / 1000)}`}</Text>
      </Text>
      <Box>
        {COLUMNS.map((c, i) => (
          <Cell key={c} i={i} color="cyan" shown={shown}>
            {c}
          </Cell>
        ))}
      </Box>
      {state.members.map((r) => (
        <Box key={r.name}>
          <Cell shown={shown} i={0} color={r.status === 'failed' ? 'red' : r.status === 'done' ? 'green' : undefined}>
            {r.name}
          </Cell>
          <Cell shown={shown} i={1}>{r.status === 'failed' ? 'failed' : `${r.epoch}/${r.epochs}`}</Cell>
          <Cell shown={shown} i={2}>{r.loss === null ? '—' : r.loss.toFixed(4)}</Cell>
          <Cell shown={shown} i={3}>{pct(r.acc)}</Cell>
          <Cell shown={shown} i={4}>{pct(r.valAcc)}</Cell>
          <Cell shown={shown} i={5}>{r.lr === null ? '—' : r.lr.toExponential(1)}</Cell>
          <Cell shown={shown} i={6}>{r.imagesPerSecond === null ? '—' : String(Math.round(r.imagesPerSecond))}</Cell>
          <Cell shown={shown} i={7}>{r.status === 'done' ? 'done' : formatDuration(etaSeconds(r, now))}</Cell>
          <Cell shown={shown} i={8} color="yellow">
            {r.error ?? sparkline(r.valAccHistory)}
          </Cell>
        </Box>
      ))}
      <Text>
        <Bar fraction={progress} width={Math.max(10, Math.min(40, width - 6))} /> {`${(progress * 100).toFixed(0)}%`}
      </Text>
    </Box>
  );
}
