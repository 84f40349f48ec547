/**
 * Checkpoints: a folder holding `model.json` + `weights.bin` in exactly the layout
 * tfjs-node's `file://` handler writes (tfjs `tfjs-node/src/io/file_system.ts`), so
 * `tf.loadLayersModel('file://…/model.json')` of tfjs-node and the browser read ours
 * unchanged, plus `metadata.json` (everything predict, serve and submit need to rebuild
 * the pipeline) and a `COMPLETE` marker with the sha256 and size of every file.
 *
 * We write without tfjs-node (it is an optional dependency and often fails to install),
 * through our own `tf.IOHandler` on node:fs.
 *
 * Writes are atomic. Everything goes into a sibling `<dir>.tmp-<pid>-<random>` folder,
 * each file is fsynced, the marker is written last, and only then is the folder swapped
 * in with renames (`<dir>` → `<dir>.old-<pid>-<random>`, temp → `<dir>`, old removed).
 * A process killed at any point leaves the previous checkpoint intact: before the first
 * rename it is untouched at `<dir>`; between the two renames it sits complete at
 * `<dir>.old-…`, which loading falls back to and the next save moves back. The same call
 * overwrites a folder in place every epoch.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { makeFolders } from '../make-folders.js';
import { processRunning, writeDurably } from '../atomic-file.js';
import { fileInTheWay } from '../output-folder.js';
import { basename, dirname, join, resolve } from 'node:path';
import type * as tf from '../engine/tf.js';
import {
  type CheckpointMetadata,
  type CheckpointMetadataInput,
  CheckpointError,
  HINT_RESAVE,
  METADATA_JSON,
  MODEL_JSON,
  WEIGHTS_BIN,
  isRecord,
  validateMetadata,
} from './checkpoint-metadata.js';

export {
  type CheckpointMetadata,
  type CheckpointMetadataInput,
  type CheckpointPreprocessing,
  CheckpointError,
  METADATA_JSON,
  MODEL_JSON,
  WEIGHTS_BIN,
} from './checkpoint-metadata.js';

export const COMPLETE_MARKER = 'COMPLETE';
/** What training needs to continue exactly (optimizer state, random streams, epoch): `last/` only. */
export const TRAINING_STATE_JSON = 'training-state.json';
export const TRAINING_STATE_BIN = 'training-state.bin';

/** The only files a checkpoint folder holds; anything else means it is not ours to replace. */
const CHECKPOINT_FILES: ReadonlySet<string> = new Set([MODEL_JSON, WEIGHTS_BIN, METADATA_JSON, COMPLETE_MARKER, TRAINING_STATE_JSON, TRAINING_STATE_BIN]);

/**
 * The training state saved with a checkpoint's weights, in the same atomic save and listed in
 * the same marker, so weights and state never come from different epochs (nanoGPT's ckpt.pt
 * holds model, optimizer and iter_num together). `json` is small; `bin` holds the tensors.
 */
export interface TrainingStateFiles {
  json: unknown;
  bin: Uint8Array;
}
/** Files derived from a checkpoint that live beside it (the ONNX export and its sidecar, and their temp files). */
const DERIVED_FILE = /^(model\.onnx|onnx\.json)(\.tmp-.*)?$/;

/** Points in a save at which `onStage` is called, in order. */
export type CheckpointSaveStage = 'files-written' | 'metadata-written' | 'marker-written' | 'previous-moved-aside';

export interface SaveCheckpointOptions {
  /**
   * Called as the save passes each stage. A throw aborts the save the way a crash would at
   * that point (then the temp folder is cleaned up and the previous checkpoint restored);
   * tests use it to interrupt a save midway.
   */
  onStage?: (stage: CheckpointSaveStage, paths: { dir: string; tempDir: string }) => void | Promise<void>;
  /** saved beside the weights in the same atomic save (`loadTrainingCheckpoint` reads it back) */
  trainingState?: TrainingStateFiles;
  /** The folder it goes in exists (a member's) and is not made again: a save racing the removal of a stopped run's folder fails, where it brought the folder back (session 48). */
  parentExists?: true;
}

