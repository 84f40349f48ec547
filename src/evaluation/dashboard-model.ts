/**
 * What the dashboard shows, built from a saved EvaluationReport (pure: no files, no Ink).
 *
 * The report becomes a list of views (the ensemble by soft and hard voting, with TTA when
 * evaluated, and by the weighted vote when the submission uses it; the test set against
 * practice answers by the same soft votes; under k-fold each recipe's out-of-fold
 * predictions; then each member), each with its
 * per-class table, its confusion matrix as heat-map cells and its most-confused pairs
 * mapped to dataset rows; plus each member's training curves. The Ink screen
 * (src/tui/Dashboard.tsx), the plain-text output and `--json` all draw this one model.
 */
import path from 'node:path';
import { loadDataset, type Dataset } from '../data/dataset.js';
import { displayPath, shellArg } from '../data/format.js';
import type { DigitTile } from '../data/inspect.js';
import { UserError } from '../errors.js';
import type { ClassMetrics, ConfusedPair, Metrics } from './metrics.js';
import { foldSharesNote, precisionOf, submitsWithTta, testBestLabel, submittedVariant, submittedVoteName, voteName, weightsInUse, type EvaluationReport, type TtaDecision } from './evaluation-report.js';
import { formatMeanSd, valuesByFold, type MeanSd } from './cross-validation.js';

/** `recipe`: under k-fold, an ensemble file's member entry scored on its out-of-fold predictions (every row by the fold member that did not train on it). */
export type ViewKind = 'ensemble' | 'test' | 'recipe' | 'member';

export interface HeatCell {
  count: number;
  diagonal: boolean;
  /** 0–1: count over the largest count of its kind (diagonal or not) in the matrix. */
  level: number;
}

export interface MisreadSample {
  /** Position in the evaluated row list (as in ConfusedPair.examples). */
  position: number;
  /** Row of the dataset's train or test images, or null when the report cannot say. */
  row: number | null;
}

export interface PairView extends Omit<ConfusedPair, 'examples'> {
  samples: MisreadSample[];
}

export interface DashboardView {
  /**
   * What --member and the tabs call it: `ensemble`, `ensemble-hard`, `ensemble-tta`,
   * `ensemble-hard-tta`, `ensemble-weighted`, `test`, `test-tta`, `test-equal`, `test-equal-tta`,
   * a k-fold recipe's name, or a member's name.
   */
  key: string;
  title: string;
  kind: ViewKind;
  /** Which images the sample rows index. */
  set: 'train' | 'test';
  rows: number;
  accuracy: number;
  logLoss: number;
  classes: ClassMetrics[];
  /** [true][predicted] */
  heat: HeatCell[][];
  pairs: PairView[];
}

export interface MemberCurves {
  name: string;
  preset: string;
  checkpoint: string;
  epochs: number;
  /** Epoch (0-based) with the lowest validation loss, or null without history. */
  bestEpoch: number | null;
  acc: number[];
  valAcc: number[];
  loss: number[];
  valLoss: number[];
  /** Accuracy on its validation rows as evaluated (and with TTA when evaluated). */
  accuracy: number;
  ttaAccuracy: number | null;
}

export interface DashboardModel {
  run: string;
  createdAt: string;
  dataset: { dir: string; fingerprint: string };
  heldOutRows: number;
  /** ensemble selection's weights per member, when the submission uses them (not a k-fold recipe's shares among its fold members: until session 44 those read as chosen weights) */
  weights: number[] | null;
  /** the vote the submission uses, as the views name it: `weighted soft vote + TTA`, `soft vote`, … */
  submittedVote: string;
  /** the key of the held-out view of that vote: where the dashboard opens and what the report's per-class section shows */
  submittedView: string;
  /** the number format the evaluated figures were computed in (`int8`, `fp32`, the mix, or `unrecorded` in evaluations made before it was recorded); training's curves are fp32 */
  precision: string;
  ttaTransforms: string[] | null;
  /** whether the submission averages the TTA shifts, as chosen on the held-out rows */
  ttaDecision: TtaDecision | null;
  views: DashboardView[];
  members: MemberCurves[];
  /** On the test answers, the member best on its own held-out rows (chosen there, not on test), when the report scored them. */
  testBestMember: { name: string; accuracy: number; label: string } | null;
  /** k-fold runs: per recipe and for the ensemble, mean ± sd over the folds (with TTA when evaluated with it) */
  /** The CV figures in the variant the submission uses (`tta`: with the 8 shifts averaged). */
  crossValidation: { folds: number; split: string; tta: boolean; rows: Array<{ name: string; accuracy: MeanSd; logLoss: MeanSd }> } | null;
  /** ensemble selection's weights and its figures beside the equal vote */
  selection: {
    units: 'members' | 'recipes';
    /** `fixed`: the start rule sets this weight (the only member of its start), not selection */
    weights: Array<{ name: string; weight: number; fixed?: true }>;
    rows: Array<{ label: string; accuracy: number; logLoss: number }>;
    used: boolean;
    reason: string;
  } | null;
  /** e.g. the ensemble scores below its best member on the held-out rows */
  warnings: string[];
  /** whether the ensemble rows are out-of-fold predictions of every training row (k-fold) */
  outOfFold: boolean;
  /** a bagged ensemble scored out of bag (each row voted by the members that held it out) */
  outOfBag: boolean;
  /** k-fold: each recipe and its fold members (empty otherwise); a recipe's view has its name, when the evaluation scored its out-of-fold predictions */
  recipes: Array<{ name: string; members: string[] }>;
  /** members that failed to train (run.json), with the first line of their error: they have no view */
  failedMembers: Array<{ name: string; error: string }>;
}

