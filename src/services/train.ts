/**
 * Trains every member of an ensemble, concurrently in worker threads (one engine each,
 * at most `concurrency` at once). One failing member is reported and does not stop the
 * others. The run folder holds one sub-folder per member and `run.json`, which everything
 * downstream (evaluate, submit, dashboard, serve) reads instead of flags.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { VALIDATION_ROW_COST } from '../ensemble/auto.js';
import { assertSourcesUnchanged, loadDataset, resolveDatasetDir } from '../data/dataset.js';
import { assertSplitUnchanged, createSplit, DEFAULT_FOLDS, loadSplit, splitDigest, type SavedSplit } from '../data/splits.js';
import { UserError, commonFixableSystemError, failureLine, fromSystemError, runIsAFile, type ErrorLocation } from '../errors.js';
import type { BackendRequest } from '../engine/backend.js';
import { runWorkerJobs, type WorkerJobRunner } from '../training/worker-protocol.js';
import { baggedSplit, expandFolds, heldOutByEvery, type EnsembleSpec } from '../ensemble/ensemble-spec.js';
import type { MemberConfig, TrainEvent, TrainResult } from '../training/train-member.js';
import { resolveInit } from '../model/shipped.js';
import type { CheckpointMetadata } from '../model/checkpoint-metadata.js';
import { CheckpointError, checkpointIdentity, checkpointLayerNames, readVerifiedMetadata } from '../model/checkpoint.js';
import { makeFolder } from '../output-folder.js';
import { RUN_MANIFEST, assertNewRunFolder, readRunManifest, runDatasetDir, resolveStoredPath, storedPath, writeRunManifest, type MemberOutcome, type RunManifest } from '../runs/manifest.js';
import { LOCK_FILE, withRunLock } from '../runs/lock.js';
import { initLeakNote, trainedOnThisData } from '../runs/init-leak.js';
import { FEW_HELD_OUT_ROWS } from '../evaluation/ensemble-notes.js';
import { removeStaleTempFiles } from '../atomic-file.js';
import { displayPath, shellArg } from '../data/format.js';
import type { EnsembleEvent } from '../training/train-member.js';


export interface TrainEnsembleOptions {
  ensemble: EnsembleSpec;
  /** competition folder or dataset folder */
  data: string;
  /** run folder (created); members go into <runDir>/<member>/ */
  runDir: string;
  concurrency: number;
  backend: BackendRequest;
  resume?: boolean;
  command: string;
  onEvent?: (event: EnsembleEvent) => void;
  /** corrections file from the drawing pad, added to every member's training rows */
  extra?: string;
  /** lines of `extra` skipped (a torn last line, a label out of 0–9), each said once here; the workers say nothing */
  onWarning?: (message: string) => void;
  /** where the members' jobs run (default: worker threads here; services/queue: on a queue's workers) */
  runJobs?: WorkerJobRunner;
  /** the command that continues this run, said in a failure's hint (default `digits train --resume --run <runDir>`) */
  resumeCommand?: string;
  /**
   * epoch-milliseconds by which training should be over (`digits run`'s budget less what
   * evaluating and submitting take): a member stops after the epoch that would run past it.
   */
  deadline?: number;
  /** where the k-fold count was set (`--folds`, or the ensemble file), named when the data cannot hold that many folds */
  foldsFrom?: ErrorLocation;
  /**
   * With a deadline: a member that starts after others have trained epochs is given fewer epochs
   * when its planned ones would pass the deadline at the speed they trained (whole epochs,
   * validation and saves included), so it ends with its schedule run out rather than cut at the
   * deadline mid-schedule. `member` makes the member of that many epochs (auto: its decay
   * recomputed); `startSeconds`: a member's start on a worker, before its first epoch;
   * `planSecondsPerEpochRow`: the speed the plan counted, which a resumed run with no epoch timed
   * yet (nor recorded by its earlier sessions) re-plans at.
   */
  replan?: { member: (member: MemberConfig, epochs: number) => MemberConfig; startSeconds: number; planSecondsPerEpochRow?: number };
}

/** How many of the latest epochs (of any member) set the speed a member is re-planned at. */
const REPLAN_EPOCHS = 8;

interface MemberPlan {
  member: MemberConfig;
  split: { name: string; fold: number };
  /** the member entry of the spec it trains (differs from the member's name under k-fold) */
  recipe: string;
}

/**
 * Each member's validation rows: one shared split, one split per member (bagging), or one
 * member per fold and recipe on one k-fold split.
 */
