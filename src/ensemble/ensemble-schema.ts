/**
 * The ensemble file, defined once (zod): it validates `--ensemble file.json` and it is the
 * source of the published JSON Schema (`ensemble.schema.json`, `npm run schema`), so an
 * editor completes and checks the same keys the CLI accepts. Both `schedule` and
 * `validation` are unions discriminated by `kind`: a new kind is one more arm.
 */
import { z } from 'zod';
import { AUGMENTATION_KEYS, AUGMENTATION_LIMITS, augmentationConfigProblem, augmentationValueProblem } from '../model/augmentation-config.js';
import { PRESET_NAMES } from '../model/preset-specs.js';
import { closestName } from '../closest-name.js';
import { SPLIT_NAME } from '../data/splits.js';

/** "is required" for a missing key, else what was expected and what came. */
const expected = (what: string) => (issue: { input?: unknown }) => (issue.input === undefined ? 'is required' : `must be ${what}, got ${JSON.stringify(issue.input)}`);
const number = (what = 'a number') => z.number({ error: expected(what) });
const wholeAtLeast = (min: number) => number(`a whole number ≥ ${min}`).int({ error: `must be a whole number ≥ ${min}` }).min(min, { error: `must be a whole number ≥ ${min}` });
const fractionOpen = () => number('a number in (0, 1)').gt(0, { error: 'must be a number in (0, 1)' }).lt(1, { error: 'must be a number in (0, 1)' });
const halfOpenUnit = () => number('a number in [0, 1)').min(0, { error: 'must be a number in [0, 1)' }).lt(1, { error: 'must be a number in [0, 1)' });
const atLeastZero = () => number('a number ≥ 0').min(0, { error: 'must be a number ≥ 0' });
const factor = () => number('a number in (0, 1]').gt(0, { error: 'must be a number in (0, 1]' }).lte(1, { error: 'must be a number in (0, 1]' });

/**
 * Member and ensemble names become folder names (`<run>/<member>/`, `runs/<ensemble>-<time>/`),
 * so they are one safe path segment: ASCII letters, digits, `.`, `_`, `+`, `-`, starting with a
 * letter or digit, at most 80 characters, and not a name of the run folder's own files (until
 * session 42 `"../escape"` trained beside the run, `""` into its root, and `"evaluation.json"`
 * crashed `digits evaluate`).
 */
export const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,79}$/;
const RESERVED_NAME = /\.(json|jsonl|html|csv|onnx|bin|tmp|lock|claim)$|^(round1|auto-probes)$/i;
export function nameProblem(name: string): string | undefined {
  if (!SAFE_NAME.test(name)) {
    return `${JSON.stringify(name)} is not a usable name: it names a folder, so use letters, digits, ".", "_", "+" and "-" only, starting with a letter or digit, up to 80 characters`;
  }
  if (RESERVED_NAME.test(name)) return `${JSON.stringify(name)} is the name of a file or folder the run folder keeps for itself: choose another`;
  return undefined;
}
/** A usable name made from any text (a file's or folder's name): other characters become "-". */
export function safeNameFrom(text: string, fallback = 'ensemble'): string {
  const name = text.replace(/[^A-Za-z0-9._+-]+/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 80);
  if (!name) return fallback;
  return nameProblem(name) ? `${name.slice(0, 78)}-1` : name;
}
const safeName = (what: string) =>
  z
    .string({ error: expected('a string') })
    .superRefine((name, ctx) => {
      const problem = nameProblem(name);
      if (problem) ctx.addIssue({ code: 'custom', message: problem, input: name });
    })
    .meta({ pattern: SAFE_NAME.source })
    .describe(what);

/** A saved split's name, as `data split --name` takes it (it names a file: "../dataset" was blamed on a --name never typed). */
const splitName = (error: string) =>
  z.string({ error }).regex(SPLIT_NAME, { error: (issue) => `${JSON.stringify(issue.input)} is not a split name: letters, digits, dots, dashes and underscores (up to 64), starting with a letter or digit` });

