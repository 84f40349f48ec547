/**
 * The run-folder format: `run.json` (what was trained, on which data, how it went) and how
 * to find runs. Everything downstream (evaluate, submit, dashboard, serve) reads a run
 * through this module instead of flags.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { writeJsonAtomic } from '../atomic-file.js';
import path from 'node:path';
import { parseJsonFile, runIsAFile, UserError } from '../errors.js';
import { fileInTheWay, folderBlocked } from '../output-folder.js';
import { DEFAULT_DATASET_SUBDIR, MANIFEST_FILE, assertSourcesUnchanged, loadDataset, readManifest, resolveDatasetDir, type Dataset } from '../data/dataset.js';
import type { EnsembleSpec } from '../ensemble/ensemble-spec.js';
import { EVALUATION_FILE, readEvaluationIfAny, readEvaluationReport, type EvaluationReport } from '../evaluation/evaluation-report.js';
import type { AutoRecord } from '../ensemble/auto.js';
import type { MemberConfig } from '../training/train-member.js';
import { LOCK_FILE, assertNotHeld, currentHolderSync } from './lock.js';
import { DEFAULT_SUBMISSIONS_DIR, readLedger } from '../data/submission.js';
import { assertCurrentEvaluation } from './current-evaluation.js';
import { isStaleTemp } from '../atomic-file.js';
import { displayPath, shellArg } from '../data/format.js';
import { relocatedDatasetDir } from './relocate.js';

export async function readRunManifest(runDir: string): Promise<RunManifest> {
  const file = path.join(runDir, RUN_MANIFEST);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOTDIR') {
      // (`--run afile/x`: the file is afile, and afile/x is no file at all)
      const blocker = await fileInTheWay(runDir);
      if (blocker === null || path.resolve(blocker) === path.resolve(runDir)) throw runIsAFile(runDir);
      throw new UserError(`no training run in ${runDir}: ${blocker} is a file, not a folder`, { where: { file: blocker, flag: 'run' }, hint: 'Name a run folder (`digits runs` lists them), or train one with `digits run --data <competition>`.' });
    }
    // A bare run name (as `digits runs` lists it) typed where a folder is meant: name the folder.
    const named = path.join('runs', path.basename(runDir));
    const guess = path.resolve(named) !== path.resolve(runDir) && (await readFile(path.join(named, RUN_MANIFEST)).then(() => true, () => false));
    // An older digits' unfinished run (run.json came only at the end): said what it is, not "no run".
    const older = await olderUnfinishedRun(runDir);
    if (older) throw olderUnfinishedRunError(runDir, older);
    // A search's folder (search.json, its trials, ensemble.json of the best) is not a run: say what it holds.
    const search = existsSync(path.join(runDir, 'search.json'));
    // (a folder that is not there is said so: "no training run in" pointed at its run.json)
    const missing = !existsSync(runDir);
    throw new UserError(missing ? `there is no folder ${runDir}` : `no training run in ${runDir}${search ? ': it is a search folder' : ''}`, {
      where: missing ? { file: runDir, flag: 'run' } : { file },
      hint: search
        ? `Its best trials are in ${shellArg(path.join(runDir, 'ensemble.json'))} once the search has finished: \`digits train --ensemble ${shellArg(path.join(runDir, 'ensemble.json'))} --data <competition>\` trains them as a run, which --run then takes.`
        : guess
          ? `Did you mean --run ${shellArg(named)}? (--run takes the run's folder.)`
          : 'Name a run folder (`digits runs` lists them), or train one with `digits run --data <competition>`.',
    });
  }
  return parseRunManifest(text, file);
}

/** An older digits' unfinished run: its member folders (those with a checkpoint), and those with a `best/` one. */
export interface OlderUnfinishedRun {
  members: string[];
  best: string[];
}

/** Whether a checkpoint folder holds a model (its `model.json`; older versions wrote no `COMPLETE` marker at first). */
const holdsCheckpoint = (dir: string) => existsSync(path.join(dir, 'model.json'));

/**
 * A folder left by an older digits whose training did not end: versions before run.json had a
 * `status` wrote run.json only when training ended, so an interrupted run of theirs is member
 * folders with `best/`, `last/` and `history.json` and no run.json. Told from what is on disk: no
 * run.json, no claim of a run of today's (`.claim`), not a search, and member folders holding a
 * checkpoint. Null for any other folder.
 */
