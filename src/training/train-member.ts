/**
 * Training one ensemble member: epoch loop with validation on the member's held-out rows,
 * learning-rate schedules (exponential, step, ReduceLROnPlateau), EarlyStopping, best
 * weights by validation loss, label smoothing, and an atomic checkpoint after every epoch.
 * Progress goes out as typed events; rendering happens elsewhere.
 */
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '../engine/tf.js';
import { makeFolders } from '../make-folders.js';
import { createRandom, deriveSeed } from '../data/random.js';
import { createAugmenter, type AugmentationConfig } from '../model/augment.js';
import { loadCheckpoint, loadTrainingCheckpoint, saveCheckpoint, type CheckpointMetadataInput } from '../model/checkpoint.js';
import { recordedHyperparameters } from '../model/checkpoint-metadata.js';
import { decodeTrainingState, encodeTrainingState, type EpochRecord, type LoopState } from './training-state.js';
import { buildModel, getPreset, type Preset } from '../model/presets.js';
import { createTrainStep, setLearningRate, type TrainerKind, type TrainerRequest } from './train-step.js';
import { writeJsonAtomic } from '../atomic-file.js';
import { EarlyStopping, ModelCheckpoint, ReduceLROnPlateau, TimeLimit } from './callbacks.js';
import type { ImageSet } from '../data/image-set.js';
import { fromSpec, gatherImages, preprocessorFor } from '../model/preprocess.js';
import { createRowScorer, type ScoringEngine } from './validation.js';
import { MemberConfigError } from './member-config-error.js';
import { mixBatch } from './mixup.js';

/** How long the batch loop runs before it yields to the event loop (signals, messages). */
const YIELD_MS = 250;

export type Schedule = { kind: 'constant' } | { kind: 'exponential'; decay: number } | { kind: 'step'; every: number; factor: number };

export interface MemberConfig {
  name: string;
  preset: string;
  optimizer: 'adam' | 'rmsprop' | 'sgd';
  learningRate: number;
  momentum?: number;
  schedule: Schedule;
  reduceLROnPlateau?: { factor: number; patience: number; minLearningRate?: number };
  earlyStopping?: { patience: number };
  labelSmoothing?: number;
  /** mixup's α: each batch mixed with a shuffled copy of itself by λ ~ Beta(α, α), images and targets alike (training/mixup.ts) */
  mixup?: number;
  /**
   * an exponential moving average of the weights, updated every step with this decay: it is
   * what validation scores and what best/ keeps (last/ keeps the trained weights and the average)
   */
  ema?: { decay: number };
  /** L2 weight decay on every conv and dense kernel (fresh models; a preset layer's own L2 wins) */
  l2?: number;
  /**
   * `balanced`: each epoch draws as many rows as it has, every digit equally often (rows of a digit
   * drawn with replacement), so batches look like the balanced digits the checkpoints were
   * pretrained on (`balancedOrder`); auto sets it on heavily imbalanced competitions. Default:
   * every training row once, shuffled.
   */
  sampling?: 'balanced';
  augmentation: AugmentationConfig;
  epochs: number;
  batchSize: number;
  seed: number;
  /** checkpoint folder to start from (transfer learning) */
  init?: string;
  /** with init: freeze every layer up to and including this one */
  freezeUpTo?: string;
}

export type { EpochRecord };

export type TrainEvent =
  | {
      type: 'start';
      member: string;
      epochs: number;
      batches: number;
      trainRows: number;
      validationRows: number;
      resumedAt: number;
      /** which step runs (ONNX Runtime whole-step graph or tfjs autodiff) and why */
      trainer?: { kind: TrainerKind; reason: string };
      /** what scores the validation rows after each epoch, and why (`training/validation.ts`) */
      validation?: string;
    }
  | { type: 'batch'; member: string; epoch: number; batch: number; batches: number; loss: number; imagesPerSecond: number }
  | ({ type: 'epoch'; member: string; epochs: number; best: boolean } & EpochRecord)
  | { type: 'done'; member: string; bestEpoch: number; bestValLoss: number; bestValAcc: number; stoppedEarly: boolean; stoppedAtDeadline: boolean };

