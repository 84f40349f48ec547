/**
 * The whole-step ONNX Runtime trainer: one session per batch size running the graph of
 * graph.ts, with the parameters, optimizer states and BN moving statistics kept in JS
 * Float32Arrays between steps (kernels already in ONNX layout [Co,Ci,KH,KW]); `syncToModel`
 * writes them back into the tfjs model for validation and checkpoints; `getState`/`setState`
 * copy out and restore everything a step depends on (for an exact resume).
 *
 * tfjs-wasm's autodiff with ONNX Runtime per-op kernels (engine/ort-kernels.ts) pays, on every
 * op, an NHWC↔NCHW transpose, a copy out of ORT into wasm memory and a session call, and runs
 * every non-conv op on tfjs-wasm; the same convolutions inside one ONNX graph run about 3×
 * faster. The session runs through onnxruntime-node's synchronous binding (engine/ort.ts): no
 * `setImmediate` per step.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '../../engine/tf.js';
import { loadOrt, ortLoadFailure, type OrtModules, type OrtTensor, type SyncSession } from '../../engine/ort.js';
import { WeightAverage } from './average.js';
import { buildTrainingGraph } from './graph.js';
import { nchwcBlockSize } from './layout.js';
import { OPTIMIZERS, type OptimizerRule } from './optimizers.js';
export { stateCount } from './optimizers.js';
import { planTraining, type TrainingPlan } from './plan.js';
import { readProfiles, type OrtProfile } from './profile.js';
import { maskName, newName, paramName, statName, stateName, type FilterGradient, type ParamSlot, type TrainerOptimizerKind } from './rule.js';

export type { FilterGradient, TrainerOptimizerKind } from './rule.js';
export type { OrtProfileEntry } from './profile.js';

export interface OrtTrainerOptions {
  optimizer: TrainerOptimizerKind;
  /** SGD momentum (tf.train.momentum) */
  momentum?: number;
  /** label smoothing applied to the one-hot targets, as smoothedCrossEntropy in train-member.ts */
  labelSmoothing?: number;
  /** seed of the dropout masks */
  seed?: number;
  /** intra-op threads of the session (default 1: one worker per core) */
  threads?: number;
  /**
   * filter gradient: 'conv' (a convolution of xᵀ with dyᵀ dilated by the stride), 'taps' (one
   * GEMM per filter tap over a strided NHWC slice) or 'im2col' (slices concatenated, one GEMM).
   * 'auto' (default): 'conv' where it runs on NCHWc, else 'taps'. Measured on seed002, batch
   * 64, one core, whole step: conv on NCHWc 132 ms, taps 149 ms; without NCHWc taps 157 ms
   * (38 ms of GEMM + 11 of slices), im2col 170 ms (+17 ms of Concat), plain conv 190+ ms
   * (MLAS's im2col with an OH×OW kernel).
   */
  filterGradient?: FilterGradient;
  /** record an ORT profile (see `endProfiling`) */
  profile?: boolean;
  /**
   * forward convolutions in ONNX Runtime's blocked NCHWc layout (MLAS's fastest conv kernels)
   * when the probe of `nchwcBlockSize` passes; default true (DIGITS_ORT_NCHWC=0 turns it off)
   */
  nchwc?: boolean;
}

export interface StepResult {
  loss: number;
  acc: number;
}

/**
 * What the trainer carries from step to step: the optimizer's moments in the graph's layout
 * (`plan.params` order; conv kernels [Co,Ci,KH,KW]), Adam's bias-correction powers, the step
 * count and the dropout generator; and, optionally, the parameters and moving statistics
 * (otherwise they come from the tfjs model, e.g. a checkpoint, when the trainer is created).
 */
