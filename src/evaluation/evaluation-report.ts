/**
 * The saved evaluation of a run, `<run>/evaluation.json`: written once by `digits evaluate`,
 * read by the dashboard and the HTML report (which therefore open instantly, without
 * running any model).
 *
 * Example positions in a Metrics' `mostConfused[].examples` index the row list that
 * Metrics was computed on: `heldOutRows` for the ensemble, the member's `validationRows`
 * for a member, test rows in order for `test`.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../atomic-file.js';
import type { EpochRecord } from '../training/train-member.js';
import { UserError, jsonPathLocation, jsonSyntaxError, runIsAFile } from '../errors.js';
import { evaluationShape } from './evaluation-shape.js';
import type { Metrics } from './metrics.js';
import type { FoldScores, MeanSd } from './cross-validation.js';
import { shellArg } from '../data/format.js';

export const EVALUATION_FILE = 'evaluation.json';
export const EVALUATION_FORMAT = 'digits-evaluation';
export const EVALUATION_VERSION = 1;

export interface MemberEvaluation {
  name: string;
  preset: string;
  checkpoint: string;
  rows: number;
  metrics: Metrics;
  tta?: Metrics;
  history: EpochRecord[];
  /**
   * The training rows (dataset row indices) the member's metrics were computed on, in that
   * order: its example positions index this list. Optional; without it the dashboard lists
   * a member's misread positions but cannot draw the digits.
   */
  validationRows?: number[];
  /** The engine and number format the member's predictions were computed in (int8 figures differ from training's fp32). */
  runtime?: {
    engine: 'onnx' | 'tfjs';
    precision: 'fp32' | 'int8';
    /** why the member ran fp32 when int8 was asked for (`--precision int8`): its predictor's account (absent before session 39) */
    fallback?: string;
  };
  /**
   * The identity of the checkpoint evaluated (`checkpointIdentity`: its files' hashes as its
   * marker records them). A checkpoint saved again since makes the evaluation outdated; compared
   * by content, so a copied run folder stays current (absent in evaluations before session 35,
   * which are judged by file times).
   */
  identity?: string;
}

