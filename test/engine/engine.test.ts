import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import * as tf from '../../src/engine/tf.js';
import { describe, expect, test } from 'vitest';
import { initEngine } from '../../src/engine/backend.js';
import { runWorkerJobs } from '../../src/training/worker-protocol.js';
import { UserError } from '../../src/errors.js';
import { buildModel } from '../../src/model/presets.js';

const run = promisify(execFile);

// Tests that only mean something without the native backends are skipped (and shown as
// skipped) where one is installed.
const loads = (name: string) => import(name).then(() => true, () => false);
const installed = { node: await loads('@tensorflow/tfjs-node'), gpu: await loads('@tensorflow/tfjs-node-gpu') };

describe('backend selection', () => {
  test.skipIf(installed.node || installed.gpu)('auto skips the native backends that are not installed and says why, then takes wasm with our kernels', async () => {
    // Given no tfjs-node packages on this machine
    // When the engine starts with --backend auto
    const engine = await initEngine({ backend: 'auto' });
    // Then it records why gpu and node were skipped and runs on wasm with training kernels
    const skipped = engine.attempts.filter((a) => !a.ok).map((a) => a.backend);
    expect(engine.backend).toBe('wasm');
    expect(skipped).toEqual(['gpu', 'node']);
    expect(engine.attempts[0]!.reason).toMatch(/tfjs-node-gpu/);
    expect(engine.addedKernels).toContain('Conv2DBackpropFilter');
    expect(tf.getBackend()).toBe('wasm');
  });

  for (const name of ['gpu', 'node'] as const) {
    test.skipIf(installed[name])(`asking for ${name} by name when it cannot load is a UserError with an install hint`, async () => {
      const error = await initEngine({ backend: name }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UserError);
      expect((error as UserError).hint).toMatch(/npm install @tensorflow\/tfjs-node/);
      expect((error as UserError).where?.flag).toBe('backend');
    });
  }
});

describe('training on wasm', () => {
  test('a conv net with batch norm trains (loss falls) and neither training nor prediction leaks tensors', async () => {
    // Given a small conv net from the presets' layer vocabulary on a learnable toy task
    await initEngine({ backend: 'wasm' });
    const model = buildModel({
      name: 'tiny',
      description: '',
      source: 'test',
      input: [8, 8, 1],
      preprocessing: { scale: '0-1' },
      layers: [
        { kind: 'conv', filters: 4, kernel: 3 },
        { kind: 'bn' },
        { kind: 'conv', filters: 4, kernel: 3, stride: 2, padding: 'same' },
        { kind: 'bn' },
        { kind: 'flatten' },
        { kind: 'dense', units: 2, activation: 'softmax' },
      ],
      recipe: { optimizer: 'adam', learningRate: 0.01, batchSize: 16, epochs: 1 },
    });
    model.compile({ optimizer: tf.train.adam(0.01), loss: 'categoricalCrossentropy' });
    // label = whether the bright square is in the top half
    const xs = tf.tidy(() => {
      const top = tf.pad(tf.ones([16, 3, 8, 1]), [[0, 0], [0, 5], [0, 0], [0, 0]]);
      const bottom = tf.pad(tf.ones([16, 3, 8, 1]), [[0, 0], [5, 0], [0, 0], [0, 0]]);
      return tf.add(tf.concat([top, bottom]), tf.randomUniform([32, 8, 8, 1], 0, 0.3));
    });
    const ys = tf.tidy(() => tf.oneHot(tf.concat([tf.zeros([16], 'int32'), tf.ones([16], 'int32')]) as tf.Tensor1D, 2));
    const first = (await model.trainOnBatch(xs, ys)) as number;
    const start = tf.memory().numTensors;
    // When it trains and predicts in a loop
    let last = first;
    for (let i = 0; i < 40; i++) {
      last = (await model.trainOnBatch(xs, ys)) as number;
      tf.tidy(() => (model.predict(xs) as tf.Tensor).dataSync());
    }
    // Then the loss fell and the tensor count is back where it started
    expect(last).toBeLessThan(first * 0.5);
    expect(tf.memory().numTensors).toBe(start);
    tf.dispose([xs, ys]);
    model.dispose();
  });
});

