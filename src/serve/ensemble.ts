/**
 * The ensemble a server runs: the trained members of a run folder (`run.json`), each opened
 * once as a `Predictor`, with their validation scores from `evaluation.json` when the run was
 * evaluated. Nothing here reads the dataset.
 *
 * Members on ONNX Runtime run in a pool of worker threads by default (inference-pool.ts), so
 * a batch never blocks the HTTP event loop and members compute on several cores at once;
 * `workers: 0` (and tfjs, which keeps its engine on this thread) runs them in process.
 */
import os from 'node:os';
import path from 'node:path';
import { onnxRuntimeStatus } from '../engine/ort.js';
import type { InferMode, Precision, Predictor } from '../inference/predictor.js';
import { assertTrained, readRunManifest } from '../runs/manifest.js';
import { assertMembersReadable, openMembers, trainedMembers } from '../runs/open-members.js';
import { precisionOf, readEvaluationIfAny, submissionTta, submittedVoting, weightsFor, type EvaluationReport } from '../evaluation/evaluation-report.js';
import { assertCurrentEvaluation } from '../runs/current-evaluation.js';
import { UserError } from '../errors.js';
import { createInferencePool, type InferencePool, type PoolStats } from './inference-pool.js';
import { shellArg } from '../data/format.js';
import { isOrientation, type Orientation } from '../data/orientation.js';
import { readCheckpointMetadata } from '../model/checkpoint.js';

export interface ValidationScore {
  rows: number;
  accuracy: number;
  logLoss: number;
  /** with 8-way test-time augmentation, when evaluated */
  ttaAccuracy?: number;
  /** the number format the evaluation computed these figures in (a member served in another one scores a little differently) */
  precision?: 'fp32' | 'int8' | string;
  /** a bagged ensemble's figures out of bag: each row voted by the members that held it out (nearer one member's than the ensemble's) */
  outOfBag?: true;
}

export interface ServedMember {
  name: string;
  preset: string;
  /** absolute path of the member's checkpoint */
  checkpoint: string;
  predictor: Predictor;
  /** from evaluation.json (the member's own held-out rows), when the run was evaluated */
  validation: ValidationScore | null;
  /** best validation accuracy seen in training (run.json) */
  trainingValAcc: number | null;
  /** its weight in the soft vote: from evaluation.json's ensemble selection, else 1 */
  weight: number;
  /** k-fold: the recipe (the ensemble file's member entry) it is a fold member of, which a request's `members` may name for all its folds */
  recipe?: string;
}

/** Where the members compute. */
export interface InferenceMode {
  /** `workers`: ONNX Runtime sessions in worker threads; `in-process`: on the server's own thread */
  mode: 'workers' | 'in-process';
  /** worker threads (0 in process) */
  workers: number;
  /** ONNX Runtime intra-op threads per session (null when no member runs on ONNX Runtime) */
  threadsPerSession: number | null;
  /** why this mode */
  reason: string;
  /** the pool's counters (null in process) */
  stats(): PoolStats | null;
}

export interface ServedEnsemble {
  runDir: string;
  name: string;
  members: ServedMember[];
  /** members of run.json that are not served, and why */
  skipped: Array<{ name: string; reason: string }>;
  /**
   * the vote, named as `submit` and the ledger name it (`submittedVoting`): `weighted soft` only
   * with ensemble selection's weights in use; a k-fold recipe's fold members sharing its weight
   * unequally (a failed fold member) is the `soft` vote still (until session 44, `weighted soft`)
   */
  voting: 'soft' | 'weighted soft';
  /** soft vote on rows no member trained on, when the run was evaluated */
  validation: ValidationScore | null;
  /** why validation scores are missing, when they are */
  evaluationNote: string | null;
  /**
   * Test-time augmentation when a request does not say: as `digits submit` uses it (the
   * evaluation's choice on held-out rows; the 8 shifts for an unevaluated run), so that served
   * labels are the submission's (a request's `tta` wins either way)
   */
  tta: { default: boolean; reason: string };
  /**
   * How the competition's CSV rows were turned to the upright digits the members take (the
   * import's orientation, as the members' checkpoints record it): a JSON request with
   * `"layout": "competition"` has its rows turned so
   */
  orientation: Orientation;
  inference: InferenceMode;
  /** releases the sessions; resolves when the inference workers (if any) have ended */
  dispose(): Promise<void>;
}

