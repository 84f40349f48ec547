/**
 * `digits pretrain` as a service: the work folder (where the member trains, `best/` and
 * `last/`, what `--resume` continues) belongs to the output checkpoint, and is locked while
 * it trains. Two pretrainings of one preset to different outputs therefore run side by side;
 * they used to share `.digits/pretrain/<preset>` and overwrite each other's `best/` (two
 * 30-epoch runs started minutes apart ended with the same weights.bin in both outputs).
 * A second pretraining to the same output is refused, naming the one that holds it.
 */
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { makeFolders } from '../make-folders.js';
import { removeStaleTempFiles } from '../atomic-file.js';
import { assertReplaceable, readCheckpointMetadata } from '../model/checkpoint.js';
import { shippedNamesake } from '../model/shipped.js';
import { displayPath } from '../data/format.js';
import { UserError } from '../errors.js';
import { lockRun } from '../runs/lock.js';
import { RUN_MANIFEST } from '../runs/manifest.js';
import { pretrain, type PretrainOptions, type PretrainResult } from '../training/pretrain.js';

/**
 * The work folder of a pretraining into `outDir`: under `root` (the command's `.digits`), by
 * kind and preset, then the output's folder name and a digest of its absolute path.
 */
export function pretrainWorkDir(root: string, outDir: string, preset: string, noisy: boolean): string {
  const out = path.resolve(outDir);
  const key = `${path.basename(out)}-${createHash('sha256').update(out).digest('hex').slice(0, 10)}`;
  return path.join(path.resolve(root), noisy ? 'pretrain-noisy' : 'pretrain', preset, key);
}

export type PretrainServiceOptions = Omit<PretrainOptions, 'workDir'> & {
  workRoot: string;
  /** replace a shipped checkpoint (an `outDir` that is one: working in the package itself) */
  force?: boolean;
  /** something the user should know before the hours of training (the output shadows a shipped checkpoint's name) */
  onWarning?: (message: string) => void;
};

async function assertSomethingToResume(options: { resume?: boolean; outDir: string }, workDir: string): Promise<void> {
  if (!options.resume || (await stat(path.join(workDir, 'last')).catch(() => null))) return;
  const out = path.resolve(options.outDir);
  const finished = await stat(path.join(out, 'weights.bin')).catch(() => null);
  throw new UserError(finished ? `the pretraining into ${out} finished: nothing to resume` : `nothing to resume: no interrupted pretraining into ${out}`, {
    where: { flag: 'resume' },
    hint: finished ? 'Drop --resume to train it again from the start (it replaces the checkpoint), or give another --out.' : 'Drop --resume to start it.',
  });
}

/** The run folder (one holding run.json) that `folder` is or lies in, or null. */
async function enclosingRun(folder: string): Promise<string | null> {
  for (let dir = folder; ; dir = path.dirname(dir)) {
    if (await stat(path.join(dir, RUN_MANIFEST)).then((info) => info.isFile(), () => false)) return dir;
    if (path.dirname(dir) === dir) return null;
  }
}

export async function pretrainCheckpoint(options: PretrainServiceOptions): Promise<PretrainResult & { workDir: string }> {
  const { workRoot, force, onWarning, ...rest } = options;
  // An init of another network is refused here, naming the flag (in the training it was an internal error).
  if (options.init) {
    const initPreset = (
      await readCheckpointMetadata(options.init).catch((error: unknown) => {
        if (!(error instanceof UserError)) throw error;
        throw new UserError(error.message, { where: { ...error.where, flag: 'init' }, hint: 'Give --init a checkpoint folder: one of yours, or a shipped one such as checkpoints/mnist-clean/seed002.' });
      })
    ).preset;
    if (initPreset !== options.preset) {
      throw new UserError(`--init ${displayPath(options.init)} is a network of preset ${initPreset}, not ${options.preset}`, {
        where: { flag: 'init' },
        hint: `Pass --preset ${initPreset} to continue it, or an --init of preset ${options.preset} (or none, for fresh weights).`,
      });
    }
  }
  // Said before the training, not after it: the output is named like a shipped checkpoint.
  const namesake = await shippedNamesake(options.outDir);
  if (namesake?.replaces && !force && !options.resume) {
    throw new UserError(`${namesake.name} is a shipped checkpoint (the start of quick, full, auto or search): this pretraining would replace it`, {
      where: { flag: 'out' },
      hint: `Give another --out (e.g. --out checkpoints/mine/${options.preset}), or add --force to replace the shipped one.`,
    });
  }
  // A run's member is no pretraining's to replace: a pretraining into `<run>/<member>/best` swapped
  // the network the run trained on the competition for an MNIST one, and evaluate then scored
  // the run with it in silence (until session 49).
  const run = await enclosingRun(path.resolve(options.outDir));
  if (run && !force && !options.resume) {
    throw new UserError(`${displayPath(options.outDir)} is inside the run folder ${displayPath(run)}: this pretraining would put an MNIST network in the place of what the run trained`, {
      where: { flag: 'out' },
      hint: `Give another --out (e.g. --out checkpoints/mine/${options.preset}), or add --force to replace it anyway.`,
    });
  }
  // A folder the checkpoint cannot be saved into (one holding other files) is refused now: it was
  // found by the save, after the whole training, with the weights left in a work folder it never named.
  await assertReplaceable(path.resolve(options.outDir)).catch((error: unknown) => {
    if (!(error instanceof UserError)) throw error;
    throw new UserError(error.message, { where: { ...error.where, flag: 'out' }, hint: 'Give --out a new or empty folder (or one that holds a checkpoint, which the pretraining replaces), or move those files away first.' });
  });
  const workDir = pretrainWorkDir(workRoot, options.outDir, options.preset, Boolean(options.backgroundNoise));
  // --resume continues an interrupted pretraining from last/; with none it started over in
  // silence (and overwrote a finished checkpoint). Refused before the work folder is made (a
  // refusal left empty .digits/pretrain/<preset>/<out> folders behind until session 43), and
  // again once it is locked, in case another pretraining finished meanwhile.
  await assertSomethingToResume(options, workDir);
  // (after the refusals: it came before "nothing to resume", three lines of noise ahead of the error)
  if (namesake && !namesake.replaces) {
    // (an ensemble file's "init" is looked for beside the file first, then among the shipped
    // checkpoints, then in the working folder: it said "means the shipped one" of every ensemble)
    const home = process.cwd();
    onWarning?.(`${namesake.name} is also the name of a shipped checkpoint: "init": "${namesake.name}" in an ensemble file in ${home} (where "init" is looked for first), and --init ${namesake.name} from there, mean this one; an ensemble file anywhere else means the shipped one. Name this one by its absolute path (${path.resolve(options.outDir)}) to be sure, or give another --out`);
  }
  await makeFolders(workDir);
  const lock = await lockRun(workDir, options.command).catch((error: unknown) => {
    if (!(error instanceof UserError)) throw error;
    throw new UserError(`a pretraining into ${path.resolve(options.outDir)} is already running: ${error.message}`, {
      where: { flag: 'out' },
      hint: 'Wait for it to finish, or give this one another --out (pretrainings into different folders run side by side).',
    });
  });
  try {
    // Temp files of a pretraining killed mid-save (Ctrl-C) go once we hold the folder.
    await removeStaleTempFiles(workDir);
    await assertSomethingToResume(options, workDir);
    const result = await pretrain({ ...rest, workDir });
    return { ...result, workDir };
  } finally {
    await lock.release();
  }
}
