/**
 * Folders a command is to write into, named by a flag (`--out`, `--run`, `--dir`) or by default
 * (`runs/<name>`): checked before any work, made without leaving an empty one behind.
 *
 * A file where the folder, or one of the folders above it, must be made crashed the commands
 * with mkdir's EEXIST or ENOTDIR (an internal error, exit 70), some after the whole training;
 * and the messages that did catch it named the folder that was to be made, which did not exist,
 * instead of the file in the way (session 39).
 */
import { readdir, rm, rmdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { makeFolders } from './make-folders.js';
import { UserError } from './errors.js';

/**
 * The file (anything but a folder) that stands where `dir` or one of the folders above it must
 * be a folder: `dir` itself, or `afile` for `afile/x/y`. Null when the path is free (folders
 * all the way to a missing part, or to `dir` itself). Creates nothing.
 */
export async function fileInTheWay(dir: string): Promise<string | null> {
  for (let current = path.resolve(dir); ; ) {
    const found = await stat(current).catch((error: NodeJS.ErrnoException) => {
      // ENOTDIR: a part above is a file, which the walk upward reaches; anything else (permissions) is for the write to report.
      if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return undefined;
      return null;
    });
    if (found === null) return null;
    if (found) return found.isDirectory() ? null : current;
    const parent = path.dirname(current);
    if (parent === current) return null;
    current = parent;
  }
}

export interface FolderUse {
  /** the flag that names the folder (said even when its default was used: that is how to choose another); none for a folder no flag chooses */
  flag?: string;
  /** what the folder is, for the message: "the search folder", "the run folder" */
  what: string;
  /** the flag names a file in the folder (report.html, corrections.jsonl), not the folder */
  fileFlag?: boolean;
}

/** The error for a folder that cannot be made because `blocker` (`dir` or a folder above it) is a file. */
export function folderBlocked(dir: string, blocker: string, use: FolderUse): UserError {
  const self = path.resolve(blocker) === path.resolve(dir);
  return new UserError(self ? `${use.what} ${dir} is a file, not a folder` : `${use.what} ${dir} cannot be made: ${blocker} is a file, not a folder`, {
    where: use.flag ? { file: blocker, flag: use.flag } : { file: blocker },
    hint: !use.flag
      ? `Move ${blocker} aside.`
      : use.fileFlag
        ? `Give --${use.flag} a path inside a folder, or move ${blocker} aside.`
        : self
          ? `Give --${use.flag} a folder's path, or move that file aside.`
          : `Give --${use.flag} a path that is not under a file, or move ${blocker} aside.`,
  });
}

/** Refuses, before any work, a folder path that a file stands in the way of (see `fileInTheWay`). */
export async function assertFolderPath(dir: string, use: FolderUse): Promise<void> {
  const blocker = await fileInTheWay(dir);
  if (blocker !== null) throw folderBlocked(dir, blocker, use);
}
/**
 * Makes `dir` and the folders above it that are missing; `undo` removes again those of them that
 * are still empty (`keep`: names that count as empty, such as a lock), so a command refused after
 * making its folder leaves none behind: not the run folder, nor the `runs/` it made for it.
 */
export async function makeFolder(dir: string, options: { keep?: readonly string[] } = {}): Promise<{ created: boolean; undo: () => Promise<void> }> {
  const target = path.resolve(dir);
  const first = await makeFolders(target);
  const made: string[] = [];
  if (first !== undefined) {
    for (let at = target; ; at = path.dirname(at)) {
      made.push(at);
      if (at === first || path.dirname(at) === at) break;
    }
  }
  const undo = async () => {
    // Deepest first; rmdir removes only an empty folder, so another command's files (a run
    // made beside this one under a fresh runs/) stay, and so does every folder above them.
    for (const [index, folder] of made.entries()) {
      if (index === 0) {
        const names = await readdir(folder).catch(() => null);
        if (names === null || !names.every((name) => options.keep?.includes(name))) return;
        for (const name of names) await rm(path.join(folder, name), { recursive: true, force: true });
      }
      if (!(await rmdir(folder).then(() => true, () => false))) return;
    }
  };
  return { created: first !== undefined, undo };
}
