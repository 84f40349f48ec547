/**
 * k-fold runs with failed fold members, through the built CLI (bin/run.js) and the server:
 * the submitted vote is named alike by evaluate, the dashboard, submit, the ledger and serve,
 * no two figure lines share a label, per-fold figures stay under their folds, and a recipe
 * whose every fold member failed is named as out of the ensemble (session 44; until then a
 * member-equal test figure was printed as a second "soft vote + TTA", serve called the vote
 * "weighted soft", fold 3's figure stood under fold 2, and such a recipe went unsaid).
 *
 * The failures are real: a k-fold training is killed (SIGKILL) while b-f1 trains, and files
 * are put where fold members' folders are, so their workers cannot make them on --resume.
 */
import { cp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildPracticeCompetition } from '../../src/data/practice.js';
import { initEngine } from '../../src/engine/backend.js';
import type { EvaluationReport } from '../../src/evaluation/evaluation-report.js';
import { loadServedEnsemble } from '../../src/serve/ensemble.js';
import { removeTempDirs, tempDir } from '../data/helpers.js';
import { breakMember, killWhenTrained, runBuilt } from '../helpers/built-cli.js';

let work: string;
let competition: string;
/** b-f2 failed (recipe b keeps folds 1 and 3) */
let oneFailed: string;
/** b-f1, b-f2 and b-f3 failed (recipe b is out of the ensemble) */
let recipeFailed: string;

const digits = (argv: string[]) => runBuilt(argv, work);
const killWhileBf1Trains = (argv: string[]) => killWhenTrained(argv, work, 'b-f1');

const evaluation = async (runDir: string) => JSON.parse(await readFile(path.join(runDir, 'evaluation.json'), 'utf8')) as EvaluationReport;
/** The labels of a summary section's figure lines (`  <label>  acc …`). */
const labels = (section: string) => section.split('\n').filter((l) => / acc +\d/.test(l)).map((l) => l.replace(/ +acc .*$/, '').trim());

beforeAll(async () => {
  work = await tempDir('digits-kfold-failed-');
  competition = path.join(work, 'comp');
  await buildPracticeCompetition({ recipe: 'uniform', out: competition, trainRows: 300, testRows: 60, seed: 3 });
  expect((await digits(['data', 'import', competition])).code).toBe(0);
  const ensembleFile = path.join(work, 'kf.json');
  // a's fold members train first (one worker), then b's, long enough to be killed during b-f1.
  // The two recipes alike, so that selection finds no weights better than the equal vote.
  const recipe = { preset: 'mlp', epochs: 16, seed: 2, learningRate: 0.002, augmentation: {} };
  await writeFile(ensembleFile, JSON.stringify({ name: 'kf', validation: { kind: 'kfold', folds: 3, seed: 5 }, members: [{ ...recipe, name: 'a' }, { ...recipe, name: 'b' }] }));
  const killed = path.join(work, 'runs', 'killed');
  await killWhileBf1Trains(['train', '--data', competition, '--ensemble', ensembleFile, '--run', killed, '--concurrency', '1']);
  oneFailed = path.join(work, 'runs', 'one-failed');
  recipeFailed = path.join(work, 'runs', 'recipe-failed');
  await cp(killed, oneFailed, { recursive: true });
  await cp(killed, recipeFailed, { recursive: true });
  await breakMember(oneFailed, 'b-f2');
  for (const m of ['b-f1', 'b-f2', 'b-f3']) await breakMember(recipeFailed, m);
  for (const runDir of [oneFailed, recipeFailed]) {
    // (a failed member ends train with exit 1, after its result)
    const resumed = await digits(['train', '--resume', '--run', runDir]);
    expect(resumed.code, resumed.stderr).toBe(1);
  }
}, 600_000);
afterAll(removeTempDirs);

