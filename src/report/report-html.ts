/**
 * A self-contained HTML report of an evaluated run: the summary tables, each member's
 * training curves, per-class precision/recall/F1 bars, the confusion matrix, and a gallery
 * of misclassified validation digits.
 *
 * Charts are Vega-Lite specs compiled to Vega and rendered to SVG in Node (a headless
 * `vega.View` with `renderer: 'none'`, then `toSVG()`); digits are inline PNG data URIs.
 * The page loads nothing: no scripts, fonts, styles or images from anywhere else.
 */
import { mkdir, open, stat } from 'node:fs/promises';
import path from 'node:path';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { namingFile, writeFailure, writeFileAtomic } from '../atomic-file.js';
import { digitGridPng } from '../data/inspect.js';
import { assertFolderPath } from '../output-folder.js';
import { UserError, fromSystemError } from '../errors.js';
import { type DashboardModel, type DashboardView, type DigitSource, buildDashboardModel, cvVariant, percent } from '../evaluation/dashboard-model.js';
import type { EvaluationReport } from '../evaluation/evaluation-report.js';
import { readRunEvaluation } from '../runs/manifest.js';
import { assertNotHeld } from '../runs/lock.js';
import { digitSourceForReport } from '../evaluation/dashboard-model.js';
import { relocatedDatasetDir } from '../runs/relocate.js';
import { formatMeanSd, valuesByFold } from '../evaluation/cross-validation.js';

const FONT = 'system-ui, -apple-system, "Segoe UI", sans-serif';
const CONFIG = { background: 'white', font: FONT, view: { stroke: null }, axis: { labelFontSize: 11, titleFontSize: 12 }, legend: { labelFontSize: 11, titleFontSize: 12 } } as const;

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Renders a Vega-Lite spec to an SVG element ready to inline in HTML (namespace declarations dropped: HTML does not need them). */
export async function renderChartSvg(spec: TopLevelSpec): Promise<string> {
  const vgSpec = compile({ ...spec, config: { ...CONFIG, ...(spec.config ?? {}) } } as TopLevelSpec).spec;
  const view = new vega.View(vega.parse(vgSpec), { renderer: 'none' });
  try {
    const svg = await view.toSVG();
    return svg.replace(/\s+xmlns(?::xlink)?="[^"]*"/g, '');
  } finally {
    view.finalize();
  }
}

/* ---------- chart specs (pure data → Vega-Lite) ---------- */

export function curveSpec(member: DashboardModel['members'][number]): TopLevelSpec {
  const values = member.acc.flatMap((_, i) => [
    { epoch: i + 1, panel: 'accuracy', series: 'train', value: member.acc[i] },
    { epoch: i + 1, panel: 'accuracy', series: 'validation', value: member.valAcc[i] },
    { epoch: i + 1, panel: 'loss', series: 'train', value: member.loss[i] },
    { epoch: i + 1, panel: 'loss', series: 'validation', value: member.valLoss[i] },
  ]);
  const panel = (name: 'accuracy' | 'loss') => ({
    width: 260,
    height: 160,
    title: name,
    transform: [{ filter: `datum.panel === '${name}'` }],
    mark: { type: 'line' as const, point: true },
    encoding: {
      x: { field: 'epoch', type: 'quantitative' as const, axis: { tickMinStep: 1, format: 'd' }, title: 'epoch' },
      y: { field: 'value', type: 'quantitative' as const, scale: { zero: false }, title: name },
      color: { field: 'series', type: 'nominal' as const, title: null, scale: { domain: ['train', 'validation'], range: ['#8a8f98', '#1f77b4'] } },
    },
  });
  return { title: `${member.name} (${member.preset})`, data: { values }, hconcat: [panel('accuracy'), panel('loss')] } as TopLevelSpec;
}

