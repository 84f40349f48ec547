/**
 * Pseudo-labelling for `auto` (`digits run --pseudo-label`, off by default): round 1's
 * ensemble predicts the test rows; those it is confident about (soft-vote probability ≥
 * the threshold) join round 2's training rows with the predicted label, never validation
 * rows. The test labels are never read. Round 2 fine-tunes round 1's members on the
 * enlarged training set for what the budget has left.
 *
 * The rows are written in the corrections format (JSON lines, 28×28 integers 0–255), so
 * round 2 takes them through the same `extra` path as the drawing pad's corrections, and
 * they are part of round 2's data fingerprint.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { CORRECTION_VERSION, writeCorrections, type CorrectionRecord } from '../data/corrections.js';
import { loadDataset } from '../data/dataset.js';
import { autoEnsemble, epochRows, reserveSeconds, type AutoRecord } from '../ensemble/auto.js';
import type { EnsembleSpec } from '../ensemble/ensemble-spec.js';
import { createPredictor, type InferMode, type Predictor } from '../inference/predictor.js';
import { RUN_MANIFEST, type RunManifest } from '../runs/manifest.js';
import { predictTestSet } from './evaluate.js';
import { plural } from '../data/format.js';

export const PSEUDO_LABEL_FILE = 'pseudo-labels.jsonl';
export const PSEUDO_LABEL_THRESHOLD = 0.99;

export interface PseudoLabelOptions {
  /** round 1's run folder */
  round1: string;
  data: string;
  /** the auto record (its `pseudoLabel` field is filled in) */
  record: AutoRecord;
  budgetSeconds: number;
  spentSeconds: number;
  concurrency: number;
  infer: InferMode;
  threshold?: number;
  onProgress?: (message: string) => void;
}

export interface PseudoLabelRound {
  ensemble: EnsembleSpec;
  /** the pseudo-labelled rows (none when no test row was confident enough) */
  extraFile: string | undefined;
  extraRows: number;
}

export async function pseudoLabelRound(options: PseudoLabelOptions): Promise<PseudoLabelRound> {
  const say = options.onProgress ?? (() => {});
  const threshold = options.threshold ?? PSEUDO_LABEL_THRESHOLD;
  const manifest = JSON.parse(await readFile(path.join(options.round1, RUN_MANIFEST), 'utf8')) as RunManifest;
  const members = manifest.members.filter((m) => m.ok && m.checkpoint);
  if (members.length === 0) throw new Error(`round 1 (${options.round1}) has no trained member to pseudo-label with`);
  const dataset = await loadDataset(options.data);
  const predictors: Predictor[] = [];
  try {
    for (const m of members) predictors.push(await createPredictor(path.join(options.round1, m.checkpoint!), { infer: options.infer, precision: 'fp32', spin: false }));
    say(`round 1's ${plural(members.length, 'member')} predict the ${plural(dataset.ids.length, 'test row')} (labels never read)`);
    const { images, count, labels, confidence } = await predictTestSet(predictors, dataset, []);
    const px = dataset.width * dataset.height;
    const records: CorrectionRecord[] = [];
    const perClass = new Array<number>(10).fill(0);
    const time = new Date().toISOString();
    for (let i = 0; i < count; i++) {
      if (confidence[i]! < threshold) continue;
      const image = Array.from(images.subarray(i * px, (i + 1) * px), (v) => Math.max(0, Math.min(255, Math.round(v * 255))));
      records.push({ v: CORRECTION_VERSION, time, label: labels[i]!, predicted: labels[i]!, image });
      perClass[labels[i]!]!++;
    }
    const extraFile = path.join(path.dirname(options.round1), PSEUDO_LABEL_FILE);
    await writeCorrections(extraFile, records);
    say(`${records.length} of ${count} test rows at confidence ≥ ${threshold} join the training rows`);
    options.record.pseudoLabel = { threshold, rows: records.length, testRows: count, perClass, round1: options.round1 };

    // Round 2 keeps round 1's members and fits its epochs to what the budget has left.
    const validationRows = Math.round(dataset.trainLabels.length * 0.1);
    const rows = dataset.trainLabels.length - validationRows + records.length;
    const roundSeconds = (Math.ceil(members.length / options.concurrency) * epochRows(rows, validationRows)) / options.record.throughput.imagesPerSecondPerWorker;
    const left = options.budgetSeconds - options.spentSeconds - reserveSeconds(members.length, count, validationRows, options.record.throughput.imagesPerSecondPerWorker * options.concurrency);
    const epochs = Math.max(1, Math.min(options.record.plan.epochs, Math.floor(left / roundSeconds)));
    const ensemble = autoEnsemble({
      start: options.record.chosen.start,
      learningRate: options.record.chosen.learningRate / 3,
      ...(options.record.chosen.spreadLearningRate ? { spreadLearningRate: options.record.chosen.spreadLearningRate / 3 } : {}),
      augmentation: options.record.augmentation.config,
      members: members.length,
      epochs,
      preset: options.record.preset,
      inits: members.map((m) => path.join(options.round1, m.checkpoint!)),
      name: 'auto-round2',
      ...(options.record.sampling ? { sampling: options.record.sampling } : {}),
    });
    // (no confident row: round 2 trains on the competition's rows alone; an empty --extra is refused)
    return { ensemble, extraFile: records.length > 0 ? extraFile : undefined, extraRows: records.length };
  } finally {
    for (const p of predictors) p.dispose();
  }
}
