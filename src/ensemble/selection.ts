/**
 * Ensemble weights from held-out predictions: greedy forward selection with replacement
 * (Caruana, Niculescu-Mizil, Crew & Ksikes 2004, "Ensemble selection from libraries of
 * models", ICML). Start from the single best candidate; at each step add, with replacement,
 * the candidate whose addition most lowers the held-out log-loss of the mean of the chosen
 * multiset; stop when no addition lowers it or after `maxSteps`. A candidate's weight is how
 * often it was chosen. With `bags` > 1, selection runs on random halves of the candidates
 * and the weights are averaged (the paper's bagged selection, against overfitting a small
 * held-out set).
 *
 * Weights fitted on rows are optimistic when scored on the same rows. `crossFittedSelection`
 * gives the honest figure: the rows are cut in two halves, weights fitted on one half score
 * the other, and vice versa, so no row is scored by weights that saw it.
 *
 * With `groups` (per candidate, the checkpoint it was fine-tuned from), selection runs within
 * each group and every group keeps its share of the equal vote: held-out rows cannot compare
 * networks that start from different checkpoints when those checkpoints may have pretrained on
 * the rows' digits (README, "Ensemble selection and memorised holdout rows").
 *
 * The log-loss of a mixture needs only each candidate's probability of the true class
 * (mixing is linear), so a step costs candidates × rows.
 */
import { CLASSES, LOG_LOSS_EPSILON, argmaxRow, computeMetrics } from '../evaluation/metrics.js';
import { createRandom, shuffleInPlace } from '../data/random.js';
import { softVote } from './voting.js';

export interface SelectionOptions {
  /** additions after the first pick (default 50) */
  maxSteps?: number;
  /** bagged selection: number of bags (default 1: no bagging) */
  bags?: number;
  /** share of the candidates each bag draws (default 0.5) */
  bagFraction?: number;
  /** seed of the bags' draws and of the cross-fitting halves (default 1) */
  seed?: number;
  /**
   * per candidate, a group key (the starting checkpoint): weights move only within a group,
   * and each group's total stays its share of the candidates (default: one group)
   */
  groups?: readonly string[];
}

export interface SelectionResult {
  /** per candidate, ≥ 0, summing to 1 */
  weights: number[];
  /** per candidate, how often it was picked (summed over bags) */
  counts: number[];
  /**
   * the picks in order (of the first bag when bagged), with the log-loss after each; with
   * groups, group by group, each log-loss that of its group's mixture
   */
  steps: Array<{ candidate: number; logLoss: number }>;
  /** in-sample log-loss of the weighted mean on the rows it was fitted on */
  logLoss: number;
}

function checkCandidates(candidates: readonly Float32Array[], labels: ArrayLike<number>): void {
  if (candidates.length === 0) throw new RangeError('ensemble selection: no candidates');
  for (const [i, probs] of candidates.entries()) {
    if (probs.length !== labels.length * CLASSES) throw new RangeError(`ensemble selection: candidate ${i} has ${probs.length} probabilities for ${labels.length} rows`);
  }
}

/** Per candidate, the probability it gives each row's true class (rows normalised as in the log-loss). */
function trueClassProbabilities(candidates: readonly Float32Array[], labels: ArrayLike<number>, rows: readonly number[]): Float64Array[] {
  return candidates.map((probs) => {
    const out = new Float64Array(rows.length);
    rows.forEach((r, i) => {
      let sum = 0;
      for (let c = 0; c < CLASSES; c++) sum += probs[r * CLASSES + c]!;
      out[i] = sum > 0 ? probs[r * CLASSES + labels[r]!]! / sum : 0;
    });
    return out;
  });
}

function mixtureLogLoss(sum: Float64Array, extra: Float64Array | null, count: number): number {
  let total = 0;
  for (let i = 0; i < sum.length; i++) {
    const p = (sum[i]! + (extra ? extra[i]! : 0)) / count;
    total -= Math.log(Math.min(1 - LOG_LOSS_EPSILON, Math.max(LOG_LOSS_EPSILON, p)));
  }
  return total / sum.length;
}

