/**
 * A new run folder under `runs/`, named `<ensemble>-<time>` to the second: two runs started in
 * the same second (two terminals, a script) took the same name, and both chose their recipes
 * into one folder until the second failed on the first's lock, after its whole probing phase,
 * with advice about a folder it could not choose (session 40). The folder is claimed by making
 * it (`mkdir` fails when it exists, atomically), with `-2`, `-3`… after the name when it is
 * taken.
 */
import { mkdir, rmdir } from 'node:fs/promises';
import { existsSync, rmdirSync } from 'node:fs';
import path from 'node:path';

export interface ClaimedRunFolder {
  /** the folder made */
  dir: string;
  /** its name (`base`, or `base-2`…) */
  name: string;
  /** the parent folder, when this claim made it (runs/ of a new project): removed with the run folder when nothing was kept */
  madeParent: string | null;
}

/** The i-th name tried for a run folder: `base`, then `base-2`, `base-3`… */
const numbered = (base: string, i: number) => (i === 1 ? base : `${base}-${i}`);

export async function claimRunFolder(parent: string, base: string): Promise<ClaimedRunFolder> {
  const made = await mkdir(parent, { recursive: true });
  for (let i = 1; ; i++) {
    const name = numbered(base, i);
    const dir = path.join(parent, name);
    try {
      await mkdir(dir);
      return { dir, name, madeParent: made === undefined ? null : path.resolve(parent) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || i >= 1000) throw error;
    }
  }
}

/** The claim's parent, made by it, removed when it is empty again (a run that kept nothing leaves no runs/ behind). */
export function removeEmptyParentSync(claim: ClaimedRunFolder | null): void {
  if (!claim?.madeParent) return;
  try {
    rmdirSync(claim.madeParent);
  } catch {
    // not empty (another run), or gone: left as it is
  }
}

export async function removeEmptyParent(claim: ClaimedRunFolder | null): Promise<void> {
  if (claim?.madeParent) await rmdir(claim.madeParent).catch(() => undefined);
}

/**
 * A name under `parent` no folder has yet (`base`, `base-2`…), without claiming it: for
 * `digits train`, which makes and locks its folder before any work, so that of two trainings
 * started in the same second the second trains beside the first instead of being refused by
 * its lock.
 */
export function freeRunName(parent: string, base: string): string {
  for (let i = 1; ; i++) {
    const name = numbered(base, i);
    if (!existsSync(path.join(parent, name))) return name;
  }
}
