/**
 * A new run folder under `runs/`, named `<ensemble>-<time>` to the second: two runs started in
 * the same second (two terminals, a script) took the same name, and both chose their recipes
 * into one folder until the second failed on the first's lock, after its whole probing phase,
 * with advice about a folder it could not choose (session 40). The folder is claimed by making
 * it (`mkdir` fails when it exists, atomically), with `-2`, `-3`… after the name when it is
 * taken.
 *
 * The claim is marked by `<run>/.claim` (who made it: pid, host, start, command) until the run
 * ends. A run killed with SIGKILL (or by the machine going down) while it chose its recipe left
 * its folder with the probes and no run.json: `runs` did not list it, `run --resume` found
 * nothing to resume, and nothing removed it (session 40). Such a folder, whose claimant no
 * longer runs on this host and which holds no run.json (nor round 1's), is abandoned: `digits
 * runs` names it and the next `digits run` removes it.
 */
import { mkdir, readdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { existsSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeFolders } from '../make-folders.js';
import { isStale, readHolder, type LockHolder } from './lock.js';
import { ROUND1_DIR, RUN_MANIFEST } from './manifest.js';

/** The file that marks a run folder as claimed by a run still choosing its recipe, or running. */
export const CLAIM_FILE = '.claim';

export interface ClaimedRunFolder {
  /** the folder made */
  dir: string;
  /** its name (`base`, or `base-2`…) */
  name: string;
  /** the parent folder, when this claim made it (runs/ of a new project): removed with the run folder when nothing was kept */
  madeParent: string | null;
  /** what `.claim` holds: this process */
  holder: LockHolder;
}

/** The i-th name tried for a run folder: `base`, then `base-2`, `base-3`… */
const numbered = (base: string, i: number) => (i === 1 ? base : `${base}-${i}`);

export async function claimRunFolder(parent: string, base: string, command = 'digits run'): Promise<ClaimedRunFolder> {
  const made = await makeFolders(parent);
  for (let i = 1; ; i++) {
    const name = numbered(base, i);
    const dir = path.join(parent, name);
    try {
      await mkdir(dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || i >= 1000) throw error;
      continue;
    }
    const holder: LockHolder = { pid: process.pid, hostname: os.hostname(), startedAt: new Date().toISOString(), command };
    await writeFile(path.join(dir, CLAIM_FILE), `${JSON.stringify(holder)}\n`);
    return { dir, name, madeParent: made === undefined ? null : path.resolve(parent), holder };
  }
}

/** Removes the claim's mark: the run ended (finished, failed, or stopped), so its folder is not abandoned. */
export async function releaseClaim(claim: Pick<ClaimedRunFolder, 'dir'> | null): Promise<void> {
  if (claim) await rm(path.join(claim.dir, CLAIM_FILE), { force: true });
}

/**
 * A stopped run's folder that could not be removed (a probe saving into it as the process died)
 * stays claimed by this process, its `.claim` written again if the removal took it: once the
 * process is gone the folder is abandoned, so `digits runs` names it and the next `digits run`
 * removes it (until session 48 the claim was released, and such a folder was listed nowhere and
 * never removed).
 */
export function keepClaimSync(claim: ClaimedRunFolder | null): void {
  if (!claim || !existsSync(claim.dir)) return;
  try {
    writeFileSync(path.join(claim.dir, CLAIM_FILE), `${JSON.stringify(claim.holder)}\n`);
  } catch {
    // the folder went meanwhile, or cannot be written: nothing more to do as the process dies
  }
}

export function releaseClaimSync(claim: Pick<ClaimedRunFolder, 'dir'> | null): void {
  if (!claim) return;
  try {
    rmSync(path.join(claim.dir, CLAIM_FILE), { force: true });
  } catch {
    // the folder is going or gone
  }
}

/** A run folder whose run was killed before it saved anything resumable. */
export interface AbandonedRunFolder {
  dir: string;
  /** the run that claimed it (no longer running) */
  holder: LockHolder;
}

/**
 * The folders under `parent` claimed by a run that no longer runs on this host and that hold
 * nothing resumable (no run.json, nor round 1's). A claim of another host is never judged
 * (its process cannot be checked), nor a folder without a claim (runs of before session 41,
 * folders the user made).
 */
export async function abandonedRunFolders(parent: string): Promise<AbandonedRunFolder[]> {
  const entries = await readdir(parent, { withFileTypes: true }).catch(() => []);
  const out: AbandonedRunFolder[] = [];
  for (const entry of entries) {
    if (!entry.isDirectory()) continue;
    const dir = path.join(parent, entry.name);
    const holder = await readHolder(path.join(dir, CLAIM_FILE));
    if (!holder || !isStale(holder)) continue;
    if (existsSync(path.join(dir, RUN_MANIFEST)) || existsSync(path.join(dir, ROUND1_DIR, RUN_MANIFEST))) continue;
    out.push({ dir, holder });
  }
  return out;
}

/** Removes the abandoned folders under `parent` (abandonedRunFolders), returning those removed. */
export async function removeAbandonedRunFolders(parent: string): Promise<AbandonedRunFolder[]> {
  const removed: AbandonedRunFolder[] = [];
  for (const folder of await abandonedRunFolders(parent)) {
    // (checked again just before: a run resumed into it since would have written run.json)
    if (existsSync(path.join(folder.dir, RUN_MANIFEST))) continue;
    if (await rm(folder.dir, { recursive: true, force: true }).then(() => true, () => false)) removed.push(folder);
  }
  return removed;
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