function greedy(truth: readonly Float64Array[], allowed: readonly number[], maxSteps: number): { counts: number[]; steps: SelectionResult['steps'] } {
  const rows = truth[0]!.length;
  const counts = new Array<number>(truth.length).fill(0);
  const sum = new Float64Array(rows);
  const steps: SelectionResult['steps'] = [];
  let current = Infinity;
  for (let step = 0; step <= maxSteps; step++) {
    const n = steps.length;
    let best = -1;
    let bestLoss = current;
    for (const m of allowed) {
      const loss = mixtureLogLoss(sum, truth[m]!, n + 1);
      if (loss < bestLoss - 1e-12) {
        best = m;
        bestLoss = loss;
      }
    }
    if (best < 0) break;
    counts[best]!++;
    for (let i = 0; i < rows; i++) sum[i]! += truth[best]![i]!;
    current = bestLoss;
    steps.push({ candidate: best, logLoss: bestLoss });
  }
  return { counts, steps };
}

/** Weighted log-loss of candidates on rows (only the true-class probabilities are read). */
function weightedLogLoss(truth: readonly Float64Array[], weights: readonly number[]): number {
  const sum = new Float64Array(truth[0]!.length);
  weights.forEach((w, m) => {
    if (w > 0) for (let i = 0; i < sum.length; i++) sum[i]! += w * truth[m]![i]!;
  });
  return mixtureLogLoss(sum, null, 1);
}

/**
 * Caruana's greedy selection with replacement over candidates' probabilities (each rows × 10,
 * row-major) against `labels`, optionally on a subset of `rows` (default all).
 */
export function caruanaSelection(candidates: readonly Float32Array[], labels: ArrayLike<number>, options: SelectionOptions = {}, rows?: readonly number[]): SelectionResult {
  checkCandidates(candidates, labels);
  const on = rows ?? Array.from({ length: labels.length }, (_, i) => i);
  if (on.length === 0) throw new RangeError('ensemble selection: no rows to fit on');
  const truth = trueClassProbabilities(candidates, labels, on);
  const maxSteps = Math.max(0, options.maxSteps ?? 50);
  const bags = Math.max(1, Math.floor(options.bags ?? 1));
  const weights = new Array<number>(candidates.length).fill(0);
  const counts = new Array<number>(candidates.length).fill(0);
  const steps: SelectionResult['steps'] = [];
  const random = createRandom(options.seed ?? 1);
  for (const members of selectionGroups(candidates.length, options.groups)) {
    // Each group's weights sum to its share of the equal vote.
    const share = members.length / candidates.length;
    for (let b = 0; b < bags; b++) {
      const allowed = bags === 1 ? members : shuffleInPlace(members.slice(), random).slice(0, Math.max(1, Math.round(members.length * (options.bagFraction ?? 0.5))));
      const bag = greedy(truth, allowed, maxSteps);
      if (b === 0) steps.push(...bag.steps);
      const picks = bag.steps.length;
      bag.counts.forEach((c, m) => {
        counts[m]! += c;
        weights[m]! += (c / picks / bags) * share;
      });
    }
  }
  return { weights, counts, steps, logLoss: weightedLogLoss(truth, weights) };
}

/** Candidate indices by group, in order of first appearance (one group of all without keys). */
function selectionGroups(count: number, groups: readonly string[] | undefined): number[][] {
  if (!groups) return [Array.from({ length: count }, (_, i) => i)];
  if (groups.length !== count) throw new RangeError(`ensemble selection: ${groups.length} group keys for ${count} candidates`);
  const byKey = new Map<string, number[]>();
  groups.forEach((key, i) => byKey.set(key, [...(byKey.get(key) ?? []), i]));
  return [...byKey.values()];
}

export interface CrossFittedSelection {
  /** per row, the mixture under weights fitted on the other half (rows × 10) */
  probs: Float32Array;
  /** the two halves' weights: [fitted on half A, fitted on half B] */
  halves: [number[], number[]];
}

/**
 * The honest score of selection on held-out rows: rows split in two seeded halves; each
 * half is predicted by the weights `caruanaSelection` fitted on the other half.
 */
