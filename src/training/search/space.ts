/**
 * A search space over member recipes, read from JSON and validated strictly (an unknown key,
 * a wrong type or an empty range is an error naming the key, as ensemble files are), and
 * sampled with a seeded generator: trial i's draw depends only on the seed and i, so a
 * resumed search draws the same trials.
 *
 * Every hyperparameter is a constant, a list of choices, or a range
 * `{"min": a, "max": b, "log": true?}` (uniform, or log-uniform with "log"; whole numbers
 * for integer keys). See spaces/default.json and README "Search".
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { UserError, duplicateJsonKey, jsonPathLocation, jsonSyntaxError } from '../../errors.js';
import { closestName } from '../../closest-name.js';
import { createRandom, deriveSeed, type Random } from '../../data/random.js';
import { AUGMENTATION_KEYS, type AugmentationConfig, type AugmentationKey, augmentationValueProblem } from '../../model/augmentation-config.js';
import { PRESET_NAMES } from '../../model/preset-specs.js';
import { PACKAGE_ROOT } from '../../model/shipped.js';

export type Range = { min: number; max: number; log?: boolean };
export type Param<T> = T | T[] | (T extends number ? Range : never);

export const STARTS = ['noisy', 'clean', 'scratch'] as const;
export type Start = (typeof STARTS)[number];
export const OPTIMIZERS = ['adam', 'rmsprop', 'sgd'] as const;
export type Optimizer = (typeof OPTIMIZERS)[number];

export interface SearchSpace {
  preset: string[];
  start: Start[];
  optimizer: Optimizer[];
  learningRate: number[] | Range;
  /** with ASHA: the range of epochs (rungs from min to max); with random search: sampled */
  epochs: number[] | Range;
  batchSize: number[] | Range;
  labelSmoothing: number[] | Range;
  /** per-epoch exponential decay of the rate (1 = constant) */
  lrDecay: number[] | Range;
  augmentation: Partial<Record<(typeof AUGMENTATION_KEYS)[number], number[] | Range>>;
}

/** One trial's draw. */
export interface TrialParams {
  preset: string;
  start: Start;
  optimizer: Optimizer;
  learningRate: number;
  epochs: number;
  batchSize: number;
  labelSmoothing: number;
  lrDecay: number;
  augmentation: AugmentationConfig;
}

const TOP_KEYS = ['preset', 'start', 'optimizer', 'learningRate', 'epochs', 'batchSize', 'labelSmoothing', 'lrDecay', 'augmentation'] as const;
const INTEGER_KEYS = new Set(['epochs', 'batchSize', 'augmentation.pixelShift']);

class SpaceError extends UserError {
  constructor(
    message: string,
    /** the key as the message names it (`epochs`, `learningRate.min`, `batchSize[1]`), for its place in the file */
    readonly key: string,
    options: ConstructorParameters<typeof UserError>[1],
  ) {
    super(message, options);
  }
}

const SPACE_HINT = 'Fix the space file (README "Search" lists the keys; spaces/default.json is an example).';

function fail(key: string, message: string, file?: string): never {
  throw new SpaceError(`search space ${key}: ${message}`, key, { where: file ? { file } : { flag: 'space' }, hint: SPACE_HINT });
}

/** An unknown key, with the allowed key it is closest to (a typo) and the list. */
function unknownKey(key: string, typed: string, allowed: readonly string[], file?: string): never {
  const near = closestName(typed, allowed);
  fail(key, `unknown key (${near ? `did you mean "${near}"? ` : ''}allowed: ${allowed.join(', ')})`, file);
}

/** `augmentation.rotation`, `batchSize[1]`: the path of keys and indices `jsonPathLocation` takes. */
function keyPath(key: string): Array<string | number> {
  return key.split('.').flatMap((part) => {
    const [name, ...indices] = part.split('[');
    return [...(name ? [name] : []), ...indices.map((i) => Number(i.replace(']', '')))];
  });
}

/** The shipped checkpoint folder (relative to the package) a start means for a preset, or undefined for scratch. */
export function startCheckpoint(start: Start, preset: string): string | undefined {
  if (start === 'scratch') return undefined;
  return path.join('checkpoints', start === 'noisy' ? 'mnist-noisy' : 'mnist-clean', preset);
}

