/**
 * `digits runs`: the runs under runs/ with their scores (CV, held-out, and test when a
 * submission of the run was scored against answers in the ledger), what differs between
 * their recipes, and their time; `digits runs compare A B` side by side.
 *
 * Everything is read from the run folders (run.json, evaluation.json) and the submissions
 * ledger; nothing is recomputed.
 */
import { lstat, readdir, readFile, readlink, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { UserError, formatLocation, type ErrorLocation } from '../errors.js';
import { readLedger, type LedgerEntry } from '../data/submission.js';
import type { MeanSd } from '../evaluation/cross-validation.js';
import { submittedVariant, submittedVote, type EvaluationReport } from '../evaluation/evaluation-report.js';
import { readCurrentEvaluation, type RunEvaluation } from '../runs/current-evaluation.js';
import { currentHolder } from '../runs/lock.js';
import { abandonedRunFolders } from '../runs/new-folder.js';
import { isRelocatedRun } from '../runs/relocate.js';
import { AUTO_FILE, DAMAGED_RUN_MANIFEST_HINT, ROUND1_DIR, RUN_MANIFEST, olderUnfinishedRun, olderUnfinishedRunError, parseRunManifest, resolveStoredPath, resumeCommand, runSubmissionsDir, runsSubmissionsDir, type RunManifest } from '../runs/manifest.js';
import { COMPLETE_MARKER } from '../model/checkpoint.js';
import { DEFAULT_DATASET_SUBDIR } from '../data/dataset.js';
import type { MemberConfig } from '../training/train-member.js';
import { validatedWhereSelected, type ValidationSpec } from '../ensemble/ensemble-spec.js';
import { displayPath, shellArg } from '../data/format.js';

export interface Score {
  accuracy: number;
  logLoss: number;
}

export interface RunSummary {
  name: string;
  dir: string;
  createdAt: string;
  /** the members' training (run.json's `seconds`): not auto's choosing, the evaluation or the submission that `digits run` adds */
  seconds: number;
  ensemble: string;
  /**
   * the dataset the run was trained and evaluated on: its folder as run.json records it (made
   * absolute), the competition's name (that folder's, or the one holding its `.digits/`) and its
   * fingerprint; runs on other data are not comparable (until session 43 nothing said so)
   */
  data: { dir: string; name: string; fingerprint: string };
  validation: string;
  /** recipes (member entries of the ensemble) */
  recipes: number;
  /**
   * the members the run trains, as planned in run.json before the first epoch (one per recipe,
   * one per recipe and fold under k-fold), trained or not yet
   */
  members: number;
  /**
   * of them, those with a best checkpoint: once training ended, the members that trained; while
   * it trains or after an interruption (run.json lists no outcome yet), those that saved one so far
   */
  checkpointed: number;
  failed: number;
  /** k-fold runs: the equal soft vote's CV figures over the folds (with TTA when the run submits with it) */
  cv: { folds: number; accuracy: MeanSd; logLoss: MeanSd } | null;
  /**
   * the equal soft vote (with TTA when the run submits with it) on rows no member trained on;
   * `outOfBag`: a bagged run's, each row voted by the members that held it out (pessimistic)
   */
  heldOut: (Score & { rows: number; outOfBag?: true }) | null;
  /**
   * ensemble selection's honest (cross-fitted) figure on the same rows, when the submission uses
   * its weights: then it, not `heldOut` nor `cv` (the equal vote's), is the submitted vote's
   */
  weighted: Score | null;
  /**
   * what chose the members on the very rows the held-out figures are of (a search's ensemble
   * file trained on its holdout): those figures are optimistic; null otherwise
   */
  heldOutSelectedBy: string | null;
  /** the latest submission of this run scored against an answers file */
  test: { accuracy: number; answers: string; file: string; createdAt: string } | null;
  /** `key=value` of this run's recipes that differ from the run listed before it */
  differences: string[];
  /**
   * where the run is: `training` (a process holds its lock), `interrupted` (left training by a
   * process that is gone), `failed` (no member trained), `trained` (not evaluated), `evaluated`;
   * `evaluation-damaged` (its evaluation.json is refused as dashboard and submit refuse it) and
   * `evaluation-outdated` (its evaluation.json is of other members, another dataset or an
   * earlier training) have no scores, and the note says why
   */
  state: RunState;
  /** why the run has no scores, when it has none, and the command that goes on */
  note: string | null;
}

export type RunState = 'training' | 'interrupted' | 'failed' | 'trained' | 'evaluated' | 'evaluation-damaged' | 'evaluation-outdated';

export interface ListRunsOptions {
  /** folder of run folders (default ./runs) */
  runsDir: string;
  /**
   * the submissions folder whose ledger scores runs on test answers; default: the runs' project's,
   * as `digits submit` chooses it (`runSubmissionsDir`: `<project>/submissions` for runs in
   * `<project>/runs/`, else ./submissions)
   */
  submissionsDir?: string;
  /**
   * Folders the user named (`--runs-dir`, `--submissions`) must exist: a mistyped one is an
   * error, where the defaults may be missing in a project that has no run or submission yet.
   */
  given?: { runsDir?: boolean; submissionsDir?: boolean };
  /** what the list is shown without: a damaged ledger line (named `ledger.jsonl:<line>`), a torn one, a ledger that cannot be read */
  onWarning?: (message: string) => void;
}

/** A named folder that is missing, or a run folder given where the folder of runs is meant. */
async function checkFolders(options: ListRunsOptions): Promise<void> {
  if (options.given?.runsDir) {
    if (!(await isFolder(options.runsDir))) {
      if (await exists(options.runsDir)) throw new UserError(`--runs-dir ${options.runsDir} is a file, not a folder`, { where: { file: options.runsDir, flag: 'runs-dir' }, hint: 'Name the folder that holds the run folders (runs/ of the project, the default).' });
      throw new UserError(`--runs-dir ${options.runsDir}: no such folder`, { where: { flag: 'runs-dir' }, hint: 'Name the folder that holds the run folders (runs/ of the project, the default).' });
    }
    if (await exists(path.join(options.runsDir, RUN_MANIFEST))) {
      throw new UserError(`--runs-dir ${options.runsDir} is a run folder, not a folder of runs`, { where: { flag: 'runs-dir' }, hint: `Name the folder that holds it: --runs-dir ${path.dirname(options.runsDir)}.` });
    }
  }
  if (options.given?.submissionsDir && options.submissionsDir !== undefined && !(await isFolder(options.submissionsDir))) {
    if (await exists(options.submissionsDir)) throw new UserError(`--submissions ${options.submissionsDir} is a file, not a folder`, { where: { file: options.submissionsDir, flag: 'submissions' }, hint: 'Name the folder digits submit wrote to (submissions/ of the project, the default).' });
    throw new UserError(`--submissions ${options.submissionsDir}: no such folder`, { where: { flag: 'submissions' }, hint: 'Name the folder digits submit wrote to (submissions/ of the project, the default).' });
  }
}

async function isFolder(dir: string): Promise<boolean> {
  return (await stat(dir).catch(() => null))?.isDirectory() ?? false;
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

/**
 * How a run's members were validated, seed included: scores on other held-out rows (another
 * seed of one split) are not comparable, so the seed is part of what differs between runs
 * (until session 36 two runs on other rows both read `shared 50%`). Bagged members hold out
 * rows seeded by their own seeds, which the recipe keys show; a saved split is named.
 */
export function describeValidation(v: ValidationSpec | undefined): string {
  if (!v) return '?';
  if (v.kind === 'kfold') return v.split ? `kfold ${v.split}` : `kfold ${v.folds} seed ${v.seed}`;
  if (v.kind === 'bagged') return `bagged ${Math.round(v.fraction * 100)}%`;
  return `shared ${Math.round(v.fraction * 100)}% seed ${v.seed}${v.split ? ` (split ${v.split})` : ''}`;
}

/** The knobs of a recipe that a comparison shows (the name is how recipes are matched). */
const RECIPE_KEYS: ReadonlyArray<keyof MemberConfig> = [
  'preset', 'init', 'optimizer', 'learningRate', 'momentum', 'schedule', 'reduceLROnPlateau', 'earlyStopping',
  'labelSmoothing', 'ema', 'l2', 'augmentation', 'epochs', 'batchSize', 'seed', 'freezeUpTo',
];

const show = (value: unknown): string => (value === undefined ? '-' : typeof value === 'string' ? value : JSON.stringify(value));

/** The competition a dataset folder is of: its own name, or the folder's that holds it as `.digits/`. */
function competitionName(datasetDir: string): string {
  const parts = datasetDir.split(/[\\/]/).filter((p) => p !== '' && p !== '.');
  const name = parts.at(-1) === DEFAULT_DATASET_SUBDIR ? parts.at(-2) : parts.at(-1);
  return name === undefined || name === '..' ? datasetDir : name;
}

/** A dataset as runs tell it apart: the competition's name and the first 8 hex digits of its fingerprint (`comp2 (9b1c0e2a)`), as a re-import of one folder is other data. */
export function describeData(data: Pick<RunSummary['data'], 'name' | 'fingerprint'>): string {
  return `${data.name} (${data.fingerprint.replace(/^sha256:/, '').slice(0, 8)})`;
}

/** A checkpoint path by its last two folders (`mnist-noisy/seed002`): what tells starting points apart. */
function shortPath(p: string | undefined): string {
  return p === undefined ? '-' : p.split(/[\\/]/).filter(Boolean).slice(-2).join('/');
}

/**
 * One run's recipes summed up as `key → value`: the ensemble's validation, recipe count and
 * extra training rows, and per knob the value its recipes use, or when they differ each
 * recipe's in order (`rmsprop|adam|adam`): a set of values (as until session 36) made
 * [rmsprop, adam, adam] and [rmsprop, rmsprop, adam] the same.
 */
export function recipeSignature(manifest: Pick<RunManifest, 'ensemble' | 'extra'> & Partial<Pick<RunManifest, 'dataset'>>, runDir?: string): Map<string, string> {
  const out = new Map<string, string>();
  // The data first: figures on other data are not comparable, whatever the recipes. (Its folder
  // is relative to the run folder in run.json: named from where it resolves, not `../../.digits`.)
  if (manifest.dataset) out.set('data', describeData({ name: competitionName(runDir ? resolveStoredPath(runDir, manifest.dataset.dir) : manifest.dataset.dir), fingerprint: manifest.dataset.fingerprint }));
  out.set('validation', describeValidation(manifest.ensemble.validation));
  out.set('recipes', String(manifest.ensemble.members.length));
  // rows every member trained on beside the competition's (corrections, pseudo-labels, synthetic rows)
  out.set('extra rows', manifest.extra ? `${manifest.extra.rows} (${path.basename(manifest.extra.file)})` : '0');
  for (const key of RECIPE_KEYS) {
    const values = manifest.ensemble.members.map((m) => (key === 'init' ? shortPath(m.init) : show(m[key])));
    out.set(key, new Set(values).size <= 1 ? (values[0] ?? '-') : values.join('|'));
  }
  return out;
}

/**
 * Per run, the `key=value` pairs in which it differs from the run before it (the list is
 * oldest first, so each row reads as "what changed"); the first run has none.
 */
export function recipeDifferences(signatures: ReadonlyArray<Map<string, string>>): string[][] {
  return signatures.map((s, i) => {
    if (i === 0) return [];
    const previous = signatures[i - 1]!;
    const keys = [...new Set([...previous.keys(), ...s.keys()])];
    return keys.filter((k) => (s.get(k) ?? '-') !== (previous.get(k) ?? '-')).map((k) => `${k}=${s.get(k) ?? '-'}`);
  });
}

/**
 * The ledger whose scored submissions give the runs their test scores. A damaged line is a
 * warning naming `ledger.jsonl:<line>` and is skipped, the other lines' scores still shown (until
 * session 43 one damaged line made every run's test score vanish without a word, while
 * `digits submissions` refused the ledger); a ledger that cannot be read at all is a warning
 * too: the table is of use without test scores.
 */
async function ledgerForRuns(dir: string, onWarning: (message: string) => void = () => {}): Promise<LedgerEntry[]> {
  const at = (where: ErrorLocation | undefined) => formatLocation(where && { ...where, file: where.file && displayPath(where.file) });
  try {
    return await readLedger(dir, { onWarning, onDamagedLine: (error) => onWarning(`${at(error.where)}: ${error.message}: skipped, so a test score it holds is not shown. ${error.hint ?? ''}`.trimEnd()) });
  } catch (error) {
    if (!(error instanceof UserError)) throw error;
    onWarning(`no test scores: ${error.message}${error.where ? ` (${at(error.where)})` : ''}`);
    return [];
  }
}

function latestTestScore(dir: string, ledger: readonly LedgerEntry[], submissionsDir: string): RunSummary['test'] {
  // Ledger paths are stored relative to the submissions folder (absolute in older ledgers: in a
  // project moved since, the run is at the same place relative to the ledger, isRelocatedRun;
  // until session 44 its test score was dropped without a word).
  const scored = ledger.filter((e) => e.score && (path.resolve(submissionsDir, e.run) === dir || isRelocatedRun(e.run, submissionsDir, dir))).sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  const last = scored.at(-1);
  // (the ledger's paths are relative to its folder: given as full paths, so that `runs --json` names
  // files a reader can open from anywhere; until session 44 they were the ledger's, `../competitions/…`)
  return last ? { accuracy: last.score!.accuracy, answers: path.resolve(submissionsDir, last.score!.answers), file: path.resolve(submissionsDir, last.file), createdAt: last.createdAt } : null;
}

interface LoadedRun {
  manifest: RunManifest;
  evaluation: EvaluationReport | null;
  summary: Omit<RunSummary, 'differences'>;
}

/**
 * A folder's run.json, read once: the manifest, or why it cannot be read as a run (the error
 * `evaluate`, `report` and `submit` give for it: damaged, `file:line:column`, restore it), or
 * null when there is none (a folder without one, e.g. a search folder, is no run).
 */
async function readRunManifestOf(dir: string): Promise<RunManifest | UserError | null> {
  const file = path.join(dir, RUN_MANIFEST);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? null : new UserError(`cannot read the run's ${RUN_MANIFEST} (${code ?? (error as Error).message})`, { where: { file }, hint: 'Check the file and its permissions.' });
  }
  let manifest: Partial<RunManifest> | null;
  try {
    manifest = parseRunManifest(text, file);
  } catch (error) {
    if (error instanceof UserError) return error;
    throw error;
  }
  return manifest?.format !== 'digits-run' || !Array.isArray(manifest.members)
    ? new UserError(`the run's ${RUN_MANIFEST} is not a digits run manifest (no "format": "digits-run" and list of members)`, { where: { file }, hint: DAMAGED_RUN_MANIFEST_HINT })
    : (manifest as RunManifest);
}

/** A run folder's figures; an error says why its run.json is not a run; null: no run.json (nor a first round). */
async function loadRun(dir: string, ledger: readonly LedgerEntry[], submissionsDir: string): Promise<LoadedRun | UserError | null> {
  let manifest = await readRunManifestOf(dir);
  // A pseudo-labelling run stopped in its first round has only round1/run.json (and auto.json)
  // yet: it is listed as interrupted, with the command that continues it (it was not listed).
  const round1 = manifest === null && (await exists(path.join(dir, AUTO_FILE))) ? await readRunManifestOf(path.join(dir, ROUND1_DIR)) : null;
  if (round1 !== null && !(round1 instanceof UserError)) manifest = round1;
  if (manifest === null || manifest instanceof UserError) return manifest;
  const firstRound = manifest === round1;
  const state = firstRound ? ((await currentHolder(path.join(dir, ROUND1_DIR))) ? 'training' : 'interrupted') : await runState(dir, manifest);
  // Figures only from an evaluation of the run as it is now (never of an unfinished training).
  const e = typeof state === 'object' && state.evaluation.kind === 'current' ? state.evaluation.report : null;
  const vote = e ? submittedVote(e) : null;
  // Figures of the variant the submission uses (with or without TTA, as evaluate chose).
  const cvVote = e?.cv ? submittedVariant(e, e.cv.ensemble, e.cv.ensemble.tta) : null;
  const cv = e?.cv && cvVote ? { folds: e.cv.folds, accuracy: cvVote.accuracy, logLoss: cvVote.logLoss } : null;
  const selection = e?.ensemble.selection;
  const failed = manifest.members.filter((m) => !m.ok).length;
  const planned = plannedMembers(manifest);
  // A pseudo-labelling run's training is both rounds' (it counted round 2's alone)
  const firstRoundSeconds = !firstRound && (await exists(path.join(dir, AUTO_FILE))) ? await readRunManifestOf(path.join(dir, ROUND1_DIR)).then((m) => (m && !(m instanceof UserError) ? m.seconds : 0)) : 0;
  return {
    manifest,
    evaluation: e,
    summary: {
      name: manifest.name ?? path.basename(dir),
      dir,
      createdAt: manifest.createdAt,
      seconds: manifest.seconds + firstRoundSeconds,
      ensemble: manifest.ensemble?.name ?? '?',
      data: { dir: resolveStoredPath(dir, manifest.dataset?.dir ?? ''), name: manifest.dataset ? competitionName(resolveStoredPath(dir, manifest.dataset.dir)) : '?', fingerprint: manifest.dataset?.fingerprint ?? '' },
      validation: describeValidation(manifest.ensemble?.validation),
      recipes: manifest.ensemble?.members.length ?? 0,
      members: planned.length,
      checkpointed: await checkpointedMembers(firstRound ? path.join(dir, ROUND1_DIR) : dir, manifest, planned),
      failed,
      cv,
      heldOut: vote ? { rows: vote.rows, accuracy: vote.accuracy, logLoss: vote.logLoss, ...(e?.ensemble.outOfBag ? { outOfBag: true as const } : {}) } : null,
      weighted: selection?.used ? selection.crossFitted : null,
      // From run.json and the evaluation's dataset, so evaluations written before the note say it too.
      heldOutSelectedBy: e && manifest.ensemble?.selectedOn && validatedWhereSelected(manifest.ensemble, e.dataset.fingerprint) ? manifest.ensemble.selectedOn.by : null,
      test: latestTestScore(dir, ledger, submissionsDir),
      state: stateName(state),
      note: firstRound
        ? state === 'training'
          ? 'still training (round 1 of pseudo-labelling)'
          : `pseudo-labelling stopped in round 1 (digits run --resume --run ${shellArg(dir)})`
        : runNote(state, dir, manifest),
    },
  };
}

/**
 * The names of the members a run trains: run.json's plan (`splits`, written before the first
 * epoch); for runs written before it, the outcomes, or the ensemble's entries while there are none.
 * run.json's `members` are outcomes, empty until training ends.
 */
function plannedMembers(manifest: RunManifest): string[] {
  if (manifest.splits) return manifest.splits.map((s) => s.member);
  return (manifest.members.length ? manifest.members : manifest.ensemble?.members ?? []).map((m) => m.name);
}

/**
 * Members with a complete best checkpoint: the trained outcomes whose checkpoint is still there (a
 * deleted one was counted until session 38, so the run read as whole and evaluate then failed on
 * it), or before there are outcomes, the complete `<member>/best/` saved so far.
 */
async function checkpointedMembers(dir: string, manifest: RunManifest, planned: readonly string[]): Promise<number> {
  if (manifest.members.length) {
    const present = await Promise.all(manifest.members.map((m) => (m.ok && m.checkpoint ? exists(path.join(dir, m.checkpoint, COMPLETE_MARKER)) : false)));
    return present.filter(Boolean).length;
  }
  const saved = await Promise.all(planned.map((name) => exists(path.join(dir, name, 'best', COMPLETE_MARKER))));
  return saved.filter(Boolean).length;
}

/** An unfinished run's state, or a trained run's evaluation (what it says depends on it). */
type LoadedState = 'training' | 'interrupted' | 'failed' | { evaluation: RunEvaluation };

async function runState(dir: string, manifest: RunManifest): Promise<LoadedState> {
  if (manifest.status === 'training') return (await currentHolder(dir)) ? 'training' : 'interrupted';
  if (manifest.status === 'failed' && !manifest.members.some((m) => m.ok)) return 'failed';
  return { evaluation: await readCurrentEvaluation(dir, manifest) };
}

function stateName(state: LoadedState): RunState {
  if (typeof state === 'string') return state;
  const { evaluation } = state;
  return evaluation.kind === 'none' ? 'trained' : evaluation.kind === 'current' ? 'evaluated' : `evaluation-${evaluation.kind}`;
}

function runNote(loaded: LoadedState, dir: string, manifest: RunManifest): string | null {
  switch (loaded) {
    case 'training':
      return 'still training (evaluate it when it ends)';
    case 'interrupted':
      return `training interrupted (${resumeCommand(dir, manifest)})`;
    case 'failed':
      return `training failed${manifest.error ? `: ${manifest.error.split('\n')[0]}` : ''} (fix the cause, then ${resumeCommand(dir, manifest)})`;
  }
  const { evaluation } = loaded;
  switch (evaluation.kind) {
    case 'none':
      return `not evaluated (digits evaluate --run ${shellArg(dir)})`;
    case 'current':
      return null;
    default:
      return `not usably evaluated: ${evaluation.problem} (digits evaluate --run ${shellArg(dir)})`;
  }
}

/**
 * The folders under runs/, a symbolic link to a folder included: it is a run where it stands
 * (`runs compare` and `report` took it, and until session 43 `runs` left it out without a word).
 */
async function runFolders(runsDir: string, onWarning?: (message: string) => void): Promise<string[]> {
  const root = path.resolve(runsDir);
  const entries = await readdir(root, { withFileTypes: true }).catch(() => []);
  const folders = await Promise.all(
    entries.map(async (e) => {
      const dir = path.join(root, e.name);
      if (e.isDirectory() || (e.isSymbolicLink() && (await isFolder(dir)))) return dir;
      // A link whose folder is gone (moved, deleted, an unplugged disk) is named, not skipped in silence (until session 48).
      if (e.isSymbolicLink() && !(await exists(dir))) onWarning?.(`${danglingLink(dir, await readlink(dir))}: it is left out (remove the link, or put the run back where it points)`);
      return null;
    }),
  );
  return folders.filter((dir): dir is string => dir !== null);
}

/** What a link under runs/ whose folder is gone is said to be. */
function danglingLink(dir: string, target: string): string {
  return `${dir} is a link to ${target}, which is not there`;
}

/** The runs under a folder, and the folders whose run.json could not be read as one (named, not skipped in silence). */
export interface RunList {
  runs: RunSummary[];
  /** `reason`: what is wrong, at `where` (run.json, with line and column when it is not JSON); `hint`: what to do */
  damaged: Array<{ dir: string; reason: string; where: ErrorLocation | null; hint: string | null }>;
  /** folders of runs killed before they saved anything resumable (no run.json): the next `digits run` removes them */
  abandoned: Array<{ dir: string; pid: number; startedAt: string; command: string }>;
  /**
   * unfinished runs of an older digits (member folders with checkpoints, no run.json: it was
   * written only when training ended), which cannot be resumed or evaluated: `reason` says so,
   * `hint` what of them can still be used (until session 44 they were not named at all)
   */
  older: Array<{ dir: string; members: string[]; reason: string; hint: string | null }>;
}

/** Every run under `runsDir` (oldest first), with its scores and how its recipes differ from the others'. */
export async function listRuns(options: ListRunsOptions): Promise<RunList> {
  await checkFolders(options);
  const submissionsDir = options.submissionsDir ?? runsSubmissionsDir(options.runsDir);
  const ledger = await ledgerForRuns(submissionsDir, options.onWarning);
  const loaded: LoadedRun[] = [];
  const damaged: RunList['damaged'] = [];
  const older: RunList['older'] = [];
  for (const dir of await runFolders(options.runsDir, options.onWarning)) {
    const run = await loadRun(dir, ledger, submissionsDir);
    if (run instanceof UserError) damaged.push({ dir, reason: run.message, where: run.where ?? null, hint: run.hint ?? null });
    else if (run) loaded.push(run);
    else {
      const unfinished = await olderUnfinishedRun(dir);
      if (unfinished) {
        const error = olderUnfinishedRunError(dir, unfinished);
        older.push({ dir, members: unfinished.members, reason: error.message, hint: error.hint ?? null });
      }
    }
  }
  // Copies of a run share its createdAt and name: their folders order them.
  loaded.sort((a, b) => a.summary.createdAt.localeCompare(b.summary.createdAt) || a.summary.name.localeCompare(b.summary.name) || a.summary.dir.localeCompare(b.summary.dir));
  const differences = recipeDifferences(loaded.map((r) => recipeSignature(r.manifest, r.summary.dir)));
  const abandoned = (await abandonedRunFolders(path.resolve(options.runsDir))).map(({ dir, holder }) => ({ dir, pid: holder.pid, startedAt: holder.startedAt, command: holder.command }));
  return { runs: loaded.map((r, i) => ({ ...r.summary, differences: differences[i]! })), damaged, abandoned, older };
}

export interface FieldDifference {
  key: string;
  a: string;
  b: string;
}

export interface RunComparison {
  a: RunSummary;
  b: RunSummary;
  /** ensemble-level differences (the data, validation, number of recipes, extra rows) */
  ensemble: FieldDifference[];
  /** both runs were trained and evaluated on one dataset (one fingerprint): else their figures are not comparable */
  sameData: boolean;
  /**
   * recipes matched by name: the knobs that differ, or on which side only it is, and its
   * accuracy in each run (k-fold: the CV mean over its folds; else the member on its own
   * held-out rows; with TTA when evaluated with it)
   */
  recipes: Array<{ name: string; in: 'both' | 'a' | 'b'; differences: FieldDifference[]; accuracy: { a: number | null; b: number | null } }>;
  /** per member name, its accuracy on its own held-out rows in each run (null: not in that run or not evaluated) */
  members: Array<{ name: string; a: number | null; b: number | null }>;
  /** both sides name one run folder (nothing differs because nothing can) */
  sameRun: boolean;
}

export interface CompareRunsOptions extends ListRunsOptions {
  /** run names under runsDir, or run folders */
  a: string;
  b: string;
}

async function resolveRun(runsDir: string, nameOrDir: string, flag: string): Promise<string> {
  const candidates = [path.resolve(nameOrDir), path.resolve(runsDir, nameOrDir)];
  // A run.json that cannot be read is loadRun's to describe (damaged, not "no run").
  for (const dir of candidates) if (await exists(path.join(dir, RUN_MANIFEST))) return dir;
  const folder = (await Promise.all(candidates.map(async (dir) => ((await isFolder(dir)) ? dir : null)))).find((dir) => dir !== null);
  const known: string[] = [];
  // Only folders whose run.json reads as a run are offered (a damaged one was listed until session 36).
  for (const dir of await runFolders(runsDir)) {
    const manifest = await readRunManifestOf(dir);
    if (manifest !== null && !(manifest instanceof UserError)) known.push(path.basename(dir));
  }
  const hint = known.length ? `Runs under ${path.resolve(runsDir)}: ${known.join(', ')}.` : `There is no run under ${path.resolve(runsDir)}; train one with digits train.`;
  // (a link whose folder is gone was "no run named ghost")
  for (const dir of candidates) {
    const link = (await lstat(dir).catch(() => null))?.isSymbolicLink() && !(await exists(dir));
    if (link) throw new UserError(`${danglingLink(dir, await readlink(dir))} (run ${flag.toUpperCase()} of the comparison)`, { where: { file: dir }, hint: `Remove the link, or put the run back where it points. ${hint}` });
  }
  if (folder) {
    const unfinished = await olderUnfinishedRun(folder);
    if (unfinished) {
      const error = olderUnfinishedRunError(folder, unfinished);
      throw new UserError(`${error.message} (run ${flag.toUpperCase()} of the comparison)`, { where: error.where, hint: error.hint });
    }
    const search = await exists(path.join(folder, 'search.json'));
    throw new UserError(`${folder} is not a run: it holds no ${RUN_MANIFEST}${search ? ' (it is a digits search folder: its trials are compared in its leaderboard)' : ''} (run ${flag.toUpperCase()} of the comparison)`, { where: { file: folder }, hint });
  }
  throw new UserError(`no run named ${nameOrDir} (run ${flag.toUpperCase()} of the comparison)`, { where: { file: path.resolve(runsDir) }, hint });
}

export async function compareRuns(options: CompareRunsOptions): Promise<RunComparison> {
  // (a --runs-dir typed is checked here too: a mistyped one was ignored when both runs were named
  // by path, and otherwise read "no run named a", until session 48)
  await checkFolders(options);
  const [dirA, dirB] = [await resolveRun(options.runsDir, options.a, 'a'), await resolveRun(options.runsDir, options.b, 'b')];
  // Each run's test score from its own project's ledger (runs named by path may be of two projects), read once.
  const ledgers = new Map<string, Promise<LedgerEntry[]>>();
  const load = (dir: string) => {
    const submissionsDir = options.submissionsDir ?? runSubmissionsDir(dir);
    if (!ledgers.has(submissionsDir)) ledgers.set(submissionsDir, ledgerForRuns(submissionsDir, options.onWarning));
    return ledgers.get(submissionsDir)!.then((ledger) => loadRun(dir, ledger, submissionsDir));
  };
  const runA = await load(dirA);
  const runB = await load(dirB);
  // A damaged run.json is the error evaluate, report and submit give (it was "not a digits run", to compare "folders written by digits train", until session 43).
  for (const run of [runA, runB]) if (run instanceof UserError) throw run;
  // (resolveRun found a run.json in each, or a first round's)
  if (!runA || !runB || runA instanceof UserError || runB instanceof UserError) throw new Error('compareRuns: a resolved run folder has no run.json');
  const [signatureA, signatureB] = [recipeSignature(runA.manifest, runA.summary.dir), recipeSignature(runB.manifest, runB.summary.dir)];
  const [diffA, diffB] = recipeDifferences([signatureA, signatureB]);
  const ensemble: FieldDifference[] = [];
  for (const key of ['data', 'validation', 'recipes', 'extra rows']) {
    const a = signatureA.get(key)!;
    const b = signatureB.get(key)!;
    if (a !== b) ensemble.push({ key, a, b });
  }
  const recipesA = new Map(runA.manifest.ensemble.members.map((m) => [m.name, m]));
  const recipesB = new Map(runB.manifest.ensemble.members.map((m) => [m.name, m]));
  const names = [...new Set([...recipesA.keys(), ...recipesB.keys()])];
  const recipeAccuracy = (run: LoadedRun, name: string): number | null => {
    const evaluation = run.evaluation;
    if (!evaluation) return null;
    const cv = evaluation.cv?.recipes.find((r) => r.name === name);
    if (cv) return submittedVariant(evaluation, cv, cv.tta).accuracy.mean;
    const member = evaluation.members.find((m) => m.name === name);
    return member ? submittedVariant(evaluation, member.metrics, member.tta).accuracy : null;
  };
  const recipes = names.map((name) => {
    const a = recipesA.get(name);
    const b = recipesB.get(name);
    const accuracy = { a: recipeAccuracy(runA, name), b: recipeAccuracy(runB, name) };
    if (!a || !b) return { name, in: (a ? 'a' : 'b') as 'a' | 'b', differences: [], accuracy };
    const differences = RECIPE_KEYS.filter((k) => show(a[k]) !== show(b[k])).map((k) => ({ key: k, a: show(a[k]), b: show(b[k]) }));
    return { name, in: 'both' as const, differences, accuracy };
  });
  // As the recipes above and the run's submission: with TTA only when the run submits with it.
  const accuracy = (run: LoadedRun) => new Map((run.evaluation?.members ?? []).map((m) => [m.name, submittedVariant(run.evaluation!, m.metrics, m.tta).accuracy]));
  const accA = accuracy(runA);
  const accB = accuracy(runB);
  const memberNames = [...new Set([...runA.manifest.members.map((m) => m.name), ...runB.manifest.members.map((m) => m.name)])];
  return {
    a: { ...runA.summary, differences: diffA! },
    b: { ...runB.summary, differences: diffB! },
    ensemble,
    sameData: runA.manifest.dataset?.fingerprint === runB.manifest.dataset?.fingerprint,
    recipes,
    members: memberNames.map((name) => ({ name, a: accA.get(name) ?? null, b: accB.get(name) ?? null })),
    sameRun: (await realpath(dirA)) === (await realpath(dirB)),
  };
}
