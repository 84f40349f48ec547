/** The plain-text tables of `digits runs` and `digits runs compare`. */
import path from 'node:path';
import { renderTable } from './table.js';
import { formatMeanSd } from '../evaluation/cross-validation.js';
import { describeData, type RunComparison, type RunState, type RunSummary } from '../services/runs.js';

const pct = (v: number | null | undefined) => (v === null || v === undefined ? '—' : `${(v * 100).toFixed(2)}%`);

/** Text columns two spaces apart that fit the terminal (renderTable: wrapped there, never when piped). */
function table(columns: string[], rows: string[][], options: { names?: boolean[]; detachable?: number[]; width?: number } = {}): string {
  return renderTable(columns, rows, { align: columns.map(() => 'left'), ...options });
}

/**
 * The CV figures are the equal vote's fold by fold; beside a weighted submission they say so
 * (the weighted vote has one cross-fitted figure over the rows, in the held-out column), or
 * they read as the submission's (until session 36, unlabelled).
 */
function cvCell(run: RunSummary, kind: 'percent' | 'loss' = 'percent'): string {
  if (!run.cv) return '—';
  // (no-break spaces: a narrowed table wraps between figures, not inside `98.00 ± 0.47%`)
  const figure = formatMeanSd(kind === 'percent' ? run.cv.accuracy : run.cv.logLoss, kind).replaceAll(' ', '\u00a0');
  return run.weighted ? `${figure} (equal vote)` : figure;
}

/** What the held-out column says of a run without held-out figures. */
const STATE_CELL: Record<RunState, string> = {
  training: 'training…',
  interrupted: 'interrupted',
  failed: 'failed',
  trained: 'not evaluated',
  evaluated: '—',
  'evaluation-damaged': 'evaluation damaged',
  'evaluation-outdated': 'evaluation outdated',
};

/**
 * The submitted vote's held-out figure first: beside a weighted submission the weighted vote's
 * (cross-fitted), labelled, then the equal vote's (until session 36 the equal one came first,
 * unlabelled, as if submitted).
 */
function heldOutCell(run: RunSummary, kind: 'percent' | 'loss' = 'percent'): string {
  if (!run.heldOut) return kind === 'percent' ? STATE_CELL[run.state] : '—';
  const show = (score: { accuracy: number; logLoss: number }) => (kind === 'percent' ? pct(score.accuracy) : score.logLoss.toFixed(4));
  const figure = run.weighted ? `${show(run.weighted)} weighted, submitted (equal vote ${show(run.heldOut)})` : show(run.heldOut);
  // Rows a search chose the members on flatter them, and out-of-bag votes of few members wrong them: said where the figure is.
  if (run.heldOutSelectedBy) return `${figure} (optimistic: the rows the members were chosen on)`;
  return run.heldOut.outOfBag ? `${figure} (out of bag)` : figure;
}

/** The members the run trains, and how many failed, or while it has no outcomes, how many saved a checkpoint so far. */
function membersCell(run: RunSummary): string {
  if (run.failed) return `${run.members} (${run.failed} failed)`;
  const unfinished = run.state === 'training' || run.state === 'interrupted';
  return unfinished || run.checkpointed < run.members ? `${run.members} (${run.checkpointed} with a checkpoint)` : String(run.members);
}

/**
 * A run as the tables name it: run.json's name, and its folder first when that differs (a
 * copied run folder keeps the name of the run it was copied from, so copies are told apart
 * by their folders).
 */
function runLabel(run: RunSummary): string {
  const folder = path.basename(run.dir);
  return folder === run.name ? run.name : `${folder} (run ${run.name})`;
}

const time = (seconds: number) => (seconds >= 60 ? `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s` : `${seconds}s`);

/** The runs as a table that fits `width` columns (default: the terminal's; unlimited when piped). */
export function formatRunsTable(runs: RunSummary[], width?: number): string {
  const rows = runs.map((r) => [
    runLabel(r),
    r.createdAt.replace('T', ' ').replace(/\.\d+Z$|Z$/, ''),
    time(r.seconds),
    r.validation,
    membersCell(r),
    cvCell(r),
    heldOutCell(r),
    r.test ? pct(r.test.accuracy) : '—',
    r.differences.join(' '),
  ]);
  // Run names break before other words; on a terminal too narrow for whole words, `differs in`
  // (the longest cells), then the time the run was made and took, go below each run's row
  // rather than be cut into 6-letter pieces (until session 43 at 80 columns).
  const columns = ['run', 'created (UTC)', 'training time', 'validation', 'members', 'CV acc (mean ± sd)', 'held-out acc', 'test', 'differs in'];
  return `${table(columns, rows, { names: [true], detachable: [8, 1, 2], width })}\n`;
}

export function formatRunComparison(c: RunComparison): string {
  const side = (label: string, a: string, b: string) => [label, a, b];
  let out = `${table(['', runLabel(c.a), runLabel(c.b)], [
    side('data', describeData(c.a.data), describeData(c.b.data)),
    side('created (UTC)', c.a.createdAt, c.b.createdAt),
    side('training time', time(c.a.seconds), time(c.b.seconds)),
    side('validation', c.a.validation, c.b.validation),
    side('members', membersCell(c.a), membersCell(c.b)),
    side('CV accuracy', cvCell(c.a), cvCell(c.b)),
    side('CV log-loss', cvCell(c.a, 'loss'), cvCell(c.b, 'loss')),
    side('held-out accuracy', heldOutCell(c.a), heldOutCell(c.b)),
    side('held-out log-loss', heldOutCell(c.a, 'loss'), heldOutCell(c.b, 'loss')),
    side('test accuracy', c.a.test ? pct(c.a.test.accuracy) : '—', c.b.test ? pct(c.b.test.accuracy) : '—'),
  ])}\n`;
  // (until session 43 runs of two competitions read as "the same recipe", figures side by side)
  if (!c.sameData) out += `\nthe two runs were trained and scored on different data (${describeData(c.a.data)}, ${describeData(c.b.data)}): their figures are not comparable\n`;
  const recipeRows: string[][] = [];
  for (const d of c.ensemble) recipeRows.push([`(ensemble) ${d.key}`, d.a, d.b]);
  for (const r of c.recipes) {
    if (r.in !== 'both') recipeRows.push([r.name, r.in === 'a' ? 'present' : 'absent', r.in === 'b' ? 'present' : 'absent']);
    for (const d of r.differences) recipeRows.push([`${r.name}.${d.key}`, d.a, d.b]);
  }
  out += recipeRows.length ? `\n${c.sameData ? 'recipe differences' : 'differences'}:\n${table(['recipe.key', runLabel(c.a), runLabel(c.b)], recipeRows)}\n` : c.sameRun ? '\nboth sides are the same run folder: nothing can differ\n' : '\nthe recipes are the same\n';
  out += `\nrecipes (k-fold: CV mean accuracy; else the member on its own held-out rows; with TTA where the run submits with it):\n${table(['recipe', runLabel(c.a), runLabel(c.b)], c.recipes.map((r) => [r.name, pct(r.accuracy.a), pct(r.accuracy.b)]))}\n`;
  out += `\nmembers, each on its own held-out rows (with TTA where the run submits with it):\n${table(['member', runLabel(c.a), runLabel(c.b)], c.members.map((m) => [m.name, pct(m.a), pct(m.b)]))}\n`;
  return out;
}
