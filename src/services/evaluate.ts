/**
 * Honest evaluation of a training run. Every member is scored on its own held-out rows;
 * the ensemble only on the rows that every member held out (no row any member trained on
 * enters an ensemble metric). With and without test-time augmentation, soft and hard
 * voting. With an answers file (practice competitions), the test predictions are scored
 * too. The result is saved as `<run>/evaluation.json`, with the ensemble's test
 * probabilities beside it for `digits submit`.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { loadDataset, type Dataset } from '../data/dataset.js';
import { loadSplit } from '../data/splits.js';
import { UserError } from '../errors.js';
import { readIdLabelCsv } from '../data/submission.js';
import { createPredictor, type InferMode, type Precision, type Predictor } from '../inference/predictor.js';
import { predictEnsemble } from '../ensemble/predict-ensemble.js';
import { IDENTITY, TTA_8, type Shift } from '../ensemble/tta.js';
import { CALIBRATION_IMAGES, type CalibrationSet } from '../onnx/quantize.js';
import { readRunManifest, type MemberOutcome, type RunManifest } from '../runs/manifest.js';
import type { EpochRecord } from '../training/train-member.js';
import { computeMetrics, predictedLabels } from '../evaluation/metrics.js';
import { hardVote, softVote } from '../ensemble/voting.js';
import type { EvaluationReport, MemberEvaluation } from '../evaluation/evaluation-report.js';
import { writeJsonAtomic } from '../atomic-file.js';

export const EVALUATION_FILE = 'evaluation.json';
export const TEST_PREDICTIONS_FILE = 'test-predictions.json';

export interface EvaluateOptions {
  runDir: string;
  infer?: InferMode;
  /** ONNX Runtime number format (default auto: int8, calibrated on each member's training rows) */
  precision?: Precision;
  /** TTA shifts (default the 8-way set); an empty list turns TTA off */
  tta?: readonly Shift[];
  /** practice-competition answers (`ImageId,Label`) to score the test predictions */
  answers?: string;
  onProgress?: (message: string) => void;
  /** rows predicted so far of a prediction task (for a progress bar) */
  onRows?: (task: string, done: number, total: number) => void;
}

export interface TestPredictions {
  run: string;
  datasetFingerprint: string;
  members: string[];
  voting: 'soft';
  tta: number;
  ids: string[];
  labels: number[];
  /** per row, the ensemble probability of its label */
  confidence: number[];
}

/** Images of the given rows as floats in [0,1]. */
export function rowsAsFloats(images: Uint8Array | Float32Array, scale: number, pixels: number, rows: ArrayLike<number>): Float32Array {
  const out = new Float32Array(rows.length * pixels);
  for (let i = 0; i < rows.length; i++) {
    const base = rows[i]! * pixels;
    for (let p = 0; p < pixels; p++) out[i * pixels + p] = images[base + p]! / scale;
  }
  return out;
}

/** The ensemble's soft vote (with TTA when given) on every test row of a dataset. */
export async function predictTestSet(predictors: readonly Predictor[], dataset: Dataset, tta: readonly Shift[], onProgress?: (done: number, total: number) => void) {
  const pixels = dataset.width * dataset.height;
  const count = dataset.testImages.length / pixels;
  const images = rowsAsFloats(dataset.testImages, dataset.scale, pixels, Array.from({ length: count }, (_, i) => i));
  const probs = await predictEnsemble(predictors, images, count, { tta: tta.length > 1 ? tta : undefined, onProgress });
  const labels = Array.from(predictedLabels(probs));
  const confidence = labels.map((label, i) => Number(probs[i * 10 + label]!.toFixed(5)));
  return { images, count, probs, labels, confidence };
}

/** Rows every member held out: the only rows on which an ensemble metric is honest. */
export function heldOutByAll(validationSets: ReadonlyArray<ArrayLike<number>>): number[] {
  if (validationSets.length === 0) return [];
  let common = new Set<number>(Array.from(validationSets[0]!));
  for (const rows of validationSets.slice(1)) {
    const next = new Set<number>();
    for (const r of Array.from(rows)) if (common.has(r)) next.add(r);
    common = next;
  }
  return [...common].sort((a, b) => a - b);
}

/** Picks, from probabilities over `rows`, those of `subset` (which must be inside `rows`). */
export function selectRows(probs: Float32Array, rows: readonly number[], subset: readonly number[]): Float32Array {
  const position = new Map<number, number>();
  rows.forEach((r, i) => position.set(r, i));
  const out = new Float32Array(subset.length * 10);
  subset.forEach((r, i) => {
    const at = position.get(r);
    if (at === undefined) throw new Error(`row ${r} is not among the predicted rows`);
    out.set(probs.subarray(at * 10, at * 10 + 10), i * 10);
  });
  return out;
}

