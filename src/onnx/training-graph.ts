/**
 * A whole training step of a preset network as ONE ONNX graph, run by ONNX Runtime.
 *
 * tfjs-wasm's autodiff with ONNX Runtime per-op kernels (ort-kernels.ts) pays, on every op,
 * an NHWC↔NCHW transpose, a copy out of ORT into wasm memory and a session call, and runs
 * every non-conv op on tfjs-wasm; the same convolutions inside one ONNX graph run about 3×
 * faster. So here the forward pass (NCHW, one transpose at the input), the loss, the
 * backward pass written by hand with ONNX ops, and the optimizer update (tfjs's own
 * formulas: Adam, RMSprop, SGD with momentum) are one graph. Parameters, optimizer state
 * and the BN moving statistics live in JS Float32Arrays between steps (kernels already in
 * ONNX layout [Co,Ci,KH,KW]); `syncToModel` writes them back into the tfjs model for
 * validation and checkpoints.
 *
 * Layers: Conv2D (valid/same, any stride, bias or not, relu/linear, L2 on the kernel),
 * BatchNormalization (ours or stock, last axis, center and scale), ReLU, Dropout (masks
 * drawn in JS from a seeded generator), Flatten (tfjs's NHWC order), Dense
 * (relu/softmax/linear, L2), Softmax (last layer). `planTraining` names the first layer it
 * cannot handle, and callers fall back to `model.trainOnBatch`.
 *
 * Speed: the forward convolutions and the filter gradients (a convolution of xᵀ with dyᵀ)
 * run on ONNX Runtime's blocked NCHWc kernels (com.microsoft.nchwc: MLAS's fastest, which
 * ORT's own optimizer only applies to constant weights), with the weights reordered inside
 * the graph; the layout is probed once per process (`nchwcBlockSize`) and plain ONNX Conv /
 * per-tap GEMMs are used where it does not match. Input gradients are ConvTranspose.
 *
 * The session runs through onnxruntime-node's synchronous binding (as ort-kernels.ts does):
 * no `setImmediate` per step.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { encodeModel, floatInitializer, int64Initializer, node, valueInfo, type AttrValue } from '../engine/onnx-graph.js';
import { loadOrt, ortLoadFailure, type OrtModules, type OrtTensor, type SyncSession } from '../engine/ort-kernels.js';

export type TrainerOptimizerKind = 'adam' | 'rmsprop' | 'sgd';
export type FilterGradient = 'auto' | 'conv' | 'im2col' | 'taps';

export interface OrtTrainerOptions {
  optimizer: TrainerOptimizerKind;
  /** SGD momentum (tf.train.momentum) */
  momentum?: number;
  /** label smoothing applied to the one-hot targets, as smoothedCrossEntropy in train.ts */
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

/* ---------- the plan: what each layer is, read from the tfjs model ---------- */

type LayerPlan =
  | { kind: 'conv'; layer: string; kh: number; kw: number; ci: number; co: number; sh: number; sw: number; pads: [number, number, number, number]; inHW: [number, number]; outHW: [number, number]; bias: boolean; relu: boolean; l2: number; kernel: number; biasParam: number }
  | { kind: 'bn'; layer: string; c: number; momentum: number; epsilon: number; gamma: number; beta: number; mean: number; variance: number }
  | { kind: 'relu'; layer: string }
  | { kind: 'dropout'; layer: string; rate: number; mask: number }
  | { kind: 'flatten'; layer: string }
  | { kind: 'dense'; layer: string; units: number; inputs: number; activation: 'relu' | 'linear' | 'softmax'; bias: boolean; l2: number; kernel: number; biasParam: number }
  | { kind: 'softmax'; layer: string };

interface ParamSlot {
  variable: tf.LayerVariable;
  /** shape in the graph */
  shape: number[];
  /** tfjs layout → graph layout (null: same) */
  perm: number[] | null;
}

interface MaskSlot {
  /** per-example shape in the graph's layout (NCHW without batch, or [F]) */
  shape: number[];
  rate: number;
}

export interface TrainingPlan {
  input: [number, number, number];
  layers: LayerPlan[];
  params: ParamSlot[];
  /** BN moving statistics (not trainable) */
  stats: ParamSlot[];
  masks: MaskSlot[];
}

export type PlanResult = { ok: true; plan: TrainingPlan } | { ok: false; reason: string };

interface LayerConfig {
  activation?: string;
  useBias?: boolean;
  kernelRegularizer?: { className?: string; config?: { l1?: number; l2?: number } } | null;
  biasRegularizer?: unknown;
  activityRegularizer?: unknown;
  kernelConstraint?: unknown;
  biasConstraint?: unknown;
  strides?: number | number[];
  padding?: string;
  dilationRate?: number | number[];
  dataFormat?: string;
  kernelSize?: number | number[];
  filters?: number;
  units?: number;
  rate?: number;
  noiseShape?: unknown;
  axis?: number | number[];
  center?: boolean;
  scale?: boolean;
  momentum?: number;
  epsilon?: number;
  maxValue?: number | null;
}

const pair = (v: number | number[] | undefined, fallback: number): [number, number] =>
  v === undefined ? [fallback, fallback] : Array.isArray(v) ? [v[0]!, v[1] ?? v[0]!] : [v, v];

function l2Of(config: LayerConfig): number | string {
  const reg = config.kernelRegularizer;
  if (!reg) return 0;
  if (reg.className !== 'L1L2' || (reg.config?.l1 ?? 0) !== 0) return `kernel regulariser ${reg.className} with L1`;
  return reg.config?.l2 ?? 0;
}

