import { render } from 'ink-testing-library';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { type DigitSource, buildDashboardModel } from '../../src/evaluation/dashboard-model.js';
import { computeMetrics } from '../../src/evaluation/metrics.js';
import type { EvaluationReport } from '../../src/evaluation/evaluation-report.js';
import { Dashboard } from '../../src/tui/Dashboard.js';

/** Probabilities that read row i as predicted[i] with confidence 0.8. */
function probsReading(predicted: number[]): Float32Array {
  const out = new Float32Array(predicted.length * 10).fill(0.2 / 9);
  predicted.forEach((p, i) => (out[i * 10 + p] = 0.8));
  return out;
}

// Twenty held-out rows (two of each digit) at dataset rows 100..119.
const heldOutRows = Array.from({ length: 20 }, (_, i) => 100 + i);
const labels = heldOutRows.map((_, i) => i % 10);
const reading = (wrong: Record<number, number>) => labels.map((l, i) => wrong[i] ?? l);

function fakeReport(): EvaluationReport {
  const history = (valAcc: number[]) => valAcc.map((v, epoch) => ({ epoch, loss: 1.2 - v, acc: v, valLoss: 1 - v, valAcc: v, lr: 1e-3, imagesPerSecond: 400, seconds: 5 }));
  return {
    format: 'digits-evaluation',
    version: 1,
    run: 'quick-20261121-101500',
    createdAt: '2026-11-21T10:30:00.000Z',
    dataset: { dir: '/data/.digits', fingerprint: 'sha256:abc' },
    heldOutRows,
    members: [
      // seed002-1 reads both 4s as 9 (positions 4 and 14)
      { name: 'seed002-1', preset: 'seed002', checkpoint: 'seed002-1/best', rows: 20, metrics: computeMetrics(probsReading(reading({ 4: 9, 14: 9 })), labels), history: history([0.5, 0.75, 1]), validationRows: heldOutRows },
      // deotte-2 reads one 7 as 1
      { name: 'deotte-2', preset: 'deotte', checkpoint: 'deotte-2/best', rows: 20, metrics: computeMetrics(probsReading(reading({ 7: 1 })), labels), history: history([0.6, 0.9]) },
    ],
    ensemble: {
      // the ensemble reads one 4 as 9
      soft: computeMetrics(probsReading(reading({ 14: 9 })), labels),
      hard: computeMetrics(probsReading(reading({ 14: 9, 7: 1 })), labels),
    },
  };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 30));
/** The frame once it shows `text` (or the last one after 3 s): under load a key's re-render can take longer than a tick. */
async function frameShowing(lastFrame: () => string | undefined, text: string): Promise<string> {
  for (let i = 0; i < 100 && !lastFrame()?.includes(text); i++) await tick();
  return lastFrame()!;
}
const ARROW_RIGHT = '\u001B[C';
const ARROW_LEFT = '\u001B[D';

// An 8×8 "digit": the row number decides its brightness.
const digits: DigitSource = { size: 8, image: (_set, row) => new Float32Array(64).fill(row >= 110 ? 1 : 0) };

afterEach(() => {
  vi.restoreAllMocks();
});