export function crossFittedSelection(candidates: readonly Float32Array[], labels: ArrayLike<number>, options: SelectionOptions = {}): CrossFittedSelection {
  checkCandidates(candidates, labels);
  if (labels.length < 2) throw new RangeError('ensemble selection: cross-fitting needs at least 2 rows');
  const order = shuffleInPlace(Array.from({ length: labels.length }, (_, i) => i), createRandom(options.seed ?? 1));
  const half = Math.floor(order.length / 2);
  const a = order.slice(0, half).sort((x, y) => x - y);
  const b = order.slice(half).sort((x, y) => x - y);
  const fitA = caruanaSelection(candidates, labels, options, a).weights;
  const fitB = caruanaSelection(candidates, labels, options, b).weights;
  const out = new Float32Array(labels.length * CLASSES);
  const mixRows = (rows: number[], weights: number[]) => {
    const picked = candidates.map((p) => {
      const sub = new Float32Array(rows.length * CLASSES);
      rows.forEach((r, i) => sub.set(p.subarray(r * CLASSES, (r + 1) * CLASSES), i * CLASSES));
      return sub;
    });
    const mixed = softVote(picked, weights);
    rows.forEach((r, i) => out.set(mixed.subarray(i * CLASSES, (i + 1) * CLASSES), r * CLASSES));
  };
  mixRows(b, fitA);
  mixRows(a, fitB);
  return { probs: out, halves: [fitA, fitB] };
}

/**
 * Ensemble weights replace the equal vote only when their cross-fitted log-loss is lower by
 * more than this many standard errors of the paired per-row difference. Measured on the 8
 * bench runs' held-out rows, nested (decide on one half, score the other; 20 splits each):
 * mean log-loss on the scoring halves 0.02661 with the equal vote always, 0.02776 using the
 * weights whenever they were lower, 0.02708 at 1 standard error, 0.02668 at 2.
 */
export const WEIGHTS_MARGIN_SE = 2;

/**
 * Whether fitted weights replace the equal vote: their cross-fitted log-loss is lower by more
 * than WEIGHTS_MARGIN_SE standard errors of the paired difference (cross-fitted − equal), and
 * their cross-fitted accuracy, the competition's measure, is not lower by more than as many
 * standard errors of its paired difference (a row or two either way is noise the finer
 * log-loss sees through; session 38 saw weights lower the log-loss 1.635 → 1.623 and take the
 * accuracy from 74.0% to 68.9%).
 */
export function weightsBeatEqualVote(logLoss: Pick<PairedDifference, 'mean' | 'standardError'>, accuracy: Pick<PairedDifference, 'mean' | 'standardError'>): { lowerLogLoss: boolean; lowerAccuracy: boolean; used: boolean } {
  const lowerLogLoss = logLoss.mean + WEIGHTS_MARGIN_SE * logLoss.standardError < 0;
  const lowerAccuracy = accuracy.mean + WEIGHTS_MARGIN_SE * accuracy.standardError < 0;
  return { lowerLogLoss, lowerAccuracy, used: lowerLogLoss && !lowerAccuracy };
}

/** Row by row, whether `a` is right where `b` is wrong (+1) or the other way round (−1): the mean is a's accuracy less b's, with its standard error. */
export function pairedAccuracyDifference(a: Float32Array, b: Float32Array, labels: ArrayLike<number>): PairedDifference {
  const rows = labels.length;
  if (a.length !== rows * CLASSES || b.length !== rows * CLASSES) throw new RangeError(`pairedAccuracyDifference: ${a.length} and ${b.length} probabilities for ${rows} rows`);
  return pairedMean(rows, (r) => Number(argmaxRow(a, r) === labels[r]) - Number(argmaxRow(b, r) === labels[r]));
}

export interface PairedDifference {
  /** mean over rows of a's figure less b's (log-loss: negative when a is better; right = 1: positive when a is) */
  mean: number;
  /** standard error of that mean (sample sd of the per-row differences / √rows) */
  standardError: number;
  rows: number;
}

/**
 * Row by row, how much lower `a`'s log-loss is than `b`'s on the same rows, with the
 * standard error of the mean difference: two scores of one set of rows are compared on their
 * paired differences, which are far less noisy than the scores themselves.
 */
