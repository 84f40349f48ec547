/**
 * A shared-split run whose submission is the weighted vote, and one of whose members failed:
 * what evaluate, the dashboard and the report say of it. Real tiny run: two mlp members
 * trained a few epochs, one barely trained (selection drops it, so the weights beat the equal
 * vote by far), and one that cannot start (a file is in the way of its folder).
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { importCompetition, resolveCompetitionFiles } from '../../src/data/import.js';
import { buildPracticeCompetition } from '../../src/data/practice.js';
import { initEngine } from '../../src/engine/backend.js';
import { ensembleFromJson } from '../../src/ensemble/ensemble-spec.js';
import type { EvaluationReport } from '../../src/evaluation/evaluation-report.js';
import { evaluateRun } from '../../src/services/evaluate.js';
import { trainEnsemble } from '../../src/services/train.js';
import { formatEvaluationSummary } from '../../src/cli/evaluation-summary.js';

let dir: string;
let runDir: string;
let report: EvaluationReport;

beforeAll(async () => {
  // Given a small practice competition and a shared-split run of four members, one of which
  // cannot train (a file where its folder goes) and one of which barely learns
  await initEngine({ backend: 'wasm' });
  dir = await mkdtemp(path.join(os.tmpdir(), 'digits-weighted-'));
  const competition = path.join(dir, 'clean');
  await buildPracticeCompetition({ recipe: 'clean', out: competition, trainRows: 400, testRows: 40, seed: 3 });
  await importCompetition({ ...(await resolveCompetitionFiles([competition])), orientation: 'as-is' });
  runDir = path.join(dir, 'run');
  await mkdir(runDir, { recursive: true });
  await writeFile(path.join(runDir, 'broken'), 'in the way of member broken');
  const ensemble = ensembleFromJson(
    JSON.stringify({
      name: 'weighted',
      validation: { kind: 'shared', fraction: 0.2, seed: 3 },
      members: [
        { preset: 'mlp', name: 'good1', epochs: 3, batchSize: 30, seed: 1 },
        { preset: 'mlp', name: 'good2', epochs: 3, batchSize: 30, seed: 2 },
        { preset: 'mlp', name: 'raw', epochs: 1, batchSize: 30, seed: 3, learningRate: 1e-7 },
        { preset: 'mlp', name: 'broken', epochs: 1, batchSize: 30, seed: 4 },
      ],
    }),
  );
  await trainEnsemble({ ensemble, data: competition, runDir, concurrency: 2, backend: 'wasm', command: 'vitest' });
  // When it is evaluated against the answers
  report = await evaluateRun({ runDir, answers: `${competition}-answers.csv` });
}, 240_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const percent = (v: number) => `${(v * 100).toFixed(2)}%`;

describe('the weighted submission', () => {
  test('is what the note on the best member compares, by name (not the equal vote)', () => {
    // Given the weights in use (the barely trained member dropped)
    const { selection, bestUnit, warnings } = report.ensemble;
    expect(selection!.used).toBe(true);
    expect(report.ensemble.weights).toBeDefined();
    // Then a note on the best member is there only when the weighted vote's honest figure is below it, and names that vote
    const below = selection!.crossFitted.accuracy < bestUnit!.accuracy;
    const notes = (warnings ?? []).filter((w) => w.includes('below its best member'));
    const expected = `the submitted vote (weighted soft vote, cross-fitted ${percent(selection!.crossFitted.accuracy)}) scores below its best member, ${bestUnit!.name} (${percent(bestUnit!.accuracy)})`;
    expect(notes).toEqual(below ? [expect.stringContaining(expected)] : []);
  });
});

describe('a failed member of a shared-split run', () => {
  test('is named with the first line of its error in evaluation.json (--json) and in the output', () => {
    // Then the three members that trained are evaluated…
    expect(report.members.map((m) => m.name)).toEqual(['good1', 'good2', 'raw']);
    // …and the one that failed is named, with its error as run.json records it
    expect(report.failedMembers).toEqual([{ name: 'broken', error: expect.stringMatching(/^EEXIST: file already exists, mkdir .*broken'$/) }]);
    const error = report.failedMembers![0]!.error;
    const note = `member broken (${error}) failed to train: the ensemble and its figures are of the 3 members that trained`;
    expect(report.ensemble.warnings).toContain(note);
    expect(formatEvaluationSummary(report)).toContain(`NOTE: ${note}\n`);
  });
});