describe('dashboard screen', () => {
  test('shows the ensemble table, confusion heat map, misread digits and curves; keys switch views and q quits', async () => {
    // Given the dashboard of a two-member run
    const onQuit = vi.fn();
    const { lastFrame, stdin, unmount } = render(<Dashboard model={buildDashboardModel(fakeReport())} digits={digits} color={false} width={100} onQuit={onQuit} />);
    let frame = lastFrame()!;
    if (process.env.SHOW_FRAME) console.log(frame);
    // Then the ensemble (soft vote) is shown first, with its numbers
    expect(frame).toContain('Run quick-20261121-101500 evaluated 2026-11-21T10:30:00.000Z on 20 held-out rows');
    expect(frame).toMatch(/1 ensemble\s+2 ensemble-hard\s+3 seed002-1\s+4 deotte-2/);
    expect(frame).toContain('ensemble (soft vote): accuracy 95.00%');
    expect(frame).toContain('digit  precision  recall     F1  support');
    // the 4 row: 1 of 2 found; the 9 row: 2 of 3 predictions right
    expect(frame).toMatch(/\n\s+4\s+1\.000\s+0\.500\s+0\.667\s+2/);
    expect(frame).toMatch(/\n\s+9\s+0\.667\s+1\.000\s+0\.800\s+2/);
    // the confusion matrix: the 4 row has 1 correct and 1 read as 9
    expect(frame).toMatch(/t\\p\s+0\s+1\s+2\s+3\s+4\s+5\s+6\s+7\s+8\s+9/);
    expect(frame).toMatch(/\n.*4\s+·\s+·\s+·\s+·\s+1\s+·\s+·\s+·\s+·\s+1/);
    // the most-confused pair, with its dataset row and the digit drawn in shade characters
    expect(frame).toMatch(/4 read as 9\s+1×\s+#114/);
    expect(frame).toContain('4→9 #114');
    expect(frame).toContain('████');
    // the training curves
    expect(frame).toMatch(/seed002-1\s+seed002, 3 epochs, best 3\s+evaluated 90\.00%/);
    expect(frame).toMatch(/val_acc ▁▅█ 100\.00%/);
    expect(frame).toContain('←/→ or its number: view · ↑/↓ PgUp/PgDn: scroll · q: quit');

    // When → is pressed: the hard vote
    stdin.write(ARROW_RIGHT);
    frame = await frameShowing(lastFrame, 'ensemble (hard vote): accuracy 90.00%');
    expect(frame).toContain('ensemble (hard vote): accuracy 90.00%');
    expect(frame).toMatch(/\n\s+7\s+1\.000\s+0\.500\s+0\.667\s+2/);

    // When 3 is pressed: the member seed002-1, whose table differs
    stdin.write('3');
    frame = await frameShowing(lastFrame, 'seed002-1 (seed002): accuracy 90.00%');
    expect(frame).toContain('seed002-1 (seed002): accuracy 90.00%');
    expect(frame).toMatch(/\n\s+4\s+0\.000\s+0\.000\s+0\.000\s+2/);
    expect(frame).toMatch(/4 read as 9\s+2×\s+#104 #114/);

    // When → twice: deotte-2, whose rows the report cannot map, then around to the ensemble
    stdin.write(ARROW_RIGHT);
    frame = await frameShowing(lastFrame, 'deotte-2 (deotte): accuracy 95.00%');
    expect(frame).toContain('deotte-2 (deotte): accuracy 95.00%');
    expect(frame).toMatch(/7 read as 1\s+1×\s+@7/);
    stdin.write(ARROW_RIGHT);
    expect(await frameShowing(lastFrame, 'ensemble (soft vote): accuracy 95.00%')).toContain('ensemble (soft vote): accuracy 95.00%');
    stdin.write(ARROW_LEFT);
    expect(await frameShowing(lastFrame, 'deotte-2 (deotte)')).toContain('deotte-2 (deotte)');

    // When q is pressed: it quits
    stdin.write('q');
    await tick();
    expect(onQuit).toHaveBeenCalledTimes(1);
    unmount();
  });

  test('keys that arrive in one read are each handled, Ctrl-C among them; Shift-Tab goes back', async () => {
    // Given the dashboard on its first view (ensemble, then ensemble-hard, seed002-1, deotte-2)
    const model = buildDashboardModel(fakeReport());
    const onQuit = vi.fn();
    const onInterrupt = vi.fn();
    const { stdin, lastFrame, unmount } = render(<Dashboard model={model} digits={null} onQuit={onQuit} onInterrupt={onInterrupt} />);
    // When two digits come in one read ("12" fast, or pasted), Then they are read in turn: 1, then 2 (view 2)
    stdin.write('12');
    expect(await frameShowing(lastFrame, 'ensemble (hard vote)')).toContain('2/');
    // When Shift-Tab comes (ESC [ Z), Then the view before (until session 43 it went on, as Tab does)
    stdin.write('\u001B[Z');
    expect(await frameShowing(lastFrame, 'ensemble (soft vote)')).toContain('1/');
    // When j and Ctrl-C come in one read, Then Ctrl-C ends it as an interrupt (it was ignored)
    stdin.write('j\u0003');
    await tick();
    expect(onInterrupt).toHaveBeenCalledTimes(1);
    expect(onQuit).not.toHaveBeenCalled();
    unmount();
  });

  test('without colours the current view is marked in brackets (bold and inverse go with the colours)', async () => {
    const model = buildDashboardModel(fakeReport());
    const { stdin, lastFrame, unmount } = render(<Dashboard model={model} digits={null} color={false} bracketCurrent width={120} />);
    expect(lastFrame()!).toContain('[1 ensemble]');
    stdin.write(ARROW_RIGHT);
    const frame = await frameShowing(lastFrame, '[2 ensemble-hard]');
    expect(frame).toContain('[2 ensemble-hard]');
    expect(frame).not.toContain('[1 ensemble]');
    unmount();
    // (with styles the brackets are not there: inverse and bold mark it)
    const colored = render(<Dashboard model={model} digits={null} color={false} width={120} />);
    expect(colored.lastFrame()!).not.toContain('[1 ensemble]');
    colored.unmount();
  });

  test('"jq" in one read quits', async () => {
    const onQuit = vi.fn();
    const { stdin, unmount } = render(<Dashboard model={buildDashboardModel(fakeReport())} digits={null} onQuit={onQuit} />);
    stdin.write('jq');
    await tick();
    expect(onQuit).toHaveBeenCalledTimes(1);
    unmount();
  });

  test('starts on the view asked for, and says when digits cannot be drawn', () => {
    const model = buildDashboardModel(fakeReport());
    const { lastFrame, unmount } = render(<Dashboard model={model} initialView={2} digits={null} />);
    const frame = lastFrame()!;
    expect(frame).toContain('seed002-1 (seed002): accuracy 90.00%');
    expect(frame).toContain('(digits not shown: the dataset cache is not available)');
    unmount();
  });
});

describe('k-fold recipes', () => {
  test('a recipe is a view among the tabs: its out-of-fold table, matrix and misread digits', async () => {
    // Given a 2-fold run of one recipe a: a-f1 validated rows 100–109, a-f2 rows 110–119, and out of fold a read row 104 (a 4) as 9
    const report = fakeReport();
    const fold = (name: string, rows: number[]) => ({ name, preset: 'mlp', checkpoint: `${name}/best`, rows: 10, metrics: computeMetrics(probsReading(rows.map((r) => labels[r - 100]!)), rows.map((r) => labels[r - 100]!)), history: [], validationRows: rows });
    report.members = [fold('a-f1', heldOutRows.slice(0, 10)), fold('a-f2', heldOutRows.slice(10))];
    const oof = computeMetrics(probsReading(reading({ 4: 9 })), labels);
    const ms = { mean: 0.95, sd: 0.07, values: [0.9, 1] };
    report.cv = { folds: 2, split: 'kfold-2-seed1', recipes: [{ name: 'a', preset: 'mlp', members: ['a-f1', 'a-f2'], rows: 20, accuracy: ms, logLoss: ms, oof: { variant: 'plain', metrics: oof } }], ensemble: { accuracy: ms, logLoss: ms }, oofFile: 'oof-predictions.json' };
    const { lastFrame, stdin, unmount } = render(<Dashboard model={buildDashboardModel(report)} digits={digits} color={false} width={100} />);
    // Then its tab comes after the ensemble's and before its fold members'
    expect(lastFrame()!).toMatch(/1 ensemble\s+2 ensemble-hard\s+3 a\s+4 a-f1\s+5 a-f2/);
    // When 3 is pressed: the recipe on its out-of-fold predictions, titled so
    stdin.write('3');
    const frame = await frameShowing(lastFrame, 'a (mlp, out-of-fold over all 2 folds): accuracy 95.00%');
    expect(frame).toContain('3/5 a (mlp, out-of-fold over all 2 folds): accuracy 95.00%, log-loss');
    expect(frame).toMatch(/\n\s+4\s+1\.000\s+0\.500\s+0\.667\s+2/);
    expect(frame).toMatch(/4 read as 9\s+1×\s+#104/);
    expect(frame).toContain('4→9 #104');
    unmount();
  });
});

describe('dashboard that fits the terminal', () => {
  /** A run of ten members: twelve views, more than keys 1–9 reach. */
  function tenMembers(): EvaluationReport {
    const report = fakeReport();
    const first = report.members[0]!;
    report.members = Array.from({ length: 10 }, (_, i) => ({ ...first, name: `member-${i + 1}`, checkpoint: `member-${i + 1}/best` }));
    return report;
  }
  const PAGE_DOWN = '\u001B[6~';
  const settle = () => new Promise((resolve) => setTimeout(resolve, 150));
  const strip = (line: string) => line.replace(/\u001B\[[0-9;]*m/g, '');
  function expectFits(frame: string, columns: number, rows: number) {
    const lines = frame.split('\n').map(strip);
    // one line fewer than the terminal: a frame as tall as it takes Ink's full-screen path
    // (the screen cleared at each frame, no newline after the last: the prompt glued to it)
    expect(lines.length).toBeLessThanOrEqual(rows - 1);
    for (const line of lines) expect([...line].length, line).toBeLessThanOrEqual(columns);
    return lines;
  }

  test.each([
    { columns: 80, rows: 24 },
    { columns: 160, rows: 50 },
  ])('at $columns×$rows: within the screen, header and view name always on top, every view reachable', async ({ columns, rows }) => {
    // Given the dashboard of a ten-member run on a terminal of that size
    const { lastFrame, stdin, unmount } = render(<Dashboard model={buildDashboardModel(tenMembers())} digits={digits} color={false} width={columns} height={rows} />);
    await settle();
    let lines = expectFits(lastFrame()!, columns, rows);
    
    // Then the header, the tabs and the view's name are the first lines, the keys the last
    expect(lines[0]).toMatch(/^Run quick-20261121-101500 evaluated/);
    expect(lines[1]).toMatch(/^1 ensemble\s+2 ensemble-hard\s+3 member-1/);
    expect(lines[2]).toContain('1/12 ensemble (soft vote): accuracy 95.00%');
    expect(lines.at(-1)).toMatch(/←\/→ or its number: view/);

    // When the page is scrolled down to its end
    for (let i = 0; i < 4; i++) {
      stdin.write(PAGE_DOWN);
      await settle();
    }
    lines = expectFits(lastFrame()!, columns, rows);
    if (process.env.SHOW_FRAME) console.log(lastFrame());
    // Then the header and the view's name are still there, and the last member's curves came into sight
    expect(lines[0]).toMatch(/^Run quick-20261121-101500/);
    expect(lines[2]).toContain('1/12 ensemble (soft vote)');
    expect(lines.join('\n')).toMatch(/member-10\s+seed002, 3 epochs/);
    // (scrolled to the last line when the page is taller than the screen)
    if (lines.at(-1)!.includes('lines')) expect(lines.at(-1)).toMatch(/lines \d+–(\d+) of \1 /);

    // When 1 then 2 are typed: view 12, the tenth member, and its tab is in sight
    stdin.write('1');
    await settle();
    stdin.write('2');
    await settle();
    lines = expectFits(lastFrame()!, columns, rows);
    expect(lines[2]).toContain('12/12 member-10 (seed002): accuracy 90.00%');
    expect(lines[1]).toContain('12 member-10');
    expect(lines[3] === '' || /\S/.test(lines[3]!)).toBe(true);

    // When → is pressed on the last view: around to the first
    stdin.write(ARROW_RIGHT);
    await settle();
    expect(expectFits(lastFrame()!, columns, rows)[2]).toContain('1/12 ensemble (soft vote)');
    unmount();
  });

  test('it follows the terminal when it is resized: smaller, everything still fits; larger, it uses the room', async () => {
    // Given the dashboard on a 100×30 terminal, its size not passed in
    const { lastFrame, stdout, unmount } = render(<Dashboard model={buildDashboardModel(tenMembers())} digits={digits} color={false} />);
    const resize = async (columns: number, rows: number) => {
      Object.defineProperty(stdout, 'columns', { get: () => columns, configurable: true });
      Object.defineProperty(stdout, 'rows', { get: () => rows, configurable: true });
      stdout.emit('resize');
      await settle();
    };
    await resize(100, 30);
    let lines = expectFits(lastFrame()!, 100, 30);
    const tall = lines.length;
    // When the window shrinks to 60×16
    await resize(60, 16);
    lines = expectFits(lastFrame()!, 60, 16);
    if (process.env.SHOW_FRAME) console.log(lastFrame());
    // Then the header, tabs and view name are still the first lines (the view's figures before its
    // name, where the whole line does not fit), the keys the last
    expect(lines[0]).toMatch(/^Run quick-20261121-101500/);
    expect(lines[2]).toMatch(/^1\/12 95\.00%, log-loss 0\.\d{4}: ensemble \(soft vote\)/);
    expect(lines.at(-1)).toContain('q: quit');
    // When it grows to 160×50: the larger layout
    await resize(160, 50);
    lines = expectFits(lastFrame()!, 160, 50);
    expect(lines.length).toBeGreaterThan(tall);
    expect(lines[1]).toMatch(/1 ensemble\s+2 ensemble-hard\s+3 member-1\s+.*\s+8 member-6/);
    unmount();
  });

  test('on a terminal 6 rows tall the page starts at its first line and its length is the same at every scroll (it read 3, then 43)', async () => {
    const count = (frame: string) => Number(/lines \d+–\d+ of (\d+)/.exec(strip(frame))![1]);
    const tall = render(<Dashboard model={buildDashboardModel(tenMembers())} digits={digits} color={false} width={100} height={24} />);
    await settle();
    const length = count(tall.lastFrame()!);
    tall.unmount();
    const { lastFrame, stdin, unmount } = render(<Dashboard model={buildDashboardModel(tenMembers())} digits={digits} color={false} width={100} height={6} />);
    await settle();
    expect(strip(lastFrame()!)).toContain(`lines 1–1 of ${length} `);
    stdin.write('\u001B[B');
    await settle();
    expect(strip(lastFrame()!).split('\n')[3]).toMatch(/^digit\s+precision/);
    expect(strip(lastFrame()!)).toContain(`lines 2–2 of ${length} `);
    stdin.write('\u001B[A');
    await settle();
    expect(strip(lastFrame()!)).toContain(`lines 1–1 of ${length} `);
    unmount();
  });

  test('on a narrow terminal the view line puts its figures before its name; a NOTE wraps, every word of it on screen', async () => {
    const report = tenMembers();
    report.ensemble.warnings = ['the ensemble is scored on only 20 rows, so one row is 5 points of accuracy: read these figures as rough (its last words: the end)'];
    const { lastFrame, unmount } = render(<Dashboard model={buildDashboardModel(report)} digits={digits} color={false} width={40} height={30} />);
    await settle();
    const lines = expectFits(lastFrame()!, 40, 30);
    expect(lines[2]).toMatch(/^1\/12 95\.00%, log-loss 0\.\d{4}: ensemble/);
    const page = lines.join(' ').replace(/\s+/g, ' ');
    expect(page).toContain('NOTE: the ensemble is scored on only 20 rows');
    expect(page).toContain('(its last words: the end)');
    unmount();
  });

  test.each([40, 32])('at %i columns: the keys line starts with q: quit and the position, the class table keeps its rows whole', async (columns) => {
    // Given the dashboard of a ten-member run on a narrow terminal, its page longer than the screen
    const { lastFrame, stdin, unmount } = render(<Dashboard model={buildDashboardModel(tenMembers())} digits={digits} color={false} width={columns} height={24} />);
    await settle();
    stdin.write(PAGE_DOWN);
    await settle();
    const lines = expectFits(lastFrame()!, columns, 24);
    if (process.env.SHOW_FRAME) console.log(lastFrame());
    // Then the keys line shows how to quit and where the page is, first
    expect(lines.at(-1)).toMatch(/^q: quit · lines \d+–\d+ of \d+/);
    // and no line of the class table wrapped: each digit's row is one line, support last
    // (left out where the table does not fit: its other columns whole)
    stdin.write('1');
    await settle();
    const frame = expectFits(lastFrame()!, columns, 24).join('\n');
    if (columns >= 40) expect(frame).toMatch(/\n\s+4\s+1\.000\s+0\.500\s+0\.667\s+2\n/);
    else expect(frame).toMatch(/\n\s+4\s+1\.000\s+0\.500\s+0\.667\n/);
    expect(frame).toMatch(/digit\s+precision\s+recall\s+F1/);
    unmount();
  });
});
