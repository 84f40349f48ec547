/**
 * The main job (`npm start` = `digits run`): from a competition folder (or, with none,
 * the embedded default: a noisy practice competition built from MNIST) to a validated
 * submission, an evaluation on held-out rows and an HTML report, in one command.
 */
import { access } from 'node:fs/promises';
import path from 'node:path';
import { resolveCompetitionFiles } from '../data/import.js';
import { DEFAULT_DATASET_SUBDIR } from '../data/dataset.js';
import { initEngine } from '../engine/backend.js';
import { importData } from './import.js';
import { buildPracticeCompetition, DEFAULT_PRACTICE_RECIPE } from '../data/practice.js';
import type { BackendRequest } from '../engine/backend.js';
import { evaluateRun } from './evaluate.js';
import type { EvaluationReport } from '../evaluation/evaluation-report.js';
import { expandFolds, resolveEnsemble, withFolds } from '../ensemble/ensemble-spec.js';
import { type InferMode, type Precision } from '../inference/predictor.js';
import { TTA_8 } from '../ensemble/tta.js';
import { submitRun, type SubmitResult } from './submit.js';
import { planResume, trainEnsemble } from './train.js';
import { type EnsembleEvent } from '../training/train-member.js';

export type Stage = 'competition' | 'import' | 'train' | 'evaluate' | 'submit' | 'report';

export interface MainJobOptions {
  /** competition folder; none: the default practice competition under `workDir/competitions/` */
  data?: string;
  /** answers file to score against (found automatically for practice competitions) */
  answers?: string;
  workDir: string;
  ensemble: string;
  backend: BackendRequest;
  infer: InferMode;
  precision?: Precision;
  concurrency: number;
  /** k-fold cross-validation with this many folds instead of the ensemble's own validation */
  folds?: number;
  seed: number;
  command: string;
  runName: string;
  /** a run folder to continue (from its run.json alone) instead of starting `runName` */
  resume?: string;
  onStage?: (stage: Stage, message: string) => void;
  onTrainEvent?: (event: EnsembleEvent) => void;
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
  if (options.resume) return resumeMainJob(options, started);
  let competition = options.data ? path.resolve(options.data) : path.join(options.workDir, 'competitions', DEFAULT_PRACTICE_RECIPE);
  let answers = options.answers ? path.resolve(options.answers) : null;

  if (!options.data) {
    if (await exists(path.join(competition, 'train.csv'))) {
      stage('competition', `using the practice competition in ${competition}`);
    } else {
      stage('competition', `building the ${DEFAULT_PRACTICE_RECIPE} practice competition from MNIST in ${competition}`);
      const report = await buildPracticeCompetition({ recipe: DEFAULT_PRACTICE_RECIPE, out: competition, seed: options.seed });
      competition = report.dir;
    }
  }
  // Practice competitions keep their answers beside the folder.
  const besides = `${competition}-answers.csv`;
  if (!answers && (await exists(besides))) answers = besides;

  stage('import', `importing ${competition}`);
  const imported = await importData({ ...(await resolveCompetitionFiles([competition])), backend: options.backend });
  stage('import', `${imported.orientation === 'as-is' ? 'images upright as stored' : `orientation ${imported.orientation} detected and undone: images upright`} (${imported.detected.orientation.reason})`);

  const resolved = await resolveEnsemble(options.ensemble);
  const ensemble = options.folds ? withFolds(resolved, options.folds) : resolved;
  const runDir = path.join(options.workDir, 'runs', options.runName);
  const validation = ensemble.validation.kind === 'kfold' ? `, ${ensemble.members.length} recipes × ${ensemble.validation.folds || 'the split\'s'} folds` : '';
  stage('train', `training the ${ensemble.name} ensemble (${expandFolds(ensemble).length} members${validation}, ${options.concurrency} at a time) into ${runDir}`);
  await trainEnsemble({ ensemble, data: competition, runDir, concurrency: options.concurrency, backend: options.backend, command: options.command, onEvent: options.onTrainEvent });
  return finishMainJob(options, { competition, answers, runDir, started, kfold: ensemble.validation.kind === 'kfold' });
}

/** `digits run --resume`: the run folder says what to train on; evaluation and submission follow as usual. */
async function resumeMainJob(options: MainJobOptions, started: number): Promise<MainJobResult> {
  const stage = options.onStage ?? (() => {});
  const runDir = path.resolve(options.resume!);
  const plan = await planResume(runDir, { data: options.data });
  // The dataset cache sits in <competition>/.digits; the answers of a practice one beside it.
  const competition = path.basename(plan.data) === DEFAULT_DATASET_SUBDIR ? path.dirname(plan.data) : plan.data;
  let answers = options.answers ? path.resolve(options.answers) : null;
  if (!answers && (await exists(`${competition}-answers.csv`))) answers = `${competition}-answers.csv`;
  stage('train', `resuming the ${plan.ensemble.name} ensemble in ${runDir} (${plan.ensemble.members.length} members, each from its last saved epoch)`);
  await trainEnsemble({ ensemble: plan.ensemble, data: plan.data, runDir, concurrency: options.concurrency, backend: options.backend, command: options.command, resume: true, extra: plan.extra, onEvent: options.onTrainEvent });
  return finishMainJob(options, { competition, answers, runDir, started, kfold: plan.ensemble.validation.kind === 'kfold' });
}

async function finishMainJob(options: MainJobOptions, job: { competition: string; answers: string | null; runDir: string; started: number; kfold: boolean }): Promise<MainJobResult> {
  const stage = options.onStage ?? (() => {});
  const { competition, answers, runDir } = job;
  stage('evaluate', job.kfold ? 'cross-validation: members on their folds, out-of-fold predictions, the ensemble and its weights (plain and with 8-way TTA)' : 'evaluating members and the ensemble on held-out rows (plain and with 8-way TTA)');
  const evaluation = await evaluateRun({ runDir, infer: options.infer, precision: options.precision, tta: TTA_8, answers: answers ?? undefined, onProgress: (m) => stage('evaluate', m) });

  stage('submit', 'writing and validating the submission');
  const submission = await submitRun({ runDir, dir: path.join(options.workDir, 'submissions'), answers: answers ?? undefined, infer: options.infer, precision: options.precision });

  let report: string | null = null;
  if (options.writeReport) {
    stage('report', 'writing the HTML report');
    report = await options.writeReport(runDir);
  }
  return { competition, answers, runDir, evaluation, submission, report, seconds: Math.round((Date.now() - job.started) / 1000) };
}
