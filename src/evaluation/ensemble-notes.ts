/**
 * The notes `evaluate` saves beside the ensemble's figures (`ensemble.warnings` in
 * evaluation.json, printed by evaluate, the dashboard and the report): sentences made from
 * figures alone, so that every case can be checked without training.
 */

import { DEFAULT_FOLDS } from '../data/splits.js';

/** A member whose training failed, as run.json records it. */
export interface FailedMember {
  name: string;
  error: string;
}

/**
 * Members of a shared-split or bagged ensemble that failed to train: the ensemble and its
 * figures are of the others (k-fold runs say it with the folds their ensemble covers instead).
 */
export function failedMembersNote(failed: readonly FailedMember[], trained: number): string | null {
  if (failed.length === 0) return null;
  const one = failed.length === 1;
  const named = failed.map((m) => `${m.name} (${m.error})`).join(', ');
  return `member${one ? '' : 's'} ${named} failed to train: the ensemble and its figures are of the ${trained === 1 ? 'one member' : `${trained} members`} that trained`;
}

/** What `failedFoldsNote` says a k-fold run's failed fold members leave out. */
export interface FailedFolds {
  /** the fold members that failed */
  failed: readonly string[];
  /** every recipe of the run, with the folds (1-based) its trained members cover: none when every fold member of it failed */
  recipes: ReadonlyArray<{ name: string; folds: readonly number[] }>;
  /** the split's folds */
  folds: number;
  /** the folds the ensemble's cross-validation covers */
  ensembleFolds: number;
  /** the training rows the ensemble is scored on, of `trainRows` */
  rows: number;
  trainRows: number;
}

/**
 * k-fold with failed fold members: the folds and rows the ensemble's cross-validation then
 * covers, each recipe that lost a fold with the folds it keeps, and a recipe none of whose fold
 * members trained named as out of the ensemble (until session 44 only the folds were said: every
 * fold member of b failed, and the note read "covers 3 of 3 folds", recipe a alone being the
 * ensemble). Null when every fold member trained.
 */
export function failedFoldsNote(f: FailedFolds): string | null {
  const out = f.recipes.filter((r) => r.folds.length === 0).map((r) => r.name);
  if (f.failed.length === 0 && out.length === 0 && f.rows >= f.trainRows) return null;
  const kept = f.recipes.filter((r) => r.folds.length > 0).map((r) => r.name);
  const plural = (n: number, one: string, many: string) => (n === 1 ? one : many);
  let note = f.failed.length > 0 ? `fold member${plural(f.failed.length, '', 's')} ${f.failed.join(', ')} failed: ` : '';
  if (out.length > 0) {
    note += `recipe${plural(out.length, '', 's')} ${out.join(', ')} ${plural(out.length, 'is', 'are')} out of the ensemble (none of ${plural(out.length, 'its', 'their')} fold members trained), which is ${kept.length === 1 ? `recipe ${kept[0]} alone` : `recipes ${kept.join(', ')}`}; `;
  }
  note += `the ensemble's cross-validation covers ${f.ensembleFolds} of ${f.folds} folds (${f.rows} of ${f.trainRows} training rows)`;
  const partial = f.recipes.filter((r) => r.folds.length > 0 && r.folds.length < f.folds);
  if (partial.length > 0) note += `; each recipe's covers the folds its members trained (${partial.map((r) => `${r.name}: fold${plural(r.folds.length, '', 's')} ${r.folds.join(', ')}`).join('; ')} of ${f.folds})`;
  return note;
}

/** Below this many rows no member trained on, the ensemble's held-out figures come with a note. */
export const FEW_HELD_OUT_ROWS = 100;

/** How a run's members were validated (its ensemble's `validation`), as far as the notes need it. */
export interface ValidationKind {
  kind: 'shared' | 'bagged' | 'kfold';
  /** the share of the training rows a shared or bagged split holds out */
  fraction?: number;
}

