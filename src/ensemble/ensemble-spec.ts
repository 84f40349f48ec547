/**
 * Ensembles as data: built-in presets (`quick`, `full`) and JSON files, validated
 * strictly (an unknown key or a wrong type is an error naming it, after nanoGPT's
 * configurator). A member is a preset plus overrides of its recipe.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { UserError } from '../errors.js';
import { AUGMENTATION_KEYS, type AugmentationConfig } from '../model/augment.js';
import { PRESET_NAMES, getPreset } from '../model/presets.js';
import { PACKAGE_ROOT } from '../model/shipped.js';
import type { MemberConfig, Schedule } from '../training/train-member.js';

export type ValidationSpec =
  /** every member holds out the same stratified rows (ensemble metrics are honest on them) */
  | { kind: 'shared'; fraction: number; seed: number }
  /** each member holds out its own stratified rows, seeded by the member (Deotte-style bagging) */
  | { kind: 'bagged'; fraction: number }
  /**
   * k-fold cross-validation: each member entry (a recipe) is trained k times, once per fold
   * of one stratified k-fold split (`kfold-<k>-seed<seed>`, or a split saved by
   * `digits data split --folds` when `split` names it); every training row is validated on
   * exactly once per recipe, by the fold member that did not train on it.
   */
  | { kind: 'kfold'; folds: number; seed: number; split?: string };

export interface EnsembleSpec {
  name: string;
  description: string;
  validation: ValidationSpec;
  members: MemberConfig[];
}

/** What a member entry may say; everything but `preset` has a default. */
export type MemberInput = Partial<MemberConfig> & { preset: string };

const MEMBER_TYPES: Record<keyof MemberConfig, 'string' | 'number' | 'object'> = {
  name: 'string',
  preset: 'string',
  optimizer: 'string',
  learningRate: 'number',
  momentum: 'number',
  schedule: 'object',
  reduceLROnPlateau: 'object',
  earlyStopping: 'object',
  labelSmoothing: 'number',
  l2: 'number',
  augmentation: 'object',
  epochs: 'number',
  batchSize: 'number',
  seed: 'number',
  init: 'string',
  freezeUpTo: 'string',
};

class SpecError extends UserError {}

function fail(where: string, message: string, file?: string): never {
  throw new SpecError(`${where}: ${message}`, {
    where: file ? { file } : { flag: 'ensemble' },
    hint: 'Fix the ensemble file (see README "Ensembles" for the keys), or use a built-in ensemble: quick, full.',
  });
}

function checkKeys(value: Record<string, unknown>, allowed: readonly string[], where: string, file?: string): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) fail(`${where}.${key}`, `unknown key (allowed: ${allowed.join(', ')})`, file);
  }
}

function checkSchedule(value: unknown, where: string, file?: string): Schedule {
  if (typeof value !== 'object' || value === null) fail(where, 'must be an object like {"kind":"exponential","decay":0.9}', file);
  const s = value as Record<string, unknown>;
  if (s.kind === 'constant') return checkKeys(s, ['kind'], where, file), { kind: 'constant' };
  if (s.kind === 'exponential') {
    checkKeys(s, ['kind', 'decay'], where, file);
    if (typeof s.decay !== 'number' || !(s.decay > 0 && s.decay <= 1)) fail(`${where}.decay`, 'must be a number in (0, 1]', file);
    return { kind: 'exponential', decay: s.decay };
  }
  if (s.kind === 'step') {
    checkKeys(s, ['kind', 'every', 'factor'], where, file);
    if (typeof s.every !== 'number' || !Number.isInteger(s.every) || s.every < 1) fail(`${where}.every`, 'must be a whole number ≥ 1', file);
    if (typeof s.factor !== 'number' || !(s.factor > 0 && s.factor <= 1)) fail(`${where}.factor`, 'must be a number in (0, 1]', file);
    return { kind: 'step', every: s.every, factor: s.factor };
  }
  return fail(`${where}.kind`, `must be "constant", "exponential" or "step", got ${JSON.stringify(s.kind)}`, file);
}

