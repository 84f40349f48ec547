/** `digits train --extra`: the pad's corrections join every member's training rows, never validation. */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { importCompetition, resolveCompetitionFiles } from '../../src/data/import.js';
import { buildPracticeCompetition } from '../../src/data/practice.js';
import { initEngine } from '../../src/engine/backend.js';
import { readCheckpointMetadata } from '../../src/model/checkpoint.js';
import { ensembleFromJson } from '../../src/ensemble/ensemble-spec.js';
import { planResume, trainEnsemble } from '../../src/services/train.js';
import { type EnsembleEvent } from '../../src/training/train-member.js';
import { appendCorrection, CORRECTION_VERSION } from '../../src/data/corrections.js';

let dir: string;

beforeAll(async () => {
  await initEngine({ backend: 'wasm' });
  dir = await mkdtemp(path.join(os.tmpdir(), 'digits-extra-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('corrections are added to the training rows and to the data fingerprint', async () => {
  // Given a small competition and 12 corrections saved by the pad
  const competition = path.join(dir, 'clean');
  await buildPracticeCompetition({ recipe: 'clean', out: competition, trainRows: 200, testRows: 10, seed: 2 });
  await importCompetition({ ...(await resolveCompetitionFiles([competition])), orientation: 'as-is' });
  const corrections = path.join(dir, 'corrections.jsonl');
  for (let i = 0; i < 12; i++) await appendCorrection(corrections, { v: CORRECTION_VERSION, time: new Date().toISOString(), image: Array.from({ length: 784 }, (_, p) => (p % 28 === 14 ? 255 : 0)), label: 1, predicted: 7 });
  const ensemble = ensembleFromJson(JSON.stringify({ validation: { kind: 'shared', fraction: 0.25, seed: 1 }, members: [{ preset: 'mlp', name: 'm', epochs: 1, batchSize: 20 }] }));
  const events: EnsembleEvent[] = [];
  // When the ensemble trains with them
  const manifest = await trainEnsemble({ ensemble, data: competition, runDir: path.join(dir, 'run'), concurrency: 1, backend: 'wasm', command: 'vitest', extra: corrections, onEvent: (e) => events.push(e) });
  // Then the member trained on 150 + 12 rows and validated on the same 50 as without them
  expect(events.find((e) => e.type === 'start')).toMatchObject({ trainRows: 162, validationRows: 50 });
  expect(manifest.extra).toMatchObject({ rows: 12, file: path.relative(path.join(dir, 'run'), corrections) });
  const meta = await readCheckpointMetadata(path.join(dir, 'run', 'm', 'best'));
  expect(meta.dataFingerprint).toMatch(/\+corrections:sha256:[0-9a-f]{64}$/);
  // And resuming the run takes the same corrections from its folder
  expect((await planResume(path.join(dir, 'run'))).extra).toBe(corrections);
}, 120_000);
