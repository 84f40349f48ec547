/**
 * The int8 export: a real trained member (the shipped clean seed002 checkpoint, copied to a
 * temp folder) quantized on real MNIST training images and compared with its float export on
 * t10k digits; the int8.json reuse and staleness rules; and the predictor's precision choice.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type * as Ort from 'onnxruntime-node';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { readMnist } from '../../src/data/mnist.js';
import { initEngine } from '../../src/engine/backend.js';
import { ONNX_FILE, exportCheckpointToOnnx } from '../../src/onnx/export.js';
import {
  INT8_FILE,
  INT8_SIDECAR,
  WEIGHT_RANGE,
  activationParams,
  calibrate,
  quantizeModel,
  tensorsToCalibrate,
  widenedFloatModel,
  type CalibrationSet,
  type Int8Sidecar,
} from '../../src/onnx/quantize.js';
import { createPredictor, type Predictor } from '../../src/inference/predictor.js';
import { saveCheckpoint } from '../../src/model/checkpoint.js';
import { buildModel } from '../../src/model/presets.js';
import { UserError } from '../../src/errors.js';

const require = createRequire(import.meta.url);
const ort = require('onnxruntime-node') as typeof Ort;
const SHIPPED = path.resolve(__dirname, '../../checkpoints/mnist-clean/seed002');

let root: string;
let checkpoint: string;
let train: Float32Array;
let digits: { images: Float32Array; labels: Uint8Array };
const open: Predictor[] = [];

beforeAll(async () => {
  await initEngine({ backend: 'wasm', ortKernels: false });
  root = await mkdtemp(path.join(os.tmpdir(), 'digits-int8-'));
  checkpoint = path.join(root, 'seed002');
  await cp(SHIPPED, checkpoint, { recursive: true });
  for (const f of [ONNX_FILE, 'onnx.json', INT8_FILE, INT8_SIDECAR]) await rm(path.join(checkpoint, f), { force: true });
  const mnistTrain = await readMnist('train');
  train = Float32Array.from(mnistTrain.images.subarray(0, 512 * 784), (v) => v / 255);
  const t10k = await readMnist('test');
  digits = { images: Float32Array.from(t10k.images.subarray(0, 2000 * 784), (v) => v / 255), labels: t10k.labels.subarray(0, 2000) };
});
afterAll(async () => {
  for (const p of open) p.dispose();
  await rm(root, { recursive: true, force: true });
});

const argmax = (p: Float32Array, i: number) => {
  let best = 0;
  for (let k = 1; k < 10; k++) if (p[i * 10 + k]! > p[i * 10 + best]!) best = k;
  return best;
};
const calibration = (source = '512 MNIST train images'): (() => Promise<CalibrationSet>) => async () => ({ images: train, count: 512, source });

describe('activation parameters', () => {
  test.each([
    { min: 0, max: 6.2 },
    { min: -1.5, max: 3 },
    { min: 0.2, max: 0.9 },
    { min: -4, max: -1 },
    { min: 0, max: 0 },
  ])('range [$min, $max]: zero is exact and the ends are inside uint8', (range) => {
    const { scale, zeroPoint } = activationParams(range);
    expect(scale).toBeGreaterThan(0);
    expect(Number.isInteger(zeroPoint) && zeroPoint >= 0 && zeroPoint <= 255).toBe(true);
    // the float 0 maps to the zero point exactly, and both ends of the range land inside [0, 255]
    const q = (v: number) => Math.round(v / scale) + zeroPoint;
    expect(q(0)).toBe(zeroPoint);
    expect(q(Math.min(0, range.min))).toBeGreaterThanOrEqual(0);
    expect(q(Math.max(0, range.max))).toBeLessThanOrEqual(255);
  });
});

describe('first-layer rewrite', () => {
  const { onnx } = require('onnx-proto') as { onnx: { ModelProto: { decode(b: Uint8Array): { graph: { node: Array<{ opType: string; input: string[]; attribute: Array<{ name: string; ints?: unknown[] }> }>; initializer: Array<{ name: string; dims: unknown[] }> } } } } };
  const convsOf = (bytes: Uint8Array) => {
    const { graph } = onnx.ModelProto.decode(bytes);
    return graph.node.filter((n) => n.opType === 'Conv').map((n) => ({
      kernel: (n.attribute.find((a) => a.name === 'kernel_shape')?.ints ?? []).map(Number),
      weight: (graph.initializer.find((t) => t.name === n.input[1])?.dims ?? []).map(Number),
      concatInputs: graph.node.find((c) => c.opType === 'Concat' && n.input[0] === (c as unknown as { output: string[] }).output[0])?.input.length ?? 0,
    }));
  };

  test.each([
    { preset: 'seed002', kernel: [3, 1], weight: [32, 4, 3, 1] },
    { preset: 'an-m5', kernel: [5, 1], weight: [32, 8, 5, 1] },
  ])('$preset: the one-channel first convolution becomes a kh×1 convolution over column-shifted copies, with the same float results', async ({ preset, kernel, weight }) => {
    // Given the float export of a freshly built member (any weights do: the rewrite is exact)
    const dir = path.join(root, `widen-${preset}`);
    const model = buildModel(preset);
    await saveCheckpoint(model, dir, { preset, hyperparameters: {}, preprocessing: { scale: '0-1' }, orientation: 'as-is', seed: 1, dataFingerprint: null, metrics: {}, command: 'test' });
    model.dispose();
    const float = new Uint8Array(await readFile((await exportCheckpointToOnnx(dir)).path));

    // When its single-channel convolutions are widened
    const { bytes, widened } = widenedFloatModel(float);

    // Then exactly the first convolution changed, into kh×1 over a multiple of 4 shifted copies
    expect(widened).toBe(1);
    const [before, after] = [convsOf(float), convsOf(bytes)];
    expect(before[0]!.weight[1]).toBe(1);
    expect(after[0]).toEqual({ kernel, weight, concatInputs: weight[1] });
    expect(after.slice(1)).toEqual(before.slice(1));
    // and ONNX Runtime computes the same probabilities on real digits
    const run = async (m: Uint8Array) => {
      const session = await ort.InferenceSession.create(m, { intraOpNumThreads: 1 });
      const out = (await session.run({ images: new ort.Tensor('float32', digits.images.subarray(0, 64 * 784), [64, 28, 28, 1]) })).probabilities!.data as Float32Array;
      await session.release();
      return out;
    };
    const [a, b] = [await run(float), await run(bytes)];
    let maxDiff = 0;
    for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i]!));
    expect(maxDiff).toBeLessThan(1e-5);
  });
});

describe('int8 export of a trained member', () => {
  test('every convolution is quantized, weights within ±63, and ONNX Runtime agrees with the float model on real digits', async () => {
    // Given the float export of a trained seed002 and its ranges on 512 training images
    const float = new Uint8Array(await readFile((await exportCheckpointToOnnx(checkpoint)).path));
    const tensors = tensorsToCalibrate(float);
    const ranges = await calibrate(ort, float, tensors, train, [28, 28, 1]);
    expect(ranges.every((r) => r.min <= 0 && r.max > 0)).toBe(true);

    // When it is quantized
    const { bytes, convolutions } = quantizeModel(float, ranges);

    // Then its 7 convolutions are int8 (the 2 batch norms before padded convolutions are folded
    // into them, their shifts a constant map that is quantized too, for a QLinearAdd)
    expect(convolutions).toHaveLength(7);
    const { onnx } = require('onnx-proto') as { onnx: { ModelProto: { decode(b: Uint8Array): { graph: { initializer: Array<{ name: string; dataType: number; rawData: Uint8Array }> } } }; TensorProto: { DataType: { INT8: number; UINT8: number } } } };
    const { initializer } = onnx.ModelProto.decode(bytes).graph;
    const weights = initializer.filter((t) => t.dataType === onnx.TensorProto.DataType.INT8);
    expect(weights.length).toBeGreaterThanOrEqual(7 * 2);
    expect(initializer.filter((t) => t.dataType === onnx.TensorProto.DataType.UINT8 && t.name.endsWith('shift_map/uint8'))).toHaveLength(2);
    let largest = 0;
    for (const t of weights) for (const v of new Int8Array(t.rawData.buffer, t.rawData.byteOffset, t.rawData.byteLength)) largest = Math.max(largest, Math.abs(v));
    expect(largest).toBe(WEIGHT_RANGE);
    const run = async (model: Uint8Array) => {
      const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1, graphOptimizationLevel: 'all' });
      const out = (await session.run({ images: new ort.Tensor('float32', digits.images, [2000, 28, 28, 1]) })).probabilities!.data as Float32Array;
      await session.release();
      return out;
    };
    const [p32, p8] = [await run(float), await run(bytes)];
    let agree = 0;
    let right32 = 0;
    let right8 = 0;
    let maxDiff = 0;
    for (let i = 0; i < 2000; i++) {
      const [a, b] = [argmax(p32, i), argmax(p8, i)];
      if (a === b) agree++;
      if (a === digits.labels[i]) right32++;
      if (b === digits.labels[i]) right8++;
    }
    for (let i = 0; i < p32.length; i++) maxDiff = Math.max(maxDiff, Math.abs(p32[i]! - p8[i]!));
    console.info(`int8 vs fp32 on 2,000 t10k digits: argmax agrees on ${agree}, accuracy ${right32 / 20}% → ${right8 / 20}%, max |Δp| ${maxDiff.toFixed(3)}`);
    expect(agree).toBeGreaterThanOrEqual(1990);
    expect(right8).toBeGreaterThanOrEqual(right32 - 4);
  });

  test('a quantizer that ignored the calibration would fail: ranges far too narrow change the answers', async () => {
    // Given the same float export with every range cut to a tenth
    const float = new Uint8Array(await readFile((await exportCheckpointToOnnx(checkpoint)).path));
    const ranges = (await calibrate(ort, float, tensorsToCalibrate(float), train, [28, 28, 1])).map((r) => ({ ...r, min: r.min / 10, max: r.max / 10 }));
    const session = await ort.InferenceSession.create(quantizeModel(float, ranges).bytes, { intraOpNumThreads: 1 });
    const out = (await session.run({ images: new ort.Tensor('float32', digits.images.subarray(0, 500 * 784), [500, 28, 28, 1]) })).probabilities!.data as Float32Array;
    await session.release();
    let right = 0;
    for (let i = 0; i < 500; i++) if (argmax(out, i) === digits.labels[i]) right++;
    // Then saturation shows: the calibrated model is near 99%, this one is far below
    expect(right).toBeLessThan(475);
  });
});

describe('precision of the ONNX Runtime predictor', () => {
  test('int8 without an export or calibration images is an error saying how to make one', async () => {
    const error = await createPredictor(checkpoint, { infer: 'onnx', precision: 'int8' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as UserError).message).toContain('no int8 export');
  });

  test('auto without calibration runs fp32; with calibration it writes model.int8.onnx + int8.json, which later runs reuse', async () => {
    // Given no int8 export yet: auto falls back to fp32 and says why
    const fp32 = await createPredictor(checkpoint, { infer: 'onnx' });
    open.push(fp32);
    expect(fp32.precision).toBe('fp32');
    expect(fp32.reason).toContain('no int8 export');

    // When a predictor is made with calibration images
    const made = await createPredictor(checkpoint, { infer: 'onnx', calibration: calibration() });
    open.push(made);
    expect(made.precision).toBe('int8');
    expect(made.reason).toContain('calibrated now on 512 MNIST train images');
    const sidecar = JSON.parse(await readFile(path.join(checkpoint, INT8_SIDECAR), 'utf8')) as Int8Sidecar;
    expect(sidecar).toMatchObject({ file: INT8_FILE, weightRange: WEIGHT_RANGE, calibration: { source: '512 MNIST train images', images: 512 } });

    // Then a later predictor without calibration reuses it, and predicts what the first one did
    const reused = await createPredictor(checkpoint, { infer: 'onnx' });
    open.push(reused);
    expect(reused.precision).toBe('int8');
    expect(reused.reason).toContain('calibrated on 512 MNIST train images');
    const images = digits.images.subarray(0, 64 * 784);
    expect(Array.from(await reused.predict(images, 64))).toEqual(Array.from(await made.predict(images, 64)));

    // And an explicit fp32 still gets the float model
    const asked = await createPredictor(checkpoint, { infer: 'onnx', precision: 'fp32' });
    open.push(asked);
    expect(asked.precision).toBe('fp32');
  });

  test('an int8 export whose file was altered, or made from another float model, is not used', async () => {
    await createPredictor(checkpoint, { infer: 'onnx', calibration: calibration() }).then((p) => p.dispose());
    const file = path.join(checkpoint, INT8_FILE);
    const bytes = await readFile(file);
    bytes[bytes.length - 5] ^= 0xff;
    await writeFile(file, bytes);
    const tampered = await createPredictor(checkpoint, { infer: 'onnx' });
    open.push(tampered);
    expect(tampered.precision).toBe('fp32');

    const sidecarFile = path.join(checkpoint, INT8_SIDECAR);
    await createPredictor(checkpoint, { infer: 'onnx', calibration: calibration('again') }).then((p) => p.dispose());
    const sidecar = JSON.parse(await readFile(sidecarFile, 'utf8')) as Int8Sidecar;
    await writeFile(sidecarFile, JSON.stringify({ ...sidecar, sourceSha256: '0'.repeat(64) }));
    const stale = await createPredictor(checkpoint, { infer: 'onnx' });
    open.push(stale);
    expect(stale.precision).toBe('fp32');
  });
});
