import { render } from 'ink-testing-library';
import { describe, expect, test } from 'vitest';
import { TrainView } from '../../src/tui/TrainView.js';
import { etaSeconds, initialState, overallProgress, reduce, sparkline, withPlannedMembers } from '../../src/tui/train-state.js';

describe('live training view', () => {
  const t0 = 1_000_000;
  const members = [
    { name: 'seed002-1', epochs: 4 },
    { name: 'deotte-2', epochs: 4 },
  ];

  test('events fold into rows: epochs, metrics, sparkline, failures and overall progress', () => {
    // Given two members, one training two epochs and one failing
    let s = initialState('digits train: quick', 'wasm', members, t0);
    s = reduce(s, { type: 'engine', member: 'seed002-1', backend: 'wasm', ort: true }, t0);
    s = reduce(s, { type: 'start', member: 'seed002-1', epochs: 4, batches: 100, trainRows: 6400, validationRows: 600, resumedAt: 0 }, t0);
    for (const [epoch, valAcc] of [[0, 0.9], [1, 0.95]] as const) {
      s = reduce(s, { type: 'epoch', member: 'seed002-1', epochs: 4, best: true, epoch, loss: 0.3, acc: 0.9, valLoss: 0.2, valAcc, lr: 1e-3, imagesPerSecond: 200, seconds: 30 }, t0 + (epoch + 1) * 30_000);
    }
    s = reduce(s, { type: 'batch', member: 'seed002-1', epoch: 2, batch: 50, batches: 100, loss: 0.25, imagesPerSecond: 210 }, t0 + 75_000);
    s = reduce(s, { type: 'member-failed', member: 'deotte-2', error: 'out of memory\nstack…' }, t0 + 75_000);
    // Then the state says so
    const [a, b] = s.members;
    expect(a).toMatchObject({ status: 'training', epoch: 2, batch: 50, valAcc: 0.95, valAccHistory: [0.9, 0.95] });
    expect(b).toMatchObject({ status: 'failed', error: 'out of memory' });
    expect(s.backend).toBe('wasm + onnxruntime kernels');
    // 2.5 of 4 epochs for one member, the failed one counts as finished
    expect(overallProgress(s)).toBeCloseTo((2.5 + 4) / 8, 5);
    // 75 s for 2.5 epochs → 45 s for the remaining 1.5
    expect(etaSeconds(a!, t0 + 75_000)).toBeCloseTo(45, 5);
    expect(sparkline([0.9, 0.95])).toBe('▁█');

    // When the view renders it
    const { lastFrame } = render(<TrainView state={s} now={t0 + 75_000} />);
    const frame = lastFrame()!;
    // Then the header, both rows, their metrics and the bar are on screen
    expect(frame).toContain('digits train: quick');
    expect(frame).toContain('backend: wasm + onnxruntime kernels');
    expect(frame).toMatch(/seed002-1\s+2\/4\s+0\.2500\s+90\.00%\s+95\.00%\s+1\.0e-3\s+210\s+45s\s+▁█/);
    expect(frame).toMatch(/deotte-2\s+failed/);
    expect(frame).toContain('out of memory');
    expect(frame).toContain('81%');
  });

  test.each([80, 60])('at %i columns the header keeps its gaps ("val_acc  lr", not "val_acclr") and no line is wider', (width) => {
    // Given a member mid-training on a narrow terminal
    let s = initialState('digits train: quick → runs/quick-20261121-101500', 'wasm', members, t0);
    s = reduce(s, { type: 'start', member: 'seed002-1', epochs: 4, batches: 100, trainRows: 6400, validationRows: 600, resumedAt: 0 }, t0);
    // When the view renders at that width
    const { lastFrame } = render(<TrainView state={s} now={t0} width={width} />);
    const lines = lastFrame()!.split('\n');
    // Then the columns keep their gaps, and the sparkline column is left out rather than squeezing the rest
    expect(lines[1]).toMatch(/member\s+epoch\s+loss\s+acc\s+val_acc\s+lr/);
    expect(lines[1]).not.toContain('val_acclr');
    expect(lines[1]).not.toContain('by epoch');
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(width);
  });
});