/** What an ensemble run reports: its members' events, plus failures and engine choices. */
export type EnsembleEvent =
  | TrainEvent
  | { type: 'member-failed'; member: string; error: string }
  | { type: 'engine'; member: string; backend: string; ort: boolean }
  | ReplannedEvent;

/** A member given fewer epochs as it starts: at the speed the members before it trained, its planned ones would pass the run's deadline (services/train.ts). */
export type ReplannedEvent = { type: 'replanned'; member: string; planned: number; epochs: number; secondsPerEpoch: number; secondsLeft: number };

export interface TrainOptions {
  config: MemberConfig;
  data: ImageSet;
  /** row indices of `data` to train on */
  trainRows: Int32Array | number[];
  /** row indices held out for validation */
  validationRows: Int32Array | number[];
  /** the member's folder: best/ (the checkpoint), last/ (for resume), history.json */
  outDir: string;
  /**
   * the folder above `outDir` is there (its caller made it) and must not be made again: gone,
   * it was removed under the member (a stopped run removing its probes), so the member fails
   * rather than bring it back
   */
  parentExists?: boolean;
  /** continue exactly from last/ (weights, optimizer state, random streams, epoch) when it exists */
  resume?: boolean;
  onEvent?: (event: TrainEvent) => void;
  /** fields recorded in every checkpoint's metadata */
  metadata: Pick<CheckpointMetadataInput, 'orientation' | 'dataFingerprint' | 'command'>;
  /** epoch-milliseconds by which training should be over (a run's budget): no epoch starts that would end after it, except the first */
  deadline?: number;
  /** training step: 'auto' (default; DIGITS_TRAINER=tfjs forces tfjs) picks ONNX Runtime when it can run the model */
  trainer?: TrainerRequest;
  /** what scores the validation rows: 'auto' (default) ONNX Runtime where tfjs runs on wasm or cpu */
  scoring?: ScoringEngine;
}

export interface TrainResult {
  history: EpochRecord[];
  bestEpoch: number;
  bestValLoss: number;
  bestValAcc: number;
  checkpoint: string;
  /** training stopped before its last epoch because the deadline came */
  stoppedAtDeadline: boolean;
}

/* ---------- preprocessing: raw pixels → the preset's input ---------- */
/**
 * An epoch of `rows.length` rows in which every digit present comes equally often (up to one
 * row): each digit's share drawn from its rows with replacement. For a competition whose labels
 * are heavily imbalanced (90% ones scored 26.75%, below always answering 1: batch normalisation
 * normalised by batches unlike the balanced ones of pretraining), not the default.
 */
export function balancedOrder(labels: ArrayLike<number>, rows: ArrayLike<number>, rnd: { int(n: number): number }): Int32Array {
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < rows.length; i++) {
    const label = labels[rows[i]!]!;
    let list = byClass.get(label);
    if (!list) byClass.set(label, (list = []));
    list.push(rows[i]!);
  }
  const classes = [...byClass.keys()].sort((a, b) => a - b);
  const order = new Int32Array(rows.length);
  for (let i = 0; i < order.length; i++) {
    const list = byClass.get(classes[i % classes.length]!)!;
    order[i] = list[rnd.int(list.length)]!;
  }
  return order;
}

function gatherLabels(data: ImageSet, rows: ArrayLike<number>, start: number, end: number): tf.Tensor2D {
  const labels = new Int32Array(end - start);
  for (let i = start; i < end; i++) labels[i - start] = data.labels[rows[i]!]!;
  return tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(labels, 'int32'), 10), 'float32') as tf.Tensor2D);
}

export function makeOptimizer(config: MemberConfig, lr: number): tf.Optimizer {
  switch (config.optimizer) {
    case 'adam':
      return tf.train.adam(lr);
    case 'rmsprop':
      return tf.train.rmsprop(lr, 0.9, 0, 1e-7);
    case 'sgd':
      return tf.train.momentum(lr, config.momentum ?? 0.9);
  }
}

