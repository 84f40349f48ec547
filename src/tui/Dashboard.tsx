/**
 * The evaluation dashboard: per-class precision/recall/F1/support for one view (the
 * ensemble, or any member: ←/→ or 1–9 switch, q quits), the confusion matrix as a heat
 * map, the most-confused pairs with the misread digits in half blocks, and each member's
 * training curves as sparklines. Everything on screen comes from the DashboardModel.
 */
import { Box, Text, render, useApp, useInput, useStdin } from 'ink';
import { useState } from 'react';
import { gridColumns, renderDigitGrid } from '../data/inspect.js';
import {
  type DashboardModel,
  type DashboardView,
  type DigitSource,
  CLASS_TABLE_HEADER,
  classTableLines,
  headerLine,
  crossValidationLines,
  heatColor,
  misreadTiles,
  percent,
  sparkline,
} from '../evaluation/dashboard-model.js';

export interface DashboardProps {
  model: DashboardModel;
  /** Index into model.views shown first. */
  initialView?: number;
  /** Images for the misread digits; null: list the rows only. */
  digits?: DigitSource | null;
  /** Terminal columns (default: the stream's, else 100). */
  width?: number;
  /** ANSI colours for the digits (false: shade characters). */
  color?: boolean;
  /** Called when the user quits (after Ink's own exit). */
  onQuit?: () => void;
}

function Tabs({ views, index }: { views: DashboardView[]; index: number }) {
  return (
    <Box flexWrap="wrap" columnGap={2}>
      {views.map((v, i) => (
        <Text key={v.key} inverse={i === index} bold={i === index} dimColor={i !== index}>
          {`${i < 9 ? `${i + 1} ` : ''}${v.key}`}
        </Text>
      ))}
    </Box>
  );
}

function ClassTable({ view }: { view: DashboardView }) {
  const [header, ...rows] = classTableLines(view);
  const macro = rows.pop()!;
  return (
    <Box flexDirection="column" marginRight={3}>
      <Text color="cyan">{header ?? CLASS_TABLE_HEADER}</Text>
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

function Confusion({ view }: { view: DashboardView }) {
  const width = Math.max(2, ...view.heat.flat().map((cell) => String(cell.count).length)) + 1;
  return (
    <Box flexDirection="column">
      <Text color="cyan">
        {'t\\p'.padEnd(4)}
        {view.heat.map((_, p) => String(p).padStart(width)).join('')}
      </Text>
      {view.heat.map((row, t) => (
        <Box key={t}>
          <Text color="cyan">{String(t).padEnd(4)}</Text>
          {row.map((cell, p) => {
            const bg = heatColor(cell);
            return (
              <Text key={p} backgroundColor={bg ?? undefined} color={bg ? 'white' : undefined} dimColor={!bg} bold={cell.diagonal}>
                {(cell.count === 0 ? '·' : String(cell.count)).padStart(width)}
              </Text>
            );
          })}
        </Box>
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
        <Text key={`${pair.trueLabel}-${pair.predicted}`}>
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
      <Text bold>Training curves</Text>
      {model.members.map((m) => (
        <Box key={m.name} flexDirection="column">
          <Text>
            <Text bold>{`  ${m.name.padEnd(nameWidth)}`}</Text>
            <Text dimColor>{`  ${m.preset}, ${m.epochs} epochs, best ${m.bestEpoch === null ? '—' : m.bestEpoch + 1}`}</Text>
            {`  evaluated ${percent(m.accuracy)}${m.ttaAccuracy === null ? '' : `, TTA ${percent(m.ttaAccuracy)}`}`}
          </Text>
          {m.epochs > 0 ? (
            <Text>
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

export function Dashboard({ model, initialView = 0, digits = null, width, color = true, onQuit }: DashboardProps) {
  const [index, setIndex] = useState(Math.min(Math.max(0, initialView), model.views.length - 1));
  const { isRawModeSupported } = useStdin();
  const { exit } = useApp();
  useInput(
    (input, key) => {
      const count = model.views.length;
      if (key.rightArrow || key.tab) setIndex((i) => (i + 1) % count);
      else if (key.leftArrow) setIndex((i) => (i - 1 + count) % count);
      else if (/^[1-9]$/.test(input) && Number(input) <= count) setIndex(Number(input) - 1);
      else if (input === 'q' || key.escape) {
        onQuit?.();
        exit();
      }
    },
    { isActive: isRawModeSupported === true },
  );
  const view = model.views[index]!;
  const columns = width ?? 100;
  return (
    <Box flexDirection="column">
      <Text bold>{headerLine(model)}</Text>
      {crossValidationLines(model).map((line, i) => (
        <Text key={`cv-${i}`} color={line.startsWith('NOTE') ? 'yellow' : undefined} dimColor={line.startsWith('  ') && !line.includes(' acc ')}>
          {line}
        </Text>
      ))}
      <Tabs views={model.views} index={index} />
      <Text>
        <Text bold>{view.title}</Text>
        {`: accuracy `}
        <Text color="green">{percent(view.accuracy)}</Text>
        {`, log-loss ${view.logLoss.toFixed(4)} on ${view.rows} rows`}
      </Text>
      <Box flexWrap="wrap" marginTop={1}>
        <ClassTable view={view} />
        <Confusion view={view} />
      </Box>
      <Pairs view={view} digits={digits} width={columns} color={color} />
      <Curves model={model} />
      {isRawModeSupported ? <Text dimColor>←/→ or 1–9: switch view · q: quit</Text> : null}
    </Box>
  );
}

/** Shows the dashboard on stderr (results stay on stdout) until the user quits. */
export async function showDashboard(props: DashboardProps): Promise<void> {
  const instance = render(<Dashboard {...props} />, { stdout: process.stderr, patchConsole: false });
  await instance.waitUntilExit();
}
