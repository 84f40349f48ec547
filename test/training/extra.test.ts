/** `digits train --extra`: the pad's corrections join every member's training rows, never validation. */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
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
import { repoRoot } from '../helpers/run-command.js';

const exec = promisify(execFile);

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

test('skipped lines of the corrections are said once, as the CLI says warnings: a warning line under --json, never Node\'s raw process warning', async () => {
  // Given corrections whose last line is torn (a crash mid-append) beside 12 good ones
  const competition = path.join(dir, 'clean');
  const torn = path.join(dir, 'torn.jsonl');
  for (let i = 0; i < 12; i++) await appendCorrection(torn, { v: CORRECTION_VERSION, time: new Date().toISOString(), image: Array.from({ length: 784 }, (_, p) => (p % 28 === 14 ? 255 : 0)), label: 1, predicted: 7 });
  await appendFile(torn, '{"v":1,"time":"2026-');
  const file = path.join(dir, 'one.json');
  await writeFile(file, JSON.stringify({ validation: { kind: 'shared', fraction: 0.25, seed: 1 }, members: [{ preset: 'mlp', name: 'm', epochs: 1, batchSize: 20 }, { preset: 'mlp', name: 'n', epochs: 1, batchSize: 20 }] }));
  // When two members train with them through the CLI, under --json
  const { stdout, stderr } = await exec(process.execPath, [path.join(repoRoot, 'bin/run.js'), 'train', '--ensemble', file, '--data', competition, '--run', path.join(dir, 'torn-run'), '--extra', torn, '--concurrency', '2', '--json'], { env: { ...process.env, CI: 'true' } });
  // Then stdout holds one warning line naming the file and line, and stderr no raw warning from any worker
  const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; message?: string });
  expect(lines.filter((l) => l.type === 'warning')).toEqual([{ type: 'warning', message: expect.stringMatching(/^torn\.jsonl:13: /) }]);
  expect(lines.at(-1)!.type).toBe('result');
  expect(stderr).not.toMatch(/CorrectionsWarning|--trace-warnings/);
}, 120_000);

test('--extra with no usable row is refused before training, naming the file; a line without a label says so', async () => {
  // Given a corrections file whose only line has no label
  const competition = path.join(dir, 'clean');
  const useless = path.join(dir, 'useless.jsonl');
  await writeFile(useless, '{"bad": 1}\n');
  const ensemble = ensembleFromJson(JSON.stringify({ validation: { kind: 'shared', fraction: 0.25, seed: 1 }, members: [{ preset: 'mlp', name: 'm', epochs: 1, batchSize: 20 }] }));
  const warnings: string[] = [];
  const runDir = path.join(dir, 'useless-run');
  // Then the run is refused (it trained with "rows": 0), and no run folder is left
  await expect(trainEnsemble({ ensemble, data: competition, runDir, concurrency: 1, backend: 'wasm', command: 'vitest', extra: useless, onWarning: (m) => warnings.push(m) })).rejects.toMatchObject({
    message: expect.stringMatching(/^--extra .*useless\.jsonl holds no usable row \(1 line skipped, as the warnings say\)$/),
    where: { flag: 'extra' },
  });
  expect(warnings).toEqual([expect.stringMatching(/^useless\.jsonl:1: .*it has no "label"/)]);
  expect(existsSync(runDir)).toBe(false);
}, 60_000);