async function readHistory(runDir: string, member: string): Promise<EpochRecord[]> {
  try {
    return JSON.parse(await readFile(path.join(runDir, member, 'history.json'), 'utf8')) as EpochRecord[];
  } catch {
    return [];
  }
}

async function readAnswers(file: string, ids: string[]): Promise<Uint8Array> {
  const byId = new Map<string, number>();
  for (const row of await readIdLabelCsv(file, 'answers')) {
    const value = Number(row.label);
    if (!Number.isInteger(value) || value < 0 || value > 9) {
      throw new UserError(`answers: label ${JSON.stringify(row.label)} is not a digit 0–9`, { where: { file, line: row.line, column: 2 }, hint: 'The answers file has the columns ImageId,Label.' });
    }
    byId.set(row.id.trim(), value);
  }
  return Uint8Array.from(ids, (id, i) => {
    const label = byId.get(id);
    if (label === undefined) throw new UserError(`answers: no label for test id ${id} (row ${i + 1})`, { where: { file }, hint: 'Use the answers file of this competition.' });
    return label;
  });
}


interface LoadedMember {
  outcome: MemberOutcome;
  predictor: Predictor;
  rows: number[];
}

/**
 * Up to CALIBRATION_IMAGES of a member's own training rows, spread evenly over them, as the
 * images its int8 export is calibrated on (never validation or test rows).
 */
export function memberCalibration(dataset: Dataset, trainRows: ArrayLike<number>, label: string): () => Promise<CalibrationSet> {
  return async () => {
    const step = Math.max(1, Math.floor(trainRows.length / CALIBRATION_IMAGES));
    const rows: number[] = [];
    for (let i = 0; i < trainRows.length && rows.length < CALIBRATION_IMAGES; i += step) rows.push(trainRows[i]!);
    const pixels = dataset.width * dataset.height;
    return { images: rowsAsFloats(dataset.trainImages, dataset.scale, pixels, rows), count: rows.length, source: `${rows.length} training rows of ${label}` };
  };
}

async function loadMembers(manifest: RunManifest, runDir: string, dataset: Dataset, infer: InferMode, precision: Precision): Promise<LoadedMember[]> {
  const members: LoadedMember[] = [];
  const spin = manifest.members.filter((m) => m.ok && m.checkpoint).length <= 1;
  for (const outcome of manifest.members) {
    if (!outcome.ok || !outcome.checkpoint) continue;
    const split = await loadSplit(dataset.dir, outcome.split.name, dataset.fingerprint);
    const rows = Array.from(split.folds[outcome.split.fold]!.validation);
    const calibration = memberCalibration(dataset, split.folds[outcome.split.fold]!.train, `${manifest.name}/${outcome.name}`);
    members.push({ outcome, predictor: await createPredictor(path.join(runDir, outcome.checkpoint), { infer, precision, calibration, spin }), rows });
  }
  if (members.length === 0) throw new UserError(`run ${runDir} has no trained member to evaluate`, { where: { file: runDir }, hint: 'Train again; `digits train` reports why members failed.' });
  return members;
}

