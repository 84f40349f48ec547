/**
 * The training step a member uses: the whole-step ONNX Runtime trainer (src/onnx/training/)
 * when it can run the model, else tfjs's `model.trainOnBatch`. trainMember and the throughput
 * benchmark both go through here, so the bench measures what training does.
 *
 * ORT is chosen when onnxruntime-node loads, the tfjs backend is wasm or cpu (on tfjs-node the
 * stock path is already native), every layer has a rule and none is frozen.
 * `DIGITS_TRAINER=tfjs` forces the tfjs path (for comparisons); `DIGITS_TRAINER=ort` makes a
 * fallback an error.
 */
import * as tf from '../engine/tf.js';
import { currentEngine } from '../engine/backend.js';
import { WeightAverage } from '../onnx/training/average.js';
import { createOrtTrainer, stateCount, type OrtTrainer } from '../onnx/training/runtime.js';

export type TrainerKind = 'ort' | 'tfjs';
export type TrainerRequest = TrainerKind | 'auto';

export interface TrainStepConfig {
  optimizer: 'adam' | 'rmsprop' | 'sgd';
  momentum?: number;
  labelSmoothing?: number;
  /** seed of the ORT trainer's dropout masks */
  seed: number;
  /** 'auto' (default: DIGITS_TRAINER, else ORT when it can) */
  trainer?: TrainerRequest;
  /** intra-op threads for the ORT session (default: the engine's) */
  threads?: number;
  /** record an ORT profile (profileTrainingStep) */
  profile?: boolean;
  /** keep an exponential moving average of the weights with this per-step decay (onnx/training/average.ts) */
  averageDecay?: number;
}

export interface TrainStep {
  kind: TrainerKind;
  /** why this path was taken (shown in the 'start' event and by the bench) */
  reason: string;
  /** one step on a preprocessed batch x and one-hot labels y (not label-smoothed) */
  run(x: tf.Tensor, y: tf.Tensor, learningRate: number): Promise<{ loss: number; acc: number }>;
  /** makes the tfjs model's weights and moving statistics current (before validation, checkpoints) */
  sync(): void;
  /** with `averageDecay`: puts the averaged weights in the tfjs model instead (`sync` puts the trained ones back) */
  syncAverage(): void;
  dispose(): void;
  /** the ORT trainer, when kind is 'ort' */
  ort: OrtTrainer | null;
  /** the optimizer's state (moments, step count) and, on ORT, the dropout stream: what exact resume needs */
  getState(): Promise<StepState>;
  /** restores `getState`'s result from the same trainer kind and optimizer */
  setState(state: StepState): Promise<void>;
}

export interface SavedTensor {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
  data: Float32Array | Int32Array;
}

/** A training step's state between steps, in a form that is written to disk as JSON + one binary file. */
export interface StepState {
  trainer: TrainerKind;
  optimizer: string;
  scalars: Record<string, number>;
  tensors: SavedTensor[];
}

function requested(config: TrainStepConfig): TrainerRequest {
  if (config.trainer && config.trainer !== 'auto') return config.trainer;
  const env = process.env.DIGITS_TRAINER;
  if (env === 'tfjs' || env === 'ort') return env;
  return 'auto';
}

/**
 * The step for a compiled model. `optimizer` is the tfjs optimizer the model was compiled
 * with (used on the tfjs path; its learning rate is set before every step).
 */
