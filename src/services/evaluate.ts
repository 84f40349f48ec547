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
import type { Dataset } from '../data/dataset.js';
import { UserError, failureLine } from '../errors.js';
import { readAnswerLabels } from '../data/submission-csv.js';
import { DEFAULT_FOLDS } from '../data/splits.js';
import { int8Fallback, type InferMode, type Precision, type Predictor } from '../inference/predictor.js';
import { predictEnsemble } from '../ensemble/predict-ensemble.js';
import { IDENTITY, TTA_8, TTA_FILL, type Shift } from '../ensemble/tta.js';
import { assertTrained, loadRunDataset, readRunManifest, resolveStoredPath, ROUND1_DIR, storedPath, type MemberOutcome, type RunManifest } from '../runs/manifest.js';
import { withRunLock } from '../runs/lock.js';
import { assertMembersReadable, openMembers, rowsAsFloats, trainedMembers } from '../runs/open-members.js';
import type { EpochRecord } from '../training/train-member.js';
import { computeMetrics, predictedLabels } from '../evaluation/metrics.js';
import { hardVote, outOfBag, softVote } from '../ensemble/voting.js';
import { decideTta, type CrossValidationReport, type EvaluationReport, type MemberEvaluation, type SelectionReport, type TtaDecision } from '../evaluation/evaluation-report.js';
import { meanSd, outOfFold, scoreByFold } from '../evaluation/cross-validation.js';
import { caruanaSelection, compareWithBest, crossFittedSelection, logLossAgainstBest, pairedAccuracyDifference, pairedLogLossDifference, weightsBeatEqualVote, WEIGHTS_MARGIN_SE, WORSE_LOG_LOSS_SE } from '../ensemble/selection.js';
import { initLeakNote, initsTrainedOnThisData } from '../runs/init-leak.js';
import { belowBestNote, failedFoldsNote, failedMembersNote, fewRowsNote, FEW_HELD_OUT_ROWS, outOfBagNote, selectedOnNote, worseLogLossNote } from '../evaluation/ensemble-notes.js';
import { validatedWhereSelected } from '../ensemble/ensemble-spec.js';
import { writeJsonAtomic } from '../atomic-file.js';
import { displayPath, shellArg } from '../data/format.js';

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
  /** the run's competition (or dataset cache) folder when it is no longer where run.json says; its data must be the run's */
  dataDir?: string;
  onProgress?: (message: string) => void;
  /** what the user should know that is not the result: the run's data found where an older run.json's absolute path no longer leads */
  onNote?: (message: string) => void;
  /** rows predicted so far of a prediction task (for a progress bar) */
  onRows?: (task: string, done: number, total: number) => void;
  /** what holds the run's lock while evaluating, as a second writer is told (default `digits evaluate --run <run>`; `digits run` names itself) */
  command?: string;
}

export interface TestPredictions {
  run: string;
  datasetFingerprint: string;
  members: string[];
  voting: 'soft';
  /** per member, when the vote is weighted (ensemble selection) */
  weights?: number[];
  tta: number;
  ids: string[];
  labels: number[];
  /** per row, the ensemble probability of its label */
  confidence: number[];
  /** per member, its checkpoint's identity (`checkpointIdentity`): a member trained again invalidates them */
  checkpoints?: string[];
  /** per member, the precision it predicted in */
  precision?: Array<'fp32' | 'int8'>;
}

/**
 * The ensemble's soft vote (with TTA when given) on every test row of a dataset; with
 * `weights` (one per predictor), the weighted vote, and each member's probabilities too.
 */
