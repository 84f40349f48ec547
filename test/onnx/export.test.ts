/**
 * ONNX export and the inference runtime: every preset's export against tfjs (with BN
 * statistics far from the identity, so a wrong epsilon, fold or layout shows), the
 * onnx.json reuse rule, both predictors, TTA stacking and soft voting. Real checkpoints in
 * temp folders; the tfjs reference runs tfjs-wasm's own kernels (no ONNX Runtime inside).
 */
import { copyFile, mkdtemp, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import * as tf from '../../src/engine/tf.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { mulberry32 } from '../../src/data/random.js';
import { initEngine } from '../../src/engine/backend.js';
import { COMPLETE_MARKER, METADATA_JSON, MODEL_JSON, WEIGHTS_BIN, readCheckpointMetadata, saveCheckpoint, type CheckpointPreprocessing } from '../../src/model/checkpoint.js';
import {
  ONNX_FILE,
  ONNX_SIDECAR,
  UnsupportedLayerError,
  exportCheckpointToOnnx,
  exportModelToOnnx,
  type OnnxSidecar,
} from '../../src/onnx/export.js';
import { createPredictor, type Predictor } from '../../src/inference/predictor.js';
import { predictEnsemble } from '../../src/ensemble/predict-ensemble.js';
import { IDENTITY, TTA_8, shiftImages } from '../../src/ensemble/tta.js';
import { batchNormalization } from '../../src/engine/batch-norm.js';
import { buildModel, getPreset } from '../../src/model/presets.js';
import { fromSpec } from '../../src/model/preprocess.js';
import { modelWithoutExportRule } from '../helpers/unexportable.js';

let root: string;
const open: Predictor[] = [];
const track = <T extends Predictor>(p: T): T => {
  open.push(p);
  return p;
};

beforeAll(async () => {
  await initEngine({ backend: 'wasm', ortKernels: false });
  root = await mkdtemp(path.join(os.tmpdir(), 'digits-onnx-'));
});
afterAll(async () => {
  for (const p of open) p.dispose();
  await rm(root, { recursive: true, force: true });
});

/** Raw images in [0,1], N×28×28, from a seeded generator. */
function randomImages(count: number, seed: number, size = 28): Float32Array {
  const random = mulberry32(seed);
  return Float32Array.from({ length: count * size * size }, () => random());
}

/**
 * Moving statistics and affine factors far from BN's initial identity (variances of 0.002–0.02,
 * so tfjs's epsilon of 1e-3 matters), random biases, and a sharper last layer so the
 * probabilities are not all near 0.1.
 */
function randomizeWeights(model: tf.LayersModel, seed: number): void {
  let s = seed;
  const uniform = (shape: tf.Shape, lo: number, hi: number) => tf.randomUniform(shape as number[], lo, hi, 'float32', s++);
  const lastDense = model.layers.filter((l) => l.getClassName() === 'Dense').pop();
  tf.tidy(() => {
    for (const layer of model.layers) {
      const weights = new Map(layer.weights.map((w) => [w.originalName.split('/').pop()!, w]));
      const variance = weights.get('moving_variance');
      if (variance) {
        const v = uniform(variance.shape, 0.002, 0.02);
        variance.write(v);
        weights.get('gamma')!.write(tf.mul(tf.sqrt(v), uniform(v.shape, 0.5, 1.5)));
        weights.get('beta')!.write(uniform(v.shape, -0.3, 0.3));
        weights.get('moving_mean')!.write(uniform(v.shape, -0.05, 0.05));
      }
      const bias = weights.get('bias');
      if (bias) bias.write(uniform(bias.shape, -0.1, 0.1));
      if (layer === lastDense) weights.get('kernel')!.write(tf.mul(weights.get('kernel')!.read(), 10));
    }
  });
}

function preprocessingOf(preset: string): CheckpointPreprocessing {
  const spec = getPreset(preset).preprocessing;
  return spec.scale === 'standardize' ? { ...spec, mean: 0.1307, std: 0.3081 } : { ...spec };
}

async function makeCheckpoint(preset: string, dir: string, seed: number, model = buildModel(preset)): Promise<tf.LayersModel> {
  randomizeWeights(model, seed);
  await saveCheckpoint(model, dir, {
    preset,
    hyperparameters: {},
    preprocessing: preprocessingOf(preset),
    orientation: 'as-is',
    seed,
    dataFingerprint: null,
    metrics: {},
    command: 'vitest',
  });
  return model;
}

function tfjsProbabilities(model: tf.LayersModel, preprocessing: CheckpointPreprocessing, images: Float32Array, count: number): Float32Array {
  return tf.tidy(() => {
    const x = tf.tensor4d(images, [count, 28, 28, 1]);
    return (model.predict(fromSpec(preprocessing).apply(x)) as tf.Tensor).dataSync() as Float32Array;
  });
}

function argmax(probs: Float32Array, i: number): number {
  let best = 0;
  for (let k = 1; k < 10; k++) if (probs[i * 10 + k]! > probs[i * 10 + best]!) best = k;
  return best;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

const checkpoints = new Map<string, string>();

/** The preset's checkpoint made by its parity case (made here when that case did not run). */
async function checkpointOf(preset: string): Promise<string> {
  const known = checkpoints.get(preset);
  if (known) return known;
  const dir = path.join(root, preset);
  (await makeCheckpoint(preset, dir, 11)).dispose();
  checkpoints.set(preset, dir);
  return dir;
}

describe('export parity with tfjs', () => {
  test.each([
    { preset: 'mlp', folded: 0 },
    { preset: 'seed002', folded: 8 },
    { preset: 'deotte', folded: 7 },
    { preset: 'an-m5', folded: 6 },
    { preset: 'seed000', folded: 5 },
  ])('$preset: ONNX Runtime gives tfjs probabilities within 1e-4 on 32 random images', async ({ preset, folded }) => {
    // Given a checkpoint of the preset with non-trivial BN statistics
    const dir = path.join(root, preset);
    const model = await makeCheckpoint(preset, dir, 11);
    checkpoints.set(preset, dir);

    // When it is exported and run on ONNX Runtime
    const result = await exportCheckpointToOnnx(dir);
    const onnx = track(await createPredictor(dir, { infer: 'onnx' }));
    const images = randomImages(32, 5);
    const got = await onnx.predict(images, 32);

    // Then the probabilities and every argmax match tfjs on the model as trained
    const want = tfjsProbabilities(model, preprocessingOf(preset), images, 32);
    const diff = maxAbsDiff(got, want);
    console.info(`parity ${preset}: max |Δp| = ${diff.toExponential(2)}, ${result.bytes} bytes`);
    expect(diff).toBeLessThan(1e-4);
    for (let i = 0; i < 32; i++) expect(argmax(got, i)).toBe(argmax(want, i));
    expect(exportModelToOnnx(model, { preprocessing: preprocessingOf(preset) }).foldedBatchNorms).toHaveLength(folded);
    model.dispose();
  });

  test('rules beyond the presets: padding, average pooling, clipped ReLU, tanh, dilation, BN on NHWC and folded with a bias', async () => {
    // Given a chain using every other rule, with random BN statistics
    const model = tf.sequential({
      layers: [
        batchNormalization({ inputShape: [28, 28, 1], name: 'bn_input' }),
        tf.layers.zeroPadding2d({ padding: [[1, 2], [0, 1]], name: 'pad' }),
        tf.layers.conv2d({ filters: 6, kernelSize: 3, strides: 2, padding: 'same', useBias: true, name: 'conv_bias' }),
        batchNormalization({ name: 'bn_fold_bias' }),
        tf.layers.reLU({ maxValue: 0.6, name: 'relu6ish' }),
        tf.layers.conv2d({ filters: 5, kernelSize: 3, dilationRate: 2, padding: 'same', activation: 'tanh', name: 'dilated' }),
        tf.layers.averagePooling2d({ poolSize: 3, strides: 2, padding: 'same', name: 'avg' }),
        tf.layers.maxPooling2d({ poolSize: 2, strides: 1, padding: 'same', name: 'max' }),
        tf.layers.flatten({ name: 'flat' }),
        tf.layers.dense({ units: 10, name: 'logits' }),
        tf.layers.activation({ activation: 'softmax', name: 'probs' }),
      ],
    });
    randomizeWeights(model, 3);
    const preprocessing: CheckpointPreprocessing = { scale: '-1-1' };
    // When exported and run on ONNX Runtime
    const { bytes, foldedBatchNorms } = exportModelToOnnx(model, { preprocessing });
    const ort = createRequire(import.meta.url)('onnxruntime-node') as typeof import('onnxruntime-node');
    const session = await ort.InferenceSession.create(bytes);
    const images = randomImages(16, 8);
    const got = (await session.run({ images: new ort.Tensor('float32', images, [16, 28, 28, 1]) })).probabilities!.data as Float32Array;
    await session.release();
    // Then it matches tfjs, and only the BN right after the linear conv was folded
    expect(maxAbsDiff(got, tfjsProbabilities(model, preprocessing, images, 16))).toBeLessThan(1e-4);
    expect(foldedBatchNorms).toEqual(['bn_fold_bias']);
    model.dispose();
  });

  test('the graph takes raw [N,28,28,1] images named "images" and gives [N,10] "probabilities", batch symbolic', async () => {
    // Given the padded, standardised preset (its network takes 32×32)
    const model = buildModel('seed000');
    const { bytes, inputShape, outputShape } = exportModelToOnnx(model, { preprocessing: preprocessingOf('seed000') });
    model.dispose();
    // When ONNX Runtime reads it
    const ort = createRequire(import.meta.url)('onnxruntime-node') as typeof import('onnxruntime-node');
    const session = await ort.InferenceSession.create(bytes);
    // Then the interface is the documented one
    expect(session.inputNames).toEqual(['images']);
    expect(session.outputNames).toEqual(['probabilities']);
    expect((session.inputMetadata[0] as { shape: readonly unknown[] }).shape).toEqual(['N', 28, 28, 1]);
    expect((session.outputMetadata[0] as { shape: readonly unknown[] }).shape).toEqual(['N', 10]);
    expect(inputShape).toEqual([28, 28, 1]);
    expect(outputShape).toEqual([10]);
    await session.release();
  });

  test('a layer without an export rule is an error naming the layer and its class', () => {
    // Given a model with an UpSampling2D layer
    const model = modelWithoutExportRule();
    // When exported, Then the error says which layer and class
    expect(() => exportModelToOnnx(model)).toThrow(UnsupportedLayerError);
    expect(() => exportModelToOnnx(model)).toThrow(/layer "grow" \(UpSampling2D\).*no export rule for UpSampling2D/);
    model.dispose();
  });
});

describe('model.onnx and onnx.json in the checkpoint', () => {
  test('re-export is skipped while the checkpoint is unchanged and redone after it changes', async () => {
    // Given an exported checkpoint
    const dir = path.join(root, 'reuse');
    (await makeCheckpoint('mlp', dir, 1)).dispose();
    const first = await exportCheckpointToOnnx(dir);
    expect(first.exported).toBe(true);
    const onnxPath = path.join(dir, ONNX_FILE);
    const before = await stat(onnxPath);
    const sidecar = JSON.parse(await readFile(path.join(dir, ONNX_SIDECAR), 'utf8')) as OnnxSidecar;
    expect(sidecar).toMatchObject({ file: ONNX_FILE, sha256: first.sha256, opset: 18, sourceHashes: (await readCheckpointMetadata(dir)).files });

    // When exported again, Then nothing is written
    const second = await exportCheckpointToOnnx(dir);
    expect(second.exported).toBe(false);
    const after = await stat(onnxPath);
    expect([after.ino, after.mtimeMs]).toEqual([before.ino, before.mtimeMs]);
    expect(second.sha256).toBe(first.sha256);

    // When the checkpoint's files are replaced by another model's (as a copy over the folder does)
    const other = path.join(root, 'reuse-other');
    const replacement = await makeCheckpoint('mlp', other, 2);
    for (const file of [MODEL_JSON, WEIGHTS_BIN, METADATA_JSON, COMPLETE_MARKER]) await copyFile(path.join(other, file), path.join(dir, file));
    // Then the export is redone, from the new weights
    const third = await exportCheckpointToOnnx(dir);
    expect(third.exported).toBe(true);
    expect(third.sha256).not.toBe(first.sha256);
    const images = randomImages(8, 3);
    const onnx = track(await createPredictor(dir, { infer: 'onnx' }));
    expect(maxAbsDiff(await onnx.predict(images, 8), tfjsProbabilities(replacement, preprocessingOf('mlp'), images, 8))).toBeLessThan(1e-4);
    replacement.dispose();

    // When model.onnx is lost, Then it is exported again; --force always exports
    await unlink(onnxPath);
    expect((await exportCheckpointToOnnx(dir)).exported).toBe(true);
    expect((await exportCheckpointToOnnx(dir, { force: true })).exported).toBe(true);

    // When a byte of weights.bin flips after the export (a damaged disk or copy)
    const weights = await readFile(path.join(dir, WEIGHTS_BIN));
    weights[100] = weights[100]! ^ 0xff;
    await writeFile(path.join(dir, WEIGHTS_BIN), weights);
    // Then the export no longer stands in for the checkpoint: the damaged file is named, for every predictor
    await expect(exportCheckpointToOnnx(dir)).rejects.toThrow(new RegExp(`${WEIGHTS_BIN} is corrupt`));
    await expect(createPredictor(dir, { infer: 'onnx' })).rejects.toThrow(/is corrupt/);
  });
});

describe('predictors and the ensemble', () => {
  test('tfjs and ONNX Runtime predictors agree (and split large requests into batches)', async () => {
    // Given both predictors of one checkpoint, with small batches
    const onnx = track(await createPredictor(await checkpointOf('seed002'), { infer: 'onnx', batchSize: 16 }));
    const tfjs = track(await createPredictor(await checkpointOf('seed002'), { infer: 'tfjs', batchSize: 16 }));
    const auto = track(await createPredictor(await checkpointOf('seed002')));
    expect([onnx.kind, tfjs.kind, auto.kind]).toEqual(['onnx', 'tfjs', 'onnx']);
    // When both predict 40 images, Then they agree
    const images = randomImages(40, 9);
    const a = await onnx.predict(images, 40);
    const b = await tfjs.predict(images, 40);
    expect(a).toHaveLength(400);
    expect(maxAbsDiff(a, b)).toBeLessThan(1e-4);
  });

  test('int8 with --infer tfjs is refused, naming --precision (it was ignored without a word)', async () => {
    await expect(createPredictor(await checkpointOf('seed002'), { infer: 'tfjs', precision: 'int8' })).rejects.toMatchObject({ where: { flag: 'precision' }, message: expect.stringMatching(/int8 runs on ONNX Runtime/) });
  });

  test('auto falls back to tfjs for a model ONNX cannot express; onnx refuses it', async () => {
    // Given a checkpoint with an UpSampling2D layer
    const dir = path.join(root, 'unsupported');
    const model = modelWithoutExportRule();
    await makeCheckpoint('mlp', dir, 4, model);
    model.dispose();
    // When a predictor is asked for, Then auto runs tfjs and says why; onnx is an error
    const auto = track(await createPredictor(dir));
    expect(auto.kind).toBe('tfjs');
    expect(auto.reason).toMatch(/grow.*UpSampling2D/);
    expect((await auto.predict(randomImages(2, 1), 2)).length).toBe(20);
    await expect(createPredictor(dir, { infer: 'onnx' })).rejects.toThrow(/layer "grow" \(UpSampling2D\)/);
  });

  test('shifts move content by whole pixels and repeat the edge into what they uncover', () => {
    // Given an 8×8 image with one lit pixel at (x 3, y 4), a left column of 0.5 and a bottom row of 0.25, and a dirty output buffer
    const src = new Float32Array(64);
    for (let y = 0; y < 8; y++) src[y * 8] = 0.5;
    for (let x = 0; x < 8; x++) src[7 * 8 + x] = 0.25;
    src[4 * 8 + 3] = 1;
    const out = new Float32Array(64 + 5).fill(7);
    // When shifted one right and one up into the buffer at offset 5
    shiftImages(src, 0, 1, 8, { dx: 1, dy: -1 }, out, 5);
    const image = out.subarray(5);
    // Then every pixel (x, y) is the source's (clamp(x − 1), clamp(y + 1)) : the lit pixel is at (4, 3),
    // the uncovered left column repeats the left edge, the uncovered bottom row repeats the bottom row
    const clamp = (v: number) => Math.min(7, Math.max(0, v));
    for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) expect(image[y * 8 + x]).toBe(src[clamp(y + 1) * 8 + clamp(x - 1)]);
    expect(image[3 * 8 + 4]).toBe(1);
    expect(image[2 * 8 + 0]).toBe(0.5);
    expect(Array.from(image.subarray(7 * 8 + 1, 8 * 8))).toEqual([0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25]);
    expect(Array.from(out.subarray(0, 5))).toEqual([7, 7, 7, 7, 7]);
    // On a blank frame (MNIST's) nothing but the digit moves in: the sum is kept
    const digit = new Float32Array(64);
    digit[4 * 8 + 3] = 1;
    for (const shift of TTA_8) {
      const moved = new Float32Array(64);
      shiftImages(digit, 0, 1, 8, shift, moved, 0);
      expect(moved.reduce((a, b) => a + b, 0)).toBe(1);
      expect(moved[(4 + shift.dy) * 8 + 3 + shift.dx]).toBe(1);
    }
    // Shifts wider than the image repeat the far edge everywhere
    const wide = new Float32Array(64);
    shiftImages(src, 0, 1, 8, { dx: 9, dy: 0 }, wide, 0);
    for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) expect(wide[y * 8 + x]).toBe(src[y * 8]);
  });

  test('TTA with only the identity equals plain prediction; 8-way TTA is the mean over the shifted images', async () => {
    const onnx = track(await createPredictor(await checkpointOf('seed002'), { infer: 'onnx' }));
    const images = randomImages(20, 12);
    const plain = await onnx.predict(images, 20);
    // Identity only
    expect(maxAbsDiff(await predictEnsemble([onnx], images, 20, { tta: IDENTITY }), plain)).toBeLessThan(1e-6);
    // 8-way, stacked in batches of 3 images (24 rows) per call, against each shift run on its own
    const tta = await predictEnsemble([onnx], images, 20, { tta: TTA_8, rowsPerCall: 24 });
    const mean = new Float32Array(200);
    const shifted = new Float32Array(images.length);
    for (const shift of TTA_8) {
      shiftImages(images, 0, 20, 28, shift, shifted, 0);
      const probs = await onnx.predict(shifted, 20);
      for (let j = 0; j < 200; j++) mean[j]! += probs[j]! / TTA_8.length;
    }
    expect(maxAbsDiff(tta, mean)).toBeLessThan(1e-6);
  });

  test('an ensemble of two members is the mean of their outputs', async () => {
    // Given two members (different presets) on ONNX Runtime and tfjs
    const a = track(await createPredictor(await checkpointOf('mlp'), { infer: 'onnx' }));
    const b = track(await createPredictor(await checkpointOf('deotte'), { infer: 'tfjs' }));
    const images = randomImages(24, 21);
    // When soft-voted, in several calls
    const ensemble = await predictEnsemble([a, b], images, 24, { rowsPerCall: 10 });
    // Then each probability is the mean of the members'
    const pa = await a.predict(images, 24);
    const pb = await b.predict(images, 24);
    expect(maxAbsDiff(ensemble, pa.map((v, j) => (v + pb[j]!) / 2))).toBeLessThan(1e-6);
  });
});
