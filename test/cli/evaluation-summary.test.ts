import { expect, test } from 'vitest';
import { formatEvaluationSummary } from '../../src/cli/evaluation-summary.js';
import type { EvaluationReport } from '../../src/evaluation/evaluation-report.js';
import { computeMetrics } from '../../src/evaluation/metrics.js';

const labels = Array.from({ length: 10 }, (_, i) => i);
const probs = Float32Array.from({ length: 100 }, (_, j) => (j % 11 === 0 ? 0.91 : 0.01));
const metrics = computeMetrics(probs, labels);

function report(precisions: Array<'fp32' | 'int8'>): EvaluationReport {
  return {
    format: 'digits-evaluation',
    version: 1,
    run: 'r',
    createdAt: '2026-11-21T10:30:00.000Z',
    dataset: { dir: '/d', fingerprint: 'f' },
    heldOutRows: labels,
    members: precisions.map((precision, i) => ({ name: `m${i + 1}`, preset: 'mlp', checkpoint: `m${i + 1}/best`, rows: 10, metrics, history: [], runtime: { engine: 'onnx' as const, precision } })),
    ensemble: { soft: metrics, hard: metrics },
  };
}

test('every figure evaluate prints names the precision it was computed at', () => {
  // Given members evaluated in int8
  const text = formatEvaluationSummary(report(['int8', 'int8']));
  // Then the member lines, the members' heading and the ensemble's heading say int8
  expect(text).toMatch(/members, each on its own held-out rows \(precision: int8; training's figures are fp32\)/);
  expect(text).toMatch(/m1 \[int8\]\s+acc 100\.00%/);
  expect(text).toMatch(/ensemble \(int8\), on the 10 rows/);
  // and a mix is spelled out member by member
  expect(formatEvaluationSummary(report(['int8', 'fp32']))).toMatch(/ensemble \(mixed: m1 int8, m2 fp32\)/);
});