export async function olderUnfinishedRun(dir: string): Promise<OlderUnfinishedRun | null> {
  // (`.claim` is new-folder.ts's CLAIM_FILE, which imports this module)
  if (existsSync(path.join(dir, RUN_MANIFEST)) || existsSync(path.join(dir, '.claim')) || existsSync(path.join(dir, 'search.json'))) return null;
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const members: string[] = [];
  const best: string[] = [];
  for (const entry of entries) {
    if (!entry.isDirectory() || entry.name === ROUND1_DIR) continue;
    const withBest = holdsCheckpoint(path.join(dir, entry.name, 'best'));
    if (!withBest && !holdsCheckpoint(path.join(dir, entry.name, 'last'))) continue;
    members.push(entry.name);
    if (withBest) best.push(entry.name);
  }
  members.sort();
  best.sort();
  return members.length > 0 ? { members, best } : null;
}

/**
 * What every reader of a run folder says of an older digits' unfinished run (`olderUnfinishedRun`):
 * what it is, that it cannot be resumed nor evaluated, what of it can still be used, and that a
 * new run is the way on (until session 44 it was "no training run", its hint pointing to
 * `digits runs`, which did not list it, and `--resume` called it no run `digits train` started).
 */
export function olderUnfinishedRunError(dir: string, older: OlderUnfinishedRun): UserError {
  const shown = displayPath(dir);
  const list = (names: string[]) => (names.length <= 4 ? names.join(', ') : `${names.slice(0, 4).join(', ')}, … (${names.length} in all)`);
  const first = older.best[0];
  const reuse = first
    ? ` Its members' best checkpoints (${older.best.length === 1 ? `${first}/best` : `<member>/best: ${list(older.best)}`}) can still be used: \`digits export onnx ${shellArg(path.join(shown, first, 'best'))}\` exports one, and an ensemble file's "init" fine-tunes from one.`
    : ' No member saved a best checkpoint (only last/), so nothing of it is ready to use.';
  return new UserError(`${shown} is an unfinished run of an older digits (${older.members.length === 1 ? `member ${older.members[0]} with a checkpoint` : `members ${list(older.members)} with checkpoints`}, no ${RUN_MANIFEST}): that version wrote ${RUN_MANIFEST} only when training ended, so this run cannot be resumed or evaluated`, {
    where: { file: dir },
    hint: `${reuse.trim()} To go on, train a new run into a new folder (\`digits run --data <competition>\`, or \`digits train --data <competition> --ensemble <file>\`); delete ${shown} when nothing of it is needed.`,
  });
}

/** What to do about a run.json that cannot be read as a run (every reader of runs says the same). */
export const DAMAGED_RUN_MANIFEST_HINT = 'It is damaged (hand-edited, or torn by a full disk): restore it from a copy, or train the run again with `digits train`.';

/** Manifests read from a run.json without `status`: an older digits', whose stored paths were absolute. */
const WITHOUT_STATUS = new WeakSet<object>();

/** Whether this manifest was read from a run.json of a digits before `status` (and relative paths). */
export function writtenBeforeStatus(manifest: object): boolean {
  return WITHOUT_STATUS.has(manifest);
}

/**
 * A run.json's text as a manifest; text that is not JSON is a UserError naming `file:line:column`,
 * with what to do. Shared by the commands that read one run and by `digits runs`, which until
 * session 43 gave a byte position instead, and whose `compare` called it "not a digits run".
 */
export function parseRunManifest(text: string, file: string): RunManifest {
  const manifest = parseJsonFile<RunManifest>(text, file, `the run's ${RUN_MANIFEST}`, DAMAGED_RUN_MANIFEST_HINT);
  // A run.json of a digits from before `status` (it was written once, when training ended) is
  // a finished run, or a failed one when no member trained: until session 44 `--resume` took
  // the missing status for an unfinished run, "resumed" every member from a last/ without
  // training state, and rewrote the good run as failed, which every reader then refused.
  if (manifest && typeof manifest === 'object' && manifest.status === undefined && Array.isArray(manifest.members)) {
    WITHOUT_STATUS.add(manifest);
    manifest.status = manifest.members.length > 0 && manifest.members.every((m) => !m.ok) ? 'failed' : 'finished';
  }
  return manifest;
}
export interface MemberOutcome {
  name: string;
  preset: string;
  ok: boolean;
  /** the member's best checkpoint, relative to the run folder */
  checkpoint?: string;
  split: { name: string; fold: number };
  /** the ensemble's member entry it trains, when that is not its own name (k-fold: `<recipe>-f<i>`) */
  recipe?: string;
  bestEpoch?: number;
  bestValAcc?: number;
  bestValLoss?: number;
  epochs?: number;
  /** it trained fewer epochs than its recipe asks because the run's time budget ran out */
  stoppedAtDeadline?: boolean;
  error?: string;
}

