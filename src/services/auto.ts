/**
 * Choosing the `auto` recipe for a competition, on its holdout rows only (the test answers
 * are never an input here: this service is handed the dataset and nothing else):
 *
 * 1. the background of the training images → augmentation (src/ensemble/auto.ts);
 * 2. an LR range test from each starting point (noisy checkpoint, clean checkpoint, scratch);
 * 3. a short probe per start and candidate rate, scored by holdout loss; the best wins;
 * 4. the training speed measured during the probes → how many members × epochs fit the rest
 *    of the budget.
 *
 * Probes and range tests run in worker threads like members (`runWorkerJobs`), under
 * `<runDir>/auto-probes/`.
 */
import path from 'node:path';
import { profileBackground } from '../data/background.js';
import { heavyImbalance } from '../data/class-coverage.js';
import { CORRECTION_VERSION, writeCorrections, type CorrectionRecord } from '../data/corrections.js';
import { readMnist, type MnistSet } from '../data/mnist.js';
import { fitNoiseModel, mnistBoxLevels, synthesizeNoisyImages, type NoiseFit } from '../data/noise-model.js';
import { loadDataset, resolveDatasetDir } from '../data/dataset.js';
import type { ImageSet } from '../data/image-set.js';
import { createRandom, deriveSeed, shuffleInPlace } from '../data/random.js';
import { createSplit, loadSplit } from '../data/splits.js';
import type { BackendRequest } from '../engine/backend.js';
import { commonFixableSystemError } from '../errors.js';
import { makeFolders } from '../make-folders.js';
import {
  AUTO_BATCH,
  AUTO_PRESET,
  autoEnsemble,
  chooseAugmentation,
  chooseProbe,
  describeChoice,
  chooseValidation,
  epochRows,
  PLAN_SPEED_MARGIN,
  planWithSyntheticRows,
  planProbes,
  probeRates,
  refitProbes,
  spreadRate,
  ROWS_NOT_BY_DEFAULT,
  syntheticRowCount,
  VALIDATION_ROW_COST,
  type AutoRecord,
  type LrFindRecord,
  type MemberPlan,
  type ProbeRecord,
  type ValidationChoice,
} from '../ensemble/auto.js';
import { memberFromInput, type EnsembleSpec } from '../ensemble/ensemble-spec.js';
import type { AugmentationConfig } from '../model/augmentation-config.js';
import { resolveInit } from '../model/shipped.js';
import type { LrFindResult } from '../training/lr-find.js';
import { STARTS, startAvailable, startCheckpoint, type Start } from '../training/search/space.js';
import type { TrainResult } from '../training/train-member.js';
import { runWorkerJobs, type WorkerJob } from '../training/worker-protocol.js';

export type AutoEvent =
  | { type: 'auto-background'; reason: string; augmentation: string }
  | { type: 'auto-noise'; reason: string; syntheticRows: number; /** --synthetic-rows, when given */ asked?: number }
  | { type: 'auto-lr-find'; start: Start; minimumLoss: number; lrAtMinimum: number; lrAtEdge: number; probeRates: number[] }
  | { type: 'auto-probe'; start: Start; learningRate: number; valLoss: number; valAcc: number; seconds: number }
  | { type: 'auto-chosen'; start: Start; learningRate: number; spreadLearningRate?: number; reason: string }
  | { type: 'auto-validation'; kind: ValidationChoice['kind']; reason: string }
  | { type: 'auto-plan'; reason: string };

export interface AutoRecipeOptions {
  /** competition or dataset folder */
  data: string;
  /** the whole run's budget */
  budgetSeconds: number;
  /** seconds of the budget already spent (import, …) */
  spentSeconds: number;
  /** where probes write their folders */
  workDir: string;
  concurrency: number;
  backend: BackendRequest;
  seed: number;
  command: string;
  preset?: string;
  /** share of the member time left for a second round (pseudo-labelling) */
  secondRoundShare?: number;
  /**
   * synthetic rows to add when the competition's noise can be modelled (default
   * `syntheticRowCount`: up to SYNTHETIC_TOTAL_ROWS training rows in all; 0: none)
   */
  syntheticRows?: number;
  /**
   * Fit the probes to the speed the range tests measured (default true). False keeps the
   * probe plan made from the budget alone, so the choice does not depend on how busy the
   * machine was: two runs choose from the same probes (the answers-file test compares them).
   */
  fitProbesToSpeed?: boolean;
  /**
   * k-fold cross-validation of the members (`--folds k`): each recipe is trained once per fold,
   * so every training row gets an out-of-fold prediction and the run CV figures. The recipe is
   * still chosen on the shared holdout's probes. 0 (or 1): the holdout plan, whatever
   * `defaultFolds` says.
   */
  folds?: number;
  /**
   * When `folds` is not given: k-fold with this many folds if its plan fits enough whole
   * recipes (`chooseValidation`), else the holdout plan. Absent: the holdout plan.
   */
  defaultFolds?: number;
  onEvent?: (event: AutoEvent) => void;
}