export function createTrainStep(model: tf.LayersModel, optimizer: tf.Optimizer, config: TrainStepConfig): TrainStep {
  const want = requested(config);
  let reason: string;
  if (want === 'tfjs') {
    reason = 'tfjs autodiff (asked for: DIGITS_TRAINER=tfjs or trainer option)';
  } else if (!['wasm', 'cpu'].includes(tf.getBackend())) {
    reason = `tfjs autodiff: the ${tf.getBackend()} backend trains natively`;
  } else {
    const choice = createOrtTrainer(model, {
      optimizer: config.optimizer,
      momentum: config.momentum,
      labelSmoothing: config.labelSmoothing,
      seed: config.seed,
      threads: config.threads ?? currentEngine()?.ort.threads ?? 1,
      profile: config.profile,
    });
    if (choice.trainer) {
      const trainer = choice.trainer;
      if (config.averageDecay !== undefined) trainer.enableAverage(config.averageDecay);
      return {
        kind: 'ort',
        reason: choice.reason,
        ort: trainer,
        async run(x, y, learningRate) {
          const xs = x.dataSync() as Float32Array;
          const ys = y.dataSync() as Float32Array;
          return trainer.step(xs instanceof Float32Array ? xs : Float32Array.from(xs), ys instanceof Float32Array ? ys : Float32Array.from(ys), learningRate);
        },
        sync: () => trainer.syncToModel(model),
        syncAverage: () => trainer.syncAverageToModel(),
        dispose: () => trainer.dispose(),
        async getState() {
          const state = trainer.getState();
          const tensors: SavedTensor[] = [];
          state.moments.forEach((slots, i) => slots.forEach((m, k) => tensors.push({ name: `p${i}/s${k}`, shape: [m.length], dtype: 'float32', data: m })));
          const scalars: Record<string, number> = { steps: state.steps, accBeta1: state.accBeta1, accBeta2: state.accBeta2, maskState: state.maskState };
          if (state.average) saveAverage(state.average, scalars, tensors);
          return { trainer: 'ort', optimizer: state.optimizer, scalars, tensors };
        },
        async setState(saved) {
          expectTrainer(saved, 'ort', config.optimizer);
          const k = stateCount(config.optimizer);
          const moments = trainer.plan.params.map((_, i) => Array.from({ length: k }, (__, j) => {
            const t = saved.tensors.find((s) => s.name === `p${i}/s${j}`);
            if (!t) throw new Error(`the saved optimizer state has no p${i}/s${j}`);
            return Float32Array.from(t.data);
          }));
          const { steps, accBeta1, accBeta2, maskState, averageUpdates } = saved.scalars as Record<string, number>;
          const average = config.averageDecay === undefined ? undefined : savedAverage(saved, config.averageDecay, averageUpdates, trainer.plan.params.length + trainer.plan.stats.length);
          trainer.setState({ optimizer: config.optimizer, steps: steps!, accBeta1: accBeta1!, accBeta2: accBeta2!, maskState: maskState!, moments, ...(average ? { average } : {}) });
        },
      };
    }
    reason = `tfjs autodiff: ${choice.reason}`;
  }
  if (want === 'ort') throw new Error(`the ONNX Runtime trainer was asked for but cannot run this model (${reason})`);
  // tfjs: the model is the trained state; the average follows every weight (BN statistics too).
  const read = () => model.weights.map((w) => Float32Array.from(w.read().dataSync() as Float32Array));
  let average = config.averageDecay === undefined ? null : new WeightAverage(config.averageDecay, read());
  // the trained weights while the model holds the average
  let stashed: Float32Array[] | null = null;
  const writeAll = (values: Float32Array[]) =>
    model.weights.forEach((w, i) => {
      const t = tf.tensor(values[i]!, w.shape as number[], 'float32');
      w.write(t);
      t.dispose();
    });
  return {
    kind: 'tfjs',
    reason,
    ort: null,
    async run(x, y, learningRate) {
      if (stashed) throw new Error('the model holds the averaged weights: call sync() before training on');
      setLearningRate(optimizer, learningRate);
      const [loss, acc] = (await model.trainOnBatch(x, y)) as number[];
      average?.update(read());
      return { loss: loss!, acc: acc ?? NaN };
    },
    sync: () => {
      if (stashed) writeAll(stashed);
      stashed = null;
    },
    syncAverage: () => {
      if (!average) throw new Error('this step keeps no weight average (averageDecay was not set)');
      stashed ??= read();
      writeAll(average.values);
    },
    dispose: () => {},
    // tfjs optimizers expose their slots (iterations, moments) through getWeights/setWeights.
    // tfjs's Dropout draws from an unseeded stream, so a tfjs-trained model with dropout
    // resumes with the same weights and optimizer but different masks.
    async getState() {
      const weights = await optimizer.getWeights();
      const tensors: SavedTensor[] = [];
      for (const w of weights) {
        const dtype = w.tensor.dtype === 'int32' ? 'int32' : 'float32';
        tensors.push({ name: w.name, shape: w.tensor.shape.slice(), dtype, data: (await w.tensor.data()) as Float32Array | Int32Array });
      }
      const scalars: Record<string, number> = {};
      if (average) saveAverage(average, scalars, tensors);
      return { trainer: 'tfjs', optimizer: config.optimizer, scalars, tensors };
    },
    async setState(saved) {
      expectTrainer(saved, 'tfjs', config.optimizer);
      const named = saved.tensors.filter((t) => !AVERAGE_TENSOR.test(t.name)).map((t) => ({ name: t.name, tensor: tf.tensor(t.data, t.shape, t.dtype) }));
      await optimizer.setWeights(named);
      // setWeights turns each into a variable of its own; the inputs are no longer needed.
      for (const n of named) n.tensor.dispose();
      if (config.averageDecay !== undefined) {
        const restored = savedAverage(saved, config.averageDecay, saved.scalars.averageUpdates, model.weights.length);
        if (restored) average = new WeightAverage(restored.decay, restored.values, restored.updates);
      }
    },
  };
}

