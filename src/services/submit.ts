/**
 * `digits submit`: the submission CSV of a run in the competition's format, validated as
 * Kaggle would before it is called done, and a line in submissions/ledger.jsonl saying
 * what made it.
 */
import { readFile, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { UserError, jsonSyntaxError } from '../errors.js';
import { TEST_PREDICTIONS_FILE, predictTestSet, type TestPredictions } from './evaluate.js';
import { EVALUATION_FILE, precisionLabel, precisionOf, readEvaluationIfAny, submissionTta, submittedVote, submittedVoting, weightsFor } from '../evaluation/evaluation-report.js';
import { assertInferPrecision, int8Fallback, type InferMode, type Precision } from '../inference/predictor.js';
import { TTA_8 } from '../ensemble/tta.js';
import {
  MAX_SUBMISSION_NAME,
  appendLedger,
  commitSubmission,
  discardSubmission,
  checkSubmissionsDir,
  prepareSubmission,
  readLedger,
  recoverKilledSubmits,
  safeFileName,
} from '../data/submission.js';
import { readAnswerLabels, scoreAgainstAnswers, validateSubmission } from '../data/submission-csv.js';
import { RUN_MANIFEST, assertTrained, loadRunDataset, readRunManifest, storedPath } from '../runs/manifest.js';
import { assertMembersReadable, assertRunSplitsUnchanged, openMembers, trainedMembers } from '../runs/open-members.js';
import { assertCurrentEvaluation } from '../runs/current-evaluation.js';
import { LOCK_FILE, currentHolder } from '../runs/lock.js';
import { displayPath, plural, shellArg } from '../data/format.js';

export interface SubmitOptions {
  runDir: string;
  /** submissions folder (default ./submissions) */
  dir: string;
  /** name part of the file (default: the run's name) */
  name?: string;
  answers?: string;
  /** the run's competition (or dataset cache) folder when it is no longer where run.json says; its data must be the run's */
  dataDir?: string;
  infer?: InferMode;
  /** ONNX Runtime number format (default auto: int8, calibrated on each member's training rows) */
  precision?: Precision;
  onProgress?: (message: string) => void;
  /** something skipped on the way (a torn ledger line, a damaged prediction cache) */
  onWarning?: (message: string) => void;
  /** rows predicted so far of a prediction task (for a progress bar) */
  onRows?: (task: string, done: number, total: number) => void;
}

export interface SubmitResult {
  file: string;
  sha256: string;
  rows: number;
  tta: number;
  /** why the submission goes with or without TTA (`not measured: …` after digits evaluate --no-tta) */
  ttaReason: string;
  members: string[];
  /** per member, when their weights differ: ensemble selection's, or under k-fold a recipe's weight shared by its fold members (a failed fold member) */
  weights?: number[];
  /** the vote by its name (`submittedVoting`): `weighted soft` only with ensemble selection's weights in use */
  voting: 'soft' | 'weighted soft';
  /** the number format the test rows were predicted in (`precisionLabel`: int8, fp32 or the mix) */
  precision: string;
  /** the held-out figures of the evaluation, and the number format they were computed in */
  /** `outOfBag`: a bagged run's figures, each row voted by the members that held it out */
  validation?: { accuracy: number; logLoss: number; precision: string; outOfBag?: true };
  score?: { accuracy: number; answers: string };
}

/**
 * The test predictions `evaluate` saved, or null when there are none. They are a cache: a file
 * that does not parse is reported through `warn` and predicted again.
 */
async function readSavedPredictions(file: string, warn: (message: string) => void): Promise<TestPredictions | null> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    warn(`cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}): the test rows are predicted again`);
    return null;
  }
  try {
    return JSON.parse(text) as TestPredictions;
  } catch (error) {
    const syntax = jsonSyntaxError(text, (error as Error).message);
    warn(`${file}${syntax.line === undefined ? '' : `:${syntax.line}:${syntax.column}`} is not valid JSON (${syntax.message}): the test rows are predicted again`);
    return null;
  }
}

