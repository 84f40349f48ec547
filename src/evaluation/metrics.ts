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
/** Probabilities are clipped to [LOG_LOSS_EPSILON, 1 − LOG_LOSS_EPSILON] for the log-loss. */
export const LOG_LOSS_EPSILON = 1e-15;

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

function checkMembers(memberProbs: readonly Float32Array[], what: string): number {
  if (memberProbs.length === 0) throw new RangeError(`${what}: no members to combine`);
  const length = memberProbs[0]!.length;
  if (length % CLASSES !== 0) throw new RangeError(`${what}: ${length} probabilities are not rows of ${CLASSES} classes`);
  memberProbs.forEach((probs, i) => {
    if (probs.length !== length) throw new RangeError(`${what}: member ${i} has ${probs.length} probabilities, member 0 has ${length}`);
  });
  return length / CLASSES;
}

/**
 * Soft voting: the (weighted) mean of the members' probabilities. Weights default to equal,
 * must be ≥ 0 with a positive sum, and are normalised by their sum.
 */
export function softVote(memberProbs: readonly Float32Array[], weights?: readonly number[]): Float32Array {
  checkMembers(memberProbs, 'softVote');
  const w = weights ?? memberProbs.map(() => 1);
  if (w.length !== memberProbs.length) throw new RangeError(`softVote: ${w.length} weights for ${memberProbs.length} members`);
  if (w.some((x) => !Number.isFinite(x) || x < 0)) throw new RangeError(`softVote: weights must be finite and ≥ 0, got ${w.join(', ')}`);
  const total = w.reduce((a, b) => a + b, 0);
  if (total <= 0) throw new RangeError('softVote: the weights sum to 0');
  const length = memberProbs[0]!.length;
  const sum = new Float64Array(length);
  memberProbs.forEach((probs, m) => {
    const weight = w[m]! / total;
    if (weight === 0) return;
    for (let i = 0; i < length; i++) sum[i]! += weight * probs[i]!;
  });
  return Float32Array.from(sum);
}

/**
 * Hard voting: each member votes for its argmax; the class with most votes wins, a tie
 * goes to the tied class with the larger summed probability over the members, and a tie
 * of both to the lower label.
 */
export function hardVoteLabels(memberProbs: readonly Float32Array[]): Uint8Array {
  const rows = checkMembers(memberProbs, 'hardVote');
  const out = new Uint8Array(rows);
  const votes = new Int32Array(CLASSES);
  const sums = new Float64Array(CLASSES);
  for (let r = 0; r < rows; r++) {
    votes.fill(0);
    sums.fill(0);
    for (const probs of memberProbs) {
      votes[argmaxRow(probs, r)]!++;
      for (let c = 0; c < CLASSES; c++) sums[c]! += probs[r * CLASSES + c]!;
    }
    let best = 0;
    for (let c = 1; c < CLASSES; c++) {
      if (votes[c]! > votes[best]! || (votes[c] === votes[best] && sums[c]! > sums[best]!)) best = c;
    }
    out[r] = best;
  }
  return out;
}

/**
 * Hard voting as probabilities, so it can be scored like any other prediction: each row is
 * the members' vote shares mixed with the soft vote at weight α = 1/(2(M+1)) for M members,
 * i.e. (1 − α)·votes/M + α·mean. One vote is worth (1 − α)/M > α, more than the soft part
 * can ever add, so the argmax of a row is exactly `hardVoteLabels` (a tie of votes goes to
 * the larger summed probability); the soft part also keeps the log-loss finite when no
 * member voted for the true class.
 */
export function hardVote(memberProbs: readonly Float32Array[]): Float32Array {
  const rows = checkMembers(memberProbs, 'hardVote');
  const winners = hardVoteLabels(memberProbs);
  const members = memberProbs.length;
  const alpha = 1 / (2 * (members + 1));
  const out = new Float32Array(rows * CLASSES);
  const row = new Float64Array(CLASSES);
  for (let r = 0; r < rows; r++) {
    row.fill(0);
    for (const probs of memberProbs) {
      row[argmaxRow(probs, r)]! += (1 - alpha) / members;
      for (let c = 0; c < CLASSES; c++) row[c]! += (alpha / members) * probs[r * CLASSES + c]!;
    }
    const base = r * CLASSES;
    for (let c = 0; c < CLASSES; c++) out[base + c] = row[c]!;
    // Rounding to float32 can make the winner equal to a tied class; lift it by one ulp.
    const winner = winners[r]!;
    for (let c = 0; c < CLASSES; c++) {
      while (c !== winner && (c < winner ? out[base + c]! >= out[base + winner]! : out[base + c]! > out[base + winner]!)) {
        out[base + winner] = nextFloat32Up(out[base + winner]!);
      }
    }
  }
  return out;
}

function nextFloat32Up(value: number): number {
  const buffer = new Float32Array([value]);
  const bits = new Uint32Array(buffer.buffer);
  bits[0]! += value >= 0 ? 1 : -1;
  return buffer[0]!;
}
