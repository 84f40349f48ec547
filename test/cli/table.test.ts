import { describe, expect, test } from 'vitest';
import { displayWidth, fitWidths, renderTable } from '../../src/cli/table.js';
import { SUBMISSION_COLUMNS, formatTable } from '../../src/commands/submissions.js';
import { formatRunsTable } from '../../src/cli/runs-summary.js';
import type { RunSummary } from '../../src/services/runs.js';

// A ledger row as `digits submissions` shows it (about 150 columns wide unwrapped).
const row = ['2026-11-21 10:15:02', '20261121-101500-quick-ensemble.csv', 'quick-20261121-100000', '4', 'soft int8', '8-way', '99.12%', '0.0311', '98.75%', 'ok'];

/** Every non-space character of `pieces` is in `text` (as many times): nothing was cut off. */
function holdsAll(text: string, pieces: string[]): void {
  const count = (t: string) => [...t.replace(/\s+/g, '')].reduce((m, c) => m.set(c, (m.get(c) ?? 0) + 1), new Map<string, number>());
  const have = count(text);
  for (const [c, n] of count(pieces.join(''))) expect(have.get(c) ?? 0, `${c} in\n${text}`).toBeGreaterThanOrEqual(n);
}

/** Two runs as `digits runs` lists them: a k-fold run with a long `differs in`, and an interrupted one. */
function runSummary(over: Partial<RunSummary>): RunSummary {
  return {
    name: 'auto-20261206-045201', dir: '/p/runs/auto-20261206-045201', createdAt: '2026-12-06T04:52:20.000Z', seconds: 4, ensemble: 'auto',
    data: { dir: '/p/comp/.digits', name: 'comp', fingerprint: 'sha256:9b1c0e2a' }, validation: 'kfold 2 seed 42', recipes: 1, members: 2, checkpointed: 2, failed: 0,
    cv: { folds: 2, accuracy: { mean: 0.98, sd: 0.0047 }, logLoss: { mean: 0.07, sd: 0.01 } } as RunSummary['cv'], heldOut: { rows: 600, accuracy: 0.98, logLoss: 0.07 }, weighted: null, heldOutSelectedBy: null,
    test: { accuracy: 0.995, answers: 'a.csv', file: 'f.csv', createdAt: '2026-12-06T04:53:00Z' }, differences: [], state: 'evaluated', note: null, ...over,
  };
}
const RUNS = [
  runSummary({}),
  runSummary({ name: 'auto-20261206-045230', dir: '/p/runs/auto-20261206-045230', createdAt: '2026-12-06T04:55:00.000Z', seconds: 65, validation: 'shared 10% seed 42', members: 1, checkpointed: 0, cv: null, heldOut: null, test: null, state: 'interrupted', differences: ['validation=kfold 2 seed 42', 'recipes=1', 'init=mnist-noisy/seed002', 'learningRate=0.000034', 'seed=300'] }),
];
const RUN_HEADERS = ['run', 'created (UTC)', 'training time', 'validation', 'members', 'CV acc (mean ± sd)', 'held-out acc', 'test', 'differs in'];