/** `training` from before the first epoch until the end; a run left `training` was interrupted. */
export type RunStatus = 'training' | 'finished' | 'failed';

export interface RunManifest {
  format: 'digits-run';
  version: 1;
  name: string;
  /** absent in runs written before it existed: those are finished */
  status?: RunStatus;
  ensemble: EnsembleSpec;
  /** `dir` is relative to the run folder when the dataset is inside the project (read it with `datasetDirOf`) */
  dataset: { dir: string; fingerprint: string };
  /** each member's validation split (name and fold in the dataset's splits) */
  splits?: Array<{ member: string; name: string; fold: number }>;
  /** each split's `splitDigest` when the run trained on it: a split replaced since is refused */
  splitDigests?: Record<string, string>;
  createdAt: string;
  /** null while training */
  finishedAt: string | null;
  seconds: number;
  /** the command that started the run */
  command: string;
  /** each `--resume` that continued it, in order (absent: never resumed; until session 42 a resume replaced `command`) */
  resumedBy?: string[];
  /** one entry per member once training ended; empty while training */
  members: MemberOutcome[];
  /** why the run failed (status `failed`) */
  error?: string;
  /** corrections added to training (`digits train --extra`) */
  extra?: { file: string; rows: number; sha256: string };
  /**
   * per recipe member with an `init`, that checkpoint's identity (`checkpointIdentity`) when the
   * run started: `--resume` refuses an init replaced since (its members would start from another
   * network than the ones already trained did). Absent in runs written before session 42.
   */
  initIdentities?: Record<string, string>;
  /** the `auto` ensemble's decisions (probes, chosen start and rate, plan) */
  auto?: AutoRecord;
  /**
   * members given fewer epochs than planned as they started (the machine trained slower than
   * the plan counted, `digits run`'s deadline): what they trained with instead, which
   * `--resume` keeps. Absent when none was.
   */
  replanned?: Record<string, { planned: number; epochs: number; schedule: MemberConfig['schedule']; secondsPerEpoch: number; secondsLeft: number }>;
  /**
   * Under a deadline: seconds per epoch row of the latest whole epochs (training rows, and
   * validation rows at their cost), so that a resumed run re-plans the members it has not
   * started from the speed measured before it was interrupted. Absent without a deadline.
   */
  epochRowSeconds?: number[];
}

export const RUN_MANIFEST = 'run.json';
/** The run's HTML report (`digits report`, and `digits run` at its end). */
export const REPORT_FILE = 'report.html';

/**
 * A folder a new run (or search) is to be written into, named by the user (`--run`, `--out`):
 * it must be new or empty. A folder holding a run is refused with how to continue it (training
 * into it retrained the members over the old ones and left the old evaluation, predictions and
 * report behind for every later command to trust); any other files are named.
 */