export interface LoadEnsembleOptions {
  infer?: InferMode;
  /** ONNX Runtime number format (default auto: the int8 export when `evaluate` made one) */
  precision?: Precision;
  /** ONNX Runtime intra-op threads per session (default 1 in each worker; `defaultServeThreads()` in process) */
  threads?: number;
  /** worker threads for the members on ONNX Runtime (default `defaultServeWorkers()`); 0 runs them in process */
  workers?: number;
}

/**
 * ONNX Runtime threads per session when serving in process: all cores but one. The event
 * loop (HTTP, JSON) needs a core of its own: ONNX Runtime's pool threads spin-wait after each
 * run, and with every core in the pool the loop's timers and sockets wait behind them (on a
 * busy 2-core machine, all cores gave a single-image p50 of 34 ms, one thread 7 ms).
 */
export function defaultServeThreads(): number {
  return Math.max(1, os.availableParallelism() - 1);
}

/** Inference worker threads when serving: one per core (each runs one single-threaded session at a time). */
export function defaultServeWorkers(): number {
  return os.availableParallelism();
}

function score(metrics: { rows: number; accuracy: number; logLoss: number } | undefined, tta: { accuracy: number } | undefined, precision: string | undefined): ValidationScore | null {
  if (!metrics) return null;
  return { rows: metrics.rows, accuracy: metrics.accuracy, logLoss: metrics.logLoss, ...(tta ? { ttaAccuracy: tta.accuracy } : {}), ...(precision ? { precision } : {}) };
}

/** Whether a request without `tta` gets it: as `digits submit` would submit the run (`submissionTta`), and why. */
export function defaultTta(evaluation: EvaluationReport | null): { default: boolean; reason: string } {
  const chosen = submissionTta(evaluation);
  return { default: chosen.used, reason: `as the submission: ${chosen.used ? 'with TTA' : 'without TTA'} (${chosen.reason})` };
}

/**
 * Why the validation scores are missing, as /v1/model shows it: the run named as one would
 * give it to --run (relative to the working folder, else by its folder name), never by its
 * absolute path.
 */
async function evaluationNoteFor(dir: string): Promise<string> {
  const inside = path.relative(process.cwd(), dir);
  const run = inside === '' ? '.' : !inside.startsWith('..') && !path.isAbsolute(inside) ? inside : path.basename(dir);
  return `this run has not been evaluated (digits evaluate --run ${shellArg(run)})`;
}