export function heatCells(confusion: number[][]): HeatCell[][] {
  let maxDiagonal = 0;
  let maxOff = 0;
  confusion.forEach((row, t) =>
    row.forEach((count, p) => {
      if (t === p) maxDiagonal = Math.max(maxDiagonal, count);
      else maxOff = Math.max(maxOff, count);
    }),
  );
  return confusion.map((row, t) =>
    row.map((count, p) => {
      const max = t === p ? maxDiagonal : maxOff;
      return { count, diagonal: t === p, level: max > 0 ? count / max : 0 };
    }),
  );
}

function view(key: string, title: string, kind: ViewKind, set: 'train' | 'test', metrics: Metrics, rowOf: ((position: number) => number) | null): DashboardView {
  return {
    key,
    title,
    kind,
    set,
    rows: metrics.rows,
    accuracy: metrics.accuracy,
    logLoss: metrics.logLoss,
    classes: metrics.perClass,
    heat: heatCells(metrics.confusion),
    pairs: metrics.mostConfused.map(({ examples, ...pair }) => ({ ...pair, samples: examples.map((position) => ({ position, row: rowOf ? rowOf(position) : null })) })),
  };
}

export function buildDashboardModel(report: EvaluationReport): DashboardModel {
  const held = report.heldOutRows;
  const heldRow = (metrics: Metrics) => (metrics.rows === held.length ? (position: number) => held[position]! : null);
  const views: DashboardView[] = [];
  const { ensemble } = report;
  const tta = ensemble.ttaTransforms ? ` + TTA ×${ensemble.ttaTransforms.length}` : ' + TTA';
  // Held-out and test views name their vote alike: beside a weighted submission, the equal
  // soft vote and the weighted one (the test figures are the weighted vote's, and were shown
  // as the "soft vote" beside held-out views of the equal one).
  const equal = voteName(report, 'equal');
  const weighted = voteName(report, 'weighted');
  views.push(view('ensemble', `ensemble (${equal})`, 'ensemble', 'train', ensemble.soft, heldRow(ensemble.soft)));
  views.push(view('ensemble-hard', 'ensemble (hard vote)', 'ensemble', 'train', ensemble.hard, heldRow(ensemble.hard)));
  if (ensemble.softTta) views.push(view('ensemble-tta', `ensemble (${equal}${tta})`, 'ensemble', 'train', ensemble.softTta, heldRow(ensemble.softTta)));
  if (ensemble.hardTta) views.push(view('ensemble-hard-tta', `ensemble (hard vote${tta})`, 'ensemble', 'train', ensemble.hardTta, heldRow(ensemble.hardTta)));
  if (weightsInUse(report) && ensemble.weighted) {
    // Cross-fitted: the weights fitted on all these rows would flatter them.
    const shifted = ensemble.selection?.variant === 'tta' ? tta : '';
    views.push(view('ensemble-weighted', `ensemble (${weighted}${shifted}, cross-fitted)`, 'ensemble', 'train', ensemble.weighted, heldRow(ensemble.weighted)));
  }
  if (report.test) {
    const testRow = (position: number) => position;
    const vote = weightsInUse(report) ? weighted : equal;
    views.push(view('test', `test answers (${vote})`, 'test', 'test', report.test.soft, testRow));
    if (report.test.softTta) views.push(view('test-tta', `test answers (${vote}${tta})`, 'test', 'test', report.test.softTta, testRow));
    // The equal vote was predicted in the submitted variant: with TTA when the submission has it.
    const equalTest = report.test.equalWeights;
    if (equalTest && weightsInUse(report)) views.push(view(report.test.softTta ? 'test-equal-tta' : 'test-equal', `test answers (${equal}${report.test.softTta ? tta : ''})`, 'test', 'test', equalTest, testRow));
  }
  // k-fold: each recipe on its out-of-fold predictions, before the fold members (the units the
  // CV figures and selection compare, side by side after the ensemble; until session 44 a
  // recipe had no view, and `--member a` was "no member or view named").
  for (const recipe of report.cv?.recipes ?? []) if (recipe.oof) views.push(recipeView(report, recipe, recipe.oof, tta));
  for (const member of report.members) {
    // A member's metrics are over its own validation rows, in its split's order: without
    // validationRows its example positions cannot be mapped to dataset rows.
    const rows = member.validationRows;
    const rowOf = rows && rows.length === member.metrics.rows ? (position: number) => rows[position]! : null;
    views.push(view(member.name, `${member.name} (${member.preset})`, 'member', 'train', member.metrics, rowOf));
  }
  const members: MemberCurves[] = report.members.map((member) => {
    const history = member.history ?? [];
    let bestEpoch: number | null = null;
    history.forEach((record, i) => {
      if (bestEpoch === null || record.valLoss < history[bestEpoch]!.valLoss) bestEpoch = i;
    });
    return {
      name: member.name,
      preset: member.preset,
      checkpoint: member.checkpoint,
      epochs: history.length,
      bestEpoch: bestEpoch === null ? null : history[bestEpoch]!.epoch,
      acc: history.map((r) => r.acc),
      valAcc: history.map((r) => r.valAcc),
      loss: history.map((r) => r.loss),
      valLoss: history.map((r) => r.valLoss),
      accuracy: member.metrics.accuracy,
      ttaAccuracy: member.tta ? member.tta.accuracy : null,
    };
  });
  return {
    run: report.run,
    createdAt: report.createdAt,
    dataset: report.dataset,
    heldOutRows: held.length,
    weights: weightsInUse(report) ? ensemble.weights ?? null : null,
    submittedVote: `${submittedVoteName(report).replace(/ \+ TTA$/, tta)}${foldSharesNote(report) ? ` (${foldSharesNote(report)})` : ''}`,
    // (the plain soft vote's view opened first, also when the submission averaged the shifts or weighed the members)
    submittedView: weightsInUse(report) && ensemble.weighted ? 'ensemble-weighted' : submitsWithTta(report) && ensemble.softTta ? 'ensemble-tta' : 'ensemble',
    precision: precisionOf(report),
    ttaTransforms: ensemble.ttaTransforms ?? null,
    ttaDecision: ensemble.ttaDecision ?? null,
    views,
    members,
    testBestMember: report.test ? { name: report.test.bestMember.name, accuracy: report.test.bestMember.metrics.accuracy, label: testBestLabel(report.test.bestMember) } : null,
    crossValidation: report.cv
      ? {
          folds: report.cv.folds,
          split: report.cv.split,
          // As submitted: the TTA figures only when the submission averages the shifts (they
          // were shown whenever measured, unlabelled, beside evaluate's plain ones).
          tta: submitsWithTta(report) && report.cv.ensemble.tta !== undefined,
          rows: [
            ...report.cv.recipes.map((r) => ({ name: r.name, ...pick(submittedVariant(report, { accuracy: r.accuracy, logLoss: r.logLoss }, r.tta)) })),
            // the fold scores are the equal vote's; a weighted submission is said (its honest figure is the cross-fitted one of the selection)
            { name: weightsInUse(report) ? 'ensemble (equal vote; submitted weighted)' : 'ensemble', ...pick(submittedVariant(report, { accuracy: report.cv.ensemble.accuracy, logLoss: report.cv.ensemble.logLoss }, report.cv.ensemble.tta)) },
          ],
        }
      : null,
    selection: ensemble.selection
      ? {
          units: ensemble.selection.units,
          weights: ensemble.selection.names.map((name, i) => ({ name, weight: ensemble.selection!.weights[i]!, ...(ensemble.selection!.forced?.includes(name) ? { fixed: true as const } : {}) })),
          rows: [
            { label: 'equal weights', ...ensemble.selection.equal },
            { label: 'weighted, cross-fitted (honest)', ...ensemble.selection.crossFitted },
            { label: 'weighted, in-sample (optimistic)', ...ensemble.selection.inSample },
          ],
          used: ensemble.selection.used,
          reason: ensemble.selection.reason,
        }
      : null,
    warnings: ensemble.warnings ?? [],
    outOfFold: report.cv !== undefined,
    outOfBag: report.ensemble.outOfBag !== undefined,
    recipes: (report.cv?.recipes ?? []).map((r) => ({ name: r.name, members: [...r.members] })),
    failedMembers: (report.failedMembers ?? []).map((m) => ({ name: m.name, error: m.error })),
  };
}