export async function assertNewRunFolder(dir: string, flag: string, what = 'a new run', options: { lockedByUs?: boolean } = {}): Promise<void> {
  // A file in the way, at the folder or above it, is the one named (`--run afile/x` named afile/x, which did not exist, as the file: session 39).
  const blocker = await fileInTheWay(dir);
  if (blocker !== null) throw folderBlocked(dir, blocker, { flag, what: what === 'a new search' ? 'the search folder' : 'the run folder' });
  const names = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [] as string[];
    throw error;
  });
  // A folder a live process is writing: name that process (its own lock says who and since when).
  if (names.length > 0 && !options.lockedByUs) await assertNotHeld(dir);
  // What a killed writer leaves (its lock, temp files of a write cut short) is not content: a run
  // stopped by Ctrl-C before its first epoch is started again in the same folder, as its hint says.
  const content = names.filter((name) => name !== LOCK_FILE && !isStaleTemp(name));
  if (content.length === 0) return;
  const shown = displayPath(dir);
  if (content.includes(RUN_MANIFEST)) {
    const manifest = await readRunManifest(dir).catch(() => null);
    const state = manifest ? `run ${manifest.name}, ${manifest.status === 'training' ? 'not finished' : manifest.status}` : 'a run';
    throw new UserError(`${shown} already holds ${state}; ${what} needs a new or empty folder`, {
      where: { file: path.join(dir, RUN_MANIFEST), flag },
      hint:
        manifest?.status === 'training' || manifest?.status === 'failed'
          ? `Continue it with \`digits train --resume --run ${shellArg(shown)}\` (its failed or unfinished members train again), or give --${flag} a new folder.`
          : `Give --${flag} a new folder (or leave it out for one under runs/); that run stays as it is.`,
    });
  }
  const listed = content.slice(0, 4).join(', ') + (content.length > 4 ? `, … (${content.length} in all)` : '');
  throw new UserError(`${shown} already holds files (${listed}); ${what} needs a new or empty folder`, { where: { flag }, hint: `Give --${flag} a new folder's path.` });
}

export async function writeRunManifest(runDir: string, manifest: RunManifest): Promise<void> {
  await writeJsonAtomic(path.join(runDir, RUN_MANIFEST), manifest);
}

/**
 * How a path is stored in a run's files: relative to `base` (the run folder, or the
 * submissions folder) when it lies inside the project, so a copied or moved project
 * still works; absolute when it lies outside (a dataset elsewhere on the disk stays where
 * it is when the project moves). The project is `up` levels above `base`: 2 for a run
 * folder (`<project>/runs/<run>`), 1 for the submissions folder (`<project>/submissions`).
 */
export function storedPath(base: string, target: string, up = 2): string {
  const from = path.resolve(base);
  const to = path.resolve(target);
  let project = from;
  for (let i = 0; i < up; i++) project = path.dirname(project);
  const inside = path.relative(project, to);
  if (inside.startsWith('..') || path.isAbsolute(inside)) return to;
  return path.relative(from, to) || '.';
}

/** A stored path back as an absolute one (absolute paths of older runs pass through). */
export function resolveStoredPath(base: string, stored: string): string {
  return path.resolve(base, stored);
}

/**
 * The dataset folder a run was trained on. Missing (a run folder moved without its
 * competition), it is a UserError saying where run.json says it is, relative to the run. An
 * absolute path of an older digits (a project moved whole) is looked for at the same place
 * relative to the run, with the run's fingerprint (`relocatedDatasetDir`), and `onNote` told.
 */
export function datasetDirOf(runDir: string, manifest: Pick<RunManifest, 'dataset'> & Partial<Pick<RunManifest, 'status' | 'name'>>, onNote?: (message: string) => void): string {
  const dir = resolveStoredPath(runDir, manifest.dataset.dir);
  if (!existsSync(path.join(dir, MANIFEST_FILE)) && !existsSync(path.join(dir, DEFAULT_DATASET_SUBDIR, MANIFEST_FILE))) {
    const name = manifest.name ?? path.basename(path.resolve(runDir));
    const relocated = relocatedDatasetDir(runDir, manifest.dataset.dir, manifest.dataset.fingerprint);
    if (relocated !== null) {
      onNote?.(`${RUN_MANIFEST} of run ${name} records its dataset at ${dir}, an absolute path as older digits wrote them; the project has moved, and the same data (its fingerprint) is at ${relocated}: using that`);
      return relocated;
    }
    // Runs written before run.json had a status stored absolute paths for everything: a project
    // moved whole was told to "move both together, as a project" (until session 44).
    if (path.isAbsolute(manifest.dataset.dir) && (manifest.status === undefined || writtenBeforeStatus(manifest))) {
      throw new UserError(`the dataset run ${name} was trained on is not at ${dir}: its ${RUN_MANIFEST}, written by an older digits, records that absolute path, and no competition with the run's data is at the same place relative to the run`, {
        where: { file: path.join(path.resolve(runDir), RUN_MANIFEST) },
        hint: `Older digits stored absolute paths, so a project moved since does not find its competition by them. Give the competition's folder where it is now with --data <competition folder> (evaluate, submit; its data must be the run's, fingerprint ${manifest.dataset.fingerprint}), or import the competition again so that ${dir} holds it.`,
      });
    }
    const stored = path.isAbsolute(manifest.dataset.dir) ? manifest.dataset.dir : `${manifest.dataset.dir} (relative to the run folder)`;
    throw new UserError(`the dataset run ${name} was trained on is not at ${dir}: its ${RUN_MANIFEST} records it as ${stored}`, {
      where: { file: path.join(path.resolve(runDir), RUN_MANIFEST) },
      hint: `Either the run folder was moved without its competition, or the competition's import was removed or replaced (\`digits data practice --force\` writes a new one). After a move, give the competition's folder where it is now with --data (evaluate, submit, train --resume; its data must be the run's), move the run back beside the competition (or move both together, as a project), or import the competition again so that ${dir} holds it.`,
    });
  }
  return dir;
}

