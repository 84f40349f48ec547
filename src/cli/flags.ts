/** Flags shared by many commands, defined once (Shopify CLI `src/cli/flags.ts` style). */
import path from 'node:path';
import { Errors, Flags } from '@oclif/core';
import { UserError } from '../errors.js';
import { BACKEND_NAMES } from '../engine/backend-names.js';

/** oclif's --json (every DigitsCommand has `enableJsonFlag`), with our description of the contract. */
export const jsonFlag = {
  json: Flags.boolean({ description: 'Print NDJSON on stdout: one object per line, each with a "type"; events of long jobs first, the result (or the error) last.', default: false }),
};

/** The built-in ensembles (ensemble-spec.ts BUILTIN_ENSEMBLES; a test keeps the two equal), named here so help needs no tfjs. */
export const BUILTIN_ENSEMBLE_NAMES = ['quick', 'full'] as const;

export const ensembleFlag = {
  ensemble: Flags.string({ description: `Built-in ensemble (${BUILTIN_ENSEMBLE_NAMES.join(', ')}) or an ensemble JSON file (format: README "Ensemble files", schema: ensemble.schema.json).`, default: 'quick' }),
};

export const backendFlag = {
  backend: Flags.string({
    description: 'Compute backend: auto tries gpu, node, wasm (with our training kernels), then cpu.',
    options: [...BACKEND_NAMES],
    default: 'auto',
    env: 'DIGITS_BACKEND',
  }),
};

export const seedFlag = {
  seed: Flags.integer({ description: 'Random seed (shuffles, splits, initial weights, augmentation).', default: 42, env: 'DIGITS_SEED' }),
};

/**
 * Overrides of every member of the ensemble (`digits train`, `digits run`), as a notebook
 * user sets them; unset, each member keeps its own (file or built-in) value.
 */
export const memberOverrideFlags = {
  seed: Flags.integer({ description: 'Seed every member: member i gets seed + i (default: each member\'s own seed).', env: 'DIGITS_SEED' }),
  epochs: Flags.integer({ description: 'Epochs of every member (default: each member\'s own).', min: 1 }),
  'learning-rate': Flags.custom<number>({
    description: 'Initial learning rate of every member (default: each member\'s own).',
    parse: async (input: string) => {
      const value = Number(input);
      // A CLIError, so the base command reports it as a bad flag value (exit 2), not as a bug.
      if (!(input.trim() !== '' && Number.isFinite(value) && value > 0)) throw new Errors.CLIError(`expected a number > 0 (for example 1e-3), got ${input}`, { exit: 2 });
      return value;
    },
  })(),
  'batch-size': Flags.integer({ description: 'Batch size of every member (default: each member\'s own).', min: 1 }),
};

export const dataFlag = {
  data: Flags.string({
    description: 'Competition folder (or dataset cache folder); the working folder when not given.',
    env: 'DIGITS_DATA',
    parse: async (input: string) => path.resolve(input),
  }),
};

/** `--data` on commands that read a trained run: only for a competition that moved since (no env: the run records its data). */
export const runDataFlag = {
  data: Flags.string({
    description: "The run's competition folder (or dataset cache folder) when it is no longer where run.json recorded it, e.g. after moving the run or the competition; it must hold the same data (the fingerprint run.json records).",
    parse: async (input: string) => path.resolve(input),
  }),
};

export const inferFlag = {
  infer: Flags.string({
    description: 'Inference runtime: onnx (ONNX Runtime), tfjs, or auto (ONNX Runtime when it loads, else tfjs).',
    options: ['auto', 'onnx', 'tfjs'],
    default: 'auto',
    env: 'DIGITS_INFER',
  }),
  precision: Flags.string({
    description: 'Number format on ONNX Runtime: int8 (quantized, calibrated on the training rows), fp32 (exact), or auto (int8 when it can be made or exists, else fp32).',
    options: ['auto', 'fp32', 'int8'],
    default: 'auto',
    env: 'DIGITS_PRECISION',
  }),
};

/** `digits train` and `digits search`: members or trials as jobs on a BullMQ queue (src/services/queue/). */
export const queueFlag = {
  queue: Flags.string({
    description: 'Enqueue the members (trials) on the BullMQ queue in this Redis (redis://host:port) instead of training here; `digits worker` processes on machines that reach the run folder train them.',
    env: 'DIGITS_QUEUE',
  }),
};

/** Whether `--<name>` was typed on the command line (`--name v`, `--name=v`, `--no-name`), not set by its default or the environment. */
export function flagTyped(argv: readonly string[], name: string): boolean {
  return argv.some((arg) => arg === `--${name}` || arg.startsWith(`--${name}=`) || arg === `--no-${name}`);
}

/**
 * `--resume` continues a run as its run.json recorded it: flags that would configure a new run
 * (its ensemble, folds, epochs, rates, budget…) were ignored in silence. The first one typed
 * (read from argv, so an environment default such as DIGITS_SEED does not count) is refused.
 */
export function refuseWithResume(argv: readonly string[], names: readonly string[]): void {
  const typed = names.find((name) => flagTyped(argv, name));
  if (typed) {
    throw new UserError(`--${typed} configures a new run; --resume continues the run as its run.json recorded it`, {
      where: { flag: typed },
      hint: `Leave --${typed} out to continue the run, or start a new run without --resume.`,
    });
  }
}