/** Whether `member` is a fold member of the k-fold recipe `recipe` (`<recipe>-f<i>`). */
const isFoldOf = (recipe: string, member: string) => member.startsWith(`${recipe}-f`) && /^[0-9]+$/.test(member.slice(recipe.length + 2));

type Recipe = NonNullable<EvaluationReport['cv']>['recipes'][number];

/**
 * A k-fold recipe's view: its out-of-fold predictions, every row its fold members held out, each
 * by the member that did not train on it. Its example positions index those rows ascending (the
 * sorted union of the fold members' validation rows, as evaluate assembled them); titled with the
 * folds it covers (`over all 3 folds`, or `over 2 of 3 folds` when a fold member failed).
 */
function recipeView(report: EvaluationReport, recipe: Recipe, oof: NonNullable<Recipe['oof']>, tta: string): DashboardView {
  const members = recipe.members.map((name) => report.members.find((m) => m.name === name));
  const union = members.every((m) => m?.validationRows) ? [...new Set(members.flatMap((m) => m!.validationRows!))].sort((a, b) => a - b) : null;
  const rowOf = union && union.length === oof.metrics.rows ? (position: number) => union[position]! : null;
  // (the folds of the split: those trained, or more when a fold member of this recipe failed)
  const failed = (report.failedMembers ?? []).filter((m) => isFoldOf(recipe.name, m.name)).length;
  const folds = Math.max(report.cv!.folds, recipe.members.length + failed);
  const over = recipe.members.length >= folds ? `all ${folds} folds` : `${recipe.members.length} of ${folds} folds`;
  return view(recipe.name, `${recipe.name} (${recipe.preset}, out-of-fold over ${over}${oof.variant === 'tta' ? tta : ''})`, 'recipe', 'train', oof.metrics, rowOf);
}