export interface OrtTrainerState {
  optimizer: TrainerOptimizerKind;
  steps: number;
  /** Adam's β1ᵗ and β2ᵗ (the other optimizers have none and report β1, β2) */
  accBeta1: number;
  accBeta2: number;
  /** mulberry32 state of the dropout masks */
  maskState: number;
  /** per parameter, `stateCount(optimizer)` arrays (Adam: m, v; RMSprop: mean square; SGD: accumulation) */
  moments: Float32Array[][];
  /** parameters in graph layout (`plan.params` order) */
  params?: Float32Array[];
  /** BN moving statistics (`plan.stats` order) */
  stats?: Float32Array[];
  /** the weight average (`enableAverage`): parameters then statistics, graph layout, and its update count */
  average?: { decay: number; updates: number; values: Float32Array[] };
}

export class OrtTrainer {
  readonly plan: TrainingPlan;
  private readonly ort: OrtModules;
  private readonly options: Required<Omit<OrtTrainerOptions, 'profile'>> & { profile: boolean };
  private readonly optimizer: OptimizerRule;
  private readonly sessions = new Map<number, SyncSession>();
  private params: Float32Array[] = [];
  private moments: Float32Array[][] = [];
  private stats: Float32Array[] = [];
  private scalars: number[];
  private readonly masks = new Map<number, Float32Array[]>();
  /** the moving average of parameters then statistics, when enabled */
  private average: WeightAverage | null = null;
  /** mulberry32 state of the dropout masks */
  private maskState: number;
  private profileDir: string | null = null;
  /** steps taken */
  steps = 0;
  /** when set, accumulates the session run time and the whole step's wall time (ms) */
  timing: { graphMs: number; wallMs: number } | null = null;

  constructor(model: tf.LayersModel, plan: TrainingPlan, ort: OrtModules, options: OrtTrainerOptions) {
    this.plan = plan;
    this.ort = ort;
    this.options = {
      optimizer: options.optimizer,
      momentum: options.momentum ?? 0.9,
      labelSmoothing: options.labelSmoothing ?? 0,
      seed: options.seed ?? 0,
      threads: Math.max(1, options.threads ?? 1),
      filterGradient: options.filterGradient ?? ((process.env.DIGITS_ORT_FILTER_GRAD as FilterGradient | undefined) ?? 'auto'),
      profile: options.profile ?? false,
      nchwc: options.nchwc ?? process.env.DIGITS_ORT_NCHWC !== '0',
    };
    this.optimizer = OPTIMIZERS[this.options.optimizer];
    this.scalars = this.optimizer.initialScalars();
    this.maskState = this.options.seed >>> 0;
    this.readFromModel(model);
    this.moments = plan.params.map((p) => Array.from({ length: this.optimizer.states }, () => new Float32Array(tf.util.sizeFromShape(p.shape))));
  }

  /** Parameters and moving statistics from the tfjs model (optimizer state is kept). */
  readFromModel(_model?: tf.LayersModel): void {
    const read = (slot: ParamSlot) => {
      const values = slot.variable.read().dataSync() as Float32Array;
      return slot.perm ? transposeArray(values, slot.variable.shape as number[], slot.perm) : Float32Array.from(values);
    };
    this.params = this.plan.params.map(read);
    this.stats = this.plan.stats.map(read);
  }

  /** Writes parameters and moving statistics into the tfjs model (for validation and checkpoints). */
  syncToModel(_model?: tf.LayersModel): void {
    this.write(this.params, this.stats);
  }

  /** Keeps a moving average of the weights from now on, updated after every step (see average.ts). */
  enableAverage(decay: number): void {
    this.average = new WeightAverage(decay, [...this.params, ...this.stats]);
  }

  /** Writes the averaged weights into the tfjs model; `syncToModel` puts the trained ones back. */
  syncAverageToModel(): void {
    if (!this.average) throw new Error('the trainer keeps no weight average (enableAverage was not called)');
    const n = this.params.length;
    this.write(this.average.values.slice(0, n), this.average.values.slice(n));
  }

