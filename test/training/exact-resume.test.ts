/**
 * Exact resume: a member trained 3 epochs straight and one trained 2 epochs, killed with
 * SIGKILL (a real child process, right after epoch 2's checkpoint) and resumed end with the
 * same weights: last/ carries the optimizer state, the random streams and the epoch.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '../../src/engine/tf.js';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { initEngine } from '../../src/engine/backend.js';
import { buildModel } from '../../src/model/presets.js';
import { saveCheckpoint } from '../../src/model/checkpoint.js';
import { createTrainStep } from '../../src/training/train-step.js';
import type { MemberConfig } from '../../src/training/train-member.js';
import { loadOrt } from '../../src/engine/ort.js';

let dir: string;
let init: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'digits-exact-resume-'));
  // Both runs start from one saved network: tfjs initialisers are not seeded (presets.ts).
  await initEngine({ backend: 'wasm' });
  init = path.join(dir, 'init');
  const model = buildModel('mlp');
  await saveCheckpoint(model, init, { preset: 'mlp', hyperparameters: {}, preprocessing: { scale: '0-1' }, orientation: 'as-is', seed: 1, dataFingerprint: null, metrics: {}, command: 'test' });
  model.dispose();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const CHILD = path.join(import.meta.dirname, 'fixtures', 'train-child.ts');

/** Runs the child; with pauseAfter, kills it with SIGKILL once it says it is paused. */
function trainInChild(args: { outDir: string; config: MemberConfig; resume: boolean; pauseAfter?: number; trainer: string }): Promise<{ code: number | null; signal: string | null; lines: string[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, JSON.stringify(args)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk;
      if (args.pauseAfter && out.includes('paused\n')) child.kill('SIGKILL');
    });
    child.stderr.on('data', (chunk: Buffer) => (err += chunk));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (code !== 0 && signal !== 'SIGKILL') reject(new Error(`child failed (${code}):\n${err}`));
      else resolve({ code, signal, lines: out.split('\n').filter(Boolean) });
    });
  });
}

const member: MemberConfig = {
  name: 'm',
  preset: 'mlp', // two dropout layers: the dropout stream must resume too
  optimizer: 'adam',
  learningRate: 2e-3,
  schedule: { kind: 'exponential', decay: 0.7 },
  augmentation: { rotation: 10, widthShift: 0.1, heightShift: 0.1 },
  epochs: 3,
  batchSize: 50,
  seed: 11,
};

test.skipIf(!loadOrt()).each([
  ['', {}],
  [' and the weight average', { ema: { decay: 0.95 } }],
] as const)('3 epochs straight = 2 epochs + SIGKILL + resume, bit for bit (ONNX Runtime step: Adam moments, step count, dropout stream%s)', async (label, extra) => {
  // Given one member trained 3 epochs without a stop
  const config = { ...member, ...extra, init };
  const tag = label ? '-ema' : '';
  const straight = path.join(dir, `straight${tag}`);
  const a = await trainInChild({ outDir: straight, config, resume: false, trainer: 'ort' });
  expect(a.code).toBe(0);

  // And another killed (SIGKILL) right after its second epoch was saved
  const killed = path.join(dir, `killed${tag}`);
  const b = await trainInChild({ outDir: killed, config, resume: false, pauseAfter: 2, trainer: 'ort' });
  expect(b.signal).toBe('SIGKILL');
  expect(JSON.parse(await readFile(path.join(killed, 'history.json'), 'utf8'))).toHaveLength(2);
  expect(await readdir(killed)).not.toContain('state.json');

  // When it is resumed
  const c = await trainInChild({ outDir: killed, config, resume: true, trainer: 'ort' });
  expect(c.code).toBe(0);
  const start = JSON.parse(c.lines[0]!);
  expect(start).toMatchObject({ type: 'start', resumedAt: 2, trainer: { kind: 'ort' } });
  expect(c.lines.filter((l) => l.includes('"type":"epoch"'))).toHaveLength(1);

  // Then the weights of both are identical, and so is the last epoch's record
  for (const sub of ['last', 'best']) {
    const x = await readFile(path.join(straight, sub, 'weights.bin'));
    const y = await readFile(path.join(killed, sub, 'weights.bin'));
    expect(y.equals(x), `${sub}/weights.bin differs`).toBe(true);
  }
  const h1 = JSON.parse(await readFile(path.join(straight, 'history.json'), 'utf8'));
  const h2 = JSON.parse(await readFile(path.join(killed, 'history.json'), 'utf8'));
  const strip = (h: Array<Record<string, number>>) => h.map(({ imagesPerSecond: _i, seconds: _s, ...rest }) => rest);
  expect(strip(h2)).toEqual(strip(h1));
}, 240_000);

test.each(['adam', 'rmsprop', 'sgd'] as const)('the tfjs step gives back its %s state (iterations, moments) and takes it again', async (optimizerKind) => {
  // Given a tfjs step that has taken 3 steps
  await initEngine({ backend: 'wasm' });
  const make = () => {
    // No dropout: tfjs's Dropout draws from an unseeded stream, which no saved state can replay.
    const model = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [28, 28, 1] }), tf.layers.dense({ units: 16, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }), tf.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 4 }) })] });
    const optimizer = optimizerKind === 'adam' ? tf.train.adam(1e-3) : optimizerKind === 'rmsprop' ? tf.train.rmsprop(1e-3, 0.9, 0, 1e-7) : tf.train.momentum(1e-2, 0.9);
    model.compile({ optimizer, loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
    return { model, optimizer, step: createTrainStep(model, optimizer, { optimizer: optimizerKind, seed: 1, trainer: 'tfjs' }) };
  };
  const first = make();
  const x = tf.randomUniform([8, 28, 28, 1], 0, 1, 'float32', 5);
  const y = tf.cast(tf.oneHot(tf.tensor1d([0, 1, 2, 3, 4, 5, 6, 7], 'int32'), 10), 'float32');
  for (let i = 0; i < 3; i++) await first.step.run(x, y, 1e-3);
  const saved = await first.step.getState();
  expect(saved.trainer).toBe('tfjs');
  expect(saved.tensors.length).toBeGreaterThan(1);

  // When a fresh step takes it
  const second = make();
  await second.step.setState(saved);

  // Then it gives the same state back, and the next update moves both models alike
  const again = await second.step.getState();
  expect(again.tensors.map((t) => [t.name, Array.from(t.data)])).toEqual(saved.tensors.map((t) => [t.name, Array.from(t.data)]));
  second.model.setWeights(first.model.getWeights());
  await first.step.run(x, y, 1e-3);
  await second.step.run(x, y, 1e-3);
  const w1 = first.model.getWeights().map((w) => Array.from(w.dataSync()));
  const w2 = second.model.getWeights().map((w) => Array.from(w.dataSync()));
  expect(w2).toEqual(w1);
  tf.dispose([x, y]);
  for (const s of [first, second]) {
    s.model.dispose();
    s.optimizer.dispose();
  }
}, 60_000);
