/**
 * The ensemble a server runs: the trained members of a run folder (`run.json`), each opened
 * once as a `Predictor` (an ONNX Runtime session by default), with their validation scores
 * from `evaluation.json` when the run was evaluated. Nothing here reads the dataset.
 */
import os from 'node:os';
import path from 'node:path';
import { createPredictor, type InferMode, type Predictor } from '../ensemble/predictor.js';
import { readRunManifest } from '../ensemble/train-ensemble.js';
import { readEvaluationReport, type EvaluationReport } from '../evaluate/report-types.js';
import { UserError } from '../errors.js';

export interface ValidationScore {
  rows: number;
  accuracy: number;
  logLoss: number;
  /** with 8-way test-time augmentation, when evaluated */
  ttaAccuracy?: number;
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
}

export interface ServedEnsemble {
  runDir: string;
  name: string;
  members: ServedMember[];
  /** members of run.json that are not served, and why */
  skipped: Array<{ name: string; reason: string }>;
  /** soft vote on rows no member trained on, when the run was evaluated */
  validation: ValidationScore | null;
  /** why validation scores are missing, when they are */
  evaluationNote: string | null;
  dispose(): void;
}

export interface LoadEnsembleOptions {
  infer?: InferMode;
  /** ONNX Runtime intra-op threads per session (default `defaultServeThreads()`: all cores but one) */
  threads?: number;
}

/**
 * ONNX Runtime threads per session when serving: all cores but one. The event loop (HTTP,
 * JSON) needs a core of its own: ONNX Runtime's pool threads spin-wait after each run, and
 * with every core in the pool the loop's timers and sockets wait behind them (on a busy
 * 2-core machine, all cores gave a single-image p50 of 34 ms, one thread 7 ms).
 */
export function defaultServeThreads(): number {
  return Math.max(1, os.availableParallelism() - 1);
}

function score(metrics: { rows: number; accuracy: number; logLoss: number } | undefined, tta?: { accuracy: number }): ValidationScore | null {
  if (!metrics) return null;
  return { rows: metrics.rows, accuracy: metrics.accuracy, logLoss: metrics.logLoss, ...(tta ? { ttaAccuracy: tta.accuracy } : {}) };
}

/** Opens every successful member of the run (sessions are created here, once). */
export async function loadServedEnsemble(runDir: string, options: LoadEnsembleOptions = {}): Promise<ServedEnsemble> {
  const dir = path.resolve(runDir);
  const manifest = await readRunManifest(dir);
  if (!Array.isArray(manifest.members)) {
    throw new UserError(`${path.join(dir, 'run.json')} lists no members`, { where: { file: path.join(dir, 'run.json') }, hint: 'Point --run at a folder written by `digits train`.' });
  }
  let evaluation: EvaluationReport | null = null;
  let evaluationNote: string | null = null;
  try {
    evaluation = await readEvaluationReport(dir);
  } catch (error) {
    if (!(error instanceof UserError)) throw error;
    evaluationNote = error.message;
  }
  const members: ServedMember[] = [];
  const skipped: ServedEnsemble['skipped'] = [];
  try {
    for (const m of manifest.members) {
      if (!m.ok || !m.checkpoint) {
        skipped.push({ name: m.name, reason: m.ok ? 'no checkpoint recorded' : `training failed${m.error ? `: ${m.error.split('\n')[0]}` : ''}` });
        continue;
      }
      const checkpoint = path.resolve(dir, m.checkpoint);
      const predictor = await createPredictor(checkpoint, { infer: options.infer ?? 'auto', threads: options.threads ?? defaultServeThreads() });
      const evaluated = evaluation?.members.find((e) => e.name === m.name);
      members.push({ name: m.name, preset: m.preset, checkpoint, predictor, validation: score(evaluated?.metrics, evaluated?.tta), trainingValAcc: m.bestValAcc ?? null });
    }
  } catch (error) {
    for (const m of members) m.predictor.dispose();
    throw error;
  }
  if (members.length === 0) {
    throw new UserError(`the run ${dir} has no trained member to serve`, {
      where: { file: path.join(dir, 'run.json') },
      hint: skipped.length ? `Every member failed (${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')}); retrain with \`digits train --resume --run ${dir}\`.` : `Train one with \`digits train --run ${dir}\`.`,
    });
  }
  const sizes = new Set(members.map((m) => m.predictor.imageSize));
  if (sizes.size > 1) {
    for (const m of members) m.predictor.dispose();
    throw new UserError(`the members of ${dir} take different image sizes (${[...sizes].join(', ')})`, { hint: 'Serve a run whose members all take 28×28 images.' });
  }
  return {
    runDir: dir,
    name: manifest.name ?? path.basename(dir),
    members,
    skipped,
    validation: evaluation ? score(evaluation.ensemble.soft, evaluation.ensemble.softTta) : null,
    evaluationNote,
    dispose: () => {
      for (const m of members) m.predictor.dispose();
    },
  };
}