export interface CheckpointHandlerOptions extends SaveCheckpointOptions {
  /** Written as `metadata.json` on save; without it a save writes only the model files. */
  metadata?: CheckpointMetadataInput;
}


interface MarkerEntry {
  sha256: string;
  bytes: number;
}

/** The `COMPLETE` marker: written last, so its presence means every file before it is whole. */
interface CompleteMarker {
  checkpoint: 1;
  files: Record<string, MarkerEntry>;
}

/** tfjs, imported where a model is saved or built: commands that only check files here (marker, metadata, identity) start without it. */
const tfjs = () => import('../engine/tf.js');

/** A checkpoint's files as read and verified in one pass. */
interface VerifiedCheckpoint {
  dir: string;
  modelJSON: tf.ModelJSON;
  weightSpecs: tf.WeightsManifestEntry[];
  weights: Buffer;
  metadata?: CheckpointMetadata;
  trainingState?: TrainingStateFiles | null;
}

/**
 * The `tf.IOHandler` for a checkpoint folder: `model.save(checkpointHandler(dir))` and
 * `tf.loadLayersModel(checkpointHandler(dir))`. Loading verifies the marker, sizes and hashes.
 */
export function checkpointHandler(dir: string, options: CheckpointHandlerOptions = {}): tf.IOHandler {
  return {
    save: async (artifacts) => {
      await writeCheckpoint(dir, artifacts, options.metadata, options);
      return { modelArtifactsInfo: (await tfjs()).io.getModelArtifactsInfoForJSON(artifacts) };
    },
    load: async () => toModelArtifacts(await readVerifiedCheckpoint(dir, false)),
  };
}

/** Saves `model` with its metadata to the folder `dir`, atomically replacing any checkpoint there. */
export async function saveCheckpoint(
  model: tf.LayersModel,
  dir: string,
  metadata: CheckpointMetadataInput,
  options: SaveCheckpointOptions = {},
): Promise<void> {
  await model.save(checkpointHandler(dir, { ...options, metadata }));
}

/** Loads and verifies the checkpoint in `dir`. */
export async function loadCheckpoint(dir: string): Promise<{ model: tf.LayersModel; metadata: CheckpointMetadata }> {
  const checkpoint = await readVerifiedCheckpoint(dir, true);
  const artifacts = toModelArtifacts(checkpoint);
  const model = await (await tfjs()).loadLayersModel({ load: async () => artifacts });
  return { model, metadata: checkpoint.metadata as CheckpointMetadata };
}

/**
 * Loads the checkpoint in `dir` with the training state saved in the same save (null when the
 * checkpoint has none), all verified against one marker.
 */
export async function loadTrainingCheckpoint(dir: string): Promise<{ model: tf.LayersModel; metadata: CheckpointMetadata; trainingState: TrainingStateFiles | null }> {
  const checkpoint = await readVerifiedCheckpoint(dir, true, true);
  const model = await (await tfjs()).loadLayersModel({ load: async () => toModelArtifacts(checkpoint) });
  return { model, metadata: checkpoint.metadata as CheckpointMetadata, trainingState: checkpoint.trainingState ?? null };
}

/**
 * Reads `metadata.json` of a complete checkpoint after checking its model.json and weights.bin
 * against the marker's hashes, without building the model: for whoever uses something derived
 * from the files (an ONNX export) and must not trust it when they have been damaged since.
 */
export async function readVerifiedMetadata(dir: string): Promise<CheckpointMetadata> {
  return (await readVerifiedCheckpoint(dir, true)).metadata as CheckpointMetadata;
}

