/**
 * Ensembles as data: built-in presets (`quick`, `full`) and JSON files, validated
 * strictly by the one schema of ensemble-schema.ts (an unknown key or a wrong type is an
 * error naming it, after nanoGPT's configurator). A member is a preset plus overrides of
 * its recipe; `withOverrides` applies the command line's to every member.
 */
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { UserError, duplicateJsonKey, jsonPathLocation, jsonSyntaxError } from '../errors.js';
import { closestName } from '../closest-name.js';
import { AUGMENTATION_KEYS, type AugmentationConfig } from '../model/augmentation-config.js';
import { getPreset } from '../model/preset-specs.js';
import { EnsembleFileSchema, MemberSchema, describeIssues, safeNameFrom } from './ensemble-schema.js';
import { PACKAGE_ROOT, resolveInit } from '../model/shipped.js';
import { DEFAULT_FOLDS } from '../data/splits.js';
import type { MemberConfig, Schedule } from '../training/train-member.js';

export type ValidationSpec =
  /**
   * every member holds out the same stratified rows (ensemble metrics are honest on them):
   * `holdout-<fraction>-seed<seed>`, or the hold-out split saved by `digits data split` that
   * `split` names (its fraction and seed are then the saved split's, filled in by
   * `withSavedHoldout` when the dataset is known: 0 until then)
   */
  | { kind: 'shared'; fraction: number; seed: number; split?: string }
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
  /**
   * The held-out rows the members were chosen on (a search's ranking), when a file says so:
   * kept in run.json with the rest of the spec, so evaluate can tell a run scored on them.
   */
  selectedOn?: SelectedOn;
  members: MemberConfig[];
}

/** Where a search chose an ensemble's members: its holdout split, and the dataset's fingerprint. */
export interface SelectedOn {
  by: string;
  validation: { kind: 'shared'; fraction: number; seed: number };
  dataset?: string;
}

/**
 * Whether a run of `spec` is validated on the very rows its members were chosen on: a shared
 * split of the same fraction and seed (the same split file) of the same dataset. Another seed
 * or k-fold validates on other rows (k-fold on every row, of which the search's are a part).
 */
export function validatedWhereSelected(spec: Pick<EnsembleSpec, 'validation' | 'selectedOn'>, datasetFingerprint: string): boolean {
  const chosen = spec.selectedOn;
  const v = spec.validation;
  if (!chosen || v.kind !== 'shared') return false;
  if (chosen.dataset !== undefined && chosen.dataset !== datasetFingerprint) return false;
  return v.fraction === chosen.validation.fraction && v.seed === chosen.validation.seed;
}

/** What a member entry may say; everything but `preset` has a default (ensemble-schema.ts). */
export type { MemberInput } from './ensemble-schema.js';

class SpecError extends UserError {}

/** The first problem the schema found, as a UserError naming the key and the file (or --ensemble). */
function specError(error: z.ZodError, file?: string, text?: string): SpecError {
  const [first, ...rest] = describeIssues(error);
  const more = rest.length > 0 ? ` (and ${rest.length} more: ${rest.map((r) => r.where).join(', ')})` : '';
  // The first issue's line and column in the file (a key path alone was hard to find in a long file)
  const at = text !== undefined ? jsonPathLocation(text, first!.path) : null;
  return new SpecError(`${first!.where}: ${first!.message}${more}`, {
    where: file ? { file, ...(at ?? {}) } : { flag: 'ensemble' },
    hint: 'Fix the ensemble file (README "Ensemble files" lists the keys; point "$schema" at ensemble.schema.json and an editor checks them), or use a built-in ensemble: quick, full.',
  });
}

/** Fills a member's defaults from its preset's recipe and checks every key and type. */
export function memberFromInput(input: Record<string, unknown>, index: number, file?: string): MemberConfig {
  const parsed = MemberSchema.safeParse(input);
  if (!parsed.success) throw specError(new z.ZodError(parsed.error.issues.map((issue) => ({ ...issue, path: ['members', index, ...issue.path] }))), file);
  return withRecipe(parsed.data, index);
}