function scheduledRate(config: MemberConfig, epoch: number): number {
  const s = config.schedule;
  if (s.kind === 'exponential') return config.learningRate * s.decay ** epoch;
  if (s.kind === 'step') return config.learningRate * s.factor ** Math.floor(epoch / s.every);
  return config.learningRate;
}

export function smoothedCrossEntropy(smoothing: number) {
  return (yTrue: tf.Tensor, yPred: tf.Tensor) =>
    tf.tidy(() => {
      const target = smoothing > 0 ? tf.add(tf.mul(yTrue, 1 - smoothing), smoothing / 10) : yTrue;
      const p = tf.clipByValue(yPred, 1e-7, 1 - 1e-7);
      return tf.neg(tf.mean(tf.sum(tf.mul(target, tf.log(p)), -1)));
    });
}

export async function buildOrLoad(config: MemberConfig, preset: Preset): Promise<tf.LayersModel> {
  if (!config.init) return buildModel(preset, { seed: config.seed, l2: config.l2 });
  if (config.l2) throw new MemberConfigError(`member ${config.name}: "l2" applies when a model is built, not to a model loaded from "init" (its layers keep the regularisers they were trained with)`);
  const { model, metadata } = await loadCheckpoint(config.init);
  if (metadata.preset !== preset.name) {
    throw new MemberConfigError(`init checkpoint ${config.init} is a ${metadata.preset} network, but member ${config.name} uses preset ${preset.name}`);
  }
  if (config.freezeUpTo) {
    const names = model.layers.map((l) => l.name);
    const last = names.indexOf(config.freezeUpTo);
    if (last < 0) throw new MemberConfigError(`freezeUpTo: no layer named ${config.freezeUpTo} (layers: ${names.join(', ')})`);
    for (let i = 0; i <= last; i++) model.layers[i]!.trainable = false;
  }
  return model;
}


/** Seeds of an epoch's shuffle and augmentation streams. */
function randomSeeds(config: MemberConfig, epoch: number): { shuffle: number; augment: number; mixup: number } {
  return { shuffle: deriveSeed(config.seed, config.name, 'shuffle', epoch), augment: deriveSeed(config.seed, config.name, 'augment', epoch), mixup: deriveSeed(config.seed, config.name, 'mixup', epoch) };
}

