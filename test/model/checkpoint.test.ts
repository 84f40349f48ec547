import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import * as tf from '../../src/engine/tf.js';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import {
  type CheckpointMetadataInput,
  type CheckpointSaveStage,
  CheckpointError,
  checkpointHandler,
  loadCheckpoint,
  loadTrainingCheckpoint,
  readCheckpointMetadata,
  saveCheckpoint,
} from '../../src/model/checkpoint.js';

/** conv2d(4) → batchnorm → flatten → dense(10) on 8×8×1, every weight (batchnorm statistics too) set from `seed`. */
function makeModel(seed: number): tf.LayersModel {
  const model = tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 4, kernelSize: 3, activation: 'relu' }),
      tf.layers.batchNormalization(),
      tf.layers.flatten(),
      tf.layers.dense({ units: 10, activation: 'softmax' }),
    ],
  });
  model.setWeights(model.weights.map((w, i) => tf.randomUniform(w.shape as number[], 0.5, 1.5, 'float32', seed * 100 + i)));
  return model;
}

function predict(model: tf.LayersModel, images: tf.Tensor): Float32Array {
  return tf.tidy(() => (model.predict(images) as tf.Tensor).dataSync() as Float32Array);
}

function metadataFor(preset: string, accuracy: number): CheckpointMetadataInput {
  return {
    preset,
    hyperparameters: { filters: 4, dropout: 0.25, optimizer: { name: 'adam', learningRate: 0.001 } },
    preprocessing: { scale: 'standardize', mean: 0.1307, std: 0.3081, padTo: 8 },
    orientation: 'row-major',
    seed: 42,
    dataFingerprint: 'sha256:abc123',
    metrics: { valAccuracy: accuracy, valLoss: 0.12 },
    command: `digits train --preset ${preset} --seed 42`,
  };
}

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

/** Folders beside `dir` left by saves: `<dir>.tmp-…` and `<dir>.old-…`. */
async function leftovers(dir: string): Promise<string[]> {
  return (await readdir(dirname(dir))).filter((name) => name.startsWith(`${basename(dir)}.`));
}

/** The pid of a process that has exited, as a save killed by the OS leaves behind in folder names. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', '']);
  return child.pid as number;
}

let root: string;
let images: tf.Tensor;
let firstModel: tf.LayersModel;
let secondModel: tf.LayersModel;
let firstPredictions: Float32Array;
/** A checkpoint of `firstModel`, saved once and copied by tests that damage it. */
let pristine: string;

beforeAll(async () => {
  await tf.setBackend('cpu');
  root = await mkdtemp(join(tmpdir(), 'digits-checkpoint-'));
  images = tf.randomUniform([3, 8, 8, 1], 0, 1, 'float32', 7);
  firstModel = makeModel(1);
  secondModel = makeModel(2);
  firstPredictions = predict(firstModel, images);
  pristine = join(root, 'pristine');
  await saveCheckpoint(firstModel, pristine, metadataFor('tiny', 0.9));
});

afterAll(async () => {
  images.dispose();
  firstModel.dispose();
  secondModel.dispose();
  await rm(root, { recursive: true, force: true });
});

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(root, 'case-'));
  await rm(dir, { recursive: true });
});

describe('training state saved with the weights', () => {
  test('rides in the same save and marker as the weights, comes back intact, and a corrupt one is named', async () => {
    // Given a save with training state
    const bin = Uint8Array.from({ length: 64 }, (_, i) => (i * 37) % 256);
    await saveCheckpoint(firstModel, dir, metadataFor('tiny', 0.9), { trainingState: { json: { epoch: 3, lr: 0.001 }, bin } });
    // Then the marker lists it with the model files, and it loads back with the model
    const marker = JSON.parse(await readFile(join(dir, 'COMPLETE'), 'utf8'));
    expect(Object.keys(marker.files).sort()).toEqual(['metadata.json', 'model.json', 'training-state.bin', 'training-state.json', 'weights.bin']);
    const loaded = await loadTrainingCheckpoint(dir);
    expect(loaded.trainingState?.json).toEqual({ epoch: 3, lr: 0.001 });
    expect(Array.from(loaded.trainingState!.bin)).toEqual(Array.from(bin));
    expect(Array.from(predict(loaded.model, images))).toEqual(Array.from(firstPredictions));
    loaded.model.dispose();
    // And a save without state holds none (a plain checkpoint loads as before)
    await saveCheckpoint(firstModel, dir, metadataFor('tiny', 0.9));
    const plain = await loadTrainingCheckpoint(dir);
    expect(plain.trainingState).toBeNull();
    plain.model.dispose();
    // When the state file of a save is damaged
    await saveCheckpoint(firstModel, dir, metadataFor('tiny', 0.9), { trainingState: { json: { epoch: 4 }, bin } });
    await writeFile(join(dir, 'training-state.bin'), new Uint8Array(64));
    // Then loading says which file is corrupt
    await expect(loadTrainingCheckpoint(dir)).rejects.toThrow(/training-state\.bin is corrupt/);
  });
});