export function perClassSpec(view: DashboardView): TopLevelSpec {
  const values = view.classes.flatMap((c) => [
    { digit: String(c.label), metric: 'precision', value: c.precision },
    { digit: String(c.label), metric: 'recall', value: c.recall },
    { digit: String(c.label), metric: 'F1', value: c.f1 },
  ]);
  return {
    title: `Per class: ${view.title}`,
    width: 560,
    height: 200,
    data: { values },
    mark: 'bar',
    encoding: {
      x: { field: 'digit', type: 'nominal', axis: { labelAngle: 0 }, title: 'digit' },
      xOffset: { field: 'metric', sort: ['precision', 'recall', 'F1'] },
      y: { field: 'value', type: 'quantitative', scale: { domain: [Math.min(0.8, ...values.map((v) => v.value)), 1], clamp: true }, title: null },
      color: { field: 'metric', type: 'nominal', sort: ['precision', 'recall', 'F1'], title: null },
    },
  } as TopLevelSpec;
}

export function memberF1Spec(model: DashboardModel): TopLevelSpec {
  // (the ensemble as submitted, as the per-class bars and the confusion matrix beside it)
  // (k-fold recipes on their out-of-fold predictions too, the units the CV figures compare)
  const views = model.views.filter((v) => v.kind === 'member' || v.kind === 'recipe' || v.key === model.submittedView);
  const values = views.flatMap((v) => v.classes.map((c) => ({ digit: String(c.label), model: v.key, f1: c.f1 })));
  return {
    title: views.some((v) => v.kind === 'recipe') ? 'F1 per class: recipes (out-of-fold), members and the ensemble' : 'F1 per class: members and the ensemble',
    width: 560,
    height: 200,
    data: { values },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'digit', type: 'ordinal', axis: { labelAngle: 0 } },
      y: { field: 'f1', type: 'quantitative', scale: { zero: false }, title: 'F1' },
      color: { field: 'model', type: 'nominal', title: null },
      strokeDash: { condition: { test: "datum.model === 'ensemble'", value: [1, 0] }, value: [4, 3] },
    },
  } as TopLevelSpec;
}

export function confusionSpec(view: DashboardView): TopLevelSpec {
  const values = view.heat.flatMap((row, t) =>
    row.map((cell, p) => ({ truth: String(t), predicted: String(p), count: cell.count, kind: cell.diagonal ? 'correct' : 'mistake', level: cell.level })),
  );
  return {
    title: `Confusion matrix: ${view.title}`,
    width: 360,
    height: 360,
    data: { values },
    encoding: {
      x: { field: 'predicted', type: 'ordinal', axis: { orient: 'top', labelAngle: 0 }, title: 'predicted' },
      y: { field: 'truth', type: 'ordinal', title: 'true digit' },
    },
    layer: [
      {
        mark: { type: 'rect', stroke: 'white' },
        encoding: {
          color: {
            condition: [
              { test: 'datum.count === 0', value: '#f5f6f8' },
              { test: "datum.kind === 'correct'", value: '#2e9d5f' },
            ],
            field: 'level',
            type: 'quantitative',
            scale: { domain: [0, 1], range: ['#fbeaea', '#c62828'] },
            legend: null,
          },
          opacity: { condition: { test: "datum.kind === 'correct'", value: 0.35 }, value: 1 },
        },
      },
      {
        transform: [{ filter: 'datum.count > 0' }],
        mark: { type: 'text', fontSize: 11 },
        encoding: { text: { field: 'count', type: 'quantitative' }, color: { condition: { test: "datum.kind === 'mistake' && datum.level > 0.5", value: 'white' }, value: 'black' } },
      },
    ],
  } as TopLevelSpec;
}

/* ---------- the page ---------- */

export interface ReportHtml {
  html: string;
  /** Charts rendered (one <svg> each). */
  charts: number;
  /** Misread digits drawn (one <img> each). */
  images: number;
}

