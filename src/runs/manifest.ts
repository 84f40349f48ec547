/**
 * The run-folder format: `run.json` (what was trained, on which data, how it went) and how
 * to find runs. Everything downstream (evaluate, submit, dashboard, serve) reads a run
 * through this module instead of flags.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { UserError } from '../errors.js';
import type { EnsembleSpec } from '../ensemble/ensemble-spec.js';
import { EVALUATION_FILE } from '../evaluation/evaluation-report.js';

export async function readRunManifest(runDir: string): Promise<RunManifest> {
  const file = path.join(runDir, RUN_MANIFEST);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new UserError(`no training run in ${runDir}`, { where: { file }, hint: 'Train one with `digits train --ensemble quick --data <competition>`.' });
  }
  return JSON.parse(text) as RunManifest;
}
export interface MemberOutcome {
  name: string;
  preset: string;
  ok: boolean;
  /** the member's best checkpoint, relative to the run folder */
  checkpoint?: string;
  split: { name: string; fold: number };
  bestEpoch?: number;
  bestValAcc?: number;
  bestValLoss?: number;
  epochs?: number;
  error?: string;
}

export interface RunManifest {
  format: 'digits-run';
  version: 1;
  name: string;
  ensemble: EnsembleSpec;
  dataset: { dir: string; fingerprint: string };
  createdAt: string;
  finishedAt: string;
  seconds: number;
  command: string;
  members: MemberOutcome[];
  /** corrections added to training (`digits train --extra`) */
  extra?: { file: string; rows: number; sha256: string };
}

export const RUN_MANIFEST = 'run.json';


/**
 * The most recently evaluated run under `runsDir`: the sub-folder whose evaluation.json
 * was written last. A UserError when there is none.
 */
/** The run folder under `runsDir` whose `file` (run.json, evaluation.json, …) is newest, or null. */
export async function newestRunWith(runsDir: string, file: string): Promise<string | null> {
  const root = path.resolve(runsDir);
  const entries = await readdir(root, { withFileTypes: true }).catch(() => []);
  let best: { dir: string; mtimeMs: number } | null = null;
  for (const entry of entries) {
    if (!entry.isDirectory()) continue;
    const dir = path.join(root, entry.name);
    const info = await stat(path.join(dir, file)).catch(() => null);
    if (info?.isFile() && (!best || info.mtimeMs > best.mtimeMs)) best = { dir, mtimeMs: info.mtimeMs };
  }
  return best?.dir ?? null;
}

export async function latestEvaluatedRun(runsDir: string): Promise<string> {
  const dir = await newestRunWith(runsDir, EVALUATION_FILE);
  if (!dir) {
    const root = path.resolve(runsDir);
    throw new UserError(`no evaluated run under ${root}`, {
      where: { file: root, flag: 'run' },
      hint: 'Pass --run <run folder>, or evaluate a trained run first: digits evaluate --run runs/<name>.',
    });
  }
  return dir;
}