async function planSplits(spec: EnsembleSpec, datasetDir: string, foldsFrom?: ErrorLocation): Promise<MemberPlan[]> {
  const v = spec.validation;
  if (v.kind === 'shared') {
    // (a saved split, checked by withSavedHoldout)
    if (v.split) return spec.members.map((member) => ({ member, split: { name: v.split!, fold: 0 }, recipe: member.name }));
    const name = `holdout-${v.fraction}-seed${v.seed}`;
    await createSplit({ data: datasetDir, name, spec: { kind: 'holdout', validationFraction: v.fraction, seed: v.seed } });
    return spec.members.map((member) => ({ member, split: { name, fold: 0 }, recipe: member.name }));
  }
  if (v.kind === 'kfold') {
    let name = v.split;
    let folds = v.folds;
    if (name) {
      const saved = await loadSplit(datasetDir, name);
      if (saved.spec.kind !== 'kfold') throw new UserError(`split ${JSON.stringify(name)} is a hold-out split, not k folds`, { where: { file: path.join(datasetDir, 'splits', `${name}.json`) }, hint: `Make one with \`digits data split --folds ${DEFAULT_FOLDS} --name <name>\`, or use {"kind": "shared", ...} validation.` });
      if (folds && folds !== saved.folds.length) throw new UserError(`the ensemble asks for ${folds} folds; split ${JSON.stringify(name)} has ${saved.folds.length}`, { where: { flag: 'ensemble' }, hint: 'Leave "folds" out to use the split\'s folds.' });
      folds = saved.folds.length;
    } else {
      name = `kfold-${folds}-seed${v.seed}`;
      await createSplit({ data: datasetDir, name, spec: { kind: 'kfold', k: folds, seed: v.seed } }).catch((error: unknown) => {
        // The fold count comes from --folds or from the ensemble's validation: say both.
        if (error instanceof UserError && error.where?.flag === 'folds') throw new UserError(`${error.message} (k-fold validation of ensemble ${spec.name})`, {
            ...(foldsFrom ? { where: foldsFrom } : {}),
            hint: foldsFrom?.flag ? `Lower --${foldsFrom.flag}.` : foldsFrom?.file ? 'Lower "folds" in the ensemble file\'s validation.' : 'Lower --folds, or "folds" in the ensemble\'s validation.',
          });
        throw error;
      });
    }
    return expandFolds(spec, folds).map(({ member, recipe, fold }) => ({ member, recipe, split: { name: name!, fold } }));
  }
  const plans: MemberPlan[] = [];
  for (const member of spec.members) {
    const { name, spec: split } = baggedSplit(v.fraction, member);
    await createSplit({ data: datasetDir, name, spec: split });
    plans.push({ member, split: { name, fold: 0 }, recipe: member.name });
  }
  return plans;
}



/**
 * The ensemble with its saved hold-out split read: `{"kind": "shared", "split": <name>}` takes the
 * split `digits data split` saved with the dataset, whose fraction and seed it records (run.json
 * then says which rows, as for any shared split). A k-fold split, or one made for other data, is
 * refused naming the file.
 */
async function withSavedHoldout(spec: EnsembleSpec, datasetDir: string, fingerprint: string): Promise<EnsembleSpec> {
  const v = spec.validation;
  if (v.kind !== 'shared' || !v.split) return spec;
  const saved = await loadSplit(datasetDir, v.split, fingerprint);
  if (saved.spec.kind !== 'holdout') {
    throw new UserError(`split ${JSON.stringify(v.split)} holds ${saved.folds.length} folds, not one hold-out`, {
      where: { file: path.join(datasetDir, 'splits', `${v.split}.json`) },
      hint: `Validate on its folds with {"kind": "kfold", "split": ${JSON.stringify(v.split)}}, or save a hold-out with \`digits data split --validation 0.1 --name <name>\`.`,
    });
  }
  return { ...spec, validation: { kind: 'shared', fraction: saved.spec.validationFraction, seed: saved.spec.seed, split: v.split } };
}

/** What to train when continuing a run: the run folder's own ensemble and data. */
export interface ResumePlan {
  ensemble: EnsembleSpec;
  /** the dataset folder the run was trained on */
  data: string;
  /** the corrections file the run was trained with (`--extra`), if any */
  extra?: string;
  manifest: RunManifest;
}

const exists = (file: string) => stat(file).then(() => true, () => false);

// (a saved hold-out is the same whatever its fraction and seed, read from it when the run started)
const comparable = (spec: EnsembleSpec) => JSON.stringify({
  ...spec,
  validation: spec.validation.kind === 'shared' && spec.validation.split ? { kind: 'shared', split: spec.validation.split } : spec.validation,
  members: spec.members.map((m) => ({ ...m, init: undefined })),
});

