/**
 * A run's trained members opened as predictors: the one place evaluate, submit and serve
 * turn run.json's members into running models. With the run's dataset at hand, each member
 * also gets its held-out rows and its int8 calibration images (its own training rows).
 */
import path from 'node:path';
import type { Dataset } from '../data/dataset.js';
import { assertSplitUnchanged, loadSplit, type SavedSplit } from '../data/splits.js';
import { createPredictor, type InferMode, type Precision, type Predictor } from '../inference/predictor.js';
import { CALIBRATION_IMAGES, type CalibrationSet } from '../onnx/quantize.js';
import { RUN_MANIFEST, resolveStoredPath, type MemberOutcome, type RunManifest } from './manifest.js';
import { CheckpointError, checkpointIdentity, readCheckpointMetadata } from '../model/checkpoint.js';
import { UserError } from '../errors.js';

export interface TrainedMember {
  outcome: MemberOutcome;
  /** absolute path of the member's checkpoint */
  checkpoint: string;
}

/** The members of run.json that have a checkpoint, and the others with the reason. */
export function trainedMembers(runDir: string, manifest: RunManifest): { trained: TrainedMember[]; skipped: Array<{ name: string; reason: string }> } {
  const trained: TrainedMember[] = [];
  const skipped: Array<{ name: string; reason: string }> = [];
  for (const m of manifest.members) {
    if (!m.ok || !m.checkpoint) skipped.push({ name: m.name, reason: m.ok ? 'no checkpoint recorded' : `training failed${m.error ? `: ${m.error.split('\n')[0]}` : ''}` });
    else trained.push({ outcome: m, checkpoint: resolveStoredPath(runDir, m.checkpoint) });
  }
  return { trained, skipped };
}

/**
 * Every trained member's checkpoint is still there and complete, else an error naming the
 * member and saying to restore it (`uses`: "digits submit submits", the command's own words).
 * Its checkpoints' identities, in order. evaluate, submit and serve check it before opening
 * any member: until session 44 only submit did, and evaluate and serve said "no checkpoint at
 * …/b-f2/best … train a model to create it", a new training for a folder to restore.
 */
export async function assertMembersReadable(runDir: string, trained: readonly TrainedMember[], uses: string): Promise<string[]> {
  const identities: string[] = [];
  for (const member of trained) {
    try {
      await readCheckpointMetadata(member.checkpoint);
      identities.push(await checkpointIdentity(member.checkpoint));
    } catch (error) {
      if (!(error instanceof CheckpointError)) throw error;
      throw new UserError(`member ${member.outcome.name} of the run cannot be read: ${error.message}`, {
        where: { file: error.file },
        hint: `Restore ${path.relative(runDir, member.checkpoint) || member.checkpoint} in ${runDir} (${uses} every trained member of run.json), or train the run again.`,
      });
    }
  }
  return identities;
}

/** Images of the given rows as floats in [0,1]. */
export function rowsAsFloats(images: Uint8Array | Float32Array, scale: number, pixels: number, rows: ArrayLike<number>): Float32Array {
  const out = new Float32Array(rows.length * pixels);
  for (let i = 0; i < rows.length; i++) {
    const base = rows[i]! * pixels;
    for (let p = 0; p < pixels; p++) out[i * pixels + p] = images[base + p]! / scale;
  }
  return out;
}

/**
 * Up to CALIBRATION_IMAGES of a member's own training rows, spread evenly over them, as the
 * images its int8 export is calibrated on (never validation or test rows).
 */
export function memberCalibration(dataset: Dataset, trainRows: ArrayLike<number>, label: string): () => Promise<CalibrationSet> {
  return async () => {
    const step = Math.max(1, Math.floor(trainRows.length / CALIBRATION_IMAGES));
    const rows: number[] = [];
    for (let i = 0; i < trainRows.length && rows.length < CALIBRATION_IMAGES; i += step) rows.push(trainRows[i]!);
    const pixels = dataset.width * dataset.height;
    return { images: rowsAsFloats(dataset.trainImages, dataset.scale, pixels, rows), count: rows.length, source: `${rows.length} training rows of ${label}` };
  };
}

export interface OpenMembersOptions {
  infer?: InferMode;
  precision?: Precision;
  /** ONNX Runtime intra-op threads per session */
  threads?: number;
  /** the run's dataset: gives each member its held-out rows and int8 calibration images */
  dataset?: Dataset;
  /** ONNX Runtime spin-waits between runs (default: only when the run has one member; see PredictorOptions.spin) */
  spin?: boolean;
  /** which trained members to open (default all); e.g. the ones a worker pool did not take */
  only?: (member: TrainedMember, index: number) => boolean;
}

export interface OpenMember extends TrainedMember {
  predictor: Predictor;
  /** the member's held-out rows (with a dataset) */
  validationRows: number[] | null;
}

/**
 * Refuses a run whose validation split was replaced since it trained (`data split --force`):
 * its evaluation's figures, weights and TTA were decided on rows the members may have trained
 * on. `openMembers` checks it when it opens them; `submit` reusing saved predictions opens none,
 * so it checks here (until session 42 it submitted where `evaluate` refused).
 */
export async function assertRunSplitsUnchanged(runDir: string, manifest: RunManifest, dataset: Dataset): Promise<void> {
  for (const name of new Set((manifest.splits ?? []).map((s) => s.name))) {
    assertSplitUnchanged(await loadSplit(dataset.dir, name, dataset.fingerprint), manifest.splitDigests?.[name], { name: manifest.name, file: path.join(runDir, RUN_MANIFEST) });
  }
}

/** Opens the run's trained members as predictors (all closed again when one fails to open). */
export async function openMembers(runDir: string, manifest: RunManifest, options: OpenMembersOptions = {}): Promise<OpenMember[]> {
  const { trained } = trainedMembers(runDir, manifest);
  const opened: OpenMember[] = [];
  // One member alone may let ONNX Runtime spin between runs; several must not (see PredictorOptions.spin).
  const spin = options.spin ?? trained.length <= 1;
  // Each split read and checked against the run's record once, not once per member.
  const splits = new Map<string, SavedSplit>();
  const splitOf = async (dataset: Dataset, name: string) => {
    let split = splits.get(name);
    if (!split) {
      split = await loadSplit(dataset.dir, name, dataset.fingerprint);
      assertSplitUnchanged(split, manifest.splitDigests?.[name], { name: manifest.name, file: path.join(runDir, RUN_MANIFEST) });
      splits.set(name, split);
    }
    return split;
  };
  try {
    for (const [i, member] of trained.entries()) {
      if (options.only && !options.only(member, i)) continue;
      let validationRows: number[] | null = null;
      let calibration: (() => Promise<CalibrationSet>) | undefined;
      const { dataset } = options;
      if (dataset) {
        const fold = (await splitOf(dataset, member.outcome.split.name)).folds[member.outcome.split.fold]!;
        validationRows = Array.from(fold.validation);
        calibration = memberCalibration(dataset, fold.train, `${manifest.name}/${member.outcome.name}`);
      }
      const predictor = await createPredictor(member.checkpoint, { infer: options.infer ?? 'auto', precision: options.precision ?? 'auto', threads: options.threads, calibration, spin });
      opened.push({ ...member, predictor, validationRows });
    }
  } catch (error) {
    for (const m of opened) m.predictor.dispose();
    throw error;
  }
  return opened;
}
