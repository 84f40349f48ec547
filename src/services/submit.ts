/**
 * `digits submit`: the submission CSV of a run in the competition's format, validated as
 * Kaggle would before it is called done, and a line in submissions/ledger.jsonl saying
 * what made it.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { loadDataset } from '../data/dataset.js';
import { UserError } from '../errors.js';
import { EVALUATION_FILE, TEST_PREDICTIONS_FILE, memberCalibration, predictTestSet, type TestPredictions } from './evaluate.js';
import type { EvaluationReport } from '../evaluation/evaluation-report.js';
import { createPredictor, type InferMode, type Precision } from '../inference/predictor.js';
import { TTA_8 } from '../ensemble/tta.js';
import { loadSplit } from '../data/splits.js';
import { appendLedger, scoreAgainstAnswers, validateSubmission, writeSubmission } from '../data/submission.js';
import { readRunManifest } from '../runs/manifest.js';

export interface SubmitOptions {
  runDir: string;
  /** submissions folder (default ./submissions) */
  dir: string;
  /** name part of the file (default: the run's name) */
  name?: string;
  answers?: string;
  infer?: InferMode;
  /** ONNX Runtime number format (default auto: int8, calibrated on each member's training rows) */
  precision?: Precision;
  onProgress?: (message: string) => void;
  /** rows predicted so far of a prediction task (for a progress bar) */
  onRows?: (task: string, done: number, total: number) => void;
}

export interface SubmitResult {
  file: string;
  sha256: string;
  rows: number;
  tta: number;
  members: string[];
  validation?: { accuracy: number; logLoss: number };
  score?: { accuracy: number; answers: string };
}

async function readJson<T>(file: string): Promise<T | null> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch {
    return null;
  }
}

export async function submitRun(options: SubmitOptions): Promise<SubmitResult> {
  const runDir = path.resolve(options.runDir);
  const say = options.onProgress ?? (() => {});
  const manifest = await readRunManifest(runDir);
  const dataset = await loadDataset(manifest.dataset.dir);
  const okMembers = manifest.members.filter((m) => m.ok && m.checkpoint);
  if (okMembers.length === 0) throw new UserError(`run ${runDir} has no trained member`, { where: { file: runDir }, hint: 'Train again with `digits train`.' });

  // Predictions made by `evaluate` are reused when they belong to this data and these members.
  let predictions = await readJson<TestPredictions>(path.join(runDir, TEST_PREDICTIONS_FILE));
  const members = okMembers.map((m) => m.name);
  if (!predictions || predictions.datasetFingerprint !== dataset.fingerprint || predictions.members.join() !== members.join()) {
    say(`predicting ${dataset.ids.length} test rows with ${members.length} members × ${TTA_8.length} TTA variants`);
    const predictors = [];
    for (const m of okMembers) {
      const split = await loadSplit(dataset.dir, m.split.name, dataset.fingerprint);
      const calibration = memberCalibration(dataset, split.folds[m.split.fold]!.train, `${manifest.name}/${m.name}`);
      predictors.push(await createPredictor(path.join(runDir, m.checkpoint!), { infer: options.infer ?? 'auto', precision: options.precision ?? 'auto', calibration, spin: okMembers.length <= 1 }));
    }
    try {
      const { labels, confidence } = await predictTestSet(predictors, dataset, TTA_8, (done, total) => options.onRows?.('ensemble test rows', done, total));
      predictions = { run: manifest.name, datasetFingerprint: dataset.fingerprint, members, voting: 'soft', tta: TTA_8.length, ids: dataset.ids, labels, confidence };
    } finally {
      for (const p of predictors) p.dispose();
    }
  }

  const written = await writeSubmission({ dir: options.dir, name: options.name ?? manifest.name, header: dataset.submissionHeader, ids: dataset.ids, labels: predictions.labels });
  await validateSubmission(written.file, { expectedRows: dataset.ids.length, ids: dataset.ids, header: dataset.submissionHeader });
  const evaluation = await readJson<EvaluationReport>(path.join(runDir, EVALUATION_FILE));
  const ensembleMetrics = evaluation ? (evaluation.ensemble.softTta ?? evaluation.ensemble.soft) : undefined;
  const validation = ensembleMetrics ? { accuracy: ensembleMetrics.accuracy, logLoss: ensembleMetrics.logLoss } : undefined;
  const score = options.answers ? { ...(await scoreAgainstAnswers(written.file, options.answers)), answers: path.resolve(options.answers) } : undefined;
  await appendLedger(options.dir, {
    file: written.file,
    sha256: written.sha256,
    createdAt: new Date().toISOString(),
    run: runDir,
    members: okMembers.map((m) => ({ name: m.name, checkpoint: path.join(runDir, m.checkpoint!) })),
    voting: 'soft',
    tta: predictions.tta,
    validation,
    score: score ? { accuracy: score.accuracy, answers: score.answers } : undefined,
  });
  return { file: written.file, sha256: written.sha256, rows: written.rows, tta: predictions.tta, members, validation, score: score ? { accuracy: score.accuracy, answers: score.answers } : undefined };
}