/** Fills a member's defaults from its preset's recipe and checks every key and type. */
export function memberFromInput(input: Record<string, unknown>, index: number, file?: string): MemberConfig {
  const where = `members[${index}]`;
  checkKeys(input, Object.keys(MEMBER_TYPES), where, file);
  for (const [key, type] of Object.entries(MEMBER_TYPES)) {
    const v = input[key];
    if (v === undefined) continue;
    if (type === 'object' ? typeof v !== 'object' || v === null || Array.isArray(v) : typeof v !== type) {
      fail(`${where}.${key}`, `must be a ${type}, got ${JSON.stringify(v)}`, file);
    }
    if (type === 'number' && !Number.isFinite(v as number)) fail(`${where}.${key}`, `must be a finite number, got ${v}`, file);
  }
  if (typeof input.preset !== 'string') fail(`${where}.preset`, `is required (one of ${PRESET_NAMES.join(', ')})`, file);
  if (!PRESET_NAMES.includes(input.preset)) fail(`${where}.preset`, `unknown preset ${JSON.stringify(input.preset)} (known: ${PRESET_NAMES.join(', ')})`, file);
  const recipe = getPreset(input.preset).recipe;
  if (input.optimizer !== undefined && !['adam', 'rmsprop', 'sgd'].includes(input.optimizer as string)) fail(`${where}.optimizer`, 'must be "adam", "rmsprop" or "sgd"', file);
  for (const key of ['epochs', 'batchSize'] as const) {
    const v = input[key];
    if (v !== undefined && (!Number.isInteger(v) || (v as number) < 1)) fail(`${where}.${key}`, `must be a whole number ≥ 1, got ${v}`, file);
  }
  const augmentation = (input.augmentation ?? recipeAugmentation(recipe.augmentation)) as Record<string, unknown>;
  checkKeys(augmentation, AUGMENTATION_KEYS, `${where}.augmentation`, file);
  for (const [k, v] of Object.entries(augmentation)) {
    if (typeof v !== 'number' || !(v >= 0)) fail(`${where}.augmentation.${k}`, `must be a number ≥ 0, got ${JSON.stringify(v)}`, file);
  }
  if (input.l2 !== undefined && input.init !== undefined) fail(`${where}.l2`, 'applies to models built fresh; a member with "init" keeps the regularisers of its checkpoint', file);
  if (input.reduceLROnPlateau !== undefined) checkKeys(input.reduceLROnPlateau as Record<string, unknown>, ['factor', 'patience', 'minLearningRate'], `${where}.reduceLROnPlateau`, file);
  if (input.earlyStopping !== undefined) checkKeys(input.earlyStopping as Record<string, unknown>, ['patience'], `${where}.earlyStopping`, file);
  const seed = (input.seed as number | undefined) ?? 1000 + index;
  return {
    name: (input.name as string | undefined) ?? `${input.preset}-${index + 1}`,
    preset: input.preset,
    optimizer: (input.optimizer as MemberConfig['optimizer'] | undefined) ?? recipe.optimizer,
    learningRate: (input.learningRate as number | undefined) ?? recipe.learningRate,
    momentum: input.momentum as number | undefined,
    schedule: input.schedule === undefined ? (recipe.lrDecay ? { kind: 'exponential', decay: recipe.lrDecay } : { kind: 'constant' }) : checkSchedule(input.schedule, `${where}.schedule`, file),
    reduceLROnPlateau: input.reduceLROnPlateau as MemberConfig['reduceLROnPlateau'],
    earlyStopping: input.earlyStopping as MemberConfig['earlyStopping'],
    labelSmoothing: input.labelSmoothing as number | undefined,
    l2: input.l2 as number | undefined,
    augmentation: augmentation as AugmentationConfig,
    epochs: (input.epochs as number | undefined) ?? recipe.epochs,
    batchSize: (input.batchSize as number | undefined) ?? recipe.batchSize,
    seed,
    init: input.init as string | undefined,
    freezeUpTo: input.freezeUpTo as string | undefined,
  };
}

function recipeAugmentation(a: { rotation?: number; shift?: number; zoom?: number } | undefined): AugmentationConfig {
  if (!a) return {};
  const out: AugmentationConfig = { rotation: a.rotation, widthShift: a.shift, heightShift: a.shift, zoom: a.zoom };
  for (const key of AUGMENTATION_KEYS) if (out[key] === undefined) delete out[key];
  return out;
}