/** Which variant the CV figures are: the submission's. */
export function cvVariant(cv: { tta: boolean }): string {
  return cv.tta ? 'with 8-way TTA, as submitted' : 'without TTA, as submitted';
}

const pick = (m: { accuracy: MeanSd; logLoss: MeanSd }) => ({ accuracy: m.accuracy, logLoss: m.logLoss });

/**
 * The CV figures, the ensemble selection and the warnings as text lines (empty for a plain
 * holdout run without them). With `columns` (a terminal's), a recipe's per-fold figures that
 * would not fit beside its mean ± sd go on a line of their own below it (the live dashboard cut
 * them off at the edge: three folds made lines of about 105 columns).
 */
export function crossValidationLines(model: DashboardModel, columns?: number): string[] {
  const lines: string[] = [];
  const cv = model.crossValidation;
  if (cv) {
    const width = Math.max(8, ...cv.rows.map((r) => r.name.length));
    lines.push(`${cv.folds}-fold cross-validation (split ${cv.split}), mean ± sample sd (n − 1) over the folds, ${cvVariant(cv)}`);
    // Each fold's accuracy under its fold, a blank where the fold has none (a failed fold member):
    // the values alone put fold 3's under fold 2 (until session 44).
    const perFold = cv.rows.map((r) => valuesByFold(r.accuracy, cv.folds));
    const placed = perFold.every((p) => p !== null);
    const cell = (v: number | null) => (v === null ? '' : percent(v)).padStart(7);
    const main = (r: (typeof cv.rows)[number]) => `  ${r.name.padEnd(width)}  acc ${formatMeanSd(r.accuracy, 'percent')}  log-loss ${formatMeanSd(r.logLoss, 'loss')}`;
    const mainWidth = Math.max(...cv.rows.map((r) => main(r).length));
    const beside = mainWidth + `  acc by fold `.length + 8 * cv.folds - 1;
    if (placed && columns !== undefined && beside > columns) {
      for (const [k, r] of cv.rows.entries()) {
        lines.push(main(r));
        lines.push(`    acc by fold  ${perFold[k]!.map((v, f) => `${f + 1}: ${v === null ? '—' : percent(v)}`).join('  ')}`);
      }
    } else {
      if (placed) lines.push(`${''.padEnd(mainWidth)}  acc by fold ${Array.from({ length: cv.folds }, (_, f) => String(f + 1).padStart(7)).join(' ')}`.trimEnd());
      cv.rows.forEach((r, k) => {
        const folds = placed ? `  ${''.padEnd('acc by fold'.length)} ${perFold[k]!.map(cell).join(' ')}` : `  acc per fold ${r.accuracy.values.map((v) => percent(v)).join(' ')}`;
        lines.push(`${main(r).padEnd(mainWidth)}${folds}`.trimEnd());
      });
    }
  }
  const sel = model.selection;
  if (sel) {
    lines.push(`Ensemble selection over ${sel.units} (${sel.used ? 'in use' : 'not used'}): ${sel.weights.filter((w) => w.weight > 0).map((w) => `${w.name} ${w.weight.toFixed(3)}${w.fixed ? ' (fixed)' : ''}`).join(', ')}`);
    const width = Math.max(...sel.rows.map((r) => r.label.length));
    for (const r of sel.rows) lines.push(`  ${r.label.padEnd(width)}  acc ${percent(r.accuracy)}  log-loss ${r.logLoss.toFixed(4)}`);
    lines.push(`  ${sel.reason}`);
  }
  for (const w of model.warnings) lines.push(`NOTE: ${w}`);
  return lines;
}