export async function submitRun(options: SubmitOptions): Promise<SubmitResult> {
  const runDir = path.resolve(options.runDir);
  const say = options.onProgress ?? (() => {});
  const warn = options.onWarning ?? (() => {});
  // (refused before anything is read: until session 43 it came after "predicting … test rows")
  assertInferPrecision(options.infer, options.precision);
  if (options.name !== undefined && options.name.length > MAX_SUBMISSION_NAME) {
    throw new UserError(`the name is ${options.name.length} characters long; a submission's name has at most ${MAX_SUBMISSION_NAME} (it becomes part of the file name)`, {
      where: { flag: 'name' },
      hint: `Give a shorter --name (at most ${MAX_SUBMISSION_NAME} characters).`,
    });
  }
  // What the submission is made from, as it is now: checked again before it is committed.
  const before = await runState(runDir);
  const manifest = await readRunManifest(runDir);
  assertTrained(runDir, manifest, 'submit');
  await assertRunNotBusy(runDir);
  const dataset = await loadRunDataset(runDir, manifest, options.dataDir, warn);
  const { trained } = trainedMembers(runDir, manifest);
  if (trained.length === 0) throw new UserError(`run ${runDir} has no trained member`, { where: { file: runDir }, hint: 'Train again with `digits train`.' });
  // Inputs are checked before anything is written.
  if (dataset.ids.length === 0) {
    throw new UserError(`the dataset in ${dataset.dir} has no test rows, so there is nothing to submit`, {
      where: { file: dataset.dir },
      hint: 'Import the competition with its test.csv: digits data import <competition folder>.',
    });
  }
  const identities = await assertMembersReadable(runDir, trained, 'digits submit submits');
  const answers = options.answers ? path.resolve(options.answers) : undefined;
  if (answers) await checkAnswers(answers, dataset.ids);
  // The members' weights chosen by `evaluate` (ensemble selection), when it chose any.
  const evaluation = await readEvaluationIfAny(runDir);
  if (evaluation) await assertCurrentEvaluation(runDir, manifest, evaluation, 'submit');
  await assertRunSplitsUnchanged(runDir, manifest, dataset);
  // The folder is created only when the submission is written (prepareSubmission): a submit
  // refused before that leaves no empty --dir behind.
  const dir = path.resolve(options.dir);
  await checkSubmissionsDir(dir);
  // The ledger this submission joins is read first: a damaged one fails now, not after predicting.
  // What killed submits left is put right (restored, reported, temp files cleared) before anything is written.
  await recoverKilledSubmits(dir, await readLedger(dir, { onWarning: warn }), warn);

  const weights = weightsFor(trained.map((m) => m.outcome.name), evaluation);
  const voting = weights ? submittedVoting(evaluation) : 'soft';
  // TTA as `evaluate` chose it on the held-out rows (unevaluated runs: the 8 shifts; evaluated
  // with --no-tta: none, since nothing measured it).
  const chosen = submissionTta(evaluation);
  const shifts = chosen.used ? TTA_8 : [];
  const variants = Math.max(1, shifts.length);
  const ttaReason = chosen.reason;
  // Predictions made by `evaluate` are reused when they belong to this data, these members (the
  // same checkpoints, in the precision asked for), weights and TTA.
  let predictions = await readSavedPredictions(path.join(runDir, TEST_PREDICTIONS_FILE), warn);
  const members = trained.map((m) => m.outcome.name);
  if (!predictions || !reusable(predictions, { fingerprint: dataset.fingerprint, rows: dataset.ids.length, members, identities, weights, tta: variants, precision: options.precision })) {
    say(`predicting ${dataset.ids.length} test rows with ${plural(members.length, 'member')} × ${plural(variants, 'TTA variant')}`);
    const predictors = (await openMembers(runDir, manifest, { infer: options.infer, precision: options.precision, dataset })).map((m) => m.predictor);
    // --precision int8 that a member cannot take (no convolution to quantize) runs it in fp32: said, as evaluate says it (until session 43 only "predicted in fp32" told)
    for (const [i, p] of predictors.entries()) {
      const fallback = int8Fallback(options.precision, p);
      if (fallback) warn(`member ${members[i]}: ${fallback}`);
    }
    try {
      const { labels, confidence } = await predictTestSet(predictors, dataset, shifts, weights, (done, total) => options.onRows?.('ensemble test rows', done, total));
      predictions = { run: manifest.name, datasetFingerprint: dataset.fingerprint, members, voting: 'soft', weights, tta: variants, ids: dataset.ids, labels, confidence, precision: predictors.map((p) => p.precision) };
    } finally {
      for (const p of predictors) p.dispose();
    }
  }

  // Temp file → validated and scored → its name → ledger line (see commitSubmission): a killed
  // submit leaves a temp file (cleared on the next start) or a named CSV without its ledger line
  // (reported by `digits submissions` and the next submit), never a ledger line without its file.
  // A --name with nothing a file name keeps (Chinese, Japanese or Korean, which have no Latin spelling here; emoji): the run's name, said (it was "submission", without a word).
  let name = options.name ?? manifest.name;
  if (options.name !== undefined && safeFileName(options.name, '') === '') {
    options.onWarning?.(`--name ${options.name} has no letter or digit a file name here can keep (accented and Greek or Cyrillic letters are written in Latin ones; Chinese, Japanese and Korean have no Latin spelling here): the file is named after the run, ${manifest.name}`);
    name = manifest.name;
  }
  const prepared = await prepareSubmission({ dir, name, header: dataset.submissionHeader, ids: dataset.ids, labels: predictions.labels });
  let score: SubmitResult['score'];
  try {
    await validateSubmission(prepared.temp, { expectedRows: dataset.ids.length, ids: dataset.ids, header: dataset.submissionHeader });
    score = answers ? { accuracy: (await scoreAgainstAnswers(prepared.temp, answers)).accuracy, answers } : undefined;
    // The lock is checked at the start only; an evaluation or a training that began while the
    // test rows were predicted may have rewritten what this submission was made from.
    await assertRunUnchanged(runDir, before);
  } catch (error) {
    await discardSubmission(prepared);
    throw error;
  }
  // With selection's weights in use, their honest (cross-fitted) held-out figure.
  const selection = evaluation?.ensemble.selection;
  const ensembleMetrics = evaluation ? (selection?.used && weights ? selection.crossFitted : submittedVote(evaluation)) : undefined;
  const precision = precisionLabel(members, members.map((_, i) => predictions.precision?.[i]));
  const validation = ensembleMetrics && evaluation ? { accuracy: ensembleMetrics.accuracy, logLoss: ensembleMetrics.logLoss, precision: precisionOf(evaluation), ...(evaluation.ensemble.outOfBag ? { outOfBag: true as const } : {}) } : undefined;
  // (`submit --precision int8` after `evaluate --precision fp32`: the held-out figures are of another model)
  if (validation && validation.precision !== precision) {
    warn(`the held-out figures are the ${validation.precision} evaluation's; this submission predicted the test rows in ${precision}: \`digits evaluate --run ${shellArg(displayPath(runDir))}${options.precision && options.precision !== 'auto' ? ` --precision ${options.precision}` : ''}\` gives its own`);
  }
  const tta = predictions.tta;
  const written = await commitSubmission(prepared, (file) =>
    appendLedger(dir, {
      file,
      sha256: prepared.sha256,
      createdAt: new Date().toISOString(),
      // Paths inside the project are stored relative to the submissions folder.
      run: storedPath(dir, runDir, 1),
      members: trained.map((m) => ({ name: m.outcome.name, checkpoint: storedPath(dir, m.checkpoint, 1) })),
      voting: 'soft',
      weights: predictions.weights,
      ...(voting === 'weighted soft' ? { weighted: true as const } : {}),
      tta,
      precision,
      validation,
      score: score ? { accuracy: score.accuracy, answers: storedPath(dir, score.answers, 1) } : undefined,
    }).then(() => undefined),
  );
  return { file: written.file, sha256: written.sha256, rows: written.rows, tta, ttaReason, members, weights: predictions.weights, voting, precision, validation, score };
}