/** Reads `metadata.json` of a complete checkpoint without reading its weights. */
export async function readCheckpointMetadata(dir: string): Promise<CheckpointMetadata> {
  return retryOnce(async () => {
    const at = await locateCheckpoint(dir);
    const marker = await readMarker(at);
    return readMetadata(at, marker);
  });
}

/** The layer names of a complete checkpoint's network, in order, from its model.json (no weights read). */
export async function checkpointLayerNames(dir: string): Promise<string[]> {
  return retryOnce(async () => {
    const at = await locateCheckpoint(dir);
    await readMarker(at);
    const model = JSON.parse(await readFile(join(at, MODEL_JSON), 'utf8')) as { modelTopology?: { config?: { layers?: Array<{ config?: { name?: string } }> } } };
    return (model.modelTopology?.config?.layers ?? []).map((l) => l.config?.name ?? '');
  });
}

/**
 * What identifies a complete checkpoint's network: the sha256 of its model.json and
 * weights.bin as its marker records them (not re-hashed). A folder saved again under the
 * same name gets another identity, so what was derived from the old one is seen to be stale.
 */
export async function checkpointIdentity(dir: string): Promise<string> {
  return retryOnce(async () => {
    const marker = await readMarker(await locateCheckpoint(dir));
    return `${marker.files[MODEL_JSON]!.sha256.slice(0, 16)}:${marker.files[WEIGHTS_BIN]!.sha256.slice(0, 16)}`;
  });
}

// ---------------------------------------------------------------------------------------
// Saving

/** Saves to the same folder within this process run one after another (the swap is not re-entrant). */
const saveQueues = new Map<string, Promise<unknown>>();
/** Temp and old folders of saves in flight in this process; never cleaned up as stale. */
const inFlight = new Set<string>();

async function writeCheckpoint(
  dir: string,
  artifacts: tf.ModelArtifacts,
  metadataInput: CheckpointMetadataInput | undefined,
  options: SaveCheckpointOptions,
): Promise<void> {
  const target = resolve(dir);
  const previous = saveQueues.get(target) ?? Promise.resolve();
  const run = previous.catch(() => undefined).then(() => writeCheckpointNow(target, artifacts, metadataInput, options));
  saveQueues.set(target, run);
  try {
    await run;
  } finally {
    if (saveQueues.get(target) === run) saveQueues.delete(target);
  }
}