function validationFrom(value: unknown, file?: string): ValidationSpec {
  if (typeof value !== 'object' || value === null) fail('validation', 'must be an object like {"kind":"shared","fraction":0.1,"seed":42} or {"kind":"kfold","folds":5}', file);
  const v = value as Record<string, unknown>;
  if (v.seed !== undefined && !Number.isInteger(v.seed)) fail('validation.seed', 'must be a whole number', file);
  if (v.kind === 'kfold') {
    checkKeys(v, ['kind', 'folds', 'seed', 'split'], 'validation', file);
    if (v.split !== undefined && typeof v.split !== 'string') fail('validation.split', 'must be the name of a split saved by `digits data split --folds`', file);
    if (v.split === undefined && v.folds === undefined) fail('validation.folds', 'is required (a whole number ≥ 2), unless "split" names a saved k-fold split', file);
    if (v.folds !== undefined && (!Number.isInteger(v.folds) || (v.folds as number) < 2)) fail('validation.folds', `must be a whole number ≥ 2, got ${JSON.stringify(v.folds)}`, file);
    return { kind: 'kfold', folds: (v.folds as number | undefined) ?? 0, seed: (v.seed as number | undefined) ?? 42, ...(v.split !== undefined ? { split: v.split as string } : {}) };
  }
  if (typeof v.fraction !== 'number' || !(v.fraction > 0 && v.fraction < 1)) fail('validation.fraction', 'must be a number in (0, 1)', file);
  if (v.kind === 'shared') {
    checkKeys(v, ['kind', 'fraction', 'seed'], 'validation', file);
    return { kind: 'shared', fraction: v.fraction, seed: (v.seed as number | undefined) ?? 42 };
  }
  if (v.kind === 'bagged') {
    checkKeys(v, ['kind', 'fraction'], 'validation', file);
    return { kind: 'bagged', fraction: v.fraction };
  }
  return fail('validation.kind', `must be "shared", "bagged" or "kfold", got ${JSON.stringify(v.kind)}`, file);
}

/**
 * The ensemble validated by k-fold cross-validation instead (`--folds k`): same recipes,
 * the shared split's seed kept when it had one.
 */
export function withFolds(spec: EnsembleSpec, folds: number): EnsembleSpec {
  if (!Number.isInteger(folds) || folds < 2) {
    throw new UserError(`the number of folds must be a whole number ≥ 2, not ${folds}`, { where: { flag: 'folds' }, hint: 'For example --folds 5 (each recipe is trained 5 times).' });
  }
  const seed = spec.validation.kind === 'bagged' ? 42 : spec.validation.seed;
  return { ...spec, validation: { kind: 'kfold', folds, seed } };
}

/** A member as trained: one recipe (a member entry of the spec) on one fold of its split. */
export interface FoldMember {
  member: MemberConfig;
  /** the member entry it comes from */
  recipe: string;
  /** fold index (0 for a hold-out split) */
  fold: number;
}

/** The name of fold `fold` (0-based) of a recipe: `<recipe>-f<fold+1>`. */
export function foldMemberName(recipe: string, fold: number): string {
  return `${recipe}-f${fold + 1}`;
}

/**
 * The members a spec trains: each entry once, or, under k-fold validation, k times
 * (`<name>-f1` … `<name>-fk`, same recipe and seed, fold i validating on fold i's rows).
 * `folds` is the split's fold count (a saved split may say it instead of the spec).
 */
export function expandFolds(spec: EnsembleSpec, folds = spec.validation.kind === 'kfold' ? spec.validation.folds : 1): FoldMember[] {
  if (spec.validation.kind !== 'kfold') return spec.members.map((member) => ({ member, recipe: member.name, fold: 0 }));
  return spec.members.flatMap((member) => Array.from({ length: folds }, (_, fold) => ({ member: { ...member, name: foldMemberName(member.name, fold) }, recipe: member.name, fold })));
}

/** Parses an ensemble from JSON text (a file's contents). */
export function ensembleFromJson(text: string, file?: string): EnsembleSpec {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new UserError(`the ensemble file is not valid JSON: ${(error as Error).message}`, { where: { file }, hint: 'Check the file with a JSON linter.' });
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('(top level)', 'must be an object with "members"', file);
  const r = raw as Record<string, unknown>;
  checkKeys(r, ['name', 'description', 'validation', 'members'], '(top level)', file);
  if (!Array.isArray(r.members) || r.members.length === 0) fail('members', 'must be a non-empty array', file);
  const members = (r.members as unknown[]).map((m, i) => {
    if (typeof m !== 'object' || m === null || Array.isArray(m)) fail(`members[${i}]`, 'must be an object', file);
    return memberFromInput(m as Record<string, unknown>, i, file);
  });
  const names = new Set<string>();
  members.forEach((m, i) => {
    if (names.has(m.name)) fail(`members[${i}].name`, `duplicate member name ${JSON.stringify(m.name)}`, file);
    names.add(m.name);
  });
  return {
    name: typeof r.name === 'string' ? r.name : path.basename(file ?? 'ensemble', '.json'),
    description: typeof r.description === 'string' ? r.description : '',
    validation: r.validation === undefined ? { kind: 'shared', fraction: 0.1, seed: 42 } : validationFrom(r.validation, file),
    members,
  };
}

/* ---------- built-in ensembles ---------- */

/**
 * The shipped starting point of a preset: the noisy-MNIST checkpoint (clean MNIST plus
 * background-noise augmentation) when there is one, else the clean one.
 */
