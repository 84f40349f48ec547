/**
 * `digits search`: hyperparameter search over member recipes. Each trial is a member
 * trained on the competition's holdout split (in a worker thread, like `digits train`) and
 * scored by its best validation loss on the held-out rows, never on test answers. The
 * scheduler (random search or ASHA, src/training/search/asha.ts) decides which trial runs
 * next; a trial promoted to a higher rung continues from its last checkpoint (`resume`).
 *
 * The search folder holds `search.json` (every trial's draw, state and scores per rung,
 * rewritten atomically after each change), one folder per trial, and `ensemble.json`, the
 * top-k trials as an ensemble file for `digits train --ensemble`. Running again with the
 * same folder continues: finished rungs are kept, trials that were running are resumed from
 * their last finished epoch.
 */
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { makeFolders } from '../make-folders.js';
import { removeStaleTempFiles, writeJsonAtomic, writeJsonAtomicSync } from '../atomic-file.js';
import { lockRun } from '../runs/lock.js';
import { safeNameFrom } from '../ensemble/ensemble-schema.js';
import { assertSourcesUnchanged, competitionFolderOf, loadDataset, resolveDatasetDir } from '../data/dataset.js';
import { createSplit, loadSplit } from '../data/splits.js';
import type { BackendRequest } from '../engine/backend.js';
import { memberFromInput } from '../ensemble/ensemble-spec.js';
import { UserError, jsonPathLocation, parseJsonFile } from '../errors.js';
import { z } from 'zod';
import { resolveInit } from '../model/shipped.js';
import { nextJob, rankTrials, rungEpochs, type Job, type RungScore, type SchedulerConfig, type SchedulerKind } from '../training/search/asha.js';
import { maxOf, minOf, sampleTrial, trialMember, type SearchSpace, type TrialParams } from '../training/search/space.js';
import type { TrainEvent, TrainResult } from '../training/train-member.js';
import { runWorkerJobs, type WorkerJob, type WorkerJobRunner } from '../training/worker-protocol.js';
import { deriveSeed } from '../data/random.js';
import { shellArg } from '../data/format.js';
import { assertNewRunFolder } from '../runs/manifest.js';

export const SEARCH_FILE = 'search.json';

/** Trials of a new search when --trials is not given. */
export const DEFAULT_TRIALS = 12;
export const SEARCH_ENSEMBLE_FILE = 'ensemble.json';

export interface SearchOptions {
  /** competition or dataset folder */
  data: string;
  space: SearchSpace;
  /** where the space came from (recorded; a resumed search must use the same space) */
  spaceFile: string;
  /** the search folder */
  out: string;
  scheduler: SchedulerKind;
  /** at most this many trials (default: a continued search's own, else DEFAULT_TRIALS) */
  trials?: number;
  /** stop starting jobs after this many seconds (running ones finish) */
  budgetSeconds?: number;
  /** ASHA's reduction factor η (default 3) */
  eta?: number;
  /** trials written to the ensemble file */
  top: number;
  concurrency: number;
  backend: BackendRequest;
  seed: number;
  /** holdout fraction of the split trials are scored on (default 0.1) */
  validationFraction?: number;
  command: string;
  onEvent?: (event: SearchEvent) => void;
  /** where the trials' jobs run (default: worker threads here; services/queue: on a queue's workers) */
  runJobs?: WorkerJobRunner;
}

export type TrialStateName = 'pending' | 'running' | 'paused' | 'done' | 'failed';

export interface TrialRecord {
  id: number;
  name: string;
  params: TrialParams;
  /** the member entry it trains (the epochs of its current rung) */
  member: Record<string, unknown>;
  state: TrialStateName;
  /** the rung it is training towards or last reached */
  rung: number;
  scores: RungScore[];
  seconds: number;
  error?: string;
}

export interface SearchFile {
  format: 'digits-search';
  version: 1;
  scheduler: SchedulerKind;
  eta: number;
  rungs: number[];
  maxTrials: number;
  seed: number;
  spaceFile: string;
  space: SearchSpace;
  dataset: { dir: string; fingerprint: string };
  split: { name: string; fraction: number; seed: number; trainRows: number; validationRows: number };
  createdAt: string;
  updatedAt: string;
  /** seconds spent training, over every invocation */
  seconds: number;
  /** the command that started the search (each continuation's is in `resumedBy`; until session 44 each replaced it) */
  command: string;
  resumedBy?: string[];
  trials: TrialRecord[];
}

