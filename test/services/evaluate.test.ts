/**
 * Every figure of an evaluation is on held-out rows: a member on its own validation rows,
 * the ensemble only on rows that no member trained on.
 */
import { cp, mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadDataset } from '../../src/data/dataset.js';
import { importCompetition, resolveCompetitionFiles } from '../../src/data/import.js';
import { buildPracticeCompetition } from '../../src/data/practice.js';
import { loadSplit } from '../../src/data/splits.js';
import { initEngine } from '../../src/engine/backend.js';
import { ensembleFromJson } from '../../src/ensemble/ensemble-spec.js';
import { submitRun } from '../../src/services/submit.js';
import { trainEnsemble } from '../../src/services/train.js';
import { type RunManifest } from '../../src/runs/manifest.js';
import { TEST_PREDICTIONS_FILE, evaluateRun, heldOutByAll, selectRows, type TestPredictions } from '../../src/services/evaluate.js';
import { decideTta, submitsWithTta, submittedVote, type EvaluationReport } from '../../src/evaluation/evaluation-report.js';
import { readLedger } from '../../src/data/submission.js';
import { validateSubmission } from '../../src/data/submission-csv.js';
import { WEIGHTS_MARGIN_SE } from '../../src/ensemble/selection.js';

let dir: string;
let competition: string;
let manifest: RunManifest;
let report: EvaluationReport;

