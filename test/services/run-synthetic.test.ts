/**
 * `digits run` with `auto` on a competition with Gaussian noise, for real at tiny scale (300
 * training rows, a half-minute budget): the noise model is fitted to the training pixels,
 * MNIST train images with that noise are written into the run folder and join every member's
 * training rows (never the validation rows), and the run folder records it all with paths
 * relative to itself. (`syntheticRows: 0`, and a family whose rows are not added by default, add
 * none: test/services/auto-noise.test.ts, and the tiny uniform run of test/services/run-auto.test.ts.)
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { readCorrections } from '../../src/data/corrections.js';
import { buildPracticeCompetition } from '../../src/data/practice.js';
import { SYNTHETIC_ROWS_FILE } from '../../src/services/auto.js';
import { runMainJob } from '../../src/services/run.js';
import type { EnsembleEvent } from '../../src/training/train-member.js';
import { tinyAutoRunOptions } from '../helpers/tiny-auto.js';
import { gaussianOf } from '../helpers/noise-model.js';

let dir: string;
let competition: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'digits-synthetic-'));
  competition = path.join(dir, 'competitions', 'gaussian');
  await buildPracticeCompetition({ recipe: 'gaussian', sigma: 0.3, out: competition, trainRows: 300, testRows: 40, seed: 5 });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const run = async (name: string, syntheticRows: number, pseudoLabel = false) => {
  const starts: Array<Extract<EnsembleEvent, { type: 'start' }>> = [];
  const result = await runMainJob(
    tinyAutoRunOptions({
      data: competition,
      workDir: dir,
      runName: name,
      syntheticRows,
      pseudoLabel,
      // (the mlp preset: one start to probe, a network that trains in a second; the rows do not depend on it)
      preset: 'mlp',
      onTrainEvent: (e) => {
        if (e.type === 'start') starts.push(e);
      },
    }),
  );
  return { result, starts };
};

test('Gaussian noise is modelled from the training pixels, and MNIST train images with it join every member\'s training rows, in both rounds of --pseudo-label', async () => {
  const { result, starts } = await run('synthetic', 600, true);
  const noise = result.auto!.noise!;
  // The fitted model is the competition's: gain 1, offset 0, σ 0.3
  expect(noise.fit.model).not.toBeNull();
  expect(Math.abs(gaussianOf(noise.fit.model).sigma - 0.3)).toBeLessThan(0.02);
  expect(Math.abs(gaussianOf(noise.fit.model).offset)).toBeLessThan(0.02);
  expect(Math.abs(gaussianOf(noise.fit.model).gain - 1)).toBeLessThan(0.1);
  expect(noise.syntheticRows).toBe(600);
  // The rows are in the run folder, in the corrections format, with every digit
  const file = path.join(result.runDir, SYNTHETIC_ROWS_FILE);
  const log = await readCorrections(file);
  expect(log.records).toHaveLength(600);
  expect(new Set(log.records.map((r) => r.label)).size).toBe(10);
  // round 1's run.json names them relative to itself, and its members trained on 270 + 600 rows, validated on the 30
  const round1 = JSON.parse(await readFile(path.join(result.runDir, 'round1', 'run.json'), 'utf8'));
  expect(round1.extra).toMatchObject({ file: path.join('..', SYNTHETIC_ROWS_FILE), rows: 600 });
  const manifest = JSON.parse(await readFile(path.join(result.runDir, 'run.json'), 'utf8'));
  expect(manifest.auto.noise.syntheticRows).toBe(600);
  const members = result.auto!.plan.members;
  expect(starts.length).toBe(2 * members);
  for (const s of starts.slice(0, members)) expect([s.trainRows, s.validationRows]).toEqual([870, 30]);
  // and round 2's members on those and the pseudo-labelled test rows (they had the pseudo-labels alone until session 42)
  const pseudo = result.auto!.pseudoLabel!.rows;
  expect(manifest.extra).toMatchObject({ file: 'round2-rows.jsonl', rows: 600 + pseudo });
  for (const s of starts.slice(members)) expect([s.trainRows, s.validationRows]).toEqual([870 + pseudo, 30]);
  // and the run was evaluated and submitted as usual
  expect(result.submission.rows).toBe(40);
}, 240_000);