/** Reads the layer chain of a Sequential model; says which layer is not supported, if any. */
export function planTraining(model: tf.LayersModel): PlanResult {
  const inShape = model.inputs[0]!.shape;
  if (inShape.length !== 4) return { ok: false, reason: `input of rank ${inShape.length} (expected [B,H,W,C])` };
  const input = inShape.slice(1) as [number, number, number];
  const layers: LayerPlan[] = [];
  const params: ParamSlot[] = [];
  const stats: ParamSlot[] = [];
  const masks: MaskSlot[] = [];
  // current per-example shape: [C,H,W] (NCHW) or [F]
  let shape: number[] = [input[2], input[0], input[1]];
  const fail = (layer: tf.layers.Layer, why: string): PlanResult => ({ ok: false, reason: `layer ${layer.name} (${layer.getClassName()}): ${why}` });
  const all = model.layers.filter((l) => l.getClassName() !== 'InputLayer');
  for (const [index, layer] of all.entries()) {
    const cls = layer.getClassName();
    const config = layer.getConfig() as LayerConfig;
    if (!layer.trainable && layer.weights.length > 0) return fail(layer, 'frozen (trainable = false)');
    if (config.activityRegularizer || config.biasRegularizer || config.kernelConstraint || config.biasConstraint) return fail(layer, 'regularisers or constraints other than an L2 kernel regulariser');
    const w = layer as unknown as Record<string, tf.LayerVariable | null>;
    switch (cls) {
      case 'Conv2D': {
        if (shape.length !== 3) return fail(layer, 'convolution after Flatten');
        if ((config.dataFormat ?? 'channelsLast') !== 'channelsLast') return fail(layer, `dataFormat ${config.dataFormat}`);
        const [dh, dw] = pair(config.dilationRate, 1);
        if (dh !== 1 || dw !== 1) return fail(layer, 'dilation');
        const activation = config.activation ?? 'linear';
        if (activation !== 'relu' && activation !== 'linear') return fail(layer, `activation ${activation}`);
        const l2 = l2Of(config);
        if (typeof l2 === 'string') return fail(layer, l2);
        const [kh, kw] = pair(config.kernelSize, 1);
        const [sh, sw] = pair(config.strides, 1);
        const [ci, h, wd] = shape as [number, number, number];
        const co = config.filters!;
        const info = tf.backend_util.computeConv2DInfo([1, h, wd, ci], [kh, kw, ci, co], [sh, sw], 1, config.padding as 'valid' | 'same');
        const kernel = params.push({ variable: w.kernel!, shape: [co, ci, kh, kw], perm: [3, 2, 0, 1] }) - 1;
        const bias = config.useBias !== false;
        const biasParam = bias ? params.push({ variable: w.bias!, shape: [co], perm: null }) - 1 : -1;
        layers.push({
          kind: 'conv', layer: layer.name, kh, kw, ci, co, sh, sw,
          pads: [info.padInfo.top, info.padInfo.left, info.padInfo.bottom, info.padInfo.right],
          inHW: [h, wd], outHW: [info.outHeight, info.outWidth], bias, relu: activation === 'relu', l2, kernel, biasParam,
        });
        shape = [co, info.outHeight, info.outWidth];
        break;
      }
      case 'BatchNormalization': {
        const axis = Array.isArray(config.axis) ? config.axis : [config.axis ?? -1];
        const rank = shape.length + 1;
        if (axis.length !== 1 || (axis[0]! !== -1 && axis[0]! !== rank - 1)) return fail(layer, `axis ${String(config.axis)} (only the channel axis is supported)`);
        if (config.center === false || config.scale === false) return fail(layer, 'center or scale off');
        const c = shape[0]!;
        const gamma = params.push({ variable: w.gamma!, shape: [c], perm: null }) - 1;
        const beta = params.push({ variable: w.beta!, shape: [c], perm: null }) - 1;
        const mean = stats.push({ variable: w.movingMean!, shape: [c], perm: null }) - 1;
        const variance = stats.push({ variable: w.movingVariance!, shape: [c], perm: null }) - 1;
        layers.push({ kind: 'bn', layer: layer.name, c, momentum: config.momentum ?? 0.99, epsilon: config.epsilon ?? 1e-3, gamma, beta, mean, variance });
        break;
      }
      case 'ReLU':
        if (config.maxValue != null) return fail(layer, 'maxValue');
        layers.push({ kind: 'relu', layer: layer.name });
        break;
      case 'Dropout': {
        if (config.noiseShape != null) return fail(layer, 'noiseShape');
        const rate = config.rate ?? 0;
        // tfjs-layers skips Dropout when the rate is outside (0, 1).
        if (rate > 0 && rate < 1) layers.push({ kind: 'dropout', layer: layer.name, rate, mask: masks.push({ shape: [...shape], rate }) - 1 });
        break;
      }
      case 'Flatten':
        layers.push({ kind: 'flatten', layer: layer.name });
        shape = [shape.reduce((a, b) => a * b, 1)];
        break;
      case 'Dense': {
        if (shape.length !== 1) return fail(layer, 'Dense on a rank-4 tensor (add a Flatten before it)');
        const activation = config.activation ?? 'linear';
        if (activation !== 'relu' && activation !== 'linear' && activation !== 'softmax') return fail(layer, `activation ${activation}`);
        if (activation === 'softmax' && index !== all.length - 1) return fail(layer, 'softmax before the last layer');
        const l2 = l2Of(config);
        if (typeof l2 === 'string') return fail(layer, l2);
        const units = config.units!;
        const kernel = params.push({ variable: w.kernel!, shape: [shape[0]!, units], perm: null }) - 1;
        const bias = config.useBias !== false;
        const biasParam = bias ? params.push({ variable: w.bias!, shape: [units], perm: null }) - 1 : -1;
        layers.push({ kind: 'dense', layer: layer.name, units, inputs: shape[0]!, activation, bias, l2, kernel, biasParam });
        shape = [units];
        break;
      }
      case 'Softmax':
        if (index !== all.length - 1) return fail(layer, 'softmax before the last layer');
        if (shape.length !== 1) return fail(layer, 'softmax over a rank-4 tensor');
        layers.push({ kind: 'softmax', layer: layer.name });
        break;
      default:
        return fail(layer, 'no training rule for this layer class (falls back to tfjs autodiff)');
    }
  }
  const last = layers[layers.length - 1];
  if (!last || !(last.kind === 'softmax' || (last.kind === 'dense' && last.activation === 'softmax'))) {
    return { ok: false, reason: 'the model does not end in a softmax (the step computes softmax cross-entropy)' };
  }
  if (shape.length !== 1) return { ok: false, reason: 'the output is not [B, classes]' };
  return { ok: true, plan: { input, layers, params, stats, masks } };
}