export function pairedLogLossDifference(a: Float32Array, b: Float32Array, labels: ArrayLike<number>): PairedDifference {
  const rows = labels.length;
  if (a.length !== rows * CLASSES || b.length !== rows * CLASSES) throw new RangeError(`pairedLogLossDifference: ${a.length} and ${b.length} probabilities for ${rows} rows`);
  const [pa, pb] = trueClassProbabilities([a, b], labels, Array.from({ length: rows }, (_, i) => i));
  const loss = (p: number): number => -Math.log(Math.min(1 - LOG_LOSS_EPSILON, Math.max(LOG_LOSS_EPSILON, p)));
  return pairedMean(rows, (r) => loss(pa![r]!) - loss(pb![r]!));
}

/** The mean over `rows` of a per-row difference, with its standard error (sample sd / √rows). */
function pairedMean(rows: number, difference: (row: number) => number): PairedDifference {
  let total = 0;
  let squares = 0;
  for (let r = 0; r < rows; r++) {
    const d = difference(r);
    total += d;
    squares += d * d;
  }
  const mean = rows > 0 ? total / rows : 0;
  const variance = rows > 1 ? Math.max(0, (squares - rows * mean * mean) / (rows - 1)) : 0;
  return { mean, standardError: rows > 0 ? Math.sqrt(variance / rows) : 0, rows };
}

export interface BelowBest {
  /** index of the best single candidate: highest accuracy, then lowest log-loss */
  best: number;
  accuracy: number;
  logLoss: number;
  /** whether the ensemble's accuracy is below the best candidate's on these rows */
  below: boolean;
}

/** The best single candidate on the rows, and whether `ensemble` (rows × 10) scores below it. */
export function compareWithBest(candidates: readonly Float32Array[], ensemble: Float32Array, labels: ArrayLike<number>): BelowBest {
  checkCandidates(candidates, labels);
  const scores = candidates.map((p) => computeMetrics(p, labels, { pairs: 0, examplesPerPair: 0 }));
  const best = scores.reduce((b, m, k) => (m.accuracy > scores[b]!.accuracy || (m.accuracy === scores[b]!.accuracy && m.logLoss < scores[b]!.logLoss) ? k : b), 0);
  const vote = computeMetrics(ensemble, labels, { pairs: 0, examplesPerPair: 0 });
  return { best, accuracy: scores[best]!.accuracy, logLoss: scores[best]!.logLoss, below: vote.accuracy < scores[best]!.accuracy };
}

/**
 * A submitted vote's log-loss is called worse than its best single candidate's (lowest
 * log-loss on the same rows) only when the paired per-row difference exceeds this many
 * standard errors: the same margin as the weights' rule (WEIGHTS_MARGIN_SE), so that a note
 * means more than the noise of which member happened to be best on these rows. Accuracy alone
 * missed it (session 36: a vote 39% worse in log-loss than its best member, and 0.16 points
 * above it in accuracy, got no note): the submission's probabilities are what a log-loss
 * competition scores, and overconfident members can pull a vote's probabilities down while
 * its argmax holds.
 */
export const WORSE_LOG_LOSS_SE = 2;

export interface LogLossAgainstBest {
  /** index of the candidate with the lowest log-loss on the rows */
  best: number;
  logLoss: number;
  /** the vote's log-loss minus the best candidate's, row by row (positive: the vote is worse) */
  difference: PairedDifference;
  /** whether the vote is worse by more than WORSE_LOG_LOSS_SE standard errors */
  worse: boolean;
}

/** The candidate of lowest log-loss on the rows, and whether `vote` (rows × 10) is clearly worse than it. */
export function logLossAgainstBest(candidates: readonly Float32Array[], vote: Float32Array, labels: ArrayLike<number>): LogLossAgainstBest {
  checkCandidates(candidates, labels);
  const losses = candidates.map((p) => computeMetrics(p, labels, { pairs: 0, examplesPerPair: 0 }).logLoss);
  const best = losses.reduce((b, loss, k) => (loss < losses[b]! ? k : b), 0);
  const difference = pairedLogLossDifference(vote, candidates[best]!, labels);
  return { best, logLoss: losses[best]!, difference, worse: difference.mean - WORSE_LOG_LOSS_SE * difference.standardError > 0 };
}
