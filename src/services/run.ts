/**
 * The main job (`npm start` = `digits run`): from a competition folder (or, with none,
 * the embedded default: a noisy practice competition built from MNIST) to a validated
 * submission, an evaluation on held-out rows and an HTML report, in one command.
 */
import { access } from 'node:fs/promises';
import path from 'node:path';
import { importCompetition, resolveCompetitionFiles } from '../data/import.js';
import { buildPracticeCompetition, DEFAULT_PRACTICE_RECIPE } from '../data/practice.js';
import type { BackendRequest } from '../engine/backend.js';
import { evaluateRun } from './evaluate.js';
import type { EvaluationReport } from '../evaluation/evaluation-report.js';
import { resolveEnsemble, withOverrides, type MemberOverrides } from '../ensemble/ensemble-spec.js';
import { findCleanCheckpoint, loadOrientationModel } from '../inference/orientation-model.js';
import { type InferMode, type Precision } from '../inference/predictor.js';
import { TTA_8 } from '../ensemble/tta.js';
import { submitRun, type SubmitResult } from './submit.js';
import { trainEnsemble } from './train.js';
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
  seed: number;
  /** applied to every member of the ensemble (`--seed`, `--epochs`, `--learning-rate`, `--batch-size`) */
  overrides?: MemberOverrides;
  command: string;
  runName: string;
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
  const checkpoint = await findCleanCheckpoint();
  const detector = checkpoint ? await loadOrientationModel(checkpoint) : null;
  try {
    const imported = await importCompetition({
      ...(await resolveCompetitionFiles([competition])),
      orientationScorer: detector?.scorer,
      orientationModel: detector?.fingerprint,
      orientationMargin: detector?.margin,
    });
    stage('import', `${imported.orientation === 'as-is' ? 'images upright as stored' : `orientation ${imported.orientation} detected and undone: images upright`} (${imported.detected.orientation.reason})`);
  } finally {
    detector?.dispose();
  }

  const ensemble = withOverrides(await resolveEnsemble(options.ensemble), options.overrides);
  const runDir = path.join(options.workDir, 'runs', options.runName);
  stage('train', `training the ${ensemble.name} ensemble (${ensemble.members.length} members, ${options.concurrency} at a time) into ${runDir}`);
  await trainEnsemble({ ensemble, data: competition, runDir, concurrency: options.concurrency, backend: options.backend, command: options.command, onEvent: options.onTrainEvent });

  stage('evaluate', 'evaluating members and the ensemble on held-out rows (plain and with 8-way TTA)');
  const evaluation = await evaluateRun({ runDir, infer: options.infer, precision: options.precision, tta: TTA_8, answers: answers ?? undefined, onProgress: (m) => stage('evaluate', m) });

  stage('submit', 'writing and validating the submission');
  const submission = await submitRun({ runDir, dir: path.join(options.workDir, 'submissions'), answers: answers ?? undefined, infer: options.infer, precision: options.precision });

  let report: string | null = null;
  if (options.writeReport) {
    stage('report', 'writing the HTML report');
    report = await options.writeReport(runDir);
  }
  return { competition, answers, runDir, evaluation, submission, report, seconds: Math.round((Date.now() - started) / 1000) };
}