/** A saved state's tensors of the weight average: avg0…avgN−1, beside the optimizer's. */
const AVERAGE_TENSOR = /^avg\d+$/;

/** Adds a weight average to a state being saved: its arrays as tensors, its update count as a scalar. */
function saveAverage(average: { updates: number; values: Float32Array[] }, scalars: Record<string, number>, tensors: SavedTensor[]): void {
  scalars.averageUpdates = average.updates;
  average.values.forEach((a, i) => tensors.push({ name: `avg${i}`, shape: [a.length], dtype: 'float32', data: a }));
}

/**
 * The weight average a saved state holds, or undefined when it was saved without one (the
 * member then starts its average at the resumed weights).
 */
function savedAverage(saved: StepState, decay: number, updates: number | undefined, count: number): { decay: number; updates: number; values: Float32Array[] } | undefined {
  const tensors = saved.tensors.filter((t) => AVERAGE_TENSOR.test(t.name));
  if (tensors.length === 0 || updates === undefined) return undefined;
  if (tensors.length !== count) throw new Error(`the saved weight average holds ${tensors.length} arrays; this network has ${count}`);
  const values = Array.from({ length: count }, (_, i) => {
    const t = tensors.find((s) => s.name === `avg${i}`);
    if (!t) throw new Error(`the saved weight average has no avg${i}`);
    return Float32Array.from(t.data);
  });
  return { decay, updates, values };
}

function expectTrainer(saved: StepState, kind: TrainerKind, optimizer: string): void {
  if (saved.trainer !== kind || saved.optimizer !== optimizer) {
    throw new Error(`the saved optimizer state comes from the ${saved.trainer} trainer (${saved.optimizer}); this step runs ${kind} (${optimizer})`);
  }
}

export function setLearningRate(optimizer: tf.Optimizer, lr: number): void {
  // SGD/momentum keep −lr in a scalar that only `setLearningRate` refreshes; the others read
  // `learningRate` on every step (it is not exposed as a setter).
  const o = optimizer as unknown as { learningRate: number; setLearningRate?: (lr: number) => void };
  if (o.learningRate === lr) return;
  if (typeof o.setLearningRate === 'function') o.setLearningRate(lr);
  else o.learningRate = lr;
}