/**
 * Every shipped checkpoint of a start for a preset: `startCheckpoint` first, then its
 * independently pretrained siblings `<preset>-2`, `<preset>-3`, … (same recipe and validation
 * rows, other seeds: README "Checkpoints") in number order; only complete ones. Empty for
 * scratch; the first alone when siblings are missing or it is. Members cycle through them, so an ensemble is not one checkpoint many times over.
 */
export function startCheckpoints(start: Start, preset: string, root = PACKAGE_ROOT): string[] {
  const first = startCheckpoint(start, preset);
  if (first === undefined) return [];
  const folder = path.dirname(first);
  const number = (name: string): number => (name.startsWith(`${preset}-`) && /^[1-9]\d*$/.test(name.slice(preset.length + 1)) ? Number(name.slice(preset.length + 1)) : NaN);
  let names: string[] = [];
  try {
    names = readdirSync(path.join(root, folder));
  } catch {
    return [first];
  }
  const siblings = names
    .map((name) => ({ name, n: number(name) }))
    .filter(({ name, n }) => Number.isInteger(n) && existsSync(path.join(root, folder, name, 'COMPLETE')))
    .sort((a, b) => a.n - b.n)
    .map(({ name }) => path.join(folder, name));
  // Without the first (not shipped), the start is unavailable (`startAvailable`) and stays so.
  return existsSync(path.join(root, first, 'COMPLETE')) ? [first, ...siblings] : [first];
}

/** Whether a start exists for a preset (scratch always does; checkpoints when shipped). */
export function startAvailable(start: Start, preset: string, root = PACKAGE_ROOT): boolean {
  const checkpoint = startCheckpoint(start, preset);
  return checkpoint === undefined || existsSync(path.join(root, checkpoint, 'COMPLETE'));
}

function choices<T extends string>(value: unknown, key: string, allowed: readonly T[], file?: string): T[] {
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0) fail(key, 'must list at least one choice', file);
  for (const [i, v] of list.entries()) {
    if (typeof v !== 'string' || !allowed.includes(v as T)) fail(Array.isArray(value) ? `${key}[${i}]` : key, `must be one of ${allowed.join(', ')}, got ${JSON.stringify(v)}`, file);
  }
  return [...new Set(list as T[])];
}

function numeric(value: unknown, key: string, file: string | undefined, check: { min?: number; max?: number; positive?: boolean; problem?: (v: number) => string | undefined }): number[] | Range {
  const integer = INTEGER_KEYS.has(key);
  const ok = (v: unknown, where: string): number => {
    // (1e400 parses to Infinity, which JSON.stringify writes as null; a range without its max leaves it undefined)
    if (v === undefined) fail(where, 'is required', file);
    if (typeof v !== 'number' || !Number.isFinite(v)) fail(where, `must be a finite number, got ${typeof v === 'number' ? String(v) : JSON.stringify(v)}`, file);
    if (integer && !Number.isInteger(v)) fail(where, `must be a whole number, got ${v}`, file);
    if (check.positive && !(v > 0)) fail(where, `must be > 0, got ${v}`, file);
    if (check.min !== undefined && v < check.min) fail(where, `must be ≥ ${check.min}, got ${v}`, file);
    if (check.max !== undefined && v > check.max) fail(where, `must be ≤ ${check.max}, got ${v}`, file);
    const problem = check.problem?.(v);
    if (problem) fail(where, problem, file);
    return v;
  };
  if (typeof value === 'number') return [ok(value, key)];
  if (Array.isArray(value)) {
    if (value.length === 0) fail(key, 'must list at least one value', file);
    return value.map((v, i) => ok(v, `${key}[${i}]`));
  }
  if (typeof value === 'object' && value !== null) {
    const r = value as Record<string, unknown>;
    for (const k of Object.keys(r)) if (!['min', 'max', 'log'].includes(k)) fail(`${key}.${k}`, 'unknown key (a range has min, max and optionally log)', file);
    const min = ok(r.min, `${key}.min`);
    const max = ok(r.max, `${key}.max`);
    if (max < min) fail(key, `max (${max}) is below min (${min})`, file);
    if (r.log !== undefined && typeof r.log !== 'boolean') fail(`${key}.log`, `must be true or false, got ${JSON.stringify(r.log)}`, file);
    if (r.log && !(min > 0)) fail(`${key}.min`, 'a log-uniform range needs min > 0', file);
    return { min, max, ...(r.log ? { log: true } : {}) };
  }
  return fail(key, `must be a number, a list of numbers or a range {"min":…,"max":…}, got ${JSON.stringify(value)}`, file);
}