describe('parallel workers', () => {
  test('jobs run in worker threads with their own engine; a failing job does not stop the others', async () => {
    // Given two small training jobs and one that fails
    const ok = { kind: 'train-throughput' as const, engine: { backend: 'wasm' as const }, options: { preset: 'mlp', batchSize: 8, seconds: 0.2, warmupSteps: 1 } };
    const events: unknown[] = [];
    // When they run with concurrency 2
    const outcomes = await runWorkerJobs([ok, { kind: 'fail', engine: { backend: 'wasm' }, message: 'boom' }, ok], {
      concurrency: 2,
      onEvent: (_i, e) => events.push(e),
    });
    // Then the good ones report throughput, the bad one its error
    expect(outcomes[0]!.ok && (outcomes[0].value as { imagesPerSecond: number }).imagesPerSecond).toBeGreaterThan(0);
    expect(outcomes[1]).toEqual({ ok: false, error: 'boom' });
    expect(outcomes[2]!.ok).toBe(true);
    expect(events).toContainEqual({ type: 'engine', backend: 'wasm', ort: expect.any(Boolean) });
  }, 60_000);

  test('a worker takes job after job, and the next call\'s first job within a second; the worker of a failed job is not used again', async () => {
    const thread = { kind: 'thread' as const, engine: { backend: 'wasm' as const } };
    const fail = { kind: 'fail' as const, engine: { backend: 'wasm' as const }, message: 'boom' };
    const ids = (outcomes: Awaited<ReturnType<typeof runWorkerJobs<number>>>) => outcomes.map((o) => (o.ok ? o.value : o.error));
    // Given five jobs on one worker at a time, the third failing
    const [a, a2, failed, b, b2] = ids(await runWorkerJobs<number>([thread, thread, fail, thread, thread], { concurrency: 1 }));
    // Then the first two ran on one worker, the two after the failure on another
    expect(a2).toBe(a);
    expect(failed).toBe('boom');
    expect(b).not.toBe(a);
    expect(b2).toBe(b);
    // And a call at once takes the worker left idle; one after more than a second, a fresh worker
    expect(ids(await runWorkerJobs<number>([thread], { concurrency: 1 }))).toEqual([b]);
    await new Promise((r) => setTimeout(r, 1500));
    const [c] = ids(await runWorkerJobs<number>([thread], { concurrency: 1 }));
    expect([a, b]).not.toContain(c);
  }, 60_000);
});

describe('digits doctor (the built CLI)', () => {
  test('--json reports the backend, the attempts and the added kernels', async () => {
    const { stdout } = await run('node', ['bin/run.js', 'doctor', '--json', '--seconds', '0'], { env: { ...process.env, DIGITS_BACKEND: 'wasm' } });
    const report = JSON.parse(stdout);
    expect(report.engine.backend).toBe('wasm');
    expect(report.engine.addedKernels).toEqual(expect.arrayContaining(['Conv2DBackpropFilter', 'Conv2DBackpropInput']));
    expect(report.benchmark).toBeNull();
  }, 60_000);

  test('--backend cpu benchmarks seed002, as wasm does, when ONNX Runtime\'s step trains it; the mlp only when it does not', async () => {
    // Given the cpu backend with ONNX Runtime's whole step (what trainMember takes), and without it
    const withOrt = JSON.parse((await run('node', ['bin/run.js', 'doctor', '--json', '--backend', 'cpu', '--seconds', '1'])).stdout);
    const tfjsStep = JSON.parse((await run('node', ['bin/run.js', 'doctor', '--json', '--backend', 'cpu', '--seconds', '1'], { env: { ...process.env, DIGITS_TRAINER: 'tfjs' } })).stdout);
    // Then the first benchmarks the network wasm benchmarks (it benchmarked the mlp: cpu read 40× faster than wasm)
    expect(withOrt.training.kind).toBe('ort');
    expect(withOrt.benchmark).toMatchObject({ preset: 'seed002', what: 'training seed002, batch 64, one thread' });
    // And the second the mlp, saying why
    expect(tfjsStep.training.kind).not.toBe('ort');
    expect(tfjsStep.benchmark).toMatchObject({ preset: 'mlp', what: expect.stringMatching(/^training mlp \(not seed002: /) });
  }, 60_000);

  test('an unknown backend is rejected by name with exit code ≠ 0', async () => {
    const error = (await run('node', ['bin/run.js', 'doctor', '--backend', 'tpu']).catch((e: unknown) => e)) as { code: number; stderr: string };
    expect(error.code).not.toBe(0);
    expect(error.stderr).toMatch(/tpu/);
  }, 60_000);
});