function withRecipe(member: z.output<typeof MemberSchema>, index: number): MemberConfig {
  const recipe = getPreset(member.preset).recipe;
  return {
    name: member.name ?? `${member.preset}-${index + 1}`,
    preset: member.preset,
    optimizer: member.optimizer ?? recipe.optimizer,
    learningRate: member.learningRate ?? recipe.learningRate,
    momentum: member.momentum,
    schedule: (member.schedule as Schedule | undefined) ?? (recipe.lrDecay ? { kind: 'exponential', decay: recipe.lrDecay } : { kind: 'constant' }),
    reduceLROnPlateau: member.reduceLROnPlateau,
    earlyStopping: member.earlyStopping,
    labelSmoothing: member.labelSmoothing,
    ...(member.mixup !== undefined ? { mixup: member.mixup } : {}),
    ...(member.sampling !== undefined ? { sampling: member.sampling } : {}),
    ...(member.ema ? { ema: member.ema } : {}),
    l2: member.l2,
    augmentation: member.augmentation ?? recipeAugmentation(recipe.augmentation),
    epochs: member.epochs ?? recipe.epochs,
    batchSize: member.batchSize ?? recipe.batchSize,
    seed: member.seed ?? 1000 + index,
    init: member.init,
    freezeUpTo: member.freezeUpTo,
  };
}

function recipeAugmentation(a: { rotation?: number; shift?: number; zoom?: number } | undefined): AugmentationConfig {
  if (!a) return {};
  const out: AugmentationConfig = { rotation: a.rotation, widthShift: a.shift, heightShift: a.shift, zoom: a.zoom };
  for (const key of AUGMENTATION_KEYS) if (out[key] === undefined) delete out[key];
  return out;
}

/**
 * What `--folds k` replaces in the ensemble, said as a warning: the file's own number of
 * folds when it names another (a flag wins over the file, as flags do, but not in silence).
 */
export function foldsOverride(spec: EnsembleSpec, folds: number): string | undefined {
  const v = spec.validation;
  if (v.kind !== 'kfold' || v.split || v.folds === undefined || v.folds === folds) return undefined;
  return `--folds ${folds} replaces the ${v.folds} folds of ensemble ${spec.name}'s validation`;
}

/**
 * The ensemble validated by k-fold cross-validation instead (`--folds k`): same recipes,
 * the shared split's seed kept when it had one.
 */
