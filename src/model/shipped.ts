/** Shipped checkpoints: they live inside the installed package, not in the working folder. */
import { access, realpath } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../errors.js';

/** Where the package is installed (shipped checkpoints live there, not in the cwd). */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

async function exists(p: string): Promise<boolean> {
  return access(p).then(
    () => true,
    () => false,
  );
}

/**
 * A member's init checkpoint. A relative path that names a shipped checkpoint
 * (`checkpoints/mnist-noisy/seed002`: the starts of quick, full, auto and search) is that
 * shipped checkpoint, whatever the working folder holds; any other relative path is from the
 * working folder. (An ensemble file's relative inits were already tried against the file's
 * folder: `resolveEnsemble`.) Until session 34 the working folder came first, so a checkpoint
 * pretrained there under the shipped one's name (pretrain's default --out is
 * `checkpoints/mnist-clean/<preset>`) silently replaced it in every run and search.
 */
export async function resolveInit(init: string, from?: { file: string; key: string; stdin?: boolean }): Promise<string> {
  const shipped = path.join(PACKAGE_ROOT, init);
  if (!path.isAbsolute(init) && (await exists(path.join(shipped, 'COMPLETE')))) return shipped;
  const found = await findCheckpoint(init);
  if (found) return found;
  // (in the order tried: an ensemble file's relative init was tried against the file's folder
  // first, by resolveEnsemble, which names the file; a path out of the package, ../x, cannot be
  // a shipped checkpoint: not named as one)
  const places = path.isAbsolute(init)
    ? []
    : [
        // (a file on standard input has no folder: its inits are the working folder's)
        ...(from && !from.stdin ? [`in the ensemble file's folder (${path.join(path.dirname(path.resolve(from.file)), init)})`] : []),
        ...(shipped.startsWith(`${PACKAGE_ROOT}${path.sep}`) ? [`among the shipped checkpoints (${shipped})`] : []),
        `in the working folder (${path.resolve(init)})`,
      ];
  const looked = places.length === 1 ? `: looked ${places[0]}` : places.length > 1 ? `: looked ${places.slice(0, -1).join(', ')} and ${places.at(-1)}` : '';
  throw new UserError(`the init checkpoint ${init}${from ? ` (${from.key})` : ''} does not exist${looked}`, {
    where: from ? { file: from.file } : { file: path.resolve(init) },
    hint: `${from?.stdin ? 'In an ensemble file on standard input, "init" is relative to the working folder: give it so' : 'In an ensemble file, "init" is looked for first in the file\'s own folder: give it relative to that folder'} (or absolute); make a checkpoint with \`digits pretrain --preset <preset> --out <folder>\`, or remove "init" from the member.`,
  });
}

/**
 * A checkpoint path as given (absolute, or found from the working folder), else the shipped one
 * of that path (`checkpoints/mnist-clean/seed002`); null when it is in neither place.
 */
async function findCheckpoint(given: string): Promise<string | null> {
  const local = path.resolve(given);
  if (path.isAbsolute(given) || (await exists(local))) return local;
  const shipped = path.join(PACKAGE_ROOT, given);
  return (await exists(shipped)) ? shipped : null;
}

/**
 * A checkpoint folder named on the command line: from the working folder, else the shipped one
 * of that path (`checkpoints/mnist-clean/seed002`, as the help examples name it, from any
 * folder); a path found in neither is returned as given, for the caller's own error.
 */
export async function resolveCheckpointArg(given: string): Promise<string> {
  return (await findCheckpoint(given)) ?? path.resolve(given);
}

/**
 * The shipped checkpoint a checkpoint folder would be confused with: `folder` named from the
 * working folder (`checkpoints/mnist-clean/seed002`, pretrain's default --out) is also a
 * shipped checkpoint's name, and `resolveInit` gives relative inits of that name the shipped
 * one. `replaces` when the folder is the shipped checkpoint itself (working in the package).
 */
export async function shippedNamesake(folder: string): Promise<{ name: string; replaces: boolean } | null> {
  const out = path.resolve(folder);
  // The shipped checkpoint itself, however it is reached (`../digits/checkpoints/…` or an absolute
  // path from outside the package, a symlink): until session 42 only a path named from inside the
  // package was seen to be one, and a pretraining from elsewhere replaced it without --force.
  const real = await realpath(out).catch(() => out);
  const root = await realpath(PACKAGE_ROOT).catch(() => PACKAGE_ROOT);
  const inPackage = path.relative(root, real);
  if (inPackage.startsWith(`checkpoints${path.sep}`) && !inPackage.startsWith('..') && (await exists(path.join(real, 'COMPLETE')))) {
    return { name: inPackage.split(path.sep).join('/'), replaces: true };
  }
  const name = path.relative(process.cwd(), out);
  if (name === '' || name.startsWith('..') || path.isAbsolute(name)) return null;
  const shipped = path.join(PACKAGE_ROOT, name);
  if (!(await exists(path.join(shipped, 'COMPLETE')))) return null;
  return { name: name.split(path.sep).join('/'), replaces: shipped === out };
}