async function writeCheckpointNow(
  target: string,
  artifacts: tf.ModelArtifacts,
  metadataInput: CheckpointMetadataInput | undefined,
  options: SaveCheckpointOptions,
): Promise<void> {
  const { modelTopology, weightSpecs, weightData } = artifacts;
  if (modelTopology == null || modelTopology instanceof ArrayBuffer) {
    throw new Error('checkpoints hold layers models with a JSON topology; this model has none');
  }
  if (weightSpecs == null || weightData == null) throw new Error('checkpoints need weights; the model artifacts have none');

  // The same object, key for key, as tfjs-node's NodeFileSystem.save writes.
  const modelJSON: tf.ModelJSON = {
    modelTopology,
    weightsManifest: [{ paths: [WEIGHTS_BIN], weights: weightSpecs }],
    format: artifacts.format,
    generatedBy: artifacts.generatedBy,
    convertedBy: artifacts.convertedBy,
  };
  if (artifacts.trainingConfig != null) modelJSON.trainingConfig = artifacts.trainingConfig;
  if (artifacts.signature != null) modelJSON.signature = artifacts.signature;
  if (artifacts.userDefinedMetadata != null) modelJSON.userDefinedMetadata = artifacts.userDefinedMetadata;
  const modelBytes = Buffer.from(JSON.stringify(modelJSON), 'utf8');
  const weightBytes = Buffer.from((await tfjs()).io.CompositeArrayBuffer.join(weightData));
  const expectedWeightBytes = manifestByteLength(weightSpecs);
  if (expectedWeightBytes != null && expectedWeightBytes !== weightBytes.length) {
    throw new Error(`the model's weights are ${weightBytes.length} bytes but its weight specs add up to ${expectedWeightBytes}`);
  }

  // Metadata is complete and checked before anything touches the disk.
  const files: Record<string, MarkerEntry> = {
    [MODEL_JSON]: { sha256: sha256(modelBytes), bytes: modelBytes.length },
    [WEIGHTS_BIN]: { sha256: sha256(weightBytes), bytes: weightBytes.length },
  };
  let metadataBytes: Buffer | undefined;
  if (metadataInput != null) {
    const metadata: CheckpointMetadata = {
      ...metadataInput,
      tfjsVersion: (await tfjs()).version.tfjs,
      workbenchVersion: await workbenchVersion(),
      createdAt: metadataInput.createdAt ?? new Date().toISOString(),
      files: { 'model.json': files[MODEL_JSON].sha256, 'weights.bin': files[WEIGHTS_BIN].sha256 },
    };
    validateMetadata(metadata, join(target, METADATA_JSON), 'fix the metadata passed to saveCheckpoint');
    metadataBytes = Buffer.from(`${JSON.stringify(metadata, null, 2)}\n`);
    files[METADATA_JSON] = { sha256: sha256(metadataBytes), bytes: metadataBytes.length };
  }
  const stateFiles: Array<[string, Buffer]> = [];
  if (options.trainingState != null) {
    stateFiles.push([TRAINING_STATE_JSON, Buffer.from(`${JSON.stringify(options.trainingState.json)}\n`)]);
    stateFiles.push([TRAINING_STATE_BIN, Buffer.from(options.trainingState.bin.buffer, options.trainingState.bin.byteOffset, options.trainingState.bin.byteLength)]);
    for (const [name, bytes] of stateFiles) files[name] = { sha256: sha256(bytes), bytes: bytes.length };
  }

  if (!options.parentExists) await makeFolders(dirname(target));
  await recoverInterruptedSwap(target);
  await removeStaleSiblings(target);
  await assertReplaceable(target);

  const tempDir = `${target}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  let oldDir: string | undefined;
  inFlight.add(tempDir);
  try {
    await mkdir(tempDir);
    const paths = { dir: target, tempDir };
    await writeDurably(join(tempDir, MODEL_JSON), modelBytes);
    await writeDurably(join(tempDir, WEIGHTS_BIN), weightBytes);
    await options.onStage?.('files-written', paths);
    if (metadataBytes != null) {
      await writeDurably(join(tempDir, METADATA_JSON), metadataBytes);
      await options.onStage?.('metadata-written', paths);
    }
    for (const [name, bytes] of stateFiles) await writeDurably(join(tempDir, name), bytes);

    const marker: CompleteMarker = { checkpoint: 1, files };
    await writeDurably(join(tempDir, COMPLETE_MARKER), Buffer.from(`${JSON.stringify(marker, null, 2)}\n`));
    await syncDirectory(tempDir);
    await options.onStage?.('marker-written', paths);

    if (await exists(target)) {
      oldDir = `${target}.old-${process.pid}-${randomBytes(4).toString('hex')}`;
      inFlight.add(oldDir);
      await rename(target, oldDir);
      await options.onStage?.('previous-moved-aside', paths);
    }
    await rename(tempDir, target);
    await syncDirectory(dirname(target));
  } catch (error) {
    // Put the previous checkpoint back if it was moved aside and the new one is not in place.
    if (oldDir != null && !(await exists(target))) await rename(oldDir, target).catch(() => undefined);
    await rm(tempDir, { recursive: true, force: true }).catch(() => undefined);
    throw error;
  } finally {
    inFlight.delete(tempDir);
    if (oldDir != null) inFlight.delete(oldDir);
  }
  // The new checkpoint is in place; should removing the old one fail, the next save removes it.
  if (oldDir != null) await rm(oldDir, { recursive: true, force: true }).catch(() => undefined);
}

/** fsyncs a directory so renames and new entries in it survive a power cut. */
async function syncDirectory(path: string): Promise<void> {
  try {
    const handle = await open(path, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Windows cannot open or fsync directories; there the rename is as durable as it gets.
  }
}

/** Refuses to replace a folder holding anything but checkpoint files (a typo must not delete a home folder); pretrain checks before training. */
export async function assertReplaceable(target: string): Promise<void> {
  let info;
  try {
    info = await stat(target);
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return;
    throw error;
  }
  if (!info.isDirectory()) {
    throw new CheckpointError(`cannot save a checkpoint to ${target}: it is a file`, {
      file: target,
      hint: 'choose a folder path; the checkpoint is written as a folder',
    });
  }
  const foreign = (await readdir(target)).filter((name) => !CHECKPOINT_FILES.has(name) && !DERIVED_FILE.test(name));
  if (foreign.length > 0) {
    throw new CheckpointError(
      `cannot save a checkpoint to ${target}: the folder holds other files (${foreign.slice(0, 3).join(', ')}${foreign.length > 3 ? ', …' : ''}) and saving would replace it`,
      { file: target, hint: 'choose an empty or new folder, or one that already holds a checkpoint' },
    );
  }
}

interface Sibling {
  path: string;
  kind: 'tmp' | 'old';
  pid: number;
}

/** `<dir>.tmp-<pid>-<hex>` and `<dir>.old-<pid>-<hex>` folders beside `target`. */
async function siblingsOf(target: string): Promise<Sibling[]> {
  const parent = dirname(target);
  const base = basename(target);
  let names: string[];
  try {
    names = await readdir(parent);
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return [];
    throw error;
  }
  const siblings: Sibling[] = [];
  for (const name of names) {
    for (const kind of ['tmp', 'old'] as const) {
      const prefix = `${base}.${kind}-`;
      if (!name.startsWith(prefix)) continue;
      const match = /^(\d+)-[0-9a-f]+$/.exec(name.slice(prefix.length));
      if (match) siblings.push({ path: join(parent, name), kind, pid: Number(match[1]) });
    }
  }
  return siblings;
}

/** A sibling left by a save that is no longer running (its process is gone, or it is ours but finished). */
function isStale(sibling: Sibling): boolean {
  if (inFlight.has(sibling.path)) return false;
  return sibling.pid === process.pid || !processRunning(sibling.pid);
}

/** A save killed between its two renames left no `<dir>` but a complete `<dir>.old-…`: move it back. */
async function recoverInterruptedSwap(target: string): Promise<void> {
  if (await exists(target)) return;
  const old = await newestCompleteOld(target, isStale);
  if (old != null) await rename(old, target);
}

async function removeStaleSiblings(target: string): Promise<void> {
  for (const sibling of await siblingsOf(target)) {
    if (isStale(sibling)) await rm(sibling.path, { recursive: true, force: true });
  }
}

async function newestCompleteOld(target: string, accept: (sibling: Sibling) => boolean): Promise<string | undefined> {
  let newest: { path: string; mtimeMs: number } | undefined;
  for (const sibling of await siblingsOf(target)) {
    if (sibling.kind !== 'old' || !accept(sibling)) continue;
    try {
      const { mtimeMs } = await stat(join(sibling.path, COMPLETE_MARKER));
      if (newest == null || mtimeMs > newest.mtimeMs) newest = { path: sibling.path, mtimeMs };
    } catch {
      // No marker: not a checkpoint we can fall back to.
    }
  }
  return newest?.path;
}

let workbenchVersionCache: Promise<string> | undefined;

/** The `version` of this repository's package.json (two levels up from both src/ensemble and dist/ensemble). */
function workbenchVersion(): Promise<string> {
  workbenchVersionCache ??= readFile(new URL('../../package.json', import.meta.url), 'utf8')
    .then((text) => {
      const version = (JSON.parse(text) as { version?: unknown }).version;
      return typeof version === 'string' ? version : 'unknown';
    })
    .catch(() => 'unknown');
  return workbenchVersionCache;
}

// ---------------------------------------------------------------------------------------
// Loading

/**
 * A reader can straddle a concurrent save's swap (read model.json of one checkpoint and
 * weights.bin of the next), which shows up as a hash mismatch or a missing file; one more
 * read then sees a single checkpoint. A real fault fails the same way twice.
 */
async function retryOnce<T>(read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    if (!(error instanceof CheckpointError)) throw error;
    return read();
  }
}

function readVerifiedCheckpoint(dir: string, withMetadata: boolean, withTrainingState = false): Promise<VerifiedCheckpoint> {
  return retryOnce(async () => {
    const at = await locateCheckpoint(dir);
    const marker = await readMarker(at);
    const modelPath = join(at, MODEL_JSON);
    const modelBytes = await readCheckpointFile(modelPath);
    let modelJSON: tf.ModelJSON;
    try {
      modelJSON = JSON.parse(modelBytes.toString('utf8')) as tf.ModelJSON;
    } catch (error) {
      throw new CheckpointError(`${modelPath} is not valid JSON: ${(error as Error).message}`, { file: modelPath, hint: HINT_RESAVE });
    }
    verifyHash(modelPath, modelBytes, marker);
    const weightSpecs = manifestWeightSpecs(modelJSON, modelPath);

    const weightsPath = join(at, WEIGHTS_BIN);
    const weights = await readCheckpointFile(weightsPath);
    const expected = manifestByteLength(weightSpecs);
    if (expected != null && weights.length !== expected) {
      const what = weights.length < expected ? 'is truncated' : 'is larger than its manifest says';
      throw new CheckpointError(
        `${weightsPath} ${what}: expected ${expected} bytes (the sum of the weightsManifest in ${MODEL_JSON}), found ${weights.length}`,
        { file: weightsPath, hint: HINT_RESAVE },
      );
    }
    verifyHash(weightsPath, weights, marker);

    const checkpoint: VerifiedCheckpoint = { dir: at, modelJSON, weightSpecs, weights };
    if (withMetadata) {
      checkpoint.metadata = await readMetadata(at, marker);
      for (const name of [MODEL_JSON, WEIGHTS_BIN] as const) {
        if (checkpoint.metadata.files[name] !== marker.files[name].sha256) {
          const file = join(at, METADATA_JSON);
          throw new CheckpointError(`${file} records a different ${name} (sha256 ${checkpoint.metadata.files[name]}) than the one in the folder`, {
            file,
            hint: `the files come from different saves; ${HINT_RESAVE}`,
          });
        }
      }
    }
    if (withTrainingState) {
      checkpoint.trainingState = null;
      if (marker.files[TRAINING_STATE_JSON] && marker.files[TRAINING_STATE_BIN]) {
        const jsonPath = join(at, TRAINING_STATE_JSON);
        const jsonBytes = await readCheckpointFile(jsonPath);
        verifyHash(jsonPath, jsonBytes, marker);
        const binPath = join(at, TRAINING_STATE_BIN);
        const bin = await readCheckpointFile(binPath);
        verifyHash(binPath, bin, marker);
        checkpoint.trainingState = { json: JSON.parse(jsonBytes.toString('utf8')) as unknown, bin: new Uint8Array(bin.buffer, bin.byteOffset, bin.byteLength) };
      }
    }
    return checkpoint;
  });
}

/** The folder to read: `dir`, or while a save is between its two renames, the previous checkpoint it moved aside. */
async function locateCheckpoint(dir: string): Promise<string> {
  const target = resolve(dir);
  try {
    const info = await stat(target);
    if (!info.isDirectory()) {
      throw new CheckpointError(`${target} is a file, not a checkpoint folder`, {
        file: target,
        hint: `pass the folder that holds ${MODEL_JSON}, ${WEIGHTS_BIN} and ${METADATA_JSON}`,
      });
    }
    return target;
  } catch (error) {
    // (a file above it, `afile/x`: named, where stat's ENOTDIR was an internal error)
    const blocker = isErrno(error, 'ENOTDIR') ? ((await fileInTheWay(target)) ?? dirname(target)) : null;
    if (blocker) throw new CheckpointError(`no checkpoint at ${target}: ${blocker} is a file, not a folder`, { file: blocker, hint: `pass the folder that holds ${MODEL_JSON}, ${WEIGHTS_BIN} and ${METADATA_JSON}` });
    if (!isErrno(error, 'ENOENT')) throw error;
  }
  const old = await newestCompleteOld(target, () => true);
  if (old != null) return old;
  throw new CheckpointError(`no checkpoint at ${target}: the folder does not exist`, {
    file: target,
    hint: 'check the path, or train a model to create it',
  });
}

async function readMarker(dir: string): Promise<CompleteMarker> {
  const path = join(dir, COMPLETE_MARKER);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (!isErrno(error, 'ENOENT')) throw error;
    throw await noMarkerError(dir, path);
  }
  let marker: unknown;
  try {
    marker = JSON.parse(text);
  } catch (error) {
    throw new CheckpointError(`${path} is not valid JSON: ${(error as Error).message}`, { file: path, hint: HINT_RESAVE });
  }
  const files = isRecord(marker) ? marker.files : undefined;
  const valid =
    isRecord(files) &&
    [MODEL_JSON, WEIGHTS_BIN].every((name) => name in files) &&
    Object.values(files).every((entry) => isRecord(entry) && typeof entry.sha256 === 'string' && typeof entry.bytes === 'number');
  if (!valid) {
    throw new CheckpointError(`${path} does not list the sha256 and size of ${MODEL_JSON} and ${WEIGHTS_BIN}`, { file: path, hint: HINT_RESAVE });
  }
  return marker as CompleteMarker;
}

/**
 * Why a folder without a marker is not a checkpoint to load: a member or run folder passed for
 * the checkpoint inside it (say which to pass), a folder with no checkpoint file at all (not a
 * checkpoint), or one whose save was interrupted (only then: re-run or delete it).
 */
async function noMarkerError(dir: string, marker: string): Promise<CheckpointError> {
  for (const inner of ['best', 'last']) {
    if (await exists(join(dir, inner, COMPLETE_MARKER))) {
      return new CheckpointError(`${dir} is a member's folder, not a checkpoint: its checkpoints are in ${inner === 'best' ? 'best/ (its best epoch) and last/' : 'last/'}`, {
        file: dir,
        hint: `pass ${join(dir, inner)}`,
      });
    }
  }
  if (await exists(join(dir, 'run.json'))) {
    return new CheckpointError(`${dir} is a run folder, not a checkpoint: each member's checkpoints are in <member>/best and <member>/last`, {
      file: dir,
      hint: `pass a member's checkpoint, e.g. ${join(dir, '<member>', 'best')} (digits evaluate and digits serve take the run folder itself)`,
    });
  }
  const files = await Promise.all([MODEL_JSON, WEIGHTS_BIN, METADATA_JSON].map((name) => exists(join(dir, name))));
  if (!files.some(Boolean)) {
    return new CheckpointError(`${dir} is not a checkpoint folder: it has none of ${MODEL_JSON}, ${WEIGHTS_BIN}, ${METADATA_JSON} and ${COMPLETE_MARKER}`, {
      file: dir,
      hint: `pass the folder that holds them (a member's best/ or last/ in a run, or one under checkpoints/)`,
    });
  }
  return new CheckpointError(`checkpoint at ${dir} is incomplete (no ${COMPLETE_MARKER} marker): it was interrupted while being written`, {
    file: marker,
    hint: 're-run the training that writes it, or delete the folder',
  });
}