describe('saveCheckpoint and loadCheckpoint', () => {
  test('a loaded model predicts exactly what the saved one did', async () => {
    // Given a tiny conv net with non-trivial weights
    // When it is saved and loaded back
    await saveCheckpoint(firstModel, dir, metadataFor('tiny', 0.9));
    const { model } = await loadCheckpoint(dir);

    // Then its predictions are bit-for-bit the same, and the save left nothing beside the folder
    expect(predict(model, images)).toEqual(firstPredictions);
    expect((await readdir(dir)).sort()).toEqual(['COMPLETE', 'metadata.json', 'model.json', 'weights.bin']);
    expect(await leftovers(dir)).toEqual([]);
    model.dispose();
  });

  test("model.json and weights.bin have the layout of tfjs-node's file:// handler", async () => {
    // Given a saved checkpoint
    await saveCheckpoint(firstModel, dir, metadataFor('tiny', 0.9));

    // When model.json is read as tfjs-node would read it
    const modelJSON = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8'));
    const weights = await readFile(join(dir, 'weights.bin'));

    // Then it holds exactly the fields NodeFileSystem.save writes, in its order
    expect(Object.keys(modelJSON)).toEqual(['modelTopology', 'weightsManifest', 'format', 'generatedBy', 'convertedBy']);
    expect(modelJSON.format).toBe('layers-model');
    expect(modelJSON.generatedBy).toBe(`TensorFlow.js tfjs-layers v${tf.version.tfjs}`);
    expect(modelJSON.convertedBy).toBeNull();
    expect(modelJSON.modelTopology.class_name).toBe('Sequential');
    expect(modelJSON.weightsManifest).toHaveLength(1);
    expect(modelJSON.weightsManifest[0].paths).toEqual(['weights.bin']);
    // And one weight spec per model weight, with its name, shape and dtype, adding up to weights.bin
    const specs = modelJSON.weightsManifest[0].weights as Array<{ name: string; shape: number[]; dtype: string }>;
    expect(specs).toEqual(firstModel.weights.map((w) => ({ name: w.originalName, shape: w.shape, dtype: 'float32' })));
    const bytes = specs.reduce((sum, spec) => sum + spec.shape.reduce((a, b) => a * b, 1) * 4, 0);
    expect(weights.length).toBe(bytes);
  });

  test("tfjs's own URL loader reads the folder unchanged", async () => {
    // Given a saved checkpoint
    await saveCheckpoint(firstModel, dir, metadataFor('tiny', 0.9));

    // When tfjs loads model.json over "http", its weights resolved from the manifest paths as a browser would
    const fetchFunc = async (input: string | URL | Request): Promise<Response> => {
      const url = new URL(input instanceof Request ? input.url : input);
      return new Response(await readFile(join(dir, url.pathname.slice(1))));
    };
    const model = await tf.loadLayersModel(tf.io.http('http://checkpoints.test/model.json', { fetchFunc }));

    // Then it predicts what the saved model did
    expect(predict(model, images)).toEqual(firstPredictions);
    model.dispose();
  });

  test('metadata round-trips, with versions, time and file hashes filled in', async () => {
    // Given metadata for a save
    const input = metadataFor('tiny', 0.9);
    const before = Date.now();

    // When the checkpoint is saved and its metadata read back
    await saveCheckpoint(firstModel, dir, input);
    const metadata = await readCheckpointMetadata(dir);

    // Then every given field is back as it was
    expect(metadata).toMatchObject(input);
    // And versions, creation time and hashes of the model files are recorded
    const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(metadata.tfjsVersion).toBe(tf.version.tfjs);
    expect(metadata.workbenchVersion).toBe(pkg.version);
    expect(Date.parse(metadata.createdAt)).toBeGreaterThanOrEqual(before - 1000);
    expect(metadata.createdAt).toBe(new Date(metadata.createdAt).toISOString());
    expect(metadata.files).toEqual({
      'model.json': sha256(await readFile(join(dir, 'model.json'))),
      'weights.bin': sha256(await readFile(join(dir, 'weights.bin'))),
    });
    // And loadCheckpoint returns the same metadata
    const loaded = await loadCheckpoint(dir);
    expect(loaded.metadata).toEqual(metadata);
    loaded.model.dispose();
  });

  test('saving over a checkpoint with an ONNX export beside it replaces the stale export', async () => {
    // Given a checkpoint that was exported to ONNX (model.onnx + onnx.json beside it)
    await saveCheckpoint(firstModel, dir, metadataFor('first', 0.9));
    await writeFile(join(dir, 'model.onnx'), 'stale');
    await writeFile(join(dir, 'onnx.json'), '{}');

    // When training saves the next epoch into the same folder
    await saveCheckpoint(secondModel, dir, metadataFor('second', 0.95));

    // Then the save succeeds and the export of the old weights is gone
    expect((await readdir(dir)).sort()).toEqual(['COMPLETE', 'metadata.json', 'model.json', 'weights.bin']);
  });

  test('saving twice to the same folder: the second save wins', async () => {
    // Given a checkpoint of the first model
    await saveCheckpoint(firstModel, dir, metadataFor('first', 0.9));

    // When the second model is saved over it (as ModelCheckpoint does every epoch)
    await saveCheckpoint(secondModel, dir, metadataFor('second', 0.95));
    const { model, metadata } = await loadCheckpoint(dir);

    // Then the folder holds the second model and its metadata, and nothing is left beside it
    expect(predict(model, images)).toEqual(predict(secondModel, images));
    expect(predict(model, images)).not.toEqual(firstPredictions);
    expect(metadata.preset).toBe('second');
    expect(metadata.metrics.valAccuracy).toBe(0.95);
    expect(await leftovers(dir)).toEqual([]);
    model.dispose();
  });

  test('the IOHandler works with model.save and tf.loadLayersModel directly', async () => {
    // Given a model saved through the handler, without metadata
    const result = await firstModel.save(checkpointHandler(dir));

    // When it is loaded through the handler
    const model = await tf.loadLayersModel(checkpointHandler(dir));

    // Then the save reported its artifacts and the model predicts the same
    expect(result.modelArtifactsInfo.weightDataBytes).toBe((await stat(join(dir, 'weights.bin'))).size);
    expect(predict(model, images)).toEqual(firstPredictions);
    model.dispose();
    // And loadCheckpoint, which needs metadata, says metadata.json is missing
    await expect(loadCheckpoint(dir)).rejects.toThrow(/metadata\.json is missing/);
  });
});