/** `--folds` as the default of `digits run` has it (DEFAULT_FOLDS). */
const KFOLD_ADVICE = `k-fold validation (--folds ${DEFAULT_FOLDS}) would score it on every training row`;

/**
 * An ensemble scored on fewer than FEW_HELD_OUT_ROWS rows, with the advice that fits the
 * run: bagged holdouts overlap little (a shared split or k-fold scores it on more); a shared
 * split of a small dataset holds out few rows (k-fold scores every one); k-fold already
 * scores every training row, so the dataset itself is small (or failed folds left rows out).
 */
export function fewRowsNote(rows: number, trainRows: number, validation: ValidationKind | undefined): string | null {
  if (rows >= FEW_HELD_OUT_ROWS) return null;
  const figures = `the ensemble is scored on only ${rows} row${rows === 1 ? '' : 's'} that no member trained on: its figures, and the TTA and weights decided on them, say little`;
  const percent = (fraction: number) => `${Number((fraction * 100).toFixed(1))}%`;
  switch (validation?.kind) {
    case 'shared': {
      const fraction = validation.fraction ?? rows / trainRows;
      // At the usual 10% or more, fewer than 100 held-out rows means fewer than 1,000 training rows.
      return fraction >= 0.1
        ? `${figures} (the dataset is small: the shared split holds out ${percent(fraction)} of its ${trainRows} training rows; ${KFOLD_ADVICE})`
        : `${figures} (the shared split holds out only ${percent(fraction)} of the ${trainRows} training rows; a larger "fraction", or ${KFOLD_ADVICE})`;
    }
    case 'kfold':
      return rows >= trainRows
        ? `${figures} (the dataset is small: k-fold validation already scores it on every one of its ${trainRows} training rows)`
        : `${figures} (k-fold validation scores it on the rows of the folds whose members trained: ${rows} of the ${trainRows} training rows)`;
    default:
      // Bagged: each member holds out its own rows, and few rows are held out by all of them.
      return `${figures} (a shared split or k-fold validation scores it on more)`;
  }
}

/** A bagged ensemble scored out of bag: its members, the rows all of them held out, and per row scored how many voted. */
export interface OutOfBag {
  members: number;
  /** rows every member held out (fewer than FEW_HELD_OUT_ROWS, or the ensemble is scored on them) */
  common: number;
  /** rows scored: those some member held out */
  rows: number;
  /** per row scored, the members that held it out and vote on it */
  voters: readonly number[];
}

/**
 * What out-of-bag figures are: each row is voted by the few members that held it out, so they
 * are nearer one member's figures than the whole ensemble's (pessimistic: the submission votes
 * every member on every test row), and the TTA choice, made on them, stands on that vote.
 */
export function outOfBagNote(b: OutOfBag): string {
  const mean = b.voters.reduce((a, v) => a + v, 0) / Math.max(1, b.voters.length);
  const one = b.voters.filter((v) => v === 1).length;
  const common = b.common === 0 ? 'no training row is held out by all of them' : `only ${b.common} training row${b.common === 1 ? ' is' : 's are'} held out by all of them`;
  return `scored out of bag: the ${b.members} members each hold out their own rows ("bagged" validation) and ${common}, so each of the ${b.rows} rows some member held out is voted by the members that held it out, ${mean.toFixed(2)} of the ${b.members} on average (${one === b.rows ? 'one on every row' : `one on ${one} rows`}): the figures are nearer one member's than the whole ensemble's, which votes every member on each test row, and the weights stay equal (ensemble selection needs rows every member predicts)`;
}

/** Held-out accuracies of the ensemble's votes, in the variant (TTA or not) the submission uses. */
export interface VoteAccuracies {
  /** the equal soft vote */
  equal: number;
  /** the weighted soft vote, cross-fitted (honest): only when the submission uses the weights */
  weighted?: number;
}

/**
 * The submitted vote scoring below its best single member (recipe under k-fold) on the
 * held-out rows, naming which vote it is: the weighted one when the weights are in use (an
 * equal vote below the best member says nothing of a weighted submission), else the equal one.
 */
