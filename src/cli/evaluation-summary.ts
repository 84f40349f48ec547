/** The plain-text summary of an evaluation (what `evaluate` and `run` print). */
import path from 'node:path';
import type { Metrics } from '../evaluation/metrics.js';
import { foldSharesNote, precisionOf, submittedVote, submittedVoteName, ttaMeasured, voteName, weightsInUse, type EvaluationReport } from '../evaluation/evaluation-report.js';
import { formatMeanSd } from '../evaluation/cross-validation.js';

const pct = (v: number) => `${(v * 100).toFixed(2)}%`;
/** Ends a figure line's label: `aligned` pads every label to the longest one, so the figures form one column. */
const COLUMN = '\u0001';
const line = (label: string, m: Metrics | undefined) => (m ? `  ${label}${COLUMN} acc ${pct(m.accuracy).padStart(7)}  log-loss ${m.logLoss.toFixed(4)}  (${m.rows} row${m.rows === 1 ? '' : 's'})\n` : '');

/** The figure lines' labels padded to the longest (at least 28 characters), so no label pushes its figures out of the column. */
function aligned(text: string): string {
  const lines = text.split('\n');
  const width = Math.max(28, ...lines.map((l) => l.indexOf(COLUMN)).filter((i) => i >= 0).map((i) => i - 2));
  return lines.map((l) => (l.includes(COLUMN) ? `${l.slice(0, l.indexOf(COLUMN)).padEnd(width + 2)}${l.slice(l.indexOf(COLUMN) + 1)}` : l)).join('\n');
}


/**
 * `runDir`: the run's folder, so that paths evaluation.json stores relative to it (the answers
 * file) are shown from the working folder, where a user can open them.
 */
