/**
 * Our wasm kernels against the cpu backend's gradients: the XNNPACK kernels
 * (wasm-kernels.ts) and the ONNX Runtime ones (ort-kernels.ts), over random shapes,
 * strides 1 and 2, valid/same/explicit padding, odd sizes, batch 1 and 64.
 */
import * as tf from '../../src/engine/tf.js';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { registerWasmTrainingKernels } from '../../src/engine/wasm-kernels.js';
import { mulberry32 } from '../../src/data/random.js';
import { disableOrtKernels, enableOrtKernels } from '../../src/engine/ort-kernels.js';
import { BN_TRAIN, BN_TRAIN_GRAD, registerBatchNormKernels } from '../../src/engine/batch-norm.js';

type Pad = 'valid' | 'same' | [[0, 0], [number, number], [number, number], [0, 0]];
interface Case {
  name: string;
  x: [number, number, number, number];
  k: [number, number];
  co: number;
  stride: [number, number];
  pad: Pad;
}

const CASES: Case[] = [
  { name: '3x3 s1 valid, batch 1', x: [1, 9, 9, 3], k: [3, 3], co: 4, stride: [1, 1], pad: 'valid' },
  { name: '3x3 s1 same, odd size', x: [2, 7, 11, 5], k: [3, 3], co: 6, stride: [1, 1], pad: 'same' },
  { name: '5x5 s2 same, even size (seed002 layer)', x: [3, 12, 12, 8], k: [5, 5], co: 8, stride: [2, 2], pad: 'same' },
  { name: '5x5 s2 same, odd size', x: [2, 11, 13, 3], k: [5, 5], co: 5, stride: [2, 2], pad: 'same' },
  { name: '3x3 s2 valid, odd size', x: [2, 9, 10, 4], k: [3, 3], co: 3, stride: [2, 2], pad: 'valid' },
  { name: '4x2 s(2,1) valid, rectangular', x: [2, 10, 8, 3], k: [4, 2], co: 7, stride: [2, 1], pad: 'valid' },
  { name: '1x1 s2 valid (taps skip a phase)', x: [2, 7, 7, 4], k: [1, 1], co: 3, stride: [2, 2], pad: 'valid' },
  { name: '3x3 s1 explicit padding', x: [2, 8, 8, 3], k: [3, 3], co: 4, stride: [1, 1], pad: [[0, 0], [1, 2], [0, 1], [0, 0]] },
  { name: '3x3 s1 valid, batch 64 (seed002 layer 2 shape, fewer channels)', x: [64, 12, 12, 8], k: [3, 3], co: 8, stride: [1, 1], pad: 'valid' },
  { name: '5x5 s2 same, batch 64', x: [64, 8, 8, 6], k: [5, 5], co: 6, stride: [2, 2], pad: 'same' },
];

/** A seeded generator so failures reproduce: uniform in [-0.5, 0.5). */
function random(seed: number) {
  const next = mulberry32(seed);
  return () => next() - 0.5;
}
const fill = (n: number, rnd: () => number) => Float32Array.from({ length: n }, rnd);

interface Grads {
  y: Float32Array;
  dx: Float32Array;
  dw: Float32Array;
}

async function convGrads(c: Case, seed: number): Promise<Grads> {
  const rnd = random(seed);
  const ci = c.x[3];
  const x = tf.tensor4d(fill(tf.util.sizeFromShape(c.x), rnd), c.x);
  const w = tf.tensor4d(fill(c.k[0] * c.k[1] * ci * c.co, rnd), [c.k[0], c.k[1], ci, c.co]);
  const y = tf.conv2d(x, w, c.stride, c.pad as 'valid');
  const dyValues = fill(y.size, rnd);
  const dy = tf.tensor(dyValues, y.shape);
  // Gradients of Σ conv(x, w)·dy: dx = Conv2DBackpropInput(dy), dw = Conv2DBackpropFilter(x, dy).
  const f = (xx: tf.Tensor4D, ww: tf.Tensor4D) => tf.sum(tf.mul(tf.conv2d(xx, ww, c.stride, c.pad as 'valid'), dy));
  const [dx, dw] = tf.grads(f as (...t: tf.Tensor[]) => tf.Tensor)([x, w]);
  const out = { y: (await y.data()) as Float32Array, dx: (await dx!.data()) as Float32Array, dw: (await dw!.data()) as Float32Array };
  tf.dispose([x, w, y, dy, dx!, dw!]);
  return out;
}

/** Max-norm relative error: max|a−b| / max|b|. */
function relError(actual: Float32Array, expected: Float32Array): number {
  expect(actual.length).toBe(expected.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i]! - expected[i]!));
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  return diff / Math.max(scale, 1e-12);
}

const reference = new Map<string, Grads>();