async function readMetadata(dir: string, marker: CompleteMarker): Promise<CheckpointMetadata> {
  const path = join(dir, METADATA_JSON);
  const bytes = await readCheckpointFile(path);
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new CheckpointError(`${path} is not valid JSON: ${(error as Error).message}`, { file: path, hint: HINT_RESAVE });
  }
  verifyHash(path, bytes, marker);
  return validateMetadata(value, path);
}

async function readCheckpointFile(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    if (!isErrno(error, 'ENOENT')) throw error;
    throw new CheckpointError(`${path} is missing from the checkpoint`, { file: path, hint: HINT_RESAVE });
  }
}

function verifyHash(path: string, bytes: Buffer, marker: CompleteMarker): void {
  const recorded = marker.files[basename(path)];
  if (recorded == null) {
    throw new CheckpointError(`${path} is not listed in the ${COMPLETE_MARKER} marker`, { file: path, hint: HINT_RESAVE });
  }
  const actual = sha256(bytes);
  if (actual !== recorded.sha256) {
    throw new CheckpointError(
      `${path} is corrupt: its sha256 is ${actual} but the checkpoint recorded ${recorded.sha256} (expected ${recorded.bytes} bytes, found ${bytes.length})`,
      { file: path, hint: HINT_RESAVE },
    );
  }
}