  private write(params: Float32Array[], stats: Float32Array[]): void {
    const write = (slot: ParamSlot, values: Float32Array) => {
      const data = slot.perm ? transposeArray(values, slot.shape, inversePerm(slot.perm)) : values;
      const tensor = tf.tensor(data, slot.variable.shape as number[], 'float32');
      slot.variable.write(tensor);
      tensor.dispose();
    };
    this.plan.params.forEach((slot, i) => write(slot, params[i]!));
    this.plan.stats.forEach((slot, i) => write(slot, stats[i]!));
  }

  /** Current parameters and moving statistics in tfjs layout, in the order of `plan.params` / `plan.stats`. */
  snapshot(): { params: Float32Array[]; stats: Float32Array[] } {
    const tfjsLayout = (slot: ParamSlot, values: Float32Array) => (slot.perm ? transposeArray(values, slot.shape, inversePerm(slot.perm)) : values.slice());
    return { params: this.plan.params.map((s, i) => tfjsLayout(s, this.params[i]!)), stats: this.plan.stats.map((s, i) => tfjsLayout(s, this.stats[i]!)) };
  }

  /** A copy of everything the next step depends on: optimizer state, step count, dropout stream, parameters and statistics. */
  getState(): OrtTrainerState {
    const [accBeta1, accBeta2] = this.options.optimizer === 'adam' ? this.scalars : OPTIMIZERS.adam.initialScalars();
    return {
      optimizer: this.options.optimizer,
      steps: this.steps,
      accBeta1: accBeta1!,
      accBeta2: accBeta2!,
      maskState: this.maskState,
      moments: this.moments.map((m) => m.map((a) => a.slice())),
      params: this.params.map((a) => a.slice()),
      stats: this.stats.map((a) => a.slice()),
      ...(this.average ? { average: { decay: this.average.decay, updates: this.average.updates, values: this.average.values.map((a) => a.slice()) } } : {}),
    };
  }

  /** Restores what `getState` returned, for the same network and optimizer (parameters and statistics only when it holds them). */
  setState(state: OrtTrainerState): void {
    const opt = this.options.optimizer;
    if (state.optimizer !== opt) throw new Error(`the saved optimizer state is ${state.optimizer}; this trainer runs ${opt}`);
    const fits = (arrays: Float32Array[], slots: Array<{ shape: number[] }>) => arrays.length === slots.length && arrays.every((a, i) => a.length === tf.util.sizeFromShape(slots[i]!.shape));
    const params = this.plan.params;
    if (state.moments.length !== params.length || state.moments.some((m, i) => m.length !== this.optimizer.states || !fits(m, m.map(() => params[i]!)))) {
      throw new Error('the saved optimizer state does not fit this network (different parameter shapes)');
    }
    if ((state.params && !fits(state.params, params)) || (state.stats && !fits(state.stats, this.plan.stats))) {
      throw new Error('the saved parameters do not fit this network (different parameter shapes)');
    }
    this.moments = state.moments.map((m) => m.map((a) => Float32Array.from(a)));
    if (state.average) {
      const slots = [...params, ...this.plan.stats];
      if (!fits(state.average.values, slots)) throw new Error('the saved weight average does not fit this network (different parameter shapes)');
    }
    if (state.params) this.params = state.params.map((a) => Float32Array.from(a));
    if (state.stats) this.stats = state.stats.map((a) => Float32Array.from(a));
    if (state.average) this.average = new WeightAverage(state.average.decay, state.average.values, state.average.updates);
    if (opt === 'adam') this.scalars = [state.accBeta1, state.accBeta2];
    this.maskState = state.maskState >>> 0;
    this.steps = state.steps;
  }