function table(header: string[], rows: string[][]): string {
  const th = header.map((h) => `<th>${escapeHtml(h)}</th>`).join('');
  const body = rows.map((r) => `<tr>${r.map((c, i) => (i === 0 ? `<td>${escapeHtml(c)}</td>` : `<td class="num">${escapeHtml(c)}</td>`)).join('')}</tr>`).join('\n');
  return `<table><thead><tr>${th}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

/**
 * The CV table: each recipe's and the ensemble's accuracy, then one column per fold with the
 * fold's accuracy under it, blank where the fold has none (a failed fold member). Until session
 * 44 one "per fold" cell listed the values, so fold 3's stood under fold 2 when fold 2 failed.
 * Evaluations before the folds were recorded, with a fold missing, keep that one cell.
 */
function cvTable(cv: NonNullable<DashboardModel['crossValidation']>): string {
  const perFold = cv.rows.map((r) => valuesByFold(r.accuracy, cv.folds));
  const head = (r: (typeof cv.rows)[number]) => [r.name, formatMeanSd(r.accuracy, 'percent'), formatMeanSd(r.logLoss, 'loss')];
  if (perFold.some((p) => p === null)) return table(['recipe', 'accuracy', 'log-loss', 'per fold (folds not recorded)'], cv.rows.map((r) => [...head(r), r.accuracy.values.map((v) => percent(v)).join(' ')]));
  const folds = Array.from({ length: cv.folds }, (_, f) => `fold ${f + 1}`);
  return table(['recipe', 'accuracy', 'log-loss', ...folds], cv.rows.map((r, k) => [...head(r), ...perFold[k]!.map((v) => (v === null ? '' : percent(v)))]));
}

function gallery(view: DashboardView, digits: DigitSource | null): { html: string; images: number } {
  const parts: string[] = [];
  let images = 0;
  for (const pair of view.pairs) {
    const figures = pair.samples.map((sample) => {
      const caption = `${pair.trueLabel}→${pair.predicted} ${sample.row === null ? `@${sample.position}` : `#${sample.row}`}`;
      const image = digits && sample.row !== null ? digits.image(view.set, sample.row) : null;
      if (!image || !digits) return `<figure class="missing"><div>no image</div><figcaption>${escapeHtml(caption)}</figcaption></figure>`;
      const png = digitGridPng([{ image, caption, label: String(pair.predicted) }], { size: digits.size, columns: 1, zoom: 3 });
      images++;
      return `<figure><img src="data:image/png;base64,${png.toString('base64')}" alt="true ${pair.trueLabel}, read as ${pair.predicted}, ${escapeHtml(caption)}" width="${digits.size * 3 + 12}"><figcaption>${escapeHtml(caption)}</figcaption></figure>`;
    });
    parts.push(`<div class="pair"><h3>${pair.trueLabel} read as ${pair.predicted} <span class="muted">${pair.count}×</span></h3><div class="digits">${figures.join('')}</div></div>`);
  }
  return { html: parts.length > 0 ? parts.join('\n') : '<p>No mistakes.</p>', images };
}

const STYLE = `
body { font-family: ${FONT}; margin: 2rem auto; max-width: 1100px; padding: 0 1rem; color: #1d2330; }
h1 { font-size: 1.5rem; } h2 { margin-top: 2.5rem; border-bottom: 1px solid #dde1e8; padding-bottom: .3rem; } h3 { font-size: 1rem; margin: .8rem 0 .3rem; }
table { border-collapse: collapse; margin: .5rem 0; } th, td { padding: .25rem .7rem; border-bottom: 1px solid #eceff3; text-align: left; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.muted { color: #6b7280; font-weight: normal; } .warning { color: #92400e; background: #fef3c7; padding: 0.3rem 0.6rem; } .charts { display: flex; flex-wrap: wrap; gap: 1rem; } .charts svg { max-width: 100%; height: auto; }
.digits { display: flex; flex-wrap: wrap; gap: .5rem; } figure { margin: 0; text-align: center; font-size: .75rem; color: #4b5563; }
figure img { image-rendering: pixelated; display: block; } figure.missing div { width: 96px; height: 96px; background: #f3f4f6; display: flex; align-items: center; justify-content: center; }
`;

export async function buildReportHtml(report: EvaluationReport, options: { digits?: DigitSource | null; note?: string | null } = {}): Promise<ReportHtml> {
  const model = buildDashboardModel(report);
  const digits = options.digits ?? null;
  // The per-class section shows the vote as submitted (with TTA, weighted), as the summary's weakest classes do.
  const ensemble = model.views.find((v) => v.key === model.submittedView) ?? model.views[0]!;
  const curveCharts = await Promise.all(model.members.filter((m) => m.epochs > 0).map(async (m) => ({ name: m.name, svg: await renderChartSvg(curveSpec(m)) })));
  const [perClass, memberF1, confusion] = await Promise.all([renderChartSvg(perClassSpec(ensemble)), renderChartSvg(memberF1Spec(model)), renderChartSvg(confusionSpec(ensemble))]);
  const charts = curveCharts.length + 3;
  const misread = gallery(ensemble, digits);
  const title = `digits evaluation: ${model.run}`;
  const weights = `${model.weights ? `; weights ${model.weights.map((w) => String(Number(w.toFixed(3)))).join(', ')}` : ''}; submitted: the ${model.submittedVote}`;
  const cv = model.crossValidation
    ? `<h2>Cross-validation</h2>
<p class="muted">${model.crossValidation.folds} folds (split ${escapeHtml(model.crossValidation.split)}): each recipe's fold members on their own folds, and the soft vote of the out-of-fold predictions; mean ± sample sd (n − 1) over the folds, ${cvVariant(model.crossValidation)}.</p>
${cvTable(model.crossValidation)}`
    : '';
  const selection = model.selection
    ? `<h2>Ensemble selection</h2>
<p class="muted">Greedy forward selection with replacement (Caruana et al. 2004) over ${model.selection.units}, on held-out predictions. ${model.selection.used ? 'In use' : 'Not used'}: ${escapeHtml(model.selection.reason)}. Weights: ${escapeHtml(model.selection.weights.map((w) => `${w.name} ${w.weight.toFixed(3)}${w.fixed ? ' (fixed)' : ''}`).join(', '))}.</p>
${table(['vote', 'accuracy', 'log-loss'], model.selection.rows.map((r) => [r.label, percent(r.accuracy), r.logLoss.toFixed(4)]))}`
    : '';
  const warnings = model.warnings.map((w) => `<p class="warning">Note: ${escapeHtml(w)}.</p>`).join('\n');
  const tta = model.ttaTransforms ? `; TTA transforms: ${model.ttaTransforms.join(', ')}${model.ttaDecision ? ` (${model.ttaDecision.used ? 'in' : 'not in'} the submission: ${model.ttaDecision.reason})` : ''}` : '';
  const summary = table(
    ['view', 'accuracy', 'log-loss', 'rows'],
    model.views.map((v) => [v.title, percent(v.accuracy), v.logLoss.toFixed(4), String(v.rows)]),
  );
  const members = table(
    ['member', 'preset', 'checkpoint', 'epochs', 'best epoch', 'accuracy', 'with TTA'],
    model.members.map((m) => [m.name, m.preset, m.checkpoint, String(m.epochs), m.bestEpoch === null ? '—' : String(m.bestEpoch + 1), percent(m.accuracy), m.ttaAccuracy === null ? '—' : percent(m.ttaAccuracy)]),
  );
  const perClassTable = table(
    ['digit', 'precision', 'recall', 'F1', 'support'],
    ensemble.classes.map((c) => [String(c.label), c.precision.toFixed(3), c.recall.toFixed(3), c.f1.toFixed(3), String(c.support)]),
  );
  const missingCurves = model.members.filter((m) => m.epochs === 0).map((m) => `<p class="muted">${escapeHtml(m.name)}: no training history.</p>`);
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="${REPORT_GENERATOR}">
<meta name="digits-run" content="${escapeHtml(model.run)}">
<meta name="digits-misread-images" content="${misread.images}">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
<p class="muted">Evaluated ${escapeHtml(model.createdAt)}${model.precision === 'unrecorded' ? '' : ` in ${escapeHtml(model.precision)}${model.precision === 'fp32' ? '' : ' (the training curves are training\'s own fp32 figures)'}`} on ${model.heldOutRows} ${model.outOfFold ? 'training rows, each predicted out of fold (by members that did not train on it)' : model.outOfBag ? 'training rows, each voted out of bag (by the members that held it out, and no other)' : 'held-out training rows (no member trained on them)'}${escapeHtml(weights)}${escapeHtml(tta)}. Dataset ${escapeHtml(model.dataset.dir)} (${escapeHtml(model.dataset.fingerprint.slice(0, 19))}…).</p>
${options.note ? `<p class="muted">${escapeHtml(options.note)}</p>` : ''}
<h2>Summary</h2>
${warnings}
${summary}
${cv}
${selection}
${model.testBestMember ? `<p>On the test answers, ${escapeHtml(model.testBestMember.label)}: ${escapeHtml(model.testBestMember.name)} ${percent(model.testBestMember.accuracy)}.</p>` : ''}
${members}
<h2>Training curves</h2>
<div class="charts">
${curveCharts.map((c) => `<section class="chart" data-member="${escapeHtml(c.name)}">${c.svg}</section>`).join('\n')}
</div>
${missingCurves.join('\n')}
<h2>Per class</h2>
<div class="charts"><section class="chart">${perClass}</section><section class="chart">${memberF1}</section></div>
${perClassTable}
<h2>Confusion matrix</h2>
<div class="charts"><section class="chart">${confusion}</section></div>
<h2>Misread validation digits</h2>
<p class="muted">${escapeHtml(ensemble.title)}: the most frequent confusions, the most confident mistakes first; #n is the training row.</p>
${misread.html}
</body>
</html>
`;
  return { html, charts, images: misread.images };
}

export interface WriteReportOptions {
  /** The evaluated run folder. */
  run: string;
  /** The HTML file to write (default `<run>/report.html`). */
  out?: string;
  /**
   * Replace a file at the target that is not this run's report, or this run's report with one
   * that cannot draw the misread digits it drew (default false: refused, naming the file).
   */
  force?: boolean;
}

/** What a report page says of itself in its `<head>` (`<meta name="generator">` and the two below it). */
export const REPORT_GENERATOR = 'digits report';

/**
 * What the file at a report's target is: absent, a digits report (of which run, with how many
 * misread digits drawn: null in reports written before session 43, which carry only their
 * title), or another file.
 */
async function existingReport(file: string): Promise<{ kind: 'none' } | { kind: 'report'; run: string; images: number | null } | { kind: 'other' }> {
  // (the page's head only: a report is hundreds of KiB of images below it)
  // (nothing readable there, a folder among them, is no report: the write names the problem)
  const head = await open(file, 'r')
    .then(async (handle) => {
      try {
        const { buffer, bytesRead } = await handle.read(Buffer.alloc(4096), 0, 4096, 0);
        return buffer.subarray(0, bytesRead).toString('utf8');
      } finally {
        await handle.close();
      }
    })
    .catch(() => null);
  if (head === null) return { kind: 'none' };
  const meta = (name: string) => new RegExp(`<meta name="${name}" content="([^"]*)">`).exec(head)?.[1];
  const unescape = (text: string) => text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');
  if (meta('generator') === REPORT_GENERATOR) {
    const images = Number(meta('digits-misread-images'));
    return { kind: 'report', run: unescape(meta('digits-run') ?? ''), images: Number.isInteger(images) ? images : null };
  }
  const title = /<title>digits evaluation: ([^<]*)<\/title>/.exec(head)?.[1];
  return title === undefined ? { kind: 'other' } : { kind: 'report', run: unescape(title), images: null };
}

export interface WrittenReport extends ReportHtml {
  file: string;
  bytes: number;
  note: string | null;
}

/** The report's file name in a run folder (and in a folder given as --out). */
export { REPORT_FILE } from '../runs/manifest.js';
import { REPORT_FILE } from '../runs/manifest.js';

/** Reads `<run>/evaluation.json` and the dataset cache, writes the report atomically. */
export async function writeReport(options: WriteReportOptions): Promise<Omit<WrittenReport, 'html'>> {
  const runDir = path.resolve(options.run);
  const report = await readRunEvaluation(runDir, 'report on');
  // An evaluated run a process is writing (evaluating it again): its evaluation.json is about to
  // change, and a report written now would show the one before (session 40). (A run in training
  // is refused above, saying so.)
  await assertNotHeld(runDir);
  // --out naming an existing folder, or any path ending in a slash (a folder, made if missing), means report.html in it.
  let file = path.resolve(options.out ?? path.join(runDir, REPORT_FILE));
  const folder = options.out !== undefined && (/[\\/]$/.test(options.out) || (await stat(file).catch(() => null))?.isDirectory() === true);
  if (folder) file = path.join(file, REPORT_FILE);
  // An HTML page under another kind of name would replace that file (`--out train.csv` did): refused before any work.
  if (!/\.html?$/i.test(file)) {
    throw new UserError(`--out ${options.out} would put an HTML report under a name that is not .html`, {
      where: { file, flag: 'out' },
      hint: `Name it ${file.replace(/\.[^./\\]*$/, '')}.html, or give a folder to write ${REPORT_FILE} into.`,
    });
  }
  // A file where its folder must be (`--out afile/x.html`, `--out afile/x/`) is named before any work (session 39).
  await assertFolderPath(path.dirname(file), { flag: 'out', what: "the report's folder", fileFlag: true });
  // What is at the target is replaced only when it is this run's report, and not by a report
  // that lost its misread digits (the data moved or was re-imported): until session 43 any .html
  // was overwritten, another run's report.html and a user's own page alike.
  const there = options.force ? ({ kind: 'none' } as const) : await existingReport(file);
  if (there.kind === 'other' || (there.kind === 'report' && there.run !== report.run)) {
    throw new UserError(`${file} is ${there.kind === 'other' ? 'a file digits did not write' : `the report of another run (${there.run})`}; the report of run ${report.run} would replace it`, {
      where: { file, flag: 'out' },
      hint: `Pass another --out, or --force to replace it.`,
    });
  }
  const { source, note } = await digitSourceForReport(report, runDir, relocatedDatasetDir(runDir, report.dataset.dir, report.dataset.fingerprint));
  const built = await buildReportHtml(report, { digits: source, note });
  if (there.kind === 'report' && (there.images ?? 0) > 0 && built.images === 0 && note) {
    throw new UserError(`${file} draws ${there.images} misread digits; this report could not draw them (${note})`, {
      where: { file, flag: 'out' },
      hint: `Keep it, or pass another --out; --force replaces it without the digits.`,
    });
  }
  if (options.out && /[\\/]$/.test(options.out)) await mkdir(path.dirname(file), { recursive: true }).catch(() => {});
  try {
    // Atomic: a failed write leaves neither a half-written report nor its temp file.
    await writeFileAtomic(file, built.html);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // A full or read-only disk gets the hint every command gives for it (space, not permissions),
    // and --out is named only when it was given: `digits run`, which has none, said "(flag --out)"
    // and "pass another --out" for its report on a full disk until session 45.
    const out = options.out !== undefined;
    const system = code === 'ENOSPC' || code === 'EDQUOT' || code === 'EROFS' ? fromSystemError(namingFile(error, file)) : null;
    const hint = system?.hint ?? (code === 'ENOENT' ? `Create the folder ${path.dirname(file)} first${out ? ', or pass another --out' : ''}.` : code === 'EISDIR' ? 'Pass a file name with --out.' : `Check that the folder is writable${out ? ', or pass another --out' : ''}.`);
    throw new UserError(`cannot write ${file}: ${writeFailure(error, file)}`, { where: out ? { file, flag: 'out' } : { file }, hint });
  }
  return { file, bytes: Buffer.byteLength(built.html), charts: built.charts, images: built.images, note };
}

/** The report of a run at `<runDir>/report.html` (or `out`); returns the file written. */
export async function writeRunReport(options: { runDir: string; out?: string; force?: boolean }): Promise<string> {
  return (await writeReport({ run: options.runDir, out: options.out, force: options.force })).file;
}