/**
 * The dataset a run is read with: `given` (a competition or dataset cache folder the user
 * named, e.g. after moving the competition) when there is one, which must hold the very data
 * the run was trained on (its fingerprint, as run.json records it); else the recorded folder
 * (`datasetDirOf`).
 */
export async function runDatasetDir(runDir: string, manifest: Pick<RunManifest, 'dataset' | 'name'> & Partial<Pick<RunManifest, 'status'>>, given?: string, onNote?: (message: string) => void): Promise<string> {
  if (given === undefined) return datasetDirOf(runDir, manifest, onNote);
  const dir = await resolveDatasetDir(given);
  const givenManifest = await readManifest(dir);
  const { fingerprint } = givenManifest;
  if (fingerprint !== manifest.dataset.fingerprint) {
    // Which files differ, where the import the run was trained on can still be read (the training
    // rows may be the same and only the sample submission's ids reissued): said, not only two hashes.
    const recorded = await readManifest(resolveStoredPath(runDir, manifest.dataset.dir)).catch(() => null);
    const differs = recorded?.fingerprint === manifest.dataset.fingerprint ? sourceDifferences(recorded.sources, givenManifest.sources) : '';
    throw new UserError(`--data ${given} is not the data run ${manifest.name} was trained on${differs ? ` (${differs})` : ''}: its fingerprint is ${fingerprint}, ${RUN_MANIFEST} records ${manifest.dataset.fingerprint}`, {
      where: { flag: 'data', file: path.join(dir, MANIFEST_FILE) },
      hint:
        path.resolve(dir) === path.resolve(resolveStoredPath(runDir, manifest.dataset.dir))
          ? `That is the folder the run was trained on, imported again since with other data (another orientation or ink, other CSVs): import it as it was when the run trained, or train a new run on it.`
          : `Give the folder of the competition the run was trained on (${RUN_MANIFEST} last saw it at ${resolveStoredPath(runDir, manifest.dataset.dir)}), or leave --data out.`,
    });
  }
  return dir;
}