export interface AutoRecipe {
  record: AutoRecord;
  ensemble: EnsembleSpec;
}

const thin = (lrs: number[], losses: number[], points = 40): Array<[number, number]> => {
  const step = Math.max(1, Math.ceil(lrs.length / points));
  const out: Array<[number, number]> = [];
  for (let i = 0; i < lrs.length; i += step) out.push([Number(lrs[i]!.toPrecision(3)), Number(losses[i]!.toFixed(4))]);
  return out;
};

/** The dataset and the shared holdout auto's probes and members are validated on (as `quick`'s). */
export async function loadAutoHoldout(data: string) {
  const datasetDir = await resolveDatasetDir(data);
  const dataset = await loadDataset(datasetDir);
  const splitName = 'holdout-0.1-seed42';
  await createSplit({ data: datasetDir, name: splitName, spec: { kind: 'holdout', validationFraction: 0.1, seed: 42 } });
  const split = (await loadSplit(datasetDir, splitName, dataset.fingerprint)).folds[0]!;
  return { datasetDir, dataset, trainRows: Array.from(split.train), validationRows: Array.from(split.validation) };
}

export type AutoHoldout = Awaited<ReturnType<typeof loadAutoHoldout>>;

/** The training images' background, and the augmentation auto gives images like them. */
export function autoAugmentation({ dataset }: AutoHoldout) {
  const data: ImageSet = { images: dataset.trainImages, labels: dataset.trainLabels, count: dataset.trainLabels.length, size: dataset.width, scale: dataset.scale };
  const background = profileBackground(data);
  return { background, augmentation: chooseAugmentation(background) };
}

/**
 * The layers of a corruption layer model (src/data/corruption-layer.ts), kept on the noise
 * record under a symbol key: they live as long as the run's process, and JSON (auto.json,
 * run.json) leaves them out. A resumed run has its synthetic rows' file already.
 */
const LAYERS = Symbol('corruption layers');
type NoiseRecord = NonNullable<AutoRecord['noise']> & { [LAYERS]?: Float32Array };

/**
 * The competition's noise model (src/data/noise-model.ts: additive Gaussian noise on a noisy
 * background (or uniform noise under the digit), photon noise on a black one, impulse noise on a
 * black-and-white one, an edge map of binary images, a blur or a motion blur of grey ones),
 * fitted to its training images; when none fits, a corruption layer read
 * off the training images that are copies of MNIST train digits (src/data/corruption-layer.ts,
 * the validation rows left out); and how many synthetic rows it gives the members (none
 * without a model).
 */
export async function autoNoise(holdout: AutoHoldout, seed: number, rows?: number): Promise<NoiseRecord> {
  const { dataset, trainRows } = holdout;
  const mnist = await readMnist('train');
  let fit: NoiseFit = fitNoiseModel({ images: dataset.trainImages, labels: dataset.trainLabels, count: dataset.trainLabels.length, size: dataset.width, scale: dataset.scale }, mnistBoxLevels(mnist), { digits: mnist });
  let layers: Float32Array | null = null;
  if (!fit.model && dataset.width === mnist.rows && trainRows.length > 0) {
    const layer = await corruptionLayer(holdout, mnist, fit.neighbourCorrelation);
    if (layer.fit.model) ({ fit, layers } = layer);
    else fit.reason += `; ${layer.fit.reason}`;
  }
  // Every family's rows are added by default but those of ROWS_NOT_BY_DEFAULT, as measured on
  // held-out rows (README, "Synthetic rows"; impulse noise's since session 54); `rows` is a
  // count the user gave.
  const notByDefault = fit.model && rows === undefined ? ROWS_NOT_BY_DEFAULT[fit.model.kind] : undefined;
  const syntheticRows = fit.model && dataset.width === mnist.rows && !notByDefault ? Math.min(rows ?? syntheticRowCount(trainRows.length), mnist.count) : 0;
  const noise: NoiseRecord = { fit, syntheticRows, seed: deriveSeed(seed, 'synthetic-rows'), ...(notByDefault ? { notByDefault } : {}) };
  if (layers) noise[LAYERS] = layers;
  return noise;
}