/* ---------- the graph ---------- */

class Graph {
  readonly nodes: object[] = [];
  readonly initializers: object[] = [];
  readonly inputs: object[] = [];
  readonly outputs: object[] = [];
  private count = 0;
  private readonly constants = new Map<string, string>();

  op(op: string, inputs: string[], attrs?: Record<string, AttrValue>, hint = op.toLowerCase(), domain?: string): string {
    const out = `${hint}_${this.count++}`;
    this.nodes.push(node({ op, inputs, outputs: [out], attrs, domain }));
    return out;
  }

  /** A node whose output gets a chosen name (graph outputs). */
  named(name: string, op: string, inputs: string[], attrs?: Record<string, AttrValue>): string {
    this.nodes.push(node({ op, inputs, outputs: [name], attrs }));
    return name;
  }

  scalar(value: number): string {
    const key = `f${Math.fround(value)}`;
    let name = this.constants.get(key);
    if (!name) {
      name = `c_${this.count++}`;
      this.initializers.push(floatInitializer(name, [], new Float32Array([value])));
      this.constants.set(key, name);
    }
    return name;
  }

  constant(values: Float32Array, dims: number[]): string {
    const name = `c_${this.count++}`;
    this.initializers.push(floatInitializer(name, dims, values));
    return name;
  }

  zeros(n: number): string {
    const key = `z${n}`;
    let name = this.constants.get(key);
    if (!name) {
      name = this.constant(new Float32Array(n), [n]);
      this.constants.set(key, name);
    }
    return name;
  }

  ints(values: number[]): string {
    const key = `i${values.join(',')}`;
    let name = this.constants.get(key);
    if (!name) {
      name = `c_${this.count++}`;
      this.initializers.push(int64Initializer(name, values));
      this.constants.set(key, name);
    }
    return name;
  }

  input(name: string, dims: number[]): string {
    this.inputs.push(valueInfo(name, dims));
    return name;
  }

  output(name: string, dims: number[]): void {
    this.outputs.push(valueInfo(name, dims));
  }

  add = (a: string, b: string) => this.op('Add', [a, b]);
  sub = (a: string, b: string) => this.op('Sub', [a, b]);
  mul = (a: string, b: string) => this.op('Mul', [a, b]);
  div = (a: string, b: string) => this.op('Div', [a, b]);
  reduceSum = (x: string, axes: number[], keepdims: 0 | 1) => this.op('ReduceSum', [x, this.ints(axes)], { keepdims });
  reduceMean = (x: string, axes: number[], keepdims: 0 | 1) => this.op('ReduceMean', [x, this.ints(axes)], { keepdims });
  reshape = (x: string, dims: number[]) => this.op('Reshape', [x, this.ints(dims)]);
  transpose = (x: string, perm: number[]) => this.op('Transpose', [x], { perm });
  /** dy where y > 0, else 0 (the gradient of ReLU taken at its output) */
  reluMask = (y: string, dy: string) => this.op('Where', [this.op('Greater', [y, this.scalar(0)]), dy, this.scalar(0)]);
}

export const paramName = (i: number) => `p${i}`;
const stateName = (i: number, k: number) => `s${i}_${k}`;
const statName = (i: number) => `m${i}`;
const maskName = (i: number) => `mask${i}`;
const newName = (name: string) => `${name}_new`;

/** Optimizer state tensors per parameter. */
export function stateCount(kind: TrainerOptimizerKind): number {
  return kind === 'adam' ? 2 : 1;
}

interface Saved {
  in: string;
  out: string;
  extra: Record<string, string>;
  /** per-example shape of the input */
  inShape: number[];
}

export interface GraphOptions {
  batch: number;
  optimizer: TrainerOptimizerKind;
  momentum: number;
  classes: number;
  filterGradient: FilterGradient;
  /** NCHWc block size for the forward convolutions (0: plain ONNX Conv) */
  nchwcBlock?: number;
}