export function belowBestNote(votes: VoteAccuracies, best: { name: string; accuracy: number }, options: { what: 'member' | 'recipe'; rows: number; tta: boolean }): string | null {
  const weighted = votes.weighted !== undefined;
  const accuracy = votes.weighted ?? votes.equal;
  if (accuracy >= best.accuracy) return null;
  const percent = (v: number) => `${(v * 100).toFixed(2)}%`;
  const vote = weighted ? `weighted soft vote, cross-fitted ${percent(accuracy)}` : `equal soft vote, ${percent(accuracy)}`;
  // Both with the shifts when the submission averages them: said, since the members' table shows them plain.
  const shifted = options.tta ? ', both with 8-way TTA as submitted,' : '';
  return `the submitted vote (${vote}) scores below its best ${options.what}, ${best.name} (${percent(best.accuracy)})${shifted} on the ${options.rows} held-out rows`;
}

/**
 * The submitted vote's log-loss clearly above its best single member's (recipe under k-fold):
 * by more than WORSE_LOG_LOSS_SE standard errors of their paired per-row difference
 * (`logLossAgainstBest`), whatever the accuracies say.
 */
/** Fewer held-out rows than this and a per-row standard error says nothing (session 42: one row read "± 0.0000"). */
export const MIN_ROWS_FOR_A_STANDARD_ERROR = 10;

export function worseLogLossNote(
  vote: { weighted: boolean; logLoss: number },
  best: { name: string; logLoss: number; difference: { mean: number; standardError: number } },
  options: { what: 'member' | 'recipe'; rows: number; tta: boolean; margin: number },
): string | null {
  const { mean, standardError } = best.difference;
  // A standard error from a row or two is no measure (one row gave "± 0.0000 … noted beyond 2"):
  // below MIN_ROWS_FOR_A_STANDARD_ERROR rows no difference is claimed (the few-rows note says why).
  if (options.rows < MIN_ROWS_FOR_A_STANDARD_ERROR) return null;
  if (!(mean - options.margin * standardError > 0)) return null;
  const name = vote.weighted ? `weighted soft vote, cross-fitted ${vote.logLoss.toFixed(4)}` : `equal soft vote, ${vote.logLoss.toFixed(4)}`;
  const shifted = options.tta ? ', both with 8-way TTA as submitted,' : '';
  const percent = best.logLoss > 0 ? ` (${Math.round(((vote.logLoss - best.logLoss) / best.logLoss) * 100)}% higher)` : '';
  return `the submitted vote's log-loss (${name}) is above its best ${options.what}'s, ${best.name} (${best.logLoss.toFixed(4)})${percent}${shifted} on the ${options.rows} held-out rows, by ${mean.toFixed(4)} ± ${standardError.toFixed(4)} (standard error of the per-row difference; noted beyond ${options.margin}): its probabilities are worse than that ${options.what}'s alone, whatever its accuracy`;
}

/**
 * A run validated on the rows its members were chosen on (a search's ensemble file trained on
 * the search's own holdout): its held-out figures are optimistic, since the members were picked
 * for doing well there. The remedy: validate on other rows.
 */
export function selectedOnNote(selectedOn: { by: string; validation: { fraction: number; seed: number } }, rows: number): string {
  const split = `the shared ${Number((selectedOn.validation.fraction * 100).toFixed(1))}% split, seed ${selectedOn.validation.seed}`;
  return `the ${rows} held-out rows are the ones ${selectedOn.by} ranked its trials on and chose these members by (${split}): the held-out figures, and the TTA and weights decided on them, are optimistic; for an honest figure train with --folds ${DEFAULT_FOLDS}, or with another validation seed (the ensemble file's "validation": {"kind": "shared", "fraction": ${selectedOn.validation.fraction}, "seed": ${selectedOn.validation.seed + 1}})`;
}