export const ScheduleSchema = z
  .discriminatedUnion(
    'kind',
    [
      z.strictObject({ kind: z.literal('constant') }).describe('The learning rate stays as set.'),
      z.strictObject({ kind: z.literal('exponential'), decay: factor().describe('Multiplies the rate after every epoch.') }).describe('lr × decay^epoch'),
      z.strictObject({ kind: z.literal('step'), every: wholeAtLeast(1).describe('Epochs between steps.'), factor: factor().describe('Multiplies the rate at each step.') }).describe('lr × factor every N epochs'),
    ],
    { error: (issue) => `kind must be "constant", "exponential" or "step", got ${JSON.stringify((issue.input as { kind?: unknown } | undefined)?.kind)}` },
  )
  .describe('Learning-rate schedule per epoch (default: the preset recipe).');

export const ValidationSchema = z
  .discriminatedUnion(
    'kind',
    [
      z
        .strictObject({
          kind: z.literal('shared'),
          fraction: fractionOpen().optional().describe('Fraction of the training rows held out (stratified); required unless "split" names a saved hold-out split.'),
          seed: number('a whole number').int({ error: 'must be a whole number' }).default(42).describe('Seed of the split.'),
          split: splitName('must be the name of a split saved by `digits data split`').optional().describe('A hold-out split saved by `digits data split` (its fraction and seed are its own).'),
        })
        .describe('Every member holds out the same rows, so the ensemble is scored honestly on them.'),
      z
        .strictObject({ kind: z.literal('bagged'), fraction: fractionOpen().describe('Fraction each member holds out.') })
        .describe('Each member holds out its own stratified rows, seeded by the member (Deotte-style bagging).'),
      z
        .strictObject({
          kind: z.literal('kfold'),
          folds: wholeAtLeast(2).optional().describe('Number of folds (required unless "split" names a saved k-fold split).'),
          seed: number('a whole number').int({ error: 'must be a whole number' }).default(42).describe('Seed of the split.'),
          split: splitName('must be the name of a split saved by `digits data split --folds`').optional().describe('A k-fold split saved by `digits data split --folds`.'),
        })
        .describe('k-fold cross-validation: each member entry is trained once per fold (<name>-f1 … -fk); out-of-fold predictions for every training row.'),
    ],
    { error: (issue) => `kind must be "shared", "bagged" or "kfold", got ${JSON.stringify((issue.input as { kind?: unknown } | undefined)?.kind)}` },
  )
  .describe('How members are validated (default: {"kind":"shared","fraction":0.1,"seed":42}).');

const augmentationShape = Object.fromEntries(
  AUGMENTATION_KEYS.map((key) => {
    const limit = AUGMENTATION_LIMITS[key];
    const error = augmentationProblemText(key);
    let schema = limit.positive ? number('a number > 0').gt(0, { error }) : number('a number ≥ 0').min(0, { error });
    schema = limit.below ? schema.lt(limit.max, { error }) : schema.max(limit.max, { error });
    if (limit.integer) schema = schema.int({ error });
    return [key, schema.optional()];
  }),
) as Record<(typeof AUGMENTATION_KEYS)[number], z.ZodOptional<z.ZodNumber>>;

/** The schema's message for a value out of `AUGMENTATION_LIMITS` (the one `augmentationValueProblem` gives). */
function augmentationProblemText(key: (typeof AUGMENTATION_KEYS)[number]) {
  return (issue: { input?: unknown }) => augmentationValueProblem(key, Number(issue.input)) ?? 'is out of range';
}

export const AugmentationSchema = z
  .strictObject(augmentationShape)
  .superRefine((config, ctx) => {
    const problem = config.backgroundNoiseMin !== undefined ? augmentationConfigProblem({ backgroundNoise: config.backgroundNoise, backgroundNoiseMin: config.backgroundNoiseMin }) : undefined;
    if (problem) ctx.addIssue({ code: 'custom', path: [problem.key], message: problem.message, input: config[problem.key] });
  })
  .describe('Keras ImageDataGenerator-style ranges (rotation in degrees, shifts and zoom as fractions, …); {} turns augmentation off. Default: the preset recipe.');