/** Encodes the training-step graph of a plan for a fixed batch size. */
export function buildTrainingGraph(plan: TrainingPlan, options: GraphOptions): Uint8Array {
  const g = new Graph();
  const B = options.batch;
  const [H, W, C] = plan.input;
  const x = g.input('x', [B, H, W, C]);
  const t = g.input('t', [B, options.classes]);
  plan.params.forEach((p, i) => {
    g.input(paramName(i), p.shape);
    for (let k = 0; k < stateCount(options.optimizer); k++) g.input(stateName(i, k), p.shape);
  });
  plan.stats.forEach((s, i) => g.input(statName(i), s.shape));
  plan.masks.forEach((m, i) => g.input(maskName(i), [B, ...m.shape]));
  const lr = g.input('lr', []);
  if (options.optimizer === 'adam') {
    g.input('one_minus_acc_beta1', []);
    g.input('one_minus_acc_beta2', []);
  }

  /* forward */
  let cur = C === 1 ? g.reshape(x, [B, 1, H, W]) : g.transpose(x, [0, 3, 1, 2]);
  let shape: number[] = [C, H, W];
  const saved: Saved[] = [];
  let regLoss: string | null = null;
  for (const L of plan.layers) {
    const s: Saved = { in: cur, out: cur, extra: {}, inShape: shape };
    switch (L.kind) {
      case 'conv': {
        const blk = options.nchwcBlock ?? 0;
        if (blk && (L.ci === 1 || L.ci % blk === 0) && L.co % blk === 0) {
          cur = nchwcConv(g, L, cur, blk);
        } else {
          const inputs = [cur, paramName(L.kernel), ...(L.bias ? [paramName(L.biasParam)] : [])];
          let y = g.op('Conv', inputs, { strides: [L.sh, L.sw], pads: L.pads, kernel_shape: [L.kh, L.kw], dilations: [1, 1] });
          if (L.relu) y = g.op('Relu', [y]);
          cur = y;
        }
        shape = [L.co, ...L.outHW];
        if (L.l2) {
          const r = g.mul(g.op('ReduceSumSquare', [paramName(L.kernel)], { keepdims: 0 }), g.scalar(L.l2));
          regLoss = regLoss ? g.add(regLoss, r) : r;
        }
        break;
      }
      case 'bn': {
        const axes = shape.length === 3 ? [0, 2, 3] : [0];
        const n = B * (shape.length === 3 ? shape[1]! * shape[2]! : 1);
        const bc = (p: string) => (shape.length === 3 ? g.reshape(p, [L.c, 1, 1]) : p);
        const mean = g.reduceMean(cur, axes, 1);
        const xc = g.sub(cur, mean);
        const variance = g.mul(g.op('ReduceSumSquare', [xc, g.ints(axes)], { keepdims: 1 }), g.scalar(1 / n));
        const rstd = g.op('Reciprocal', [g.op('Sqrt', [g.add(variance, g.scalar(L.epsilon))])]);
        const a = g.mul(bc(paramName(L.gamma)), rstd);
        // The affine map in one pass: ONNX BatchNormalization (inference form) with the batch statistics.
        cur = g.op('BatchNormalization', [cur, paramName(L.gamma), paramName(L.beta), g.reshape(mean, [L.c]), g.reshape(variance, [L.c])], { epsilon: { float: L.epsilon } });
        s.extra = { xc, rstd, a };
        // moving = moving − (moving − batch)·(1 − momentum), as BatchNormalization.call does
        const decay = g.scalar(1 - L.momentum);
        for (const [stat, batchValue] of [[L.mean, mean], [L.variance, variance]] as const) {
          const flat = g.reshape(batchValue, [L.c]);
          g.named(newName(statName(stat)), 'Sub', [statName(stat), g.mul(g.sub(statName(stat), flat), decay)]);
          g.output(newName(statName(stat)), [L.c]);
        }
        break;
      }
      case 'relu':
        cur = g.op('Relu', [cur]);
        break;
      case 'dropout':
        cur = g.mul(cur, maskName(L.mask));
        break;
      case 'flatten': {
        if (shape.length === 3) {
          const [c, h, w] = shape as [number, number, number];
          // tfjs flattens NHWC: (h, w, c) order, so Dense weights line up.
          cur = h * w === 1 ? g.reshape(cur, [B, c]) : g.reshape(g.transpose(cur, [0, 2, 3, 1]), [B, h * w * c]);
          shape = [c * h * w];
        }
        break;
      }
      case 'dense': {
        let y = g.op('Gemm', [cur, paramName(L.kernel), ...(L.bias ? [paramName(L.biasParam)] : [])]);
        if (L.activation === 'relu') y = g.op('Relu', [y]);
        else if (L.activation === 'softmax') y = g.op('Softmax', [y], { axis: -1 });
        cur = y;
        shape = [L.units];
        if (L.l2) {
          const r = g.mul(g.op('ReduceSumSquare', [paramName(L.kernel)], { keepdims: 0 }), g.scalar(L.l2));
          regLoss = regLoss ? g.add(regLoss, r) : r;
        }
        break;
      }
      case 'softmax':
        cur = g.op('Softmax', [cur], { axis: -1 });
        break;
    }
    s.out = cur;
    saved.push(s);
  }

  /* loss: −mean Σ t·log(clip(p, 1e-7, 1−1e-7)) (+ L2), and accuracy */
  const p = cur;
  const lo = g.scalar(1e-7);
  const hi = g.scalar(1 - 1e-7);
  const pc = g.op('Clip', [p, lo, hi]);
  const ce = g.op('Neg', [g.reduceMean(g.reduceSum(g.mul(t, g.op('Log', [pc])), [1], 0), [0], 0)]);
  g.named('loss', 'Identity', [regLoss ? g.add(ce, regLoss) : ce]);
  g.output('loss', []);
  const hit = g.op('Equal', [g.op('ArgMax', [p], { axis: 1, keepdims: 0 }), g.op('ArgMax', [t], { axis: 1, keepdims: 0 })]);
  g.named('acc', 'ReduceMean', [g.op('Cast', [hit], { to: 1 }), g.ints([0])], { keepdims: 0 });
  g.output('acc', []);

  // d loss / d p, with clip's gradient (zero outside [lo, hi]), then through the softmax.
  const inside = g.op('And', [g.op('GreaterOrEqual', [p, lo]), g.op('LessOrEqual', [p, hi])]);
  const dp = g.op('Where', [inside, g.mul(g.div(t, pc), g.scalar(-1 / B)), g.scalar(0)]);
  let d = g.mul(p, g.sub(dp, g.reduceSum(g.mul(dp, p), [1], 1)));

  /* backward */
  const grads = new Map<number, string>();
  for (let li = plan.layers.length - 1; li >= 0; li--) {
    const L = plan.layers[li]!;
    const s = saved[li]!;
    const needInput = li > 0;
    switch (L.kind) {
      case 'softmax':
        // d already is the gradient at the softmax's input
        break;
      case 'dense': {
        // (softmax was folded into d above)
        if (L.activation === 'relu') d = g.reluMask(s.out, d);
        grads.set(L.kernel, g.op('Gemm', [s.in, d], { transA: 1 }));
        if (L.bias) grads.set(L.biasParam, g.reduceSum(d, [0], 0));
        if (needInput) d = g.op('Gemm', [d, paramName(L.kernel)], { transB: 1 });
        break;
      }
      case 'flatten': {
        const sh = s.inShape;
        if (sh.length === 3) {
          const [c, h, w] = sh as [number, number, number];
          d = h * w === 1 ? g.reshape(d, [B, c, 1, 1]) : g.transpose(g.reshape(d, [B, h, w, c]), [0, 3, 1, 2]);
        }
        break;
      }
      case 'dropout':
        d = g.mul(d, maskName(L.mask));
        break;
      case 'relu':
        d = g.reluMask(s.out, d);
        break;
      case 'bn': {
        const sh = s.inShape;
        const axes = sh.length === 3 ? [0, 2, 3] : [0];
        const n = B * (sh.length === 3 ? sh[1]! * sh[2]! : 1);
        const { xc, rstd, a } = s.extra as { xc: string; rstd: string; a: string };
        const sumDy = g.reduceSum(d, axes, 1);
        const sumDyXc = g.reduceSum(g.mul(d, xc), axes, 1);
        grads.set(L.beta, g.reshape(sumDy, [L.c]));
        grads.set(L.gamma, g.reshape(g.mul(sumDyXc, rstd), [L.c]));
        if (needInput) {
          // dx = a·dy − a·Σdy/N − xc·a·r²·Σ(dy·xc)/N
          const k2 = g.mul(g.mul(a, g.mul(rstd, rstd)), g.mul(sumDyXc, g.scalar(-1 / n)));
          const k3 = g.mul(a, g.mul(sumDy, g.scalar(-1 / n)));
          // xc·k2 + k3 in one pass: BatchNormalization with mean 0 and variance 1 − ε (so √(var+ε) = 1)
          const affine = g.op('BatchNormalization', [xc, g.reshape(k2, [L.c]), g.reshape(k3, [L.c]), g.zeros(L.c), g.constant(new Float32Array(L.c).fill(1 - L.epsilon), [L.c])], {
            epsilon: { float: L.epsilon },
          });
          d = g.add(g.mul(d, a), affine);
        }
        break;
      }
      case 'conv': {
        if (L.relu) d = g.reluMask(s.out, d);
        if (L.bias) grads.set(L.biasParam, g.reduceSum(d, [0, 2, 3], 0));
        grads.set(L.kernel, filterGradient(g, L, s.in, d, B, options.filterGradient, options.nchwcBlock ?? 0));
        if (needInput) d = inputGradient(g, L, d);
        break;
      }
    }
  }
  for (const L of plan.layers) {
    if ((L.kind === 'conv' || L.kind === 'dense') && L.l2) grads.set(L.kernel, g.add(grads.get(L.kernel)!, g.mul(paramName(L.kernel), g.scalar(2 * L.l2))));
  }

  /* optimizer: tfjs's formulas (tfjs-core optimizers/*_optimizer.ts) */
  plan.params.forEach((param, i) => {
    const grad = grads.get(i);
    if (!grad) throw new Error(`no gradient for parameter ${i}`);
    const value = paramName(i);
    const out = newName(value);
    if (options.optimizer === 'adam') {
      const [b1, b2, eps] = [0.9, 0.999, 1e-7];
      const m = g.named(newName(stateName(i, 0)), 'Add', [g.mul(stateName(i, 0), g.scalar(b1)), g.mul(grad, g.scalar(1 - b1))]);
      const v = g.named(newName(stateName(i, 1)), 'Add', [g.mul(stateName(i, 1), g.scalar(b2)), g.mul(g.mul(grad, grad), g.scalar(1 - b2))]);
      const mHat = g.div(m, 'one_minus_acc_beta1');
      const vHat = g.div(v, 'one_minus_acc_beta2');
      const step = g.mul(g.div(mHat, g.add(g.op('Sqrt', [vHat]), g.scalar(eps))), g.op('Neg', [lr]));
      g.named(out, 'Add', [step, value]);
    } else if (options.optimizer === 'rmsprop') {
      // tf.train.rmsprop(lr, 0.9, 0, 1e-7): momentum 0, so the moment is just this step's update
      const [decay, eps] = [0.9, 1e-7];
      const ms = g.named(newName(stateName(i, 0)), 'Add', [g.mul(stateName(i, 0), g.scalar(decay)), g.mul(g.mul(grad, grad), g.scalar(1 - decay))]);
      const step = g.div(g.mul(grad, lr), g.op('Sqrt', [g.add(ms, g.scalar(eps))]));
      g.named(out, 'Sub', [value, step]);
    } else {
      const acc = g.named(newName(stateName(i, 0)), 'Add', [g.mul(stateName(i, 0), g.scalar(options.momentum)), grad]);
      g.named(out, 'Add', [g.mul(g.op('Neg', [lr]), acc), value]);
    }
    g.output(out, param.shape);
    for (let k = 0; k < stateCount(options.optimizer); k++) g.output(newName(stateName(i, k)), param.shape);
  });

  return encodeModel({
    name: 'digits_training_step',
    nodes: g.nodes,
    inputs: g.inputs,
    outputs: g.outputs,
    initializers: g.initializers,
    opset: 18,
    domains: options.nchwcBlock ? [{ domain: NCHWC, version: 1 }] : [],
  });
}

