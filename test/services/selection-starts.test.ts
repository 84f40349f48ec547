/**
 * Ensemble selection in `evaluate` moves weight only among members that start from the same
 * checkpoint: held-out rows may be digits a checkpoint pretrained on, which would favour its
 * members (README, "Ensemble selection and memorised holdout rows"). Real tiny runs: two
 * members trained first are the checkpoints the members of a second run start from.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { formatEvaluationSummary } from '../../src/cli/evaluation-summary.js';
import { buildDashboardModel } from '../../src/evaluation/dashboard-model.js';
import { importCompetition, resolveCompetitionFiles } from '../../src/data/import.js';
import { buildPracticeCompetition } from '../../src/data/practice.js';
import { initEngine } from '../../src/engine/backend.js';
import { ensembleFromJson } from '../../src/ensemble/ensemble-spec.js';
import type { EvaluationReport } from '../../src/evaluation/evaluation-report.js';
import { evaluateRun } from '../../src/services/evaluate.js';
import { trainEnsemble } from '../../src/services/train.js';

let dir: string;
let starts: { p: string; q: string };
let report: EvaluationReport;

const spec = (name: string, members: Array<{ name: string; seed: number; init?: string; epochs?: number }>) =>
  ensembleFromJson(JSON.stringify({ name, validation: { kind: 'shared', fraction: 0.25, seed: 3 }, members: members.map((m) => ({ preset: 'mlp', epochs: 1, batchSize: 30, ...m })) }));

beforeAll(async () => {
  // Given a small competition, two tiny networks trained on it (the "checkpoints"), and a run
  // of four members: two from the first network, one from the second, one from fresh weights
  await initEngine({ backend: 'wasm' });
  dir = await mkdtemp(path.join(os.tmpdir(), 'digits-starts-'));
  const competition = path.join(dir, 'clean');
  await buildPracticeCompetition({ recipe: 'clean', out: competition, trainRows: 400, testRows: 40, seed: 11 });
  await importCompetition({ ...(await resolveCompetitionFiles([competition])), orientation: 'as-is' });
  await trainEnsemble({ ensemble: spec('starts', [{ name: 'p', seed: 1, epochs: 3 }, { name: 'q', seed: 2 }]), data: competition, runDir: path.join(dir, 'first'), concurrency: 1, backend: 'wasm', command: 'vitest' });
  starts = { p: path.join(dir, 'first', 'p', 'best'), q: path.join(dir, 'first', 'q', 'best') };
  const members = [
    { name: 'a1', seed: 5, init: starts.p },
    { name: 'a2', seed: 6, init: starts.p, epochs: 2 },
    { name: 'b', seed: 7, init: starts.q },
    { name: 'c', seed: 8 },
  ];
  await trainEnsemble({ ensemble: spec('mixed', members), data: competition, runDir: path.join(dir, 'run'), concurrency: 2, backend: 'wasm', command: 'vitest' });
  // When the run is evaluated
  report = await evaluateRun({ runDir: path.join(dir, 'run'), infer: 'auto' });
}, 240_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('ensemble selection by start', () => {
  test('records each member\'s start and keeps every start\'s share of the equal vote', () => {
    const selection = report.ensemble.selection!;
    expect(selection.names).toEqual(['a1', 'a2', 'b', 'c']);
    // stored as run.json names them: relative to the run folder
    const rel = (p: string) => path.relative(path.join(dir, 'run'), p);
    expect(selection.starts).toEqual([rel(starts.p), rel(starts.p), rel(starts.q), 'fresh weights']);
    const [a1, a2, b, c] = selection.weights;
    // the second network's member and the fresh one keep a quarter each, whatever their scores
    expect(b).toBeCloseTo(0.25, 12);
    expect(c).toBeCloseTo(0.25, 12);
    // the first network's two members share half, as selection among them decided
    expect(a1! + a2!).toBeCloseTo(0.5, 12);
    // and the weights in use, if any, are these
    if (selection.used) expect(report.ensemble.weights).toEqual(selection.weights.map((w) => expect.closeTo(w, 5)));
    else expect(report.ensemble.weights).toBeUndefined();
  });

  test('says which weights the start rule fixes rather than selection: the members alone in their start', () => {
    expect(report.ensemble.selection!.forced).toEqual(['b', 'c']);
    expect(report.ensemble.selection!.reason).toMatch(/; b, c are each the only member of their start, so their weights are their share of the equal vote, fixed by that rule, not chosen by selection$/);
    // and where the weights are listed, those two are marked
    expect(formatEvaluationSummary(report)).toMatch(/ensemble selection \([^)]*\): .*\bb 0\.250 \(fixed\), c 0\.250 \(fixed\)/);
    // (the dashboard's and the report's list too)
    expect(buildDashboardModel(report).selection!.weights.filter((w) => w.fixed).map((w) => w.name)).toEqual(['b', 'c']);
  });
});