/** Parses and validates a space (the parsed JSON of a space file). */
export function parseSearchSpace(raw: unknown, file?: string): SearchSpace {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('(top level)', 'must be an object', file);
  const r = raw as Record<string, unknown>;
  // (an ensemble file given as --space is named as one, not by its first unknown key)
  if ('members' in r) fail('members', 'is an ensemble file\'s key: this file is an ensemble (`digits train --ensemble` trains it), not a search space (the package\'s spaces/default.json is one)', file);
  // ($schema: an editor's pointer, as ensemble files may carry)
  for (const key of Object.keys(r)) if (key !== '$schema' && !(TOP_KEYS as readonly string[]).includes(key)) unknownKey(key, key, TOP_KEYS, file);
  if (r.preset === undefined) fail('preset', `is required (one or a list of ${PRESET_NAMES.join(', ')})`, file);
  const preset = choices(r.preset, 'preset', PRESET_NAMES, file);
  const start = choices(r.start ?? 'scratch', 'start', STARTS, file);
  for (const p of preset) {
    for (const s of start) {
      if (!startAvailable(s, p)) fail('start', `preset ${p} has no shipped ${s} checkpoint (${startCheckpoint(s, p)})`, file);
    }
  }
  const augmentation: SearchSpace['augmentation'] = {};
  if (r.augmentation !== undefined) {
    if (typeof r.augmentation !== 'object' || r.augmentation === null || Array.isArray(r.augmentation)) fail('augmentation', 'must be an object of augmentation ranges', file);
    for (const [k, v] of Object.entries(r.augmentation as Record<string, unknown>)) {
      if (!(AUGMENTATION_KEYS as readonly string[]).includes(k)) unknownKey(`augmentation.${k}`, k, AUGMENTATION_KEYS, file);
      augmentation[k as AugmentationKey] = numeric(v, `augmentation.${k}`, file, { problem: (x) => augmentationValueProblem(k as AugmentationKey, x) });
    }
  }
  // Every draw must be a valid augmentation: the noise floor never above its top (each trial's
  // draw is fixed by the seed, so one such draw stopped the search at the same trial every time).
  if (augmentation.backgroundNoiseMin !== undefined) {
    const floor = maxOf(augmentation.backgroundNoiseMin);
    const top = augmentation.backgroundNoise === undefined ? 0 : minOf(augmentation.backgroundNoise);
    if (floor > top) {
      fail('augmentation.backgroundNoiseMin', `can be drawn above backgroundNoise: its largest value (${floor}) must be at most backgroundNoise's smallest (${top}), or a trial gets a noise floor above its top`, file);
    }
  }
  if (r.learningRate === undefined) fail('learningRate', 'is required (for example {"min":1e-4,"max":3e-3,"log":true})', file);
  if (r.epochs === undefined) fail('epochs', 'is required (for example {"min":1,"max":9})', file);
  return {
    preset,
    start,
    optimizer: choices(r.optimizer ?? 'adam', 'optimizer', OPTIMIZERS, file),
    learningRate: numeric(r.learningRate, 'learningRate', file, { positive: true, max: 10 }),
    epochs: numeric(r.epochs, 'epochs', file, { min: 1, max: 1000 }),
    batchSize: numeric(r.batchSize ?? 64, 'batchSize', file, { min: 1, max: 4096 }),
    labelSmoothing: numeric(r.labelSmoothing ?? 0, 'labelSmoothing', file, { min: 0, max: 0.5 }),
    lrDecay: numeric(r.lrDecay ?? 1, 'lrDecay', file, { positive: true, max: 1 }),
    augmentation,
  };
}

