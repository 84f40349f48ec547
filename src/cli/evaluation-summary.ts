/** The plain-text summary of an evaluation (what `evaluate` and `run` print). */
import type { Metrics } from '../evaluation/metrics.js';
import type { EvaluationReport } from '../evaluation/evaluation-report.js';

const pct = (v: number) => `${(v * 100).toFixed(2)}%`;
const line = (label: string, m: Metrics | undefined) => (m ? `  ${label.padEnd(28)} acc ${pct(m.accuracy).padStart(7)}  log-loss ${m.logLoss.toFixed(4)}  (${m.rows} rows)\n` : '');

/** The number format the ensemble's figures were computed in: one format, or the mix. */
export function precisionOf(report: EvaluationReport): string {
  const formats = [...new Set(report.members.map((m) => m.runtime?.precision ?? 'unrecorded'))];
  return formats.length === 1 ? formats[0]! : `mixed: ${report.members.map((m) => `${m.name} ${m.runtime?.precision ?? '?'}`).join(', ')}`;
}

export function formatEvaluationSummary(report: EvaluationReport): string {
  let out = `run ${report.run}\n`;
  out += `members, each on its own held-out rows (precision: ${precisionOf(report)}; training's figures are fp32):\n`;
  for (const m of report.members) {
    const at = m.runtime ? ` [${m.runtime.precision}]` : '';
    out += line(`${m.name}${at}`, m.metrics);
    if (m.tta) out += line(`${m.name}${at} + TTA`, m.tta);
  }
  out += `ensemble (${precisionOf(report)}), on the ${report.heldOutRows.length} rows no member trained on:\n`;
  out += line('soft voting', report.ensemble.soft);
  out += line('hard voting', report.ensemble.hard);
  out += line('soft voting + TTA', report.ensemble.softTta);
  out += line('hard voting + TTA', report.ensemble.hardTta);
  const worst = [...report.ensemble.soft.perClass].sort((a, b) => a.f1 - b.f1).slice(0, 3);
  out += `  weakest classes (F1): ${worst.map((c) => `${c.label}: ${pct(c.f1)}`).join(', ')}\n`;
  const pairs = (report.ensemble.softTta ?? report.ensemble.soft).mostConfused.slice(0, 3);
  if (pairs.length) out += `  most confused: ${pairs.map((p) => `${p.trueLabel}→${p.predicted} ×${p.count}`).join(', ')}\n`;
  if (report.test) {
    out += `test set (${precisionOf(report)}), scored against ${report.test.answers}:\n`;
    out += line('ensemble (soft)', report.test.soft);
    out += line('ensemble (soft + TTA)', report.test.softTta);
    out += line(`best member (${report.test.bestMember.name})`, report.test.bestMember.metrics);
  }
  return out;
}