describe('tables that know the terminal width', () => {
  test.each([80, 100, 160])('at %i columns no line is wider, and every character is still there', (width) => {
    const text = renderTable(SUBMISSION_COLUMNS, [row, row], { width, names: SUBMISSION_COLUMNS.map((c) => c === 'file' || c === 'run') });
    for (const line of text.split('\n')) expect(line.length, line).toBeLessThanOrEqual(width);
    holdsAll(text, [...SUBMISSION_COLUMNS, ...row, ...row]);
    const ledger = formatTable(SUBMISSION_COLUMNS, [row, row], width);
    for (const line of ledger.split('\n')) expect(line.length, line).toBeLessThanOrEqual(width);
    holdsAll(ledger, [...row, ...row]);
  });

  test('at 80 columns the ledger keeps dates, numbers and headers whole, breaks file and run names in two at most, and moves the member count, voting and TTA below each row', () => {
    // (until session 35 every column was squeezed to 6 letters: "2026-1 / 1-21 1 / 0:15:0 / 2"; until session 43 the names were: "202612 / 06-045 / 158-au")
    const text = formatTable(SUBMISSION_COLUMNS, [row], 80);
    expect(text).toMatch(/^2026-11-21 /m);
    for (const word of ['created', '(UTC)', '99.12%', '0.0311', '98.75%', 'status']) expect(text).toMatch(new RegExp(`(^|\\s)${word.replace(/[().]/g, '\\$&')}(\\s|$)`, 'm'));
    const [fileStart, runStart] = [text.indexOf('20261121-'), text.indexOf('quick-2026')];
    expect(text.slice(fileStart).match(/^\S+/)![0].length).toBeGreaterThanOrEqual(10);
    expect(text.slice(runStart).match(/^\S+/)![0].length).toBeGreaterThanOrEqual(10);
    expect(text.split('\n')).toContain('  members: 4; voting: soft int8; tta: 8-way');
    for (const line of text.split('\n')) expect(line.length, line).toBeLessThanOrEqual(80);
    // while a wide terminal keeps every column in the table
    expect(formatTable(SUBMISSION_COLUMNS, [row], 160)).not.toContain('members:');
  });

  test.each([80, 100, 120, 160])('runs at %i columns: `differs in` and headers keep whole words (run names break first), or `differs in` goes below its row', (width) => {
    const text = formatRunsTable(RUNS, width);
    for (const line of text.split('\n')) expect(line.length, line).toBeLessThanOrEqual(width);
    // every key=value and every header word is whole (`init=mnist-noisy/see` + `d002`, `validatio` + `n` until session 43)
    const words = new Set(text.split(/[\s;]+/));
    for (const word of RUNS[1]!.differences.flatMap((pair) => pair.split(' '))) expect(words, word).toContain(word);
    for (const word of RUN_HEADERS.join(' ').split(' ')) expect([...words].some((w) => w === word || w === `${word}:`), word).toBe(true);
    for (const word of ['interrupted', 'checkpoint)', '2026-12-06']) expect(words, word).toContain(word);
    // the k-fold figure stays on one line, printed with plain spaces
    expect(text).toContain('98.00 ± 0.47%');
    expect(text).not.toContain('\u00a0');
    // at 80 the detail goes below the row: `differs in` (then the run's time) on an indented line
    if (width === 80) expect(text).toMatch(/\n {2}created \(UTC\): 2026-12-06 04:55:00; training time: 1m05s; differs in:\s+validation=kfold 2 seed 42/);
    if (width >= 120) expect(text).not.toMatch(/differs in:/);
  });

  test('piped (no width), runs keep one line per run and every column', () => {
    const text = formatRunsTable(RUNS, Number.POSITIVE_INFINITY);
    expect(text.trimEnd().split('\n')).toHaveLength(3);
    expect(text).toContain('init=mnist-noisy/seed002 learningRate=0.000034 seed=300');
  });

  test('fitWidths: the widest column narrows to its longest word first, then names break (into pieces of 10 at least), and only then other words', () => {
    // columns: a run name (20), a long key=value column whose longest word is 24, a short one
    const natural = [20, 60, 8];
    const floors = [20, 24, 8];
    const names = [true, false, false];
    // room for whole words: the long column gives way down to its longest word, the name stays whole
    expect(fitWidths(natural, 20 + 24 + 8 + 4, floors, names)).toEqual([20, 24, 8]);
    // less: the name breaks, the words do not
    expect(fitWidths(natural, 12 + 24 + 8 + 4, floors, names)).toEqual([12, 24, 8]);
    expect(fitWidths(natural, 10 + 24 + 8 + 4, floors, names, 2)).toEqual([10, 24, 8]);
    // and only when names are down to 10, other words (the widest first)
    expect(fitWidths(natural, 10 + 20 + 8 + 4, floors, names)).toEqual([10, 20, 8]);
    // asked to keep words whole, it stops there (the caller then moves columns out)
    expect(fitWidths(natural, 40, floors, names, 2)).toEqual([10, 24, 8]);
  });

  test('wide characters are measured by their width on screen: columns stay aligned', () => {
    const text = renderTable(['run', 'acc'], [['試験-run', '9.50%'], ['plain-run', '10.25%']], { width: Number.POSITIVE_INFINITY });
    const [, first, second] = text.split('\n');
    // the accuracy column ends at the same screen column on both rows
    expect(displayWidth(first!)).toBe(displayWidth(second!));
  });

  test('piped (no width): one line per record, numbers right-aligned two spaces apart', () => {
    const text = renderTable(['name', 'acc'], [['a', '9.50%'], ['bb', '10.25%']], { width: Number.POSITIVE_INFINITY });
    expect(text.split('\n')).toEqual(['name     acc', 'a      9.50%', 'bb    10.25%']);
  });
});