export interface EvaluationReport {
  format: 'digits-evaluation';
  version: 1;
  run: string;
  createdAt: string;
  dataset: { dir: string; fingerprint: string };
  /** training rows no member trained on (ensemble metrics are computed on these only) */
  heldOutRows: number[];
  members: MemberEvaluation[];
  ensemble: {
    soft: Metrics;
    hard: Metrics;
    softTta?: Metrics;
    hardTta?: Metrics;
    /**
     * Per member (in `members` order), the weight of its probabilities in the test predictions,
     * `digits submit` and `digits serve`; absent when they are all equal.
     */
    weights?: number[];
    ttaTransforms?: string[];
    /** what the shifts put where they uncover the image (`edge`: its edge repeated); absent in evaluations made before session 44 */
    ttaFill?: string;
    /**
     * Whether the submitted vote averages the TTA shifts: chosen on the held-out rows (the
     * soft vote's log-loss with and without them). Absent when evaluated without TTA, and in
     * evaluations made before the choice existed (whose submissions used TTA).
     */
    ttaDecision?: TtaDecision;
    /**
     * With the weights in use (`weights`): the weighted soft vote on the held-out rows, in the
     * submitted variant (`selection.variant`), cross-fitted (each half of the rows scored with
     * weights fitted on the other, as `selection.crossFitted`), with its per-class figures and
     * confusions, so that it can be viewed beside the equal vote (absent in evaluations written
     * before it existed).
     */
    weighted?: Metrics;
    /** ensemble selection on the held-out rows (absent with a single member or recipe) */
    selection?: SelectionReport;
    /** the best single member (recipe under k-fold) on the same rows and variant as the ensemble */
    bestUnit?: { name: string; accuracy: number; logLoss: number };
    /**
     * the single member (recipe under k-fold) of lowest log-loss on the same rows and variant, and
     * the submitted vote's log-loss minus its, row by row (mean and standard error): a note says
     * when the vote is worse by more than WORSE_LOG_LOSS_SE of them (absent before session 36)
     */
    bestUnitByLogLoss?: { name: string; logLoss: number; difference: { mean: number; standardError: number } };
    /**
     * A bagged ensemble whose members' holdouts share fewer than FEW_HELD_OUT_ROWS rows
     * (`commonRows`), scored out of bag: `heldOutRows` are the rows some member held out, each
     * voted by the members that held it out, `meanVoters` of the `members` on average. No unit
     * predicts every such row, so there is no selection and no best unit (absent otherwise, and
     * before session 45, when such a run could not be evaluated).
     */
    outOfBag?: { members: number; commonRows: number; meanVoters: number };
    /**
     * when the held-out rows are the ones the members were chosen on (a search's ensemble file,
     * trained on the search's own holdout): what chose them. The held-out figures are then
     * optimistic, and a note says so (absent otherwise, and before session 36)
     */
    selectedOnHeldOut?: { by: string };
    /** plain sentences when an ensemble scores below its best member on the held-out rows */
    warnings?: string[];
  };
  /**
   * Members of the run whose training failed (run.json), with the first line of their error:
   * not in the ensemble nor its figures. Absent when every member trained (and in evaluations
   * written before it existed).
   */
  failedMembers?: Array<{ name: string; error: string }>;
  /** k-fold runs: cross-validation figures, mean ± sd over the folds */
  cv?: CrossValidationReport;
  test?: {
    answers: string;
    rows: number;
    /** the soft vote without TTA: weighted when `ensemble.weights` are in use */
    soft: Metrics;
    /** the soft vote with TTA, when the submission averages the shifts: weighted as `soft` is */
    softTta?: Metrics;
    /**
     * with selection weights in use: the equal soft vote (with TTA when submitted with it), for
     * comparison; under k-fold equal by recipe, as the held-out `ensemble` (until session 44 it
     * was each member 1/n, also with no weights in use: a recipe with a failed fold member made it
     * another vote than the submitted one, printed under the same name)
     */
    equalWeights?: Metrics;
    /**
     * the member best on its own held-out rows, scored on the test rows (not the best of them on
     * test); under k-fold (`kind: 'recipe'`, since session 36) the recipe best by CV, its fold
     * members (`members`) averaged: fold members are each scored on other rows
     */
    bestMember: { name: string; kind?: 'member' | 'recipe'; members?: string[]; metrics: Metrics };
  };
}

export interface CrossValidationReport {
  folds: number;
  split: string;
  /** per recipe (member entry of the ensemble): its fold members' scores on their own folds */
  recipes: Array<{
    name: string;
    preset: string;
    members: string[];
    rows: number;
    accuracy: MeanSd;
    logLoss: MeanSd;
    tta?: FoldScores;
    /**
     * its out-of-fold predictions scored: every row its fold members held out (ascending, the
     * sorted union of their `validationRows`, which its example positions index), each by the
     * fold member that did not train on it, in the variant the submission uses (absent before
     * session 44)
     */
    oof?: { variant: 'tta' | 'plain'; metrics: Metrics };
  }>;
  /** the soft vote of the recipes' out-of-fold predictions, fold by fold */
  ensemble: { accuracy: MeanSd; logLoss: MeanSd; tta?: FoldScores };
  /** the run's file of out-of-fold predictions (every training row, per recipe) */
  oofFile: string;
  /** all training rows; more than the ensemble's rows when a fold member failed (absent in older reports) */
  trainRows?: number;
}

export interface TtaDecision {
  used: boolean;
  reason: string;
}

/**
 * TTA or not, on held-out rows: the shifts are averaged only when they lower the equal soft
 * vote's log-loss there (on a digit that fills its frame, or on blur, a shift can cost more
 * than the average gains).
 */
export function decideTta(plain: { logLoss: number }, tta: { logLoss: number }, rows: number): TtaDecision {
  const used = tta.logLoss < plain.logLoss;
  const figures = `log-loss ${tta.logLoss.toFixed(4)} with TTA, ${plain.logLoss.toFixed(4)} without, on ${rows} held-out rows`;
  return { used, reason: used ? `TTA lowers the soft vote's ${figures}` : `TTA does not lower the soft vote's ${figures}: the submission predicts the images as they are` };
}