/** Checks `model.json` has the one-group `weights.bin` manifest we (and tfjs-node) write. */
function manifestWeightSpecs(modelJSON: tf.ModelJSON, path: string): tf.WeightsManifestEntry[] {
  const json: unknown = modelJSON;
  const manifest = isRecord(json) ? json.weightsManifest : undefined;
  const group: unknown = Array.isArray(manifest) && manifest.length === 1 ? manifest[0] : undefined;
  if (
    !isRecord(json) ||
    !isRecord(json.modelTopology) ||
    !isRecord(group) ||
    !Array.isArray(group.paths) ||
    group.paths.length !== 1 ||
    group.paths[0] !== WEIGHTS_BIN ||
    !Array.isArray(group.weights)
  ) {
    throw new CheckpointError(
      `${path} is not a layers model with one weights group stored in ${WEIGHTS_BIN} (the layout of tfjs-node's file:// handler)`,
      { file: path, hint: HINT_RESAVE },
    );
  }
  return group.weights as tf.WeightsManifestEntry[];
}

/** Bytes the weights take on disk; undefined when a string weight makes it unknowable from the specs. */
function manifestByteLength(specs: tf.WeightsManifestEntry[]): number | undefined {
  let total = 0;
  for (const spec of specs) {
    const size = spec.shape.reduce((a, b) => a * b, 1);
    const perElement = spec.quantization
      ? { uint8: 1, uint16: 2, float16: 2 }[spec.quantization.dtype]
      : { float32: 4, int32: 4, bool: 1, complex64: 8, string: undefined }[spec.dtype];
    if (perElement == null) return undefined;
    total += size * perElement;
  }
  return total;
}

function toModelArtifacts(checkpoint: VerifiedCheckpoint): tf.ModelArtifacts {
  const { modelJSON, weights } = checkpoint;
  const artifacts: tf.ModelArtifacts = {
    modelTopology: modelJSON.modelTopology,
    format: modelJSON.format,
    generatedBy: modelJSON.generatedBy,
    convertedBy: modelJSON.convertedBy,
    weightSpecs: checkpoint.weightSpecs,
    weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength) as ArrayBuffer,
  };
  if (modelJSON.trainingConfig != null) artifacts.trainingConfig = modelJSON.trainingConfig;
  if (modelJSON.signature != null) artifacts.signature = modelJSON.signature;
  if (modelJSON.userDefinedMetadata != null) artifacts.userDefinedMetadata = modelJSON.userDefinedMetadata;
  return artifacts;
}

// ---------------------------------------------------------------------------------------
// Small helpers

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return false;
    throw error;
  }
}

function isErrno(error: unknown, code: string): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === code;
}