beforeAll(async () => {
  // Given a small practice competition and a 3-member ensemble whose members hold out
  // different (bagged) rows, 60% each: about 130 rows held out by all three, enough to score the whole ensemble on (fewer are scored out of bag)
  await initEngine({ backend: 'wasm' });
  dir = await mkdtemp(path.join(os.tmpdir(), 'digits-eval-'));
  competition = path.join(dir, 'clean');
  await buildPracticeCompetition({ recipe: 'clean', out: competition, trainRows: 600, testRows: 60, seed: 5 });
  await importCompetition({ ...(await resolveCompetitionFiles([competition])), orientation: 'as-is' });
  const ensemble = ensembleFromJson(
    JSON.stringify({
      name: 'bagged',
      validation: { kind: 'bagged', fraction: 0.6 },
      members: [1, 2, 3].map((i) => ({ preset: 'mlp', name: `m${i}`, epochs: 2, batchSize: 30, seed: i })),
    }),
  );
  manifest = await trainEnsemble({ ensemble, data: competition, runDir: path.join(dir, 'run'), concurrency: 2, backend: 'wasm', command: 'vitest' });
  // When the run is evaluated against the answers
  report = await evaluateRun({ runDir: path.join(dir, 'run'), answers: `${competition}-answers.csv`, infer: 'auto' });
}, 240_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('evaluate', () => {
  test('no row any member trained on enters a member or ensemble metric', async () => {
    const dataset = await loadDataset(competition);
    const trained = new Set<number>();
    for (const m of manifest.members) {
      const fold = (await loadSplit(dataset.dir, m.split.name)).folds[m.split.fold]!;
      const evaluation = report.members.find((e) => e.name === m.name)!;
      // the member was scored on exactly its own validation rows…
      expect(evaluation.validationRows).toEqual(Array.from(fold.validation));
      expect(evaluation.metrics.rows).toBe(fold.validation.length);
      // …none of which it trained on
      const train = new Set(fold.train);
      expect(evaluation.validationRows!.some((r) => train.has(r))).toBe(false);
      for (const r of fold.train) trained.add(r);
    }
    // the ensemble was scored on rows that no member trained on, and only on those
    expect(report.heldOutRows.length).toBeGreaterThan(0);
    expect(report.heldOutRows.some((r) => trained.has(r))).toBe(false);
    expect(report.ensemble.soft.rows).toBe(report.heldOutRows.length);
    expect(report.ensemble.softTta!.rows).toBe(report.heldOutRows.length);
    expect(report.test!.rows).toBe(60);
    // and the saved file is what was returned
    expect(JSON.parse(await readFile(path.join(dir, 'run', 'evaluation.json'), 'utf8')).heldOutRows).toEqual(report.heldOutRows);
  });

  test('the members learnt something and the figures are consistent', () => {
    for (const m of report.members) expect(m.metrics.accuracy).toBeGreaterThan(0.3);
    const support = report.ensemble.soft.perClass.reduce((a, c) => a + c.support, 0);
    expect(support).toBe(report.heldOutRows.length);
  });

  test('submit writes a validated CSV in the competition format and a ledger line scored against the answers', async () => {
    const result = await submitRun({ runDir: path.join(dir, 'run'), dir: path.join(dir, 'submissions'), answers: `${competition}-answers.csv` });
    await validateSubmission(result.file, { expectedRows: 60 });
    const text = await readFile(result.file, 'utf8');
    expect(text.split(/\r?\n/)[0]).toBe('ImageId,Label');
    // the submission is the vote evaluate chose on the held-out rows, with or without TTA
    const used = report.ensemble.ttaDecision!.used;
    expect(result.score!.accuracy).toBeCloseTo((used ? report.test!.softTta! : report.test!.soft).accuracy, 10);
    const ledger = await readLedger(path.join(dir, 'submissions'));
    expect(ledger).toHaveLength(1);
    expect(ledger[0]).toMatchObject({ voting: 'soft', tta: used ? 8 : 1, sha256: result.sha256 });
  });

  test('TTA joins the submitted vote only when it lowers the held-out log-loss', async () => {
    const { soft, softTta, ttaDecision } = report.ensemble;
    expect(ttaDecision!.used).toBe(softTta!.logLoss < soft.logLoss);
    expect(ttaDecision!.reason).toContain(softTta!.logLoss.toFixed(4));
    // the test predictions kept for submit, and the test figures, follow the choice
    const saved = JSON.parse(await readFile(path.join(dir, 'run', TEST_PREDICTIONS_FILE), 'utf8')) as TestPredictions;
    expect(saved.tta).toBe(ttaDecision!.used ? 8 : 1);
    expect(report.test!.softTta !== undefined).toBe(ttaDecision!.used);
    expect(report.ensemble.selection?.variant).toBe(ttaDecision!.used ? 'tta' : 'plain');
    expect(submittedVote(report)).toBe(ttaDecision!.used ? softTta : soft);
  });

  test('selection\'s weights are used only when they beat the equal vote by more than two standard errors', () => {
    const selection = report.ensemble.selection!;
    const { mean, standardError } = selection.difference!;
    // the mean paired difference is the difference of the two honest log-losses
    expect(mean).toBeCloseTo(selection.crossFitted.logLoss - selection.equal.logLoss, 8);
    expect(standardError).toBeGreaterThanOrEqual(0);
    const equalPick = selection.weights.every((w) => Math.abs(w - 1 / selection.weights.length) < 1e-9);
    expect(WEIGHTS_MARGIN_SE).toBe(2);
    expect(selection.used).toBe(!equalPick && mean + 2 * standardError < 0);
    expect(selection.reason).toContain(standardError.toFixed(4));
    expect(report.ensemble.weights !== undefined).toBe(selection.used);
  });

  test('submit follows the decision in evaluation.json, predicting again when its saved predictions differ', async () => {
    const file = path.join(dir, 'run', 'evaluation.json');
    const original = await readFile(file, 'utf8');
    const flipped = JSON.parse(original) as EvaluationReport;
    const used = !flipped.ensemble.ttaDecision!.used;
    flipped.ensemble.ttaDecision = { used, reason: 'flipped by the test' };
    await writeFile(file, JSON.stringify(flipped));
    try {
      const result = await submitRun({ runDir: path.join(dir, 'run'), dir: path.join(dir, 'submissions-flipped'), answers: `${competition}-answers.csv` });
      expect(result.tta).toBe(used ? 8 : 1);
      // without TTA the submission is the plain soft vote that evaluate scored
      if (!used) expect(result.score!.accuracy).toBeCloseTo(report.test!.soft.accuracy, 10);
      expect((await readLedger(path.join(dir, 'submissions-flipped')))[0]).toMatchObject({ tta: used ? 8 : 1 });
    } finally {
      await writeFile(file, original);
    }
  });

  test('submit reuses the saved test predictions only for the checkpoints and precision that made them', async () => {
    const runDir = path.join(dir, 'run');
    const submitWith = async (precision?: 'fp32' | 'int8') => {
      const said: string[] = [];
      await submitRun({ runDir, dir: path.join(dir, 'submissions-reuse'), precision, onProgress: (m) => said.push(m) });
      return said.some((m) => m.startsWith('predicting'));
    };
    // Given the evaluated run: its saved predictions are reused, also when fp32 (what the mlp members predicted in) is asked for
    expect(await submitWith()).toBe(false);
    expect(await submitWith('fp32')).toBe(false);
    // but not for int8, which they were not made in
    expect(await submitWith('int8')).toBe(true);
    // When a member is trained again in place (here: another member's weights saved under its name)
    const first = path.join(runDir, manifest.members[0]!.checkpoint!);
    const other = path.join(runDir, manifest.members[1]!.checkpoint!);
    const backup = path.join(dir, 'm1-backup');
    await cp(first, backup, { recursive: true });
    try {
      await rm(first, { recursive: true });
      await cp(other, first, { recursive: true });
      // Then submit refuses the evaluation, which is of the old weights (the checkpoint's identity differs)
      await expect(submitWith()).rejects.toMatchObject({ message: expect.stringMatching(/member m1's checkpoint was saved again after evaluation\.json was made/), hint: expect.stringMatching(/^Evaluate it again/) });
      // and with an evaluation written before identities were recorded (judged by file times: here the checkpoints'
      // markers dated when the evaluation was made, as by a save just before it), it predicts the test rows again
      // rather than submit the old member's votes (the markers were dated by evaluation.json's file time until
      // session 59: rewritten by this test, that time is now, more than the second allowed after the evaluation
      // when the tests before this one took longer)
      const evaluationFile = path.join(runDir, 'evaluation.json');
      const evaluation = await readFile(evaluationFile, 'utf8');
      try {
        await writeFile(evaluationFile, evaluation.replace(/,\s*"identity": "[^"]*"/g, ''));
        const made = new Date((JSON.parse(evaluation) as EvaluationReport).createdAt);
        for (const m of manifest.members) await utimes(path.join(runDir, m.checkpoint!, 'COMPLETE'), made, made);
        expect(await submitWith()).toBe(true);
      } finally {
        await writeFile(evaluationFile, evaluation);
      }
    } finally {
      await rm(first, { recursive: true, force: true });
      await cp(backup, first, { recursive: true });
    }
    expect(await submitWith()).toBe(false);
  });
});

describe('a wrong answers file', () => {
  test('fails before any prediction is written', async () => {
    // Given the evaluated run with its saved test predictions moved aside
    const runDir = path.join(dir, 'run');
    const saved = path.join(runDir, TEST_PREDICTIONS_FILE);
    const text = await readFile(saved, 'utf8');
    await rm(saved);
    try {
      // When it is evaluated against a file that is not there
      await expect(evaluateRun({ runDir, answers: path.join(dir, 'nope.csv'), infer: 'auto' })).rejects.toThrow(/nope\.csv/);
      // Then the error came before the test set was predicted and saved
      await expect(readFile(saved)).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      await writeFile(saved, text);
    }
  });
});

describe('bagged members whose holdouts share no row', () => {
  test('are trained with a warning first; evaluate scores them out of bag, and submit submits them', async () => {
    // Given 6 members that each hold out their own 10% of the 600 rows (600 × 0.1^6 shared: none)
    const ensemble = ensembleFromJson(JSON.stringify({ name: 'bags', validation: { kind: 'bagged', fraction: 0.1 }, members: [1, 2, 3, 4, 5, 6].map((i) => ({ preset: 'mlp', name: `b${i}`, epochs: 1, batchSize: 60, seed: i })) }));
    const warnings: string[] = [];
    const runDir = path.join(dir, 'bags');
    // When they are trained, Then a warning says so before the training
    await trainEnsemble({ ensemble, data: competition, runDir, concurrency: 2, backend: 'wasm', command: 'vitest', onWarning: (w) => warnings.push(w) });
    expect(warnings).toEqual([expect.stringMatching(/^no training row is held out by all 6 members \("bagged" validation.*its evaluation will score the ensemble out of bag/)]);
    // When it is evaluated (until session 45: refused, pointing at submit)
    const report = await evaluateRun({ runDir, infer: 'onnx', precision: 'fp32' });
    // Then the rows scored are every row some member held out, voted by those members alone
    const heldBy = new Map<number, number>();
    for (const m of report.members) for (const r of m.validationRows!) heldBy.set(r, (heldBy.get(r) ?? 0) + 1);
    expect(report.heldOutRows).toEqual([...heldBy.keys()].sort((a, b) => a - b));
    const voters = [...heldBy.values()];
    expect(report.ensemble.outOfBag).toEqual({ members: 6, commonRows: 0, meanVoters: Number((voters.reduce((a, b) => a + b, 0) / voters.length).toFixed(3)) });
    expect(report.ensemble.soft.rows).toBe(heldBy.size);
    // …with no selection and no best member, neither having rows every member predicts
    expect(report.ensemble.selection).toBeUndefined();
    expect(report.ensemble.bestUnit).toBeUndefined();
    expect(report.ensemble.warnings).toEqual([expect.stringMatching(/^scored out of bag: the 6 members each hold out their own rows \("bagged" validation\) and no training row is held out by all of them, so each of the \d+ rows some member held out is voted by the members that held it out, \d\.\d\d of the 6 on average/)]);
    // And submit writes the submission from the evaluation
    const submitted = await submitRun({ runDir, dir: path.join(dir, 'submissions-bags') });
    expect(submitted.rows).toBe(60);
    expect(submitted.members).toHaveLength(6);
  }, 120_000);

});

describe('the TTA decision', () => {
  test('TTA is used only when it lowers the log-loss; ties keep the images as they are', () => {
    expect(decideTta({ logLoss: 0.03 }, { logLoss: 0.02 }, 100)).toMatchObject({ used: true });
    expect(decideTta({ logLoss: 0.02 }, { logLoss: 0.03 }, 100)).toMatchObject({ used: false });
    expect(decideTta({ logLoss: 0.02 }, { logLoss: 0.02 }, 100).used).toBe(false);
    expect(decideTta({ logLoss: 0.02 }, { logLoss: 0.03 }, 100).reason).toMatch(/0\.0300 with TTA, 0\.0200 without, on 100 held-out rows/);
  });
  test('an evaluation made before the choice submits with TTA when it was evaluated with TTA', () => {
    const legacy = (withTta: boolean) => ({ ...report, ensemble: { ...report.ensemble, ttaDecision: undefined, softTta: withTta ? report.ensemble.softTta : undefined } }) as EvaluationReport;
    expect(submitsWithTta(legacy(true))).toBe(true);
    expect(submitsWithTta(legacy(false))).toBe(false);
    expect(submittedVote(legacy(false))).toBe(report.ensemble.soft);
  });
});

describe('held-out rows', () => {
  test.each([
    ['one member', [[3, 1, 2]], [1, 2, 3]],
    ['shared rows', [[1, 2, 3], [3, 2, 1]], [1, 2, 3]],
    ['bagged rows', [[1, 2, 3, 4], [2, 4, 6], [4, 2, 9]], [2, 4]],
    ['nothing in common', [[1, 2], [3, 4]], []],
  ])('%s', (_label, sets, expected) => {
    expect(heldOutByAll(sets)).toEqual(expected);
  });

  test('selectRows picks a subset of predicted rows and refuses rows it has not', () => {
    const probs = Float32Array.from({ length: 30 }, (_, i) => i);
    expect(Array.from(selectRows(probs, [7, 8, 9], [9, 7]))).toEqual([...Array.from({ length: 10 }, (_, i) => 20 + i), ...Array.from({ length: 10 }, (_, i) => i)]);
    expect(() => selectRows(probs, [7, 8, 9], [10])).toThrow(/row 10/);
  });
});