/**
 * The number format of predictions made by these members: one format, or the mix member by
 * member (`mixed: a int8, b fp32`); `unrecorded` for members whose format was not kept.
 */
export function precisionLabel(names: readonly string[], precisions: ReadonlyArray<'fp32' | 'int8' | undefined>): string {
  const formats = [...new Set(precisions.map((p) => p ?? 'unrecorded'))];
  return formats.length === 1 ? formats[0]! : `mixed: ${names.map((n, i) => `${n} ${precisions[i] ?? '?'}`).join(', ')}`;
}

/** The number format an evaluation's figures were computed in (`precisionLabel` of its members). */
export function precisionOf(report: EvaluationReport): string {
  return precisionLabel(
    report.members.map((m) => m.name),
    report.members.map((m) => m.runtime?.precision),
  );
}

/** Whether a run's submission averages TTA shifts, by its evaluation (never when TTA was not measured). */
export function submitsWithTta(evaluation: EvaluationReport): boolean {
  return evaluation.ensemble.ttaDecision ? evaluation.ensemble.ttaDecision.used : evaluation.ensemble.softTta !== undefined;
}

/**
 * Whether the evaluation measured TTA on the held-out rows. `digits evaluate --no-tta` does
 * not: its submissions go without TTA because nothing says it helps, not because it did not
 * (figures of an earlier evaluation are not reused: they may be of other members or data).
 */
export function ttaMeasured(evaluation: EvaluationReport): boolean {
  return evaluation.ensemble.ttaDecision !== undefined || evaluation.ensemble.softTta !== undefined;
}

/** Why a run's submission goes with or without TTA, as the sentence submit and evaluate print. */
export const TTA_NOT_MEASURED = 'not measured: the last digits evaluate ran with --no-tta; run digits evaluate without it to let TTA be chosen';

/**
 * Whether a run's submission averages the TTA shifts, and why, as `digits submit` and `digits
 * serve` (a request that does not say) both use it: as the evaluation chose; the 8 shifts for a
 * run not evaluated; none when the last evaluation did not measure TTA.
 */
export function submissionTta(evaluation: EvaluationReport | null): { used: boolean; reason: string } {
  if (!evaluation) return { used: true, reason: 'the run has not been evaluated: the 8 shifts by default' };
  if (submitsWithTta(evaluation)) return { used: true, reason: evaluation.ensemble.ttaDecision?.reason ?? 'evaluated with TTA' };
  return { used: false, reason: ttaMeasured(evaluation) ? 'it did not help on the held-out rows' : TTA_NOT_MEASURED };
}

/** Of a figure's plain and TTA variants, the one matching how the run submits. */
export function submittedVariant<T>(evaluation: EvaluationReport, plain: T, tta: T | undefined): T {
  return submitsWithTta(evaluation) ? tta ?? plain : plain;
}

/** The held-out figure of the equal soft vote as submitted: with TTA when the run submits with it. */
export function submittedVote(evaluation: EvaluationReport): Metrics {
  return submittedVariant(evaluation, evaluation.ensemble.soft, evaluation.ensemble.softTta);
}

/**
 * What the figures call a soft vote: beside a weighted submission, the `equal soft vote` and
 * the `weighted soft vote`; without weights in use, the one `soft vote` (equal). Evaluate's
 * output, the dashboard and the report all use these names.
 */
export function voteName(report: EvaluationReport, vote: 'equal' | 'weighted'): string {
  return vote === 'weighted' ? 'weighted soft vote' : weightsInUse(report) ? 'equal soft vote' : 'soft vote';
}

/** The vote the submission uses, by those names: `weighted soft vote + TTA`, `soft vote`, … */
export function submittedVoteName(report: EvaluationReport): string {
  return `${voteName(report, weightsInUse(report) ? 'weighted' : 'equal')}${submitsWithTta(report) ? ' + TTA' : ''}`;
}

