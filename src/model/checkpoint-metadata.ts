/**
 * A checkpoint's `metadata.json`: what the model is, how it was made and how to feed it,
 * and the field-by-field check every load runs on it (the error names the field).
 * `checkpoint.ts` writes and reads the folder; this file owns the metadata format.
 */

import path from 'node:path';
import { UserError } from '../errors.js';

export const MODEL_JSON = 'model.json';
export const WEIGHTS_BIN = 'weights.bin';
export const METADATA_JSON = 'metadata.json';

/** How pixels were scaled before they reached the first layer; serving must repeat it. */
export interface CheckpointPreprocessing {
  scale: '0-1' | '-1-1' | 'standardize';
  /** Used with `scale: 'standardize'`. */
  mean?: number;
  std?: number;
  /** Images were zero-padded to this side length (e.g. 28 → 32). */
  padTo?: number;
}

const SCALES: ReadonlySet<string> = new Set(['0-1', '-1-1', 'standardize']);

/**
 * A member's hyperparameters as a checkpoint in `dir` records them: the checkpoint it started
 * from (`init`) relative to `dir`, as every path a checkpoint or run folder keeps, so the
 * record does not name where the project happened to live.
 */
export function recordedHyperparameters<T extends { init?: string }>(config: T, dir: string): T {
  return config.init ? { ...config, init: path.relative(path.resolve(dir), path.resolve(config.init)) || '.' } : config;
}

/** `metadata.json`: what a checkpoint is, how it was made and how to feed it. */
export interface CheckpointMetadata {
  /** The preset the model was built from. */
  preset: string;
  /** The preset's values after overrides, as trained. */
  hyperparameters: Record<string, unknown>;
  preprocessing: CheckpointPreprocessing;
  /** How images are laid out (e.g. 'row-major', 'transposed'); predict must match it. */
  orientation: string;
  seed: number;
  /** Fingerprint of the training data, or null when it is not known. */
  dataFingerprint: string | null;
  metrics: Record<string, number>;
  /** The command line that made the checkpoint (the one that started it, when it was resumed). */
  command: string;
  /** The command lines that resumed it, in order (a resumed pretraining; none otherwise). */
  resumedBy?: string[];
  /** `tf.version.tfjs` at save time. */
  tfjsVersion: string;
  /** This workbench's package.json version at save time. */
  workbenchVersion: string;
  /** ISO 8601 time of the save. */
  createdAt: string;
  /** sha256 (hex) of the files the model is made of. */
  files: { 'model.json': string; 'weights.bin': string };
}

/** What a caller provides; versions, hashes and (unless given) the time are filled in on save. */
export type CheckpointMetadataInput = Omit<CheckpointMetadata, 'tfjsVersion' | 'workbenchVersion' | 'createdAt' | 'files'> & {
  createdAt?: string;
};

/**
 * A checkpoint on disk that cannot be used as it is: says which file, what is wrong and what
 * to try. A user error (exit 2, the file named), not a bug: damaged or half-copied folders happen.
 */
export class CheckpointError extends UserError {
  readonly file: string;
  override readonly hint: string;

  constructor(message: string, details: { file: string; hint: string }) {
    super(message, { where: { file: details.file }, hint: details.hint });
    this.name = 'CheckpointError';
    this.file = details.file;
    this.hint = details.hint;
  }
}

export const HINT_RESAVE = 're-run the training that wrote it, or restore the folder from a copy';

/**
 * Checks `metadata.json` field by field; the error names the field. Unknown fields are kept,
 * so a checkpoint from a newer workbench still loads.
 */
export function validateMetadata(value: unknown, file: string, hint = HINT_RESAVE): CheckpointMetadata {
  const fail = (field: string, expected: string, found: unknown): never => {
    throw new CheckpointError(`${file}: "${field}" must be ${expected} (found ${describe(found)})`, { file, hint });
  };
  if (!isRecord(value)) return fail('(root)', 'an object', value);
  for (const field of ['preset', 'orientation', 'command', 'tfjsVersion', 'workbenchVersion'] as const) {
    if (typeof value[field] !== 'string') fail(field, 'a string', value[field]);
  }
  if (!isRecord(value.hyperparameters)) fail('hyperparameters', 'an object', value.hyperparameters);
  if (!isFiniteNumber(value.seed)) fail('seed', 'a finite number', value.seed);
  if (value.dataFingerprint !== null && typeof value.dataFingerprint !== 'string') {
    fail('dataFingerprint', 'a string or null', value.dataFingerprint);
  }
  if (typeof value.createdAt !== 'string' || Number.isNaN(Date.parse(value.createdAt))) {
    fail('createdAt', 'an ISO 8601 time', value.createdAt);
  }

  const { preprocessing } = value;
  if (!isRecord(preprocessing)) return fail('preprocessing', 'an object', preprocessing);
  if (typeof preprocessing.scale !== 'string' || !SCALES.has(preprocessing.scale)) {
    fail('preprocessing.scale', `one of ${[...SCALES].map((s) => `'${s}'`).join(', ')}`, preprocessing.scale);
  }
  for (const field of ['mean', 'std', 'padTo'] as const) {
    if (preprocessing[field] !== undefined && !isFiniteNumber(preprocessing[field])) {
      fail(`preprocessing.${field}`, 'a finite number when given', preprocessing[field]);
    }
  }

  const { metrics } = value;
  if (!isRecord(metrics)) return fail('metrics', 'an object', metrics);
  for (const [name, metric] of Object.entries(metrics)) {
    if (!isFiniteNumber(metric)) fail(`metrics.${name}`, 'a finite number', metric);
  }

  const { files } = value;
  if (!isRecord(files)) return fail('files', 'an object', files);
  for (const name of [MODEL_JSON, WEIGHTS_BIN]) {
    const hash = files[name];
    if (typeof hash !== 'string' || !/^[0-9a-f]{64}$/.test(hash)) fail(`files.${name}`, 'a sha256 in hex', hash);
  }
  return value as unknown as CheckpointMetadata;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'number') return String(value);
  return JSON.stringify(value) ?? String(value);
}