export interface LeaderboardRow {
  rank: number;
  trial: string;
  state: TrialStateName;
  /** the highest rung the trial reached; null before its first (a failed or unstarted trial: it was -1 until session 42) */
  rung: number | null;
  /** the epochs the trial trained (ASHA: to the last rung it reached) */
  epochs: number;
  /**
   * the epochs its draw sampled, which the random scheduler trains to; null under ASHA, which
   * trains to its rungs (`epochs`) and never to the draw's (until session 41 the README said it
   * trained to them if it promoted the trial that far). Apart from `params`, whose `epochs` under
   * `--json` read as what the trial trained until session 36.
   */
  sampledEpochs: number | null;
  valLoss: number | null;
  valAcc: number | null;
  /** the trial's draw, but its epochs (`sampledEpochs`) */
  params: Omit<TrialParams, 'epochs'>;
  /** a failed trial's error (its first line) */
  error?: string;
}

export interface SearchResult {
  dir: string;
  searchFile: string;
  ensembleFile: string | null;
  leaderboard: LeaderboardRow[];
  /** trials that failed (their errors are in the leaderboard rows); a run of the same command tries them again */
  failed: number;
  /** members of the ensemble file: fewer than --top when fewer trials were scored */
  ensembleMembers: number;
  /** trials whose jobs did not finish (the budget was spent, or the search was stopped) */
  unfinished: number;
  /** --budget stopped the search before the scheduler had nothing left to run: the same command continues it */
  stoppedByBudget: boolean;
  /** trials drawn so far, of `maxTrials` */
  drawn: number;
  maxTrials: number;
  /** scored trials no better than chance, left out of the ensemble file */
  chance: string[];
  resumed: boolean;
  seconds: number;
}

export type SearchEvent =
  | { type: 'search-start'; dir: string; scheduler: SchedulerKind; rungs: number[]; trials: number; resumed: boolean; done: number }
  /** `epochs`: what the trial trains to now; `params`: its draw, but its epochs (leaderboard rows say `sampledEpochs`) */
  | { type: 'trial-start'; trial: string; rung: number; epochs: number; params: Omit<TrialParams, 'epochs'>; resumed: boolean }
  | { type: 'trial-epoch'; trial: string; epoch: number; epochs: number; valLoss: number; valAcc: number; imagesPerSecond: number }
  | { type: 'trial-rung'; trial: string; rung: number; epochs: number; valLoss: number; valAcc: number }
  | { type: 'trial-failed'; trial: string; error: string }
  | { type: 'budget-spent'; seconds: number }
  | { type: 'warning'; message: string };

/**
 * The settings a search folder was started with, for continuing it without repeating them
 * (`--space`, `--scheduler`, `--eta` and `--seed` left out take these); null when `dir` holds no search.
 */
export async function searchSettings(dir: string): Promise<(Pick<SearchFile, 'scheduler' | 'eta' | 'seed' | 'spaceFile' | 'space'> & { dataset: string }) | null> {
  const file = await readSearchFile(path.join(path.resolve(dir), SEARCH_FILE));
  return file ? { scheduler: file.scheduler, eta: file.eta, seed: file.seed, spaceFile: file.spaceFile, space: file.space, dataset: competitionFolderOf(file.dataset.dir) } : null;
}