export const MemberSchema = z
  .strictObject({
    name: safeName('Member name (default <preset>-<index>); names are unique. It names the member\'s folder: letters, digits, ".", "_", "+", "-".').optional(),
    preset: z
      .enum(PRESET_NAMES as [string, ...string[]], {
        error: (issue) => (issue.input === undefined ? `is required (one of ${PRESET_NAMES.join(', ')})` : `unknown preset ${JSON.stringify(issue.input)} (known: ${PRESET_NAMES.join(', ')})`),
      })
      .describe('Network preset; its recipe gives every default below.'),
    optimizer: z.enum(['adam', 'rmsprop', 'sgd'], { error: (issue) => `must be "adam", "rmsprop" or "sgd", got ${JSON.stringify(issue.input)}` }).optional(),
    learningRate: number().positive({ error: 'must be a number > 0' }).optional().describe('Initial learning rate.'),
    momentum: halfOpenUnit().optional().describe('SGD momentum, in [0, 1).'),
    schedule: ScheduleSchema.optional(),
    reduceLROnPlateau: z
      .strictObject({ factor: fractionOpen().describe('Multiplies the rate on a plateau.'), patience: wholeAtLeast(0).describe('Epochs without improvement before the rate drops.'), minLearningRate: atLeastZero().optional().describe('The rate never drops below this.') })
      .optional()
      .describe("Keras ReduceLROnPlateau on the validation loss."),
    earlyStopping: z.strictObject({ patience: wholeAtLeast(0) }).optional().describe('Keras EarlyStopping on the validation loss: epochs without improvement.'),
    labelSmoothing: halfOpenUnit().optional().describe('Label smoothing ε in [0, 1): the target is (1 − ε) on the label and ε spread over the 10 classes.'),
    sampling: z.enum(['balanced'], { error: (issue) => `must be "balanced" (or left out: every row once an epoch), got ${JSON.stringify(issue.input)}` }).optional().describe('"balanced": each epoch draws every digit equally often (rows drawn with replacement), for heavily imbalanced labels; auto sets it there. Default: every training row once, shuffled.'),
    mixup: number().gt(0, { error: 'must be > 0 (the α of Beta(α, α); 0.2–0.4 is usual)' }).lte(10, { error: 'must be at most 10 (the α of Beta(α, α); 0.2–0.4 is usual)' }).optional().describe('Mixup: each batch is mixed with a shuffled copy of itself by λ ~ Beta(α, α), images and targets alike (Zhang et al. 2018).'),
    ema: z
      .strictObject({ decay: number().gt(0, { error: 'must be > 0 and < 1' }).lt(1, { error: 'must be > 0 and < 1' }) })
      .optional()
      .describe('Exponential moving average of the weights, updated every step with this decay (e.g. 0.998); validation and best/ use the average.'),
    l2: atLeastZero().optional().describe('L2 weight decay on every conv and dense kernel (fresh models only, not with init).'),
    augmentation: AugmentationSchema.optional(),
    epochs: wholeAtLeast(1).optional(),
    batchSize: wholeAtLeast(1).optional(),
    seed: number().optional().describe('Seed of the member (default 1000 + index).'),
    init: z.string({ error: expected('a string') }).optional().describe('Start from this checkpoint folder (fine-tuning) instead of fresh weights.'),
    freezeUpTo: z.string({ error: expected('a string') }).optional().describe('Freeze the layers up to this layer name (with init).'),
  })
  .superRefine((member, ctx) => {
    if (member.l2 !== undefined && member.init !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['l2'], message: 'applies to models built fresh; a member with "init" keeps the regularisers of its checkpoint' });
    }
    if (member.freezeUpTo !== undefined && member.init === undefined) {
      ctx.addIssue({ code: 'custom', path: ['freezeUpTo'], message: 'freezes layers of the checkpoint in "init", and this member has none (a model built fresh trains every layer; it was ignored)' });
    }
  })
  .describe('One member: a preset and overrides of its recipe.');