  private session(batch: number): SyncSession {
    let s = this.sessions.get(batch);
    if (!s) {
      const bytes = buildTrainingGraph(this.plan, {
        batch,
        optimizer: this.options.optimizer,
        momentum: this.options.momentum,
        classes: this.plan.params[this.plan.params.length - 1]!.shape.at(-1)!,
        filterGradient: this.options.filterGradient,
        nchwcBlock: this.options.nchwc ? nchwcBlockSize(this.ort) : 0,
      });
      s = new this.ort.InferenceSession();
      const sessionOptions: Record<string, unknown> = {
        intraOpNumThreads: this.options.threads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
        enableCpuMemArena: true,
      };
      if (this.options.profile) {
        this.profileDir ??= mkdtempSync(path.join(os.tmpdir(), 'digits-ort-profile-'));
        sessionOptions.enableProfiling = true;
        sessionOptions.profileFilePrefix = path.join(this.profileDir, `step_b${batch}`);
      }
      s.loadModel(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength, sessionOptions);
      this.sessions.set(batch, s);
    }
    return s;
  }

  /** Fresh dropout masks for a batch, scaled by 1/(1−rate), drawn from the seeded generator. */
  private drawMasks(batch: number): Float32Array[] {
    let buffers = this.masks.get(batch);
    if (!buffers) {
      buffers = this.plan.masks.map((m) => new Float32Array(batch * tf.util.sizeFromShape(m.shape)));
      this.masks.set(batch, buffers);
    }
    this.plan.masks.forEach((m, i) => {
      this.maskState = fillDropoutMask(buffers[i]!, m.rate, this.maskState);
    });
    return buffers;
  }

  /**
   * One step on a batch: x [B,H,W,C] as the model's input (preprocessed), y one-hot [B,classes],
   * dropout masks (per-example graph layout, already scaled) or drawn here.
   */
  step(x: Float32Array, y: Float32Array, learningRate: number, masks?: Float32Array[]): StepResult {
    const started = this.timing ? performance.now() : 0;
    const [H, W, C] = this.plan.input;
    const batch = x.length / (H * W * C);
    if (!Number.isInteger(batch) || batch < 1) throw new Error(`batch of ${x.length} values does not fit [B,${H},${W},${C}]`);
    const classes = y.length / batch;
    const session = this.session(batch);
    const T = this.ort.Tensor;
    let targets = y;
    const smoothing = this.options.labelSmoothing;
    if (smoothing > 0) targets = Float32Array.from(y, (v) => v * (1 - smoothing) + smoothing / classes);
    const feeds: Record<string, OrtTensor> = { x: new T('float32', x, [batch, H, W, C]), t: new T('float32', targets, [batch, classes]) };
    const fetches: Record<string, null> = { loss: null, acc: null };
    const states = this.optimizer.states;
    this.plan.params.forEach((p, i) => {
      feeds[paramName(i)] = new T('float32', this.params[i]!, p.shape);
      fetches[newName(paramName(i))] = null;
      for (let k = 0; k < states; k++) {
        feeds[stateName(i, k)] = new T('float32', this.moments[i]![k]!, p.shape);
        fetches[newName(stateName(i, k))] = null;
      }
    });
    this.plan.stats.forEach((s, i) => {
      feeds[statName(i)] = new T('float32', this.stats[i]!, s.shape);
      fetches[newName(statName(i))] = null;
    });
    const maskValues = masks ?? this.drawMasks(batch);
    this.plan.masks.forEach((m, i) => (feeds[maskName(i)] = new T('float32', maskValues[i]!, [batch, ...m.shape])));
    feeds.lr = new T('float32', new Float32Array([learningRate]), []);
    const scalarFeeds = this.optimizer.scalarFeeds(this.scalars);
    this.optimizer.scalars.forEach((name, k) => (feeds[name] = new T('float32', new Float32Array([scalarFeeds[k]!]), [])));
    const runStarted = this.timing ? performance.now() : 0;
    const out = session.run(feeds, fetches, {});
    if (this.timing) this.timing.graphMs += performance.now() - runStarted;
    this.params = this.plan.params.map((_, i) => out[newName(paramName(i))]!.data);
    this.moments = this.plan.params.map((_, i) => Array.from({ length: states }, (__, k) => out[newName(stateName(i, k))]!.data));
    this.stats = this.plan.stats.map((_, i) => out[newName(statName(i))]!.data);
    this.average?.update([...this.params, ...this.stats]);
    this.scalars = this.optimizer.nextScalars(this.scalars);
    this.steps++;
    if (this.timing) this.timing.wallMs += performance.now() - started;
    return { loss: out.loss!.data[0]!, acc: out.acc!.data[0]! };
  }

