import { existsSync } from 'node:fs';
import path from 'node:path';
import { Flags } from '@oclif/core';
import { DigitsCommand } from '../cli/base-command.js';
import { backendFlag, jsonFlag, seedFlag } from '../cli/flags.js';
import { eventPrinter } from '../cli/train-events.js';
import type { BackendRequest } from '../engine/backend.js';
import { PRESET_NAMES } from '../model/preset-specs.js';
import { UserError, fromSystemError } from '../errors.js';
import { assertFolderPath } from '../output-folder.js';
import { displayPath, plural, shellArg } from '../data/format.js';
import { recordedCommand } from '../services/queue/redis-url.js';

export default class Pretrain extends DigitsCommand {
  static override summary = 'Train a clean-MNIST checkpoint (MNIST train only; t10k scored once for the record) for transfer learning.';
  static override examples = ['<%= config.bin %> pretrain --preset seed002 --epochs 12', '<%= config.bin %> pretrain --preset deotte --resume'];
  static override flags = {
    ...backendFlag,
    ...jsonFlag,
    ...seedFlag,
    preset: Flags.string({ description: 'Network preset.', options: PRESET_NAMES, required: true }),
    epochs: Flags.integer({ description: 'Epochs over MNIST train.', default: 12, min: 1 }),
    'batch-size': Flags.integer({ description: 'Batch size (default: the preset recipe).', min: 1 }),
    'learning-rate': Flags.string({ description: 'Initial learning rate (default: the preset recipe).' }),
    limit: Flags.integer({ description: 'Use only the first N rows of MNIST train (quick runs).', min: 100 }),
    out: Flags.string({ description: 'Checkpoint folder (default checkpoints/mnist-clean/<preset>).' }),
    resume: Flags.boolean({ description: 'Continue an interrupted run from its last epoch.', default: false }),
    'background-noise': Flags.string({ description: 'Noisy-MNIST pretraining: each image gets max(x, U(0, l)) background noise, l uniform in [--background-noise-min, this] per image (e.g. 1); validation rows get the full level. Default out: checkpoints/mnist-noisy/<preset>.' }),
    'background-noise-min': Flags.string({ description: 'Lowest per-image background-noise level (default 0; equal to --background-noise trains at one fixed level).', dependsOn: ['background-noise'] }),
    geometric: Flags.boolean({ description: 'Rotate, shift and zoom each digit before its noise (the default); --no-geometric trains on MNIST\'s own geometry, e.g. for a last phase after --init.', default: true, allowNo: true }),
    'holdout-seed': Flags.integer({ description: 'Seed of the validation rows (default: --seed). Give several pretraining runs of one preset the same --holdout-seed and different --seed values to get independent checkpoints validated on the same rows.' }),
    init: Flags.string({ description: 'Start from this checkpoint instead of fresh weights: a folder from the working folder, else the shipped checkpoint of that path (e.g. checkpoints/mnist-clean/seed002).' }),
    force: Flags.boolean({ description: 'Replace a shipped checkpoint (an --out that is one, when working in the package itself), or write into a run folder.', default: false }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Pretrain);
    const [{ initEngine }, { pretrainCheckpoint, pretrainWorkDir }, { resolveCheckpointArg }] = await Promise.all([import('../engine/backend.js'), import('../services/pretrain.js'), import('../model/shipped.js')]);
    await initEngine({ backend: flags.backend as BackendRequest });
    const noise = flags['background-noise'] === undefined ? undefined : Number(flags['background-noise']);
    if (noise !== undefined && !(noise > 0 && noise <= 1)) throw new UserError(`--background-noise must be a number in (0, 1], got ${flags['background-noise']}`, { where: { flag: 'background-noise' }, hint: 'For the uniform noise of the seed-002 competition use 1.' });
    const noiseMin = flags['background-noise-min'] === undefined ? undefined : Number(flags['background-noise-min']);
    if (noiseMin !== undefined && !(noiseMin >= 0 && noise !== undefined && noiseMin <= noise)) throw new UserError(`--background-noise-min must be a number in [0, --background-noise], got ${flags['background-noise-min']}`, { where: { flag: 'background-noise-min' }, hint: 'For a fixed level give both the same value, e.g. --background-noise 1 --background-noise-min 1.' });
    const out = path.resolve(flags.out ?? path.join('checkpoints', noise ? 'mnist-noisy' : 'mnist-clean', flags.preset));
    // A file in the way of the checkpoint folder is said before the training, not by mkdir (session 39).
    await assertFolderPath(out, { flag: 'out', what: 'the checkpoint folder' });
    const lr = flags['learning-rate'] === undefined ? undefined : Number(flags['learning-rate']);
    if (lr !== undefined && !(lr > 0)) this.error(`--learning-rate must be a positive number, got ${flags['learning-rate']}`, { exit: 2 });
    // Ctrl-C or SIGTERM: the work folder keeps the last finished epoch, and nothing half-trained is published as the checkpoint.
    const resumeArgv = this.argv.filter((a) => a !== '--resume');
    // (stopped before its first epoch ended there is nothing to resume: --resume would be refused)
    const workDir = pretrainWorkDir(path.join(path.dirname(out), '.digits'), out, flags.preset, Boolean(noise));
    const resumeCommand = `digits pretrain ${resumeArgv.map(shellArg).join(' ')} --resume`;
    this.exitOnInterrupt(() =>
      existsSync(path.join(workDir, 'last'))
        ? `Continue it with \`${resumeCommand}\`: it goes on from its last finished epoch (the checkpoint in ${displayPath(out)} is written only when the pretraining ends).`
        : `It stopped before its first epoch ended, so there is nothing to resume: run \`digits pretrain ${resumeArgv.join(' ')}\` again to start it.`,
    );
    const result = await pretrainCheckpoint({
      preset: flags.preset,
      epochs: flags.epochs,
      batchSize: flags['batch-size'],
      learningRate: lr,
      limit: flags.limit,
      seed: flags.seed,
      holdoutSeed: flags['holdout-seed'],
      outDir: out,
      // The work folder (its lock, best/ and last/) lives beside the output, so a second pretraining into the same --out is refused from any working folder.
      workRoot: path.join(path.dirname(out), '.digits'),
      backgroundNoise: noise,
      backgroundNoiseMin: noiseMin,
      geometric: flags.geometric,
      init: flags.init ? await resolveCheckpointArg(flags.init) : undefined,
      force: flags.force,
      onWarning: (message) => (flags.json ? process.stdout.write(`${JSON.stringify({ type: 'warning', message })}\n`) : process.stderr.write(`warning: ${message}\n`)),
      resume: flags.resume,
      command: recordedCommand(['digits', 'pretrain', ...this.argv]),
      onEvent: eventPrinter(flags.json),
    }).catch((error: unknown) => {
      // A full disk (or the like) after saved epochs: the hint names --resume, as Ctrl-C's does.
      // "Run it again" started over from epoch 1 and overwrote them (until session 45).
      const saved = existsSync(path.join(workDir, 'last'));
      const system = saved ? fromSystemError(error, { then: `continue it with \`${resumeCommand}\`: it goes on from its last finished epoch (without --resume it would start again from epoch 1)` }) : fromSystemError(error);
      // The work folder is the pretraining's own, beside --out: a folder the user never named was
      // said alone ("cannot write …/.digits: permission denied") until session 49.
      const workRoot = path.join(path.dirname(out), '.digits');
      if (system?.where?.file && (system.where.file === workRoot || system.where.file.startsWith(`${workRoot}${path.sep}`))) {
        throw new UserError(`${system.message} (${system.where.file === workRoot ? 'the' : 'in the'} pretraining's work folder, kept beside --out until it ends)`, { where: { file: system.where.file, flag: 'out' }, hint: system.hint, exitCode: system.exitCode });
      }
      throw system ?? error;
    });
    if (flags.json) this.printJson(result);
    else process.stdout.write(`${result.checkpoint}: val_acc ${(result.valAcc * 100).toFixed(2)}%, t10k accuracy ${(result.testAcc * 100).toFixed(2)}% (${(result.testAccUniformNoise * 100).toFixed(2)}% with uniform background noise) after ${plural(result.epochs, 'epoch')} in ${Math.round(result.seconds)}s\n`);
  }
}
