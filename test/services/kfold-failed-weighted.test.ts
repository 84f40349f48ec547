/**
 * A k-fold run with a failed fold member whose vote is weighted by ensemble selection: the
 * recipe that lost a fold keeps its weight, shared by the fold members it has left, and the
 * submission is that weighted vote of the members that trained.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { loadDataset } from '../../src/data/dataset.js';
import { importCompetition, resolveCompetitionFiles } from '../../src/data/import.js';
import { buildPracticeCompetition } from '../../src/data/practice.js';
import { initEngine } from '../../src/engine/backend.js';
import { ensembleFromJson } from '../../src/ensemble/ensemble-spec.js';
import { predictEnsemble } from '../../src/ensemble/predict-ensemble.js';
import { argmaxRow } from '../../src/evaluation/metrics.js';
import type { EvaluationReport } from '../../src/evaluation/evaluation-report.js';
import { createPredictor } from '../../src/inference/predictor.js';
import { RUN_MANIFEST, type RunManifest } from '../../src/runs/manifest.js';
import { rowsAsFloats } from '../../src/runs/open-members.js';
import { evaluateRun, OOF_FILE, TEST_PREDICTIONS_FILE, type OutOfFoldFile, type TestPredictions } from '../../src/services/evaluate.js';
import { submitRun, type SubmitResult } from '../../src/services/submit.js';
import { trainEnsemble } from '../../src/services/train.js';

let dir: string;
let competition: string;
let report: EvaluationReport;
let submitted: SubmitResult;
const runDir = () => path.join(dir, 'run');

beforeAll(async () => {
  // Given a 3-fold run of a trained recipe and one barely moved from its random start
  // (a rate of 1e-6), so that ensemble selection's weights beat the equal vote
  await initEngine({ backend: 'wasm' });
  dir = await mkdtemp(path.join(os.tmpdir(), 'digits-kfold-failed-'));
  competition = path.join(dir, 'clean');
  await buildPracticeCompetition({ recipe: 'clean', out: competition, trainRows: 300, testRows: 40, seed: 3 });
  await importCompetition({ ...(await resolveCompetitionFiles([competition])), orientation: 'as-is' });
  const ensemble = ensembleFromJson(
    JSON.stringify({
      name: 'cv',
      validation: { kind: 'kfold', folds: 3, seed: 5 },
      members: [
        { preset: 'mlp', name: 'good', epochs: 3, batchSize: 20, seed: 1 },
        { preset: 'mlp', name: 'poor', epochs: 1, batchSize: 100, seed: 2, learningRate: 1e-6 },
      ],
    }),
  );
  await trainEnsemble({ ensemble, data: competition, runDir: runDir(), concurrency: 2, backend: 'wasm', command: 'vitest' });
  // …whose member good-f2 failed, as run.json records a member that failed
  const file = path.join(runDir(), RUN_MANIFEST);
  const manifest = JSON.parse(await readFile(file, 'utf8')) as RunManifest;
  const failed = manifest.members.find((m) => m.name === 'good-f2')!;
  await rm(path.join(runDir(), failed.checkpoint!), { recursive: true });
  const { checkpoint: _checkpoint, ...rest } = failed;
  manifest.members[manifest.members.indexOf(failed)] = { ...rest, ok: false, error: 'ENOSPC: no space left on device, write' } as RunManifest['members'][number];
  await writeFile(file, JSON.stringify(manifest, null, 2));
  // When it is evaluated (no TTA, fp32) and submitted
  report = await evaluateRun({ runDir: runDir(), answers: `${competition}-answers.csv`, infer: 'auto', precision: 'fp32', tta: [] });
  submitted = await submitRun({ runDir: runDir(), dir: path.join(dir, 'submissions'), answers: `${competition}-answers.csv` });
}, 300_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('the weights are in use, and the recipe that lost a fold shares its weight among the fold members it has left', async () => {
  const s = report.ensemble.selection!;
  expect(s.units).toBe('recipes');
  expect(s.names).toEqual(['good', 'poor']);
  expect(s.used).toBe(true);
  expect(s.weights[0]!).toBeGreaterThan(s.weights[1]!);
  const names = report.members.map((m) => m.name);
  expect(names).toEqual(['good-f1', 'good-f3', 'poor-f1', 'poor-f2', 'poor-f3']);
  const weights = report.ensemble.weights!;
  expect(weights).toHaveLength(5);
  for (const w of weights.slice(0, 2)) expect(w).toBeCloseTo(s.weights[0]! / 2, 10);
  for (const w of weights.slice(2)) expect(w).toBeCloseTo(s.weights[1]! / 3, 10);
  expect(weights.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 10);
  expect(report.ensemble.warnings!.join('\n')).toMatch(/fold member good-f2 failed: the ensemble's cross-validation covers 2 of 3 folds .*good: folds 1, 3 of 3/);
  // the recipe's out-of-fold predictions are of the folds its members held out
  const oof = JSON.parse(await readFile(path.join(runDir(), OOF_FILE), 'utf8')) as OutOfFoldFile;
  expect(oof.recipes.map((r) => r.members)).toEqual([['good-f1', 'good-f3'], ['poor-f1', 'poor-f2', 'poor-f3']]);
  // (run.json's fold numbers, from 0: the members' -f1 and -f3)
  expect(new Set(oof.fold)).toEqual(new Set([0, 2]));
  expect(oof.rows).toHaveLength(200);
});

test('submit writes the weighted vote of the members that trained, and the ledger records those weights', async () => {
  const predictions = JSON.parse(await readFile(path.join(runDir(), TEST_PREDICTIONS_FILE), 'utf8')) as TestPredictions;
  expect(predictions.members).toEqual(report.members.map((m) => m.name));
  expect(predictions.weights).toEqual(report.ensemble.weights);
  expect(submitted).toMatchObject({ voting: 'weighted soft', tta: 1, members: predictions.members });
  expect(submitted.weights).toEqual(report.ensemble.weights);
  const ledger = (await readFile(path.join(dir, 'submissions', 'ledger.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { weights?: number[]; weighted?: boolean });
  expect(ledger.at(-1)).toMatchObject({ weights: report.ensemble.weights, weighted: true });
  // Then each test row's label is the argmax of the members' probabilities weighted so
  const dataset = await loadDataset(competition);
  const count = dataset.testImages.length / 784;
  const images = rowsAsFloats(dataset.testImages, dataset.scale, 784, Array.from({ length: count }, (_, i) => i));
  const manifest = JSON.parse(await readFile(path.join(runDir(), RUN_MANIFEST), 'utf8')) as RunManifest;
  const vote = new Float32Array(count * 10);
  for (const [k, name] of predictions.members.entries()) {
    const predictor = await createPredictor(path.join(runDir(), manifest.members.find((m) => m.name === name)!.checkpoint!), { infer: 'auto', precision: 'fp32' });
    (await predictEnsemble([predictor], images, count)).forEach((p, j) => (vote[j] += p * report.ensemble.weights![k]!));
    predictor.dispose();
  }
  const rows = (await readFile(submitted.file, 'utf8')).trim().split(/\r?\n/).slice(1).map((line) => Number(line.split(',')[1]));
  expect(rows).toEqual(Array.from({ length: count }, (_, j) => argmaxRow(vote, j)));
});