/** Training rows a corruption layer is read from, at most: plenty of layers to draw from, and the matching stays within seconds (Kaggle's clean layout has 37,800). */
export const MAX_LAYER_ROWS = 6000;

/** The corruption layer of the holdout's training rows (an even spread of up to `MAX_LAYER_ROWS`), paired with MNIST train digits of their label (tfjs, loaded here). */
async function corruptionLayer(holdout: AutoHoldout, mnist: MnistSet, neighbourCorrelation: number) {
  const { dataset } = holdout;
  const step = Math.max(1, holdout.trainRows.length / MAX_LAYER_ROWS);
  const trainRows = Array.from({ length: Math.min(MAX_LAYER_ROWS, holdout.trainRows.length) }, (_, i) => holdout.trainRows[Math.floor(i * step)]!);
  const [{ matchSources }, { fitCorruptionLayer }] = await Promise.all([import('../data/source-match.js'), import('../data/corruption-layer.js')]);
  const px = dataset.width * dataset.width;
  const images = new Float32Array(trainRows.length * px);
  const labels = new Uint8Array(trainRows.length);
  trainRows.forEach((r, i) => {
    for (let p = 0; p < px; p++) images[i * px + p] = dataset.trainImages[r * px + p]! / dataset.scale;
    labels[i] = dataset.trainLabels[r]!;
  });
  const match = await matchSources({ images, labels, count: trainRows.length, size: dataset.width }, { images: mnist.images, labels: mnist.labels, count: mnist.count, size: mnist.rows });
  return fitCorruptionLayer({ images, labels, count: trainRows.length, size: dataset.width, scale: 1 }, match.matches, mnist, neighbourCorrelation);
}

/** The file of a run's synthetic rows (corrections format, so members take it as `extra`). */
export const SYNTHETIC_ROWS_FILE = 'synthetic-rows.jsonl';

/** Writes the synthetic rows `noise` asks for to `file`; returns how many it wrote. */
export async function writeSyntheticRows(noise: NoiseRecord, file: string): Promise<number> {
  if (!noise.fit.model || noise.syntheticRows === 0) return 0;
  const mnist = await readMnist('train');
  const rows = synthesizeNoisyImages(mnist, noise.fit.model, noise.syntheticRows, noise.seed, noise[LAYERS]);
  const px = mnist.rows * mnist.cols;
  const time = new Date().toISOString();
  const records: CorrectionRecord[] = [];
  for (let k = 0; k < rows.count; k++) {
    records.push({ v: CORRECTION_VERSION, time, label: rows.labels[k]!, predicted: null, image: Array.from(rows.images.subarray(k * px, (k + 1) * px)) });
  }
  await writeCorrections(file, records);
  return rows.count;
}

/** A range test's or probe's member: Adam at a constant rate, batch 64, seed 77, from the start's checkpoint. */
export async function autoProbeMember(input: { name: string; start: Start; learningRate: number; epochs: number; augmentation: AugmentationConfig; preset?: string; sampling?: 'balanced' }) {
  const preset = input.preset ?? AUTO_PRESET;
  const init = startCheckpoint(input.start, preset);
  const m = memberFromInput({ name: input.name, preset, optimizer: 'adam', learningRate: input.learningRate, schedule: { kind: 'constant' }, augmentation: input.augmentation, epochs: input.epochs, batchSize: AUTO_BATCH, seed: 77, ...(init ? { init } : {}), ...(input.sampling ? { sampling: input.sampling } : {}) }, 0);
  return { ...m, init: m.init ? await resolveInit(m.init) : undefined };
}