/** Parses a space file's text. */
export function searchSpaceFromJson(text: string, file?: string): SearchSpace {
  if (text.startsWith('\ufeff')) text = text.slice(1);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    const { message, line, column } = jsonSyntaxError(text, (error as Error).message);
    throw new UserError(`the space file is not valid JSON: ${message}`, { where: { file, line, column, flag: 'space' }, hint: 'Fix the JSON at that line and column (a missing comma or quote, a trailing comma).' });
  }
  // JSON.parse keeps the last of a key given twice: refused, as the file says two things of it (session 36).
  const duplicate = duplicateJsonKey(text);
  if (duplicate) {
    throw new UserError(`the space file gives the key ${JSON.stringify(duplicate.key)} twice in one object`, { where: { file, line: duplicate.line, column: duplicate.column, flag: 'space' }, hint: 'Keep one of them (the file would take the last).' });
  }
  try {
    return parseSearchSpace(raw, file);
  } catch (error) {
    // The key's line and column in the file (until session 48 only syntax errors and keys given
    // twice had them, where an ensemble file's every error has).
    if (!(error instanceof SpaceError) || !file) throw error;
    const at = jsonPathLocation(text, keyPath(error.key));
    if (!at) throw error;
    throw new SpaceError(error.message, error.key, { where: { file, ...at }, hint: SPACE_HINT });
  }
}

/** A draw from a range: uniform, or log-uniform (uniform in log space) with `log`. */
export function sampleRange(range: Range, rnd: Random, integer = false): number {
  if (integer) {
    if (range.log) {
      const lo = Math.log(range.min);
      const hi = Math.log(range.max + 1);
      return Math.min(range.max, Math.floor(Math.exp(lo + (hi - lo) * rnd.next())));
    }
    return range.min + rnd.int(range.max - range.min + 1);
  }
  if (range.log) return Math.exp(Math.log(range.min) + (Math.log(range.max) - Math.log(range.min)) * rnd.next());
  return range.min + (range.max - range.min) * rnd.next();
}

function pick<T>(values: T[] | Range, rnd: Random, integer = false): T | number {
  if (Array.isArray(values)) return values[rnd.int(values.length)]!;
  return sampleRange(values, rnd, integer);
}

/** The largest value a numeric parameter can take (the top rung of ASHA for epochs). */
export function maxOf(values: number[] | Range): number {
  return Array.isArray(values) ? Math.max(...values) : values.max;
}
export function minOf(values: number[] | Range): number {
  return Array.isArray(values) ? Math.min(...values) : values.min;
}

/** Trial `index`'s draw: a function of (seed, index) only, so resuming draws the same trials. */
export function sampleTrial(space: SearchSpace, seed: number, index: number): TrialParams {
  const rnd = createRandom(deriveSeed(seed, 'search-trial', index));
  const augmentation: AugmentationConfig = {};
  for (const [k, v] of Object.entries(space.augmentation)) {
    const value = pick(v!, rnd, INTEGER_KEYS.has(`augmentation.${k}`)) as number;
    if (value !== 0) augmentation[k as keyof AugmentationConfig] = Number(value.toPrecision(4));
  }
  return {
    preset: pick(space.preset, rnd) as string,
    start: pick(space.start, rnd) as Start,
    optimizer: pick(space.optimizer, rnd) as Optimizer,
    learningRate: Number((pick(space.learningRate, rnd) as number).toPrecision(3)),
    epochs: pick(space.epochs, rnd, true) as number,
    batchSize: pick(space.batchSize, rnd, true) as number,
    labelSmoothing: Number((pick(space.labelSmoothing, rnd) as number).toFixed(3)),
    lrDecay: Number((pick(space.lrDecay, rnd) as number).toFixed(3)),
    augmentation,
  };
}

/** A trial's draw as a member entry of an ensemble file (`memberFromInput` reads it). */
export function trialMember(params: TrialParams, name: string, seed: number, epochs = params.epochs): Record<string, unknown> {
  const init = startCheckpoint(params.start, params.preset);
  return {
    name,
    preset: params.preset,
    optimizer: params.optimizer,
    learningRate: params.learningRate,
    schedule: params.lrDecay < 1 ? { kind: 'exponential', decay: params.lrDecay } : { kind: 'constant' },
    ...(params.labelSmoothing > 0 ? { labelSmoothing: params.labelSmoothing } : {}),
    augmentation: params.augmentation,
    epochs,
    batchSize: params.batchSize,
    seed,
    ...(init ? { init } : {}),
  };
}