const whole = z.number().int();
/** What the search reads of search.json (keys it does not read are kept as they are). */
const SearchFileSchema = z.looseObject({
  format: z.literal('digits-search'),
  scheduler: z.enum(['random', 'asha']),
  eta: z.number().min(1),
  rungs: z.array(whole.min(1)),
  maxTrials: whole.min(1),
  seed: whole,
  spaceFile: z.string(),
  space: z.record(z.string(), z.unknown()),
  dataset: z.looseObject({ dir: z.string(), fingerprint: z.string() }),
  split: z.looseObject({ name: z.string(), fraction: z.number(), seed: whole, trainRows: whole.min(0), validationRows: whole.min(0) }),
  seconds: z.number().min(0),
  command: z.string(),
  resumedBy: z.array(z.string()).optional(),
  trials: z.array(
    z.looseObject({
      id: whole.min(0),
      name: z.string(),
      params: z.looseObject({ preset: z.string(), start: z.string(), optimizer: z.string(), learningRate: z.number().positive(), epochs: whole.min(1), batchSize: whole.min(1), labelSmoothing: z.number(), lrDecay: z.number(), augmentation: z.record(z.string(), z.unknown()) }),
      member: z.record(z.string(), z.unknown()),
      state: z.enum(['pending', 'running', 'paused', 'done', 'failed']),
      // (-1: a failed or unstarted trial of a search from before session 42)
      rung: whole.min(-1),
      // (null: a loss that was not a number, as JSON writes NaN)
      scores: z.array(z.looseObject({ rung: whole.min(0), epochs: whole.min(0), valLoss: z.number().nullable(), valAcc: z.number().nullable() })),
      seconds: z.number().min(0),
      error: z.string().optional(),
    }),
  ),
});

const DAMAGED_SEARCH_HINT = 'Put search.json back as the search wrote it (or delete the folder to start over, or choose another --out folder).';

/**
 * A search folder's search.json, or null when there is none. JSON it cannot parse, and a value
 * the search reads that is missing or of the wrong kind, are UserErrors naming the line and
 * column (until session 48 a hand-edited `scores` or a trial without `params` stopped the
 * search with an internal error, and a torn file was named by its byte position).
 */
async function readSearchFile(file: string): Promise<SearchFile | null> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return null;
  }
  const raw = parseJsonFile<unknown>(text, file, SEARCH_FILE, DAMAGED_SEARCH_HINT);
  if (typeof raw !== 'object' || raw === null || (raw as { format?: unknown }).format !== 'digits-search') {
    throw new UserError(`${file} is not a search file of digits (it has no "format": "digits-search")`, { where: { file, line: 1, column: 1 }, hint: 'Choose another --out folder, or delete this one to start over.' });
  }
  const parsed = SearchFileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = issue.path.map((k) => (typeof k === 'number' ? `[${k}]` : `.${String(k)}`)).join('').replace(/^\./, '');
    throw new UserError(`${SEARCH_FILE} is damaged: ${key || '(top level)'}: ${issue.message}`, { where: { file, ...(jsonPathLocation(text, issue.path) ?? {}) }, hint: DAMAGED_SEARCH_HINT });
  }
  return raw as SearchFile;
}

/** Trials as the scheduler sees them. */
function schedulerView(trials: readonly TrialRecord[]) {
  return trials.map((t) => ({ id: t.id, scores: t.scores, running: t.state === 'running' || t.state === 'pending', failed: t.state === 'failed' }));
}

export function leaderboard(file: SearchFile): LeaderboardRow[] {
  return rankTrials(schedulerView(file.trials)).map((view, i) => {
    const t = file.trials.find((x) => x.id === view.id)!;
    const last = t.scores[t.scores.length - 1];
    const { epochs: sampled, ...params } = t.params;
    // (ASHA trains to its rungs, which the space's range of epochs sets: the sampled value is not used)
    const sampledEpochs = file.scheduler === 'asha' ? null : sampled;
    return { rank: i + 1, trial: t.name, state: t.state, rung: last?.rung ?? null, epochs: last?.epochs ?? 0, sampledEpochs, valLoss: last?.valLoss ?? null, valAcc: last?.valAcc ?? null, params, ...(t.state === 'failed' && t.error ? { error: t.error.split('\n')[0] } : {}) };
  });
}

/**
 * The holdout loss of a network that learned nothing: the uniform guess over the 10 digits
 * scores ln 10. A trial at or above it (a rate that blew the weights up, a start that does not
 * fit the data) never joins the ensemble file: on the default space two noisy-start trials at
 * 98% and three clean-start ones at 10% (loss 9–14) made a top 5 whose vote scored 11.67%
 * (session 41's probe).
 */
export const CHANCE_LOSS = Math.log(10);