/** "train.csv and test.csv are the same; sample_submission.csv differs", from two imports' source lists ('' when they cannot tell). */
function sourceDifferences(before: ReadonlyArray<{ role: string; path: string; sha256?: string }> | undefined, after: ReadonlyArray<{ role: string; path: string; sha256?: string }> | undefined): string {
  if (!before || !after) return '';
  const same: string[] = [];
  const other: string[] = [];
  for (const source of after) {
    const old = before.find((s) => s.role === source.role);
    if (!old?.sha256 || !source.sha256) return '';
    (old.sha256 === source.sha256 ? same : other).push(path.basename(source.path));
  }
  if (other.length === 0) return 'the same files, imported with other settings';
  const list = (names: string[]) => (names.length === 1 ? names[0]! : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`);
  return `${same.length > 0 ? `${list(same)} ${same.length === 1 ? 'is' : 'are'} the same; ` : ''}${list(other)} ${other.length === 1 ? 'differs' : 'differ'}`;
}

/** The run's dataset, loaded (`runDatasetDir`), refused when it was imported again with other data since the run trained. */
export async function loadRunDataset(runDir: string, manifest: Pick<RunManifest, 'dataset' | 'name'> & Partial<Pick<RunManifest, 'status'>>, given?: string, onNote?: (message: string) => void): Promise<Dataset> {
  const dir = await runDatasetDir(runDir, manifest, given, onNote);
  // A CSV edited after the import: the cache (and the run) hold the old rows, so a submission
  // or a score from them would not be of the competition's files as they are now.
  await assertSourcesUnchanged(dir);
  const dataset = await loadDataset(dir);
  if (dataset.fingerprint !== manifest.dataset.fingerprint) {
    throw new UserError(`the dataset in ${dataset.dir} changed since run ${manifest.name} was trained`, { where: { file: dataset.dir }, hint: 'Re-import the data the run was trained on, or train again.' });
  }
  return dataset;
}

/**
 * Refuses a run whose training has not finished (interrupted, still running, or failed
 * before any member was trained), saying how to continue it. `verb` is what was asked.
 */
export function assertTrained(runDir: string, manifest: RunManifest, verb: string): void {
  const file = path.join(runDir, RUN_MANIFEST);
  if (manifest.status === 'training') {
    // Training now (its writer holds the lock): continuing it would be refused as in use.
    const holder = currentHolderSync(runDir);
    if (holder) {
      throw new UserError(`cannot ${verb} run ${runDir}: it is training now (pid ${holder.pid} on ${holder.hostname} since ${holder.startedAt}: ${holder.command})`, {
        where: { file },
        hint: `Wait for the training to finish, then ${verb} it${startedByRun(manifest) ? ' (`digits run` evaluates and submits it when its training ends)' : ''}.`,
      });
    }
    throw new UserError(`cannot ${verb} run ${runDir}: its training has not finished (interrupted, or still running)`, {
      where: { file },
      hint: `Continue it with \`${resumeCommand(runDir, manifest)}\` (it restarts each member from its last saved epoch${startedByRun(manifest) ? ', then evaluates and submits' : ''}).${queueWait(manifest)}`,
    });
  }
  if (manifest.status === 'failed' && !manifest.members.some((m) => m.ok)) {
    throw new UserError(`cannot ${verb} run ${runDir}: its training failed${manifest.error ? ` (${manifest.error.split('\n')[0]})` : ''}`, {
      where: { file },
      hint: `Fix the cause, then continue it with \`${resumeCommand(runDir, manifest)}\`.`,
    });
  }
}

/** Whether `digits run` (the main job: train, evaluate, submit) started the run, by its recorded command. */
function startedByRun(manifest: Pick<RunManifest, 'command'>): boolean {
  return /^digits run(\s|$)/.test(manifest.command ?? '');
}

/** `resumeCommand` of the run in `runDir` (its path as shown from the working folder), or undefined when it has no readable run.json. */
export async function runResumeCommand(runDir: string): Promise<string | undefined> {
  const manifest = await readRunManifest(runDir).catch(() => null);
  return manifest ? resumeCommand(displayPath(runDir), manifest) : undefined;
}

/** The command that continues a run: `digits run --resume` for the main job's runs (it evaluates and submits after), else `digits train --resume`. */
export function resumeCommand(runDir: string, manifest: Pick<RunManifest, 'command'>): string {
  const queue = queueOf(manifest);
  return `digits ${startedByRun(manifest) ? 'run' : 'train'} --resume --run ${shellArg(runDir)}${queue ? ` --queue ${urlArg(queue)}` : ''}`;
}

/** A recorded Redis URL as a command's argument (one whose password was hidden as *** is for the user to give). */
const urlArg = (url: string) => (url.includes('***') ? '<its Redis URL>' : shellArg(url));

/**
 * The Redis URL a run was trained through (`--queue` in its recorded command, a password shown
 * as ***), or undefined for a run trained here. Its members may still be on the workers when the
 * command that enqueued them stopped: a local resume then trained a member a worker was training,
 * into the same folder (session 49's probe).
 */