describe('damaged checkpoints', () => {
  test.each([
    {
      damage: 'weights.bin truncated',
      file: 'weights.bin',
      apply: async (d: string) => truncate(join(d, 'weights.bin'), (await stat(join(d, 'weights.bin'))).size - 10),
      message: /weights\.bin is truncated: expected (\d+) bytes .*found \d+/,
    },
    {
      damage: 'one byte of weights.bin changed (same size)',
      file: 'weights.bin',
      apply: async (d: string) => {
        const bytes = await readFile(join(d, 'weights.bin'));
        bytes[bytes.length >> 1] ^= 0xff;
        await writeFile(join(d, 'weights.bin'), bytes);
      },
      message: /weights\.bin is corrupt: its sha256 is [0-9a-f]{64} but the checkpoint recorded [0-9a-f]{64}/,
    },
    {
      damage: 'model.json cut short',
      file: 'model.json',
      apply: async (d: string) => truncate(join(d, 'model.json'), 100),
      message: /model\.json is not valid JSON/,
    },
    {
      damage: 'metadata.json edited by hand',
      file: 'metadata.json',
      apply: async (d: string) => {
        const text = await readFile(join(d, 'metadata.json'), 'utf8');
        await writeFile(join(d, 'metadata.json'), text.replace('"tiny"', '"huge"'));
      },
      message: /metadata\.json is corrupt/,
    },
    {
      damage: 'weights.bin deleted',
      file: 'weights.bin',
      apply: (d: string) => rm(join(d, 'weights.bin')),
      message: /weights\.bin is missing from the checkpoint/,
    },
  ])('$damage → CheckpointError naming $file', async ({ file, apply, message }) => {
    // Given a good checkpoint that is then damaged
    await cp(pristine, dir, { recursive: true });
    await apply(dir);

    // When it is loaded
    const error = await loadCheckpoint(dir).catch((e: unknown) => e);

    // Then the error names the file, says what is wrong and what to try
    expect(error).toBeInstanceOf(CheckpointError);
    const checkpointError = error as CheckpointError;
    expect(checkpointError.file).toBe(join(dir, file));
    expect(checkpointError.message).toMatch(message);
    expect(checkpointError.hint).toMatch(/re-run/);
  });

  test('the truncation error gives the expected and actual sizes', async () => {
    // Given a checkpoint whose weights.bin lost its last 10 bytes
    await cp(pristine, dir, { recursive: true });
    const size = (await stat(join(dir, 'weights.bin'))).size;
    await truncate(join(dir, 'weights.bin'), size - 10);

    // When it is loaded, Then the message gives both sizes
    await expect(loadCheckpoint(dir)).rejects.toThrow(`expected ${size} bytes (the sum of the weightsManifest in model.json), found ${size - 10}`);
  });

  test('a folder without the COMPLETE marker (an interrupted write) is refused', async () => {
    // Given model files at the target, as a writer killed before its marker would leave them
    await cp(pristine, dir, { recursive: true });
    await rm(join(dir, 'COMPLETE'));

    // When it is loaded, or only its metadata read
    // Then both say it is incomplete and what to do
    const expected = `checkpoint at ${dir} is incomplete (no COMPLETE marker): it was interrupted while being written`;
    await expect(loadCheckpoint(dir)).rejects.toThrow(expected);
    await expect(readCheckpointMetadata(dir)).rejects.toThrow(expected);
    await expect(loadCheckpoint(dir)).rejects.toMatchObject({ file: join(dir, 'COMPLETE') });
  });

  test('a member folder, a run folder or an empty folder passed for a checkpoint: what to pass instead, never "delete it"', async () => {
    // Given a member folder (its checkpoint in best/), a run folder (run.json) and an empty folder
    await cp(pristine, join(dir, 'best'), { recursive: true });
    const run = join(root, 'a-run');
    await mkdir(run, { recursive: true });
    await writeFile(join(run, 'run.json'), '{}');
    const empty = join(root, 'empty');
    await mkdir(empty, { recursive: true });
    // When each is loaded, Then the error says what the folder is and what to pass
    await expect(loadCheckpoint(dir)).rejects.toMatchObject({ message: expect.stringMatching(/is a member's folder, not a checkpoint/), hint: `pass ${join(dir, 'best')}`, file: dir });
    await expect(loadCheckpoint(run)).rejects.toMatchObject({ message: expect.stringMatching(/is a run folder, not a checkpoint/), hint: expect.stringContaining(join(run, '<member>', 'best')) });
    await expect(readCheckpointMetadata(empty)).rejects.toMatchObject({ message: expect.stringMatching(/is not a checkpoint folder: it has none of model\.json/) });
    for (const folder of [dir, run, empty]) await expect(loadCheckpoint(folder)).rejects.not.toMatchObject({ hint: expect.stringMatching(/delete/) });
  });

  test('a missing folder is a CheckpointError naming it', async () => {
    // Given no folder, When it is loaded, Then the error names the folder
    await expect(loadCheckpoint(dir)).rejects.toMatchObject({ name: 'CheckpointError', file: dir });
  });
});

describe('interrupted saves', () => {
  test.each<CheckpointSaveStage>(['files-written', 'metadata-written', 'marker-written', 'previous-moved-aside'])(
    'a save that fails after "%s" leaves the previous checkpoint loadable and no temp folder',
    async (stage) => {
      // Given a checkpoint of the first model
      await saveCheckpoint(firstModel, dir, metadataFor('first', 0.9));

      // When a save of the second model dies at this stage
      const save = saveCheckpoint(secondModel, dir, metadataFor('second', 0.95), {
        onStage: (reached) => {
          if (reached === stage) throw new Error(`killed at ${reached}`);
        },
      });
      await expect(save).rejects.toThrow(`killed at ${stage}`);

      // Then the first model and its metadata are still there, whole, and nothing is left beside them
      const { model, metadata } = await loadCheckpoint(dir);
      expect(predict(model, images)).toEqual(firstPredictions);
      expect(metadata.preset).toBe('first');
      expect(await leftovers(dir)).toEqual([]);
      model.dispose();
    },
  );

  test('a process killed between the two renames: loading falls back to the previous checkpoint, the next save recovers', async () => {
    // Given the state a SIGKILL between "old aside" and "temp into place" leaves: no target,
    // the previous checkpoint at <dir>.old-<pid>-…, a complete new one at <dir>.tmp-<pid>-…
    const pid = deadPid();
    await saveCheckpoint(firstModel, dir, metadataFor('first', 0.9));
    await rename(dir, `${dir}.old-${pid}-0badc0de`);
    await cp(pristine, `${dir}.tmp-${pid}-feedface`, { recursive: true });

    // When it is loaded
    const { model, metadata } = await loadCheckpoint(dir);

    // Then the previous checkpoint is what loads
    expect(predict(model, images)).toEqual(firstPredictions);
    expect(metadata.preset).toBe('first');
    model.dispose();

    // When the next save runs
    await saveCheckpoint(secondModel, dir, metadataFor('second', 0.95));

    // Then it wins and the dead process's folders are gone
    expect((await readCheckpointMetadata(dir)).preset).toBe('second');
    expect(await leftovers(dir)).toEqual([]);
  });

  test('a temp folder of a killed save does not disturb loading, and the next save removes it', async () => {
    // Given a checkpoint and a half-written temp folder of a save killed by the OS
    await saveCheckpoint(firstModel, dir, metadataFor('first', 0.9));
    const temp = `${dir}.tmp-${deadPid()}-12345678`;
    await mkdir(temp);
    await writeFile(join(temp, 'model.json'), '{"modelTop');

    // When it is loaded, Then the checkpoint is unaffected
    expect((await readCheckpointMetadata(dir)).preset).toBe('first');

    // When the next save runs, Then the stale temp folder is removed
    await saveCheckpoint(secondModel, dir, metadataFor('second', 0.95));
    expect(await leftovers(dir)).toEqual([]);
  });
});

describe('what a save refuses', () => {
  test('a folder holding other files is never replaced', async () => {
    // Given a folder with someone's notes in it
    await mkdir(dir);
    await writeFile(join(dir, 'notes.txt'), 'keep me');

    // When a checkpoint is saved there
    const save = saveCheckpoint(firstModel, dir, metadataFor('tiny', 0.9));

    // Then the save is refused and the folder untouched
    await expect(save).rejects.toThrow(/holds other files \(notes\.txt\)/);
    expect(await readdir(dir)).toEqual(['notes.txt']);
    expect(await leftovers(dir)).toEqual([]);
  });

  test('with parentExists, a save whose folder\'s parent is gone fails instead of making it again (a stopped run\'s folder being removed)', async () => {
    // Given a member's folder, removed as a stopped run's folder is while its probe saves
    const member = join(dir, 'auto-probes', 'probe-1');
    await mkdir(member, { recursive: true });
    await rm(dir, { recursive: true });
    // When the probe saves its best epoch, Then the save fails and nothing comes back
    await expect(saveCheckpoint(firstModel, join(member, 'best'), metadataFor('tiny', 0.9), { parentExists: true })).rejects.toThrow(/ENOENT/);
    await expect(stat(dir)).rejects.toThrow(/ENOENT/);
    // (without it, a save makes the folders it goes in, as pretrain's --out wants)
    await saveCheckpoint(firstModel, join(member, 'best'), metadataFor('tiny', 0.9));
    expect(await readdir(join(member, 'best'))).toContain('COMPLETE');
  });

  test('metadata with a metric JSON cannot store is rejected, naming the field', async () => {
    // Given metadata whose loss diverged to NaN
    const metadata = { ...metadataFor('tiny', 0.9), metrics: { valLoss: Number.NaN } };

    // When it is saved, Then the error names the field and nothing is written
    await expect(saveCheckpoint(firstModel, dir, metadata)).rejects.toThrow(/"metrics\.valLoss" must be a finite number \(found NaN\)/);
    await expect(stat(dir)).rejects.toThrow(/ENOENT/);
  });
});
