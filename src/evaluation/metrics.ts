/**
 * Classification metrics for ten digit classes, computed from class probabilities
 * (row-major N×10) and the true labels: accuracy, multi-class log-loss (Kaggle's: each row
 * divided by its sum, then clipped to [1e-15, 1 − 1e-15]), per-class precision / recall /
 * F1 / support, the confusion matrix and the most-confused pairs with example rows.
 * Plus the two ways an ensemble combines its members: soft voting (weighted mean of the
 * probabilities) and hard voting (majority of the members' argmaxes).
 *
 * Conventions (the same as scikit-learn's `zero_division=0`): a class nobody predicted has
 * precision 0, a class absent from the labels has recall 0, and F1 is 0 when precision and
 * recall are both 0. The predicted class of a row is its argmax; equal probabilities go to
 * the lower label.
 */

export const CLASSES = 10;
/** Probabilities are clipped to [LOG_LOSS_EPSILON, 1 − LOG_LOSS_EPSILON] for the log-loss (training's validation uses the same). */
export { LOG_LOSS_EPSILON } from '../log-loss.js';
import { LOG_LOSS_EPSILON } from '../log-loss.js';

export interface ClassMetrics { label: number; precision: number; recall: number; f1: number; support: number }
export interface ConfusedPair { trueLabel: number; predicted: number; count: number; examples: number[] /* positions in the evaluated row list */ }
export interface Metrics { rows: number; accuracy: number; logLoss: number; perClass: ClassMetrics[]; confusion: number[][]; mostConfused: ConfusedPair[] }

export interface MetricsOptions {
  /** Example positions kept per confused pair (default 5), the most confident mistakes first. */
  examplesPerPair?: number;
  /** How many confused pairs to keep (default 10), the most frequent first. */
  pairs?: number;
}

function checkShape(probs: Float32Array, rows: number, what: string): void {
  if (probs.length !== rows * CLASSES) {
    throw new RangeError(`${what}: ${probs.length} probabilities do not make ${rows} rows of ${CLASSES} classes`);
  }
}

/** The predicted class of row `row`: its argmax, ties to the lower label. */
export function argmaxRow(probs: Float32Array, row: number): number {
  const base = row * CLASSES;
  let best = 0;
  for (let c = 1; c < CLASSES; c++) if (probs[base + c]! > probs[base + best]!) best = c;
  return best;
}

/** The predicted class of every row. */
export function predictedLabels(probs: Float32Array): Uint8Array {
  const rows = Math.floor(probs.length / CLASSES);
  checkShape(probs, rows, 'predictedLabels');
  const out = new Uint8Array(rows);
  for (let r = 0; r < rows; r++) out[r] = argmaxRow(probs, r);
  return out;
}

export function computeMetrics(probs: Float32Array, labels: ArrayLike<number>, options: MetricsOptions = {}): Metrics {
  const rows = labels.length;
  checkShape(probs, rows, 'computeMetrics');
  const examplesPerPair = options.examplesPerPair ?? 5;
  const pairLimit = options.pairs ?? 10;
  const confusion = Array.from({ length: CLASSES }, () => new Array<number>(CLASSES).fill(0));
  // Misread rows per (true, predicted) cell, with the probability given to the wrong class.
  const mistakes = new Map<number, Array<{ position: number; confidence: number }>>();
  let correct = 0;
  let logLossSum = 0;
  for (let r = 0; r < rows; r++) {
    const label = labels[r]!;
    if (!Number.isInteger(label) || label < 0 || label >= CLASSES) throw new RangeError(`computeMetrics: label ${label} at position ${r} is not a class 0–${CLASSES - 1}`);
    const predicted = argmaxRow(probs, r);
    confusion[label]![predicted]!++;
    const base = r * CLASSES;
    let sum = 0;
    for (let c = 0; c < CLASSES; c++) sum += probs[base + c]!;
    const p = sum > 0 ? probs[base + label]! / sum : 0;
    logLossSum -= Math.log(Math.min(1 - LOG_LOSS_EPSILON, Math.max(LOG_LOSS_EPSILON, p)));
    if (predicted === label) {
      correct++;
    } else {
      const key = label * CLASSES + predicted;
      let list = mistakes.get(key);
      if (!list) mistakes.set(key, (list = []));
      list.push({ position: r, confidence: sum > 0 ? probs[base + predicted]! / sum : 0 });
    }
  }
  const perClass: ClassMetrics[] = [];
  for (let c = 0; c < CLASSES; c++) {
    const truePositives = confusion[c]![c]!;
    const support = confusion[c]!.reduce((a, b) => a + b, 0);
    let predictedCount = 0;
    for (let t = 0; t < CLASSES; t++) predictedCount += confusion[t]![c]!;
    const precision = predictedCount > 0 ? truePositives / predictedCount : 0;
    const recall = support > 0 ? truePositives / support : 0;
    const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
    perClass.push({ label: c, precision, recall, f1, support });
  }
  const mostConfused: ConfusedPair[] = [...mistakes.entries()]
    .map(([key, list]) => ({
      trueLabel: Math.floor(key / CLASSES),
      predicted: key % CLASSES,
      count: list.length,
      examples: list
        .slice()
        .sort((a, b) => b.confidence - a.confidence || a.position - b.position)
        .slice(0, examplesPerPair)
        .map((m) => m.position),
    }))
    .sort((a, b) => b.count - a.count || a.trueLabel - b.trueLabel || a.predicted - b.predicted)
    .slice(0, pairLimit);
  return {
    rows,
    accuracy: rows > 0 ? correct / rows : 0,
    logLoss: rows > 0 ? logLossSum / rows : 0,
    perClass,
    confusion,
    mostConfused,
  };
}
