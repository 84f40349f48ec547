/**
 * `digits data import` and the import stage of `digits run`: a competition's CSVs into the
 * dataset cache, with the orientation detected by the shipped clean-MNIST checkpoint when
 * there is one and no orientation was given (set up here once for both callers).
 */
import type { BackendRequest } from '../engine/backend.js';
import { initEngine } from '../engine/backend.js';
import path from 'node:path';
import { importCompetition, type ImportOptions, type ImportReport } from '../data/import.js';
import { DEFAULT_DATASET_SUBDIR, readManifest } from '../data/dataset.js';
import { findCleanCheckpoint, loadOrientationModel, type OrientationModel } from '../inference/orientation-model.js';

export interface ImportDataOptions extends Omit<ImportOptions, 'orientationScorer' | 'orientationModel' | 'orientationMargin'> {
  /** engine for the orientation detector (initialised only when it runs) */
  backend: BackendRequest;
  /**
   * Keep what the user chose when they imported these files (`digits data import --label-column
   * digit`, `--scale`, `--invert`, …): `digits run --data` gives no import flags, and its import
   * with none re-imported the competition by detection alone, undoing them (a label column
   * named `digit` then failed, an `--invert` was lost).
   */
  keepImportChoices?: boolean;
}

/** The choices (flags) an existing import of these files was made with, as import options; none when there is none. */
async function importChoices(options: ImportDataOptions): Promise<Partial<ImportOptions>> {
  const datasetDir = path.resolve(options.out ?? path.join(options.competitionDir, DEFAULT_DATASET_SUBDIR));
  const manifest = await readManifest(datasetDir).catch(() => null);
  if (!manifest) return {};
  // The same files (by path), or it is another competition's cache
  const train = manifest.sources.find((source) => source.role === 'train');
  if (!train || train.path !== path.resolve(options.train)) return {};
  const r = manifest.request;
  return {
    ...(r.header !== null ? { header: r.header } : {}),
    ...(r.labelColumn !== null ? { labelColumn: r.labelColumn } : {}),
    ...(r.scale !== null ? { scale: r.scale } : {}),
    ...(r.size !== null ? { size: r.size } : {}),
    ...(r.invert != null ? { invert: r.invert } : {}),
    ...(r.testCheck === false ? { testCheck: false } : {}),
    // An orientation given as a flag (as-is too): detected ones carry the detecting model's fingerprint
    ...(r.orientationModel == null ? { orientation: r.orientation } : {}),
  };
}

export async function importData(options: ImportDataOptions): Promise<ImportReport> {
  const { backend, keepImportChoices, ...given } = options;
  // (flags given now win; an option passed as undefined is not given)
  const importOptions = keepImportChoices ? ({ ...(await importChoices(options)), ...Object.fromEntries(Object.entries(given).filter(([, value]) => value !== undefined)) } as typeof given) : given;
  let detector: OrientationModel | null = null;
  if (!importOptions.orientation) {
    const checkpoint = await findCleanCheckpoint();
    if (checkpoint) {
      await initEngine({ backend });
      detector = await loadOrientationModel(checkpoint);
    }
  }
  try {
    return await importCompetition({ ...importOptions, orientationScorer: detector?.scorer, orientationModel: detector?.fingerprint, orientationMargin: detector?.margin });
  } finally {
    detector?.dispose();
  }
}