export async function predictTestSet(predictors: readonly Predictor[], dataset: Dataset, tta: readonly Shift[], weights?: readonly number[], onProgress?: (done: number, total: number) => void) {
  const pixels = dataset.width * dataset.height;
  const count = dataset.testImages.length / pixels;
  const images = rowsAsFloats(dataset.testImages, dataset.scale, pixels, Array.from({ length: count }, (_, i) => i));
  const options = { tta: tta.length > 1 ? tta : undefined };
  let probs: Float32Array;
  let memberProbs: Float32Array[] | undefined;
  if (weights) {
    memberProbs = [];
    for (const [m, p] of predictors.entries()) {
      // (the bar counts test rows, as the line before it does: the members' share of the work, not rows × members, which read 600/600 rows for 200; until session 43.
      // Every member is predicted, also one of weight 0: the test figures compare the equal vote and the best member)
      memberProbs.push(await predictEnsemble([p], images, count, { ...options, onProgress: (done) => onProgress?.(Math.floor((m * count + done) / predictors.length), count) }));
    }
    probs = softVote(memberProbs, weights);
  } else {
    probs = await predictEnsemble(predictors, images, count, { ...options, onProgress });
  }
  const labels = Array.from(predictedLabels(probs));
  const confidence = labels.map((label, i) => Number(probs[i * 10 + label]!.toFixed(5)));
  return { images, count, probs, labels, confidence, memberProbs };
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

/** A practice competition's answers (`ImageId,Label`, `readAnswerLabels`), one label per test id of the dataset, in its order. */
export async function readAnswers(file: string, ids: string[]): Promise<Uint8Array> {
  const byId = new Map<string, number>();
  const rows = await readAnswerLabels(file);
  for (const row of rows) byId.set(row.id, row.label);
  // Ids the test set does not have: the answers of another competition (or of a larger test
  // set). Said now: the submission's scoring refused them only after the whole training.
  const testIds = new Set(ids);
  const foreign = rows.find((row) => !testIds.has(row.id));
  if (foreign) {
    throw new UserError(`answers: id ${foreign.id} is not a test id of this competition (its test set has ${ids.length} rows)`, { where: { file, line: foreign.line }, hint: 'Use the answers file of this competition (a practice one sits beside its folder as <competition>-answers.csv).' });
  }
  return Uint8Array.from(ids, (id, i) => {
    const label = byId.get(id);
    if (label === undefined) throw new UserError(`answers: no label for test id ${id} (row ${i + 1})`, { where: { file }, hint: 'Use the answers file of this competition.' });
    return label;
  });
}

async function loadMembers(manifest: RunManifest, runDir: string, dataset: Dataset, infer: InferMode, precision: Precision): Promise<LoadedMember[]> {
  // (every member named when one cannot be read; their identities go into evaluation.json, read once here)
  const identities = await assertMembersReadable(runDir, trainedMembers(runDir, manifest).trained, 'digits evaluate scores');
  const members = (await openMembers(runDir, manifest, { infer, precision, dataset })).map((m, i) => ({ outcome: m.outcome, predictor: m.predictor, rows: m.validationRows!, checkpoint: m.checkpoint, identity: identities[i]! }));
  if (members.length === 0) throw new UserError(`run ${runDir} has no trained member to evaluate`, { where: { file: runDir }, hint: 'Train again; `digits train` reports why members failed.' });
  return members;
}

interface LoadedMember {
  outcome: MemberOutcome;
  predictor: Predictor;
  rows: number[];
  /** absolute path of its checkpoint */
  checkpoint: string;
  /** its checkpoint's identity (`checkpointIdentity`) */
  identity: string;
}

/** A unit of the ensemble: one member, or under k-fold one recipe (its fold members). */
interface Unit {
  name: string;
  preset: string;
  /** indices into the loaded members */
  members: number[];
}

function unitsOf(members: readonly LoadedMember[], kfold: boolean): Unit[] {
  if (!kfold) return members.map((m, i) => ({ name: m.outcome.name, preset: m.outcome.preset, members: [i] }));
  const units = new Map<string, Unit>();
  members.forEach((m, i) => {
    const name = m.outcome.recipe ?? m.outcome.name;
    const unit = units.get(name) ?? { name, preset: m.outcome.preset, members: [] };
    unit.members.push(i);
    units.set(name, unit);
  });
  return [...units.values()];
}

/**
 * The checkpoint a unit (a member, or a k-fold recipe) starts from, as the ensemble names it,
 * or `fresh weights`: ensemble selection's group.
 */
function startOf(manifest: RunManifest, unit: string): string {
  return manifest.ensemble.members.find((m) => m.name === unit)?.init ?? FRESH;
}

const FRESH = 'fresh weights';

/** Per member, its share of the ensemble: a unit's weight split evenly over its fold members. */
function memberWeights(units: readonly Unit[], unitWeights: readonly number[], count: number): number[] {
  const out = new Array<number>(count).fill(0);
  // Rounded once, so evaluation.json, test-predictions.json and the ledger carry the same numbers.
  units.forEach((u, k) => u.members.forEach((i) => (out[i] = Number((unitWeights[k]! / u.members.length).toFixed(6)))));
  return out;
}

const scoreOf = (m: { accuracy: number; logLoss: number }) => ({ accuracy: m.accuracy, logLoss: m.logLoss });

export const OOF_FILE = 'oof-predictions.json';

/** `<run>/oof-predictions.json`: every training row's out-of-fold probabilities, per recipe. */
export interface OutOfFoldFile {
  format: 'digits-oof';
  run: string;
  datasetFingerprint: string;
  /** `tta`: averaged over the TTA shifts; `plain`: the images as they are */
  variant: 'tta' | 'plain';
  /** dataset training rows, ascending */
  rows: number[];
  /** per row, the fold that held it out */
  fold: number[];
  /** per recipe, rows × 10 probabilities (6 decimals), from the fold member that did not train on the row */
  recipes: Array<{ name: string; members: string[]; probs: number[] }>;
}

export async function evaluateRun(options: EvaluateOptions): Promise<EvaluationReport> {
  const runDir = path.resolve(options.runDir);
  const manifest = await readRunManifest(runDir);
  assertTrained(runDir, manifest, 'evaluate');
  // evaluation.json, the test predictions and ONNX exports are written into the run folder.
  return withRunLock(runDir, options.command ?? `digits evaluate --run ${runDir}`, () => evaluateLocked(options, runDir, manifest));
}

async function evaluateLocked(options: EvaluateOptions, runDir: string, manifest: RunManifest): Promise<EvaluationReport> {
  const say = options.onProgress ?? (() => {});
  const dataset = await loadRunDataset(runDir, manifest, options.dataDir, options.onNote);
  const tta = options.tta ?? TTA_8;
  const pixels = dataset.width * dataset.height;
  // The answers are read (and matched to the test ids) before any inference: a wrong path fails at once.
  const answers = options.answers ? await readAnswers(options.answers, dataset.ids) : null;
  const members = await loadMembers(manifest, runDir, dataset, options.infer ?? 'auto', options.precision ?? 'auto');
  const kfold = manifest.ensemble.validation?.kind === 'kfold';
  try {
    // Each member on its own held-out rows, plain and with TTA.
    const memberEvaluations: MemberEvaluation[] = [];
    const plain: Float32Array[] = [];
    const withTta: Float32Array[] = [];
    for (const m of members) {
      // --precision int8 that a member cannot take (no convolution to quantize): say why it runs fp32.
      const fallbackReason = int8Fallback(options.precision, m.predictor);
      const fallback = fallbackReason ? `; ${fallbackReason}` : '';
      say(`${m.outcome.name}: predicting ${m.rows.length} held-out rows (${m.predictor.kind}${fallback})`);
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
        runtime: { engine: m.predictor.kind, precision: m.predictor.precision, ...(fallback ? { fallback: m.predictor.reason } : {}) },
        identity: m.identity,
      });
    }
    // The units the ensemble combines: members, or under k-fold each recipe's out-of-fold
    // predictions (a row predicted by the fold member that did not train on it).
    const units = unitsOf(members, kfold);
    const unitRows: number[][] = [];
    const unitPlain: Float32Array[] = [];
    const unitTta: Float32Array[] = [];
    const foldOfRow = new Map<number, number>();
    for (const u of units) {
      if (!kfold) {
        const i = u.members[0]!;
        unitRows.push(members[i]!.rows);
        unitPlain.push(plain[i]!);
        unitTta.push(withTta[i]!);
        continue;
      }
      const oof = outOfFold(u.members.map((i) => ({ rows: members[i]!.rows, probs: plain[i]! })));
      const oofTta = outOfFold(u.members.map((i) => ({ rows: members[i]!.rows, probs: withTta[i]! })));
      for (const i of u.members) for (const r of members[i]!.rows) foldOfRow.set(r, members[i]!.outcome.split.fold);
      unitRows.push(oof.rows);
      unitPlain.push(oof.probs);
      unitTta.push(oofTta.probs);
    }
    // The ensemble on rows no member of it trained on.
    const common = heldOutByAll(unitRows);
    // Bagged members (each validated on rows of its own) share few rows, often none: the
    // ensemble is then scored out of bag, each row some member held out voted by the members
    // that held it out (until session 45 evaluate refused such a run, and run refused to start it).
    const bag =
      !kfold && manifest.ensemble.validation?.kind === 'bagged' && units.length > 1 && common.length < FEW_HELD_OUT_ROWS
        ? {
            plain: outOfBag(units.map((_, k) => ({ rows: unitRows[k]!, probs: unitPlain[k]! }))),
            tta: tta.length > 1 ? outOfBag(units.map((_, k) => ({ rows: unitRows[k]!, probs: unitTta[k]! }))) : undefined,
          }
        : null;
    const heldOut = bag ? bag.plain.rows : common;
    if (heldOut.length === 0) {
      throw new UserError('no training row was held out by every member, so the ensemble cannot be scored honestly', {
        where: { file: runDir },
        hint: `\`digits submit --run ${shellArg(displayPath(runDir))}\` submits it unevaluated (equal weights, the 8 TTA shifts). To score an ensemble, train it with a shared validation split ("validation": {"kind": "shared", ...}) or k-fold cross-validation ("validation": {"kind": "kfold", "folds": ${DEFAULT_FOLDS}}, or --folds ${DEFAULT_FOLDS}).`,
      });
    }
    const labels = Uint8Array.from(heldOut, (r) => dataset.trainLabels[r]!);
    const pick = (probs: Float32Array[]) => probs.map((p, k) => selectRows(p, unitRows[k]!, heldOut));
    // (out of bag, no unit predicts every row: the votes are the bag's, per row)
    const heldPlain = bag ? [] : pick(unitPlain);
    const heldTta = bag ? [] : tta.length > 1 ? pick(unitTta) : heldPlain;
    const soft = computeMetrics(bag ? bag.plain.soft : softVote(heldPlain), labels);
    const hard = computeMetrics(bag ? bag.plain.hard : hardVote(heldPlain), labels);
    const softTta = tta.length > 1 ? computeMetrics(bag ? bag.tta!.soft : softVote(heldTta), labels) : undefined;
    const hardTta = tta.length > 1 ? computeMetrics(bag ? bag.tta!.hard : hardVote(heldTta), labels) : undefined;
    // TTA joins the submitted vote only when it helps on these rows; selection, the best
    // unit and the test predictions all follow that choice.
    const ttaDecision: TtaDecision | undefined = softTta ? decideTta(soft, softTta, heldOut.length) : undefined;
    const useTta = ttaDecision?.used ?? false;
    const shifts = useTta ? tta : [];
    const heldVote = useTta ? heldTta : heldPlain;
    const variant: 'tta' | 'plain' = useTta ? 'tta' : 'plain';
    const vote = useTta ? softTta! : soft;
    const what = kfold ? 'recipe' : 'member';

    // The best single unit on the same rows (a note below says when the submitted vote scores
    // below it): out of bag there are no such rows, each member having its own.
    const equalVote = bag ? (useTta ? bag.tta!.soft : bag.plain.soft) : softVote(heldVote);
    const compared = bag ? null : compareWithBest(heldVote, equalVote, labels);
    const bestUnit = compared ? { name: units[compared.best]!.name, accuracy: compared.accuracy, logLoss: compared.logLoss } : undefined;
    const warnings: string[] = [];
    if (bag) warnings.push(outOfBagNote({ members: units.length, common: common.length, rows: heldOut.length, voters: bag.plain.voters }));
    // Bagged members' holdouts overlap little, and a small dataset holds out few rows.
    const fewRows = fewRowsNote(heldOut.length, dataset.trainLabels.length, manifest.ensemble.validation);
    if (fewRows) warnings.push(fewRows);
    // A search's ensemble file keeps the holdout its trials were ranked on: scored there, the
    // members look better than they are, as they were chosen for doing well on these rows.
    const selectedHere = validatedWhereSelected(manifest.ensemble, dataset.fingerprint) ? manifest.ensemble.selectedOn! : undefined;
    if (selectedHere) warnings.push(selectedOnNote(selectedHere, heldOut.length));
    // Members that failed to train are in run.json only: name them, or the ensemble reads as
    // the whole of the run (k-fold says so below, with the folds its figures cover).
    const failedMembers = manifest.members.filter((m) => !m.ok).map((m) => ({ name: m.name, error: failureLine(m.error) }));
    const failedNote = kfold ? null : failedMembersNote(failedMembers, members.length);
    if (failedNote) warnings.push(failedNote);
    // Members fine-tuned from a checkpoint trained on these very rows (a run's own member)
    // (not round 2's inits, the run's own round-1 members of --pseudo-label: they held out the same
    // rows, auto's shared holdout, so its figures are not flattered; they were noted until session 45)
    const round1 = path.join(runDir, ROUND1_DIR) + path.sep;
    const initOf = (init: string | undefined) => (init ? resolveStoredPath(runDir, init) : undefined);
    const leaking = await initsTrainedOnThisData(manifest.ensemble.members.map((m) => ({ name: m.name, init: initOf(m.init)?.startsWith(round1) ? undefined : initOf(m.init) })), dataset.fingerprint);
    if (leaking.length > 0) warnings.push(initLeakNote(leaking));

    // Ensemble selection (Caruana et al. 2004) on the held-out predictions.
    let selection: SelectionReport | undefined;
    // The weighted vote in use, on the held-out rows (cross-fitted: honest), to view beside the equal one.
    let weightedVote: ReturnType<typeof computeMetrics> | undefined;
    // The submitted vote's probabilities on the held-out rows: the weighted one's cross-fitted when in use.
    let submittedProbs = equalVote;
    let unitWeights = units.map(() => 1 / units.length);
    if (!bag && units.length > 1 && heldOut.length >= 2) {
      say(`ensemble selection over ${units.length} ${what}s on ${heldOut.length} held-out rows`);
      // Weights move only among units that start from the same checkpoint (or all from fresh
      // weights): the held-out rows may be digits some checkpoints pretrained on.
      const starts = units.map((u) => startOf(manifest, u.name));
      const groups = starts.map((s) => (s === FRESH ? s : path.resolve(runDir, s)));
      const fitted = caruanaSelection(heldVote, labels, { groups });
      const crossFittedProbs = crossFittedSelection(heldVote, labels, { groups }).probs;
      const crossFitted = computeMetrics(crossFittedProbs, labels, { pairs: 0, examplesPerPair: 0 });
      const inSample = computeMetrics(softVote(heldVote, fitted.weights), labels, { pairs: 0, examplesPerPair: 0 });
      const equalPick = fitted.weights.every((w) => Math.abs(w - 1 / units.length) < 1e-9);
      const startCount = new Set(groups).size;
      const onePerStart = startCount === units.length;
      // The weights replace the equal vote only when their honest (cross-fitted) log-loss is
      // lower by more than WEIGHTS_MARGIN_SE standard errors of the paired per-row difference;
      // within noise the simpler vote stays (README "Ensemble weights": on fresh rows, weights
      // chosen on any lower figure did worse than the equal vote on all 8 bench recipes).
      const difference = pairedLogLossDifference(crossFittedProbs, equalVote, labels);
      // …and only when they do not lose accuracy, the competition's measure (session 38: weights of
      // two barely trained members lowered the log-loss 1.635 → 1.623 and took 74.0% to 68.9%).
      const decision = weightsBeatEqualVote(difference, pairedAccuracyDifference(crossFittedProbs, equalVote, labels));
      const lowerLogLoss = !equalPick && decision.lowerLogLoss;
      const used = !equalPick && decision.used;
      const figures = `cross-fitted log-loss ${crossFitted.logLoss.toFixed(4)} against ${vote.logLoss.toFixed(4)}, a difference of ${difference.mean.toFixed(4)} ± ${difference.standardError.toFixed(4)} (standard error)`;
      if (used) {
        unitWeights = fitted.weights;
        weightedVote = computeMetrics(crossFittedProbs, labels);
        submittedProbs = crossFittedProbs;
      }
      // A unit alone in its start keeps its share of the equal vote whatever selection picked:
      // its weight is the start rule's, not chosen (said, or it reads as selection's verdict).
      const startSize = (g: string) => groups.filter((x) => x === g).length;
      const forced = onePerStart ? [] : units.filter((_, k) => startCount > 1 && startSize(groups[k]!) === 1).map((u) => u.name);
      const forcedNote = forced.length
        ? `; ${forced.join(', ')} ${forced.length === 1 ? 'is the only' : 'are each the only'} ${what} of ${forced.length === 1 ? 'its' : 'their'} start, so ${forced.length === 1 ? 'its weight is its' : 'their weights are their'} share of the equal vote, fixed by that rule, not chosen by selection`
        : '';
      selection = {
        method: 'caruana',
        units: kfold ? 'recipes' : 'members',
        variant,
        rows: heldOut.length,
        names: units.map((u) => u.name),
        weights: fitted.weights,
        picks: fitted.steps.map((s) => units[s.candidate]!.name),
        equal: scoreOf(vote),
        inSample: scoreOf(inSample),
        crossFitted: scoreOf(crossFitted),
        difference: { mean: difference.mean, standardError: difference.standardError },
        used,
        starts,
        ...(forced.length ? { forced } : {}),
        reason: onePerStart
          ? `every ${what} has a start of its own (${starts.some((x) => x === FRESH) ? 'a checkpoint, or fresh weights' : 'a checkpoint'}), and weights move only among ${what}s of one start (held-out rows may be digits a checkpoint pretrained on, which favours it): the weights are the equal vote's`
          : equalPick
          ? `selection picked every ${what} equally often${startCount > 1 ? ` (weights move only among ${what}s of one start)` : ''}: the weights are the equal vote's`
          : used
          ? `fitted on one half of the held-out rows and scored on the other, the weights beat the equal vote by more than ${WEIGHTS_MARGIN_SE} standard errors (${figures})`
          : lowerLogLoss
          ? `fitted on one half of the held-out rows and scored on the other, the weights beat the equal vote's log-loss by more than ${WEIGHTS_MARGIN_SE} standard errors (${figures}), but their accuracy, ${(crossFitted.accuracy * 100).toFixed(2)}%, is below the equal vote's ${(vote.accuracy * 100).toFixed(2)}% by more than ${WEIGHTS_MARGIN_SE} standard errors: equal weights are kept`
          : `fitted on one half of the held-out rows and scored on the other, the weights do not beat the equal vote by more than ${WEIGHTS_MARGIN_SE} standard errors (${figures}): equal weights are kept`,
      };
      if (forcedNote) selection.reason += forcedNote;
    }
    // The submitted vote against the best single unit: the weighted one (its honest,
    // cross-fitted figure) when the weights are in use, else the equal one.
    const belowBest = bestUnit && units.length > 1 ? belowBestNote({ equal: vote.accuracy, weighted: selection?.used ? selection.crossFitted.accuracy : undefined }, bestUnit, { what, rows: heldOut.length, tta: useTta }) : null;
    if (belowBest) warnings.push(belowBest);
    // …and its log-loss against the best unit's by log-loss: accuracy alone let a vote far worse
    // calibrated than its best member pass without a note.
    let bestByLogLoss: EvaluationReport['ensemble']['bestUnitByLogLoss'];
    if (!bag && units.length > 1) {
      const against = logLossAgainstBest(heldVote, submittedProbs, labels);
      bestByLogLoss = { name: units[against.best]!.name, logLoss: against.logLoss, difference: { mean: against.difference.mean, standardError: against.difference.standardError } };
      const submittedLogLoss = selection?.used ? selection.crossFitted.logLoss : vote.logLoss;
      const worse = worseLogLossNote({ weighted: Boolean(selection?.used), logLoss: submittedLogLoss }, bestByLogLoss, { what, rows: heldOut.length, tta: useTta, margin: WORSE_LOG_LOSS_SE });
      if (worse) warnings.push(worse);
    }
    const weights = memberWeights(units, unitWeights, members.length);
    const equalWeights = weights.every((w) => Math.abs(w - weights[0]!) < 1e-12);

    // k-fold: the cross-validation figures, and the out-of-fold predictions saved in the run.
    let cv: CrossValidationReport | undefined;
    if (kfold) {
      const foldOf = heldOut.map((r) => foldOfRow.get(r)!);
      const scores = (ms: number[], key: 'metrics' | 'tta') => ms.map((i) => memberEvaluations[i]![key]!);
      const split = members[0]!.outcome.split.name;
      await writeJsonAtomic(path.join(runDir, OOF_FILE), {
        format: 'digits-oof',
        run: manifest.name,
        datasetFingerprint: dataset.fingerprint,
        variant,
        rows: heldOut,
        fold: foldOf,
        recipes: units.map((u, k) => ({ name: u.name, members: u.members.map((i) => members[i]!.outcome.name), probs: Array.from(heldVote[k]!, (v) => Number(v.toFixed(6))) })),
      } satisfies OutOfFoldFile);
      // (fold numbers 1-based, as the members' -f<i>; run.json's splits count from 0)
      const foldsOf = (ms: number[]) => ms.map((i) => members[i]!.outcome.split.fold + 1);
      cv = {
        // the split's folds, also those no member trained (run.json lists failed members with theirs)
        folds: new Set(manifest.members.filter((m) => m.split).map((m) => m.split.fold)).size,
        split,
        recipes: units.map((u, k) => ({
          name: u.name,
          preset: u.preset,
          members: u.members.map((i) => members[i]!.outcome.name),
          rows: unitRows[k]!.length,
          accuracy: meanSd(scores(u.members, 'metrics').map((m) => m.accuracy), foldsOf(u.members)),
          logLoss: meanSd(scores(u.members, 'metrics').map((m) => m.logLoss), foldsOf(u.members)),
          tta: tta.length > 1 ? { accuracy: meanSd(scores(u.members, 'tta').map((m) => m.accuracy), foldsOf(u.members)), logLoss: meanSd(scores(u.members, 'tta').map((m) => m.logLoss), foldsOf(u.members)) } : undefined,
          // Its out-of-fold predictions of every row its fold members held out, in the submitted
          // variant (as oof-predictions.json): the dashboard's and report's view of the recipe.
          oof: { variant, metrics: computeMetrics(useTta ? unitTta[k]! : unitPlain[k]!, Uint8Array.from(unitRows[k]!, (r) => dataset.trainLabels[r]!)) },
        })),
        ensemble: { ...scoreByFold(softVote(heldPlain), labels, foldOf), tta: tta.length > 1 ? scoreByFold(softVote(heldTta), labels, foldOf) : undefined },
        oofFile: OOF_FILE,
        trainRows: dataset.trainLabels.length,
      };
      // A failed fold member leaves its rows out of the ensemble's rows and its fold out of the
      // ensemble's mean ± sd, while other recipes keep every fold: say so beside the figures.
      // A recipe none of whose fold members trained is out of the ensemble: named as such.
      const foldNote = failedFoldsNote({
        failed: failedMembers.map((m) => m.name),
        recipes: manifest.ensemble.members.map(({ name }) => ({ name, folds: foldsOf(units.find((u) => u.name === name)?.members ?? []) })),
        folds: cv.folds,
        ensembleFolds: cv.ensemble.accuracy.values.length,
        rows: heldOut.length,
        trainRows: dataset.trainLabels.length,
      });
      if (foldNote) warnings.push(foldNote);
    }

    // The test set: soft voting, with TTA when chosen above (weighted when selection's weights are in use), kept for `digits submit`.
    say(`ensemble: predicting ${dataset.testImages.length / pixels} test rows with ${members.length} member${members.length === 1 ? '' : 's'} × ${Math.max(1, shifts.length)} TTA variant${shifts.length > 1 ? 's' : ''}`);
    const predictors = members.map((m) => m.predictor);
    const { images: testImages, count: testCount, probs: testProbs, labels: testLabels, confidence, memberProbs: testMemberVote } = await predictTestSet(predictors, dataset, shifts, equalWeights ? undefined : weights, (done, total) => options.onRows?.('ensemble test rows', done, total));
    await writeJsonAtomic(path.join(runDir, TEST_PREDICTIONS_FILE), {
      run: manifest.name,
      datasetFingerprint: dataset.fingerprint,
      members: members.map((m) => m.outcome.name),
      voting: 'soft',
      weights: equalWeights ? undefined : weights,
      tta: Math.max(1, shifts.length),
      ids: dataset.ids,
      labels: testLabels,
      confidence,
      checkpoints: members.map((m) => m.identity),
      precision: members.map((m) => m.predictor.precision),
    } satisfies TestPredictions);

    let test: EvaluationReport['test'];
    const truth = answers ?? dataset.testLabels;
    if (truth) {
      say('scoring the test predictions against the answers');
      // Each member once; the plain ensemble is their soft vote (no second pass over the test set).
      const memberProbs: Float32Array[] = [];
      // The single member to compare with is the one best on its own held-out rows (accuracy,
      // then log-loss), scored on the test rows once: picking the member best on the test
      // answers would be choosing on them. Under k-fold each fold member is scored on its own
      // fold, every one on other rows, so the best of them is the luckiest fold (until session
      // 36, e.g. `s2-f2`): the recipe best by CV is compared instead, its fold members averaged
      // on the test rows as the submission averages them.
      const better = (a: { accuracy: number; logLoss: number }, b: { accuracy: number; logLoss: number }) => a.accuracy > b.accuracy || (a.accuracy === b.accuracy && a.logLoss < b.logLoss);
      const cvBest = cv ? cv.recipes.reduce((best, r) => (better({ accuracy: r.accuracy.mean, logLoss: r.logLoss.mean }, { accuracy: best.accuracy.mean, logLoss: best.logLoss.mean }) ? r : best)) : null;
      const bestIndices = cvBest
        ? units.find((u) => u.name === cvBest.name)!.members
        : [memberEvaluations.reduce((best, m, i) => (better(m.metrics, memberEvaluations[best]!.metrics) ? i : best), 0)];
      for (const [i, m] of members.entries()) {
        // Without TTA, a weighted vote already predicted each member plainly above.
        const probs = !useTta && testMemberVote ? testMemberVote[i]! : await predictEnsemble([m.predictor], testImages, testCount);
        memberProbs.push(probs);
      }
      const bestProbs = bestIndices.map((i) => memberProbs[i]!);
      const bestMember: NonNullable<EvaluationReport['test']>['bestMember'] = cvBest
        ? { name: cvBest.name, kind: 'recipe', members: bestIndices.map((i) => members[i]!.outcome.name), metrics: computeMetrics(softVote(bestProbs), truth) }
        : { name: members[bestIndices[0]!]!.outcome.name, metrics: computeMetrics(bestProbs[0]!, truth) };
      const softPlain = softVote(memberProbs, weights);
      test = {
        answers: options.answers ? storedPath(runDir, options.answers) : '(labels in test.csv)',
        rows: testCount,
        soft: computeMetrics(softPlain, truth),
        softTta: useTta ? computeMetrics(testProbs, truth) : undefined,
        // The equal vote beside the weighted one: equal by unit (recipe under k-fold, its fold
        // members sharing its weight), as held-out `ensemble`. Not with no weights in use: unequal
        // shares alone (a failed fold member) leave the submitted vote the equal one, and each
        // member at 1/n was a vote nobody submits, printed under its name (until session 44).
        equalWeights: selection?.used && testMemberVote ? computeMetrics(softVote(testMemberVote, memberWeights(units, units.map(() => 1 / units.length), members.length)), truth) : undefined,
        bestMember,
      };
    }

    const report: EvaluationReport = {
      format: 'digits-evaluation',
      version: 1,
      run: manifest.name,
      createdAt: new Date().toISOString(),
      // Paths inside the project are stored relative to the run folder (a moved project still reads).
      dataset: { dir: storedPath(runDir, dataset.dir), fingerprint: dataset.fingerprint },
      heldOutRows: heldOut,
      members: memberEvaluations,
      failedMembers: failedMembers.length ? failedMembers : undefined,
      ensemble: {
        soft,
        hard,
        softTta,
        hardTta,
        weights: equalWeights ? undefined : weights,
        weighted: equalWeights ? undefined : weightedVote,
        ttaTransforms: tta.length > 1 ? tta.map((s) => `shift(${s.dx},${s.dy})`) : undefined,
        ttaFill: tta.length > 1 ? TTA_FILL : undefined,
        ttaDecision,
        selection,
        bestUnit: units.length > 1 ? bestUnit : undefined,
        outOfBag: bag ? { members: units.length, commonRows: common.length, meanVoters: Number((bag.plain.voters.reduce((a, b) => a + b, 0) / heldOut.length).toFixed(3)) } : undefined,
        bestUnitByLogLoss: bestByLogLoss,
        selectedOnHeldOut: selectedHere ? { by: selectedHere.by } : undefined,
        warnings: warnings.length ? warnings : undefined,
      },
      cv,
      test,
    };
    await writeJsonAtomic(path.join(runDir, EVALUATION_FILE), report);
    return report;
  } finally {
    for (const m of members) m.predictor.dispose();
  }
}

export { IDENTITY, TTA_8 };
