/**
 * k-fold cross-validation end to end on a tiny real competition: one member per fold and
 * recipe, every training row validated exactly once per recipe, out-of-fold predictions
 * from the member that did not train on the row, CV figures as mean ± sd over the folds,
 * and ensemble weights that submit uses.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadDataset } from '../../src/data/dataset.js';
import { importCompetition, resolveCompetitionFiles } from '../../src/data/import.js';
import { buildPracticeCompetition } from '../../src/data/practice.js';
import { loadSplit } from '../../src/data/splits.js';
import { initEngine } from '../../src/engine/backend.js';
import { ensembleFromJson } from '../../src/ensemble/ensemble-spec.js';
import { predictEnsemble } from '../../src/ensemble/predict-ensemble.js';
import { TTA_8 } from '../../src/ensemble/tta.js';
import { createPredictor } from '../../src/inference/predictor.js';
import { type RunManifest } from '../../src/runs/manifest.js';
import { evaluateRun, OOF_FILE, TEST_PREDICTIONS_FILE, type OutOfFoldFile, type TestPredictions } from '../../src/services/evaluate.js';
import { rowsAsFloats } from '../../src/runs/open-members.js';
import { submitRun } from '../../src/services/submit.js';
import { trainEnsemble } from '../../src/services/train.js';
import { listRuns } from '../../src/services/runs.js';
import type { EvaluationReport } from '../../src/evaluation/evaluation-report.js';
import { computeMetrics } from '../../src/evaluation/metrics.js';
import { softVote } from '../../src/ensemble/voting.js';
import { formatEvaluationSummary } from '../../src/cli/evaluation-summary.js';
import { buildDashboardModel, dashboardText, findView } from '../../src/evaluation/dashboard-model.js';
import { buildReportHtml } from '../../src/report/report-html.js';
import { loadServedEnsemble } from '../../src/serve/ensemble.js';
import { startServer } from '../../src/serve/server.js';
import { argmaxRow } from '../../src/evaluation/metrics.js';

let dir: string;
let competition: string;
let manifest: RunManifest;
let report: EvaluationReport;
const runDir = () => path.join(dir, 'run');

beforeAll(async () => {
  // Given a small practice competition and two recipes under 3-fold cross-validation
  await initEngine({ backend: 'wasm' });
  dir = await mkdtemp(path.join(os.tmpdir(), 'digits-kfold-'));
  competition = path.join(dir, 'clean');
  await buildPracticeCompetition({ recipe: 'clean', out: competition, trainRows: 300, testRows: 40, seed: 8 });
  await importCompetition({ ...(await resolveCompetitionFiles([competition])), orientation: 'as-is' });
  const ensemble = ensembleFromJson(
    JSON.stringify({
      name: 'cv',
      validation: { kind: 'kfold', folds: 3, seed: 4 },
      members: [
        { preset: 'mlp', name: 'a', epochs: 2, batchSize: 30, seed: 1 },
        { preset: 'mlp', name: 'b', epochs: 2, batchSize: 20, seed: 2 },
      ],
    }),
  );
  // When it is trained and evaluated
  manifest = await trainEnsemble({ ensemble, data: competition, runDir: runDir(), concurrency: 2, backend: 'wasm', command: 'vitest' });
  report = await evaluateRun({ runDir: runDir(), answers: `${competition}-answers.csv`, infer: 'auto', precision: 'fp32' });
}, 300_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('k-fold runs', () => {
  test('one member per fold and recipe; each recipe validates every training row exactly once, never on a row it trained on', async () => {
    expect(manifest.members.map((m) => m.name)).toEqual(['a-f1', 'a-f2', 'a-f3', 'b-f1', 'b-f2', 'b-f3']);
    expect(manifest.members.every((m) => m.ok)).toBe(true);
    const dataset = await loadDataset(competition);
    const rows = dataset.trainLabels.length;
    for (const recipe of ['a', 'b']) {
      const seen = new Array<number>(rows).fill(0);
      for (const m of manifest.members.filter((x) => x.recipe === recipe)) {
        const fold = (await loadSplit(dataset.dir, m.split.name)).folds[m.split.fold]!;
        expect(m.split.name).toBe('kfold-3-seed4');
        const train = new Set(fold.train);
        for (const r of fold.validation) {
          seen[r]!++;
          expect(train.has(r)).toBe(false);
        }
      }
      expect(seen.every((n) => n === 1)).toBe(true);
    }
  });

  test('out-of-fold predictions cover every training row, each from the fold member that did not train on it', async () => {
    const oof = JSON.parse(await readFile(path.join(runDir(), OOF_FILE), 'utf8')) as OutOfFoldFile;
    const dataset = await loadDataset(competition);
    expect(oof.rows).toEqual(Array.from({ length: dataset.trainLabels.length }, (_, i) => i));
    // the OOF predictions are of the variant the submission uses (TTA only when it helped)
    const withTta = report.ensemble.ttaDecision!.used;
    expect(oof.variant).toBe(withTta ? 'tta' : 'plain');
    expect(report.heldOutRows).toEqual(oof.rows);
    // Re-predict a few rows of each fold with the member that held them out: the same numbers
    const recipe = oof.recipes.find((r) => r.name === 'a')!;
    for (const fold of [0, 1, 2]) {
      const picks = oof.rows.filter((_, i) => oof.fold[i] === fold).slice(0, 3);
      const member = manifest.members.find((m) => m.recipe === 'a' && m.split.fold === fold)!;
      const split = (await loadSplit(dataset.dir, member.split.name)).folds[fold]!;
      expect(picks.every((r) => Array.from(split.validation).includes(r))).toBe(true);
      const predictor = await createPredictor(path.join(runDir(), member.checkpoint!), { infer: 'auto', precision: 'fp32' });
      const probs = await predictEnsemble([predictor], rowsAsFloats(dataset.trainImages, dataset.scale, 784, picks), picks.length, { tta: withTta ? TTA_8 : undefined });
      predictor.dispose();
      picks.forEach((r, i) => {
        const saved = recipe.probs.slice(r * 10, r * 10 + 10);
        for (let c = 0; c < 10; c++) expect(saved[c]).toBeCloseTo(probs[i * 10 + c]!, 5);
      });
    }
  });

  test('CV figures are the mean ± sd of the fold members’ own scores', () => {
    const cv = report.cv!;
    expect(cv.folds).toBe(3);
    for (const recipe of cv.recipes) {
      const perFold = recipe.members.map((name) => report.members.find((m) => m.name === name)!.metrics.accuracy);
      expect(recipe.accuracy.values).toEqual(perFold);
      const mean = perFold.reduce((a, b) => a + b, 0) / 3;
      expect(recipe.accuracy.mean).toBeCloseTo(mean, 12);
      expect(recipe.accuracy.sd).toBeCloseTo(Math.sqrt(perFold.reduce((a, v) => a + (v - mean) ** 2, 0) / 2), 12);
      expect(recipe.rows).toBe(300);
    }
    // the ensemble's folds partition the rows: the row-weighted mean of fold accuracies is the OOF accuracy
    const sizes = [0, 1, 2].map((f) => report.members.find((m) => m.name === `a-f${f + 1}`)!.rows);
    const pooled = cv.ensemble.accuracy.values.reduce((a, v, f) => a + v * sizes[f]!, 0) / 300;
    expect(pooled).toBeCloseTo(report.ensemble.soft.accuracy, 10);
    expect(report.members.every((m) => m.metrics.accuracy > 0.3)).toBe(true);
  });

  test('selection weights recipes on the OOF rows, says which figure is in-sample, and submit uses the weights in use', async () => {
    const s = report.ensemble.selection!;
    expect(s.units).toBe('recipes');
    expect(s.names).toEqual(['a', 'b']);
    expect(s.rows).toBe(300);
    expect(s.weights.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 10);
    // never worse in-sample than the best recipe alone on the same (OOF, TTA) rows
    const oof = JSON.parse(await readFile(path.join(runDir(), OOF_FILE), 'utf8')) as OutOfFoldFile;
    const dataset = await loadDataset(competition);
    const labels = oof.rows.map((r) => dataset.trainLabels[r]!);
    const bestAlone = Math.min(...oof.recipes.map((r) => computeMetrics(Float32Array.from(r.probs), labels).logLoss));
    expect(s.inSample.logLoss).toBeLessThanOrEqual(bestAlone + 1e-5);
    expect(s.reason).toMatch(/half of the held-out rows/);
    const predictions = JSON.parse(await readFile(path.join(runDir(), TEST_PREDICTIONS_FILE), 'utf8')) as TestPredictions;
    if (s.used) {
      // each fold member carries its recipe's weight / 3
      expect(report.ensemble.weights!.slice(0, 3).every((w) => Math.abs(w - s.weights[0]! / 3) < 1e-6)).toBe(true);
      expect(predictions.weights).toEqual(report.ensemble.weights);
    } else {
      expect(report.ensemble.weights).toBeUndefined();
      expect(predictions.weights).toBeUndefined();
    }
    const submitted = await submitRun({ runDir: runDir(), dir: path.join(dir, 'submissions'), answers: `${competition}-answers.csv` });
    expect(submitted.weights).toEqual(predictions.weights);
    expect(submitted.score!.accuracy).toBeCloseTo((report.test!.softTta ?? report.test!.soft).accuracy, 10);
    expect(submitted.tta).toBe(report.ensemble.ttaDecision!.used ? 8 : 1);
  });

  test('on the test answers, the single unit compared is the recipe best by CV, its fold members averaged (not the luckiest fold member)', async () => {
    const cv = report.cv!;
    const best = [...cv.recipes].sort((x, y) => y.accuracy.mean - x.accuracy.mean || x.logLoss.mean - y.logLoss.mean)[0]!;
    const compared = report.test!.bestMember;
    expect(compared).toMatchObject({ name: best.name, kind: 'recipe', members: best.members });
    // its figure is its fold members' soft vote on the test rows, each predicted plainly
    const dataset = await loadDataset(competition);
    const count = dataset.testImages.length / 784;
    const images = rowsAsFloats(dataset.testImages, dataset.scale, 784, Array.from({ length: count }, (_, i) => i));
    const probs: Float32Array[] = [];
    for (const name of best.members) {
      const predictor = await createPredictor(path.join(runDir(), manifest.members.find((m) => m.name === name)!.checkpoint!), { infer: 'auto', precision: 'fp32' });
      probs.push(await predictEnsemble([predictor], images, count));
      predictor.dispose();
    }
    const answers = (await readFile(`${competition}-answers.csv`, 'utf8')).trim().split('\n').slice(1).map((line) => Number(line.split(',')[1]));
    const expected = computeMetrics(softVote(probs), answers);
    expect(compared.metrics.accuracy).toBeCloseTo(expected.accuracy, 10);
    expect(compared.metrics.logLoss).toBeCloseTo(expected.logLoss, 4);
    expect(formatEvaluationSummary(report)).toContain(`CV best recipe (${best.name}, 3 folds averaged, no TTA)`);
  });

  test('digits runs shows the run’s CV figure (mean ± sd) and its test score from the ledger', async () => {
    const { runs } = await listRuns({ runsDir: dir, submissionsDir: path.join(dir, 'submissions') });
    expect(runs.map((r) => r.name)).toEqual(['run']);
    expect(runs[0]!.validation).toBe('kfold 3 seed 4');
    expect(runs[0]!.members).toBe(6);
    const withTta = report.ensemble.ttaDecision!.used;
    expect(runs[0]!.cv!.accuracy).toEqual((withTta ? report.cv!.ensemble.tta! : report.cv!.ensemble).accuracy);
    expect(runs[0]!.test!.accuracy).toBeCloseTo((withTta ? report.test!.softTta! : report.test!.soft).accuracy, 10);
  });

  test('each recipe has a view of its out-of-fold predictions: every training row, by the fold member that did not train on it', async () => {
    // Given the evaluated run's dashboard
    const model = buildDashboardModel(report);
    // Then the recipes come after the ensemble and test views and before the fold members
    const keys = model.views.map((v) => v.key);
    expect(keys.slice(keys.indexOf('a'))).toEqual(['a', 'b', 'a-f1', 'a-f2', 'a-f3', 'b-f1', 'b-f2', 'b-f3']);
    expect(keys.indexOf('a')).toBeGreaterThan(Math.max(keys.indexOf('ensemble'), keys.indexOf('test')));
    const withTta = report.ensemble.ttaDecision!.used;
    const oof = JSON.parse(await readFile(path.join(runDir(), OOF_FILE), 'utf8')) as OutOfFoldFile;
    const dataset = await loadDataset(competition);
    for (const name of ['a', 'b']) {
      const view = model.views[findView(model, name)]!;
      expect(view).toMatchObject({ kind: 'recipe', set: 'train', rows: 300, title: `${name} (mlp, out-of-fold over all 3 folds${withTta ? ' + TTA ×8' : ''})` });
      // its figures are those of its out-of-fold predictions (as saved, in the submitted variant) against the labels
      const probs = Float32Array.from(oof.recipes.find((r) => r.name === name)!.probs);
      const labels = oof.rows.map((r) => dataset.trainLabels[r]!);
      const expected = computeMetrics(probs, labels);
      expect(view.accuracy).toBeCloseTo(expected.accuracy, 5);
      expect(view.logLoss).toBeCloseTo(expected.logLoss, 4);
      expect(view.heat.map((row) => row.map((c) => c.count))).toEqual(expected.confusion);
      expect(view.classes.map((c) => c.support)).toEqual(expected.perClass.map((c) => c.support));
      // each misread sample is a dataset row of that digit, read as the pair says by its out-of-fold prediction
      expect(view.pairs.length).toBeGreaterThan(0);
      for (const pair of view.pairs) {
        for (const sample of pair.samples) {
          expect(sample.row).not.toBeNull();
          expect(dataset.trainLabels[sample.row!]).toBe(pair.trueLabel);
          expect(argmaxRow(probs, oof.rows.indexOf(sample.row!))).toBe(pair.predicted);
        }
      }
    }
    // and the plain output, the report and --member show it
    expect(dashboardText(model, findView(model, 'a'))).toContain(`a (mlp, out-of-fold over all 3 folds${withTta ? ' + TTA ×8' : ''}): accuracy`);
    const html = (await buildReportHtml(report)).html;
    expect(html).toContain(`<td>b (mlp, out-of-fold over all 3 folds${withTta ? ' + TTA ×8' : ''})</td>`);
  });

  test('serve: a request naming a recipe gets all its fold members, averaged as the submission averages them', { timeout: 120_000 }, async () => {
    // Given the run served on loopback
    const ensemble = await loadServedEnsemble(runDir(), { infer: 'onnx', workers: 0 });
    const server = await startServer({ ensemble, port: 0, batchWindowMs: 2 });
    const predictors = [];
    try {
      const dataset = await loadDataset(competition);
      const images = [0, 1].map((r) => Array.from(dataset.testImages.subarray(r * 784, (r + 1) * 784)));
      const ask = async (members: unknown) => {
        const response = await fetch(`${server.url}/v1/predict`, { method: 'POST', body: JSON.stringify({ images, members, tta: false }), headers: { 'content-type': 'application/json' } });
        return { status: response.status, body: (await response.json()) as { members: string[]; predictions: Array<{ probabilities: number[] }>; error?: string; hint?: string } };
      };
      // When a request names recipe a
      const a = await ask(['a']);
      // Then its three fold members answer, and the probabilities are their mean (the weights of one recipe's folds are equal)
      expect(a.status, JSON.stringify(a.body)).toBe(200);
      expect(a.body.members).toEqual(['a-f1', 'a-f2', 'a-f3']);
      for (const name of a.body.members) predictors.push(await createPredictor(path.join(runDir(), manifest.members.find((m) => m.name === name)!.checkpoint!), { infer: 'onnx' }));
      const floats = Float32Array.from(images.flat(), (v) => v / 255);
      const want = await predictEnsemble(predictors, floats, 2);
      a.body.predictions.forEach((p, i) => p.probabilities.forEach((v, c) => expect(v).toBeCloseTo(want[i * 10 + c]!, 5)));
      // a recipe and a member of another go together
      expect((await ask(['a', 'b-f2'])).body.members).toEqual(['a-f1', 'a-f2', 'a-f3', 'b-f2']);
      // an unknown name lists the recipes too, and /v1/model says each member's recipe
      const unknown = await ask(['c']);
      expect(unknown.status).toBe(400);
      expect(unknown.body.hint).toContain('recipes (each all its fold members): a, b');
      const card = (await (await fetch(`${server.url}/v1/model`)).json()) as { members: Array<{ name: string; recipe?: string }> };
      expect(card.members.map((m) => m.recipe)).toEqual(['a', 'a', 'a', 'b', 'b', 'b']);
    } finally {
      for (const p of predictors) p.dispose();
      await server.close();
    }
  });
});
