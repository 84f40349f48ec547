/**
 * Trial scheduling for `digits search`, as pure functions of the search's state (so a
 * resumed search decides exactly as an uninterrupted one would, and tests need no training).
 *
 * ASHA (Li et al. 2018, "A System for Massively Parallel Hyperparameter Tuning", Algorithm 2):
 * rungs at r, rη, rη², … epochs up to R. Whenever a worker is free, promote a trial from the
 * highest rung that has one: a trial in the top ⌊n/η⌋ of the n results recorded at its rung
 * that has not been promoted yet; otherwise start a new trial at the bottom rung. Promotion
 * never waits for a rung to fill (asynchronous successive halving), so no worker idles.
 * Random search is the same loop with a single rung: every trial trains to its full epochs.
 */

export type SchedulerKind = 'random' | 'asha';

export interface RungScore {
  rung: number;
  /** epochs trained when the score was taken */
  epochs: number;
  /** best validation loss over those epochs (lower is better) */
  valLoss: number;
  valAcc: number;
}

/** What the scheduler needs to know about a trial. */
export interface TrialState {
  id: number;
  /** scores at the rungs the trial completed, in rung order */
  scores: RungScore[];
  /** a job of this trial is running now */
  running: boolean;
  /** the trial failed: never promoted */
  failed?: boolean;
}

export type Job = { kind: 'new'; rung: 0 } | { kind: 'promote'; trial: number; rung: number };

export interface SchedulerConfig {
  kind: SchedulerKind;
  /** epochs of each rung, ascending; random search has one */
  rungs: number[];
  /** reduction factor η (ASHA) */
  eta: number;
  /** at most this many trials */
  maxTrials: number;
}

/**
 * Rung epochs r, rη, rη², … below maxEpochs, with maxEpochs itself as the top rung. A rung
 * above the first is kept only when the top is at least η times it: epochs 1–9 at η 2 give
 * 1, 2, 4, 9, not 1, 2, 4, 8, 9, whose last step would halve the trials for one more epoch.
 */
export function rungEpochs(minEpochs: number, maxEpochs: number, eta: number): number[] {
  if (!(Number.isInteger(minEpochs) && minEpochs >= 1 && maxEpochs >= minEpochs && eta > 1)) {
    throw new RangeError(`rungs need 1 ≤ min epochs ≤ max epochs and η > 1 (got ${minEpochs}, ${maxEpochs}, ${eta})`);
  }
  const rungs: number[] = [];
  for (let e = minEpochs; e < maxEpochs; e = Math.max(e + 1, Math.round(e * eta))) if (rungs.length === 0 || e * eta <= maxEpochs) rungs.push(e);
  rungs.push(maxEpochs);
  return rungs;
}

function highestRung(trial: TrialState): number {
  return trial.scores.length === 0 ? -1 : trial.scores[trial.scores.length - 1]!.rung;
}

/** Orders results best first: lower validation loss, then higher accuracy, then the older trial. */
function byScore(a: { id: number; score: RungScore }, b: { id: number; score: RungScore }): number {
  return a.score.valLoss - b.score.valLoss || b.score.valAcc - a.score.valAcc || a.id - b.id;
}

/**
 * The trials ASHA may promote out of rung k: the top ⌊n/η⌋ of the n results at rung k that
 * are not running, have not failed, and stopped at rung k (not promoted yet).
 */
export function promotable(trials: readonly TrialState[], rung: number, eta: number): number[] {
  const results = trials.flatMap((t) => {
    const score = t.scores.find((s) => s.rung === rung);
    return score ? [{ id: t.id, score, trial: t }] : [];
  });
  const top = results.sort(byScore).slice(0, Math.floor(results.length / eta));
  return top.filter((r) => !r.trial.running && !r.trial.failed && highestRung(r.trial) === rung).map((r) => r.id);
}

/** The next job for a free worker, or null when there is none now (wait for running jobs, or the search is over). */
export function nextJob(trials: readonly TrialState[], config: SchedulerConfig): Job | null {
  if (config.kind === 'asha') {
    for (let k = config.rungs.length - 2; k >= 0; k--) {
      const ids = promotable(trials, k, config.eta);
      if (ids.length > 0) return { kind: 'promote', trial: ids[0]!, rung: k + 1 };
    }
  }
  if (trials.length < config.maxTrials) return { kind: 'new', rung: 0 };
  return null;
}

/**
 * Leaderboard order: trials that reached a higher rung first (they survived more
 * comparisons), then by their score at their highest rung; failed and unscored trials last.
 */
export function rankTrials<T extends TrialState>(trials: readonly T[]): T[] {
  const last = (t: T) => t.scores[t.scores.length - 1];
  return [...trials].sort((a, b) => {
    const sa = last(a);
    const sb = last(b);
    if (!sa || !sb) return (sa ? -1 : sb ? 1 : 0) || a.id - b.id;
    return sb.rung - sa.rung || byScore({ id: a.id, score: sa }, { id: b.id, score: sb });
  });
}