const NCHWC = 'com.microsoft.nchwc';

/**
 * The filter [Co,Ci,KH,KW] in MLAS's NCHWc layouts (what ORT's NchwcTransformer does to constant
 * weights; ours change every step, so the graph reorders them): OIHWBiBo
 * [Co/b, Ci/b, KH, KW, b(i), b(o)], or OIHWBo [Co/b, Ci, KH, KW, b(o)] for an NCHW input (Ci = 1).
 */
function nchwcFilter(g: Graph, w: string, co: number, ci: number, kh: number, kw: number, blk: number): string {
  const blocked = ci === 1 || ci % blk !== 0
    ? g.transpose(g.reshape(w, [co / blk, blk, ci, kh, kw]), [0, 2, 3, 4, 1])
    : g.transpose(g.reshape(w, [co / blk, blk, ci / blk, blk, kh, kw]), [0, 2, 4, 5, 3, 1]);
  return g.reshape(blocked, [co, ci, kh, kw]);
}

/** Forward convolution (+ ReLU) in NCHWc: NCHW in, NCHW out. */
function nchwcConv(g: Graph, L: ConvPlan, x: string, blk: number): string {
  const attrs: Record<string, AttrValue> = { strides: [L.sh, L.sw], pads: L.pads, kernel_shape: [L.kh, L.kw], dilations: [1, 1] };
  if (L.relu) attrs.activation = { str: 'Relu' };
  return blockedConv(g, x, paramName(L.kernel), L.co, L.ci, L.kh, L.kw, attrs, blk, false, L.bias ? paramName(L.biasParam) : undefined);
}

