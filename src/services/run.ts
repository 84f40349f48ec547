/**
 * The main job (`npm start` = `digits run`): from a competition folder (or, with none,
 * the embedded default: a noisy practice competition built from MNIST) to a validated
 * submission, an evaluation on held-out rows and an HTML report, in one command.
 */
import { readFileSync, rmSync, existsSync } from 'node:fs';
import { access, appendFile, copyFile, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { makeFolders } from '../make-folders.js';
import { resolveCompetitionFiles, zipDownloadError } from '../data/import.js';
import { archiveKind } from '../data/csv.js';
import { classCoverageWarnings } from '../data/class-coverage.js';
import { DEFAULT_DATASET_SUBDIR, competitionFolderOf, readTestIds } from '../data/dataset.js';
import { initEngine } from '../engine/backend.js';
import { importData } from './import.js';
import { buildPracticeCompetition, DEFAULT_PRACTICE_RECIPE } from '../data/practice.js';
import type { BackendRequest } from '../engine/backend.js';
import { evaluateRun, readAnswers } from './evaluate.js';
import { submittedVote } from '../evaluation/evaluation-report.js';
import type { EvaluationReport } from '../evaluation/evaluation-report.js';
import { expandFolds, foldsOverride, resolveEnsemble, withFolds, withOverrides, type EnsembleSpec, type MemberOverrides } from '../ensemble/ensemble-spec.js';
import { describeOverrides, MEMBER_START_SECONDS, replanAutoMember, type AutoRecord } from '../ensemble/auto.js';
import { DEFAULT_FOLDS } from '../data/splits.js';
import { chooseAutoRecipe, SYNTHETIC_ROWS_FILE, writeSyntheticRows, type AutoEvent } from './auto.js';
import { pseudoLabelRound } from './pseudo-label.js';
import { writeJsonAtomic } from '../atomic-file.js';
import { UserError, fromSystemError } from '../errors.js';
import { AUTO_FILE, ROUND1_DIR, RUN_MANIFEST, readRunManifest, resolveStoredPath, runSubmissionsDir, type RunManifest } from '../runs/manifest.js';
import { LEDGER_FILE } from '../data/submission.js';
import { assertInferPrecision, type InferMode, type Precision } from '../inference/predictor.js';
import { TTA_8 } from '../ensemble/tta.js';
import { submitRun, type SubmitResult } from './submit.js';
import { planResume, trainEnsemble, type TrainEnsembleOptions } from './train.js';
import { type EnsembleEvent } from '../training/train-member.js';
import { displayPath, plural, shellArg } from '../data/format.js';

export type Stage = 'competition' | 'import' | 'recipe' | 'train' | 'pseudo-label' | 'evaluate' | 'submit' | 'report';

/** The built-in ensemble chosen per competition within the budget (src/ensemble/auto.ts). */
export const AUTO_ENSEMBLE = 'auto';
export const DEFAULT_BUDGET_MINUTES = 20;
/** auto keeps 20 s of any budget to evaluate and submit (ensemble/auto.ts, reserveSeconds): less than this plans nothing to train. */
export const MIN_BUDGET_MINUTES = 0.5;
/** A week: a longer budget is a typo (minutes taken for seconds, an extra digit), not a plan. */
export const MAX_BUDGET_MINUTES = 7 * 24 * 60;
/** The image side every preset takes (src/model/presets.ts). */
const PRESET_SIDE = 28;
/** Fewer training rows and the holdout a run validates on holds out nothing (a tenth of 1 row), and no digit is learnt. */
export const MIN_RUN_TRAIN_ROWS = 10;

/** `--budget`: minutes, at least MIN_BUDGET_MINUTES and at most a week. */
export function checkBudget(text: string): number {
  const minutes = Number(text);
  if (!(minutes > 0) || !Number.isFinite(minutes)) throw new UserError(`--budget must be a number of minutes > 0, got ${text}`, { where: { flag: 'budget' }, hint: 'For example --budget 20.' });
  if (minutes < MIN_BUDGET_MINUTES) {
    throw new UserError(`--budget ${text} is too short to train anything: auto keeps 20 s of any budget to evaluate and submit, so it needs at least ${MIN_BUDGET_MINUTES} minutes`, { where: { flag: 'budget' }, hint: `Give --budget ${MIN_BUDGET_MINUTES} or more (the default is ${DEFAULT_BUDGET_MINUTES}).` });
  }
  if (minutes > MAX_BUDGET_MINUTES) {
    throw new UserError(`--budget ${text} is more than a week (${MAX_BUDGET_MINUTES} minutes)`, { where: { flag: 'budget' }, hint: `--budget is in minutes (the default is ${DEFAULT_BUDGET_MINUTES}); give at most ${MAX_BUDGET_MINUTES}.` });
  }
  return minutes;
}
export { AUTO_FILE, ROUND1_DIR };
/** The HTML report `writeReport` writes by default (src/report/report-html.ts's REPORT_FILE; not imported: vega loads with it). */
export const RUN_REPORT_FILE = 'report.html';

export interface MainJobOptions {
  /** competition folder; none: the default practice competition under `workDir/competitions/` */
  data?: string;
  /** answers file to score against (found automatically for practice competitions) */
  answers?: string;
  workDir: string;
  /** `auto` (the default), a built-in ensemble or an ensemble file */
  ensemble: string;
  /** minutes the whole job should take (auto plans its probes and members to fit) */
  budgetMinutes?: number;
  /** auto: the network preset of its probes and members (default AUTO_PRESET) */
  preset?: string;
  /** auto: a second round whose training rows include confident test predictions */
  pseudoLabel?: boolean;
  /** auto: synthetic rows to add when the competition's noise can be modelled (default: up to 54,000 training rows in all; 0: none) */
  syntheticRows?: number;
  /** auto: fit the probes to the measured speed (default true; see AutoRecipeOptions) */
  fitProbesToSpeed?: boolean;
  backend: BackendRequest;
  infer: InferMode;
  precision?: Precision;
  concurrency: number;
  /**
   * k-fold cross-validation with this many folds instead of the ensemble's own validation.
   * With auto: absent, k-fold with DEFAULT_FOLDS when its plan fits enough whole recipes
   * (`chooseValidation`), else a holdout; 0, the holdout plan.
   */
  folds?: number;
  seed: number;
  /** applied to every member of the ensemble (`--seed`, `--epochs`, `--learning-rate`, `--batch-size`) */
  overrides?: MemberOverrides;
  command: string;
  runName: string;
  /** a run folder to continue (from its run.json alone) instead of starting `runName` */
  resume?: string;
  onStage?: (stage: Stage, message: string) => void;
  /** the dataset folder the import writes, told as it starts (a Ctrl-C then removes its partial files: removeOwnImportFilesSync) */
  onImporting?: (datasetDir: string) => void;
  /** the practice competition folder it is about to build (a signal's clean-up removes its temp files) */
  onBuildingPractice?: (competitionDir: string) => void;
  onTrainEvent?: (event: EnsembleEvent) => void;
  /**
   * what training warns of before it starts (an init trained on these rows, batches larger than
   * the rows, bagged holdouts that share few rows…): `digits run` dropped them until session 45
   */
  onWarning?: (message: string) => void;
  onAutoEvent?: (event: AutoEvent) => void;
  /** writes the HTML report of a run; returns its path */
  writeReport?: (runDir: string) => Promise<string>;
}

export interface MainJobResult {
  competition: string;
  answers: string | null;
  runDir: string;
  evaluation: EvaluationReport;
  submission: SubmitResult;
  report: string | null;
  /** why `auto` chose its recipe (null for other ensembles) */
  auto: AutoRecord | null;
  seconds: number;
}

async function exists(p: string): Promise<boolean> {
  return access(p).then(
    () => true,
    () => false,
  );
}

export async function runMainJob(options: MainJobOptions): Promise<MainJobResult> {
  const started = Date.now();
  const stage = options.onStage ?? (() => {});
  // Loading the orientation detector, evaluation and submission run tfjs in this process.
  await initEngine({ backend: options.backend });
  // (found by the evaluation, after the whole training, until session 42)
  assertInferPrecision(options.infer, options.precision);
  // More workers than cores: said, as auto plans whole rounds of them (8 on 2 cores ran a
  // 1-minute budget for 94 s, each worker at a third of its speed, in silence)
  const cores = os.availableParallelism();
  if (options.concurrency > cores) stage('recipe', `warning: --concurrency ${options.concurrency} is more than this machine's ${cores} cores: the workers share them and each trains slower, and auto plans whole rounds of ${options.concurrency} members (the default is one worker per core)`);
  if (options.resume) return resumeMainJob(options, started);
  // k folds asked for (`--folds k`, k ≥ 2); 0 asks for the holdout, absent leaves auto its default.
  const kfold = options.folds !== undefined && options.folds >= 2 ? options.folds : undefined;
  // Refused before anything is built or imported.
  if (options.ensemble === AUTO_ENSEMBLE && kfold && options.pseudoLabel) {
    throw new UserError('--pseudo-label does not combine with --folds', { where: { flag: 'folds' }, hint: 'Drop --folds (round 2 fine-tunes each round-1 member, and k-fold members share one recipe per fold), or drop --pseudo-label.' });
  }
  // A --data that is not there: said as train says it, naming --data (it was the import's "no such
  // file or folder" with a hint about the import's arguments, which run does not take).
  if (options.data && !(await exists(options.data))) {
    throw new UserError(`there is no folder ${path.resolve(options.data)}`, {
      where: { flag: 'data' },
      hint: "Check the path: --data takes the folder holding the competition's train.csv (or leave --data out: digits run builds and uses a practice competition).",
    });
  }
  if (options.data && (await stat(options.data).catch(() => null))?.isFile()) {
    // Kaggle's download itself (digit-recognizer.zip): unpack it and run on that folder, in one
    // step (it was sent to the folder beside it, which may hold nothing but the zip)
    if ((await archiveKind(options.data)) === 'zip') throw zipDownloadError(path.resolve(options.data), (folder) => `digits run --data ${shellArg(folder)}`, 'data');
    const folder = path.dirname(path.resolve(options.data));
    throw new UserError(`--data takes the competition's folder, not one of its files (${options.data})`, { where: { flag: 'data' }, hint: `digits run --data ${shellArg(path.relative(process.cwd(), folder) || '.')} (the folder holding train.csv, test.csv and sample_submission.csv).` });
  }
  // No --data: the working folder when it holds a competition (its train.csv), as --data's help
  // says of the other commands; else the default practice competition under competitions/ (run
  // inside a competition folder built a 229 MB practice competition there until session 42).
  const here = !options.data && (await exists(path.join(options.workDir, 'train.csv'))) ? path.resolve(options.workDir) : undefined;
  if (here) stage('competition', `using the competition in the working folder, ${here}`);
  let competition = options.data ? path.resolve(options.data) : here ?? path.join(options.workDir, 'competitions', DEFAULT_PRACTICE_RECIPE);
  let answers = options.answers ? path.resolve(options.answers) : null;

  if (!options.data && !here) {
    if (await exists(path.join(competition, 'train.csv'))) {
      stage('competition', `using the practice competition in ${competition}`);
    } else {
      stage('competition', `building the ${DEFAULT_PRACTICE_RECIPE} practice competition from MNIST in ${competition}`);
      options.onBuildingPractice?.(competition);
      const report = await buildPracticeCompetition({ recipe: DEFAULT_PRACTICE_RECIPE, out: competition, seed: options.seed });
      competition = report.dir;
    }
  }
  // Practice competitions keep their answers beside the folder.
  const besides = `${competition}-answers.csv`;
  if (!answers && (await exists(besides))) answers = besides;

  stage('import', `importing ${competition}`);
  const files = await resolveCompetitionFiles([competition]);
  options.onImporting?.(path.join(files.competitionDir, DEFAULT_DATASET_SUBDIR));
  const imported = await importData({ ...files, backend: options.backend, keepImportChoices: true, outFlag: null });
  stage('import', `${imported.orientation === 'as-is' ? 'images upright as stored' : `orientation ${imported.orientation} detected and undone: images upright`} (${imported.detected.orientation.reason})`);
  if (imported.inverted) stage('import', `dark digits on a light background: stored inverted (255 − v), bright on dark as MNIST (${imported.detected.polarity?.reason ?? 'recorded in dataset.json'})`);
  // What cannot end in a submission fails now, not after the budget is spent.
  if (imported.test.rows === 0) {
    throw new UserError(`${competition} has no test rows, so a run cannot end in a submission`, { where: { file: competition }, hint: 'Put the competition\'s test.csv beside its train.csv; `digits train --data` trains without one.' });
  }
  // Every preset takes 28×28 images: auto's probes would otherwise die inside the engine (an
  // "internal error" after the import, where --ensemble quick named the size).
  if (imported.width !== PRESET_SIDE || imported.height !== PRESET_SIDE) {
    throw new UserError(`the presets take ${PRESET_SIDE}×${PRESET_SIDE} images; this dataset's are ${imported.width}×${imported.height}`, {
      where: { file: imported.train.file },
      hint: `Resize the images to ${PRESET_SIDE}×${PRESET_SIDE} (${PRESET_SIDE * PRESET_SIDE} pixel columns) before importing.`,
    });
  }
  if (imported.train.rows < MIN_RUN_TRAIN_ROWS) {
    throw new UserError(`too few training rows (${imported.train.rows}) in ${path.basename(imported.train.file)} for a run: it needs at least ${MIN_RUN_TRAIN_ROWS}`, {
      where: { file: imported.train.file },
      hint: `A run holds out a tenth of the training rows to validate on and learns each digit from its rows: give it at least ${MIN_RUN_TRAIN_ROWS} (a digit competition has thousands). \`digits data practice\` builds a practice competition to try digits on.`,
    });
  }
  const budgetSeconds = (options.budgetMinutes ?? DEFAULT_BUDGET_MINUTES) * 60;
  if (kfold) checkFolds(kfold, imported.train.rows, options.ensemble === AUTO_ENSEMBLE ? { budgetSeconds, concurrency: options.concurrency } : undefined);
  for (const warning of classCoverageWarnings(imported.train.classCounts, { folds: options.folds })) stage('import', `warning: ${warning}`);
  // A wrong answers file fails now, not after the whole budget is spent training.
  if (answers) await readAnswers(answers, await readTestIds(imported.datasetDir));

  const runDir = path.join(options.workDir, 'runs', options.runName);
  let ensemble: EnsembleSpec;
  let auto: AutoRecord | null = null;
  if (options.ensemble === AUTO_ENSEMBLE) {
    // The recipe is chosen on holdout rows only: the answers file is not passed on.
    stage('recipe', `choosing a recipe for this competition on its holdout rows (about a quarter of the ${budgetSeconds / 60}-minute budget at most)`);
    const recipe = await removeRunDirOnError(runDir, () => chooseAutoRecipe({
      data: competition,
      budgetSeconds,
      spentSeconds: (Date.now() - started) / 1000,
      workDir: runDir,
      concurrency: options.concurrency,
      backend: options.backend,
      seed: options.seed,
      command: options.command,
      secondRoundShare: options.pseudoLabel ? 0.4 : 0,
      ...(options.syntheticRows !== undefined ? { syntheticRows: options.syntheticRows } : {}),
      ...(options.preset ? { preset: options.preset } : {}),
      fitProbesToSpeed: options.fitProbesToSpeed,
      // --pseudo-label's round 2 fine-tunes each round-1 member, which k-fold members do not combine with.
      ...(options.folds !== undefined ? { folds: options.folds } : options.pseudoLabel ? {} : { defaultFolds: DEFAULT_FOLDS }),
      onEvent: options.onAutoEvent,
    }));
    // --seed, --epochs, --learning-rate, --batch-size win over the chosen recipe, and the record says so.
    ensemble = withOverrides(recipe.ensemble, options.overrides);
    const overrides = definedOverrides(options.overrides);
    auto = overrides ? { ...recipe.record, overrides } : recipe.record;
    const knobs = overrides ? describeOverrides(overrides, recipe.record) : '';
    if (knobs) stage('recipe', `${knobs} for every member, over auto's plan`);
    // In the run folder before the first epoch: an interrupted run resumed from its folder
    // alone ends with the same record (run.json is rewritten by training; it gets it at the end).
    await saveAutoRecord(runDir, auto);
  } else {
    const resolved = await resolveEnsemble(options.ensemble);
    const replaced = kfold ? foldsOverride(resolved, kfold) : undefined;
    if (replaced) stage('train', `warning: ${replaced}`);
    ensemble = withOverrides(kfold ? withFolds(resolved, kfold) : resolved, options.overrides);
  }
  // auto's budget is a deadline: members stop after the epoch that would end past it, leaving
  // the reserve its plan set aside for evaluating and submitting (machines slow down mid-run).
  const deadline = auto ? started + (budgetSeconds - auto.plan.reserveSeconds) * 1000 : undefined;
  // A noisy competition whose noise auto could model: MNIST train images with that noise join
  // every member's training rows (round 1's, with pseudo-labelling).
  let synthetic: string | undefined;
  if (auto?.noise && auto.noise.syntheticRows > 0) {
    synthetic = path.join(runDir, SYNTHETIC_ROWS_FILE);
    await makeFolders(runDir);
    const rows = await writeSyntheticRows(auto.noise, synthetic);
    stage('train', `${rows} MNIST train images with the competition's noise model join the training rows (${path.relative(process.cwd(), synthetic) || synthetic})`);
  }
  // What the budget has spent before training (importing, choosing, drawing rows): a resumed run counts it.
  if (auto) {
    auto.trainingStartSeconds = Math.round((Date.now() - started) / 1000);
    await saveAutoRecord(runDir, auto);
  }
  let trained: RunManifest;
  if (auto && options.pseudoLabel) {
    // Round 1 into a sub-folder; its confident test predictions join round 2's training rows.
    const round1 = path.join(runDir, ROUND1_DIR);
    stage('train', `round 1: training the ${ensemble.name} ensemble (${plural(ensemble.members.length, 'member')}, ${options.concurrency} at a time) into ${round1}`);
    await trainEnsemble({ ensemble, data: competition, runDir: round1, ...mainJobTraining(options, runDir), extra: synthetic });
    trained = await trainSecondRound(options, { competition, runDir, auto, budgetSeconds, spentSeconds: (Date.now() - started) / 1000, deadline: deadline! });
  } else {
    const validation = ensemble.validation.kind === 'kfold' ? `, ${ensemble.members.length} recipes × ${ensemble.validation.folds || 'the split\'s'} folds` : '';
    stage('train', `training the ${ensemble.name} ensemble (${plural(expandFolds(ensemble).length, 'member')}${validation}, ${options.concurrency} at a time) into ${runDir}`);
    trained = await trainEnsemble({ ensemble, data: competition, runDir, ...mainJobTraining(options, runDir), deadline, extra: synthetic, replan: auto ? autoReplan(auto) : undefined });
  }
  await afterTraining(options, runDir, trained, auto);
  // The members are combined by evaluate and submit: a soft vote, weighted when ensemble
  // selection on the held-out predictions beats the equal vote cross-fitted (ensemble/selection.ts).
  return finishMainJob(options, { competition, answers, runDir, started, kfold: ensemble.validation.kind === 'kfold', auto });
}

/** `digits run --resume`: the run folder says what to train on; evaluation and submission follow as usual. */
async function resumeMainJob(options: MainJobOptions, started: number): Promise<MainJobResult> {
  const stage = options.onStage ?? (() => {});
  const runDir = path.resolve(options.resume!);
  // Interrupted in round 1 of pseudo-labelling (or between the rounds): only round 1 has a run.json.
  if (!(await exists(path.join(runDir, RUN_MANIFEST))) && (await exists(path.join(runDir, ROUND1_DIR, RUN_MANIFEST)))) return resumeFirstRound(options, runDir);
  const { plan, competition, answers } = await planMainResume(options, runDir);
  // auto's record: training rewrites run.json without it; auto.json has kept it since the plan was made.
  const auto = plan.manifest.auto ?? (await readAutoRecord(runDir));
  const failedMembers = plan.manifest.status === 'finished' ? plan.manifest.members.filter((m) => !m.ok).map((m) => m.name) : [];
  if (plan.manifest.status === 'finished' && failedMembers.length === 0) {
    // Trained to the end: a finished run is not trained again (it was, epochs and all, adding
    // to its time). Its submission may still be missing (stopped while evaluating or submitting).
    const ledgerDir = runSubmissionsDir(runDir, options.workDir);
    if (submittedSync(runDir, options.workDir)) {
      const shown = path.relative(process.cwd(), runDir) || runDir;
      // Stopped while writing its report: the one step left is `digits report`, which --resume does not redo.
      const reportMissing = options.writeReport !== undefined && !(await exists(path.join(runDir, RUN_REPORT_FILE)));
      throw new UserError(`run ${path.basename(runDir)} already finished: its members are trained and its submission is in ${path.relative(process.cwd(), ledgerDir) || ledgerDir}${reportMissing ? `, but it has no ${RUN_REPORT_FILE} (stopped while writing it)` : ''}`, {
        where: { flag: 'run' },
        hint: reportMissing
          ? `\`digits report --run ${shellArg(shown)}\` writes its report; \`digits submit --run ${shellArg(shown)}\` writes another submission from it.`
          : `\`digits submit --run ${shellArg(shown)}\` writes another submission from it; \`digits run\` without --resume starts a new run.`,
      });
    }
    stage('train', `the ${plan.ensemble.name} ensemble in ${runDir} finished training: evaluating and submitting it`);
  } else {
    // k-fold members are recipes × folds (a saved split's fold count is in the split, not the spec)
    const v = plan.ensemble.validation;
    const members = v.kind === 'kfold' && !v.folds ? `${plan.ensemble.members.length} recipes × the split's folds` : plural(expandFolds(plan.ensemble).length, 'member');
    stage(
      'train',
      failedMembers.length > 0
        ? // (a finished run some of whose members failed: until session 44 --resume only evaluated the others again)
          `training the failed member${failedMembers.length === 1 ? '' : 's'} of the ${plan.ensemble.name} ensemble in ${runDir} again (${failedMembers.join(', ')}; the others as they are)`
        : `resuming the ${plan.ensemble.name} ensemble in ${runDir} (${members}, each from its last saved epoch)`,
    );
    // auto's budget holds over all of the run's sessions: what is left of it is this session's
    // deadline, and members not started yet are re-planned to it (a resume had no deadline until
    // session 45: members the deadline had stopped trained on to their planned epochs).
    // (round 2 of pseudo-labelling: round 1's training is spent too)
    const round1Seconds = auto?.pseudoLabel ? ((await readRunManifest(path.join(runDir, ROUND1_DIR)).catch(() => null))?.seconds ?? 0) : 0;
    // (not when members of a finished run failed: retraining them repairs the run, whose budget
    // its first session spent by design, and a deadline gave them one epoch)
    const budget = auto && plan.manifest.status !== 'finished' ? budgetLeft(auto, plan.manifest.seconds + round1Seconds, Date.now(), autoReplan(auto) !== undefined) : undefined;
    if (budget) stage('train', budget.line);
    const trained = await trainEnsemble({ ensemble: plan.ensemble, data: plan.data, runDir, ...mainJobTraining(options, runDir), resume: true, extra: plan.extra, deadline: budget?.deadline, replan: auto ? autoReplan(auto) : undefined });
    await afterTraining(options, runDir, trained, auto);
  }
  if (auto) await saveAutoRecord(runDir, auto);
  return finishMainJob(options, { competition, answers, runDir, started, kfold: plan.ensemble.validation.kind === 'kfold', auto });
}

/** The run (or round 1) to resume, its competition folder and the answers to score against. */
async function planMainResume(options: MainJobOptions, dir: string) {
  const plan = await planResume(dir, { data: options.data, onNote: (message) => options.onStage?.('train', `note: ${message}`) });
  // The dataset cache sits in <competition>/.digits; the answers of a practice one beside it.
  const competition = competitionFolderOf(plan.data);
  let answers = options.answers ? path.resolve(options.answers) : null;
  if (!answers && (await exists(`${competition}-answers.csv`))) answers = `${competition}-answers.csv`;
  if (answers) await readAnswers(answers, await readTestIds(plan.data));
  return { plan, competition, answers };
}

/**
 * `digits run --resume` of a `--pseudo-label` run stopped in round 1 (or while pseudo-labelling):
 * round 1 goes on from its members' last saved epochs, then pseudo-labelling and round 2 as in
 * an uninterrupted run, with the budget auto.json records less what the recipe and round 1 took.
 */
async function resumeFirstRound(options: MainJobOptions, runDir: string): Promise<MainJobResult> {
  const stage = options.onStage ?? (() => {});
  const round1 = path.join(runDir, ROUND1_DIR);
  const auto = await readAutoRecord(runDir);
  if (!auto) {
    throw new UserError(`nothing to resume in ${runDir}: it holds round 1 of a pseudo-labelling run but not auto's record (${AUTO_FILE}), which round 2 is planned from`, {
      where: { file: path.join(runDir, AUTO_FILE), flag: 'run' },
      hint: 'Start the run again without --resume (the same command as before).',
    });
  }
  const { plan, competition, answers } = await planMainResume(options, round1);
  const failedMembers = plan.manifest.status === 'finished' ? plan.manifest.members.filter((m) => !m.ok).map((m) => m.name) : [];
  if (plan.manifest.status === 'finished' && failedMembers.length === 0) {
    stage('train', `round 1 in ${round1} finished training: pseudo-labelling and round 2 follow`);
  } else {
    stage('train', `round 1: resuming the ${plan.ensemble.name} ensemble in ${round1} (${plural(plan.ensemble.members.length, 'member')}, each from its last saved epoch)`);
    await trainEnsemble({ ensemble: plan.ensemble, data: plan.data, runDir: round1, ...mainJobTraining(options, runDir), resume: true, extra: plan.extra });
  }
  // The time already spent: importing and choosing the recipe, and round 1 over all its sessions.
  const spentSeconds = (auto.trainingStartSeconds ?? auto.choosingSeconds) + (await readRunManifest(round1)).seconds;
  const budgetSeconds = auto.budgetMinutes * 60;
  const started = Date.now() - spentSeconds * 1000;
  const deadline = started + (budgetSeconds - auto.plan.reserveSeconds) * 1000;
  const trained = await trainSecondRound(options, { competition, runDir, auto, budgetSeconds, spentSeconds, deadline });
  await afterTraining(options, runDir, trained, auto);
  return finishMainJob(options, { competition, answers, runDir, started, kfold: false, auto });
}

/**
 * A resumed auto run's budget: what its earlier sessions spent (importing and choosing the
 * recipe, then training over every session, run.json's `seconds`) is taken from it, and what
 * is left, less the reserve for evaluating and submitting, is the deadline of this session.
 */
export function budgetLeft(auto: Pick<AutoRecord, 'budgetMinutes' | 'choosingSeconds' | 'trainingStartSeconds' | 'plan'>, trainedSeconds: number, now = Date.now(), replans = true): { deadline: number; secondsLeft: number; line: string } {
  const spent = (auto.trainingStartSeconds ?? auto.choosingSeconds) + trainedSeconds;
  const budget = auto.budgetMinutes * 60;
  const secondsLeft = Math.round(budget - auto.plan.reserveSeconds - spent);
  const minutes = Number(auto.budgetMinutes.toFixed(2));
  const line =
    secondsLeft > 0
      ? `the run's ${minutes}-minute budget has ${secondsLeft} s of training left (${Math.round(spent)} s spent before this session, ${auto.plan.reserveSeconds} s kept to evaluate and submit): ${replans ? 'members not started yet are planned to it' : 'members stop at it (--epochs set their epochs, so none is re-planned)'}`
      : `the run's ${minutes}-minute budget is spent (${Math.round(spent)} s before this session): members with saved epochs stop where they are, and members not started yet train one epoch`;
  return { deadline: now + secondsLeft * 1000, secondsLeft, line };
}

/** Pseudo-labelling with round 1's members (in `<runDir>/round1`), then round 2 into the run folder. */
async function trainSecondRound(options: MainJobOptions, job: { competition: string; runDir: string; auto: AutoRecord; budgetSeconds: number; spentSeconds: number; deadline: number }): Promise<RunManifest> {
  const stage = options.onStage ?? (() => {});
  const round = await pseudoLabelRound({
    round1: path.join(job.runDir, ROUND1_DIR),
    data: job.competition,
    record: job.auto,
    budgetSeconds: job.budgetSeconds,
    spentSeconds: job.spentSeconds,
    concurrency: options.concurrency,
    infer: options.infer,
    onProgress: (m) => stage('pseudo-label', m),
  });
  // The record now holds the pseudo-labels (a resume of round 2 reads it back).
  await saveAutoRecord(job.runDir, job.auto);
  // The flags hold in round 2 too; it fine-tunes at a third of round 1's rate, as without them.
  // (They are the record's: a resumed run has no flags of its own.)
  const lr = job.auto.overrides?.learningRate;
  const ensemble = withOverrides(round.ensemble, { ...job.auto.overrides, learningRate: lr === undefined ? undefined : lr / 3 });
  // Round 1's synthetic rows stay in round 2, beside the pseudo-labels (round 2 trained on the
  // pseudo-labels alone until session 42, while the summary said the synthetic rows had joined).
  const synthetic = path.join(job.runDir, SYNTHETIC_ROWS_FILE);
  let extra = round.extraFile;
  if (await exists(synthetic)) {
    extra = path.join(job.runDir, ROUND2_ROWS_FILE);
    await copyFile(synthetic, extra);
    if (round.extraFile) await appendFile(extra, await readFile(round.extraFile));
  }
  stage('train', `round 2: ${plural(ensemble.members.length, 'member')} fine-tuned from round 1's with ${round.extraRows} pseudo-labelled test rows added to the training rows${extra !== round.extraFile ? ', beside the synthetic rows' : ''}, into ${job.runDir}`);
  // (no warnings passed on: round 2 trains on round 1's rows and split, whose warnings round 1
  // gave, from round-1 members that trained on those rows and held out the same ones, which the
  // init-leak warning would wrongly call optimistic)
  return trainEnsemble({ ensemble, data: job.competition, runDir: job.runDir, ...mainJobTraining(options, job.runDir), onWarning: undefined, extra, deadline: job.deadline, replan: autoReplan(job.auto) });
}

/**
 * What continues a run whose members failed: `digits run --resume` trains on, evaluates and
 * submits (round 1 of pseudo-labelling too). Until session 45 the hint named `digits train
 * --resume`, which only trained and left the run unevaluated and unsubmitted.
 */
/** What every training of the main job shares: its workers, its command, its events and warnings, and the command that continues it. */
function mainJobTraining(options: MainJobOptions, runDir: string) {
  return { resumeCommand: mainJobResumeCommand(runDir), concurrency: options.concurrency, backend: options.backend, command: options.command, onEvent: options.onTrainEvent, onWarning: options.onWarning };
}

function mainJobResumeCommand(runDir: string): string {
  return `digits run --resume --run ${shellArg(displayPath(runDir))}`;
}

/**
 * auto's members that start late on a slow machine get fewer epochs, their rates decaying over
 * them (`replanAutoMember`), rather than the deadline's cut; not when `--epochs` set them.
 */
function autoReplan(auto: AutoRecord): TrainEnsembleOptions['replan'] {
  return auto.overrides?.epochs !== undefined ? undefined : { member: replanAutoMember, startSeconds: MEMBER_START_SECONDS, planSecondsPerEpochRow: 1 / auto.throughput.imagesPerSecondPerWorker };
}

/** Round 2's extra rows when round 1 had synthetic ones: those, then the pseudo-labels (JSON lines, concatenated). */
export const ROUND2_ROWS_FILE = 'round2-rows.jsonl';

/** What the trained run says about the deadline, and auto's record merged into run.json. */
async function afterTraining(options: MainJobOptions, runDir: string, trained: RunManifest, auto: AutoRecord | null): Promise<void> {
  const stage = options.onStage ?? (() => {});
  const cut = trained.members.filter((m) => m.stoppedAtDeadline);
  if (cut.length > 0) {
    stage('train', `stopped at the budget's deadline: ${cut.map((m) => `${m.name} after ${m.epochs} epoch${m.epochs === 1 ? '' : 's'}`).join(', ')}`);
  }
  const replanned = Object.entries(trained.replanned ?? {});
  if (replanned.length > 0) {
    stage('train', `re-planned as they started, to the time left before the budget's deadline: ${replanned.map(([name, r]) => `${name} ${r.epochs} of ${r.planned} epochs`).join(', ')}`);
  }
  // The decisions beside the members: in run.json (under "auto") and as auto.json.
  if (auto) await saveAutoRecord(runDir, auto);
}

/**
 * auto's decisions in the run folder: auto.json from the moment the plan is made (a resumed run
 * reads it back), and under "auto" in run.json once training has written run.json (training
 * writes run.json afresh, without it, at every start and resume).
 */
async function saveAutoRecord(runDir: string, auto: AutoRecord): Promise<void> {
  await makeFolders(runDir);
  await writeJsonAtomic(path.join(runDir, AUTO_FILE), auto);
  const file = path.join(runDir, RUN_MANIFEST);
  if (!(await exists(file))) return;
  const manifest = JSON.parse(await readFile(file, 'utf8')) as RunManifest;
  await writeJsonAtomic(file, { ...manifest, auto });
}

async function readAutoRecord(runDir: string): Promise<AutoRecord | null> {
  const text = await readFile(path.join(runDir, AUTO_FILE), 'utf8').catch(() => null);
  if (text === null) return null;
  try {
    return JSON.parse(text) as AutoRecord;
  } catch {
    throw new UserError(`${AUTO_FILE} in ${runDir} is not valid JSON`, { where: { file: path.join(runDir, AUTO_FILE) }, hint: 'It is written atomically, so it was edited by hand: restore it, or start a new run.' });
  }
}

async function finishMainJob(options: MainJobOptions, job: { competition: string; answers: string | null; runDir: string; started: number; kfold: boolean; auto: AutoRecord | null }): Promise<MainJobResult> {
  const stage = options.onStage ?? (() => {});
  const { competition, answers, runDir } = job;
  // A step after training that fails (a full disk, a ledger it may not write) says what the
  // trained run needs to be finished, not only what went wrong (it said "Check the file and its
  // permissions", and the user did not know that the training was kept).
  const afterTrained = <T>(step: string, work: () => Promise<T>) =>
    work().catch((error: unknown) => {
      const user = error instanceof UserError ? error : fromSystemError(error);
      if (!user) throw error;
      const resume = mainJobResumeCommand(runDir);
      const next = step === 'report' ? `\`digits report --run ${shellArg(displayPath(runDir))}\` writes the report` : `\`${resume}\` ${step === 'evaluate' ? 'evaluates the run and writes the submission' : 'writes the submission'} without training again`;
      throw new UserError(user.message, { ...(user.where ? { where: user.where } : {}), exitCode: user.exitCode, cause: error, hint: `${user.hint ? `${user.hint} ` : ''}The members are trained and kept: once that is put right, ${next}.` });
    });
  stage('evaluate', job.kfold ? 'cross-validation: members on their folds, out-of-fold predictions, the ensemble and its weights (plain and with 8-way TTA)' : 'evaluating members and the ensemble on held-out rows (plain and with 8-way TTA)');
  const evaluation = await afterTrained('evaluate', () => evaluateRun({ runDir, command: options.command, infer: options.infer, precision: options.precision, tta: TTA_8, answers: answers ?? undefined, onProgress: (m) => stage('evaluate', m) }));

  stage('submit', 'writing and validating the submission');
  const submission = await afterTrained('submit', () => submitRun({ runDir, dir: runSubmissionsDir(runDir, options.workDir), answers: answers ?? undefined, infer: options.infer, precision: options.precision }));
  // A test score far below the held-out one is most likely another competition's answers (same
  // ids, other labels: scored 8.67% beside 100% held out, in silence, in session 42's probe).
  const heldOut = submittedVote(evaluation);
  if (submission.score && heldOut.rows >= 20 && heldOut.accuracy - submission.score.accuracy > 0.2) {
    stage('submit', `warning: the test score (${(submission.score.accuracy * 100).toFixed(2)}%) is far below the held-out one (${(heldOut.accuracy * 100).toFixed(2)}% on ${heldOut.rows} rows): is ${displayPath(submission.score.answers)} this competition's answers file?`);
  }

  let report: string | null = null;
  if (options.writeReport) {
    stage('report', 'writing the HTML report');
    report = await afterTrained('report', () => options.writeReport!(runDir));
  }
  return { competition, answers, runDir, evaluation, submission, report, auto: job.auto, seconds: Math.round((Date.now() - job.started) / 1000) };
}

/**
 * Training rows per worker and second that no machine of ours reaches (these 2-core VMs train
 * seed002 at 450–840): a k-fold plan slower than this on one epoch cannot fit at all.
 */
const FASTEST_IMAGES_PER_SECOND = 2000;

/**
 * `--folds` that cannot work, refused before the recipe is chosen: more folds than rows, or,
 * for auto, one recipe (k fold members of one epoch each) longer than the whole budget even
 * at FASTEST_IMAGES_PER_SECOND.
 */
export function checkFolds(folds: number, rows: number, auto?: { budgetSeconds: number; concurrency: number }): void {
  if (folds > rows) {
    throw new UserError(`--folds ${folds} is more than the ${rows} training rows`, { where: { flag: 'folds' }, hint: `For example --folds ${DEFAULT_FOLDS}: each fold validates a quarter of the rows.` });
  }
  if (!auto) return;
  // (each member also takes MEMBER_START_SECONDS to start, as the plan counts: 100 folds of a
  // 120-row competition passed this check on images alone and ran 4 times over a 1-minute budget)
  const seconds = (folds * (rows - Math.ceil(rows / folds))) / (FASTEST_IMAGES_PER_SECOND * Math.max(1, auto.concurrency)) + Math.ceil(folds / Math.max(1, auto.concurrency)) * MEMBER_START_SECONDS;
  if (seconds > auto.budgetSeconds) {
    throw new UserError(`--folds ${folds} cannot fit a ${Number((auto.budgetSeconds / 60).toFixed(2))}-minute budget: auto trains whole recipes of ${folds} fold members, and one epoch of each, with the ${MEMBER_START_SECONDS} s each member takes to start, would take at least ${Math.round(seconds)} s even at ${FASTEST_IMAGES_PER_SECOND} img/s per worker`, {
      where: { flag: 'folds' },
      hint: 'Use fewer folds (4 or 5 is usual), or a larger --budget.',
    });
  }
}

/** A run that fails while auto chooses its recipe leaves no run folder (only its probes would be in it). */
async function removeRunDirOnError<T>(runDir: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (!(await exists(path.join(runDir, RUN_MANIFEST)))) await rm(runDir, { recursive: true, force: true });
    throw error;
  }
}

