/**
 * `digits run` with the default `auto` ensemble, for real at tiny scale (300 training rows,
 * auto's preset from the shipped checkpoints, a half-minute budget): the recipe is chosen on
 * holdout rows, recorded in run.json and auto.json, trained, evaluated and submitted. Run
 * again with the practice answers file moved away, the recipe is the same: no decision
 * reads the answers.
 */
import { mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { buildPracticeCompetition } from '../../src/data/practice.js';
import type { AutoRecord } from '../../src/ensemble/auto.js';
import { AUTO_FILE, runMainJob, type MainJobOptions, type MainJobResult } from '../../src/services/run.js';
import { formatAutoSummary } from '../../src/cli/auto-summary.js';
import { pseudoLabelRound } from '../../src/services/pseudo-label.js';
import { SYNTHETIC_ROWS_FILE } from '../../src/services/auto.js';
import { readCorrections } from '../../src/data/corrections.js';
import { tinyAutoRunOptions } from '../helpers/tiny-auto.js';

let dir: string;
let competition: string;
const stages: string[] = [];

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'digits-auto-'));
  competition = path.join(dir, 'competitions', 'uniform');
  await buildPracticeCompetition({ recipe: 'uniform', out: competition, trainRows: 300, testRows: 40, seed: 11 });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

// The probes keep the plan the budget makes (tinyAutoRunOptions): both runs then probe the
// same rows, and any difference would come from the answers.
const run = (name: string, more: Partial<MainJobOptions> = {}) => runMainJob(tinyAutoRunOptions({ data: competition, workDir: dir, runName: name, onStage: (stage, message) => stages.push(`${stage}: ${message}`), ...more }));

/** What auto decided, without the figures that depend on how fast the machine was just now. */
const decisions = (r: AutoRecord) => ({
  background: r.background,
  augmentation: r.augmentation,
  lrFinds: r.lrFinds.map((f) => ({ start: f.start, suggestion: f.suggestion, steps: f.steps })),
  probes: r.probes.map((p) => ({ start: p.start, learningRate: p.learningRate, epochs: p.epochs, rows: p.rows })),
  chosen: r.chosen.start,
  learningRate: r.chosen.learningRate,
});

let withAnswers: MainJobResult;

test('run --ensemble auto --budget 0.5: recipe chosen on holdout rows, recorded, trained, evaluated and submitted', async () => {
  // Given the practice answers beside the competition
  withAnswers = await run('with-answers');
  const auto = withAnswers.auto!;
  // Then every start was range-tested and probed, and the best holdout loss won
  expect(auto.lrFinds.map((f) => f.start)).toEqual(['noisy', 'clean', 'scratch']);
  expect(auto.probes.map((p) => p.start)).toEqual(['noisy', 'noisy', 'clean', 'clean', 'scratch', 'scratch']);
  const best = Math.min(...auto.probes.map((p) => p.valLoss));
  expect(auto.probes.find((p) => p.start === auto.chosen.start && p.learningRate === auto.chosen.learningRate)!.valLoss).toBe(best);
  // the probes were scored on the 30 holdout rows and trained on (a share of) the other 270,
  // as many as the budget's plan allowed (fitting it to the measured speed: test/ensemble/auto.test.ts)
  expect(auto.probes.every((p) => p.rows === auto.probePlan.probeRows && p.rows <= 270)).toBe(true);
  // uniform noise is detected from the training pixels, and gets background-filled shifts
  expect(auto.background.noisy).toBe(true);
  expect(auto.augmentation.config).toEqual({ pixelShift: 2 });
  // and is fitted as uniform-maximum noise, whose rows are not added unless asked: no rows
  // file, and the summary says why
  expect(auto.noise!.fit.model).toMatchObject({ kind: 'maximum', level: expect.closeTo(1, 1) });
  expect(auto.noise!.syntheticRows).toBe(0);
  await expect(readFile(path.join(withAnswers.runDir, SYNTHETIC_ROWS_FILE))).rejects.toThrow();
  expect(formatAutoSummary(auto)).toMatch(/noise: uniform background noise under the digit.*; its rows are not added by default .*--synthetic-rows N adds them/);
  // The decisions are in run.json and auto.json, and the members follow them
  const manifest = JSON.parse(await readFile(path.join(withAnswers.runDir, 'run.json'), 'utf8'));
  expect(manifest.auto).toEqual(JSON.parse(await readFile(path.join(withAnswers.runDir, AUTO_FILE), 'utf8')));
  expect(manifest.auto.chosen).toEqual(auto.chosen);
  expect(manifest.members).toHaveLength(auto.plan.members);
  expect(manifest.extra).toBeUndefined();
  expect(manifest.ensemble.members[0].learningRate).toBe(auto.chosen.learningRate);
  expect(manifest.ensemble.members[0].epochs).toBe(auto.plan.epochs);
  expect(manifest.ensemble.members[0].augmentation).toEqual({ pixelShift: 2 });
  // Without --folds the default rule chose holdout or 4-fold members (chooseValidation, from the
  // plans alone), said why, and the members and the evaluation follow it
  expect(auto.validation).toMatchObject({ by: 'default', reason: expect.stringMatching(/^(4-fold cross-validation|a 10% holdout, not 4-fold)/) });
  expect(manifest.ensemble.validation.kind).toBe(auto.validation!.kind === 'kfold' ? 'kfold' : 'shared');
  expect(withAnswers.evaluation.cv !== undefined).toBe(auto.validation!.kind === 'kfold');
  // And the job went on to a validated submission, scored against the answers for the record
  expect(withAnswers.submission.rows).toBe(40);
  expect(withAnswers.submission.score).toBeTruthy();
  expect(stages.some((s) => s.startsWith('recipe: choosing a recipe'))).toBe(true);
}, 600_000);