beforeAll(async () => {
  registerBatchNormKernels();
  await tf.setBackend('cpu');
  for (const [i, c] of CASES.entries()) reference.set(c.name, await convGrads(c, 1000 + i));
  registerWasmTrainingKernels();
  await tf.setBackend('wasm');
});

afterAll(() => disableOrtKernels());

describe.each([
  ['xnnpack', false],
  ['onnxruntime', true],
])('conv kernels on wasm (%s) match the cpu backend', (_name, ort) => {
  beforeAll(async () => {
    if (ort) {
      const status = await enableOrtKernels();
      expect(status.enabled, status.reason).toBe(true);
    } else {
      disableOrtKernels();
    }
  });

  test.each(CASES.map((c, i) => [c.name, c, i] as const))('%s', async (_label, c, i) => {
    // Given the cpu backend's forward output and gradients for this shape
    const expected = reference.get(c.name)!;
    // When the wasm backend computes the same
    const actual = await convGrads(c, 1000 + i);
    // Then they agree within 1e-4 relative error
    expect(relError(actual.y, expected.y)).toBeLessThan(1e-4);
    expect(relError(actual.dx, expected.dx)).toBeLessThan(1e-4);
    expect(relError(actual.dw, expected.dw)).toBeLessThan(1e-4);
  });
});

describe('fused batch-norm kernels match the composite cpu ops', () => {
  const shapes: Array<[string, number[]]> = [
    ['4-D, batch 1', [1, 5, 5, 3]],
    ['4-D, batch 64', [64, 6, 6, 8]],
    ['2-D (after dense)', [64, 16]],
  ];

  async function composite(shape: number[], seed: number) {
    // Training-mode batch norm as tfjs-layers computes it: moments + batchNorm.
    const rnd = random(seed);
    const c = shape[shape.length - 1]!;
    const x = tf.tensor(fill(tf.util.sizeFromShape(shape), () => rnd() * 3 + 0.7), shape);
    const gamma = tf.tensor1d(fill(c, () => rnd() + 1));
    const beta = tf.tensor1d(fill(c, rnd));
    const dy = tf.tensor(fill(tf.util.sizeFromShape(shape), rnd), shape);
    return { x, gamma, beta, dy };
  }

  async function stock(shape: number[], seed: number) {
    const { x, gamma, beta, dy } = await composite(shape, seed);
    const axes = shape.slice(0, -1).map((_, i) => i);
    const f = (xx: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const { mean, variance } = tf.moments(xx, axes);
      return tf.sum(tf.mul(tf.batchNorm(xx, mean, variance, b, g, 1e-3), dy));
    };
    const y = tf.tidy(() => {
      const { mean, variance } = tf.moments(x, axes);
      return tf.batchNorm(x, mean, variance, beta, gamma, 1e-3);
    });
    const grads = tf.grads(f as (...t: tf.Tensor[]) => tf.Tensor)([x, gamma, beta]);
    const out = [y, ...grads].map((t) => t.dataSync() as Float32Array);
    tf.dispose([x, gamma, beta, dy, y, ...grads]);
    return out;
  }

  async function fused(shape: number[], seed: number) {
    const { x, gamma, beta, dy } = await composite(shape, seed);
    const [y, mean, variance] = tf.engine().runKernel(BN_TRAIN, { x, gamma, beta }, { epsilon: 1e-3 }) as tf.Tensor[];
    const grads = tf.engine().runKernel(BN_TRAIN_GRAD, { dy, x, gamma, mean: mean!, variance: variance! }, { epsilon: 1e-3 }) as tf.Tensor[];
    const out = [y!, ...grads].map((t) => t.dataSync() as Float32Array);
    tf.dispose([x, gamma, beta, dy, y!, mean!, variance!, ...grads]);
    return out;
  }

  test.each(shapes.flatMap(([label, shape], i) => (['cpu', 'wasm-js', 'wasm-onnxruntime'] as const).map((impl) => [`${label} on ${impl}`, shape, i, impl] as const)))(
    '%s',
    async (_label, shape, i, impl) => {
      // Given the stock composite computation on the cpu backend
      await tf.setBackend('cpu');
      const expected = await stock(shape, 50 + i);
      // When our fused kernels run on the backend under test
      disableOrtKernels();
      if (impl === 'wasm-onnxruntime') await enableOrtKernels();
      await tf.setBackend(impl === 'cpu' ? 'cpu' : 'wasm');
      const actual = await fused(shape, 50 + i);
      // Then output, dx, dγ and dβ agree within 1e-4
      ['y', 'dx', 'dgamma', 'dbeta'].forEach((name, k) => {
        expect(relError(actual[k]!, expected[k]!), name).toBeLessThan(1e-4);
      });
      await tf.setBackend('wasm');
    },
  );
});