/** Opens every successful member of the run (sessions are created here, once). */
export async function loadServedEnsemble(runDir: string, options: LoadEnsembleOptions = {}): Promise<ServedEnsemble> {
  const dir = path.resolve(runDir);
  const manifest = await readRunManifest(dir);
  if (!Array.isArray(manifest.members)) {
    throw new UserError(`${path.join(dir, 'run.json')} lists no members`, { where: { file: path.join(dir, 'run.json') }, hint: 'Point --run at a folder written by `digits train`.' });
  }
  // A run not evaluated is served with the 8 shifts and equal weights, as `submit` submits it; an
  // evaluation.json that cannot be read (damaged, foreign) is the error it is for `submit` and
  // `dashboard`, naming its line and column: until session 41 the server started and said the run
  // had not been evaluated, serving without the weights and TTA decision the evaluation held.
  const evaluation = await readEvaluationIfAny(dir);
  const evaluationNote = evaluation ? null : await evaluationNoteFor(dir);
  assertTrained(dir, manifest, 'serve');
  // An evaluation of other members, data or weights (a failed member trained since, a
  // checkpoint replaced) is refused as `submit` refuses it: until session 44 the server applied
  // its TTA decision and weights "as the submission" and showed its figures as the run's.
  const members: ServedMember[] = [];
  let weights: number[] | undefined;
  const { trained, skipped } = trainedMembers(dir, manifest);
  await assertMembersReadable(dir, trained, 'digits serve serves');
  // (after the members: a checkpoint that cannot be read is named as such, with its own file)
  if (evaluation) await assertCurrentEvaluation(dir, manifest, evaluation, 'serve');
  const infer = options.infer ?? 'auto';
  const precision = options.precision ?? 'auto';
  const workers = Math.max(0, Math.floor(options.workers ?? defaultServeWorkers()));
  let pool: InferencePool | null = null;
  let mode: Omit<InferenceMode, 'stats'>;
  if (workers === 0) mode = { mode: 'in-process', workers: 0, threadsPerSession: null, reason: 'workers: 0' };
  else if (infer === 'tfjs') mode = { mode: 'in-process', workers: 0, threadsPerSession: null, reason: 'tfjs runs on its engine in this thread' };
  else if (!onnxRuntimeStatus().available) mode = { mode: 'in-process', workers: 0, threadsPerSession: null, reason: onnxRuntimeStatus().reason };
  else mode = { mode: 'workers', workers, threadsPerSession: Math.max(1, options.threads ?? 1), reason: 'ONNX Runtime runs block the thread they run on; workers keep the event loop free' };
  try {
    if (mode.mode === 'workers' && trained.length > 0) {
      pool = await createInferencePool(
        trained.map((m) => m.checkpoint),
        { workers, precision, threads: mode.threadsPerSession!, infer: infer === 'onnx' ? 'onnx' : 'auto' },
      );
      if (pool.size === 0) mode = { mode: 'in-process', workers: 0, threadsPerSession: null, reason: 'no member exports to ONNX' };
    }
    const inProcessThreads = options.threads ?? defaultServeThreads();
    // Members left out of the pool (no ONNX export) are opened here (tfjs), saying why.
    const inProcess = await openMembers(dir, manifest, { infer, precision, threads: inProcessThreads, spin: true, only: (_, i) => !pool?.predictors[i] });
    weights = weightsFor(trained.map((m) => m.outcome.name), evaluation);
    for (const [i, m] of trained.entries()) {
      const predictor = pool?.predictors[i] ?? inProcess.find((o) => o.outcome.name === m.outcome.name)!.predictor;
      const evaluated = evaluation?.members.find((e) => e.name === m.outcome.name);
      members.push({ name: m.outcome.name, preset: m.outcome.preset, checkpoint: m.checkpoint, predictor, validation: score(evaluated?.metrics, evaluated?.tta, evaluated?.runtime?.precision), trainingValAcc: m.outcome.bestValAcc ?? null, weight: weights?.[i] ?? 1, ...(m.outcome.recipe !== undefined ? { recipe: m.outcome.recipe } : {}) });
    }
    if (mode.mode === 'in-process' && members.some((m) => m.predictor.kind === 'onnx')) mode = { ...mode, threadsPerSession: inProcessThreads };
  } catch (error) {
    for (const m of members) m.predictor.dispose();
    await pool?.dispose();
    throw error;
  }
  const disposeAll = async () => {
    for (const m of members) m.predictor.dispose();
    await pool?.dispose();
  };
  if (members.length === 0) {
    throw new UserError(`the run ${dir} has no trained member to serve`, {
      where: { file: path.join(dir, 'run.json') },
      hint: skipped.length ? `Every member failed (${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')}); retrain with \`digits train --resume --run ${shellArg(dir)}\`.` : `Train one with \`digits train --run ${shellArg(dir)}\`.`,
    });
  }
  const sizes = new Set(members.map((m) => m.predictor.imageSize));
  if (sizes.size > 1) {
    await disposeAll();
    throw new UserError(`the members of ${dir} take different image sizes (${[...sizes].join(', ')})`, { hint: 'Serve a run whose members all take 28×28 images.' });
  }
  // (one run, one import: the first member's checkpoint says it; 'as-is' when it names none known)
  const recorded = (await readCheckpointMetadata(members[0]!.checkpoint).catch(() => null))?.orientation;
  const orientation: Orientation = recorded !== undefined && isOrientation(recorded) ? recorded : 'as-is';
  return {
    runDir: dir,
    name: manifest.name ?? path.basename(dir),
    members,
    skipped,
    orientation,
    // (weights of the members served: none when the evaluation is of other members)
    voting: weights ? submittedVoting(evaluation) : 'soft',
    validation: evaluation ? { ...score(evaluation.ensemble.soft, evaluation.ensemble.softTta, precisionOf(evaluation))!, ...(evaluation.ensemble.outOfBag ? { outOfBag: true as const } : {}) } : null,
    evaluationNote,
    tta: defaultTta(evaluation),
    inference: { ...mode, stats: () => pool?.stats() ?? null },
    dispose: disposeAll,
  };
}