/** How `given` differs from `recorded`, briefly: "a: epochs 3 (the run's: 2); d: not in the run; c: left out". */
export function ensembleDifferences(given: EnsembleSpec, recorded: EnsembleSpec): string {
  const show = (value: unknown) => (value === undefined ? 'none' : JSON.stringify(value));
  const parts: string[] = [];
  if (given.name !== recorded.name) parts.push(`name ${show(given.name)} (the run's: ${show(recorded.name)})`);
  const [a, b] = [JSON.parse(comparable(given)) as EnsembleSpec, JSON.parse(comparable(recorded)) as EnsembleSpec];
  if (JSON.stringify(a.validation) !== JSON.stringify(b.validation)) parts.push(`validation ${show(a.validation)} (the run's: ${show(b.validation)})`);
  const theirs = new Map(b.members.map((m) => [m.name, m as unknown as Record<string, unknown>]));
  const ours = new Set(a.members.map((m) => m.name));
  for (const member of a.members as unknown as Record<string, unknown>[]) {
    const recordedMember = theirs.get(member.name as string);
    if (!recordedMember) {
      parts.push(`${member.name}: not in the run`);
      continue;
    }
    const keys = [...new Set([...Object.keys(member), ...Object.keys(recordedMember)])].filter((k) => JSON.stringify(member[k]) !== JSON.stringify(recordedMember[k]));
    if (keys.length > 0) parts.push(`${member.name}: ${keys.map((k) => `${k} ${show(member[k])} (the run's: ${show(recordedMember[k])})`).join(', ')}`);
  }
  for (const name of theirs.keys()) if (!ours.has(name)) parts.push(`${name}: left out`);
  if (parts.length === 0) parts.push('the members come in another order');
  return parts.length > 4 ? `${parts.slice(0, 4).join('; ')}; and ${parts.length - 4} more` : parts.join('; ');
}

/**
 * Reads what an interrupted (or finished) run was trained with from its run.json, so
 * `--resume --run X` needs nothing else. An ensemble or data given as well must be the
 * run's own: anything else is an error naming the flag.
 */
export async function planResume(runDir: string, given: { ensemble?: EnsembleSpec; data?: string; onNote?: (message: string) => void } = {}): Promise<ResumePlan> {
  const dir = path.resolve(runDir);
  // (a file: "it holds no run.json" below made a folder of it)
  if ((await stat(dir).catch(() => null))?.isFile()) throw runIsAFile(dir);
  const manifest = await readRunManifest(dir).catch((error: unknown) => {
    // Said for resuming when the folder simply holds no run; the reader's own word otherwise: a
    // file above it (`--run afile/x`), a search folder, a bare run name, a damaged run.json.
    if (!(error instanceof UserError) || error.hint?.startsWith('Did you mean')) throw error;
    // (a folder that is not there is said so: "it holds no run.json" spoke of it as if it were)
    if (error.message === `there is no folder ${dir}`) {
      throw new UserError(`nothing to resume: there is no folder ${dir}`, {
        where: { file: dir, flag: 'run' },
        hint: 'Pass the folder of a run `digits train` started (see the folders under runs/), or start a new run without --resume.',
      });
    }
    if (error.message !== `no training run in ${dir}`) throw error;
    throw new UserError(`nothing to resume in ${dir}: it holds no ${RUN_MANIFEST}`, {
      where: { file: path.join(dir, RUN_MANIFEST), flag: 'run' },
      hint: 'Pass the folder of a run `digits train` started (see the folders under runs/), or start a new run without --resume.',
    });
  });
  // --data, when given, must hold the run's data (its fingerprint): the recorded folder, or
  // where the competition is now after a move.
  const data = await runDatasetDir(dir, manifest, given.data, given.onNote);
  if (given.ensemble && comparable(given.ensemble) !== comparable(manifest.ensemble)) {
    // What differs, member by member (it named the ensemble three times and said nothing of its members)
    throw new UserError(`--ensemble ${given.ensemble.name} is not the ensemble run ${manifest.name} was trained with: ${ensembleDifferences(given.ensemble, manifest.ensemble)} (as recorded in ${RUN_MANIFEST})`, {
      where: { flag: 'ensemble' },
      hint: 'Leave --ensemble out when resuming, or start a new run folder for another ensemble.',
    });
  }
  const ensemble = { ...manifest.ensemble, members: manifest.ensemble.members.map((m) => (m.init ? { ...m, init: resolveStoredPath(dir, m.init) } : m)) };
  return { ensemble, data, extra: manifest.extra ? resolveStoredPath(dir, manifest.extra.file) : undefined, manifest };
}

export async function trainEnsemble(options: TrainEnsembleOptions): Promise<RunManifest> {
  const runDir = path.resolve(options.runDir);
  // (the folders above it it had to make too: `runs/` of a first run)
  const folder = await makeFolder(runDir, { keep: [LOCK_FILE] });
  try {
    // One writer per run folder; files a killed writer left behind go once we hold it.
    return await withRunLock(runDir, options.command, async () => {
      await removeStaleTempFiles(runDir);
      return trainLocked({ ...options, runDir });
    });
  } catch (error) {
    // A run refused before it began (no such --data, a missing init, data of the wrong size…)
    // leaves no empty folder behind: until session 39 it left the runs/ it had made for it.
    await folder.undo();
    throw error;
  }
}

/**
 * What a member's "init" must agree with, checked before anything is trained: the checkpoint's
 * preset is the member's, and "freezeUpTo" names one of its layers. Found by the members as they
 * load, these made every member fail in a run folder whose run.json then kept the mistake, so
 * that `--resume` after fixing the ensemble file failed the same way (session 38).
 */
async function checkMemberInits(members: readonly MemberConfig[], resume: boolean): Promise<Map<string, CheckpointMetadata>> {
  const read = new Map<string, CheckpointMetadata>();
  const again = resume
    ? `--resume trains the ensemble its ${RUN_MANIFEST} recorded: train the fixed ensemble file into a new run folder (\`digits train --ensemble <file> --run <folder>\`).`
    : 'Fix the member in the ensemble file.';
  for (const member of members) {
    if (!member.init) continue;
    // (its files checked against their recorded hashes: a truncated weights.bin was found only by
    // the member's worker, after the other members had trained)
    const metadata = await readVerifiedMetadata(member.init).catch((error: unknown) => {
      if (error instanceof CheckpointError) throw new UserError(`member ${member.name}: its init ${member.init} cannot be read: ${error.message}`, { where: { file: error.file ?? member.init, flag: 'ensemble' }, hint: error.hint ?? again });
      throw error;
    });
    if (metadata.preset !== member.preset) {
      throw new UserError(`member ${member.name}: its init checkpoint ${displayPath(member.init)} is a ${metadata.preset} network, and the member's preset is ${member.preset}`, {
        where: { flag: 'ensemble' },
        hint: `Give the member "preset": "${metadata.preset}", or an init checkpoint of preset ${member.preset}. ${again}`,
      });
    }
    read.set(member.name, metadata);
    if (member.freezeUpTo !== undefined) {
      const layers = await checkpointLayerNames(member.init);
      if (!layers.includes(member.freezeUpTo)) {
        throw new UserError(`member ${member.name}: "freezeUpTo": "${member.freezeUpTo}" names no layer of its init checkpoint (layers: ${layers.join(', ')})`, {
          where: { flag: 'ensemble' },
          hint: `Name one of those layers (the layers up to it are frozen). ${again}`,
        });
      }
    }
  }
  return read;
}

/**
 * Members whose batch is larger than their training rows: each epoch is then one step over all
 * of them, which trains nothing like what the batch size promises (a search space allowed 4096 on
 * 540 rows and said nothing). Said once per batch size and row count, naming the members.
 */
export function oversizedBatches(plans: readonly { member: MemberConfig; split: { name: string; fold: number } }[], splits: ReadonlyMap<string, SavedSplit>, extraRows: number): string[] {
  const groups = new Map<string, { batch: number; rows: number; names: string[] }>();
  for (const { member, split } of plans) {
    const rows = splits.get(split.name)!.folds[split.fold]!.train.length + extraRows;
    if (member.batchSize <= rows) continue;
    const key = `${member.batchSize}/${rows}`;
    const group = groups.get(key) ?? { batch: member.batchSize, rows, names: [] };
    group.names.push(member.name);
    groups.set(key, group);
  }
  return [...groups.values()].map(({ batch, rows, names }) =>
    `${names.length === 1 ? `member ${names[0]}` : `members ${names.join(', ')}`}: batch size ${batch} is more than the ${rows} training row${rows === 1 ? '' : 's'}, so each epoch is a single step over all of them; a batch size of at most ${rows} (64 is the presets' usual) gives the epochs several steps`,
  );
}

/**
 * Refuses to resume members from an init checkpoint replaced since the run started, when one
 * of them would start from it again (no `last/` of its own yet; fold members are the recipe's
 * name with -f1, -f2, …): the run's members would come from two different networks.
 */
async function assertInitsUnchanged(runDir: string, recorded: Record<string, string>, now: Record<string, string>, members: readonly MemberConfig[]): Promise<void> {
  const entries = await readdir(runDir).catch(() => [] as string[]);
  for (const member of members) {
    const before = recorded[member.name];
    if (!member.init || before === undefined || now[member.name] === before) continue;
    const folders = entries.filter((e) => e === member.name || e.startsWith(`${member.name}-f`));
    const started = await Promise.all(folders.map((f) => exists(path.join(runDir, f, 'last'))));
    const fresh = folders.length === 0 || started.some((s) => !s);
    if (!fresh) continue;
    throw new UserError(`member ${member.name}: its init checkpoint ${displayPath(member.init)} was replaced since run ${path.basename(runDir)} started (its identity was ${before}, it is ${now[member.name]}), so the members still to train would start from another network than the others did`, {
      where: { file: path.join(runDir, RUN_MANIFEST), flag: 'run' },
      hint: `Put the checkpoint the run started from back in ${displayPath(member.init)}, or train the ensemble into a new run folder (\`digits train --ensemble <file> --run <new folder>\`).`,
    });
  }
}

/**
 * What a split leaves out, said before training: digits with no training row (a hold-out of 99.5%
 * left 6 rows, most digits never seen, in silence) and, for a hold-out, digits with no held-out
 * row (as `data split` says of its own).
 */
export function splitCoverage(splits: ReadonlyMap<string, SavedSplit>, labels: Uint8Array): string[] {
  const digits = (list: number[]) => `${list.length === 1 ? 'digit' : 'digits'} ${list.join(', ')}`;
  const present = new Array<number>(10).fill(0);
  for (const label of labels) present[label]!++;
  const out: string[] = [];
  for (const [name, split] of splits) {
    split.folds.forEach((fold, i) => {
      const held = new Array<number>(10).fill(0);
      for (const row of fold.validation) held[labels[row]!]!++;
      const where = split.folds.length > 1 ? `fold ${i + 1} of split "${name}"` : `split "${name}"`;
      const untrained = present.flatMap((count, digit) => (count > 0 && held[digit] === count ? [digit] : []));
      if (untrained.length > 0) {
        const it = untrained.length === 1 ? 'it' : 'them';
        // A digit of one row is held out wherever it falls: no fraction or fold count helps (until session 44 the advice was always "a smaller fraction, or more folds").
        const single = untrained.every((d) => present[d] === 1);
        const has = untrained.length === 1 ? 'it has' : 'each has';
        const advice =
          split.folds.length > 1
            ? single
              ? `the other folds' members train on ${it}; ${has} a single row, which one fold always holds out`
              : `the other folds' members train on ${it}; more folds hold out fewer rows of each digit`
            : single
              ? `${has} a single training row, which a holdout either trains on or scores: k folds (--folds) train on ${it} in every other fold`
              : 'hold out less: a smaller "fraction"';
        out.push(`${where} holds out every row of ${digits(untrained)}: its members never see ${it} in training (${advice})`);
      }
      const unscored = split.folds.length === 1 ? present.flatMap((count, digit) => (count > 0 && held[digit] === 0 ? [digit] : [])) : [];
      if (unscored.length > 0) out.push(`${where} holds out no row of ${digits(unscored)}: its held-out figures say nothing about ${unscored.length === 1 ? 'it' : 'them'} (a larger "fraction" holds out more)`);
    });
  }
  return out;
}

async function trainLocked(options: TrainEnsembleOptions): Promise<RunManifest> {
  // A new run never trains over another: its members, evaluation and submission would mix.
  if (!options.resume && existsSync(path.join(options.runDir, RUN_MANIFEST))) await assertNewRunFolder(options.runDir, 'run', 'a new run', { lockedByUs: true });
  const started = Date.now();
  const runDir = options.runDir;
  const datasetDir = await resolveDatasetDir(options.data);
  // A new run trains on what the CSVs hold now; a resumed one on the cache it started with (its fingerprint is checked below).
  if (!options.resume) await assertSourcesUnchanged(datasetDir);
  const dataset = await loadDataset(datasetDir);
  if (dataset.width !== 28 || dataset.height !== 28) {
    throw new UserError(`the presets take 28×28 images; this dataset's are ${dataset.width}×${dataset.height}`, { where: { file: datasetDir }, hint: 'Resize the images to 28×28 before importing.' });
  }
  const previous = options.resume ? await readRunManifest(runDir).catch(() => null) : null;
  if (previous && previous.dataset.fingerprint !== dataset.fingerprint) {
    throw new UserError(`the dataset in ${datasetDir} changed since run ${previous.name} started, so it cannot be resumed`, {
      where: { file: path.join(runDir, RUN_MANIFEST) },
      hint: 'Re-import the data the run was trained on, or start a new run.',
    });
  }
  const ensemble = await withSavedHoldout(options.ensemble, datasetDir, dataset.fingerprint);
  const members = await Promise.all(
    ensemble.members.map(async (m) => ({ ...m, init: m.init ? await resolveInit(m.init) : undefined })),
  );
  const initMetadata = await checkMemberInits(members, options.resume === true);
  // Each init's identity: recorded when the run starts, checked when it resumes (a checkpoint
  // replaced in between trained the remaining members from another network, without a word).
  const initIdentities: Record<string, string> = {};
  for (const m of members) if (m.init) initIdentities[m.name] = await checkpointIdentity(m.init);
  if (previous?.initIdentities) await assertInitsUnchanged(runDir, previous.initIdentities, initIdentities, members);
  // An init trained on these very rows: its held-out figures will be optimistic (said before the training, and by evaluate)
  if (!options.resume) {
    const leaking = members.filter((m) => trainedOnThisData(initMetadata.get(m.name) ?? null, dataset.fingerprint)).map((m) => m.name);
    if (leaking.length > 0) options.onWarning?.(initLeakNote(leaking));
  }
  const plans = await planSplits({ ...ensemble, members }, datasetDir, options.foldsFrom);
  // A member re-planned when it started keeps what it was given (its schedule and saved epochs agree with it).
  for (const plan of plans) {
    const given = previous?.replanned?.[plan.member.name];
    if (given) plan.member = { ...plan.member, epochs: given.epochs, schedule: given.schedule };
  }
  const splits = plans.map((p) => ({ member: p.member.name, name: p.split.name, fold: p.split.fold }));
  if (previous?.splits && JSON.stringify(previous.splits) !== JSON.stringify(splits)) {
    throw new UserError(`run ${previous.name} was trained on other validation splits than this ensemble makes`, {
      where: { file: path.join(runDir, RUN_MANIFEST) },
      hint: 'Resume with the run\'s own ensemble (leave --ensemble out), or start a new run.',
    });
  }
  // Each split read once; the digest of its rows, as trained on: a split replaced under the same name is refused later.
  const loadedSplits = new Map<string, SavedSplit>();
  const splitDigests: Record<string, string> = {};
  for (const name of new Set(splits.map((s) => s.name))) {
    const split = await loadSplit(datasetDir, name, dataset.fingerprint);
    if (previous) assertSplitUnchanged(split, previous.splitDigests?.[name], { name: previous.name, file: path.join(runDir, RUN_MANIFEST) });
    loadedSplits.set(name, split);
    splitDigests[name] = splitDigest(split);
  }
  // Bagged members whose holdouts share few rows: trained as asked, but what evaluate will do
  // with them said before the hours of training (until session 45 it refused them).
  // (from the splits just loaded, which the members train on: not computed again)
  const common = !options.resume && ensemble.validation.kind === 'bagged' && members.length > 1 ? heldOutByEvery([...loadedSplits.values()].map((split) => split.folds[0]!.validation)) : null;
  if (common !== null && common < FEW_HELD_OUT_ROWS) {
    options.onWarning?.(`${common === 0 ? 'no training row is' : `only ${common} training row${common === 1 ? ' is' : 's are'}`} held out by all ${members.length} members ("bagged" validation: each holds out its own rows), so its evaluation will score the ensemble out of bag: each row voted by the members that held it out, figures nearer one member's than the ensemble's, with equal weights. A shared holdout ("kind": "shared") or k folds (--folds ${DEFAULT_FOLDS}) score the whole ensemble.`);
  }
  // Extra rows change what the members learn from: they are part of the data fingerprint.
  let dataFingerprint = dataset.fingerprint;
  let extra: RunManifest['extra'];
  if (options.extra) {
    const { readCorrections } = await import('../data/corrections.js');
    const log = await readCorrections(options.extra, { flag: 'extra' });
    for (const warning of log.warnings) options.onWarning?.(warning);
    // Rows asked for and none usable: said, not trained without them (run.json said "rows": 0)
    if (log.records.length === 0) {
      throw new UserError(`--extra ${displayPath(options.extra)} holds no usable row${log.warnings.length > 0 ? ` (${log.warnings.length} line${log.warnings.length === 1 ? '' : 's'} skipped, as the warnings say)` : ' (it is empty)'}`, {
        where: { file: options.extra, flag: 'extra' },
        hint: 'Give a corrections file with rows (the pad saves them to <run>/corrections.jsonl; `digits corrections` lists a run\'s), or leave --extra out.',
      });
    }
    const hash = createHash('sha256').update(await readFile(options.extra)).digest('hex');
    extra = { file: storedPath(runDir, options.extra), rows: log.records.length, sha256: hash };
    dataFingerprint = `${dataset.fingerprint}+corrections:sha256:${hash}`;
  }
  if (!options.resume) for (const warning of [...oversizedBatches(plans, loadedSplits, extra?.rows ?? 0), ...splitCoverage(loadedSplits, dataset.trainLabels)]) options.onWarning?.(warning);
  // run.json exists from the start, so an interrupted run can be resumed from its folder alone.
  const manifest: RunManifest = {
    format: 'digits-run',
    version: 1,
    name: path.basename(runDir),
    status: 'training',
    // Init checkpoints inside the project are stored relative to the run folder, like its data,
    // so a moved or copied project resumes and evaluates from its own files.
    ensemble: { ...ensemble, members: members.map((m) => (m.init ? { ...m, init: storedPath(runDir, m.init) } : m)) },
    dataset: { dir: storedPath(runDir, datasetDir), fingerprint: dataset.fingerprint },
    splits,
    splitDigests,
    createdAt: previous?.createdAt ?? new Date(started).toISOString(),
    finishedAt: null,
    // (a resumed run starts from the time it has: an interrupt before its first epoch keeps it)
    seconds: previous?.seconds ?? 0,
    // The command that started the run stays; each resume's is added (a resume replaced it, and
    // `digits run --resume` lost the flags the run was started with)
    command: previous?.command ?? options.command,
    ...(previous ? { resumedBy: [...(previous.resumedBy ?? []), options.command] } : {}),
    members: [],
    extra,
    ...(Object.keys(initIdentities).length > 0 ? { initIdentities: previous?.initIdentities ?? initIdentities } : {}),
    ...(previous?.replanned ? { replanned: previous.replanned } : {}),
    ...(previous?.epochRowSeconds ? { epochRowSeconds: previous.epochRowSeconds } : {}),
  };
  await writeRunManifest(runDir, manifest);
  // `seconds` counts every session of the run: an interrupted one dies by its signal without a
  // last write, so run.json is brought up to date at each finished epoch, and a resume adds to it.
  const elapsed = () => (previous?.seconds ?? 0) + Math.round((Date.now() - started) / 1000);
  let writes: Promise<void> = Promise.resolve();
  const tick = () => {
    writes = writes.then(async () => {
      if (manifest.finishedAt !== null) return;
      manifest.seconds = elapsed();
      await writeRunManifest(runDir, manifest);
    }).catch(() => undefined); // a failed progress write is caught up by the next one or by finish
  };
  const finish = async (update: Partial<RunManifest>) => {
    Object.assign(manifest, { finishedAt: new Date().toISOString(), seconds: elapsed() }, update);
    await writes;
    await writeRunManifest(runDir, manifest);
    return manifest;
  };
  try {
    // Resolve each plan's rows here so workers get plain index arrays.
    const jobs = await Promise.all(
      plans.map(async (plan) => {
        const fold = loadedSplits.get(plan.split.name)!.folds[plan.split.fold]!;
        return {
          kind: 'train-member' as const,
          engine: { backend: options.backend },
          member: plan.member,
          datasetDir,
          trainRows: Array.from(fold.train),
          validationRows: Array.from(fold.validation),
          outDir: path.join(runDir, plan.member.name),
          resume: options.resume ?? false,
          extra: options.extra ? path.resolve(options.extra) : undefined,
          deadline: options.deadline,
          metadata: { orientation: dataset.orientation, dataFingerprint, command: options.command },
        };
      }),
    );
    const emit = options.onEvent ?? (() => {});
    // The speed members train at, for re-planning the ones not started yet: seconds per epoch
    // row (training rows, validation rows at VALIDATION_ROW_COST) of each whole epoch, timed
    // here between a member's events.
    const extraRows = extra?.rows ?? 0;
    const epochUnits = jobs.map((job) => job.trainRows.length + extraRows + VALIDATION_ROW_COST * job.validationRows.length);
    const lastEventAt = new Map<number, number>();
    // (a resumed run starts from the speed its earlier sessions measured: its first members
    // would otherwise start with their whole plan however little of the budget is left)
    const perUnit: number[] = options.deadline !== undefined ? [...(previous?.epochRowSeconds ?? [])] : [];
    const replan = options.replan && options.deadline !== undefined ? options.replan : undefined;
    const prepare = replan
      ? async (i: number, queued: unknown) => {
          const job = queued as (typeof jobs)[number];
          // (a new run's first members start on the plan, which fits the budget by construction)
          const fallback = options.resume ? replan.planSecondsPerEpochRow : undefined;
          if (perUnit.length === 0 && fallback === undefined) return job;
          // A resumed member that has saved epochs goes on with its schedule (cut at the deadline if need be).
          if (options.resume && (await exists(path.join(job.outDir, 'last')))) return job;
          const recent = perUnit.slice(-REPLAN_EPOCHS).sort((a, b) => a - b);
          const secondsPerEpoch = (recent.length > 0 ? recent[Math.floor(recent.length / 2)]! : fallback!) * epochUnits[i]!;
          const secondsLeft = (options.deadline! - Date.now()) / 1000 - replan.startSeconds;
          const fit = Math.max(1, Math.floor(secondsLeft / secondsPerEpoch));
          if (fit >= job.member.epochs) return job;
          const member = replan.member(job.member, fit);
          // (re-planned again on a resume: "planned" stays the plan's, not the first re-plan's)
          const planned = manifest.replanned?.[member.name]?.planned ?? job.member.epochs;
          const record = { planned, epochs: member.epochs, schedule: member.schedule, secondsPerEpoch: Number(secondsPerEpoch.toFixed(1)), secondsLeft: Math.max(0, Math.round(secondsLeft)) };
          manifest.replanned = { ...manifest.replanned, [member.name]: record };
          tick();
          emit({ type: 'replanned', member: member.name, ...record });
          return { ...job, member };
        }
      : undefined;
    const outcomes = await (options.runJobs ?? runWorkerJobs)<TrainResult>(jobs, {
      concurrency: options.concurrency,
      prepare,
      onEvent: (i, event) => {
        const e = event as { type: string };
        if (e.type === 'engine') emit({ ...(event as { backend: string; ort: boolean }), type: 'engine', member: plans[i]!.member.name });
        else {
          if (e.type === 'start') lastEventAt.set(i, Date.now());
          if (e.type === 'epoch') {
            const since = lastEventAt.get(i);
            if (since !== undefined) {
              perUnit.push((Date.now() - since) / 1000 / epochUnits[i]!);
              if (options.deadline !== undefined) manifest.epochRowSeconds = perUnit.slice(-REPLAN_EPOCHS).map((v) => Number(v.toPrecision(4)));
            }
            lastEventAt.set(i, Date.now());
            tick();
          }
          emit(event as TrainEvent);
        }
      },
    });
    const results: MemberOutcome[] = outcomes.map((outcome, i) => {
      const { member, split, recipe } = plans[i]!;
      const fromRecipe = recipe !== member.name ? { recipe } : {};
      if (!outcome.ok) {
        // (a full disk is said as the file it could not write, as every command says it; run.json keeps the system's text)
        emit({ type: 'member-failed', member: member.name, error: failureLine(outcome.error) });
        return { name: member.name, preset: member.preset, ok: false, split, ...fromRecipe, error: outcome.error };
      }
      return {
        name: member.name,
        preset: member.preset,
        ok: true,
        ...fromRecipe,
        checkpoint: path.join(member.name, 'best'),
        split,
        bestEpoch: outcome.value.bestEpoch,
        bestValAcc: outcome.value.bestValAcc,
        bestValLoss: outcome.value.bestValLoss,
        epochs: outcome.value.history.length,
        ...(outcome.value.stoppedAtDeadline ? { stoppedAtDeadline: true } : {}),
      };
    });
    // Not one member trained: the run failed (run.json says so, and the command ends with an error line, not a result).
    if (results.length > 0 && results.every((r) => !r.ok)) {
      const first = results[0]!;
      const error = `every member failed (${results.length === 1 ? '' : `${first.name}: `}${failureLine(first.error)}${results.length > 1 ? `; ${results.length - 1} more in ${RUN_MANIFEST}` : ''})`;
      await finish({ status: 'failed', members: results, error });
      const resume = options.resumeCommand ?? `digits train --resume --run ${shellArg(displayPath(runDir))}`;
      // A member can fail after saving epochs (its queue job vanished while a worker trained it):
      // then something was trained, and deleting the folder would throw it away.
      const saved = (await Promise.all(results.map(async (r) => ((await exists(path.join(runDir, r.name, 'last'))) || (await exists(path.join(runDir, r.name, 'best'))) ? r.name : null)))).filter((n): n is string => n !== null);
      // A full disk (or a folder gone read-only) fails every member alike: the data is not at fault.
      // Said as every other command says it (the file it could not write, exit 2); until session 47
      // it named run.json, as the worker's error crossed the thread without the member's file.
      const system = commonFixableSystemError(results.map((r) => r.error?.split('\n')[0]));
      const said = system && fromSystemError(system, { then: `\`${resume}\` ${saved.length > 0 ? 'continues from the last saved epoch (keep the folder)' : 'trains the members again'}` });
      if (said?.where?.file) throw said;
      const disk = results.every((r) => /\b(ENOSPC|EDQUOT|EROFS|EACCES)\b/.test(r.error ?? ''));
      throw new UserError(`run ${manifest.name}: ${error}`, {
        where: { file: path.join(runDir, RUN_MANIFEST) },
        hint: disk
          ? `The run folder could not be written (${/ENOSPC|EDQUOT/.test(first.error ?? '') ? 'the disk is full' : 'permission denied'}). Free some space or give yourself write access, then \`${resume}\` ${saved.length > 0 ? 'continues from the last saved epoch (keep the folder)' : 'trains the members again'}.`
          : saved.length > 0
          ? `${saved.length === results.length ? (results.length === 1 ? 'The member' : `All ${results.length} members`) : `${saved.length} of the ${results.length} members (${saved.join(', ')})`} saved epochs before failing: once what stopped ${saved.length === 1 ? 'it' : 'them'} is put right, \`${resume}\` continues from the last saved epoch (keep the folder).`
          : `Nothing was trained. If the data or an init checkpoint was at fault, put it right and \`${resume}\` trains the members again; if the ensemble file was, --resume would train the copy in ${RUN_MANIFEST}: delete ${shellArg(displayPath(runDir))} (nothing in it was trained) and train the fixed file.`,
        exitCode: 1,
      });
    }
    return await finish({ status: 'finished', members: results });
  } catch (error) {
    if (manifest.status === 'failed') throw error;
    await finish({ status: 'failed', error: error instanceof Error ? error.message : String(error) }).catch(() => undefined);
    throw error;
  }
}