export function formatEvaluationSummary(report: EvaluationReport, options: { runDir?: string } = {}): string {
  let out = `run ${report.run}\n`;
  // k-fold with a failed fold member: the out-of-fold rows are fewer than the training rows.
  const oofRows = report.cv?.trainRows !== undefined && report.heldOutRows.length < report.cv.trainRows ? `${report.heldOutRows.length} of the ${report.cv.trainRows}` : null;
  out += `members, each on its own held-out rows (precision: ${precisionOf(report)}; training's figures are fp32):\n`;
  for (const m of report.members) {
    const at = m.runtime ? ` [${m.runtime.precision}]` : '';
    out += line(`${m.name}${at}`, m.metrics);
    if (m.tta) out += line(`${m.name}${at} + TTA`, m.tta);
    // (--precision int8 that this member could not take)
    if (m.runtime?.fallback) out += `    ${m.name} ran ${m.runtime.precision}, not the int8 asked for: ${m.runtime.fallback}\n`;
  }
  if (report.cv) {
    const cv = report.cv;
    out += `${cv.folds}-fold cross-validation (split ${cv.split}), mean ± sample sd (n − 1) over the folds:\n`;
    const cvLine = (label: string, s: { accuracy: Parameters<typeof formatMeanSd>[0]; logLoss: Parameters<typeof formatMeanSd>[0] }) =>
      `  ${label}${COLUMN} acc ${formatMeanSd(s.accuracy, 'percent')}  log-loss ${formatMeanSd(s.logLoss, 'loss')}\n`;
    for (const r of cv.recipes) {
      out += cvLine(`${r.name} (${r.members.length} folds)`, r);
      if (r.tta) out += cvLine(`${r.name} + TTA`, r.tta);
    }
    // The fold scores are the equal vote's, whatever the submission weighs.
    out += cvLine(`ensemble (${voteName(report, 'equal')})`, cv.ensemble);
    if (cv.ensemble.tta) out += cvLine(`ensemble (${voteName(report, 'equal')} + TTA)`, cv.ensemble.tta);
    out += `  out-of-fold predictions of ${oofRows ? `${oofRows} training rows (a fold member failed)` : 'every training row'}: ${cv.oofFile}\n`;
  }
  out += report.cv
    ? `ensemble (${precisionOf(report)}), on the out-of-fold predictions of ${oofRows ?? `all ${report.heldOutRows.length}`} training rows:\n`
    : report.ensemble.outOfBag
    ? `ensemble (${precisionOf(report)}), out of bag: on the ${report.heldOutRows.length} rows some member held out, each voted by the members that held it out (${report.ensemble.outOfBag.meanVoters.toFixed(2)} of ${report.ensemble.outOfBag.members} on average):\n`
    : `ensemble (${precisionOf(report)}), on the ${report.heldOutRows.length === 1 ? 'one row' : `${report.heldOutRows.length} rows`} no member trained on:\n`;
  // The votes named as the dashboard and the report name them: beside a weighted submission,
  // these are the equal soft vote's figures (the weighted one's are selection's, below).
  const equal = voteName(report, 'equal');
  const weighted = voteName(report, 'weighted');
  out += line(equal, report.ensemble.soft);
  out += line('hard vote', report.ensemble.hard);
  out += line(`${equal} + TTA`, report.ensemble.softTta);
  out += line('hard vote + TTA', report.ensemble.hardTta);
  const decision = report.ensemble.ttaDecision;
  if (decision) out += `  TTA ${decision.used ? 'in use' : 'not used'}: ${decision.reason}\n`;
  else if (!ttaMeasured(report)) out += '  TTA not measured (--no-tta): digits submit will predict the images as they are; evaluate without --no-tta to let TTA be chosen\n';
  const sel = report.ensemble.selection;
  if (sel) {
    // (a weight the start rule fixes, not selection, is marked where it is listed: `b 0.250 (fixed)`)
    const fixed = new Set(sel.forced ?? []);
    const named = sel.names.map((n, i) => [n, sel.weights[i]!] as const).filter(([, w]) => w > 0).map(([n, w]) => `${n} ${w.toFixed(3)}${fixed.has(n) ? ' (fixed)' : ''}`).join(', ');
    out += `  ensemble selection (Caruana et al. 2004, ${sel.units} weighted on ${sel.variant === 'tta' ? 'TTA ' : ''}predictions): ${named}\n`;
    out += line('  equal weights', { ...report.ensemble.soft, ...sel.equal, rows: sel.rows });
    out += line('  weighted, cross-fitted', { ...report.ensemble.soft, ...sel.crossFitted, rows: sel.rows });
    out += line('  weighted, in-sample', { ...report.ensemble.soft, ...sel.inSample, rows: sel.rows });
    out += `    (cross-fitted: weights fitted on one half of the rows, scored on the other: honest; in-sample: fitted and scored on the same rows: optimistic)\n`;
    out += `  ${sel.used ? 'in use' : 'not used'}: ${sel.reason}\n`;
  }
  const shares = foldSharesNote(report);
  out += `  submitted: the ${submittedVoteName(report)}${shares ? ` (${shares})` : ''}\n`;
  if (report.ensemble.bestUnit) out += line(`best single (${report.ensemble.bestUnit.name})`, { ...report.ensemble.soft, ...report.ensemble.bestUnit });
  for (const w of report.ensemble.warnings ?? []) out += `  NOTE: ${w}\n`;
  // A digit with no held-out rows has no recall, so no F1 to rank (its 0 would top the list).
  // Of the vote as submitted (the weighted one's cross-fitted figures when the weights are in
  // use), as the confusions below; none when every digit is perfect.
  const submitted = weightsInUse(report) && report.ensemble.weighted ? report.ensemble.weighted : submittedVote(report);
  const worst = submitted.perClass.filter((c) => c.support > 0 && c.f1 < 1).sort((a, b) => a.f1 - b.f1).slice(0, 3);
  if (worst.length) out += `  weakest classes (F1): ${worst.map((c) => `${c.label}: ${pct(c.f1)}`).join(', ')}\n`;
  const pairs = submitted.mostConfused.slice(0, 3);
  if (pairs.length) out += `  most confused: ${pairs.map((p) => `${p.trueLabel}→${p.predicted} ×${p.count}`).join(', ')}\n`;
  if (report.test) {
    // ('(labels in test.csv)' is no path: a test.csv that carries labels, resolved it read "runs/x/(labels in test.csv)")
    const stored = report.test.answers;
    const answers = stored.startsWith('(') ? stored.slice(1, -1) : options.runDir ? path.relative(process.cwd(), path.resolve(options.runDir, stored)) || stored : stored;
    out += `test set (${precisionOf(report)}), scored against ${answers}:\n`;
    const vote = weightsInUse(report) ? weighted : equal;
    out += line(vote, report.test.soft);
    out += line(`${vote} + TTA`, report.test.softTta);
    // (only beside weights in use: evaluations before session 44 kept a member-equal vote also
    // without them, another vote than the submitted one that this line named alike)
    if (weightsInUse(report)) out += line(`${equal}${report.test.softTta ? ' + TTA' : ''}`, report.test.equalWeights);
    const best = report.test.bestMember;
    // (predicted once, without TTA, whatever the submission uses: said, as the vote's lines above say theirs)
    out += line(best.kind === 'recipe' ? `CV best recipe (${best.name}, ${best.members?.length} folds averaged, no TTA)` : `held-out best (${best.name}, no TTA)`, best.metrics);
  }
  return aligned(out);
}
