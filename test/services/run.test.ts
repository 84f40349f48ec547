/**
 * The main job on a tiny competition: it initialises the engine it was asked for (its
 * in-process tfjs work runs there), and `--resume` continues a run from its folder alone.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { buildPracticeCompetition } from '../../src/data/practice.js';
import { initEngine } from '../../src/engine/backend.js';
import { runMainJob, type MainJobOptions } from '../../src/services/run.js';
import { readRunManifest } from '../../src/runs/manifest.js';

let dir: string;
let options: MainJobOptions;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'digits-mainjob-'));
  const competition = path.join(dir, 'competitions', 'clean');
  await buildPracticeCompetition({ recipe: 'clean', out: competition, trainRows: 300, testRows: 30, seed: 2 });
  const ensembleFile = path.join(dir, 'tiny.json');
  await writeFile(ensembleFile, JSON.stringify({ name: 'tiny', validation: { kind: 'shared', fraction: 0.25, seed: 1 }, members: [{ preset: 'mlp', name: 'm', epochs: 1, batchSize: 30 }] }));
  options = { data: competition, workDir: dir, ensemble: ensembleFile, backend: 'cpu', infer: 'tfjs', concurrency: 1, seed: 1, command: 'vitest', runName: 'first' };
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('digits run initialises the engine it is given (--backend) for its in-process work', async () => {
  // Given the engine on wasm
  await initEngine({ backend: 'wasm' });
  // When the main job runs with --backend cpu
  const result = await runMainJob(options);
  // Then its in-process tfjs work ran on cpu, and it ended with a scored submission
  expect(tf.getBackend()).toBe('cpu');
  expect(result.submission.rows).toBe(30);
  expect(result.answers).toBe(`${options.data}-answers.csv`);
  expect((await readRunManifest(result.runDir)).status).toBe('finished');
}, 180_000);

test('digits run --resume continues an interrupted run from its folder alone, then evaluates and submits', async () => {
  // Given a run whose training was interrupted (run.json still says "training")
  const runDir = path.join(dir, 'runs', 'first');
  const manifest = JSON.parse(await readFile(path.join(runDir, 'run.json'), 'utf8'));
  await writeFile(path.join(runDir, 'run.json'), JSON.stringify({ ...manifest, status: 'training', finishedAt: null, members: [] }));
  // When the main job resumes it with no data nor ensemble
  const result = await runMainJob({ ...options, data: undefined, ensemble: 'quick', runName: 'ignored', resume: runDir });
  // Then the same run is finished with its own ensemble, evaluated and submitted against the practice answers
  expect(result.runDir).toBe(runDir);
  const after = await readRunManifest(runDir);
  expect(after).toMatchObject({ status: 'finished', ensemble: { name: 'tiny' }, members: [{ name: 'm', ok: true, epochs: 1 }] });
  expect(result.competition).toBe(options.data);
  expect(result.submission.score?.accuracy).toBeGreaterThan(0);
}, 180_000);

test('a wrong answers file fails before any training: missing, or of another competition', async () => {
  // Given answers that cannot be read, and answers whose ids are not this competition's
  const other = path.join(dir, 'other-answers.csv');
  await writeFile(other, 'ImageId,Label\n900,1\n901,2\n');
  for (const [answers, message] of [
    [path.join(dir, 'nope.csv'), /nope\.csv/],
    [other, /no label for test id/],
  ] as const) {
    const runName = `refused-${path.basename(answers, '.csv')}`;
    // When the main job is started with them
    const error = await runMainJob({ ...options, answers, runName }).then(
      () => null,
      (caught: unknown) => caught as Error,
    );
    // Then it stops with the error, and no run was started
    expect(error?.message).toMatch(message);
    await expect(readFile(path.join(dir, 'runs', runName, 'run.json'))).rejects.toMatchObject({ code: 'ENOENT' });
  }
}, 120_000);
