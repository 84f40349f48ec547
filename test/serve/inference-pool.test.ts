/**
 * The inference worker pool over real checkpoints (freshly built members, exported to ONNX
 * in a temp folder): the same answers as in-process predictors, many concurrent calls each
 * getting its own answer, a worker stopped mid-call rejecting that call and being replaced,
 * a load error arriving as the UserError createPredictor throws, and the serving modes.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { mulberry32 } from '../../src/data/random.js';
import { initEngine } from '../../src/engine/backend.js';
import { createPredictor, type Predictor } from '../../src/inference/predictor.js';
import { UserError } from '../../src/errors.js';
import { loadServedEnsemble } from '../../src/serve/ensemble.js';
import { createInferencePool, type InferencePool } from '../../src/serve/inference-pool.js';
import { makeRun } from './helpers.js';

let root: string;
let runDir: string;
let checkpoints: string[];
let pool: InferencePool;
const direct: Predictor[] = [];

beforeAll(async () => {
  await initEngine({ backend: 'wasm', ortKernels: false });
  root = await mkdtemp(path.join(os.tmpdir(), 'digits-pool-'));
  runDir = await makeRun(root, [
    { name: 'dense', preset: 'mlp', seed: 1 },
    { name: 'conv', preset: 'seed002', seed: 2 },
  ]);
  checkpoints = ['dense', 'conv'].map((name) => path.join(runDir, name, 'best'));
  pool = await createInferencePool(checkpoints, { workers: 2 });
  for (const checkpoint of checkpoints) direct.push(await createPredictor(checkpoint, { infer: 'onnx', threads: 1 }));
});

afterAll(async () => {
  await pool?.dispose();
  for (const p of direct) p.dispose();
  await rm(root, { recursive: true, force: true });
});

function randomImages(count: number, seed: number): Float32Array {
  const random = mulberry32(seed);
  return Float32Array.from({ length: count * 784 }, () => random());
}

function expectClose(actual: Float32Array, expected: Float32Array): void {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let k = 0; k < expected.length; k++) worst = Math.max(worst, Math.abs(actual[k]! - expected[k]!));
  expect(worst).toBeLessThan(1e-6);
}

describe('InferencePool', () => {
  test('pooled members answer exactly what in-process predictors answer', async () => {
    // Given 7 random images
    const images = randomImages(7, 11);
    for (const [m, predictor] of pool.predictors.entries()) {
      // When the pooled member and the in-process one predict them
      const pooled = await predictor!.predict(images, 7);
      // Then the probabilities agree, and the predictor describes itself like the direct one
      expectClose(pooled, await direct[m]!.predict(images, 7));
      expect(predictor).toMatchObject({ kind: 'onnx', imageSize: 28, precision: 'fp32' });
      expect(predictor!.reason).toMatch(/onnxruntime-node fp32, 1 thread .*in each of 2 inference workers/);
    }
    // and the caller's images are untouched (the pool sent a copy)
    expect(images).toEqual(randomImages(7, 11));
  });

  test('a large call is cut into one piece per worker and put back together in order', async () => {
    // Given 101 images (two pieces: 50 and 51 rows)
    const images = randomImages(101, 12);
    const before = pool.stats().workers.map((w) => w.calls);
    // When a member predicts them
    const probs = await pool.predictors[1]!.predict(images, 101);
    // Then each worker computed one piece, and the rows are where the in-process answer has them
    expect(pool.stats().workers.map((w, i) => w.calls - before[i]!)).toEqual([1, 1]);
    expectClose(probs, await direct[1]!.predict(images, 101));
  });

  test('200 concurrent calls of assorted sizes and members each get their own answer, spread over both workers', async () => {
    // Given calls of 1–5 images on either member, all fired at once
    const calls = Array.from({ length: 200 }, (_, i) => ({ member: i % 2, count: 1 + (i % 5), images: randomImages(1 + (i % 5), 100 + i) }));
    const before = pool.stats().workers.map((w) => w.calls);
    // When they all resolve
    const results = await Promise.all(calls.map((c) => pool.predictors[c.member]!.predict(c.images, c.count)));
    // Then each equals the in-process answer for its own images
    for (const [i, c] of calls.entries()) expectClose(results[i]!, await direct[c.member]!.predict(c.images, c.count));
    // and both workers took calls
    const after = pool.stats();
    expect(after.workers.map((w, i) => w.calls - before[i]!).every((n) => n > 0)).toBe(true);
    expect(after.workers.reduce((sum, w, i) => sum + w.calls - before[i]!, 0)).toBe(200);
    expect(after.queued).toBe(0);
  });

  test('a worker that dies holding a call rejects that call, is replaced, and the pool keeps answering', async () => {
    const images = randomImages(512, 5);
    const exits: Array<{ worker: number; reason: string; replaced: boolean }> = [];
    const own = await createInferencePool(checkpoints, { workers: 2, onWorkerExit: (e) => exits.push(e) });
    try {
      // Given worker 0 set to crash (exit 70) when its next call reaches it
      own.crashWorkerOnNextCall(0, 70);
      // When a large call is cut into one piece per worker, and a second one waits behind it
      // (the outcome of the first is captured at once: it is rejected while the test waits)
      const first = own.predictors[1]!.predict(images, 512).then(
        () => null,
        (e: unknown) => e as Error,
      );
      const second = own.predictors[1]!.predict(images, 512);
      expect(own.stats().workers.map((w) => w.inFlight)).toEqual([1, 1]);
      expect(own.stats().queued).toBe(2);
      // Then the call whose piece worker 0 held is rejected, saying which worker, why and which member
      expect((await first)?.message).toMatch(/inference worker 0 stopped \(it exited with code 70\) while running member .*conv.best; the call was not answered/);
      // and the waiting call is answered in full
      expectClose(await second, await direct[1]!.predict(images, 512));
      expect(exits).toEqual([{ worker: 0, reason: 'it exited with code 70', replaced: true }]);
      // and calls keep being answered (by worker 1 at once, by the replacement once it has loaded)
      const few = images.subarray(0, 3 * 784);
      const after = await Promise.all(Array.from({ length: 6 }, (_, i) => own.predictors[i % 2]!.predict(few, 3)));
      for (const [i, probs] of after.entries()) expectClose(probs, await direct[i % 2]!.predict(few, 3));
      expect(own.stats().restarts).toBe(1);
      expect(own.stats().workers[0]!.state).not.toBe('dead');
    } finally {
      await own.dispose();
    }
    // Once disposed, calls are refused
    await expect(own.predictors[0]!.predict(images, 1)).rejects.toThrow(/disposed/);
  });

  test('dispose rejects calls under way and waiting, and lets each worker end after its run', async () => {
    // Given a pool busy with a large call and another waiting
    const own = await createInferencePool(checkpoints, { workers: 1 });
    const images = randomImages(256, 6);
    const outcomes = [own.predictors[1]!.predict(images, 256), own.predictors[1]!.predict(images, 256)].map((p) =>
      p.then(
        () => 'answered',
        (e: unknown) => (e as Error).message,
      ),
    );
    // When it is disposed
    await own.dispose();
    // Then both calls are rejected, and the worker has ended (by itself: the process lives on)
    expect(await Promise.all(outcomes)).toEqual(['the inference pool was disposed', 'the inference pool was disposed']);
    expect(own.stats().workers.map((w) => w.state)).toEqual(['dead']);
  });

  test('a member that cannot load fails the start with the UserError createPredictor throws', async () => {
    // Given a convolutional member without an int8 export, and no calibration images
    // When the pool is asked for int8
    const start = createInferencePool(checkpoints, { workers: 1, precision: 'int8' });
    // Then it fails the way createPredictor would, hint included
    const error = await start.then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(UserError);
    expect((error as UserError).message).toMatch(/has no int8 export and no calibration images were given/);
    expect((error as UserError).hint).toMatch(/--precision fp32/);
    await expect(createPredictor(checkpoints[1]!, { infer: 'onnx', precision: 'int8' })).rejects.toThrow((error as UserError).message);
  });

  test('each member says whether its ONNX export was found or made now, also when the pool made it for its workers', async () => {
    // Given the members' exports, made when the first pool started
    const again = await createInferencePool(checkpoints, { workers: 1 });
    try {
      // Then a second pool finds them
      expect(again.predictors.map((p) => /\((existing export|exported now)[;)]/.exec(p!.reason)?.[1])).toEqual(['existing export', 'existing export']);
    } finally {
      await again.dispose();
    }
    // When one member's model.onnx is deleted and a pool starts
    await rm(path.join(checkpoints[1]!, 'model.onnx'));
    const remade = await createInferencePool(checkpoints, { workers: 1 });
    try {
      // Then that member says its export was made now (the pool made it before its workers found it)
      expect(remade.predictors.map((p) => /\((existing export|exported now)[;)]/.exec(p!.reason)?.[1])).toEqual(['existing export', 'exported now']);
    } finally {
      await remade.dispose();
    }
  });

  test('sessions whose idle threads do not spin answer the same', async () => {
    const images = randomImages(9, 3);
    const sleeping = await createPredictor(checkpoints[1]!, { infer: 'onnx', threads: 2, spin: false });
    try {
      expect(sleeping.reason).toMatch(/2 threads \(no spin-wait\)/);
      expectClose(await sleeping.predict(images, 9), await direct[1]!.predict(images, 9));
    } finally {
      sleeping.dispose();
    }
  });
});

describe('serving modes', () => {
  test.each([
    { options: {}, mode: 'workers', workers: os.availableParallelism(), threads: 1 },
    { options: { workers: 1, threads: 2 }, mode: 'workers', workers: 1, threads: 2 },
    { options: { workers: 0 }, mode: 'in-process', workers: 0, threads: Math.max(1, os.availableParallelism() - 1) },
    { options: { infer: 'tfjs' as const }, mode: 'in-process', workers: 0, threads: null },
  ])('loadServedEnsemble $options → $mode', async ({ options, mode, workers, threads }) => {
    const ensemble = await loadServedEnsemble(runDir, { infer: 'auto', ...options });
    try {
      expect(ensemble.inference).toMatchObject({ mode, workers, threadsPerSession: threads });
      expect(ensemble.inference.stats() === null).toBe(mode === 'in-process');
      const images = randomImages(2, 8);
      for (const [m, member] of ensemble.members.entries()) {
        const probs = await member.predictor.predict(images, 2);
        if (options.infer === 'tfjs') expect(member.predictor.kind).toBe('tfjs');
        else expectClose(probs, await direct[m]!.predict(images, 2));
      }
    } finally {
      await ensemble.dispose();
    }
  });
});
