/**
 * Whether a run's evaluation.json is the evaluation of the run as it is now: read through
 * the checks `dashboard` and `submit` use (`readEvaluationIfAny`), then matched against
 * run.json, so a damaged file, or one left from other members, is never shown as the run's
 * figures.
 */
import { UserError } from '../errors.js';
import { readEvaluationIfAny, type EvaluationReport } from '../evaluation/evaluation-report.js';
import type { RunManifest } from './manifest.js';

/**
 * The run's evaluation, or why it cannot be used: `damaged` (it does not read as an
 * evaluation: not JSON, not a digits evaluation, incomplete) or `outdated` (an evaluation of
 * other members, another dataset, or of a training that has finished again since).
 */
export type RunEvaluation =
  | { kind: 'none' }
  | { kind: 'current'; report: EvaluationReport }
  | { kind: 'damaged' | 'outdated'; problem: string };

export async function readCurrentEvaluation(runDir: string, manifest: RunManifest): Promise<RunEvaluation> {
  let report: EvaluationReport | null;
  try {
    report = await readEvaluationIfAny(runDir);
  } catch (error) {
    if (error instanceof UserError) {
      const at = error.where?.line === undefined ? '' : ` at line ${error.where.line}, column ${error.where.column}`;
      return { kind: 'damaged', problem: `${error.message}${at}` };
    }
    throw error;
  }
  if (!report) return { kind: 'none' };
  const problem = evaluationMismatch(manifest, report);
  return problem ? { kind: 'outdated', problem } : { kind: 'current', report };
}

const list = (names: readonly string[]) => (names.length ? names.join(', ') : 'none');

/**
 * Why an evaluation is not of the run run.json describes, or null when it is. `evaluate`
 * scores every trained member of run.json on the dataset it records, after training
 * finished; so an evaluation is the run's when it names run.json's run, its members are
 * exactly run.json's trained members, its dataset fingerprint is run.json's, and it was made
 * after run.json's `finishedAt` (a run trained again, by `train --resume` say, finishes later
 * than its old evaluation). Timestamps are compared as written: a copied run keeps both.
 */
export function evaluationMismatch(manifest: RunManifest, report: EvaluationReport): string | null {
  if (typeof report.run === 'string' && report.run !== manifest.name) return `evaluation.json is of run ${report.run}; run.json is run ${manifest.name}`;
  const trained = manifest.members.filter((m) => m.ok && m.checkpoint).map((m) => m.name).sort();
  const evaluated = report.members.map((m) => m.name).sort();
  if (trained.length !== evaluated.length || trained.some((name, i) => name !== evaluated[i])) {
    return `evaluation.json is of members ${list(evaluated)}; run.json's trained members are ${list(trained)}`;
  }
  const fingerprint = report.dataset?.fingerprint;
  if (fingerprint !== undefined && fingerprint !== manifest.dataset?.fingerprint) {
    return `evaluation.json is of the dataset ${fingerprint}; run.json records ${manifest.dataset?.fingerprint}`;
  }
  if (manifest.finishedAt && typeof report.createdAt === 'string' && report.createdAt < manifest.finishedAt) {
    return `evaluation.json (${report.createdAt}) is older than the training recorded in run.json (finished ${manifest.finishedAt})`;
  }
  return null;
}