  /** Ends profiling and returns time by ONNX op type (needs `profile: true`). */
  endProfiling(): OrtProfile {
    if (!this.profileDir) throw new Error('the trainer was created without profile: true');
    for (const s of this.sessions.values()) s.endProfiling?.();
    const profile = readProfiles(this.profileDir);
    rmSync(this.profileDir, { recursive: true, force: true });
    this.profileDir = null;
    return profile;
  }

  dispose(): void {
    for (const s of this.sessions.values()) s.dispose();
    this.sessions.clear();
    if (this.profileDir) rmSync(this.profileDir, { recursive: true, force: true });
  }
}

/**
 * Keep-masks scaled by 1/(1−rate), from mulberry32 (src/data/random.ts) inlined: each 32-bit
 * draw gives two 16-bit uniforms, so the keep probability is 1 − ⌈rate·2¹⁶⌉/2¹⁶ (within
 * 1.6e-5 of 1 − rate). Drawing them was ~5–10 ms of a 160 ms seed002 step with one draw
 * per element through a closure. Returns the new generator state.
 */
export function fillDropoutMask(buf: Float32Array, rate: number, state: number): number {
  const keep = Math.fround(1 / (1 - rate));
  const threshold = Math.ceil(rate * 65536);
  let s = state | 0;
  for (let k = 0; k < buf.length; k += 2) {
    s = (s + 0x6d2b79f5) | 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    t = (t ^ (t >>> 14)) >>> 0;
    buf[k] = (t & 0xffff) >= threshold ? keep : 0;
    if (k + 1 < buf.length) buf[k + 1] = t >>> 16 >= threshold ? keep : 0;
  }
  return s >>> 0;
}

/** Transposes a row-major array of `shape` by `perm` (out dim k = in dim perm[k]). */
export function transposeArray(data: Float32Array, shape: number[], perm: number[]): Float32Array {
  const rank = shape.length;
  const outShape = perm.map((p) => shape[p]!);
  const inStrides = new Array<number>(rank);
  let acc = 1;
  for (let k = rank - 1; k >= 0; k--) {
    inStrides[k] = acc;
    acc *= shape[k]!;
  }
  const strides = perm.map((p) => inStrides[p]!);
  const out = new Float32Array(data.length);
  const idx = new Array<number>(rank).fill(0);
  for (let o = 0; o < out.length; o++) {
    let off = 0;
    for (let k = 0; k < rank; k++) off += idx[k]! * strides[k]!;
    out[o] = data[off]!;
    for (let k = rank - 1; k >= 0; k--) {
      if (++idx[k]! < outShape[k]!) break;
      idx[k] = 0;
    }
  }
  return out;
}

function inversePerm(perm: number[]): number[] {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, k) => (inv[p] = k));
  return inv;
}

export type TrainerChoice = { trainer: OrtTrainer; reason: string } | { trainer: null; reason: string };

/**
 * An ORT trainer for the model when onnxruntime-node loads and every layer has a rule;
 * otherwise null and the reason (callers then use `model.trainOnBatch`).
 */
export function createOrtTrainer(model: tf.LayersModel, options: OrtTrainerOptions): TrainerChoice {
  const ort = loadOrt();
  if (!ort) return { trainer: null, reason: `onnxruntime-node did not load: ${ortLoadFailure()}` };
  const planned = planTraining(model);
  if (!planned.ok) return { trainer: null, reason: planned.reason };
  return { trainer: new OrtTrainer(model, planned.plan, ort, options), reason: `ONNX Runtime ${ort.version}: whole training step in one graph (${options.optimizer})` };
}
