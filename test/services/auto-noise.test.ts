/**
 * auto's noise step on real practice competitions (no training): Gaussian sensor noise, photon
 * noise, Canny edge maps, glass blur and a corruption layer read off copies of MNIST digits (zigzag lines) add
 * synthetic rows by default, and so does impulse noise (since session 54; README, "Synthetic rows");
 * uniform-maximum noise is fitted but adds rows only when asked (session 56); rotated digits are
 * no copies; clean digits get no model.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { importCompetition, resolveCompetitionFiles } from '../../src/data/import.js';
import { buildPracticeCompetition, type PracticeRecipe } from '../../src/data/practice.js';
import { readCorrections } from '../../src/data/corrections.js';
import { readMnist } from '../../src/data/mnist.js';
import { syntheticSources } from '../../src/data/noise-model.js';
import { createRandom } from '../../src/data/random.js';
import { initEngine } from '../../src/engine/backend.js';
import { autoNoise, loadAutoHoldout, writeSyntheticRows } from '../../src/services/auto.js';

let dir: string;
const competitions: Partial<Record<PracticeRecipe, string>> = {};

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'digits-auto-noise-'));
    await initEngine({ backend: 'wasm' });
  for (const recipe of ['gaussian', 'uniform', 'mnistc-shot-noise', 'mnistc-impulse-noise', 'mnistc-canny-edges', 'mnistc-glass-blur', 'mnistc-zigzag', 'mnistc-rotate', 'clean'] as const) {
    const out = path.join(dir, recipe);
    await buildPracticeCompetition({ recipe, ...(recipe === 'gaussian' ? { sigma: 0.3 } : {}), out, trainRows: 600, testRows: 20, seed: 4 });
    await importCompetition({ ...(await resolveCompetitionFiles([out])), orientation: 'as-is' });
    competitions[recipe] = out;
  }
}, 120_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('autoNoise', () => {
  test('Gaussian sensor noise: rows up to 54,000 training rows by default', async () => {
    const holdout = await loadAutoHoldout(competitions.gaussian!);
    const noise = await autoNoise(holdout, 1);
    expect(noise.fit.model?.kind).toBe('gaussian');
    expect(noise.syntheticRows).toBe(54_000 - holdout.trainRows.length);
  });

  test('uniform-maximum noise: fitted and reported, no rows by default (and the summary says why), the rows asked for with a count', async () => {
    const holdout = await loadAutoHoldout(competitions.uniform!);
    const noise = await autoNoise(holdout, 1);
    expect(noise.fit.model).toEqual({ kind: 'maximum', gain: expect.closeTo(1, 1), level: expect.closeTo(1, 1) });
    expect(noise.fit.reason).toMatch(/^uniform background noise under the digit/);
    expect(noise.syntheticRows).toBe(0);
    expect(noise.notByDefault).toMatch(/not added by default.*--synthetic-rows N adds them/);
    const asked = await autoNoise(holdout, 1, 400);
    expect(asked.syntheticRows).toBe(400);
    expect(asked.notByDefault).toBeUndefined();
    const file = path.join(dir, 'maximum-rows.jsonl');
    expect(await writeSyntheticRows(asked, file)).toBe(400);
    const { records } = await readCorrections(file);
    const mnist = await readMnist('train');
    const sources = syntheticSources(createRandom(asked.seed), mnist.count, 400);
    // each row is its MNIST digit (at the fitted gain) or brighter, never darker, its background noisy
    const { gain } = asked.fit.model as { gain: number };
    let darker = 0;
    let background = 0;
    let lit = 0;
    records.forEach((r, k) => {
      expect(r.label).toBe(mnist.labels[sources[k]!]);
      for (let p = 0; p < 784; p++) {
        const x = mnist.images[sources[k]! * 784 + p]!;
        if (r.image[p]! < Math.round(Math.min(255, gain * x)) - 1) darker++;
        if (x === 0) {
          background++;
          if (r.image[p]! > 25) lit++;
        }
      }
    });
    expect(records).toHaveLength(400);
    expect(darker).toBe(0);
    expect(lit / background).toBeGreaterThan(0.85);
  });

  test('photon noise: rows up to 54,000 training rows by default, the rows asked for with a count, none with 0', async () => {
    const holdout = await loadAutoHoldout(competitions['mnistc-shot-noise']!);
    const noise = await autoNoise(holdout, 1);
    expect(noise.fit.model).toMatchObject({ kind: 'poisson', photons: expect.closeTo(3, 0) });
    expect(noise.syntheticRows).toBe(54_000 - holdout.trainRows.length);
    const asked = await autoNoise(holdout, 1, 500);
    expect(asked.syntheticRows).toBe(500);
    // --synthetic-rows 0: the model, and no rows
    const none = await autoNoise(holdout, 1, 0);
    expect(none.fit.model?.kind).toBe('poisson');
    expect(none.syntheticRows).toBe(0);
    expect(await writeSyntheticRows(none, path.join(dir, 'none.jsonl'))).toBe(0);
  });

  test('impulse noise: fitted and reported, rows up to 54,000 training rows by default, the rows asked for with a count', async () => {
    const holdout = await loadAutoHoldout(competitions['mnistc-impulse-noise']!);
    const noise = await autoNoise(holdout, 1);
    expect(noise.fit.model).toMatchObject({ kind: 'impulse', amount: expect.closeTo(0.17, 1) });
    expect(noise.syntheticRows).toBe(54_000 - holdout.trainRows.length);
    expect(noise.fit.reason).toMatch(/^impulse \(salt-and-pepper\) noise/);
    expect((await autoNoise(holdout, 1, 300)).syntheticRows).toBe(300);
  });

  test('Canny edge maps: the edge map fitted, rows up to 54,000 training rows by default', async () => {
    const holdout = await loadAutoHoldout(competitions['mnistc-canny-edges']!);
    const noise = await autoNoise(holdout, 1);
    expect(noise.fit.model).toEqual({ kind: 'edges', sigma: 1, low: 0.1, high: 0.2 });
    expect(noise.syntheticRows).toBe(54_000 - holdout.trainRows.length);
    expect(noise.fit.reason).toMatch(/^edge map \(Canny/);
  });

  test('glass blur: the blur fitted, rows up to 54,000 training rows by default, each a blurred MNIST digit', async () => {
    const holdout = await loadAutoHoldout(competitions['mnistc-glass-blur']!);
    const noise = await autoNoise(holdout, 1);
    expect(noise.fit.model).toEqual({ kind: 'glass', sigma: 0.7, maxDelta: 1, iterations: 2 });
    expect(noise.syntheticRows).toBe(54_000 - holdout.trainRows.length);
    expect(noise.fit.reason).toMatch(/^glass blur σ 0\.7, 2 passes of swaps up to 1 px/);
    const file = path.join(dir, 'glass-rows.jsonl');
    expect(await writeSyntheticRows({ ...noise, syntheticRows: 200 }, file)).toBe(200);
    const { records } = await readCorrections(file);
    const mnist = await readMnist('train');
    const sources = syntheticSources(createRandom(noise.seed), mnist.count, 200);
    records.forEach((r, k) => {
      expect(r.label).toBe(mnist.labels[sources[k]!]);
      // the digit's ink, spread over more pixels
      let ink = 0;
      let blurred = 0;
      for (let p = 0; p < 784; p++) {
        ink += mnist.images[sources[k]! * 784 + p]!;
        blurred += r.image[p]!;
      }
      expect(Math.abs(blurred - ink) / ink).toBeLessThan(0.05);
    });
  });

  test('zigzag lines over the digits: a corruption layer from the training rows, written as rows of other digits under it', async () => {
    const holdout = await loadAutoHoldout(competitions['mnistc-zigzag']!);
    const noise = await autoNoise(holdout, 1, 300);
    expect(noise.fit.model).toMatchObject({ kind: 'layer', gain: 1 });
    // most training rows (the holdout's training rows only) are paired with their digit
    expect((noise.fit.model as { layers: number }).layers).toBeGreaterThan(0.8 * holdout.trainRows.length);
    expect(noise.fit.model!.kind === 'layer' && (noise.fit.model as { layers: number }).layers).toBeLessThanOrEqual(holdout.trainRows.length);
    expect(noise.fit.reason).toMatch(/^no noise model: .*; a corruption layer over the digit|^a corruption layer over the digit/);
    expect(noise.syntheticRows).toBe(300);
    // the layers travel with the record in this process, not in its JSON
    expect(JSON.stringify(noise)).not.toMatch(/layers":\s*\{/);
    const file = path.join(dir, 'zigzag-rows.jsonl');
    expect(await writeSyntheticRows(noise, file)).toBe(300);
    const { records } = await readCorrections(file);
    expect(records).toHaveLength(300);
    // each image is its MNIST digit with lines over it: every lit pixel of the digit stays lit, and more are lit
    const mnist = await readMnist('train');
    const sources = syntheticSources(createRandom(noise.seed), mnist.count, 300);
    let kept = 0;
    let digit = 0;
    let added = 0;
    records.forEach((r, k) => {
      for (let p = 0; p < 784; p++) {
        const x = mnist.images[sources[k]! * 784 + p]!;
        if (x === 255) digit++;
        if (x === 255 && r.image[p] === 255) kept++;
        if (x === 0 && r.image[p]! > 127) added++;
      }
    });
    expect(kept).toBe(digit);
    expect(added / (300 * 784)).toBeGreaterThan(0.03);
    // the same record through JSON (a resumed run) has no layers to make rows from
    await expect(writeSyntheticRows(JSON.parse(JSON.stringify(noise)), file)).rejects.toThrow(/needs its \d+ layers/);
  });

  test('rotated digits are no copies of MNIST digits: no model, no rows', async () => {
    const noise = await autoNoise(await loadAutoHoldout(competitions['mnistc-rotate']!), 1);
    expect(noise.fit.model).toBeNull();
    expect(noise.syntheticRows).toBe(0);
    expect(noise.fit.reason).toMatch(/no corruption layer: too few training images are copies/);
  });

  test('clean digits: no model, no rows, even when asked (their layers are empty)', async () => {
    const noise = await autoNoise(await loadAutoHoldout(competitions.clean!), 1, 500);
    expect(noise.fit.model).toBeNull();
    expect(noise.syntheticRows).toBe(0);
    expect(noise.fit.reason).toMatch(/no corruption layer: the images are their MNIST digits as they are/);
  });
});