/** Conv(x, w[, b]) through the NCHWc ops: x and the result in NCHW; w [co,ci,kh,kw] reordered in the graph. */
function blockedConv(g: Graph, x: string, w: string, co: number, ci: number, kh: number, kw: number, attrs: Record<string, AttrValue>, blk: number, wBlocked: boolean, bias?: string): string {
  // A one-channel input is read as NCHW directly (as ORT's own transformer does).
  const input = ci === 1 ? x : g.op('ReorderInput', [x], {}, 'nchwc_in', NCHWC);
  const wb = wBlocked ? w : nchwcFilter(g, w, co, ci, kh, kw, blk);
  const y = g.op('Conv', [input, wb, ...(bias ? [bias] : [])], attrs, 'nchwc_conv', NCHWC);
  return g.op('ReorderOutput', [y], { channels: co }, 'nchwc_out', NCHWC);
}

let probedBlock: number | null = null;

/**
 * The NCHWc block size MLAS uses here (8 with AVX2, 16 with AVX-512), found by running one
 * small convolution both ways and comparing; 0 when neither layout matches or the nchwc ops
 * are missing (other builds or CPUs): then the plain ONNX Conv is used.
 */
export function nchwcBlockSize(ort: OrtModules): number {
  if (probedBlock !== null) return probedBlock;
  probedBlock = 0;
  const c = 16;
  const next = (() => {
    let state = 12345;
    return () => ((state = (Math.imul(state, 1103515245) + 12345) | 0) >>> 8) / 16777216 - 0.5;
  })();
  const x = Float32Array.from({ length: c * 36 }, next);
  const x1 = Float32Array.from({ length: 36 }, next);
  const w = Float32Array.from({ length: c * c * 9 }, next);
  const w1 = Float32Array.from({ length: c * 9 }, next);
  for (const blk of [8, 16]) {
    try {
      const g = new Graph();
      g.input('x', [1, c, 6, 6]);
      g.input('x1', [1, 1, 6, 6]);
      g.input(paramName(0), [c, c, 3, 3]);
      g.input(paramName(1), [c, 1, 3, 3]);
      // stride 2 with asymmetric 'same' padding, as seed002's k5 layers
      const conv = (ci: number, kernel: number): ConvPlan => ({
        kind: 'conv', layer: 'probe', kh: 3, kw: 3, ci, co: c, sh: 2, sw: 2, pads: [0, 0, 1, 1], inHW: [6, 6], outHW: [3, 3], bias: false, relu: false, l2: 0, kernel, biasParam: -1,
      });
      const a = nchwcConv(g, conv(c, 0), 'x', blk);
      const a1 = nchwcConv(g, conv(1, 1), 'x1', blk);
      const attrs = { strides: [2, 2], pads: [0, 0, 1, 1], kernel_shape: [3, 3] };
      g.named('plain', 'Conv', ['x', paramName(0)], attrs);
      g.named('plain1', 'Conv', ['x1', paramName(1)], attrs);
      g.named('blocked', 'Identity', [a]);
      g.named('blocked1', 'Identity', [a1]);
      for (const name of ['plain', 'plain1', 'blocked', 'blocked1']) g.output(name, [1, c, 3, 3]);
      const bytes = encodeModel({ name: 'nchwc_probe', nodes: g.nodes, inputs: g.inputs, outputs: g.outputs, initializers: g.initializers, domains: [{ domain: NCHWC, version: 1 }] });
      const s = new ort.InferenceSession();
      s.loadModel(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength, { graphOptimizationLevel: 'all', intraOpNumThreads: 1 });
      const T = ort.Tensor;
      const out = s.run(
        { x: new T('float32', x, [1, c, 6, 6]), x1: new T('float32', x1, [1, 1, 6, 6]), [paramName(0)]: new T('float32', w, [c, c, 3, 3]), [paramName(1)]: new T('float32', w1, [c, 1, 3, 3]) },
        { plain: null, plain1: null, blocked: null, blocked1: null },
        {},
      );
      s.dispose();
      const close = (p: Float32Array, q: Float32Array) => p.every((v, i) => Math.abs(v - q[i]!) <= 1e-4 * (1 + Math.abs(v)));
      if (close(out.plain!.data, out.blocked!.data) && close(out.plain1!.data, out.blocked1!.data)) {
        probedBlock = blk;
        break;
      }
    } catch {
      // no nchwc ops in this build: stay on plain Conv
    }
  }
  return probedBlock;
}

type ConvPlan = Extract<LayerPlan, { kind: 'conv' }>;

/** dx of a convolution: ConvTranspose with pads and output padding that give exactly H×W. */
function inputGradient(g: Graph, L: ConvPlan, dy: string): string {
  const [H, W] = L.inHW;
  const [OH, OW] = L.outHW;
  const [top, left] = L.pads;
  const endPad = (s: number, o: number, k: number, begin: number, size: number) => s * (o - 1) + k - begin - size;
  const bottom = endPad(L.sh, OH, L.kh, top, H);
  const right = endPad(L.sw, OW, L.kw, left, W);
  return g.op('ConvTranspose', [dy, paramName(L.kernel)], {
    strides: [L.sh, L.sw],
    pads: [top, left, Math.max(0, bottom), Math.max(0, right)],
    output_padding: [Math.max(0, -bottom), Math.max(0, -right)],
    kernel_shape: [L.kh, L.kw],
  });
}

