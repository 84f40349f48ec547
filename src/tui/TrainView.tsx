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

function Cell({ children, i, color }: { children: string; i: number; color?: string }) {
  return (
    <Box width={WIDTHS[i]}>
      <Text color={color} wrap="truncate">
        {children}
      </Text>
    </Box>
  );
}

export function TrainView({ state, now = Date.now() }: { state: TrainViewState; now?: number }) {
  const progress = overallProgress(state);
  return (
    <Box flexDirection="column">
      <Text>
        <Text bold>{state.title}</Text>
        <Text dimColor>{`  backend: ${state.backend}  elapsed ${formatDuration((now - state.startedAt) / 1000)}`}</Text>
      </Text>
      <Box>
        {COLUMNS.map((c, i) => (
          <Cell key={c} i={i} color="cyan">
            {c}
          </Cell>
        ))}
      </Box>
      {state.members.map((r) => (
        <Box key={r.name}>
          <Cell i={0} color={r.status === 'failed' ? 'red' : r.status === 'done' ? 'green' : undefined}>
            {r.name}
          </Cell>
          <Cell i={1}>{r.status === 'failed' ? 'failed' : `${r.epoch}/${r.epochs}`}</Cell>
          <Cell i={2}>{r.loss === null ? '—' : r.loss.toFixed(4)}</Cell>
          <Cell i={3}>{pct(r.acc)}</Cell>
          <Cell i={4}>{pct(r.valAcc)}</Cell>
          <Cell i={5}>{r.lr === null ? '—' : r.lr.toExponential(1)}</Cell>
          <Cell i={6}>{r.imagesPerSecond === null ? '—' : String(Math.round(r.imagesPerSecond))}</Cell>
          <Cell i={7}>{r.status === 'done' ? 'done' : formatDuration(etaSeconds(r, now))}</Cell>
          <Cell i={8} color="yellow">
            {r.error ?? sparkline(r.valAccHistory)}
          </Cell>
        </Box>
      ))}
      <Text>
        <Bar fraction={progress} width={40} /> {`${(progress * 100).toFixed(0)}%`}
      </Text>
    </Box>
  );
}