export async function evaluateRun(options: EvaluateOptions): Promise<EvaluationReport> {
  const runDir = path.resolve(options.runDir);
  const say = options.onProgress ?? (() => {});
  const manifest = await readRunManifest(runDir);
  const dataset = await loadDataset(manifest.dataset.dir);
  if (dataset.fingerprint !== manifest.dataset.fingerprint) {
    throw new UserError(`the dataset in ${dataset.dir} changed since run ${manifest.name} was trained`, { where: { file: dataset.dir }, hint: 'Re-import the data the run was trained on, or train again.' });
  }
  const tta = options.tta ?? TTA_8;
  const pixels = dataset.width * dataset.height;
  const members = await loadMembers(manifest, runDir, dataset, options.infer ?? 'auto', options.precision ?? 'auto');
  try {
    // Each member on its own held-out rows, plain and with TTA.
    const memberEvaluations: MemberEvaluation[] = [];
    const plain: Float32Array[] = [];
    const withTta: Float32Array[] = [];
    for (const m of members) {
      say(`${m.outcome.name}: predicting ${m.rows.length} held-out rows (${m.predictor.kind})`);
      const images = rowsAsFloats(dataset.trainImages, dataset.scale, pixels, m.rows);
      const labels = Uint8Array.from(m.rows, (r) => dataset.trainLabels[r]!);
      const rows = (task: string) => (done: number, total: number) => options.onRows?.(task, done, total);
      const p = await predictEnsemble([m.predictor], images, m.rows.length, { onProgress: rows(`${m.outcome.name} held-out rows`) });
      const pt = tta.length > 1 ? await predictEnsemble([m.predictor], images, m.rows.length, { tta, onProgress: rows(`${m.outcome.name} held-out rows + TTA`) }) : p;
      plain.push(p);
      withTta.push(pt);
      memberEvaluations.push({
        name: m.outcome.name,
        preset: m.outcome.preset,
        checkpoint: m.outcome.checkpoint!,
        rows: m.rows.length,
        validationRows: m.rows,
        metrics: computeMetrics(p, labels),
        tta: tta.length > 1 ? computeMetrics(pt, labels) : undefined,
        history: await readHistory(runDir, m.outcome.name),
        runtime: { engine: m.predictor.kind, precision: m.predictor.precision },
      });
    }
    // The ensemble on rows no member trained on.
    const heldOut = heldOutByAll(members.map((m) => m.rows));
    if (heldOut.length === 0) {
      throw new UserError('no training row was held out by every member, so the ensemble cannot be scored honestly', {
        where: { file: runDir },
        hint: 'Use a shared validation split ("validation": {"kind": "shared", ...}) for ensembles you want to score.',
      });
    }
    const labels = Uint8Array.from(heldOut, (r) => dataset.trainLabels[r]!);
    const pick = (probs: Float32Array[]) => probs.map((p, i) => selectRows(p, members[i]!.rows, heldOut));
    const soft = computeMetrics(softVote(pick(plain)), labels);
    const hard = computeMetrics(hardVote(pick(plain)), labels);
    const softTta = tta.length > 1 ? computeMetrics(softVote(pick(withTta)), labels) : undefined;
    const hardTta = tta.length > 1 ? computeMetrics(hardVote(pick(withTta)), labels) : undefined;

    // The test set: soft voting with TTA, kept for `digits submit`.
    say(`ensemble: predicting ${dataset.testImages.length / pixels} test rows with ${members.length} members × ${Math.max(1, tta.length)} TTA variants`);
    const predictors = members.map((m) => m.predictor);
    const { images: testImages, count: testCount, probs: testProbs, labels: testLabels, confidence } = await predictTestSet(predictors, dataset, tta, (done, total) => options.onRows?.('ensemble test rows', done, total));
    await writeJsonAtomic(path.join(runDir, TEST_PREDICTIONS_FILE), {
      run: manifest.name,
      datasetFingerprint: dataset.fingerprint,
      members: members.map((m) => m.outcome.name),
      voting: 'soft',
      tta: Math.max(1, tta.length),
      ids: dataset.ids,
      labels: testLabels,
      confidence,
    } satisfies TestPredictions);

    let test: EvaluationReport['test'];
    const truth = options.answers ? await readAnswers(options.answers, dataset.ids) : dataset.testLabels;
    if (truth) {
      say('scoring the test predictions against the answers');
      // Each member once; the plain ensemble is their soft vote (no second pass over the test set).
      const memberProbs: Float32Array[] = [];
      let bestMember: { name: string; metrics: ReturnType<typeof computeMetrics> } | null = null;
      for (const m of members) {
        const probs = await predictEnsemble([m.predictor], testImages, testCount);
        memberProbs.push(probs);
        const metrics = computeMetrics(probs, truth);
        if (!bestMember || metrics.accuracy > bestMember.metrics.accuracy) bestMember = { name: m.outcome.name, metrics };
      }
      const softPlain = softVote(memberProbs);
      test = {
        answers: options.answers ?? '(labels in test.csv)',
        rows: testCount,
        soft: computeMetrics(softPlain, truth),
        softTta: tta.length > 1 ? computeMetrics(testProbs, truth) : undefined,
        bestMember: bestMember!,
      };
    }

    const report: EvaluationReport = {
      format: 'digits-evaluation',
      version: 1,
      run: manifest.name,
      createdAt: new Date().toISOString(),
      dataset: { dir: dataset.dir, fingerprint: dataset.fingerprint },
      heldOutRows: heldOut,
      members: memberEvaluations,
      ensemble: { soft, hard, softTta, hardTta, ttaTransforms: tta.length > 1 ? tta.map((s) => `shift(${s.dx},${s.dy})`) : undefined },
      test,
    };
    await writeJsonAtomic(path.join(runDir, EVALUATION_FILE), report);
    return report;
  } finally {
    for (const m of members) m.predictor.dispose();
  }
}

export { IDENTITY, TTA_8 };
