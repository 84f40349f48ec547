/**
 * Whether a run's evaluation.json is the evaluation of the run as it is now: read through
 * the checks `dashboard` and `submit` use (`readEvaluationIfAny`), then matched against
 * run.json, so a damaged file, or one left from other members, is never shown as the run's
 * figures.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { UserError } from '../errors.js';
import { checkpointIdentity } from '../model/checkpoint.js';
import { readEvaluationIfAny, type EvaluationReport } from '../evaluation/evaluation-report.js';
import { shellArg } from '../data/format.js';
import { TTA_EDGE_FILL_SINCE } from '../ensemble/tta.js';
/**
 * What these checks read of run.json (`RunManifest` in manifest.ts, which uses them: declared
 * here so the two modules do not import each other).
 */
export interface RunOfEvaluation {
  name: string;
  members: Array<{ name: string; ok: boolean; checkpoint?: string }>;
  dataset?: { fingerprint: string };
}

/**
 * The run's evaluation, or why it cannot be used: `damaged` (it does not read as an
 * evaluation: not JSON, not a digits evaluation, incomplete) or `outdated` (an evaluation of
 * other members, another dataset, or of a training that has finished again since).
 */
export type RunEvaluation =
  | { kind: 'none' }
  | { kind: 'current'; report: EvaluationReport }
  | { kind: 'damaged' | 'outdated'; problem: string };

export async function readCurrentEvaluation(runDir: string, manifest: RunOfEvaluation): Promise<RunEvaluation> {
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
  const problem = evaluationMismatch(manifest, report) ?? (await checkpointsNewer(runDir, manifest, report))?.problem;
  return problem ? { kind: 'outdated', problem } : { kind: 'current', report };
}

/**
 * A member whose checkpoint was saved again after the evaluation was made (a resume that
 * trained it further and found a better epoch): its evaluated figures are of weights it no
 * longer has. Each evaluated member records its checkpoint's identity (the hashes its `COMPLETE`
 * marker lists), compared here by content: a copied run folder (new file times) stays current,
 * and writers on several machines need not share a clock. Evaluations written before the
 * identities existed are judged by the time of each `COMPLETE` marker (written last by every save).
 */
async function checkpointsNewer(runDir: string, manifest: RunOfEvaluation, report: EvaluationReport): Promise<Staleness | null> {
  const evaluated = new Map(report.members.map((m) => [m.name, m]));
  const byContent = report.members.length > 0 && report.members.every((m) => typeof m.identity === 'string');
  for (const member of manifest.members) {
    if (!member.ok || !member.checkpoint) continue;
    const dir = path.join(runDir, member.checkpoint);
    if (byContent) {
      const read = await checkpointIdentity(dir).then(
        (identity) => ({ identity, problem: null }),
        (error: unknown) => ({ identity: null, problem: error instanceof Error ? error.message : String(error) }),
      );
      // a checkpoint that cannot be read now is not the one evaluated (until session 43 it
      // counted as unchanged, so `runs` and `report` showed the figures of a deleted member)
      if (read.problem !== null) return { problem: `member ${member.name}'s checkpoint cannot be read now (${read.problem})`, restore: member.checkpoint };
      const now = read.identity;
      if (now !== evaluated.get(member.name)?.identity) return { problem: `member ${member.name}'s checkpoint was saved again after evaluation.json was made (${report.createdAt})` };
      continue;
    }
    if (typeof report.createdAt !== 'string') return null;
    const saved = await stat(path.join(dir, 'COMPLETE')).catch(() => null);
    if (!saved && !(await stat(path.join(dir, 'model.json')).catch(() => null))) return { problem: `member ${member.name}'s checkpoint is gone (no ${path.join(member.checkpoint, 'model.json')})`, restore: member.checkpoint };
    if (saved && saved.mtimeMs > Date.parse(report.createdAt) + 1000) return { problem: `member ${member.name}'s checkpoint was saved (${saved.mtime.toISOString()}) after evaluation.json was made (${report.createdAt})` };
  }
  return null;
}

/**
 * The checks of `readCurrentEvaluation` for a command about to use the figures (dashboard,
 * report, submit): an evaluation of other members, data or weights is refused with the command
 * that makes a current one.
 */
export async function assertCurrentEvaluation(runDir: string, manifest: RunOfEvaluation, report: EvaluationReport, verb: string): Promise<void> {
  const mismatch = evaluationMismatch(manifest, report);
  const stale = mismatch ? { problem: mismatch } : await checkpointsNewer(runDir, manifest, report);
  if (stale) {
    throw new UserError(`cannot ${verb} run ${manifest.name} from its evaluation.json: it is not of the run as it is now (${stale.problem})`, {
      where: { file: path.join(runDir, 'evaluation.json') },
      // a member that cannot be read cannot be evaluated again either: it has to come back first
      hint: stale.restore
        ? `Restore ${stale.restore} in ${runDir} (every trained member of run.json is part of the run), or train the run again.`
        : `Evaluate it again: digits evaluate --run ${shellArg(path.relative(process.cwd(), runDir) || runDir)}`,
    });
  }
}

/** Why an evaluation's figures are not of the members' weights now; `restore`: the checkpoint (relative to the run) that is gone or unreadable. */
interface Staleness {
  problem: string;
  restore?: string;
}

const list = (names: readonly string[]) => (names.length ? names.join(', ') : 'none');

/**
 * Why an evaluation is not of the run run.json describes, or null when it is. `evaluate`
 * scores every trained member of run.json on the dataset it records, after training
 * finished; so an evaluation is the run's when it names run.json's run, its members are
 * exactly run.json's trained members and its dataset fingerprint is run.json's; and (checked
 * apart, `checkpointsNewer`) no member's checkpoint was saved after it. (Until session 34 the
 * rule compared run.json's `finishedAt`, which every resume moves even when it trains nothing.)
 */
export function evaluationMismatch(manifest: RunOfEvaluation, report: EvaluationReport): string | null {
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
  // TTA measured by a digits whose shifts filled what they uncover black: its figures and its
  // choice are not of the TTA a submission or the server uses now (until session 44 they were
  // reused as if they were: a submission with today's TTA carried the old held-out figure).
  const made = typeof report.createdAt === 'string' ? Date.parse(report.createdAt) : NaN;
  if ((report.ensemble?.ttaTransforms?.length ?? 0) > 1 && report.ensemble.ttaFill === undefined && made < TTA_EDGE_FILL_SINCE) {
    return `evaluation.json (${report.createdAt}) measured the TTA of a digits before 2026-12-02, whose shifts filled the rows and columns they uncover black; today's repeat the image's edge, so its TTA figures and its choice of TTA are not of the TTA a submission uses now`;
  }
  return null;
}