/** The job that trains one probe on `trainRows` (a subset of the holdout split's), scored on its holdout rows. */
export async function autoProbeJob(input: { holdout: AutoHoldout; name: string; start: Start; learningRate: number; epochs: number; augmentation: AugmentationConfig; preset?: string; trainRows: number[]; outDir: string; backend: BackendRequest; command: string }): Promise<WorkerJob> {
  const { holdout } = input;
  return {
    kind: 'train-member',
    engine: { backend: input.backend },
    member: await autoProbeMember(input),
    datasetDir: holdout.datasetDir,
    trainRows: input.trainRows,
    validationRows: holdout.validationRows,
    outDir: input.outDir,
    // (its folder's parent, auto-probes/, is made before the probes start: a probe never makes it
    // again, so one starting while a stopped run removes its folder fails instead of leaving it)
    parentExists: true,
    resume: false,
    metadata: { orientation: holdout.dataset.orientation, dataFingerprint: holdout.dataset.fingerprint, command: input.command },
  };
}

export async function chooseAutoRecipe(options: AutoRecipeOptions): Promise<AutoRecipe> {
  const started = Date.now();
  const emit = options.onEvent ?? (() => {});
  const preset = options.preset ?? AUTO_PRESET;
  const holdout = await loadAutoHoldout(options.data);
  const { datasetDir, dataset, trainRows, validationRows } = holdout;

  // 1. The background, from the training rows only.
  const { background, augmentation } = autoAugmentation(holdout);
  emit({ type: 'auto-background', reason: background.reason, augmentation: JSON.stringify(augmentation.config) });
  const noise = await autoNoise(holdout, options.seed, options.syntheticRows);
  emit({ type: 'auto-noise', reason: noise.notByDefault ? `${noise.fit.reason}; ${noise.notByDefault}` : noise.fit.reason, syntheticRows: noise.syntheticRows, ...(options.syntheticRows !== undefined ? { asked: options.syntheticRows } : {}) });

  const starts = STARTS.filter((s) => startAvailable(s, preset));
  const initialPlan = planProbes({
    budgetSeconds: options.budgetSeconds,
    trainRows: trainRows.length,
    concurrency: options.concurrency,
    starts: starts.length,
    probes: starts.length * 2,
  });
  // One seeded order of the training rows; range tests and probes take a prefix of it.
  const shuffled = shuffleInPlace(trainRows.slice(), createRandom(deriveSeed(options.seed, 'auto-probe-rows')));
  const rowsFor = (n: number) => shuffled.slice(0, n).sort((a, b) => a - b);
  // Heavily imbalanced labels: every digit equally often in each batch, for probes and members
  // alike (90% ones scored 26.75% with the plain shuffle: the checkpoints' batch normalisation met
  // batches unlike the balanced ones it was pretrained on)
  const counts = new Array<number>(10).fill(0);
  for (const row of trainRows) counts[dataset.trainLabels[row]!]!++;
  const sampling = heavyImbalance(counts) ? ('balanced' as const) : undefined;
  const memberFor = (name: string, start: Start, learningRate: number, epochs: number) => autoProbeMember({ name, start, learningRate, epochs, augmentation: augmentation.config, preset, ...(sampling ? { sampling } : {}) });
  const engine = { backend: options.backend };
  const probeDir = path.join(options.workDir, 'auto-probes');

  // 2. An LR range test from every start.
  const lrJobs: WorkerJob[] = await Promise.all(
    starts.map(async (start) => ({
      kind: 'lr-find' as const,
      engine,
      member: await memberFor(`lr-find-${start}`, start, 1e-3, 1),
      datasetDir,
      trainRows: rowsFor(initialPlan.probeRows),
      options: { steps: initialPlan.lrFindSteps, minLr: 1e-6, maxLr: 1 },
    })),
  );
  const lrOutcomes = await runWorkerJobs<LrFindResult>(lrJobs, { concurrency: options.concurrency });
  const lrFinds: LrFindRecord[] = [];
  lrOutcomes.forEach((outcome, i) => {
    const start = starts[i]!;
    if (!outcome.ok) {
      // (a full disk or the like is the user's to put right, as with the probes)
      const system = commonFixableSystemError([outcome.error.split('\n')[0]]);
      throw new Error(`the LR range test from the ${start} start failed: ${outcome.error}`, system ? { cause: system } : undefined);
    }
    const r = outcome.value;
    lrFinds.push({ start, steps: r.lrs.length, suggestion: r.suggestion.lr, lrAtMinimum: r.suggestion.lrAtMinimum, lrAtEdge: r.suggestion.lrAtEdge, minimumLoss: r.suggestion.minimumLoss, reason: r.suggestion.reason, imagesPerSecond: r.imagesPerSecond, seconds: r.seconds, curve: thin(r.lrs, r.losses) });
    emit({ type: 'auto-lr-find', start, minimumLoss: r.suggestion.minimumLoss, lrAtMinimum: r.suggestion.lrAtMinimum, lrAtEdge: r.suggestion.lrAtEdge, probeRates: probeRates(start, r.suggestion.lrAtEdge) });
  });

  // 3. A short probe per start and candidate rate, scored on the holdout rows, fitted to the
  // rest of the choosing share at the speed the range tests ran.
  const candidates = lrFinds.flatMap((f) => probeRates(f.start, f.lrAtEdge).map((learningRate) => ({ start: f.start, learningRate })));
  const lrSpeeds = lrFinds.map((f) => f.imagesPerSecond).sort((a, b) => a - b);
  const probePlan = options.fitProbesToSpeed === false ? initialPlan : refitProbes(initialPlan, {
    secondsLeft: initialPlan.seconds - (Date.now() - started) / 1000,
    imagesPerSecond: lrSpeeds[Math.floor(lrSpeeds.length / 2)]!,
    concurrency: options.concurrency,
    probes: candidates.length,
    trainRows: trainRows.length,
  });
  const probeRows = rowsFor(probePlan.probeRows);
  await makeFolders(probeDir);
  const probeJobs: WorkerJob[] = await Promise.all(
    candidates.map((c, i) =>
      autoProbeJob({ holdout, name: `probe-${i + 1}-${c.start}`, start: c.start, learningRate: c.learningRate, epochs: probePlan.probeEpochs, augmentation: augmentation.config, preset, trainRows: probeRows, outDir: path.join(probeDir, `probe-${i + 1}-${c.start}`), backend: options.backend, command: options.command }),
    ),
  );
  const probeOutcomes = await runWorkerJobs<TrainResult>(probeJobs, { concurrency: options.concurrency });
  const probes: ProbeRecord[] = probeOutcomes.map((outcome, i) => {
    const c = candidates[i]!;
    if (!outcome.ok) return { ...c, epochs: probePlan.probeEpochs, rows: probeRows.length, valLoss: NaN, valAcc: NaN, imagesPerSecond: 0, seconds: 0, error: outcome.error.split('\n')[0] };
    const h = outcome.value.history;
    const seconds = h.reduce((s, r) => s + r.seconds, 0);
    const record: ProbeRecord = { ...c, epochs: h.length, rows: probeRows.length, valLoss: outcome.value.bestValLoss, valAcc: outcome.value.bestValAcc, imagesPerSecond: Math.round((probeRows.length * h.length) / Math.max(1e-3, seconds)), seconds: Number(seconds.toFixed(1)) };
    emit({ type: 'auto-probe', start: c.start, learningRate: c.learningRate, valLoss: record.valLoss, valAcc: record.valAcc, seconds: record.seconds });
    return record;
  });
  const best = chooseProbe(probes);
  const edge = lrFinds.find((f) => f.start === best.start)!.lrAtEdge;
  const spreadOfStart = spreadRate(best.start, edge, best.learningRate);

  // 4. As many members as fit the rest of the budget, at the speed the probes trained
  // (concurrently, as members will). A probe's epoch included its validation on the holdout
  // rows: its speed in training rows counts them (epochRows), as the plan counts each member's
  // own; a member's start on a worker is counted by the plan; 5% off covers a machine that
  // slows down (a member that would still pass the deadline stops there).
  const speeds = probes.filter((p) => !p.error).map((p) => p.imagesPerSecond).sort((a, b) => a - b);
  const probeEpochRows = epochRows(probeRows.length, validationRows.length) / Math.max(1, probeRows.length);
  const imagesPerSecond = Math.max(1, speeds[Math.floor(speeds.length / 2)]! * probeEpochRows * PLAN_SPEED_MARGIN);
  const choosingSeconds = (Date.now() - started) / 1000;
  const remaining = options.budgetSeconds - options.spentSeconds - choosingSeconds;
  const share = 1 - (options.secondRoundShare ?? 0);
  // Under k-fold a member trains on (k − 1)/k of all the training rows and validates on the rest.
  const allRows = trainRows.length + validationRows.length;
  const planFor = (folds?: number) => {
    const foldValidationRows = folds ? Math.ceil(allRows / folds) : validationRows.length;
    return planWithSyntheticRows({
      remainingSeconds: remaining * share,
      trainRows: folds ? allRows - foldValidationRows : trainRows.length,
      imagesPerSecond,
      concurrency: options.concurrency,
      start: best.start,
      testRows: dataset.ids.length,
      validationRows: foldValidationRows,
      syntheticRows: noise.syntheticRows,
      ...(folds ? { folds } : {}),
    }, { userAsked: options.syntheticRows !== undefined });
  };
  let planned: { plan: MemberPlan; syntheticRows: number };
  let validation: ValidationChoice;
  if (options.folds !== undefined) {
    const folds = options.folds >= 2 ? options.folds : undefined;
    planned = planFor(folds);
    validation = { kind: folds ? 'kfold' : 'holdout', by: 'flag', reason: folds ? `--folds ${folds}` : `--folds ${options.folds}: a 10% holdout` };
  } else if (options.defaultFolds && options.defaultFolds >= 2 && allRows >= options.defaultFolds) {
    const holdoutPlan = planFor(undefined);
    const kfoldPlan = planFor(options.defaultFolds);
    const { plan: chosenPlan, ...choice } = chooseValidation(holdoutPlan.plan, kfoldPlan.plan);
    planned = chosenPlan === kfoldPlan.plan ? kfoldPlan : holdoutPlan;
    validation = choice;
  } else {
    planned = planFor(undefined);
    // (why, said: until session 45 the line read "a 10% holdout" alone, `by: default`, under --pseudo-label)
    validation = (options.secondRoundShare ?? 0) > 0
      ? { kind: 'holdout', by: 'flag', reason: 'a 10% holdout: --pseudo-label fine-tunes each round-1 member in round 2, which k-fold members (one recipe per fold) do not combine with' }
      : options.defaultFolds && options.defaultFolds >= 2
      ? { kind: 'holdout', by: 'default', reason: `a 10% holdout: ${allRows} training rows cannot make ${options.defaultFolds} folds` }
      : { kind: 'holdout', by: 'default', reason: 'a 10% holdout' };
  }
  const { plan } = planned;
  // The synthetic rows the plan has room for (all that were made for the noise, unless the budget is short).
  if (planned.syntheticRows !== noise.syntheticRows) Object.assign(noise, { cutFrom: noise.syntheticRows, syntheticRows: planned.syntheticRows });
  const folds = plan.folds;
  const chosen = describeChoice(probes, best, spreadOfStart, plan);
  const spread = chosen.spreadLearningRate;
  emit({ type: 'auto-chosen', ...chosen });
  emit({ type: 'auto-validation', kind: validation.kind, reason: validation.reason });
  emit({ type: 'auto-plan', reason: plan.reason });
  const record: AutoRecord = {
    preset,
    ...(sampling ? { sampling } : {}),
    budgetMinutes: Number((options.budgetSeconds / 60).toFixed(2)),
    background,
    augmentation,
    probePlan: { ...probePlan, ...(probePlan.probeRows !== initialPlan.probeRows || probePlan.probeEpochs !== initialPlan.probeEpochs ? { planned: { probeRows: initialPlan.probeRows, probeEpochs: initialPlan.probeEpochs } } : {}) },
    lrFinds,
    probes,
    chosen,
    throughput: { imagesPerSecondPerWorker: Math.round(imagesPerSecond), concurrency: options.concurrency, measuredOn: `median of ${speeds.length} probes' epoch speed in training rows (their ${validationRows.length} validation rows at ${VALIDATION_ROW_COST} of one), less ${Math.round((1 - PLAN_SPEED_MARGIN) * 100)}%` },
    plan,
    validation,
    combine: 'soft-vote (weighted by ensemble selection when it helps on held-out rows)',
    choosingSeconds: Math.round(choosingSeconds),
    noise,
  };
  const ensemble = autoEnsemble({ start: best.start, learningRate: best.learningRate, ...(spread ? { spreadLearningRate: spread } : {}), augmentation: augmentation.config, members: plan.members, epochs: plan.epochs, preset, ...(folds ? { folds } : {}), ...(sampling ? { sampling } : {}) });
  return { record, ensemble };
}