/** dW [Co,Ci,KH,KW] of a convolution from its input x [B,Ci,H,W] and output gradient dy [B,Co,OH,OW]. */
function filterGradient(g: Graph, L: ConvPlan, x: string, dy: string, B: number, requested: FilterGradient, blk = 0): string {
  const [top, left, bottom, right] = L.pads;
  const [H, W] = L.inHW;
  const [OH, OW] = L.outHW;
  const blockable = blk > 0 && B % blk === 0 && L.co % blk === 0;
  const how = requested === 'auto' ? (blockable ? 'conv' : 'taps') : requested;
  if (how === 'conv') {
    // dW[co,ci,i,j] = Σ_b,oh,ow x[b,ci,oh·s+i−top, ow·s+j−left]·dy[b,co,oh,ow]: a convolution of
    // xᵀ [Ci,B,H,W] (batch ↔ channels) with dyᵀ [Co,B,OH,OW] as the filter, dilated by the stride.
    const xt = L.ci === 1 ? g.reshape(x, [1, B, H, W]) : g.transpose(x, [1, 0, 2, 3]);
    const blocked = blockable;
    // Blocked: dyᵀ goes straight into the OIHWBiBo filter layout from dy's NCHWc form, moving
    // runs of `blk` floats instead of single ones.
    const dyt = blocked
      ? g.reshape(g.transpose(g.reshape(g.op('ReorderInput', [dy], {}, 'nchwc_in', NCHWC), [B / blk, blk, L.co / blk, OH, OW, blk]), [2, 0, 3, 4, 1, 5]), [L.co, B, OH, OW])
      : g.transpose(dy, [1, 0, 2, 3]);
    // Rows the forward never reached (bottom padding beyond the last window, or valid leftovers) are cropped.
    const kh = H + top + bottom - L.sh * (OH - 1);
    const kw = W + left + right - L.sw * (OW - 1);
    const attrs: Record<string, AttrValue> = { strides: [1, 1], dilations: [L.sh, L.sw], pads: [top, left, bottom, right], kernel_shape: [OH, OW] };
    let r = blocked ? blockedConv(g, xt, dyt, L.co, B, OH, OW, attrs, blk, true) : g.op('Conv', [xt, dyt], attrs);
    if (kh !== L.kh || kw !== L.kw) r = g.op('Slice', [r, g.ints([0, 0]), g.ints([L.kh, L.kw]), g.ints([2, 3])]);
    return L.ci === 1 ? g.reshape(r, [L.co, 1, L.kh, L.kw]) : g.transpose(r, [1, 0, 2, 3]);
  }
  let src = g.transpose(x, [0, 2, 3, 1]);
  if (top || bottom || left || right) src = g.op('Pad', [src, g.ints([0, top, left, 0, 0, bottom, right, 0])]);
  if (how === 'taps') {
    // One GEMM per filter tap over the strided NHWC slice: no im2col buffer is ever built.
    const d2 = g.reshape(g.transpose(dy, [0, 2, 3, 1]), [B * OH * OW, L.co]);
    const taps: string[] = [];
    for (let i = 0; i < L.kh; i++) {
      for (let j = 0; j < L.kw; j++) {
        const slice = g.op('Slice', [src, g.ints([i, j]), g.ints([i + (OH - 1) * L.sh + 1, j + (OW - 1) * L.sw + 1]), g.ints([1, 2]), g.ints([L.sh, L.sw])]);
        const gt = g.op('Gemm', [d2, g.reshape(slice, [B * OH * OW, L.ci])], { transA: 1 });
        taps.push(g.reshape(gt, [L.co, L.ci, 1]));
      }
    }
    return g.reshape(g.op('Concat', taps, { axis: 2 }), [L.co, L.ci, L.kh, L.kw]);
  }
  // im2col in NHWC by strided slices, then one GEMM over (b, oh, ow).
  const slices: string[] = [];
  for (let i = 0; i < L.kh; i++) {
    for (let j = 0; j < L.kw; j++) {
      slices.push(g.op('Slice', [src, g.ints([i, j]), g.ints([i + (OH - 1) * L.sh + 1, j + (OW - 1) * L.sw + 1]), g.ints([1, 2]), g.ints([L.sh, L.sw])]));
    }
  }
  const patches = g.reshape(g.op('Concat', slices, { axis: 3 }), [B * OH * OW, L.kh * L.kw * L.ci]);
  const d2 = g.reshape(g.transpose(dy, [0, 2, 3, 1]), [B * OH * OW, L.co]);
  // [co, (kh,kw,ci)] → [Co, KH, KW, Ci] → [Co, Ci, KH, KW]
  const gw = g.op('Gemm', [d2, patches], { transA: 1 });
  return g.transpose(g.reshape(gw, [L.co, L.kh, L.kw, L.ci]), [0, 3, 1, 2]);
}

/* ---------- JS-side layout helpers ---------- */

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

/* ---------- the trainer ---------- */

export interface StepResult {
  loss: number;
  acc: number;
}

/**
 * What the trainer carries from step to step besides the parameters and moving statistics
 * (which live in the tfjs model after `syncToModel`): the optimizer's moments in the graph's
 * layout, Adam's bias-correction powers, the step count and the dropout generator.
 */
export interface OrtTrainerState {
  optimizer: TrainerOptimizerKind;
  steps: number;
  accBeta1: number;
  accBeta2: number;
  maskState: number;
  /** per parameter (plan order), `stateCount(optimizer)` arrays */
  moments: Float32Array[][];
}

export interface OrtProfileEntry {
  op: string;
  ms: number;
  share: number;
}