/**
 * A run folder another process holds (`digits evaluate` writing evaluation.json and the test
 * predictions, a training) is refused: a submit now would take the run as it was before that
 * process ends (unevaluated: the 8 TTA shifts and no held-out figures) without saying so.
 * `digits run` submits after its evaluation has released the lock.
 */
async function assertRunNotBusy(runDir: string): Promise<void> {
  const holder = await currentHolder(runDir);
  if (!holder) return;
  const file = path.join(runDir, LOCK_FILE);
  throw new UserError(`the run folder ${runDir} is in use by pid ${holder.pid} on ${holder.hostname} since ${holder.startedAt} (${holder.command})`, {
    where: { file },
    hint:
      holder.hostname === os.hostname()
        ? `Wait for it to finish, then submit: a submission now would not use what it is writing (an evaluation's TTA choice, weights and held-out figures).`
        : `Wait for it to finish, then submit; if that process no longer runs on ${holder.hostname}, delete ${file}.`,
  });
}

/** The files a submission is made from, by identity and modification time (null: absent). */
type RunState = Record<string, string | null>;

async function runState(runDir: string): Promise<RunState> {
  const state: RunState = {};
  for (const name of [RUN_MANIFEST, EVALUATION_FILE]) {
    const info = await stat(path.join(runDir, name)).catch(() => null);
    state[name] = info ? `${info.ino}:${info.size}:${info.mtimeMs}` : null;
  }
  return state;
}