describe('a k-fold run with a failed fold member (b-f2)', () => {
  let summary: string;
  let report: EvaluationReport;
  beforeAll(async () => {
    const evaluated = await digits(['evaluate', '--run', oneFailed, '--answers', `${competition}-answers.csv`]);
    expect(evaluated.code, evaluated.stderr).toBe(0);
    summary = evaluated.stdout;
    report = await evaluation(oneFailed);
    // (the recipes' equal vote is submitted: selection's weights are not in use on these rows)
    expect(report.ensemble.selection?.used).toBe(false);
    expect(report.ensemble.weights).toHaveLength(5);
  }, 300_000);

  test('evaluate: every figure line of a section has its own label, and the submitted vote is the soft vote, its unequal member shares said', () => {
    // Then no two figure lines of the test set (or the held-out rows) read alike
    const [, heldOut, testSet] = summary.split(/^(?=ensemble \(|test set \()/m);
    for (const section of [heldOut!, testSet!]) expect(new Set(labels(section)).size, section).toBe(labels(section).length);
    // And the member-equal vote (each member 1/5), which nothing submits, is not kept nor printed
    expect(report.test?.equalWeights).toBeUndefined();
    expect(labels(testSet!).filter((l) => /vote/.test(l))).toEqual(report.test?.softTta ? ['soft vote', 'soft vote + TTA'] : ['soft vote']);
    expect(summary).toMatch(/^ {2}submitted: the soft vote( \+ TTA)? \(recipes equal, a recipe's weight shared by its trained fold members\)$/m);
  });

  test('the dashboard, submit, the ledger and serve name that vote alike: soft, not weighted', async () => {
    // When the dashboard is drawn as text
    const dashboard = await digits(['dashboard', '--run', oneFailed]);
    expect(dashboard.code, dashboard.stderr).toBe(0);
    // Then its header gives no "weights" (they are no selection's) and names the soft vote
    const header = dashboard.stdout.split('\n')[0]!;
    expect(header).not.toMatch(/weights/);
    expect(header).toMatch(/; submitted: soft vote( \+ TTA ×8)? \(recipes equal, a recipe's weight shared by its trained fold members\)$/);
    // And the failed fold member's view is refused naming the command that made the run (`train`), not both
    const failedView = await digits(['dashboard', '--run', oneFailed, '--member', 'b-f2']);
    expect(failedView.code).toBe(2);
    expect(failedView.stderr).toMatch(/hint: Once what stopped it is put right, `digits train --resume --run \S*one-failed` trains it again, and `digits evaluate --run \S*one-failed` scores it\./);

    // When it is submitted and the ledger listed
    const submissions = path.join(work, 'submissions');
    const submitted = await digits(['submit', '--run', oneFailed, '--dir', submissions]);
    expect(submitted.code, submitted.stderr).toBe(0);
    expect(submitted.stdout).toMatch(/5 members, soft voting \(recipes equal, a recipe's weight shared by its trained fold members: 0\.167, 0\.167, 0\.167, 0\.250, 0\.250\)/);
    expect(submitted.stdout).not.toMatch(/ensemble selection/);
    const ledger = await digits(['submissions', '--dir', submissions]);
    expect(ledger.stdout).toMatch(/ soft fp32 /);
    expect(ledger.stdout).not.toMatch(/weighted/);

    // When it is served: the vote is the soft one, its members at their shares
    await initEngine({ backend: 'wasm' });
    const served = await loadServedEnsemble(oneFailed, { workers: 0 });
    try {
      expect(served.voting).toBe('soft');
      expect(served.members.map((m) => m.weight)).toEqual(report.ensemble.weights);
    } finally {
      await served.dispose();
    }
  }, 300_000);

  test('per-fold figures keep their fold: evaluation.json, the report and the dashboard show b under folds 1 and 3, fold 2 blank', async () => {
    // Then evaluation.json keys each value by its fold
    const b = report.cv!.recipes.find((r) => r.name === 'b')!;
    expect(report.cv!.folds).toBe(3);
    expect(b.members).toEqual(['b-f1', 'b-f3']);
    expect(b.accuracy.folds).toEqual([1, 3]);
    expect(b.logLoss.folds).toEqual([1, 3]);
    expect(report.cv!.recipes.find((r) => r.name === 'a')!.accuracy.folds).toEqual([1, 2, 3]);
    expect(report.cv!.ensemble.accuracy.folds).toEqual([1, 3]);
    expect(b.accuracy.values).toHaveLength(2);
    // And the note names the folds b covers
    expect(report.ensemble.warnings).toContain(
      `fold member b-f2 failed: the ensemble's cross-validation covers 2 of 3 folds (${report.heldOutRows.length} of 300 training rows); each recipe's covers the folds its members trained (b: folds 1, 3 of 3)`,
    );

    // When the report is written: one column per fold, b's fold-2 cell blank
    expect((await digits(['report', '--run', oneFailed])).code).toBe(0);
    const html = await readFile(path.join(oneFailed, 'report.html'), 'utf8');
    expect(html).toContain('<th>recipe</th><th>accuracy</th><th>log-loss</th><th>fold 1</th><th>fold 2</th><th>fold 3</th>');
    const pct = (v: number) => `${(v * 100).toFixed(2)}%`;
    const bRow = html.split('\n').find((l) => l.startsWith('<tr><td>b</td>'))!;
    expect(bRow).toMatch(new RegExp(`<td class="num">${pct(b.tta && report.ensemble.ttaDecision?.used ? b.tta.accuracy.values[0]! : b.accuracy.values[0]!)}</td><td class="num"></td><td class="num">[\\d.]+%</td></tr>$`));

    // And the dashboard's CV lines: b's second figure stands under fold 3
    const text = (await digits(['dashboard', '--run', oneFailed])).stdout.split('\n');
    const head = text.find((l) => /acc by fold +1 +2 +3$/.test(l))!;
    const bLine = text.find((l) => /^ {2}b +acc /.test(l))!;
    const aLine = text.find((l) => /^ {2}a +acc /.test(l))!;
    const lastFigure = (l: string) => l.trimEnd().length;
    expect(lastFigure(bLine)).toBe(head.length);
    expect(lastFigure(aLine)).toBe(head.length);
    // (two figures in b's fold columns, with fold 2's blank between them)
    const folds = bLine.slice(head.indexOf('acc by fold') + 'acc by fold'.length);
    expect(folds).toMatch(/^ +[\d.]+% {9,10}[\d.]+%$/);
  }, 300_000);
});

test('a recipe whose every fold member failed is named out of the ensemble', async () => {
  // When the run whose b-f1, b-f2 and b-f3 failed is evaluated
  const evaluated = await digits(['evaluate', '--run', recipeFailed]);
  expect(evaluated.code, evaluated.stderr).toBe(0);
  // Then the note says b is out of the ensemble, which is a alone
  expect(evaluated.stdout).toContain(
    "NOTE: fold members b-f1, b-f2, b-f3 failed: recipe b is out of the ensemble (none of its fold members trained), which is recipe a alone; the ensemble's cross-validation covers 3 of 3 folds (300 of 300 training rows)\n",
  );
  expect((await evaluation(recipeFailed)).cv!.recipes.map((r) => r.name)).toEqual(['a']);
}, 300_000);