/**
 * The last word of a `digits run` stopped by SIGINT/SIGTERM at `reached` (the last stage it
 * announced): what is kept in `runDir` (as the user named it) and the command that goes on from
 * it. A new run with nothing resumable yet leaves no folder (removeUnstartedRunSync); a folder
 * being resumed is never removed.
 */
export function interruptedMainJobHint(runDir: string, reached: Stage | null, resuming = false): string {
  const resume = `digits run --resume --run ${shellArg(runDir)}`;
  if (existsSync(path.join(runDir, RUN_MANIFEST))) {
    if (reached === 'report') return `Its members are trained, evaluated and its submission is written; only the HTML report is missing: \`digits report --run ${shellArg(runDir)}\` writes it.`;
    // (stopped just after the submission was recorded: --resume refuses a submitted run, so the step left is the report's)
    if (reached === 'submit' && submittedSync(runDir)) return `Its members are trained, evaluated and its submission is written and recorded; only the HTML report is missing: \`digits report --run ${shellArg(runDir)}\` writes it.`;
    if (reached === 'evaluate' || reached === 'submit') return `Training had finished: \`${resume}\` evaluates the run and writes the submission, without training again.`;
    return `Continue it with \`${resume}\`: training goes on from each member's last saved epoch, then evaluation and the submission.`;
  }
  if (existsSync(path.join(runDir, ROUND1_DIR, RUN_MANIFEST))) {
    return `Round 1 of pseudo-labelling is kept in ${path.join(runDir, ROUND1_DIR)}: \`${resume}\` continues it from each member's last saved epoch, then pseudo-labels the test rows, trains round 2, evaluates and writes the submission.`;
  }
  // (a folder given to --resume is the user's: never removed)
  if (resuming) return `${runDir} holds nothing to resume (no ${RUN_MANIFEST}): start a new run without --resume.`;
  const choosing = reached === 'recipe' ? ' (auto was choosing the recipe)' : '';
  if (removeUnstartedRunSync(runDir)) return `Training had not started${choosing}, so nothing is kept and no run folder is left: run the same command again.`;
  return `Training had not started${choosing}, so there is nothing to resume: delete ${runDir} (what auto chose the recipe with, not a run; the next \`digits run\` removes it too) and run the same command again.`;
}