/**
 * Refuses to commit a submission when another process took the run folder, or rewrote run.json
 * or evaluation.json, after the submit started: the CSV would name members, weights or TTA the
 * run no longer has. The submit is discarded; nothing is written.
 */
async function assertRunUnchanged(runDir: string, before: RunState): Promise<void> {
  await assertRunNotBusy(runDir);
  const after = await runState(runDir);
  const changed = Object.keys(before).filter((name) => before[name] !== after[name]);
  if (changed.length === 0) return;
  const file = path.join(runDir, changed[0]!);
  throw new UserError(`${changed.join(' and ')} of the run ${runDir} changed while the submission was being made (another digits process wrote ${changed.length === 1 ? 'it' : 'them'}); nothing was submitted`, {
    where: { file },
    hint: 'Submit again: the submission will be made from the run as it is now.',
  });
}

/** Whether saved test predictions were made by exactly what this submission would predict with. */
function reusable(saved: TestPredictions, now: { fingerprint: string; rows: number; members: string[]; identities: string[]; weights?: number[]; tta: number; precision?: Precision }): boolean {
  const same = (a: readonly unknown[] | undefined, b: readonly unknown[]) => a !== undefined && a.length === b.length && a.every((v, i) => v === b[i]);
  return (
    saved.datasetFingerprint === now.fingerprint &&
    saved.labels?.length === now.rows &&
    same(saved.members, now.members) &&
    same(saved.checkpoints, now.identities) &&
    same(saved.weights ?? [], now.weights ?? []) &&
    saved.tta === now.tta &&
    (now.precision === undefined || now.precision === 'auto' || (saved.precision?.length === now.members.length && saved.precision.every((p) => p === now.precision)))
  );
}

/** The answers file exists, parses, and has a digit for every test id (checked before writing). */
async function checkAnswers(file: string, ids: readonly string[]): Promise<void> {
  const rows = await readAnswerLabels(file);
  const known = new Set(rows.map((r) => r.id));
  const missing = ids.find((id) => !known.has(id));
  if (missing !== undefined) {
    throw new UserError(`the answers have no row for test id ${missing}`, { where: { file, flag: 'answers' }, hint: 'Pass the answers file of this competition (practice ones sit beside the folder as <competition>-answers.csv).' });
  }
}