describe('live training view on a small terminal', () => {
  const t0 = 1_000_000;
  /** `train --folds 5` of three recipes: fifteen members, nine done, two running, four queued. */
  function fifteenMembers() {
    const names = ['seed002', 'deotte', 'wide'].flatMap((recipe) => [1, 2, 3, 4, 5].map((fold) => ({ name: `${recipe}-f${fold}`, epochs: 2 })));
    let s = initialState('digits train: quick → runs/quick-20261121-101500', 'wasm', names, t0);
    for (const { name } of names.slice(0, 11)) s = reduce(s, { type: 'start', member: name, epochs: 2, batches: 10, trainRows: 640, validationRows: 60, resumedAt: 0 }, t0);
    for (const { name } of names.slice(0, 9)) s = reduce(s, { type: 'done', member: name } as Parameters<typeof reduce>[1], t0);
    return s;
  }
  const strip = (line: string) => line.replace(/\u001B\[[0-9;]*m/g, '');

  test.each([
    { rows: 9, memberRows: 4, more: '+ 11 more: 7 done, 4 queued' },
    { rows: 24, memberRows: 15, more: null },
    { rows: 12, memberRows: 7, more: '+ 8 more: 4 done, 4 queued' },
  ])('at $rows rows: at most rows − 1 lines, title, header, running members and bar in sight', ({ rows, memberRows, more }) => {
    // Given fifteen members of a five-fold run, two of them running
    const s = fifteenMembers();
    // When the view renders on a terminal of that many rows
    const { lastFrame, unmount } = render(<TrainView state={s} now={t0} width={100} height={rows} />);
    const lines = lastFrame()!.split('\n').map(strip);
    if (process.env.SHOW_FRAME) console.log(lastFrame());
    // Then it is shorter than the terminal (a full-screen frame makes Ink clear the screen and scrollback)
    expect(lines.length).toBeLessThanOrEqual(rows - 1);
    expect(lines[0]).toContain('digits train: quick');
    expect(lines[1]).toMatch(/^member\s+epoch/);
    expect(lines.at(-1)).toMatch(/[█░]+ \d+%$/);
    // the running members have their rows, the others are counted on one line
    expect(lines.filter((line) => /^deotte-f5\s+0\/2/.test(line) || /^wide-f1\s+0\/2/.test(line))).toHaveLength(2);
    expect(lines.filter((line) => /^(seed002|deotte|wide)-f\d/.test(line))).toHaveLength(memberRows);
    if (more) expect(lines.at(-2)).toBe(more);
    else expect(lines.join('\n')).not.toContain('more:');
    unmount();
    // a queue's notice (nobody takes the jobs) has its line under the title, and the frame still fits
    const noticed = render(<TrainView state={{ ...s, notice: 'no worker takes jobs from this queue (database 0)' }} now={t0} width={100} height={rows} />);
    const withNotice = noticed.lastFrame()!.split('\n').map(strip);
    expect(withNotice[1]).toBe('no worker takes jobs from this queue (database 0)');
    expect(withNotice.length).toBeLessThanOrEqual(rows - 1);
    noticed.unmount();
  });

  test('it follows the terminal when it is resized: narrower, fewer columns; shorter, fewer rows', async () => {
    // Given the view on a terminal of 120×40, sizes not passed in
    const s = fifteenMembers();
    const { lastFrame, stdout, unmount } = render(<TrainView state={s} now={t0} />);
    const resize = async (columns: number, rows: number) => {
      Object.defineProperty(stdout, 'columns', { get: () => columns, configurable: true });
      Object.defineProperty(stdout, 'rows', { get: () => rows, configurable: true });
      stdout.emit('resize');
      await new Promise((resolve) => setTimeout(resolve, 30));
    };
    await resize(120, 40);
    let lines = lastFrame()!.split('\n').map(strip);
    expect(lines[1]).toContain('val_acc by epoch');
    expect(lines.length).toBe(18);
    // When the window shrinks to 60×10
    await resize(60, 10);
    lines = lastFrame()!.split('\n').map(strip);
    if (process.env.SHOW_FRAME) console.log(lastFrame());
    // Then the view is redrawn at that size without waiting for the next training event
    expect(lines.length).toBeLessThanOrEqual(9);
    expect(lines[1]).not.toContain('by epoch');
    for (const line of lines) expect([...line].length).toBeLessThanOrEqual(60);
    // When it grows again: every member has its row again
    await resize(120, 40);
    expect(lastFrame()!.split('\n')).toHaveLength(18);
    unmount();
  });
});

describe('live view of `digits run`: the plan known after the view is mounted', () => {
  const t0 = 1_000_000;
  const start = (member: string) => ({ type: 'start' as const, member, epochs: 2, batches: 10, trainRows: 640, validationRows: 60, resumedAt: 0 });
  const done = (member: string) => ({ type: 'done' as const, member, bestEpoch: 1, bestValLoss: 0.3, bestValAcc: 0.9, stoppedEarly: false, stoppedAtDeadline: false });

  test('the planned members join in the plan\'s order: the bar counts them all, rows that report keep their figures', () => {
    // Given the view mounted at the first event of training (an engine event), before the plan is read
    let s = initialState('digits run → runs/quick-x', 'auto', [], t0);
    s = reduce(s, { type: 'engine', member: 'm-2', backend: 'wasm', ort: true }, t0);
    s = reduce(s, { type: 'engine', member: 'm-5', backend: 'wasm', ort: true }, t0);
    s = reduce(s, start('m-2'), t0);
    for (const name of ['m-1', 'm-3', 'm-4']) s = reduce(reduce(s, start(name), t0), done(name), t0);
    // Then the engine of the first event is in the title (the view used to mount at the first "start", after it)
    expect(s.backend).toBe('wasm + onnxruntime kernels');
    // When the plan of six members is known
    const planned = ['m-1', 'm-2', 'm-3', 'm-4', 'm-5', 'm-6'].map((name) => ({ name, epochs: 2 }));
    const withPlan = withPlannedMembers(s, planned);
    // Then all six have a row in the plan's order, the running one keeps its status
    expect(withPlan.members.map((r) => r.name)).toEqual(planned.map((m) => m.name));
    expect(withPlan.members[1]).toMatchObject({ status: 'training', epochs: 2 });
    expect(withPlan.members[4]).toMatchObject({ status: 'waiting', epochs: 2 });
    // (m-5 reported its engine before the plan came, its epochs not yet known: the plan's)
    expect(withPlan.members[4]).toMatchObject({ name: 'm-5', epochs: 2 });
    // and the bar says 3 of 6 done, not 3 of the 4 it had heard of
    expect(overallProgress(s)).toBe(0.75); // (m-5's 0 epochs count for nothing)
    expect(overallProgress(withPlan)).toBeCloseTo(3 / 6, 5);
    // and a member outside the plan (not expected) keeps its row, last
    expect(withPlannedMembers(reduce(s, start('other'), t0), planned).members.at(-1)!.name).toBe('other');
  });
});

describe('live training view: names and failures', () => {
  const t0 = 1_000_000;
  const strip = (line: string) => line.replace(/\u001B\[[0-9;]*m/g, '');

  test('member names longer than 13 characters are shown whole, so that fold members stay apart', () => {
    // Given fold members whose names share their first 13 characters
    const names = ['seed002-noisy-f1', 'seed002-noisy-f2'];
    let s = initialState('digits train: t', 'wasm', names.map((name) => ({ name, epochs: 2 })), t0);
    s = reduce(s, { type: 'start', member: names[0]!, epochs: 2, batches: 10, trainRows: 640, validationRows: 60, resumedAt: 0 }, t0);
    // When the view renders on 80 columns
    const lines = render(<TrainView state={s} now={t0} width={80} />).lastFrame()!.split('\n').map(strip);
    // Then each row names its member whole, the figures after it, and no line is wider than the terminal
    expect(lines.some((l) => /^seed002-noisy-f1\s+0\/2/.test(l))).toBe(true);
    expect(lines.some((l) => /^seed002-noisy-f2\s+0\/2/.test(l))).toBe(true);
    expect(lines[1]).toMatch(/^member\s+epoch\s+loss/);
    for (const line of lines) expect([...line].length).toBeLessThanOrEqual(80);
  });

  test.each([120, 80])('names longer than 30 characters keep their fold suffix at %i columns, and the elapsed time is on the title line', (width) => {
    // Given fold members with a long recipe name (names may have 80 characters)
    const names = ['mlp-second-with-a-long-name-f1', 'mlp-second-with-a-long-name-f2', 'mlp-1-f1'];
    let s = initialState('digits run → runs/auto-20261206-054500', 'wasm + onnxruntime kernels', names.map((name) => ({ name, epochs: 2 })), t0);
    s = reduce(s, { type: 'start', member: names[0]!, epochs: 2, batches: 10, trainRows: 640, validationRows: 60, resumedAt: 0 }, t0);
    // When the view renders
    const lines = render(<TrainView state={s} now={t0 + 7_000} width={width} />).lastFrame()!.split('\n').map(strip);
    // Then the two folds stay apart: whole where the terminal has room (120), cut in the middle where it has not (80)
    // (until session 43 both were cut at 30 characters, at any width, to the same `mlp-second-with-a-long-name-…`)
    const rows = lines.filter((l) => /\s0\/2/.test(l)).map((l) => l.split(/\s{2,}|\s(?=0\/2)/)[0]!.trim());
    expect(rows).toHaveLength(3);
    expect(new Set(rows).size).toBe(3);
    if (width === 120) expect(rows.slice(0, 2)).toEqual(names.slice(0, 2));
    else for (const [i, row] of rows.slice(0, 2).entries()) expect(row).toMatch(new RegExp(`^mlp-second-.*….*-name-f${i + 1}$`));
    // and the title line shows the elapsed time (at 80 columns it was the part cut)
    expect(lines[0]).toContain('elapsed 7s');
    for (const line of lines) expect([...line].length).toBeLessThanOrEqual(width);
  });

  test.each([80, 50])("a failed member's error is on its row at %i columns", (width) => {
    // Given a member that failed
    let s = initialState('digits train: t', 'wasm', [{ name: 'seed002-1', epochs: 2 }, { name: 'seed002-2', epochs: 2 }], t0);
    s = reduce(s, { type: 'member-failed', member: 'seed002-2', error: 'cannot read init checkpoints/x: no such folder' }, t0);
    // When the view renders on a terminal narrower than every column
    const lines = render(<TrainView state={s} now={t0} width={width} />).lastFrame()!.split('\n').map(strip);
    // Then the failed row says so and begins its error (the last column, where it was, is not shown)
    expect(lines[1]).not.toContain('by epoch');
    expect(lines.find((l) => l.startsWith('seed002-2'))).toMatch(/^seed002-2\s+failed\s+cannot read init/);
    for (const line of lines) expect([...line].length).toBeLessThanOrEqual(width);
  });

  test('a member re-planned as it starts: its row counts the epochs it has, and the notice says why', () => {
    let s = initialState('digits run → runs/auto', 'wasm', [{ name: 'seed002-1-f1', epochs: 7 }, { name: 'seed002-1-f2', epochs: 7 }], t0);
    s = reduce(s, { type: 'replanned', member: 'seed002-1-f2', planned: 7, epochs: 4, secondsPerEpoch: 24.06, secondsLeft: 101 }, t0);
    expect(s.members.map((m) => m.epochs)).toEqual([7, 4]);
    expect(s.notice).toBe("seed002-1-f2: 4 epochs instead of 7: 101 s left before the budget's deadline, at 24.1 s an epoch");
    const lines = render(<TrainView state={s} now={t0} width={100} />).lastFrame()!.split('\n').map(strip);
    expect(lines.some((l) => l.includes('4 epochs instead of 7'))).toBe(true);
  });
});