export function withFolds(spec: EnsembleSpec, folds: number): EnsembleSpec {
  if (!Number.isInteger(folds) || folds < 2) {
    throw new UserError(`the number of folds must be a whole number ≥ 2, not ${folds}`, { where: { flag: 'folds' }, hint: `For example --folds ${DEFAULT_FOLDS} (each recipe is trained ${DEFAULT_FOLDS} times).` });
  }
  if ((spec.validation.kind === 'kfold' || spec.validation.kind === 'shared') && spec.validation.split) {
    // The file's saved split was dropped in silence for a new one of k folds.
    throw new UserError(`the ensemble validates on the saved split ${JSON.stringify(spec.validation.split)}; --folds would replace it with new folds`, {
      where: { flag: 'folds' },
      hint: 'Leave --folds out to train on the saved split, or remove "split" from the ensemble\'s validation.',
    });
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
export function ensembleFromJson(text: string, file?: string, defaultName?: string): EnsembleSpec {
  // A byte-order mark (Notepad, PowerShell's Out-File) is no part of the JSON: it read as "invalid symbol" at 1:1.
  if (text.startsWith('\ufeff')) text = text.slice(1);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    const { message, line, column } = jsonSyntaxError(text, (error as Error).message);
    throw new UserError(`the ensemble file is not valid JSON: ${message}`, { where: { file, line, column }, hint: 'Fix the JSON at that line and column (a missing comma or quote, a trailing comma).' });
  }
  // JSON.parse keeps the last of a key given twice, silently: refused, as space files are (since session 42 here).
  const duplicate = duplicateJsonKey(text);
  if (duplicate) {
    throw new UserError(`the ensemble file gives the key ${JSON.stringify(duplicate.key)} twice in one object`, { where: { file, line: duplicate.line, column: duplicate.column }, hint: 'Keep one of them (the file would take the last).' });
  }
  const parsed = EnsembleFileSchema.safeParse(raw);
  if (!parsed.success) throw specError(parsed.error, file, text);
  const members = parsed.data.members.map((m, i) => withRecipe(m, i));
  const names = new Set<string>();
  members.forEach((m, i) => {
    if (names.has(m.name)) throw specError(new z.ZodError([{ code: 'custom', path: ['members', i, 'name'], message: `duplicate member name ${JSON.stringify(m.name)}`, input: m.name }]), file, text);
    names.add(m.name);
  });
  const v = parsed.data.validation;
  if (v?.kind === 'kfold' && v.folds === undefined && v.split === undefined) {
    throw specError(new z.ZodError([{ code: 'custom', path: ['validation', 'folds'], message: 'is required (a whole number ≥ 2), unless "split" names a saved k-fold split', input: undefined }]), file, text);
  }
  if (v?.kind === 'kfold' && v.split !== undefined && (raw as { validation?: { seed?: unknown } }).validation?.seed !== undefined) {
    throw specError(new z.ZodError([{ code: 'custom', path: ['validation', 'seed'], message: 'is the saved split\'s own when "split" names one (this one was ignored): leave "seed" out, or leave "split" out to make new folds with this seed', input: v.seed }]), file, text);
  }
  if (v?.kind === 'shared') {
    const given = (raw as { validation?: { seed?: unknown; fraction?: unknown } }).validation ?? {};
    if (v.split === undefined && v.fraction === undefined) {
      throw specError(new z.ZodError([{ code: 'custom', path: ['validation', 'fraction'], message: 'is required (a number in (0, 1)), unless "split" names a hold-out split saved by `digits data split`', input: undefined }]), file, text);
    }
    for (const key of ['fraction', 'seed'] as const) {
      if (v.split !== undefined && given[key] !== undefined) {
        throw specError(new z.ZodError([{ code: 'custom', path: ['validation', key], message: `is the saved split's own when "split" names one: leave "${key}" out, or leave "split" out to hold out new rows`, input: given[key] }]), file, text);
      }
    }
  }
  const validation: ValidationSpec = !v
    ? { kind: 'shared', fraction: 0.1, seed: 42 }
    : v.kind === 'kfold'
      ? { kind: 'kfold', folds: v.folds ?? 0, seed: v.seed, ...(v.split !== undefined ? { split: v.split } : {}) }
      : v.kind === 'shared'
        ? v.split !== undefined
          ? { kind: 'shared', fraction: 0, seed: 0, split: v.split }
          : { kind: 'shared', fraction: v.fraction!, seed: v.seed }
        : v;
  return {
    // (the file's name, made usable as the start of a folder name: "my ensemble.json" → my-ensemble)
    name: parsed.data.name ?? defaultName ?? safeNameFrom(path.basename(file ?? 'ensemble', '.json')),
    description: parsed.data.description ?? '',
    validation,
    ...(parsed.data.selectedOn ? { selectedOn: parsed.data.selectedOn as SelectedOn } : {}),
    members,
  };
}

/* ---------- overrides from the command line ---------- */

/** `--seed`, `--epochs`, `--learning-rate`, `--batch-size` of `digits train` and `digits run`. */
export interface MemberOverrides {
  /** member i is seeded `seed + i`: reproducible, and the members stay different */
  seed?: number;
  epochs?: number;
  learningRate?: number;
  batchSize?: number;
}

/** The ensemble with the overrides applied to every member. */
export function withOverrides(spec: EnsembleSpec, overrides: MemberOverrides = {}): EnsembleSpec {
  const { seed, epochs, learningRate, batchSize } = overrides;
  if (seed === undefined && epochs === undefined && learningRate === undefined && batchSize === undefined) return spec;
  return {
    ...spec,
    members: spec.members.map((m, i) => ({
      ...m,
      ...(seed === undefined ? {} : { seed: seed + i }),
      ...(epochs === undefined ? {} : { epochs }),
      ...(learningRate === undefined ? {} : { learningRate }),
      ...(batchSize === undefined ? {} : { batchSize }),
    })),
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

/**
 * `full`: Deotte's 15 CNNs × 30 epochs (for GPU users), validated on one shared 10% holdout.
 * Deotte gives each network its own random 10%; fifteen such holdouts share no row (a row is
 * held out by all of them with probability 0.1^15), so the ensemble could never be scored and
 * `digits run --ensemble full` trained all fifteen, then failed at its evaluation (until session 39).
 */
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
  return { name: 'full', description: "Deotte's 15 CNNs × 30 epochs, validated on one shared 10% holdout", validation: { kind: 'shared', fraction: 0.1, seed: 42 }, members };
}

/** The split a member of a bagged ensemble validates on: its own holdout, seeded by the member. */
export function baggedSplit(fraction: number, member: { seed: number }): { name: string; spec: { kind: 'holdout'; validationFraction: number; seed: number } } {
  return { name: `holdout-${fraction}-seed${member.seed}`, spec: { kind: 'holdout', validationFraction: fraction, seed: member.seed } };
}

/** How many rows every one of these validation sets holds (the rows an ensemble of their members can be scored on). */
export function heldOutByEvery(validations: ReadonlyArray<ArrayLike<number>>): number {
  let common: Set<number> | null = null;
  for (const rows of validations) {
    common = common === null ? new Set(Array.from(rows)) : new Set(Array.from(rows).filter((r) => common!.has(r)));
    if (common.size === 0) return 0;
  }
  return common?.size ?? 0;
}

export const BUILTIN_ENSEMBLES: Record<string, () => EnsembleSpec> = { quick, full };

/** A built-in name or a JSON file. */
/** How errors name an ensemble file given on standard input (`--ensemble -`). */
export const STDIN_NAME = '<stdin>';

let stdinText: Promise<string> | null = null;

/**
 * Standard input's whole text, read once (a command may resolve its ensemble twice: `run` names
 * its run folder before the service reads the ensemble). A terminal is refused: it would wait for
 * a file typed in and Ctrl-D.
 */
function ensembleFromStdin(): Promise<string> {
  if (process.stdin.isTTY) {
    return Promise.reject(
      new UserError('--ensemble - reads the ensemble file from standard input, and standard input is a terminal', {
        where: { flag: 'ensemble' },
        hint: 'Pipe the file in (`jq . my.json | digits … --ensemble -`, or `… --ensemble - < my.json`), or give its path.',
      }),
    );
  }
  stdinText ??= (async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    if (text.trim() === '') {
      throw new UserError('--ensemble - read nothing from standard input', {
        where: { flag: 'ensemble' },
        hint: 'Pipe an ensemble file in (`… --ensemble - < my.json`), or give its path.',
      });
    }
    return text;
  })();
  return stdinText;
}

/**
 * A file in the working folder named exactly as the built-in ensemble asked for (`./quick`):
 * the built-in is what `--ensemble quick` means, and the file is not read, which is said
 * (until session 44 nothing said so). Null when there is no such file.
 */
export function shadowedByBuiltin(nameOrFile: string): string | null {
  if (!(nameOrFile in BUILTIN_ENSEMBLES) || !existsSync(nameOrFile) || statSync(nameOrFile).isDirectory()) return null;
  return `--ensemble ${nameOrFile} is the built-in ensemble; the file ./${nameOrFile} in the working folder is not read (give ./${nameOrFile} to train it)`;
}

export async function resolveEnsemble(nameOrFile: string): Promise<EnsembleSpec> {
  const builtin = BUILTIN_ENSEMBLES[nameOrFile];
  if (builtin) return builtin();
  if (nameOrFile === 'auto') {
    throw new UserError('the auto ensemble is chosen per competition, within a time budget, by `digits run`', {
      where: { flag: 'ensemble' },
      hint: 'Run `digits run --data <competition> [--budget minutes]` (auto is its default); `digits train` takes quick, full, or an ensemble file (such as the one `digits search` writes).',
    });
  }
  // `-`: the file comes on standard input (`jq … | digits train --ensemble -`), named <stdin> in errors.
  const fromStdin = nameOrFile === '-';
  let text: string;
  try {
    text = fromStdin ? await ensembleFromStdin() : await readFile(nameOrFile, 'utf8');
  } catch (error) {
    if (error instanceof UserError) throw error;
    const builtins = Object.keys(BUILTIN_ENSEMBLES);
    if ((error as NodeJS.ErrnoException).code === 'EISDIR') {
      throw new UserError(`${nameOrFile} is a folder, not an ensemble file`, {
        where: { flag: 'ensemble' },
        hint: `Give the ensemble JSON file inside it (a search's is ${path.join(nameOrFile, 'ensemble.json')}), or one of ${builtins.join(', ')}.`,
      });
    }
    // A typo of a built-in name gets the "did you mean" that mistyped flags and commands get.
    const closest = nameOrFile.includes('/') || nameOrFile.endsWith('.json') ? undefined : closestName(nameOrFile, [...builtins, 'auto']);
    throw new UserError(`no built-in ensemble or file named ${nameOrFile}`, {
      where: { flag: 'ensemble' },
      hint: `${closest ? `Did you mean ${closest}? ` : ''}Use one of ${builtins.join(', ')}, or the path of an ensemble JSON file.`,
    });
  }
  const file = fromStdin ? STDIN_NAME : nameOrFile;
  const spec = ensembleFromJson(text, file, fromStdin ? 'stdin' : undefined);
  // A relative `init` is the file's own path first (relative to the file's folder, wherever the
  // command runs; the working folder for one on standard input); one not there keeps its text
  // for `resolveInit` (the working folder, then the shipped checkpoints, as in
  // `"init": "checkpoints/mnist-noisy/seed002"`).
  const folder = fromStdin ? process.cwd() : path.dirname(path.resolve(nameOrFile));
  const members = await Promise.all(
    spec.members.map(async (m, i) => {
      if (!m.init) return m;
      const beside = path.isAbsolute(m.init) ? m.init : path.join(folder, m.init);
      const key = `members[${i}].init`;
      // Not beside the file: the shipped checkpoint of that path or the working folder's; checked
      // now, so a missing one or one of another preset names this file and the member's key
      // (they named only --ensemble, and a missing one hedged "the file's folder, when it came from one").
      const isBeside = existsSync(beside);
      const found = isBeside ? beside : await resolveInit(m.init, { file, key, ...(fromStdin ? { stdin: true } : {}) });
      // (loaded here: checkpoint.ts brings tfjs, which an ensemble file's parsing does not need)
      const { readCheckpointMetadata } = await import('../model/checkpoint.js');
      const metadata = await readCheckpointMetadata(found).catch(() => null);
      if (metadata && metadata.preset !== m.preset) {
        throw new UserError(`${key}: the checkpoint ${m.init} is a ${metadata.preset} network, and the member's preset is ${m.preset}`, {
          where: { file },
          hint: `Give the member "preset": "${metadata.preset}", or an init checkpoint of preset ${m.preset}.`,
        });
      }
      return isBeside ? { ...m, init: beside } : m;
    }),
  );
  return { ...spec, members };
}