/** The scored trials no better than chance (CHANCE_LOSS), by name, best first. */
export function chanceTrials(file: SearchFile): string[] {
  return leaderboard(file).filter((row) => row.valLoss !== null && row.state !== 'failed' && row.valLoss >= CHANCE_LOSS).map((row) => row.trial);
}

/** The top-k scored trials better than chance as an ensemble file: each member with the epochs its trial reached. */
export function topKEnsemble(file: SearchFile, k: number, name: string, selectedBy = `digits search ${name}`): Record<string, unknown> | null {
  const ranked = leaderboard(file).filter((row) => row.valLoss !== null && row.state !== 'failed' && row.valLoss < CHANCE_LOSS).slice(0, k);
  if (ranked.length === 0) return null;
  return {
    name,
    description: `top ${ranked.length} of ${file.trials.length} trials of the ${file.scheduler === 'asha' ? 'ASHA' : file.scheduler} search (${file.spaceFile}), by validation loss on holdout rows`,
    validation: { kind: 'shared', fraction: file.split.fraction, seed: file.split.seed },
    // The rows the trials were ranked on: a run validated on them is scored where its members
    // were chosen (optimistic), which evaluate then says (session 36).
    selectedOn: { by: selectedBy, validation: { kind: 'shared', fraction: file.split.fraction, seed: file.split.seed }, ...(file.dataset?.fingerprint ? { dataset: file.dataset.fingerprint } : {}) },
    members: ranked.map((row) => {
      const t = file.trials.find((x) => x.name === row.trial)!;
      return { ...t.member, epochs: row.epochs };
    }),
  };
}

function trialEpochs(file: SearchFile, params: TrialParams, rung: number): number {
  return file.scheduler === 'asha' ? file.rungs[rung]! : params.epochs;
}

