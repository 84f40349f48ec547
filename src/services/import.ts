/**
 * `digits data import` and the import stage of `digits run`: a competition's CSVs into the
 * dataset cache, with the orientation detected by the shipped clean-MNIST checkpoint when
 * there is one and no orientation was given (set up here once for both callers).
 */
import type { BackendRequest } from '../engine/backend.js';
import { initEngine } from '../engine/backend.js';
import { importCompetition, type ImportOptions, type ImportReport } from '../data/import.js';
import { findCleanCheckpoint, loadOrientationModel, type OrientationModel } from '../inference/orientation-model.js';

export interface ImportDataOptions extends Omit<ImportOptions, 'orientationScorer' | 'orientationModel' | 'orientationMargin'> {
  /** engine for the orientation detector (initialised only when it runs) */
  backend: BackendRequest;
}

export async function importData(options: ImportDataOptions): Promise<ImportReport> {
  const { backend, ...importOptions } = options;
  let detector: OrientationModel | null = null;
  if (!options.orientation) {
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
