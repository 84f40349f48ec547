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
import { buildDashboardModel } from '../../src/evaluation/dashboard-model.js';
import { buildReportHtml } from '../../src/report/report-html.js';

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


  test('is viewed beside the equal vote on the held-out rows and on the test answers, each vote named alike in evaluate, the dashboard and the report', async () => {
    const { weighted, selection, ttaDecision } = report.ensemble;
    const tta = ttaDecision!.used;
    // Then evaluation.json holds the weighted vote's held-out figures (cross-fitted, as selection's), with its confusions
    expect(weighted!.rows).toBe(report.heldOutRows.length);
    expect([weighted!.accuracy, weighted!.logLoss]).toEqual([selection!.crossFitted.accuracy, selection!.crossFitted.logLoss]);
    expect(weighted!.confusion.flat().reduce((a, b) => a + b, 0)).toBe(report.heldOutRows.length);
    // evaluate's output names each vote: the held-out figures are the equal vote's, the test's first ones the weighted vote's
    const text = formatEvaluationSummary(report);
    expect(text).toMatch(new RegExp(`\\n  equal soft vote\\s+acc\\s+${percent(report.ensemble.soft.accuracy)}`));
    expect(text).toContain(`  submitted: the weighted soft vote${tta ? ' + TTA' : ''}\n`);
    const testPart = text.slice(text.indexOf('test set'));
    expect(testPart).toMatch(new RegExp(`\\n  weighted soft vote\\s+acc\\s+${percent(report.test!.soft.accuracy)}`));
    expect(testPart).toMatch(new RegExp(`\\n  equal soft vote${tta ? ' \\+ TTA' : ''}\\s+acc\\s+${percent(report.test!.equalWeights!.accuracy)}`));
    // the dashboard shows both votes on both sets, named alike
    const shifted = tta ? ' + TTA ×8' : '';
    const views = buildDashboardModel(report).views.filter((v) => v.kind !== 'member');
    expect(views.map((v) => [v.key, v.title])).toEqual([
      ['ensemble', 'ensemble (equal soft vote)'],
      ['ensemble-hard', 'ensemble (hard vote)'],
      ['ensemble-tta', 'ensemble (equal soft vote + TTA ×8)'],
      ['ensemble-hard-tta', 'ensemble (hard vote + TTA ×8)'],
      ['ensemble-weighted', `ensemble (weighted soft vote${shifted}, cross-fitted)`],
      ['test', 'test answers (weighted soft vote)'],
      ...(tta ? [['test-tta', 'test answers (weighted soft vote + TTA ×8)']] : []),
      [tta ? 'test-equal-tta' : 'test-equal', `test answers (equal soft vote${shifted})`],
    ]);
    expect(views.at(-1)!.accuracy).toBe(report.test!.equalWeights!.accuracy);
    // and so does the report's summary
    const { html } = await buildReportHtml(report);
    expect(html).toContain(`<td>test answers (weighted soft vote)</td><td class="num">${percent(report.test!.soft.accuracy)}</td>`);
    expect(html).toContain(`<td>test answers (equal soft vote${shifted})</td><td class="num">${percent(report.test!.equalWeights!.accuracy)}</td>`);
    expect(html).toContain(`<td>ensemble (weighted soft vote${shifted}, cross-fitted)</td><td class="num">${percent(weighted!.accuracy)}</td>`);
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