/**
 * Where an ensemble's members were chosen: `digits search` ranks its trials on one holdout and
 * writes that split here, so that a run of the file validated on the same rows is known to be
 * scored on the rows that chose its members (optimistic figures), and says so.
 */
export const SelectedOnSchema = z
  .strictObject({
    by: z.string({ error: expected('a string') }).describe('What chose the members: the search folder.'),
    validation: z
      .strictObject({
        kind: z.literal('shared'),
        fraction: fractionOpen().describe('Fraction of the training rows held out.'),
        seed: number('a whole number').int({ error: 'must be a whole number' }).describe('Seed of the split.'),
      })
      .describe('The holdout split the members were ranked on.'),
    dataset: z.string({ error: expected('a string') }).optional().describe("Fingerprint of the dataset they were ranked on (rows of another dataset are other rows)."),
  })
  .describe('Written by digits search: the held-out rows its trials were ranked and chosen on. A run validated on the same rows has optimistic held-out figures, which evaluate, the dashboard and the report say.');

export const EnsembleFileSchema = z
  .strictObject({
    $schema: z.string().optional().describe('The JSON Schema of this file, for editors.'),
    name: safeName('Ensemble name (default: the file name); it starts the run folder\'s name: letters, digits, ".", "_", "+", "-".').optional(),
    description: z.string({ error: expected('a string') }).optional(),
    validation: ValidationSchema.optional(),
    selectedOn: SelectedOnSchema.optional(),
    members: z.array(MemberSchema, { error: expected('a non-empty array') }).min(1, { error: 'must be a non-empty array' }),
  })
  .describe('A digits ensemble file (digits train --ensemble file.json).');

export type MemberInput = z.input<typeof MemberSchema>;
export type EnsembleFile = z.output<typeof EnsembleFileSchema>;

/** The published JSON Schema of ensemble files (draft 2020-12), what `npm run schema` writes. */
export function ensembleJsonSchema(): Record<string, unknown> {
  return {
    title: 'digits ensemble file',
    ...z.toJSONSchema(EnsembleFileSchema, { io: 'input', target: 'draft-2020-12' }),
  };
}

/** `members[0].epochs`-style path of an issue (keys of unknown-key issues appended by the caller). */
export function issuePath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : `${out ? '.' : ''}${String(part)}`;
  return out || '(top level)';
}

/** Each issue as `where: what`, the way the CLI reports them. */
export function describeIssues(error: z.ZodError): Array<{ where: string; message: string; path: PropertyKey[] }> {
  const described = error.issues.flatMap((issue) => {
    const at = issuePath(issue.path);
    if (issue.code === 'unrecognized_keys') {
      const allowed = allowedKeys(issue.path);
      return issue.keys.map((key) => {
        // A typo of an allowed key says which ("memebrs": "members: is required" came first and named no cause)
        const closest = allowed ? closestName(key, allowed) : undefined;
        return { where: `${at}.${key}`, path: [...issue.path, key], message: closest ? `unknown key; did you mean "${closest}"?` : `unknown key${allowed ? ` (allowed: ${allowed.join(', ')})` : ''}`, typo: closest !== undefined };
      });
    }
    return [{ where: at, path: [...issue.path], message: issue.message, typo: false }];
  });
  // The typos first: the key they meant is then "required" only because it was misspelt.
  return [...described.filter((d) => d.typo), ...described.filter((d) => !d.typo)].map(({ where, message, path }) => ({ where, message, path }));
}

/** The keys an object at `path` may have (for "unknown key" messages). */
function allowedKeys(path: readonly PropertyKey[]): string[] | null {
  const last = path.at(-1);
  if (path.length === 0) return Object.keys(EnsembleFileSchema.shape).filter((k) => k !== '$schema');
  if (typeof last === 'number' && path.at(-2) === 'members') return Object.keys(MemberSchema.shape);
  if (last === 'augmentation') return [...AUGMENTATION_KEYS];
  if (last === 'reduceLROnPlateau') return ['factor', 'patience', 'minLearningRate'];
  if (last === 'earlyStopping') return ['patience'];
  return null;
}
