/**
 * The saved evaluation of a run, `<run>/evaluation.json`: written once by `digits evaluate`,
 * read by the dashboard and the HTML report (which therefore open instantly, without
 * running any model).
 *
 * Example positions in a Metrics' `mostConfused[].examples` index the row list that
 * Metrics was computed on: `heldOutRows` for the ensemble, the member's `validationRows`
 * for a member, test rows in order for `test`.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { EpochRecord } from '../training/train-member.js';
import { UserError } from '../errors.js';
import type { Metrics } from './metrics.js';

export const EVALUATION_FILE = 'evaluation.json';
export const EVALUATION_FORMAT = 'digits-evaluation';
export const EVALUATION_VERSION = 1;

export interface MemberEvaluation {
  name: string;
  preset: string;
  checkpoint: string;
  rows: number;
  metrics: Metrics;
  tta?: Metrics;
  history: EpochRecord[];
  /**
   * The training rows (dataset row indices) the member's metrics were computed on, in that
   * order: its example positions index this list. Optional; without it the dashboard lists
   * a member's misread positions but cannot draw the digits.
   */
  validationRows?: number[];
  /** The engine and number format the member's predictions were computed in (int8 figures differ from training's fp32). */
  runtime?: { engine: 'onnx' | 'tfjs'; precision: 'fp32' | 'int8' };
}

export interface EvaluationReport {
  format: 'digits-evaluation';
  version: 1;
  run: string;
  createdAt: string;
  dataset: { dir: string; fingerprint: string };
  /** training rows no member trained on (ensemble metrics are computed on these only) */
  heldOutRows: number[];
  members: MemberEvaluation[];
  ensemble: { soft: Metrics; hard: Metrics; softTta?: Metrics; hardTta?: Metrics; weights?: number[]; ttaTransforms?: string[] };
  test?: { answers: string; rows: number; soft: Metrics; softTta?: Metrics; bestMember: { name: string; metrics: Metrics } };
}

/** Writes `<runDir>/evaluation.json` atomically (temp file + rename); returns its path. */
export async function writeEvaluationReport(runDir: string, report: EvaluationReport): Promise<string> {
  const file = path.join(runDir, EVALUATION_FILE);
  const tmp = `${file}.tmp-${process.pid}-${Date.now()}`;
  await writeFile(tmp, `${JSON.stringify(report)}\n`);
  await rename(tmp, file);
  return file;
}

/** Reads and checks `<runDir>/evaluation.json`; a missing or foreign file is a UserError. */
export async function readEvaluationReport(runDir: string): Promise<EvaluationReport> {
  const file = path.join(path.resolve(runDir), EVALUATION_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new UserError(`the run ${runDir} has not been evaluated`, {
      where: { file },
      hint: `Evaluate it first: digits evaluate --run ${runDir}`,
    });
  }
  let report: EvaluationReport;
  try {
    report = JSON.parse(text) as EvaluationReport;
  } catch (error) {
    throw new UserError(`${EVALUATION_FILE} is not valid JSON (${(error as Error).message})`, { where: { file }, hint: `Re-run digits evaluate --run ${runDir}.` });
  }
  if (report?.format !== EVALUATION_FORMAT) {
    throw new UserError(`${file} is not a digits evaluation`, { where: { file }, hint: `Re-run digits evaluate --run ${runDir}.` });
  }
  if (report.version !== EVALUATION_VERSION) {
    throw new UserError(`${file} has format version ${report.version}; this digits reads ${EVALUATION_VERSION}`, { where: { file }, hint: `Re-run digits evaluate --run ${runDir}.` });
  }
  if (!Array.isArray(report.members) || !Array.isArray(report.heldOutRows) || !report.ensemble?.soft || !report.ensemble?.hard) {
    throw new UserError(`${file} is incomplete (members, heldOutRows or ensemble metrics missing)`, { where: { file }, hint: `Re-run digits evaluate --run ${runDir}.` });
  }
  return report;
}

