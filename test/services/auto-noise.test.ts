/**
 * auto's noise step on real practice competitions (no training): Gaussian sensor noise and
 * Canny edge maps add synthetic rows by default; photon and impulse noise are fitted and reported, and add rows
 * only when asked for (README, "Synthetic rows"); clean digits get no model.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { importCompetition, resolveCompetitionFiles } from '../../src/data/import.js';
import { buildPracticeCompetition, type PracticeRecipe } from '../../src/data/practice.js';
import { autoNoise, loadAutoHoldout } from '../../src/services/auto.js';

let dir: string;
const competitions: Partial<Record<PracticeRecipe, string>> = {};

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'digits-auto-noise-'));
  for (const recipe of ['gaussian', 'mnistc-shot-noise', 'mnistc-impulse-noise', 'mnistc-canny-edges', 'clean'] as const) {
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

  test('photon noise: fitted and reported, no rows by default, the rows asked for with a count', async () => {
    const holdout = await loadAutoHoldout(competitions['mnistc-shot-noise']!);
    const noise = await autoNoise(holdout, 1);
    expect(noise.fit.model).toMatchObject({ kind: 'poisson', photons: expect.closeTo(3, 0) });
    expect(noise.syntheticRows).toBe(0);
    expect(noise.fit.reason).toMatch(/not added by default.*--synthetic-rows N/);
    const asked = await autoNoise(holdout, 1, 500);
    expect(asked.syntheticRows).toBe(500);
    expect(asked.fit.reason).not.toMatch(/not added by default/);
  });

  test('impulse noise: fitted and reported, no rows by default, the rows asked for with a count', async () => {
    const holdout = await loadAutoHoldout(competitions['mnistc-impulse-noise']!);
    const noise = await autoNoise(holdout, 1);
    expect(noise.fit.model).toMatchObject({ kind: 'impulse', amount: expect.closeTo(0.17, 1) });
    expect(noise.syntheticRows).toBe(0);
    expect(noise.fit.reason).toMatch(/^impulse \(salt-and-pepper\) noise.*not added by default.*--synthetic-rows N/);
    expect((await autoNoise(holdout, 1, 300)).syntheticRows).toBe(300);
  });

  test('Canny edge maps: the edge map fitted, rows up to 54,000 training rows by default', async () => {
    const holdout = await loadAutoHoldout(competitions['mnistc-canny-edges']!);
    const noise = await autoNoise(holdout, 1);
    expect(noise.fit.model).toEqual({ kind: 'edges', sigma: 1, low: 0.1, high: 0.2 });
    expect(noise.syntheticRows).toBe(54_000 - holdout.trainRows.length);
    expect(noise.fit.reason).toMatch(/^edge map \(Canny/);
  });

  test('clean digits: no model, no rows, even when asked', async () => {
    const noise = await autoNoise(await loadAutoHoldout(competitions.clean!), 1, 500);
    expect(noise.fit.model).toBeNull();
    expect(noise.syntheticRows).toBe(0);
  });
});