/**
 * The view `name` names (a key such as `ensemble-hard`, a k-fold recipe's or a member's name);
 * UserError otherwise: a member that failed to train says so, with its error and what to do, a
 * recipe without a view (an evaluation before session 44) says how to get one, anything else
 * lists the choices. `runDir`, the run folder, goes into the commands the hints give; `resume`,
 * the command that continues the run (`resumeCommand`), when its run.json is there to say.
 */
export function findView(model: DashboardModel, name: string | undefined, runDir?: string, resume?: string): number {
  if (name === undefined) return Math.max(0, model.views.findIndex((v) => v.key === model.submittedView));
  const index = model.views.findIndex((v) => v.key === name);
  if (index >= 0) return index;
  const run = runDir === undefined ? '<run>' : shellArg(displayPath(runDir));
  // The command that trains failed members again: the run's own when run.json says which made it
  // (both were named until session 45, evaluation.json not recording it).
  const again = (them: string) =>
    resume ? `\`${resume}\` trains ${them} again` : `\`digits train --resume --run ${run}\` trains ${them} again (\`digits run --resume --run ${run}\` for a run \`digits run\` made)`;
  const choices = `Pick one of: ${model.views.map((v) => v.key).join(', ')}.`;
  const where = { flag: 'member' };
  // (until session 44 both were "no member or view named", as a name never heard of)
  const failed = model.failedMembers.find((m) => m.name === name);
  if (failed) {
    const recipe = model.recipes.find((r) => isFoldOf(r.name, name) && model.views.some((v) => v.key === r.name));
    const fold = recipe ? ` Its recipe's out-of-fold view, --member ${shellArg(recipe.name)}, covers the folds that trained.` : '';
    throw new UserError(`member "${name}" of ${model.run} failed to train (${failed.error}), so it has no view`, {
      where,
      hint: `Once what stopped it is put right, ${again('it')}${resume?.startsWith('digits run ') ? ' and scores it' : `, and \`digits evaluate --run ${run}\` scores it`}.${fold} ${choices}`,
    });
  }
  const recipe = model.recipes.find((r) => r.name === name);
  if (recipe) {
    throw new UserError(`"${name}" is a recipe of the k-fold run ${model.run} (fold members ${recipe.members.join(', ')}), and its evaluation has no out-of-fold view of it (evaluations before session 44 kept none)`, {
      where,
      hint: `\`digits evaluate --run ${run}\` evaluates the run again with one. ${choices}`,
    });
  }
  // A recipe none of whose fold members trained is in no figure of the evaluation.
  const folds = model.outOfFold ? model.failedMembers.filter((m) => isFoldOf(name, m.name)) : [];
  if (folds.length > 0) {
    throw new UserError(`every fold member of the recipe "${name}" of ${model.run} failed to train (${folds.map((m) => `${m.name}: ${m.error}`).join('; ')}), so it has no view`, {
      where,
      hint: `Once what stopped them is put right, ${again('them')}${resume?.startsWith('digits run ') ? ' and scores them' : `, and \`digits evaluate --run ${run}\` scores them`}. ${choices}`,
    });
  }
  // The test view exists only when evaluate scored the test answers.
  const test = name === 'test' ? ` The test view needs the test answers: digits evaluate --run ${run} --answers <answers.csv>.` : '';
  throw new UserError(`no member or view named "${name}" in the evaluation of ${model.run}`, {
    where,
    hint: `${choices}${test}`,
  });
}

/* ---------- digits ---------- */

/** Where misread digits come from: images in [0, 1], size×size, by set and row. */
export interface DigitSource {
  size: number;
  image(set: 'train' | 'test', row: number): Float32Array | null;
}

export function digitSourceFromDataset(dataset: Pick<Dataset, 'width' | 'height' | 'scale' | 'trainImages' | 'testImages'>): DigitSource {
  const pixels = dataset.width * dataset.height;
  return {
    size: dataset.width,
    image(set, row) {
      const images = set === 'train' ? dataset.trainImages : dataset.testImages;
      if (!Number.isInteger(row) || row < 0 || (row + 1) * pixels > images.length) return null;
      return Float32Array.from(images.subarray(row * pixels, (row + 1) * pixels), (value) => value / dataset.scale);
    },
  };
}

/**
 * Up to `limit` misread digits of a view as tiles: the first (most confident) example of
 * each pair in order of frequency, then the second of each, and so on. Captioned
 * `4→9 #123` (true → predicted, dataset row).
 */
export function misreadTiles(view: DashboardView, source: DigitSource | null, limit: number): DigitTile[] {
  if (!source) return [];
  const tiles: DigitTile[] = [];
  const depth = Math.max(0, ...view.pairs.map((p) => p.samples.length));
  for (let round = 0; round < depth && tiles.length < limit; round++) {
    for (const pair of view.pairs) {
      if (tiles.length >= limit) break;
      const sample = pair.samples[round];
      if (!sample || sample.row === null) continue;
      const image = source.image(view.set, sample.row);
      if (!image) continue;
      tiles.push({ image, caption: `${pair.trueLabel}→${pair.predicted} #${sample.row}`, label: String(pair.predicted) });
    }
  }
  return tiles;
}

/* ---------- text ---------- */

const SPARKS = '▁▂▃▄▅▆▇█';

/** One character per value, scaled between the values' min and max. */
export function sparkline(values: readonly number[]): string {
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return '';
  const lo = Math.min(...finite);
  const hi = Math.max(...finite);
  // A flat series is a flat line half-way up, not a row of full bars (which reads as "at the top").
  const flat = Math.floor((SPARKS.length - 1) / 2);
  return values.map((v) => (Number.isFinite(v) ? SPARKS[hi === lo ? flat : Math.round(((v - lo) / (hi - lo)) * (SPARKS.length - 1))] : ' ')).join('');
}

/**
 * The tabs that fit on one line of `columns`: a window [start, end) around `index`, grown
 * one tab at a time on alternate sides while the labels (2 columns apart) and the ‹ › markers
 * of hidden tabs still fit.
 */
export function tabWindow(labels: readonly string[], index: number, columns: number): { start: number; end: number } {
  const width = (start: number, end: number) => labels.slice(start, end).reduce((sum, l) => sum + l.length, 0) + 2 * (end - start - 1) + (start > 0 ? 2 : 0) + (end < labels.length ? 2 : 0);
  let start = index;
  let end = index + 1;
  for (let grew = true; grew; ) {
    grew = false;
    if (end < labels.length && width(start, end + 1) <= columns) (end += 1), (grew = true);
    if (start > 0 && width(start - 1, end) <= columns) (start -= 1), (grew = true);
  }
  return { start, end };
}

export const percent = (value: number) => `${(value * 100).toFixed(2)}%`;
export const fraction = (value: number) => value.toFixed(3);

export const CLASS_TABLE_HEADER = 'digit  precision  recall     F1  support';

/** The per-class table as monospace lines (header, ten digits, macro average). */
export function classTableLines(view: DashboardView): string[] {
  const lines = [CLASS_TABLE_HEADER];
  for (const c of view.classes) {
    lines.push(`${String(c.label).padStart(5)}  ${fraction(c.precision).padStart(9)}  ${fraction(c.recall).padStart(6)}  ${fraction(c.f1).padStart(5)}  ${String(c.support).padStart(7)}`);
  }
  const mean = (pick: (c: ClassMetrics) => number) => view.classes.reduce((sum, c) => sum + pick(c), 0) / Math.max(1, view.classes.length);
  const support = view.classes.reduce((sum, c) => sum + c.support, 0);
  lines.push(`${'macro'.padStart(5)}  ${fraction(mean((c) => c.precision)).padStart(9)}  ${fraction(mean((c) => c.recall)).padStart(6)}  ${fraction(mean((c) => c.f1)).padStart(5)}  ${String(support).padStart(7)}`);
  return lines;
}

/** Width of one count in the confusion matrix. */
export function confusionCellWidth(view: DashboardView): number {
  return Math.max(3, ...view.heat.flat().map((cell) => String(cell.count).length)) + 1;
}

/** The confusion matrix as monospace lines; in plain text the diagonal is marked [n]. */
export function confusionLines(view: DashboardView): string[] {
  const width = confusionCellWidth(view) + 2;
  const lines = [`true\\pred${view.heat.map((_, p) => String(p).padStart(width)).join('')}`];
  view.heat.forEach((row, t) => {
    lines.push(`${String(t).padStart(9)}${row.map((cell) => (cell.diagonal ? `[${cell.count}]` : cell.count === 0 ? '·' : String(cell.count)).padStart(width)).join('')}`);
  });
  return lines;
}

export function pairLines(view: DashboardView, limit = 10): string[] {
  if (view.pairs.length === 0) return ['  no mistakes'];
  return view.pairs.slice(0, limit).map((pair) => {
    const where = pair.samples.map((s) => (s.row === null ? `@${s.position}` : `#${s.row}`)).join(' ');
    return `  ${pair.trueLabel} read as ${pair.predicted}  ${String(pair.count).padStart(4)}×  ${view.set === 'test' ? 'test rows' : 'rows'} ${where}`;
  });
}

export function curveLines(model: DashboardModel): string[] {
  if (model.members.length === 0) return ['  no members'];
  const nameWidth = Math.max(6, ...model.members.map((m) => m.name.length));
  return model.members.flatMap((m) => {
    if (m.epochs === 0) return [`  ${m.name.padEnd(nameWidth)}  no training history`];
    const last = m.epochs - 1;
    const tta = m.ttaAccuracy === null ? '' : `  with TTA ${percent(m.ttaAccuracy)}`;
    return [
      `  ${m.name.padEnd(nameWidth)}  ${m.preset}, ${m.epochs} epoch${m.epochs === 1 ? '' : 's'}, best ${m.bestEpoch === null ? '—' : m.bestEpoch + 1}; evaluated ${percent(m.accuracy)}${tta}`,
      `  ${''.padEnd(nameWidth)}  val_acc  ${sparkline(m.valAcc)}  ${percent(m.valAcc[0]!)} → ${percent(m.valAcc[last]!)}`,
      `  ${''.padEnd(nameWidth)}  val_loss ${sparkline(m.valLoss)}  ${m.valLoss[0]!.toFixed(4)} → ${m.valLoss[last]!.toFixed(4)}`,
    ];
  });
}

/** The training curves' heading: they are training's fp32 figures, which an int8 evaluation's beside them need not match. */
export function curvesHeading(model: DashboardModel): string {
  return model.precision === 'fp32' || model.precision === 'unrecorded' ? 'Training curves' : `Training curves (training's own figures, fp32; "evaluated" is ${model.precision})`;
}

export function summaryLines(model: DashboardModel): string[] {
  const keyWidth = Math.max(4, ...model.views.map((v) => v.key.length));
  // The title last: a key such as `test` does not say which vote it is (weighted, beside a weighted submission).
  const lines = [`  ${'view'.padEnd(keyWidth)}  ${'accuracy'.padStart(8)}  ${'log-loss'.padStart(8)}  ${'rows'.padStart(6)}  what`];
  for (const v of model.views) lines.push(`  ${v.key.padEnd(keyWidth)}  ${percent(v.accuracy).padStart(8)}  ${v.logLoss.toFixed(4).padStart(8)}  ${String(v.rows).padStart(6)}  ${v.title}`);
  return lines;
}

export function headerLine(model: DashboardModel): string {
  const weights = model.weights ? `, weights ${model.weights.map((w) => String(Number(w.toFixed(3)))).join('/')}` : '';
  return `Run ${model.run} evaluated ${model.createdAt}${model.precision === 'unrecorded' ? '' : ` in ${model.precision}`} on ${model.heldOutRows} ${model.outOfFold ? 'out-of-fold' : model.outOfBag ? 'out-of-bag' : 'held-out'} rows${weights}; submitted: ${model.submittedVote}`;
}

/**
 * The dashboard as plain text (non-TTY, CI): the summary of every view, then the chosen
 * view's tables, its misread digits (shade characters, when `digits` is given) and the
 * training curves.
 */
export function dashboardText(model: DashboardModel, viewIndex: number, digits?: string): string {
  const v = model.views[viewIndex]!;
  const out = [headerLine(model), '', 'Views', ...summaryLines(model)];
  if (model.testBestMember) out.push(`  on the test answers, ${model.testBestMember.label}: ${model.testBestMember.name} ${percent(model.testBestMember.accuracy)}`);
  const cv = crossValidationLines(model);
  if (cv.length) out.push('', ...cv);
  out.push('', `${v.title}: accuracy ${percent(v.accuracy)}, log-loss ${v.logLoss.toFixed(4)} on ${v.rows} rows`, '', ...classTableLines(v).map((l) => `  ${l}`));
  out.push('', 'Confusion matrix (rows: true digit, columns: predicted; [n] correct)', ...confusionLines(v).map((l) => `  ${l}`));
  out.push('', 'Most confused', ...pairLines(v));
  if (digits) out.push('', digits.trimEnd());
  out.push('', curvesHeading(model), ...curveLines(model));
  return `${out.join('\n')}\n`;
}

/* ---------- heat-map colours ---------- */

// Exact colours of the xterm 256-colour cube, so a 256-colour terminal shows every step
// (a smooth hex ramp collapses to one or two cube colours there).
const MISTAKE_RAMP = ['#5f0000', '#870000', '#af0000', '#d70000', '#ff0000'];
const CORRECT_RAMP = ['#005f00', '#008700', '#00af00'];

function step(ramp: readonly string[], level: number): string {
  return ramp[Math.min(ramp.length - 1, Math.max(0, Math.ceil(level * ramp.length) - 1))]!;
}

/**
 * Background colour of a confusion cell: correct counts in greens, mistakes in reds from
 * dark to bright by count (square-root scale, so rare confusions still show), empty
 * cells none. Hex, for Ink's backgroundColor.
 */
export function heatColor(cell: HeatCell): string | null {
  if (cell.count === 0) return null;
  const level = Math.min(1, Math.max(0, cell.level));
  return cell.diagonal ? step(CORRECT_RAMP, level) : step(MISTAKE_RAMP, Math.sqrt(level));
}

/**
 * The images behind a report's row indices: the dataset cache it was evaluated on, when it
 * is still there with the same fingerprint. Otherwise null and a note saying why (the
 * dashboard and report then list rows without drawing them).
 */
export async function digitSourceForReport(report: EvaluationReport, runDir: string, relocated?: string | null): Promise<{ source: DigitSource | null; note: string | null }> {
  // evaluation.json stores the dataset relative to the run folder (absolute in older ones; of a
  // project since moved whole, `relocated` is where the same dataset is now: `relocatedDatasetDir`).
  const dir = relocated ?? path.resolve(runDir, report.dataset.dir);
  const dataset = await loadDataset(dir).catch((error: Error) => error);
  // (until session 43 both notes said to re-run `digits evaluate`, which refuses a run whose data changed, and finds no data for a moved run)
  if (dataset instanceof Error) {
    return { source: null, note: `misread digits not drawn: ${dataset.message}; the digits come from the dataset the evaluation names (${report.dataset.dir}, from the run folder): import the competition there, or evaluate the run on its data where it is now (digits evaluate --run ${shellArg(runDir)} --data <competition>)` };
  }
  if (dataset.fingerprint !== report.dataset.fingerprint) {
    return { source: null, note: `misread digits not drawn: the dataset in ${dataset.dir} is not the one evaluated (imported again from other files since; fingerprint differs): import the competition the run was trained on there again` };
  }
  return { source: digitSourceFromDataset(dataset), note: null };
}
