/** What `evaluate` and `run` print: CV mean ± sd, selection beside the equal vote (labelled honest / in-sample), and notes. */
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { formatEvaluationSummary } from '../../src/cli/evaluation-summary.js';
import { meanSd } from '../../src/evaluation/cross-validation.js';
import { computeMetrics } from '../../src/evaluation/metrics.js';
import type { EvaluationReport } from '../../src/evaluation/evaluation-report.js';

const labels = Array.from({ length: 20 }, (_, i) => i % 10);
const reading = (wrong: number[]) => {
  const out = new Float32Array(200).fill(0.2 / 9);
  labels.forEach((l, i) => (out[i * 10 + (wrong.includes(i) ? (l + 1) % 10 : l)] = 0.8));
  return out;
};

function report(): EvaluationReport {
  const metrics = computeMetrics(reading([3]), labels);
  return {
    format: 'digits-evaluation',
    version: 1,
    run: 'cv-1',
    createdAt: '2026-12-01T00:00:00.000Z',
    dataset: { dir: '/d', fingerprint: 'sha256:x' },
    heldOutRows: labels.map((_, i) => i),
    members: ['a-f1', 'a-f2'].map((name) => ({ name, preset: 'mlp', checkpoint: `${name}/best`, rows: 10, metrics: computeMetrics(reading([]), labels), history: [] })),
    ensemble: {
      soft: metrics,
      hard: metrics,
      selection: {
        method: 'caruana', units: 'recipes', variant: 'plain', rows: 20, names: ['a', 'b'], weights: [1, 0], picks: ['a'],
        equal: { accuracy: 0.95, logLoss: 0.3 }, inSample: { accuracy: 1, logLoss: 0.2 }, crossFitted: { accuracy: 0.975, logLoss: 0.25 },
        used: true, reason: 'the weights beat the equal vote',
      },
      weights: [0.5, 0.5],
      bestUnit: { name: 'a', accuracy: 1, logLoss: 0.22 },
      warnings: ['the soft vote (95.00%) scores below its best recipe, a (100.00%), on the 20 held-out rows'],
    },
    cv: {
      folds: 2,
      split: 'kfold-2-seed42',
      recipes: [{ name: 'a', preset: 'mlp', members: ['a-f1', 'a-f2'], rows: 20, accuracy: meanSd([0.96, 0.97]), logLoss: meanSd([0.1, 0.12]) }],
      ensemble: { accuracy: meanSd([0.96, 0.97]), logLoss: meanSd([0.1, 0.12]) },
      oofFile: 'oof-predictions.json',
    },
  };
}

describe('evaluation summary', () => {
  test('k-fold figures as mean ± sd, the weighted vote labelled honest and in-sample, and a note when below the best member', () => {
    const text = formatEvaluationSummary(report());
    expect(text).toContain('2-fold cross-validation (split kfold-2-seed42), mean ± sample sd (n − 1) over the folds:');
    expect(text).toMatch(/a \(2 folds\)\s+acc 96\.50 ± 0\.71%\s+log-loss 0\.1100 ± 0\.0141/);
    expect(text).toMatch(/ensemble \([^)]*\), on the out-of-fold predictions of all 20 training rows:/);
    expect(text).toMatch(/equal weights\s+acc\s+95\.00%\s+log-loss 0\.3000/);
    expect(text).toMatch(/weighted, cross-fitted\s+acc\s+97\.50%/);
    expect(text).toMatch(/weighted, in-sample\s+acc 100\.00%/);
    expect(text).toContain('in-sample: fitted and scored on the same rows: optimistic');
    expect(text).toContain('in use: the weights beat the equal vote');
    expect(text).toContain('NOTE: the soft vote (95.00%) scores below its best recipe, a (100.00%)');
  });

  test('a plain holdout run prints none of it', () => {
    const plain = report();
    delete plain.cv;
    delete plain.ensemble.selection;
    delete plain.ensemble.warnings;
    delete plain.ensemble.bestUnit;
    const text = formatEvaluationSummary(plain);
    expect(text).not.toMatch(/cross-validation|selection|NOTE|best single/);
    expect(text).toMatch(/ensemble \([^)]*\), on the 20 rows no member trained on:/);
    // the one wrong row (one of the two 3s read as 4) makes 3 and 4 the weakest digits, the perfect ones unlisted
    expect(text).toMatch(/weakest classes \(F1\): 3: 66\.67%, 4: 80\.00%\n/);
  });

  test('the answers file from the working folder, not from the run folder that stores it; no weakest classes when every digit is perfect', () => {
    const perfect = report();
    delete perfect.cv;
    perfect.ensemble.soft = computeMetrics(reading([]), labels);
    perfect.test = { answers: '../../competitions/fog-answers.csv', rows: 20, soft: perfect.ensemble.soft, bestMember: { name: 'a-f1', metrics: perfect.ensemble.soft } };
    const runDir = path.join(process.cwd(), 'runs', 'cv-1');
    expect(formatEvaluationSummary(perfect, { runDir })).toContain(`scored against ${path.join('competitions', 'fog-answers.csv')}:`);
    expect(formatEvaluationSummary(perfect)).toContain('scored against ../../competitions/fog-answers.csv:');
    expect(formatEvaluationSummary(perfect)).not.toContain('weakest classes');
  });
});


