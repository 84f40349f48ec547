/**
 * Absolute paths of older digits in a project moved whole. Before run.json had a `status` (the
 * same change made stored paths relative), run.json recorded its dataset's folder, and the
 * submissions ledger each run's folder, as absolute paths: after the project moved they name the old place. The
 * same thing is looked for at the same place relative to where the run (or the ledger) is now:
 * the stored path's tail under each of its folders' ancestors (`/old/root/competitions/uniform/.digits`
 * for a run now at `/new/root/runs/tiny` is tried at `/new/root/competitions/uniform/.digits`), and
 * a dataset is taken only when its fingerprint is the one run.json records.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { DEFAULT_DATASET_SUBDIR, MANIFEST_FILE } from '../data/dataset.js';

/** `dir` and each folder above it, nearest first. */
function ancestors(dir: string): string[] {
  const out: string[] = [];
  for (let at = path.resolve(dir); ; at = path.dirname(at)) {
    out.push(at);
    if (path.dirname(at) === at) return out;
  }
}

/**
 * Where an absolute `stored` path may be now that its project moved: each tail of it (longest
 * first, the whole path left out) under each ancestor of `base` (nearest first).
 */
export function relocationCandidates(stored: string, base: string): string[] {
  const parts = path.resolve(stored).split(path.sep).filter(Boolean);
  const out: string[] = [];
  for (const at of ancestors(base)) {
    for (let i = 1; i < parts.length; i++) out.push(path.join(at, ...parts.slice(i)));
  }
  return out.filter((candidate) => candidate !== path.resolve(stored));
}

/** The fingerprint of the dataset at `dir` (a dataset cache, or a competition holding one as `.digits/`), or null. */
function fingerprintAt(dir: string): { dir: string; fingerprint: string } | null {
  for (const at of [dir, path.join(dir, DEFAULT_DATASET_SUBDIR)]) {
    const file = path.join(at, MANIFEST_FILE);
    if (!existsSync(file)) continue;
    try {
      const fingerprint = (JSON.parse(readFileSync(file, 'utf8')) as { fingerprint?: unknown }).fingerprint;
      if (typeof fingerprint === 'string') return { dir, fingerprint };
    } catch {
      // not readable as a dataset: not this one
    }
  }
  return null;
}

/**
 * The dataset an absolute `stored` folder that no longer exists names, found at the same place
 * relative to `runDir` (the run folder now) with the `fingerprint` the run recorded; null when
 * the path is relative, still there, or nothing of that fingerprint is found.
 */
export function relocatedDatasetDir(runDir: string, stored: string, fingerprint: string): string | null {
  if (!path.isAbsolute(stored) || existsSync(stored)) return null;
  for (const candidate of relocationCandidates(stored, runDir)) {
    if (fingerprintAt(candidate)?.fingerprint === fingerprint) return candidate;
  }
  return null;
}

/**
 * Whether a ledger's absolute `stored` run folder that no longer exists is `runDir`, by the same
 * rule from the ledger's folder: the run is at the stored path's tail under one of its ancestors
 * (`/old/root/runs/tiny`, ledger now in `/new/root/submissions`, names `/new/root/runs/tiny`).
 */
export function isRelocatedRun(stored: string, submissionsDir: string, runDir: string, exists: (file: string) => boolean = existsSync): boolean {
  if (!path.isAbsolute(stored) || exists(stored)) return false;
  return relocationCandidates(stored, submissionsDir).includes(path.resolve(runDir));
}