export function shippedInit(preset: string, root = PACKAGE_ROOT): string {
  const noisy = path.join('checkpoints', 'mnist-noisy', preset);
  return existsSync(path.join(root, noisy, 'COMPLETE')) ? noisy : path.join('checkpoints', 'mnist-clean', preset);
}

/**
 * `quick`: the `npm start` ensemble for 2 CPU cores (under 10 minutes on 12k rows): six
 * members fine-tuned from the shipped MNIST checkpoints (`shippedInit`), three per preset,
 * different seeds and rates, one shared 10% holdout so the ensemble is scored on unseen rows.
 */
function quick(): EnsembleSpec {
  // Fine-tuning the noisy-MNIST checkpoints on the competition's rows, without geometric
  // augmentation: the competition's images already carry their noise, and rotating, zooming
  // or sub-pixel shifting them interpolates (smooths) that noise and fills the borders with
  // black, so members learn a noise the test images do not have. The checkpoints end with a
  // phase on MNIST train without geometric augmentation and with fresh noise each epoch, more
  // and better data than the competition's 10.8k rows with their one noise draw: fine-tuning
  // at 1e-4–3e-4 for 3–4 epochs left them slightly worse on noised MNIST validation rows that
  // are neither in their pretraining nor in the competition (4,015 rows: 98.33–98.58% per
  // member against 98.56–98.68% for the checkpoints). So the members stay close to them: a
  // few epochs at small rates, different seeds, the two architectures.
  const settings = [
    { learningRate: 5e-5, epochs: 2 },
    { learningRate: 1e-4, epochs: 2 },
    { learningRate: 3e-5, epochs: 3 },
  ];
  const inputs: Array<Record<string, unknown>> = [];
  settings.forEach((setting, s) => {
    for (const preset of ['seed002', 'deotte']) {
      const i = inputs.length + 1;
      inputs.push({
        name: `${preset}-${i}`,
        preset,
        optimizer: 'adam',
        learningRate: setting.learningRate,
        schedule: { kind: 'exponential', decay: 0.6 },
        augmentation: {},
        epochs: setting.epochs,
        batchSize: 64,
        seed: 100 + i + 10 * s,
        init: shippedInit(preset),
      });
    }
  });
  return {
    name: 'quick',
    description: '6 members (3 seed002, 3 deotte) fine-tuned 2–3 epochs at small rates from the shipped noisy-MNIST checkpoints, no geometric augmentation; shared 10% holdout',
    validation: { kind: 'shared', fraction: 0.1, seed: 42 },
    members: inputs.map((m, i) => memberFromInput(m, i)),
  };
}

/** `full`: Deotte's 15 CNNs × 30 epochs, each validated on its own random 10% (for GPU users). */
function full(): EnsembleSpec {
  const members = Array.from({ length: 15 }, (_, i) =>
    memberFromInput(
      {
        name: `deotte-${i + 1}`,
        preset: 'deotte',
        optimizer: 'adam',
        learningRate: 1e-3,
        schedule: { kind: 'exponential', decay: 0.95 },
        augmentation: { rotation: 10, zoom: 0.1, widthShift: 0.1, heightShift: 0.1 },
        epochs: 30,
        batchSize: 64,
        seed: 2000 + i,
      },
      i,
    ),
  );
  return { name: 'full', description: "Deotte's 15 CNNs × 30 epochs, bagged 10% validation per member", validation: { kind: 'bagged', fraction: 0.1 }, members };
}

export const BUILTIN_ENSEMBLES: Record<string, () => EnsembleSpec> = { quick, full };

/** A built-in name or a JSON file. */
export async function resolveEnsemble(nameOrFile: string): Promise<EnsembleSpec> {
  const builtin = BUILTIN_ENSEMBLES[nameOrFile];
  if (builtin) return builtin();
  if (nameOrFile === 'auto') {
    throw new UserError('the auto ensemble is chosen per competition, within a time budget, by `digits run`', {
      where: { flag: 'ensemble' },
      hint: 'Run `digits run --data <competition> [--budget minutes]` (auto is its default); `digits train` takes quick, full, or an ensemble file (such as the one `digits search` writes).',
    });
  }
  let text: string;
  try {
    text = await readFile(nameOrFile, 'utf8');
  } catch {
    throw new UserError(`no built-in ensemble or file named ${nameOrFile}`, {
      where: { flag: 'ensemble' },
      hint: `Use one of ${Object.keys(BUILTIN_ENSEMBLES).join(', ')}, or the path of an ensemble JSON file.`,
    });
  }
  return ensembleFromJson(text, nameOrFile);
}