const precisionLabels = Array.from({ length: 10 }, (_, i) => i);
const probs = Float32Array.from({ length: 100 }, (_, j) => (j % 11 === 0 ? 0.91 : 0.01));
const precisionMetrics = computeMetrics(probs, precisionLabels);

function precisionReport(precisions: Array<'fp32' | 'int8'>): EvaluationReport {
  return {
    format: 'digits-evaluation',
    version: 1,
    run: 'r',
    createdAt: '2026-11-21T10:30:00.000Z',
    dataset: { dir: '/d', fingerprint: 'f' },
    heldOutRows: precisionLabels,
    members: precisions.map((precision, i) => ({ name: `m${i + 1}`, preset: 'mlp', checkpoint: `m${i + 1}/best`, rows: 10, metrics: precisionMetrics, history: [], runtime: { engine: 'onnx' as const, precision } })),
    ensemble: { soft: precisionMetrics, hard: precisionMetrics },
  };
}

test('every figure evaluate prints names the precision it was computed at', () => {
  // Given members evaluated in int8
  const text = formatEvaluationSummary(precisionReport(['int8', 'int8']));
  // Then the member lines, the members' heading and the ensemble's heading say int8
  expect(text).toMatch(/members, each on its own held-out rows \(precision: int8; training's figures are fp32\)/);
  expect(text).toMatch(/m1 \[int8\]\s+acc 100\.00%/);
  expect(text).toMatch(/ensemble \(int8\), on the 10 rows/);
  // and a mix is spelled out member by member
  expect(formatEvaluationSummary(precisionReport(['int8', 'fp32']))).toMatch(/ensemble \(mixed: m1 int8, m2 fp32\)/);
});

describe('evaluation summary: the test set', () => {
  test.each([
    { answers: '(labels in test.csv)', shown: 'scored against labels in test.csv:' },
    { answers: '../../comp-answers.csv', shown: 'scored against comp-answers.csv:' },
  ])('scored against $answers, named as the user reads it', ({ answers, shown }) => {
    // Given an evaluation scored on the test rows, of a run folder one level below the working folder
    const metrics = computeMetrics(reading([]), labels);
    const text = formatEvaluationSummary({ ...report(), test: { answers, rows: 20, soft: metrics, bestMember: { name: 'a-f1', metrics } } }, { runDir: path.join(process.cwd(), 'runs', 'cv-1') });
    // Then the answers are named as a path relative to the working folder, or, for labels test.csv carries, as such (not "runs/cv-1/(labels in test.csv)")
    expect(text).toContain(shown);
  });
});

test('every figure line keeps its figures in one column, however long a label is; a member that could not run int8 says why', () => {
  // Given a run whose test figures name a long recipe, and a member that ran fp32 where int8 was asked for
  const long = precisionReport(['int8', 'fp32']);
  long.members[1]!.runtime!.fallback = 'onnxruntime-node fp32, 1 thread (existing export; fp32: no convolution to quantize)';
  long.test = { answers: '(labels in test.csv)', rows: 10, soft: precisionMetrics, bestMember: { kind: 'recipe', name: 'seed002-12-with-a-long-name', members: ['x-f1', 'x-f2', 'x-f3', 'x-f4'], metrics: precisionMetrics } };
  const text = formatEvaluationSummary(long);
  // Then every "acc" of a figure line starts in the same column (a label longer than 28 characters pushed its own out)
  const columns = new Set(text.split('\n').filter((l) => / acc /.test(l) && /log-loss/.test(l)).map((l) => l.indexOf(' acc ')));
  expect(text).toContain('CV best recipe (seed002-12-with-a-long-name, 4 folds averaged, no TTA)');
  expect(columns.size).toBe(1);
  // and the fp32 member says why, under its figures
  expect(text).toContain('m2 ran fp32, not the int8 asked for: onnxruntime-node fp32, 1 thread (existing export; fp32: no convolution to quantize)');
});