export function queueOf(manifest: Pick<RunManifest, 'command' | 'resumedBy'>): string | undefined {
  for (const command of [...(manifest.resumedBy ?? []).slice().reverse(), manifest.command ?? '']) {
    const found = /(?:^|\s)--queue(?:=|\s+)(\S+)/.exec(command);
    if (found) return found[1]!.replace(/^(['"])(.*)\1$/, '$2');
  }
  return undefined;
}

/** What to wait for before resuming a run trained through a queue, as a sentence (empty for a local run). */
function queueWait(manifest: Pick<RunManifest, 'command' | 'resumedBy'>): string {
  const queue = queueOf(manifest);
  if (!queue) return '';
  return ` It was trained through the queue at ${queue}: first wait until \`digits queue status --redis ${urlArg(queue)}\` shows none of its members waiting or running (workers go on with the members they hold), or two processes train one member into the same folder.`;
}


/**
 * The last word of a command whose run finished with some members failed and some trained
 * (exit 1, after the command's result): which failed and why, what the run's outputs are made
 * of (`kept`, given how many trained), and that `resume` trains the failed ones
 * again. Null when no member failed, or none trained (that run failed, and says so itself).
 */
export function partlyFailedError(runDir: string, members: readonly Pick<MemberOutcome, 'name' | 'ok' | 'error'>[], options: { resume: string; kept: (trained: number) => string }): UserError | null {
  const failed = members.filter((m) => !m.ok);
  const trained = members.length - failed.length;
  if (failed.length === 0 || trained === 0) return null;
  const why = (m: Pick<MemberOutcome, 'error'>) => (m.error ?? '').split('\n')[0]!.trim() || 'no error recorded';
  const named = failed.slice(0, 3).map((m) => `${m.name} (${why(m)})`).join('; ') + (failed.length > 3 ? `; ${failed.length - 3} more in ${RUN_MANIFEST}` : '');
  return new UserError(`${failed.length} of ${members.length} members failed to train: ${named}`, {
    where: { file: path.join(runDir, RUN_MANIFEST) },
    hint: `The run keeps the ${trained === 1 ? 'one member' : `${trained} members`} that trained: ${options.kept(trained)}. Once what stopped ${failed.length === 1 ? 'it' : 'them'} is put right, \`${options.resume}\` trains ${failed.length === 1 ? 'it' : 'them'} again (the others as they are).`,
    exitCode: 1,
  });
}

/**
 * A run's evaluation for showing it (`verb`: "show", "report on"): a folder that is no run, or
 * whose training has not finished or failed, says so and how to go on, rather than pointing at
 * `digits evaluate`, which would refuse it.
 */
export async function readRunEvaluation(runDir: string, verb: string): Promise<EvaluationReport> {
  const report = await readEvaluationIfAny(runDir);
  if (report) {
    // (an evaluation.json without its run.json, as a report of a copied file alone, is taken as it is)
    const manifest = existsSync(path.join(runDir, RUN_MANIFEST)) ? await readRunManifest(runDir) : null;
    if (manifest) await assertCurrentEvaluation(runDir, manifest, report, verb);
    return report;
  }
  const manifest = await readRunManifest(runDir);
  assertTrained(runDir, manifest, verb);
  return readEvaluationReport(runDir);
}

/**
 * Of the folders under `runsDir`, the one whose file named by `fileOf` (null: pass the folder
 * over) was modified last, with that time.
 */
async function newestFolder(runsDir: string, fileOf: (dir: string) => Promise<string | null>): Promise<{ dir: string; mtimeMs: number } | null> {
  const root = path.resolve(runsDir);
  let best: { dir: string; mtimeMs: number } | null = null;
  for (const entry of await readdir(root, { withFileTypes: true }).catch(() => [])) {
    if (!entry.isDirectory()) continue;
    const dir = path.join(root, entry.name);
    const file = await fileOf(dir);
    const info = file ? await stat(file).catch(() => null) : null;
    if (info?.isFile() && (!best || info.mtimeMs > best.mtimeMs)) best = { dir, mtimeMs: info.mtimeMs };
  }
  return best;
}

/**
 * The run folder under `runsDir` whose `file` (run.json, evaluation.json, …) is newest, or
 * null; with `accept`, only among runs whose run.json it accepts.
 */
export async function newestRunWith(runsDir: string, file: string, accept?: (manifest: RunManifest, dir: string) => boolean): Promise<string | null> {
  const newest = await newestFolder(runsDir, async (dir) => {
    if (!accept) return path.join(dir, file);
    const manifest = await readRunManifest(dir).catch(() => null);
    return manifest && accept(manifest, dir) ? path.join(dir, file) : null;
  });
  return newest?.dir ?? null;
}

/** The most recently evaluated run under `runsDir`. A UserError when there is none. */
export async function latestEvaluatedRun(runsDir: string): Promise<string> {
  const dir = await newestRunWith(runsDir, EVALUATION_FILE);
  if (!dir) {
    const root = path.resolve(runsDir);
    // (the folder looked in, not --run: it was not given)
    throw new UserError(`no evaluated run under ${root}`, {
      where: { file: root },
      hint: 'Pass --run <run folder>, or evaluate a trained run first: digits evaluate --run runs/<name>.',
    });
  }
  return dir;
}


/** The file in the run folder that records why `auto` chose its recipe (also under `auto` in run.json). */
export const AUTO_FILE = 'auto.json';
/** With `--pseudo-label`: round 1's run folder inside the run's (round 2 trains into the run folder itself). */
export const ROUND1_DIR = 'round1';

/** The newest run folder holding only the first round of a pseudo-labelling run (`round1/run.json`, `auto.json`). */
function newestFirstRound(runsDir: string): Promise<{ dir: string; mtimeMs: number } | null> {
  return newestFolder(runsDir, async (dir) => (existsSync(path.join(dir, RUN_MANIFEST)) || !existsSync(path.join(dir, AUTO_FILE)) ? null : path.join(dir, ROUND1_DIR, RUN_MANIFEST)));
}

/**
 * The submissions folder of the project a run folder belongs to: `<project>/submissions` for a
 * run in `<project>/runs/`, the layout `digits run` and `digits train` make; for a run folder
 * elsewhere, `submissions/` of `workDir` (the working folder). Submitting or resuming a run from
 * another folder then records it where `digits runs` and `digits submissions` of its project
 * look (until session 38 a run resumed from elsewhere was evaluated and submitted again, its
 * first submission unseen, into a new ledger in the working folder).
 */
export function runSubmissionsDir(runDir: string, workDir = process.cwd()): string {
  return runsSubmissionsDir(path.dirname(path.resolve(runDir)), workDir);
}

/**
 * The same for a folder of runs (`digits runs --runs-dir`): `<project>/submissions` for
 * `<project>/runs`, else `submissions/` of `workDir`. (`runs` read the working folder's ledger
 * until session 43, so `--runs-dir X/runs` from elsewhere showed no test score.)
 */
export function runsSubmissionsDir(runsDir: string, workDir = process.cwd()): string {
  const folder = path.resolve(runsDir);
  return path.basename(folder) === 'runs' ? path.join(path.dirname(folder), DEFAULT_SUBMISSIONS_DIR) : path.resolve(workDir, DEFAULT_SUBMISSIONS_DIR);
}

/** The newest run under `runsDir` whose run.json says its training did not finish (for `digits run --resume`). */
export async function newestUnfinishedRun(runsDir: string, submissionsDir = path.join(path.dirname(path.resolve(runsDir)), DEFAULT_SUBMISSIONS_DIR)): Promise<string> {
  // Unfinished for `digits run`: training stopped or failed, or (a run it started) trained but
  // never submitted: stopped while evaluating or submitting (such runs were passed over for an
  // older one still training); or finished with members that failed, which --resume trains again
  // (passed over until session 45: the partly failed run was submitted, so it read as done).
  const ledger = await readLedger(submissionsDir).catch(() => []);
  const submitted = new Set(ledger.map((entry) => resolveStoredPath(path.resolve(submissionsDir), entry.run)));
  let dir = await newestRunWith(runsDir, RUN_MANIFEST, (m, at) => m.status === 'training' || m.status === 'failed' || (m.status === 'finished' && startedByRun(m) && (!submitted.has(at) || m.members.some((member) => !member.ok))));
  // A pseudo-labelling run stopped in its first round has only `round1/run.json` (and auto.json) yet.
  const firstRound = await newestFirstRound(runsDir);
  if (firstRound && (!dir || firstRound.mtimeMs > (await stat(path.join(dir, RUN_MANIFEST))).mtimeMs)) dir = firstRound.dir;
  if (!dir) {
    const root = path.resolve(runsDir);
    throw new UserError(`no unfinished run under ${root}`, { where: { file: root, flag: 'run' }, hint: 'Pass --run <run folder> to continue, or start a new run without --resume.' });
  }
  return dir;
}
