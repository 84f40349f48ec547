/**
 * `mkdir -p` that fails with the real reason. Node's recursive mkdir reports ENOENT ("no such
 * file or directory, mkdir") when it cannot make a missing folder on a read-only file system,
 * or under a folder the user may not write, where a plain mkdir says EROFS or EACCES: so
 * `train --run <new>`, `search --out <new>` and `pretrain --out <new>` on a read-only disk
 * ended in an internal error (exit 70) until session 45, where the other commands said "the
 * file system is read-only" (exit 2). The real error, with the folder it could not make, is
 * what `fromSystemError` (src/errors.ts) turns into that message.
 */
import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';

/**
 * Makes `dir` and the folders above it that are missing, as `mkdir(dir, { recursive: true })`
 * does, and returns the first folder it made (undefined when `dir` was there). When that fails
 * with ENOENT, the first missing folder below the nearest one that exists is made on its own,
 * and the error of that (EROFS, EACCES…, naming that folder) is thrown instead.
 */
export async function makeFolders(dir: string): Promise<string | undefined> {
  const target = path.resolve(dir);
  try {
    return await mkdir(target, { recursive: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    const first = await firstMissingFolder(target);
    if (first === null) throw error;
    try {
      await mkdir(first);
    } catch (real) {
      // (EEXIST: made meanwhile by another process; ENOENT: the folder above went meanwhile)
      const code = (real as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST' && code !== 'ENOENT') throw real;
      return await mkdir(target, { recursive: true });
    }
    // Made on its own: the rest of the way may now be made (another process removed a folder meanwhile).
    await mkdir(target, { recursive: true });
    return first;
  }
}

/** The folder of `target`'s path just below the nearest one that exists; null when nothing is missing. */
async function firstMissingFolder(target: string): Promise<string | null> {
  let missing: string | null = null;
  for (let at = target; ; at = path.dirname(at)) {
    const found = await stat(at).then(
      () => true,
      (error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? false : true),
    );
    if (found) return missing;
    missing = at;
    if (path.dirname(at) === at) return null;
  }
}