/**
 * How `submit`, the ledger, `run` and `serve` call the submitted vote in a word: `weighted soft`
 * only with ensemble selection's weights in use, else `soft` (an unevaluated run's vote too).
 * Unequal per-member weights alone do not make it weighted: under k-fold with a failed fold
 * member the recipes stay equal and the shares of their fold members differ (until session 44
 * serve called that vote `weighted soft`, and submit `weighted by ensemble selection`).
 */
export function submittedVoting(report: EvaluationReport | null): 'soft' | 'weighted soft' {
  return report && weightsInUse(report) ? 'weighted soft' : 'soft';
}

/**
 * Beside the name of an equal vote whose members' weights differ (k-fold, a recipe with a failed
 * fold member): what the unequal shares are, so that they are not read as chosen weights; null
 * otherwise.
 */
export function foldSharesNote(report: EvaluationReport): string | null {
  return report.ensemble.weights && !weightsInUse(report) ? "recipes equal, a recipe's weight shared by its trained fold members" : null;
}

/**
 * Whether the submission uses ensemble selection's weights. Not the same as per-member weights
 * being unequal: under k-fold each recipe's share is split over its trained fold members, so a
 * recipe with a failed fold member gives the others larger shares while the recipes stay equal.
 */
export function weightsInUse(report: EvaluationReport): boolean {
  return report.ensemble.selection ? report.ensemble.selection.used : Boolean(report.ensemble.weights);
}

export interface SelectionReport {
  method: 'caruana';
  /** what was weighted: members on a shared holdout, or recipes on out-of-fold predictions */
  units: 'members' | 'recipes';
  /** predictions it was fitted on: with TTA when evaluated with TTA */
  variant: 'tta' | 'plain';
  rows: number;
  names: string[];
  /** per unit, summing to 1 */
  weights: number[];
  /** the greedy picks (unit names) in order */
  picks: string[];
  /** the plain soft vote on the same rows and variant */
  equal: { accuracy: number; logLoss: number };
  /** weights fitted on all the rows, scored on them: optimistic */
  inSample: { accuracy: number; logLoss: number };
  /** each half of the rows scored with weights fitted on the other half: the honest figure */
  crossFitted: { accuracy: number; logLoss: number };
  /**
   * cross-fitted minus equal log-loss, row by row: mean and its standard error. The weights
   * are used only when mean + WEIGHTS_MARGIN_SE (2) standard errors < 0 (absent in evaluations written before the rule:
   * those used them whenever the cross-fitted log-loss was lower).
   */
  difference?: { mean: number; standardError: number };
  /** whether the weights are the ones in use (ensemble.weights) */
  used: boolean;
  /**
   * per unit, the checkpoint it starts from (`fresh weights` for none): weights move only among
   * units of one start (absent in evaluations written before that rule)
   */
  starts?: string[];
  /**
   * units alone in their start when there are several starts: their weight is their start's
   * share of the equal vote, fixed by that rule rather than chosen (absent when none is, and
   * before session 36)
   */
  forced?: string[];
  reason: string;
}

/**
 * The weights of `names` (in that order) from an evaluation, or undefined for an equal vote.
 * Weights are matched by member name; an evaluation of other members gives none.
 */
export function weightsFor(names: readonly string[], evaluation: EvaluationReport | null): number[] | undefined {
  const w = evaluation?.ensemble.weights;
  if (!evaluation || !w || w.length !== evaluation.members.length) return undefined;
  const byName = new Map(evaluation.members.map((m, i) => [m.name, w[i]!]));
  if (names.length !== byName.size || names.some((n) => !byName.has(n))) return undefined;
  return names.map((n) => byName.get(n)!);
}

/** Writes `<runDir>/evaluation.json` atomically (temp file + rename); returns its path. */
export async function writeEvaluationReport(runDir: string, report: EvaluationReport): Promise<string> {
  const file = path.join(runDir, EVALUATION_FILE);
  // (a temp file a failed write left went with it only from session 45, and a full disk named no file)
  await writeFileAtomic(file, `${JSON.stringify(report)}\n`);
  return file;
}