test('the recipe auto picks is the same without the answers file (and with --epochs and --folds, which change only the members)', async () => {
  // Given the answers file moved away from the competition, --epochs 1 and --folds 3
  const answers = `${competition}-answers.csv`;
  await rename(answers, path.join(dir, 'elsewhere.csv'));
  stages.length = 0;
  const without = await run('without-answers', { overrides: { epochs: 1 }, folds: 3 });
  expect(without.auto!.validation).toEqual({ kind: 'kfold', by: 'flag', reason: '--folds 3' });
  // Then nothing is scored against answers, and every decision is the same
  expect(without.answers).toBeNull();
  expect(without.submission.score ?? null).toBeNull();
  expect(decisions(without.auto!)).toEqual(decisions(withAnswers.auto!));
  without.auto!.probes.forEach((p, i) => expect(p.valLoss).toBeCloseTo(withAnswers.auto!.probes[i]!.valLoss, 5));
  // And the members trained 1 epoch, which the record, the stage lines and the summary say
  const manifest = JSON.parse(await readFile(path.join(without.runDir, 'run.json'), 'utf8'));
  expect(manifest.ensemble.members.every((m: { epochs: number }) => m.epochs === 1)).toBe(true);
  expect(manifest.auto.overrides).toEqual({ epochs: 1 });
  const note = `--epochs 1 (auto planned ${without.auto!.plan.epochs})`;
  expect(stages).toContain(`recipe: ${note} for every member, over auto's plan`);
  expect(formatAutoSummary(without.auto!)).toContain('members × 1 epoch,');
  expect(formatAutoSummary(without.auto!)).toContain(`flags: ${note}`);
  expect(formatAutoSummary(withAnswers.auto!)).not.toContain('flags:');
  // And under --folds 3 the plan counts whole recipes of 3 fold members, each validated on
  // its fold, so the run reports CV figures over the folds and out-of-fold predictions of all
  // 300 training rows
  const plan = without.auto!.plan;
  expect(plan.folds).toBe(3);
  expect(plan.members).toBe(plan.recipes! * 3);
  expect(manifest.ensemble.validation).toMatchObject({ kind: 'kfold', folds: 3 });
  expect(manifest.ensemble.members).toHaveLength(plan.recipes!);
  expect(manifest.members.map((m: { name: string }) => m.name)).toEqual(manifest.ensemble.members.flatMap((m: { name: string }) => [1, 2, 3].map((f) => `${m.name}-f${f}`)));
  expect(without.evaluation.cv).toMatchObject({ folds: 3 });
  expect(without.evaluation.cv!.ensemble.accuracy.mean).toBeGreaterThan(0.5);
  expect(without.evaluation.heldOutRows).toHaveLength(300);
  expect(formatAutoSummary(without.auto!)).toContain(`${plan.recipes} recipe${plan.recipes === 1 ? '' : 's'} × 3 folds = ${plan.members} members × 1 epoch,`);
}, 600_000);

test('pseudo-labelling: confident test predictions of a trained run become round 2\'s extra training rows', async () => {
  // Given the first run as round 1
  const record = structuredClone(withAnswers.auto!);
  const round = await pseudoLabelRound({ round1: withAnswers.runDir, data: competition, record, budgetSeconds: 600, spentSeconds: 0, concurrency: 2, infer: 'auto', threshold: 0.9 });
  // Then the confident rows are written in the corrections format, and counted per class
  const log = await readCorrections(round.extraFile!);
  expect(log.warnings).toEqual([]);
  expect(log.records).toHaveLength(round.extraRows);
  expect(record.pseudoLabel).toMatchObject({ threshold: 0.9, rows: round.extraRows, testRows: 40 });
  expect(record.pseudoLabel!.perClass.reduce((a, b) => a + b, 0)).toBe(round.extraRows);
  expect(round.extraRows).toBeGreaterThan(0);
  // And round 2 fine-tunes round 1's members at a third of the rate
  const manifest = JSON.parse(await readFile(path.join(withAnswers.runDir, 'run.json'), 'utf8'));
  expect(round.ensemble.members.map((m) => m.init)).toEqual(manifest.members.map((m: { checkpoint: string }) => path.join(withAnswers.runDir, m.checkpoint)));
  expect(round.ensemble.members[0]!.learningRate / (record.chosen.learningRate / 3)).toBeCloseTo(1, 2);
}, 300_000);