/** Trains one member; writes best/ and last/ checkpoints and history.json under outDir. */
export async function trainMember(options: TrainOptions): Promise<TrainResult> {
  const { config, data, outDir } = options;
  const preset = (() => {
    try {
      return getPreset(config.preset);
    } catch (error) {
      throw new MemberConfigError(`member ${config.name}: ${(error as Error).message}`);
    }
  })();
  const trainRows = Int32Array.from(options.trainRows);
  const validationRows = Int32Array.from(options.validationRows);
  const emit = options.onEvent ?? (() => {});
  if (options.parentExists) {
    await mkdir(outDir).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
  } else await makeFolders(outDir);
  const bestDir = path.join(outDir, 'best');
  const lastDir = path.join(outDir, 'last');

  // One read of last/: weights, metadata and training state from the same save.
  const last = options.resume ? await loadTrainingCheckpoint(lastDir).catch((error: unknown) => ((error as Error).message.startsWith('no checkpoint at') ? null : Promise.reject(error))) : null;
  if (last && !last.trainingState) {
    last.model.dispose();
    throw new Error(`${lastDir} holds no training state (it was written by an older digits), so it cannot be resumed exactly; train this member again without --resume`);
  }
  const saved = last?.trainingState ? decodeTrainingState(last.trainingState, lastDir) : null;
  const resumed: LoopState | null = saved?.loop ?? null;
  // A state file named state.json was written beside last/ by older versions; it is not read.
  await rm(path.join(outDir, 'state.json'), { force: true });
  const model = last ? last.model : await buildOrLoad(config, preset);
  const pre = last ? fromSpec(last.metadata.preprocessing) : preprocessorFor(preset, data, trainRows);
  const scorer = createRowScorer(data, validationRows, pre, options.scoring);
  let lr = resumed?.lr ?? scheduledRate(config, 0);
  const optimizer = makeOptimizer(config, lr);
  model.compile({ optimizer, loss: smoothedCrossEntropy(config.labelSmoothing ?? 0), metrics: ['accuracy'] });
  // Frozen layers (transfer learning) stay on tfjs: the ORT trainer updates every weight.
  const frozen = model.layers.some((l) => !l.trainable && l.weights.length > 0);
  const step = createTrainStep(model, optimizer, {
    optimizer: config.optimizer,
    momentum: config.momentum,
    labelSmoothing: config.labelSmoothing,
    seed: deriveSeed(config.seed, config.name, 'dropout'),
    trainer: frozen && options.trainer !== 'ort' ? 'tfjs' : options.trainer,
    averageDecay: config.ema?.decay,
  });
  const trainer = { kind: step.kind, reason: frozen && step.kind === 'tfjs' ? `tfjs autodiff: layers up to ${config.freezeUpTo ?? 'some layer'} are frozen` : step.reason };
  if (saved) {
    if (saved.step.trainer !== step.kind) {
      // Another backend picked the other step: weights and schedule continue, the optimizer restarts.
      trainer.reason += `; the optimizer state in ${lastDir} is from the ${saved.step.trainer} step, so the optimizer restarts (not an exact resume)`;
    } else {
      await step.setState(saved.step);
    }
    const expected = randomSeeds(config, saved.loop.epoch);
    if (saved.loop.random.shuffle !== expected.shuffle || saved.loop.random.augment !== expected.augment) {
      throw new Error(`${lastDir}: its random streams do not match this member's seed and name; resume with the ensemble the run was trained with`);
    }
  }

  const history: EpochRecord[] = resumed?.history ?? [];
  const batches = Math.ceil(trainRows.length / config.batchSize);
  const startEpoch = resumed?.epoch ?? 0;
  // Settled before the start event names it: a model that does not export falls back to tfjs now.
  await scorer.prepare(model);
  emit({ type: 'start', member: config.name, epochs: config.epochs, batches, trainRows: trainRows.length, validationRows: validationRows.length, resumedAt: startEpoch, trainer, validation: scorer.reason });

  const metadataFor = (metrics: { valLoss: number; valAcc: number; epoch: number }): CheckpointMetadataInput => ({
    preset: preset.name,
    // best/ and last/ are siblings: one relative path serves both
    hyperparameters: { ...recordedHyperparameters(config, bestDir) },
    preprocessing: pre.spec,
    orientation: options.metadata.orientation,
    seed: config.seed,
    dataFingerprint: options.metadata.dataFingerprint,
    metrics,
    command: options.metadata.command,
  });

  const modelCheckpoint = new ModelCheckpoint((end) => saveCheckpoint(model, bestDir, metadataFor(end), { parentExists: true }), resumed ?? undefined);
  const reduceLR = new ReduceLROnPlateau(config.reduceLROnPlateau, resumed?.plateau);
  // A member that had stopped early stays stopped when its run is resumed.
  const earlyStopping = new EarlyStopping(config.earlyStopping?.patience, resumed?.sinceBest, resumed != null);
  const timeLimit = new TimeLimit(options.deadline);
  // Resumed under a deadline (`digits run --resume` of an auto run): the check its last epoch
  // made, made again now, so a member the deadline had stopped (or one the budget has no room
  // left for) stays stopped rather than training on past the budget.
  const lastEpoch = history.at(-1);
  if (resumed && lastEpoch && startEpoch < config.epochs && !earlyStopping.stopped) timeLimit.onEpochEnd(lastEpoch.seconds);

  for (let epoch = startEpoch; epoch < config.epochs && !earlyStopping.stopped && !timeLimit.stopped; epoch++) {
    const epochStarted = performance.now();
    if (config.schedule.kind !== 'constant') lr = Math.min(lr, scheduledRate(config, epoch));
    setLearningRate(optimizer, lr);
    const seeds = randomSeeds(config, epoch);
    const rnd = createRandom(seeds.shuffle);
    const order = config.sampling === 'balanced' ? balancedOrder(data.labels, trainRows, rnd) : Int32Array.from(trainRows);
    for (let i = order.length - 1; i > 0; i--) {
      const j = rnd.int(i + 1);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    const augmenter = createAugmenter(config.augmentation, seeds.augment);
    const mixRnd = config.mixup ? createRandom(seeds.mixup) : null;
    const started = performance.now();
    let lossSum = 0;
    let accSum = 0;
    let seen = 0;
    let yielded = performance.now();
    for (let b = 0; b < batches; b++) {
      // The step runs synchronously; letting the event loop in a few times a second is what
      // lets Ctrl-C (pretrain runs on the main thread) and worker messages through mid-epoch.
      if (performance.now() - yielded > YIELD_MS) {
        await new Promise((resolve) => setImmediate(resolve));
        yielded = performance.now();
      }
      const start = b * config.batchSize;
      const end = Math.min(order.length, start + config.batchSize);
      let x: tf.Tensor = tf.tidy(() => pre.apply(augmenter.apply(gatherImages(data, order, start, end))));
      let y: tf.Tensor = gatherLabels(data, order, start, end);
      if (mixRnd) {
        const mixed = mixBatch(x, y, config.mixup!, mixRnd);
        tf.dispose([x, y]);
        ({ x, y } = mixed);
      }
      const { loss, acc } = await step.run(x, y, lr).finally(() => tf.dispose([x, y]));
      lossSum += loss * (end - start);
      accSum += acc * (end - start);
      seen += end - start;
      if (b % 20 === 0 || b === batches - 1) {
        emit({ type: 'batch', member: config.name, epoch, batch: b + 1, batches, loss: lossSum / seen, imagesPerSecond: seen / ((performance.now() - started) / 1000) });
      }
    }
    const seconds = (performance.now() - started) / 1000;
    step.sync();
    const validate = () => scorer.score(model);
    // With a weight average, the average is validated and kept as best/; the trained weights'
    // figures are recorded beside it, and they go back into the model before last/ is saved.
    const trained = config.ema ? await validate() : null;
    if (config.ema) step.syncAverage();
    const val = await validate();
    const record: EpochRecord = {
      epoch,
      loss: lossSum / seen,
      acc: accSum / seen,
      valLoss: val.loss,
      valAcc: val.acc,
      ...(trained ? { trainedValLoss: trained.loss, trainedValAcc: trained.acc } : {}),
      lr,
      imagesPerSecond: Math.round(seen / seconds),
      seconds: Number(seconds.toFixed(1)),
    };
    history.push(record);
    const end = { epoch, valLoss: val.loss, valAcc: val.acc };
    const improved = await modelCheckpoint.onEpochEnd(end);
    if (config.ema) step.sync();
    lr = reduceLR.onEpochEnd(improved, lr);
    earlyStopping.onEpochEnd(improved);
    const { bestValLoss, bestEpoch, bestValAcc } = modelCheckpoint;
    // last/ is the resume point: weights and training state in one atomic save.
    const loop: LoopState = { epoch: epoch + 1, history, lr, bestValLoss, bestEpoch, bestValAcc, plateau: reduceLR.wait, sinceBest: earlyStopping.sinceBest, random: randomSeeds(config, epoch + 1) };
    await saveCheckpoint(model, lastDir, metadataFor(end), { trainingState: encodeTrainingState(loop, await step.getState()), parentExists: true });
    // history.json is a copy for people and the dashboard; resume reads last/.
    await writeJsonAtomic(path.join(outDir, 'history.json'), history);
    emit({ type: 'epoch', member: config.name, epochs: config.epochs, best: improved, ...record });
    if (earlyStopping.stopped) break;
    // The whole epoch (validation and saves included) is what the next one will take.
    if (epoch + 1 < config.epochs && timeLimit.onEpochEnd((performance.now() - epochStarted) / 1000)) break;
  }
  const { bestValLoss, bestEpoch, bestValAcc } = modelCheckpoint;
  emit({ type: 'done', member: config.name, bestEpoch, bestValLoss, bestValAcc, stoppedEarly: earlyStopping.stopped, stoppedAtDeadline: timeLimit.stopped });
  step.dispose();
  model.dispose();
  optimizer.dispose();
  return { history, bestEpoch, bestValLoss, bestValAcc, checkpoint: bestDir, stoppedAtDeadline: timeLimit.stopped };
}