export class OrtTrainer {
  readonly plan: TrainingPlan;
  private readonly ort: OrtModules;
  private readonly options: Required<Omit<OrtTrainerOptions, 'profile'>> & { profile: boolean };
  private readonly sessions = new Map<number, SyncSession>();
  private params: Float32Array[] = [];
  private state: Float32Array[][] = [];
  private stats: Float32Array[] = [];
  private readonly masks = new Map<number, Float32Array[]>();
  /** mulberry32 state of the dropout masks */
  private maskState: number;
  private accBeta1 = Math.fround(0.9);
  private accBeta2 = Math.fround(0.999);
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
    this.maskState = this.options.seed >>> 0;
    this.readFromModel(model);
    this.state = plan.params.map((p) => Array.from({ length: stateCount(this.options.optimizer) }, () => new Float32Array(tf.util.sizeFromShape(p.shape))));
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
    const write = (slot: ParamSlot, values: Float32Array) => {
      const data = slot.perm ? transposeArray(values, slot.shape, inversePerm(slot.perm)) : values;
      const tensor = tf.tensor(data, slot.variable.shape as number[], 'float32');
      slot.variable.write(tensor);
      tensor.dispose();
    };
    this.plan.params.forEach((slot, i) => write(slot, this.params[i]!));
    this.plan.stats.forEach((slot, i) => write(slot, this.stats[i]!));
  }

  /** Current parameters and moving statistics in tfjs layout, in the order of `plan.params` / `plan.stats`. */
  snapshot(): { params: Float32Array[]; stats: Float32Array[] } {
    const tfjsLayout = (slot: ParamSlot, values: Float32Array) => (slot.perm ? transposeArray(values, slot.shape, inversePerm(slot.perm)) : values.slice());
    return { params: this.plan.params.map((s, i) => tfjsLayout(s, this.params[i]!)), stats: this.plan.stats.map((s, i) => tfjsLayout(s, this.stats[i]!)) };
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

  /** A copy of the optimizer state, step count and dropout stream (resume with `setState`). */
  getState(): OrtTrainerState {
    return {
      optimizer: this.options.optimizer,
      steps: this.steps,
      accBeta1: this.accBeta1,
      accBeta2: this.accBeta2,
      maskState: this.maskState,
      moments: this.state.map((slots) => slots.map((m) => m.slice())),
    };
  }

  /** Restores what `getState` returned (for the same network and optimizer). */
  setState(state: OrtTrainerState): void {
    if (state.optimizer !== this.options.optimizer) throw new Error(`the saved optimizer state is ${state.optimizer}; this trainer runs ${this.options.optimizer}`);
    const k = stateCount(this.options.optimizer);
    if (state.moments.length !== this.plan.params.length || state.moments.some((slots, i) => slots.length !== k || slots.some((m) => m.length !== tf.util.sizeFromShape(this.plan.params[i]!.shape)))) {
      throw new Error('the saved optimizer state does not fit this network (different parameter shapes)');
    }
    this.state = state.moments.map((slots) => slots.map((m) => Float32Array.from(m)));
    this.steps = state.steps;
    this.accBeta1 = state.accBeta1;
    this.accBeta2 = state.accBeta2;
    this.maskState = state.maskState >>> 0;
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
    const opt = this.options.optimizer;
    this.plan.params.forEach((p, i) => {
      feeds[paramName(i)] = new T('float32', this.params[i]!, p.shape);
      fetches[newName(paramName(i))] = null;
      for (let k = 0; k < stateCount(opt); k++) {
        feeds[stateName(i, k)] = new T('float32', this.state[i]![k]!, p.shape);
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
    if (opt === 'adam') {
      feeds.one_minus_acc_beta1 = new T('float32', new Float32Array([1 - this.accBeta1]), []);
      feeds.one_minus_acc_beta2 = new T('float32', new Float32Array([1 - this.accBeta2]), []);
    }
    const runStarted = this.timing ? performance.now() : 0;
    const out = session.run(feeds, fetches, {});
    if (this.timing) this.timing.graphMs += performance.now() - runStarted;
    this.params = this.plan.params.map((_, i) => out[newName(paramName(i))]!.data);
    this.state = this.plan.params.map((_, i) => Array.from({ length: stateCount(opt) }, (__, k) => out[newName(stateName(i, k))]!.data));
    this.stats = this.plan.stats.map((_, i) => out[newName(statName(i))]!.data);
    if (opt === 'adam') {
      this.accBeta1 = Math.fround(this.accBeta1 * 0.9);
      this.accBeta2 = Math.fround(this.accBeta2 * 0.999);
    }
    this.steps++;
    if (this.timing) this.timing.wallMs += performance.now() - started;
    return { loss: out.loss!.data[0]!, acc: out.acc!.data[0]! };
  }

  /** Ends profiling and returns time by ONNX op type (needs `profile: true`). */
  endProfiling(): { totalMs: number; runs: number; ops: OrtProfileEntry[] } {
    if (!this.profileDir) throw new Error('the trainer was created without profile: true');
    for (const s of this.sessions.values()) s.endProfiling?.();
    const byOp = new Map<string, number>();
    let runs = 0;
    for (const file of readdirSync(this.profileDir)) {
      const events = JSON.parse(readFileSync(path.join(this.profileDir, file), 'utf8')) as Array<{ cat: string; name: string; dur: number; args?: { op_name?: string } }>;
      for (const e of events) {
        if (e.cat === 'Session' && e.name === 'model_run') runs++;
        if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
        const op = e.args?.op_name ?? 'unknown';
        byOp.set(op, (byOp.get(op) ?? 0) + e.dur / 1000);
      }
    }
    rmSync(this.profileDir, { recursive: true, force: true });
    this.profileDir = null;
    const total = [...byOp.values()].reduce((a, b) => a + b, 0);
    const perRun = Math.max(1, runs);
    const ops = [...byOp.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([op, ms]) => ({ op, ms: Number((ms / perRun).toFixed(2)), share: Number((ms / total).toFixed(3)) }));
    return { totalMs: Number((total / perRun).toFixed(1)), runs, ops };
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
