/**
 * k-fold cross-validation figures: out-of-fold (OOF) predictions assembled from the fold
 * members (each training row predicted by the member that did not train on it) and scores
 * as mean ± standard deviation over the folds (the sample standard deviation, n − 1, as
 * scikit-learn's `cross_val_score(...).std(ddof=1)` users and Kaggle kernels report it).
 */
import { CLASSES, computeMetrics } from './metrics.js';

export interface MeanSd {
  mean: number;
  /** sample standard deviation (n − 1); 0 for a single value */
  sd: number;
  /** the per-fold values, in fold order */
  values: number[];
  /**
   * the fold (1-based, as a fold member's `-f<i>`) of each value, beside `values`: a failed fold
   * member leaves its fold out, and the values alone put fold 3's under fold 2 (absent in
   * evaluations before session 44, and from `meanSd` without folds)
   */
  folds?: number[];
}

/** Mean ± sample sd of per-fold values; `folds` (1-based, one per value) says whose they are. */
export function meanSd(values: readonly number[], folds?: readonly number[]): MeanSd {
  if (values.length === 0) throw new RangeError('meanSd: no values');
  if (folds && folds.length !== values.length) throw new RangeError(`meanSd: ${folds.length} folds for ${values.length} values`);
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const variance = values.length > 1 ? values.reduce((a, v) => a + (v - mean) ** 2, 0) / (values.length - 1) : 0;
  return { mean, sd: Math.sqrt(variance), values: [...values], ...(folds ? { folds: [...folds] } : {}) };
}

/**
 * The per-fold values placed under their folds 1…`folds`: null where the fold has none (its
 * member failed). Null altogether when they cannot be placed: an evaluation written before
 * `folds` was recorded whose values are fewer than the folds (which fold is missing is unknown).
 */
export function valuesByFold(value: MeanSd, folds: number): Array<number | null> | null {
  const placed = new Array<number | null>(folds).fill(null);
  if (value.folds) {
    value.folds.forEach((f, i) => {
      if (f >= 1 && f <= folds) placed[f - 1] = value.values[i]!;
    });
    return placed;
  }
  return value.values.length === folds ? [...value.values] : null;
}

/** `96.62 ± 0.25%` for accuracies, `0.1234 ± 0.0056` for losses. */
export function formatMeanSd(value: MeanSd, kind: 'percent' | 'loss'): string {
  return kind === 'percent' ? `${(value.mean * 100).toFixed(2)} ± ${(value.sd * 100).toFixed(2)}%` : `${value.mean.toFixed(4)} ± ${value.sd.toFixed(4)}`;
}

export interface FoldPredictions {
  /** dataset rows this fold member validated on (never trained on) */
  rows: ArrayLike<number>;
  /** its probabilities on those rows, rows × 10 */
  probs: Float32Array;
}

/**
 * The out-of-fold predictions of one recipe: every row some fold validated on, ascending,
 * with the probabilities of the fold member that held it out. A row held out by two folds
 * is an error (the folds of a k-fold split are disjoint).
 */
export function outOfFold(folds: readonly FoldPredictions[]): { rows: number[]; probs: Float32Array; fold: number[] } {
  const source = new Map<number, { fold: number; at: number }>();
  folds.forEach((f, fold) => {
    if (f.probs.length !== f.rows.length * CLASSES) throw new RangeError(`outOfFold: fold ${fold} has ${f.probs.length} probabilities for ${f.rows.length} rows`);
    for (let i = 0; i < f.rows.length; i++) {
      const row = f.rows[i]!;
      if (source.has(row)) throw new RangeError(`outOfFold: row ${row} is held out by folds ${source.get(row)!.fold} and ${fold}`);
      source.set(row, { fold, at: i });
    }
  });
  const rows = [...source.keys()].sort((a, b) => a - b);
  const probs = new Float32Array(rows.length * CLASSES);
  const fold = rows.map((row, i) => {
    const s = source.get(row)!;
    probs.set(folds[s.fold]!.probs.subarray(s.at * CLASSES, (s.at + 1) * CLASSES), i * CLASSES);
    return s.fold;
  });
  return { rows, probs, fold };
}

export interface FoldScores {
  accuracy: MeanSd;
  logLoss: MeanSd;
}

/**
 * Accuracy and log-loss of predictions over `rows`, fold by fold (`foldOf[i]` is the fold of
 * row position i, 0-based as run.json's splits), as mean ± sd over the folds, each value keyed
 * by its fold (1-based).
 */
export function scoreByFold(probs: Float32Array, labels: ArrayLike<number>, foldOf: readonly number[]): FoldScores {
  const folds = [...new Set(foldOf)].sort((a, b) => a - b);
  const accuracy: number[] = [];
  const logLoss: number[] = [];
  for (const f of folds) {
    const positions = foldOf.flatMap((g, i) => (g === f ? [i] : []));
    const sub = new Float32Array(positions.length * CLASSES);
    positions.forEach((p, i) => sub.set(probs.subarray(p * CLASSES, (p + 1) * CLASSES), i * CLASSES));
    const metrics = computeMetrics(sub, positions.map((p) => labels[p]!), { pairs: 0, examplesPerPair: 0 });
    accuracy.push(metrics.accuracy);
    logLoss.push(metrics.logLoss);
  }
  const numbers = folds.map((f) => f + 1);
  return { accuracy: meanSd(accuracy, numbers), logLoss: meanSd(logLoss, numbers) };
}