/**
 * Whether the ledger beside the run's project records a submission of it; synchronous, as the
 * interrupt hint needs it while the process dies (a damaged line counts as no record).
 */
function submittedSync(runDir: string, workDir?: string): boolean {
  const ledgerDir = runSubmissionsDir(runDir, workDir);
  try {
    return readFileSync(path.join(ledgerDir, LEDGER_FILE), 'utf8')
      .split('\n')
      .some((line) => {
        try {
          return resolveStoredPath(ledgerDir, (JSON.parse(line) as { run?: string }).run ?? '') === path.resolve(runDir);
        } catch {
          return false;
        }
      });
  } catch {
    return false;
  }
}

/**
 * Called as the process dies by SIGINT/SIGTERM: a new run stopped before anything resumable was
 * saved (no run.json, nor round 1's with --pseudo-label) leaves no folder behind (the probes,
 * auto.json and synthetic rows of a recipe being chosen would stay, unlisted by `runs`). Sync:
 * the process dies right after. True when the folder is gone (or never was); false when it
 * holds something resumable or could not be removed.
 */
export function removeUnstartedRunSync(runDir: string): boolean {
  if (existsSync(path.join(runDir, RUN_MANIFEST)) || existsSync(path.join(runDir, ROUND1_DIR, RUN_MANIFEST))) return false;
  // Probe workers may still be writing into it (a probe saving an epoch's checkpoint): each try
  // lists the folder again, for up to 3 s. Node's own retries (`maxRetries`) only try the failed
  // rmdir again, and a probe's folder that had gained a file after the listing stayed ENOTEMPTY
  // to the last retry (session 48's probe: 3 interruptions in 8 left the folder). Once a probe's
  // folder is gone its saves fail rather than make it again (`parentExists`).
  const until = Date.now() + 3000;
  for (;;) {
    try {
      rmSync(runDir, { recursive: true, force: true });
      return true;
    } catch {
      if (Date.now() > until) return !existsSync(runDir);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
  }
}

/** The overrides the user set, or undefined when none is. */
function definedOverrides(overrides: MemberOverrides | undefined): MemberOverrides | undefined {
  const set = Object.fromEntries(Object.entries(overrides ?? {}).filter(([, v]) => v !== undefined)) as MemberOverrides;
  return Object.keys(set).length > 0 ? set : undefined;
}