/** Reads and checks `<runDir>/evaluation.json`; a missing, damaged or foreign file is a UserError. */
export async function readEvaluationReport(runDir: string): Promise<EvaluationReport> {
  const report = await readEvaluationIfAny(runDir);
  if (!report) {
    throw new UserError(`the run ${runDir} has not been evaluated`, {
      where: { file: path.join(path.resolve(runDir), EVALUATION_FILE) },
      hint: `Evaluate it first: digits evaluate --run ${shellArg(runDir)}`,
    });
  }
  return report;
}

/**
 * `<runDir>/evaluation.json`, checked, or null when there is none (the run was not evaluated).
 * A file that cannot be read, is not JSON (named with line and column) or is not a digits
 * evaluation is a UserError: it is never taken for "not evaluated".
 */
export async function readEvaluationIfAny(runDir: string): Promise<EvaluationReport | null> {
  const file = path.join(path.resolve(runDir), EVALUATION_FILE);
  const again = `Re-run digits evaluate --run ${shellArg(runDir)} (it writes ${EVALUATION_FILE} again).`;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (code === 'ENOTDIR') throw runIsAFile(runDir);
    throw new UserError(`cannot read ${file} (${code ?? (error as Error).message})`, { where: { file }, hint: code === 'EISDIR' ? `Move that folder aside; ${again}` : again });
  }
  let report: EvaluationReport;
  try {
    report = JSON.parse(text) as EvaluationReport;
  } catch (error) {
    const syntax = jsonSyntaxError(text, (error as Error).message);
    throw new UserError(`${EVALUATION_FILE} is not valid JSON (${syntax.message})`, {
      where: { file, ...(syntax.line === undefined ? {} : { line: syntax.line, column: syntax.column }) },
      hint: again,
    });
  }
  if (report?.format !== EVALUATION_FORMAT) {
    throw new UserError(`${file} is not a digits evaluation`, { where: { file }, hint: again });
  }
  if (report.version !== EVALUATION_VERSION) {
    throw new UserError(`${file} has format version ${report.version}; this digits reads ${EVALUATION_VERSION}`, { where: { file }, hint: again });
  }
  if (!Array.isArray(report.members) || !Array.isArray(report.heldOutRows) || !report.ensemble?.soft || !report.ensemble?.hard) {
    throw new UserError(`${file} is incomplete (members, heldOutRows or ensemble metrics missing)`, { where: { file }, hint: again });
  }
  const shape = evaluationShape.safeParse(report, { reportInput: true });
  if (!shape.success) {
    const issue = shape.error.issues[0]!;
    const at = jsonPathLocation(text, issue.path);
    const field = issue.path.map((k) => (typeof k === 'number' ? `[${k}]` : `.${String(k)}`)).join('').replace(/^\./, '');
    throw new UserError(`${EVALUATION_FILE} is damaged: ${field || 'the file'} ${describeIssue(issue)}`, {
      where: { file, ...(at ? { line: at.line, column: at.column } : {}) },
      hint: again,
    });
  }
  return report;
}

/** A zod issue as a phrase after the field's name: "is a string where a number belongs". */
function describeIssue(issue: { code: string; message: string; expected?: unknown; input?: unknown }): string {
  if (issue.code === 'invalid_type') {
    const got = issue.input === undefined ? 'missing' : issue.input === null ? 'null' : Array.isArray(issue.input) ? 'an array' : `a ${typeof issue.input}`;
    return got === 'missing' ? `is missing (${String(issue.expected)} expected)` : `is ${got} where ${String(issue.expected)} belongs`;
  }
  return `is wrong (${issue.message})`;
}

/** How the test figures name the single unit compared with the ensemble: the member best on its held-out rows, or the recipe best by CV. */
export function testBestLabel(best: NonNullable<EvaluationReport['test']>['bestMember']): string {
  return `${best.kind === 'recipe' ? `the recipe best by cross-validation, its ${best.members?.length ?? 'fold'} fold members averaged` : 'the member best on its held-out rows'}, without TTA`;
}
