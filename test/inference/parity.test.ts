/**
 * `checkOnnxParity` (what `digits export onnx` reports) on every preset × orientation, in the
 * state a member is in after `digits evaluate`: an int8 export (`model.int8.onnx`) beside the
 * float one. Issue 15: fine-tuned members (which `digits run` evaluates; their competition was
 * transposed) failed the check 57–62/64 because it ran the int8 export, whose probabilities
 * differ from tfjs by design; the shipped checkpoints (never evaluated, as-is) passed.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import * as tf from '../../src/engine/tf.js';
import type * as Ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { mulberry32 } from '../../src/data/random.js';
import { initEngine } from '../../src/engine/backend.js';
import { checkOnnxParity, createOnnxPredictor, createTfjsPredictor } from '../../src/inference/predictor.js';
import { saveCheckpoint } from '../../src/model/checkpoint.js';
import { PRESET_NAMES, buildModel, getPreset } from '../../src/model/presets.js';
import { exportCheckpointToOnnx } from '../../src/onnx/export.js';
import { INT8_FILE, tensorsToCalibrate, writeInt8Export } from '../../src/onnx/quantize.js';

let root: string;
beforeAll(async () => {
  await initEngine({ backend: 'wasm', ortKernels: false });
  root = await mkdtemp(path.join(os.tmpdir(), 'digits-parity-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function randomImages(count: number, seed: number): Float32Array {
  const random = mulberry32(seed);
  return Float32Array.from({ length: count * 28 * 28 }, () => random());
}

/** A member as training leaves it, the same on every run: seeded weights, BN statistics away from the identity. */
async function member(preset: string, orientation: string, dir: string): Promise<void> {
  const model = buildModel(preset);
  let s = 7;
  tf.tidy(() => {
    for (const layer of model.layers) {
      for (const w of layer.weights) {
        const field = w.originalName.split('/').pop();
        const shape = w.shape as number[];
        if (field === 'kernel') {
          const fanIn = shape.slice(0, -1).reduce((a, b) => a * b, 1);
          const limit = Math.sqrt(3 / fanIn);
          w.write(tf.randomUniform(shape, -limit, limit, 'float32', s++));
        }
        if (field === 'gamma') w.write(tf.randomUniform(shape, 0.5, 1.5, 'float32', s++));
        if (field === 'moving_variance') w.write(tf.randomUniform(shape, 0.5, 2, 'float32', s++));
        if (field === 'moving_mean' || field === 'beta' || field === 'bias') w.write(tf.randomUniform(shape, -0.1, 0.1, 'float32', s++));
      }
    }
  });
  const spec = getPreset(preset).preprocessing;
  await saveCheckpoint(model, dir, {
    preset,
    hyperparameters: {},
    preprocessing: spec.scale === 'standardize' ? { ...spec, mean: 0.13, std: 0.31 } : { ...spec },
    orientation,
    seed: 1,
    dataFingerprint: null,
    metrics: {},
    command: 'vitest',
  });
  model.dispose();
}

describe('export parity as `digits export onnx` checks it', () => {
  const cases = PRESET_NAMES.flatMap((preset) => ['as-is', 'transpose'].map((orientation) => ({ preset, orientation })));

  test.each(cases)('$preset, orientation $orientation, after evaluate made an int8 export: the float export matches tfjs', async ({ preset, orientation }) => {
    // Given an exported member of the preset whose folder also holds an int8 export, as after `digits evaluate`
    const dir = path.join(root, `${preset}-${orientation}`);
    await member(preset, orientation, dir);
    const exported = await exportCheckpointToOnnx(dir);
    const floatBytes = new Uint8Array(await readFile(exported.path));
    const quantizable = tensorsToCalibrate(floatBytes).length > 0;
    if (quantizable) {
      const ort = createRequire(import.meta.url)('onnxruntime-node') as typeof Ort;
      await writeInt8Export(ort, dir, floatBytes, { images: randomImages(64, 3), count: 64, source: '64 random images' });
      await expect(readFile(path.join(dir, INT8_FILE))).resolves.toBeTruthy();
    }

    // When the parity check runs
    const parity = await checkOnnxParity(dir, { images: 32, seed: 5 });

    // Then it compared the float export: within 1e-4, every argmax agreeing
    expect(parity).toMatchObject({ images: 32, precision: 'fp32', argmaxAgreement: 32, ok: true });
    expect(parity.maxAbsDiff).toBeLessThan(1e-4);

    // And the int8 export it must not pick really is farther from tfjs than the tolerance (the trap the old check fell into)
    if (quantizable) {
      const int8 = await createOnnxPredictor(dir, { precision: 'auto' });
      const reference = await createTfjsPredictor(dir);
      const images = randomImages(32, 5);
      const [a, b] = [await int8.predict(images, 32), await reference.predict(images, 32)];
      int8.dispose();
      reference.dispose();
      expect(int8.precision).toBe('int8');
      expect(Math.max(...a.map((v, i) => Math.abs(v - b[i]!)))).toBeGreaterThan(parity.tolerance);
    }
  });
});