export async function runSearch(options: SearchOptions): Promise<SearchResult> {
  const started = Date.now();
  const emit = options.onEvent ?? (() => {});
  const dir = path.resolve(options.out);
  const searchFile = path.join(dir, SEARCH_FILE);
  const datasetDir = await resolveDatasetDir(options.data);
  await assertSourcesUnchanged(datasetDir);
  const dataset = await loadDataset(datasetDir);
  if (dataset.width !== 28 || dataset.height !== 28) {
    throw new UserError(`the presets take 28×28 images; this dataset's are ${dataset.width}×${dataset.height}`, { where: { file: datasetDir }, hint: 'Resize the images to 28×28 before importing.' });
  }
  const fraction = options.validationFraction ?? 0.1;
  const splitSeed = 42;
  const splitName = `holdout-${fraction}-seed${splitSeed}`;
  await createSplit({ data: datasetDir, name: splitName, spec: { kind: 'holdout', validationFraction: fraction, seed: splitSeed } });
  const split = (await loadSplit(datasetDir, splitName, dataset.fingerprint)).folds[0]!;
  const eta = options.eta ?? 3;
  const rungs = options.scheduler === 'asha' ? rungEpochs(minOf(options.space.epochs), maxOf(options.space.epochs), eta) : [maxOf(options.space.epochs)];

  await makeFolders(dir);
  // One search per folder: two on one --out trained the same trials into the same folders.
  const lock = await lockRun(dir, options.command).catch((error: unknown) => {
    if (!(error instanceof UserError)) throw error;
    throw new UserError(`the search folder ${dir} is in use: ${error.message.replace(/^the run folder \S+ is in use by /, '')}`, {
      where: { ...error.where, flag: 'out' },
      // (a lock from another machine keeps its own hint: how to remove it if that search is gone)
      hint: error.hint?.includes('delete') ? error.hint : 'Wait for that search to finish (it goes on with the same trials), or give this one another --out.',
    });
  });
  try {
    // Temp files of a search killed mid-save go once we hold the folder.
    await removeStaleTempFiles(dir);
    const previous = await readSearchFile(searchFile);
    // --out continues the search in it, or starts one in a new or empty folder: never in a run's
    // folder, a competition's or any other (until session 41 only a run's was refused, and a
    // search wrote its trials into the competition's folder or the folder of space files).
    if (!previous) await assertNewRunFolder(dir, 'out', 'a new search', { lockedByUs: true });
    let state: SearchFile;
    if (previous) {
      // (the same folder with other data: imported again since; the hint said "on the same --data", which it was)
      const reimported = path.resolve(previous.dataset.dir) === path.resolve(datasetDir);
      const mismatch =
        previous.dataset.fingerprint !== dataset.fingerprint
          ? reimported
            ? `other data in ${competitionFolderOf(datasetDir)} (it was imported again since)`
            : `another dataset (${competitionFolderOf(previous.dataset.dir)})`
          : previous.scheduler !== options.scheduler
            ? `the ${previous.scheduler} scheduler`
            : JSON.stringify(previous.space) !== JSON.stringify(options.space)
              ? path.resolve(previous.spaceFile) === path.resolve(options.spaceFile)
                ? `other contents of ${previous.spaceFile} (the file was edited since)`
                : `another space (${previous.spaceFile})`
              : previous.seed !== options.seed
                ? `seed ${previous.seed}`
                : previous.eta !== eta && options.scheduler === 'asha'
                  ? `η = ${previous.eta}`
                  : null;
      if (mismatch) {
        // (the settings named, flag by flag: "the settings it was started with" left the user to guess them)
        const settings = `--scheduler ${previous.scheduler} --space ${shellArg(previous.spaceFile)} --seed ${previous.seed}${previous.scheduler === 'asha' ? ` --eta ${previous.eta}` : ''}`;
        throw new UserError(`the search in ${dir} was started with ${mismatch}; it can only be continued with the same settings`, {
          where: { file: searchFile },
          hint: mismatch.startsWith('other contents of')
            ? `Put ${previous.spaceFile} back as it was (search.json in ${dir} keeps the space it was started with, under "space"), or choose another --out folder for a search of the new space.`
            : mismatch.startsWith('other data in')
              ? `Its trials were scored on the data as imported then, so it cannot go on with these rows: choose another --out folder for a search of the data as it is now.`
              : `Continue it with the settings it was started with (${settings}, --data ${shellArg(competitionFolderOf(previous.dataset.dir))}; it was started as: ${previous.command}), or choose another --out folder for a new search.`,
        });
      }
      // Jobs that were running when the last invocation stopped continue from their last epoch.
      // Interrupted trials go on from their last epoch; failed ones are tried again (the output
      // says to run the command again once their cause is fixed).
      for (const t of previous.trials) if (t.state === 'running' || t.state === 'pending' || t.state === 'failed') t.state = 'paused';
      // Its own limit unless --trials says otherwise (a continuation without it drew more, up to the default);
      // trials drawn already cannot be taken back.
      if (options.trials !== undefined && options.trials < previous.trials.length) {
        throw new UserError(`the search in ${dir} has drawn ${previous.trials.length} trials already; --trials ${options.trials} cannot take them back`, {
          where: { flag: 'trials', file: searchFile },
          hint: `Leave --trials out to continue it as it was (${previous.maxTrials}), or give at least ${previous.trials.length}.`,
        });
      }
      // The command that started it stays (the refusal above quotes it as such); each continuation's is added.
      state = { ...previous, maxTrials: options.trials ?? previous.maxTrials, resumedBy: [...(previous.resumedBy ?? []), options.command] };
    } else {
      state = {
        format: 'digits-search',
        version: 1,
        scheduler: options.scheduler,
        eta,
        rungs,
        maxTrials: options.trials ?? DEFAULT_TRIALS,
        seed: options.seed,
        spaceFile: options.spaceFile,
        space: options.space,
        dataset: { dir: datasetDir, fingerprint: dataset.fingerprint },
        split: { name: splitName, fraction, seed: splitSeed, trainRows: split.train.length, validationRows: split.validation.length },
        createdAt: new Date(started).toISOString(),
        updatedAt: new Date(started).toISOString(),
        seconds: 0,
        command: options.command,
        trials: [],
      };
    }
    const secondsBefore = state.seconds;
    // Saved synchronously: a signal then finds search.json saved or not, never half-way (an
    // asynchronous save caught between its temp file and its rename left the temp, and a trial that
    // had finished read as running).
    const save = async () => {
      state.updatedAt = new Date().toISOString();
      state.seconds = secondsBefore + Math.round((Date.now() - started) / 1000);
      writeJsonAtomicSync(searchFile, state);
    };
    await save();
    const done = state.trials.filter((t) => t.state === 'done').length;
    emit({ type: 'search-start', dir, scheduler: state.scheduler, rungs: state.rungs, trials: state.maxTrials, resumed: previous !== null, done });
    // A batch larger than the training rows makes each epoch one step over all of them (a space
    // allowed 4096 on 540 rows and said nothing): said once, before the trials.
    const batches = (Array.isArray(state.space.batchSize) ? state.space.batchSize : [state.space.batchSize.min, state.space.batchSize.max]).filter((b) => b > state.split.trainRows);
    if (batches.length > 0) {
      emit({
        type: 'warning',
        message: `the space's batch size${batches.length === 1 ? '' : 's'} ${batches.join(', ')} ${batches.length === 1 ? 'is' : 'are'} more than the holdout split's ${state.split.trainRows} training rows: a trial drawing ${batches.length === 1 ? 'it' : 'one'} trains each epoch as a single step over all of them. Keep "batchSize" at most ${state.split.trainRows} in ${state.spaceFile}.`,
      });
    }

    const config: SchedulerConfig = { kind: state.scheduler, rungs: state.rungs, eta: state.eta, maxTrials: state.maxTrials };
    const trainRows = Array.from(split.train);
    const validationRows = Array.from(split.validation);
    const budgetOver = () => options.budgetSeconds !== undefined && (Date.now() - started) / 1000 >= options.budgetSeconds;

    /** The next job: paused trials first (resumed where they stopped), then the scheduler's choice. */
    const take = (): { trial: TrialRecord; resume: boolean } | null => {
      const paused = state.trials.find((t) => t.state === 'paused');
      if (paused) return { trial: paused, resume: true };
      const job: Job | null = nextJob(schedulerView(state.trials), config);
      if (!job) return null;
      if (job.kind === 'promote') {
        const trial = state.trials.find((t) => t.id === job.trial)!;
        trial.rung = job.rung;
        trial.member = { ...trial.member, epochs: trialEpochs(state, trial.params, job.rung) };
        return { trial, resume: true };
      }
      const id = state.trials.length;
      const params = sampleTrial(state.space, state.seed, id);
      const name = `trial-${String(id + 1).padStart(3, '0')}`;
      const trial: TrialRecord = {
        id,
        name,
        params,
        member: trialMember(params, name, deriveSeed(state.seed, 'search-member', id) % 1_000_000, trialEpochs(state, params, 0)),
        state: 'pending',
        rung: 0,
        scores: [],
        seconds: 0,
      };
      state.trials.push(trial);
      return { trial, resume: false };
    };

    const runTrial = async (trial: TrialRecord, resume: boolean): Promise<void> => {
      trial.state = 'running';
      trial.error = undefined;
      const member = memberFromInput(trial.member, 0);
      const epochs = member.epochs;
      const { epochs: _sampled, ...drawn } = trial.params;
      // "continuing" only where there is something to continue from: a trial that failed before
      // its first epoch (a file in the way of its folder) starts again (it was "continuing").
      const continues = resume && (trial.scores.length > 0 || existsSync(path.join(dir, trial.name, 'last')));
      emit({ type: 'trial-start', trial: trial.name, rung: trial.rung, epochs, params: drawn, resumed: continues });
      await save();
      const job: WorkerJob = {
        kind: 'train-member',
        engine: { backend: options.backend },
        member: { ...member, init: member.init ? await resolveInit(member.init) : undefined },
        datasetDir,
        trainRows,
        validationRows,
        outDir: path.join(dir, trial.name),
        resume,
        metadata: { orientation: dataset.orientation, dataFingerprint: dataset.fingerprint, command: options.command },
      };
      const t0 = Date.now();
      const [outcome] = await (options.runJobs ?? runWorkerJobs)<TrainResult>([job], {
        concurrency: 1,
        onEvent: (_i, event) => {
          const e = event as TrainEvent;
          if (e.type === 'epoch') emit({ type: 'trial-epoch', trial: trial.name, epoch: e.epoch + 1, epochs: e.epochs, valLoss: e.valLoss, valAcc: e.valAcc, imagesPerSecond: e.imagesPerSecond });
        },
      });
      trial.seconds += Math.round((Date.now() - t0) / 1000);
      if (!outcome!.ok) {
        trial.state = 'failed';
        trial.error = outcome!.error;
        emit({ type: 'trial-failed', trial: trial.name, error: outcome!.error });
      } else {
        const result = outcome!.value;
        const score: RungScore = { rung: trial.rung, epochs: result.history.length, valLoss: result.bestValLoss, valAcc: result.bestValAcc };
        trial.scores = [...trial.scores.filter((s) => s.rung !== trial.rung), score];
        trial.state = 'done';
        emit({ type: 'trial-rung', trial: trial.name, rung: trial.rung, epochs: score.epochs, valLoss: score.valLoss, valAcc: score.valAcc });
      }
      await save();
    };

    const running = new Set<Promise<void>>();
    let spent = false;
    // A trial that throws (its save on a full disk) stops the search, but only once the trials
    // still running have ended: leaving with their worker threads mid-step in ONNX Runtime
    // aborted the process ("terminate called after throwing Napi::Error", exit 134) after the
    // error was printed (until session 45). No new trial starts meanwhile.
    let failure: { error: unknown } | null = null;
    for (;;) {
      while (failure === null && running.size < options.concurrency) {
        if (budgetOver()) {
          if (!spent) emit({ type: 'budget-spent', seconds: Math.round((Date.now() - started) / 1000) });
          spent = true;
          break;
        }
        const next = take();
        if (!next) break;
        const p: Promise<void> = runTrial(next.trial, next.resume)
          .catch((error: unknown) => {
            if (failure !== null) return;
            failure = { error };
            const others = state.trials.filter((t) => t.state === 'running' && t !== next.trial).map((t) => t.name);
            if (others.length > 0) {
              const what = (error instanceof Error ? error.message : String(error)).split('\n')[0];
              emit({ type: 'warning', message: `the search stops (${next.trial.name}: ${what}); waiting for ${others.join(', ')} to end first (Ctrl-C stops ${others.length === 1 ? 'it' : 'them'} now, kept to continue)` });
            }
          })
          .finally(() => running.delete(p));
        running.add(p);
      }
      if (running.size === 0) break;
      await Promise.race(running);
    }
    if (failure !== null) throw (failure as { error: unknown }).error;
    await save();

    const top = topKEnsemble(state, options.top, safeNameFrom(path.basename(dir).startsWith('search') ? path.basename(dir) : `search-${path.basename(dir)}`, 'search'), `digits search --out ${path.relative(process.cwd(), dir) || dir}`);
    let ensembleFile: string | null = null;
    if (top) {
      ensembleFile = path.join(dir, SEARCH_ENSEMBLE_FILE);
      await writeJsonAtomic(ensembleFile, top);
    }
    const unfinished = state.trials.filter((t) => t.state !== 'done' && t.state !== 'failed').length;
    const failed = state.trials.filter((t) => t.state === 'failed').length;
    if (!top && state.trials.length > 0 && failed === state.trials.length) {
      const first = state.trials.find((t) => t.error)!;
      throw new UserError(`every trial of the search failed (${failed}), so there is no leaderboard nor ensemble file; ${first.name}: ${first.error!.split('\n')[0]}`, {
        where: { file: searchFile },
        hint: 'Fix the cause (the space, the data or the folder), then run the same command again: failed trials are tried again.',
      });
    }
    // (stopped by the budget only when the scheduler still had a job: a search whose last trial ended as the budget ran out is finished)
    const stoppedByBudget = spent && (state.trials.some((t) => t.state === 'paused') || nextJob(schedulerView(state.trials), config) !== null);
    return { dir, searchFile, ensembleFile, ensembleMembers: top ? (top.members as unknown[]).length : 0, leaderboard: leaderboard(state), unfinished, failed, stoppedByBudget, drawn: state.trials.length, maxTrials: state.maxTrials, chance: chanceTrials(state), resumed: previous !== null, seconds: Math.round((Date.now() - started) / 1000) };
  } finally {
    await lock.release();
  }
}
