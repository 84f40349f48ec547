import { execFile } from 'node:child_process';
import { mkdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from 'vitest';
import DashboardCommand from '../../src/commands/dashboard.js';
import ReportCommand from '../../src/commands/report.js';
import { importCompetition, resolveCompetitionFiles } from '../../src/data/import.js';
import { computeMetrics } from '../../src/evaluation/metrics.js';
import { type EvaluationReport, writeEvaluationReport } from '../../src/evaluation/evaluation-report.js';
import { competition, csv, removeTempDirs, tempDir } from '../data/helpers.js';
import { runCommand as runInProcess } from '../helpers/run-command.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);

afterAll(removeTempDirs);
afterEach(() => {
  vi.restoreAllMocks();
});

const runCommand = (command: Parameters<typeof runInProcess>[0], argv: string[]) => runInProcess(command, argv, root);

function probsReading(predicted: number[]): Float32Array {
  const out = new Float32Array(predicted.length * 10).fill(0.2 / 9);
  predicted.forEach((p, i) => (out[i * 10 + p] = 0.8));
  return out;
}

/**
 * A real 8×8 competition imported with the real import code: 20 training rows (labels
 * 0..9 twice), row r filled with the grey r·12; 3 test rows.
 */
async function tinyDataset(): Promise<{ dir: string; fingerprint: string }> {
  const pixels = (value: number) => new Array<number>(64).fill(value).join(',');
  const header = ['label', ...Array.from({ length: 64 }, (_, i) => `pixel${i}`)].join(',');
  const train = Array.from({ length: 20 }, (_, r) => `${r % 10},${pixels(r * 12)}`);
  const test = Array.from({ length: 3 }, (_, r) => pixels(r * 100));
  const dir = await competition({
    'train.csv': csv(header, ...train),
    'test.csv': csv(header.replace('label,', ''), ...test),
  });
  const imported = await importCompetition({ ...(await resolveCompetitionFiles([dir])), orientation: 'as-is' });
  return { dir: imported.datasetDir, fingerprint: imported.fingerprint };
}

function fakeReport(dataset: { dir: string; fingerprint: string }, run: string): EvaluationReport {
  // rows 10..19 held out; the ensemble reads the 4 (row 14) as 9, the member beta reads the 7 (row 17) as 1
  const heldOutRows = [10, 11, 12, 13, 14, 15, 16, 17, 18, 19];
  const labels = heldOutRows.map((r) => r % 10);
  const history = (valAcc: number[]) => valAcc.map((v, epoch) => ({ epoch, loss: 1.2 - v, acc: v, valLoss: 1 - v, valAcc: v, lr: 1e-3, imagesPerSecond: 400, seconds: 5 }));
  return {
    format: 'digits-evaluation',
    version: 1,
    run,
    createdAt: '2026-11-21T10:30:00.000Z',
    dataset,
    heldOutRows,
    members: [
      { name: 'alpha', preset: 'seed002', checkpoint: 'alpha/best', rows: 10, metrics: computeMetrics(probsReading(labels), labels), history: history([0.5, 0.8, 1]), validationRows: heldOutRows },
      { name: 'beta', preset: 'deotte', checkpoint: 'beta/best', rows: 10, metrics: computeMetrics(probsReading(labels.map((l) => (l === 7 ? 1 : l))), labels), history: history([0.6, 0.9]), validationRows: heldOutRows },
    ],
    ensemble: {
      soft: computeMetrics(probsReading(labels.map((l) => (l === 4 ? 9 : l))), labels),
      hard: computeMetrics(probsReading(labels), labels),
    },
  };
}

describe('dashboard and report commands, as a user runs them', () => {
  let work: string;
  let runDir: string;
  let olderRun: string;

  beforeAll(async () => {
    // Given a dataset and two evaluated runs under <work>/runs, "quick-b" evaluated last
    const dataset = await tinyDataset();
    work = await tempDir('digits-dash-');
    olderRun = join(work, 'runs', 'quick-a');
    runDir = join(work, 'runs', 'quick-b');
    await mkdir(olderRun, { recursive: true });
    await mkdir(runDir, { recursive: true });
    await mkdir(join(work, 'runs', 'not-evaluated'));
    await writeFile(join(work, 'runs', 'not-evaluated', 'run.json'), JSON.stringify({ status: 'trained', members: [{ name: 'alpha', ok: true }] }));
    await mkdir(join(work, 'runs', 'no-run'));
    await writeEvaluationReport(olderRun, fakeReport(dataset, 'quick-a'));
    await writeEvaluationReport(runDir, fakeReport(dataset, 'quick-b'));
    await utimes(join(olderRun, 'evaluation.json'), new Date('2026-01-01'), new Date('2026-01-01'));
  });

  test('`node bin/dev.js dashboard --run <dir>` piped: the tables once, misread digits in shade characters, exit 0', async () => {
    const { stdout, stderr } = await run('node', [join(root, 'bin/dev.js'), 'dashboard', '--run', runDir], { cwd: work, env: { ...process.env, CI: 'true' } });
    expect(stderr).toBe('');
    expect(stdout).toContain('Run quick-b evaluated 2026-11-21T10:30:00.000Z on 10 held-out rows');
    expect(stdout).toContain('ensemble (soft vote): accuracy 90.00%');
    expect(stdout).toMatch(/\n\s+4\s+0\.000\s+0\.000\s+0\.000\s+1\n/);
    expect(stdout).toMatch(/\n\s+9\s+0\.500\s+1\.000\s+0\.667\s+1\n/);
    expect(stdout).toContain('4 read as 9     1×  rows #14');
    // row 14 is the grey 14·12/255 ≈ 0.66: drawn with ▓ (8 pixels wide, 4 lines of half blocks)
    expect(stdout).toContain('4→9 #14');
    expect(stdout).toMatch(/\n▓{8}\n▓{8}\n▓{8}\n▓{8}\n/);
    expect(stdout).toMatch(/alpha\s+seed002, 3 epochs, best 3; evaluated 100\.00%/);
  });

  test('without --run: the newest evaluated run under runs/; --member picks the view; --json prints the model', async () => {
    const cwd = process.cwd();
    process.chdir(work);
    try {
      const plain = await runCommand(DashboardCommand, ['--member', 'beta']);
      expect(plain.exit).toBe(0);
      expect(plain.stdout).toContain('Run quick-b evaluated');
      expect(plain.stdout).toContain('beta (deotte): accuracy 90.00%');
      expect(plain.stdout).toContain('7 read as 1     1×  rows #17');

      const json = await runCommand(DashboardCommand, ['--json', '--run', olderRun]);
      const model = JSON.parse(json.stdout);
      expect(model).toMatchObject({ runDir: olderRun, view: 'ensemble', run: 'quick-a', heldOutRows: 10 });
      expect(model.views.map((v: { key: string }) => v.key)).toEqual(['ensemble', 'ensemble-hard', 'alpha', 'beta']);
      expect(model.views[0].pairs[0]).toEqual({ trueLabel: 4, predicted: 9, count: 1, samples: [{ position: 4, row: 14 }] });

      const unknown = await runCommand(DashboardCommand, ['--member', 'gamma']);
      expect(unknown.exit).toBe(2);
      expect(unknown.stderr).toContain('error: no member or view named "gamma" in the evaluation of quick-b (flag --member)');
      expect(unknown.stderr).toContain('hint: Pick one of: ensemble, ensemble-hard, alpha, beta.');
    } finally {
      process.chdir(cwd);
    }
  });

  test('a folder without evaluation.json, and no evaluated run at all, say what to do', async () => {
    const missing = await runCommand(DashboardCommand, ['--run', join(work, 'runs', 'not-evaluated')]);
    expect(missing.exit).toBe(2);
    expect(missing.stderr).toMatch(/error: the run .*not-evaluated has not been evaluated .*\n\s+hint: Evaluate it first: digits evaluate --run/);
    const empty = await runCommand(DashboardCommand, ['--run', join(work, 'runs', 'no-run')]);
    expect(empty.exit).toBe(2);
    expect(empty.stderr).toMatch(/error: no training run in .*no-run/);
    // (a folder that is not there is said to be missing, naming the flag)
    const nowhere = await runCommand(DashboardCommand, ['--run', join(work, 'runs', 'nowhere')]);
    expect(nowhere.stderr).toMatch(/error: there is no folder .*nowhere \(flag --run\)/);
    const cwd = process.cwd();
    process.chdir(await tempDir('digits-empty-'));
    try {
      const none = await runCommand(ReportCommand, []);
      expect(none.exit).toBe(2);
      expect(none.stderr).toMatch(/error: no evaluated run under .*runs/);
    } finally {
      process.chdir(cwd);
    }
  });

  test('`digits report` writes one self-contained HTML file with the real digits', async () => {
    const out = join(work, 'quick-b.html');
    const result = await runCommand(ReportCommand, ['--run', runDir, '--out', out, '--json']);
    expect(result.exit).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ file: out, charts: 5, images: 1, note: null });
    const html = await readFile(out, 'utf8');
    expect(html.match(/<svg\b/g)).toHaveLength(5);
    expect(html.match(/<img\b/g)).toHaveLength(1);
    expect(html).not.toMatch(/https?:\/\//);

    const byDefault = await runCommand(ReportCommand, ['--run', runDir]);
    expect(byDefault.stdout).toMatch(/^Wrote .*quick-b\/report\.html \(\d+ KiB: 5 charts, 1 misread digits\)\n$/);
  });

  test('`digits report --json` gives its note as a warning line on stdout, and nothing on stderr', async () => {
    // Given an evaluated run whose dataset is gone (its report cannot draw the misread digits)
    const gone = join(work, 'runs', 'quick-gone');
    await mkdir(gone, { recursive: true });
    await writeEvaluationReport(gone, fakeReport({ dir: join(work, 'moved', '.digits'), fingerprint: 'sha256:0' }, 'quick-gone'));
    // When its report is written under --json
    const result = await runCommand(ReportCommand, ['--run', gone, '--json']);
    // Then the note is an NDJSON warning before the result (until session 43 it went to stderr as well)
    expect(result.exit).toBe(0);
    const lines = result.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; message?: string });
    expect(lines.map((l) => l.type)).toEqual(['warning', 'result']);
    expect(lines[0]!.message).toMatch(/^misread digits not drawn: .*digits evaluate --run .*quick-gone --data <competition>\)$/);
    expect(result.stderr).toBe('');
    // And without --json it is a note on stderr
    const plain = await runCommand(ReportCommand, ['--run', gone, '--force']);
    expect(plain.stderr).toMatch(/^note: misread digits not drawn: /);
  });
});
