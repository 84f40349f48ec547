/**
 * The rules of the ONNX export, one per tfjs layer class (`EXPORT_RULES`), and the graph they
 * build on: values that carry their layout (NHWC, NCHW, flat) and a batch norm deferred into
 * the next Conv/Dense. `export.ts` walks a model's layers through these rules; see its header
 * for the translation choices (layouts, 'same' padding, batch-norm folding).
 */
import * as tf from '../engine/tf.js';
import { OnnxGraph, type AttrValue, type NodeSpec } from '../engine/onnx-graph.js';
import { UserError } from '../errors.js';

/** The graph's input (raw pixels, [N, 28, 28, 1]) and output (class probabilities). */
export const ONNX_INPUT = 'images';
export const ONNX_OUTPUT = 'probabilities';

/** A layer the exporter cannot translate (no rule for its class, or a configuration the rule does not handle). */
export class UnsupportedLayerError extends UserError {
  readonly layerName: string;
  readonly className: string;

  constructor(layer: { name: string; className: string }, reason: string, hint?: string) {
    super(`cannot export layer "${layer.name}" (${layer.className}) to ONNX: ${reason}`, {
      hint: hint ?? `the member still runs on tfjs (inference mode auto or tfjs); to export it, add an export rule for ${layer.className} in src/onnx/export-rules.ts`,
    });
    this.name = 'UnsupportedLayerError';
    this.layerName = layer.name;
    this.className = layer.className;
  }
}

/* ---------- the graph under construction ---------- */

export type Layout = 'nhwc' | 'nchw' | 'flat';

/** A tensor of the graph, per example: `shape` is tfjs's (no batch axis), whatever the layout. */
export interface GraphValue {
  name: string;
  layout: Layout;
  shape: number[];
  /** Set when the value is the plain affine output of a Conv/Gemm, so a BN after it can fold in. */
  affine?: AffineOutput;
  /**
   * A batch norm not emitted yet: the layer's true output is `name · scale + shift` per channel
   * (per feature once flattened). The next Conv without padding or Dense folds it into its own
   * weights; any other layer first materialises it (`materialize`).
   */
  pending?: PendingNorm;
}

export interface PendingNorm {
  layer: string;
  /** per channel (or per feature of a flat value), float64-derived */
  scale: Float32Array;
  shift: Float32Array;
}

export interface AffineOutput {
  node: NodeSpec;
  /** initializer whose leading axis is the output channel (Conv [Co,Ci,KH,KW], Gemm with transB [out,in]) */
  weight: string;
  bias: string | null;
  channels: number;
}

/** The shared graph builder plus what the export rules track: the batch norms folded away, and layouts. */
export class GraphBuilder extends OnnxGraph {
  readonly folded: string[] = [];

  constructor() {
    super();
    this.reserve(ONNX_INPUT, ONNX_OUTPUT);
  }

  /** The value in `layout`, with a Transpose (or a Reshape when there is one channel) when it is not. */
  toLayout(value: GraphValue, layout: 'nhwc' | 'nchw'): GraphValue {
    if (value.layout === layout) return value;
    if (value.layout === 'flat') throw new Error(`internal: cannot bring a flat value (${value.name}) back to ${layout}`);
    const [h, w, c] = value.shape as [number, number, number];
    let name: string;
    if (c === 1) {
      // Moving a single channel is a reshape: no data movement at all.
      const shape = layout === 'nchw' ? [-1, 1, h, w] : [-1, h, w, 1];
      name = this.op('Reshape', [value.name, this.int64(`shape_${shape.slice(1).join('x')}`, shape)], {}, `${value.name}/${layout}`);
    } else {
      name = this.op('Transpose', [value.name], { perm: layout === 'nchw' ? [0, 3, 1, 2] : [0, 2, 3, 1] }, `${value.name}/${layout}`);
    }
    return { name, layout, shape: value.shape, pending: value.pending };
  }
}

/* ---------- layer rules ---------- */

export interface LayerRef {
  name: string;
  className: string;
}

export interface RuleContext {
  graph: GraphBuilder;
  layer: tf.Layer;
  ref: LayerRef;
  /** tfjs's config of the layer (`layer.getConfig()`) */
  config: Record<string, unknown>;
  /** tfjs's output shape of the layer, without the batch axis */
  outputShape: number[];
}

/** Emits the nodes of one layer and returns its output value. */
export type ExportRule = (input: GraphValue, ctx: RuleContext) => GraphValue;

function fail(ctx: RuleContext, reason: string): never {
  throw new UnsupportedLayerError(ctx.ref, reason);
}

/** A layer weight as float32 (a copy, safe to modify). */
function weightOf(ctx: RuleContext, field: string): Float32Array | null {
  const variable = (ctx.layer as unknown as Record<string, tf.LayerVariable | null | undefined>)[field];
  if (variable == null) return null;
  return Float32Array.from(variable.read().dataSync() as Float32Array);
}

function pair(value: unknown, ctx: RuleContext, what: string): [number, number] {
  if (typeof value === 'number') return [value, value];
  if (Array.isArray(value) && value.length === 2 && value.every((v) => typeof v === 'number')) return value as [number, number];
  return fail(ctx, `unexpected ${what} ${JSON.stringify(value)}`);
}

function requireChannelsLast(ctx: RuleContext): void {
  const format = ctx.config.dataFormat;
  if (format !== undefined && format !== 'channelsLast') fail(ctx, `dataFormat ${String(format)} (only channelsLast is exported)`);
}

function require4d(input: GraphValue, ctx: RuleContext): [number, number, number] {
  if (input.layout === 'flat' || input.shape.length !== 3) fail(ctx, `expects an image tensor [H, W, C], got [${input.shape.join(', ')}]`);
  return input.shape as [number, number, number];
}

/** A fused or standalone activation by its Keras name. */
function activation(value: GraphValue, name: unknown, ctx: RuleContext): GraphValue {
  const { graph } = ctx;
  const base = `${ctx.ref.name}/${String(name)}`;
  switch (name ?? 'linear') {
    case 'linear':
      return value;
    case 'relu':
      return { ...value, affine: undefined, name: graph.op('Relu', [value.name], {}, base) };
    case 'sigmoid':
      return { ...value, affine: undefined, name: graph.op('Sigmoid', [value.name], {}, base) };
    case 'tanh':
      return { ...value, affine: undefined, name: graph.op('Tanh', [value.name], {}, base) };
    case 'softmax': {
      // Keras softmax runs over the last axis of the tfjs (NHWC) tensor.
      const v = value.layout === 'nchw' ? graph.toLayout(value, 'nhwc') : value;
      return { ...v, affine: undefined, name: graph.op('Softmax', [v.name], { axis: -1 }, base) };
    }
    default:
      return fail(ctx, `activation "${String(name)}" has no ONNX rule (exported: linear, relu, sigmoid, tanh, softmax)`);
  }
}

function conv2dRule(input: GraphValue, ctx: RuleContext): GraphValue {
  requireChannelsLast(ctx);
  const { graph, config } = ctx;
  const [h, w, ci] = require4d(input, ctx);
  const [kh, kw] = pair(config.kernelSize, ctx, 'kernelSize');
  const strides = pair(config.strides ?? 1, ctx, 'strides');
  const dilations = pair(config.dilationRate ?? 1, ctx, 'dilationRate');
  const padding = config.padding;
  if (padding !== 'valid' && padding !== 'same') fail(ctx, `padding "${String(padding)}" (exported: valid, same)`);
  const kernel = weightOf(ctx, 'kernel');
  if (!kernel) fail(ctx, 'the layer has no kernel weight');
  const co = kernel.length / (kh * kw * ci);
  if (!Number.isInteger(co)) fail(ctx, `kernel of ${kernel.length} values does not fit ${kh}×${kw}×${ci}×?`);
  // tfjs's own arithmetic for 'same' (pads may be asymmetric: the extra pixel goes bottom/right).
  const info = tf.backend_util.computeConv2DInfo([1, h, w, ci], [kh, kw, ci, co], strides, dilations, padding);
  const { top, bottom, left, right } = info.padInfo;
  // [KH, KW, Ci, Co] → ONNX [Co, Ci, KH, KW]
  const onnxKernel = new Float32Array(kernel.length);
  for (let y = 0; y < kh; y++) {
    for (let x = 0; x < kw; x++) {
      for (let c = 0; c < ci; c++) {
        for (let o = 0; o < co; o++) onnxKernel[((o * ci + c) * kh + y) * kw + x] = kernel[((y * kw + x) * ci + c) * co + o]!;
      }
    }
  }
  let biasValues = config.useBias === false ? null : weightOf(ctx, 'bias');
  let source = input;
  // A deferred batch norm before a padded conv: the scale folds into the weights exactly (a
  // padded zero scaled is still zero), but the shift must not reach the padded taps. Its
  // contribution, with the bias, is a constant map over the output positions: Conv(W·s) + M.
  let shiftMap: Float32Array | null = null;
  if (input.pending) {
    biasValues ??= new Float32Array(co);
    if (top + bottom + left + right > 0) {
      shiftMap = shiftedBiasMap(onnxKernel, biasValues, input.pending.shift, { h, w, ci, co, kh, kw, strides, dilations, top, left, outHeight: info.outHeight, outWidth: info.outWidth });
      scaleInputs(onnxKernel, input.pending.scale, co, ci);
      biasValues = null;
    } else {
      foldIntoInputs(onnxKernel, biasValues, input.pending, co, ci);
    }
    graph.folded.push(input.pending.layer);
    source = { ...input, pending: undefined };
  }
  const x = graph.toLayout(source, 'nchw');
  const weight = graph.float(`${ctx.ref.name}/W`, [co, ci, kh, kw], onnxKernel);
  const bias = biasValues ? graph.float(`${ctx.ref.name}/B`, [co], biasValues) : null;
  const attrs = { kernel_shape: [kh, kw], strides, dilations, pads: [top, left, bottom, right], group: 1 };
  const conv = graph.node('Conv', bias ? [x.name, weight, bias] : [x.name, weight], attrs, ctx.ref.name);
  const shape: [number, number, number] = [info.outHeight, info.outWidth, co];
  if (shiftMap) {
    const map = graph.float(`${ctx.ref.name}/shift_map`, [1, co, info.outHeight, info.outWidth], shiftMap);
    return activation({ name: graph.op('Add', [conv.outputs[0]!, map], {}, `${ctx.ref.name}/shifted`), layout: 'nchw', shape }, config.activation, ctx);
  }
  const out: GraphValue = { name: conv.outputs[0]!, layout: 'nchw', shape };
  out.affine = { node: conv, weight, bias, channels: co };
  return activation(out, config.activation, ctx);
}

/**
 * The bias plus, at every output position, Σ W·t over the taps that fall inside the input
 * ([co, outHeight, outWidth]): what a per-input-channel shift t adds to a padded convolution,
 * whose padded taps read zeros that no shift touches.
 */
function shiftedBiasMap(
  weight: Float32Array,
  bias: Float32Array,
  shift: Float32Array,
  g: { h: number; w: number; ci: number; co: number; kh: number; kw: number; strides: [number, number]; dilations: [number, number]; top: number; left: number; outHeight: number; outWidth: number },
): Float32Array {
  // tap[o][ky][kx] = Σ_c W[o, c, ky, kx]·t[c]
  const tap = new Float64Array(g.co * g.kh * g.kw);
  for (let o = 0; o < g.co; o++) {
    for (let c = 0; c < g.ci; c++) {
      const t = shift[c]!;
      for (let k = 0; k < g.kh * g.kw; k++) tap[o * g.kh * g.kw + k]! += weight[(o * g.ci + c) * g.kh * g.kw + k]! * t;
    }
  }
  const map = new Float32Array(g.co * g.outHeight * g.outWidth);
  for (let o = 0; o < g.co; o++) {
    for (let oy = 0; oy < g.outHeight; oy++) {
      for (let ox = 0; ox < g.outWidth; ox++) {
        let sum = bias[o]!;
        for (let ky = 0; ky < g.kh; ky++) {
          const iy = oy * g.strides[0] - g.top + ky * g.dilations[0];
          if (iy < 0 || iy >= g.h) continue;
          for (let kx = 0; kx < g.kw; kx++) {
            const ix = ox * g.strides[1] - g.left + kx * g.dilations[1];
            if (ix >= 0 && ix < g.w) sum += tap[(o * g.kh + ky) * g.kw + kx]!;
          }
        }
        map[(o * g.outHeight + oy) * g.outWidth + ox] = sum;
      }
    }
  }
  return map;
}

function denseRule(input: GraphValue, ctx: RuleContext): GraphValue {
  const { graph, config } = ctx;
  if (input.shape.length !== 1) fail(ctx, `Dense on a rank-${input.shape.length + 1} input (only [N, features] is exported; add a Flatten before it)`);
  const kernel = weightOf(ctx, 'kernel');
  if (!kernel) fail(ctx, 'the layer has no kernel weight');
  const inputs = input.shape[0]!;
  const units = kernel.length / inputs;
  if (!Number.isInteger(units)) fail(ctx, `kernel of ${kernel.length} values does not fit ${inputs} inputs`);
  // Gemm with transB: weight [out, in], so the output channel is the leading axis, as for Conv.
  const transposed = new Float32Array(kernel.length);
  for (let i = 0; i < inputs; i++) for (let o = 0; o < units; o++) transposed[o * inputs + i] = kernel[i * units + o]!;
  let biasValues = config.useBias === false ? null : weightOf(ctx, 'bias');
  if (input.pending) {
    biasValues ??= new Float32Array(units);
    foldIntoInputs(transposed, biasValues, input.pending, units, inputs);
    graph.folded.push(input.pending.layer);
  }
  const weight = graph.float(`${ctx.ref.name}/W`, [units, inputs], transposed);
  const bias = biasValues ? graph.float(`${ctx.ref.name}/B`, [units], biasValues) : null;
  const gemm = graph.node('Gemm', bias ? [input.name, weight, bias] : [input.name, weight], { transB: 1 }, ctx.ref.name);
  const out: GraphValue = { name: gemm.outputs[0]!, layout: 'flat', shape: [units], affine: { node: gemm, weight, bias, channels: units } };
  return activation(out, config.activation, ctx);
}

function batchNormRule(input: GraphValue, ctx: RuleContext): GraphValue {
  const { graph, config } = ctx;
  const rank = input.shape.length + 1;
  const axis = typeof config.axis === 'number' ? config.axis : -1;
  if (axis !== -1 && axis !== rank - 1) fail(ctx, `normalises axis ${axis} (only the channel axis, -1, is exported)`);
  const channels = input.shape[input.shape.length - 1]!;
  const epsilon = typeof config.epsilon === 'number' ? config.epsilon : 1e-3;
  const ones = () => new Float32Array(channels).fill(1);
  const gamma = (config.scale === false ? null : weightOf(ctx, 'gamma')) ?? ones();
  const beta = (config.center === false ? null : weightOf(ctx, 'beta')) ?? new Float32Array(channels);
  const mean = weightOf(ctx, 'movingMean');
  const variance = weightOf(ctx, 'movingVariance');
  if (!mean || !variance) fail(ctx, 'the layer has no moving mean/variance');

  if (input.affine && input.affine.channels === channels) {
    // y = (Wx + b − μ)·γ/√(σ²+ε) + β = (a·W)x + (b − μ)·a + β, per output channel; in float64.
    const { node: producer, weight, channels: co } = input.affine;
    const w = graph.floatValues(weight);
    const per = w.length / co;
    let biasName = input.affine.bias;
    if (!biasName) {
      biasName = graph.float(`${producer.outputs[0]}/B`, [co], new Float32Array(co));
      producer.inputs.push(biasName);
    }
    const b = graph.floatValues(biasName);
    for (let o = 0; o < co; o++) {
      const a = gamma[o]! / Math.sqrt(variance[o]! + epsilon);
      for (let k = o * per; k < (o + 1) * per; k++) w[k] = w[k]! * a;
      b[o] = (b[o]! - mean[o]!) * a + beta[o]!;
    }
    graph.folded.push(ctx.ref.name);
    return { ...input, affine: { ...input.affine, bias: biasName } };
  }

  // Not after an affine layer (e.g. after a ReLU): defer it, so that the next layer can take it
  // into its weights (BN → Conv without padding, BN → Dense), else it is emitted there.
  const v = input.pending ? materialize(graph, input) : input;
  const scale = new Float32Array(channels);
  const shift = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    const a = gamma[c]! / Math.sqrt(variance[c]! + epsilon);
    scale[c] = a;
    shift[c] = beta[c]! - mean[c]! * a;
  }
  return { ...v, affine: undefined, pending: { layer: ctx.ref.name, scale, shift } };
}

/**
 * Emits a deferred batch norm: on NCHW as a depthwise 1×1 Conv (one op, which ONNX Runtime runs
 * in its blocked layout and the int8 export quantizes like any convolution), otherwise as a
 * per-channel (per-feature when flat) Mul + Add.
 */
export function materialize(graph: GraphBuilder, value: GraphValue): GraphValue {
  const pending = value.pending;
  if (!pending) return value;
  const n = pending.scale.length;
  if (value.layout === 'nchw') {
    const weight = graph.float(`${pending.layer}/W`, [n, 1, 1, 1], pending.scale);
    const bias = graph.float(`${pending.layer}/B`, [n], pending.shift);
    const name = graph.op('Conv', [value.name, weight, bias], { kernel_shape: [1, 1], group: n }, pending.layer);
    return { name, layout: value.layout, shape: value.shape };
  }
  const dims = [n];
  const scaled = graph.op('Mul', [value.name, graph.float(`${pending.layer}/scale`, dims, pending.scale)], {}, `${pending.layer}/mul`);
  const name = graph.op('Add', [scaled, graph.float(`${pending.layer}/shift`, dims, pending.shift)], {}, pending.layer);
  return { name, layout: value.layout, shape: value.shape };
}

/**
 * Folds a deferred per-input-channel affine map x·s + t into a Conv/Gemm weight laid out
 * [out, in, ...rest] (rest = kernel taps) and its bias: W' = W·s[in], b' = b + Σ W·t[in].
 */
function foldIntoInputs(weight: Float32Array, bias: Float32Array, pending: PendingNorm, outputs: number, inputs: number): void {
  const taps = weight.length / (outputs * inputs);
  for (let o = 0; o < outputs; o++) {
    let extra = 0;
    for (let i = 0; i < inputs; i++) {
      const t = pending.shift[i]!;
      const base = (o * inputs + i) * taps;
      for (let k = base; k < base + taps; k++) extra += weight[k]! * t;
    }
    bias[o] = bias[o]! + extra;
  }
  scaleInputs(weight, pending.scale, outputs, inputs);
}

/** W' = W·s[in] for a weight laid out [out, in, ...taps]. */
function scaleInputs(weight: Float32Array, scale: Float32Array, outputs: number, inputs: number): void {
  const taps = weight.length / (outputs * inputs);
  for (let o = 0; o < outputs; o++) {
    for (let i = 0; i < inputs; i++) {
      const s = scale[i]!;
      const base = (o * inputs + i) * taps;
      for (let k = base; k < base + taps; k++) weight[k] = weight[k]! * s;
    }
  }
}

function flattenRule(input: GraphValue, ctx: RuleContext): GraphValue {
  if (input.layout === 'flat') return input;
  // tfjs flattens NHWC row-major: bring the channels back last, so dense weights line up.
  const v = ctx.graph.toLayout(input, 'nhwc');
  const size = input.shape.reduce((a, b) => a * b, 1);
  const out: GraphValue = { name: ctx.graph.op('Flatten', [v.name], { axis: 1 }, ctx.ref.name), layout: 'flat', shape: [size] };
  if (input.pending) {
    // A deferred batch norm travels through: feature i of the NHWC flattening is channel i mod C.
    const c = input.shape[input.shape.length - 1]!;
    const scale = new Float32Array(size);
    const shift = new Float32Array(size);
    for (let i = 0; i < size; i++) {
      scale[i] = input.pending.scale[i % c]!;
      shift[i] = input.pending.shift[i % c]!;
    }
    out.pending = { layer: input.pending.layer, scale, shift };
  }
  return out;
}

function pool2dRule(op: 'MaxPool' | 'AveragePool'): ExportRule {
  return (input, ctx) => {
    requireChannelsLast(ctx);
    const { graph, config } = ctx;
    const [h, w, c] = require4d(input, ctx);
    const size = pair(config.poolSize ?? 2, ctx, 'poolSize');
    const strides = pair(config.strides ?? size, ctx, 'strides');
    const padding = config.padding ?? 'valid';
    if (padding !== 'valid' && padding !== 'same') fail(ctx, `padding "${String(padding)}" (exported: valid, same)`);
    const info = tf.backend_util.computePool2DInfo([1, h, w, c], size, strides, 1, padding);
    const { top, bottom, left, right } = info.padInfo;
    const x = graph.toLayout(input, 'nchw');
    const attrs: Record<string, AttrValue> = { kernel_shape: size, strides, pads: [top, left, bottom, right] };
    // tfjs averages over the pixels inside the image only, as count_include_pad = 0 does.
    if (op === 'AveragePool') attrs.count_include_pad = 0;
    return { name: graph.op(op, [x.name], attrs, ctx.ref.name), layout: 'nchw', shape: [info.outHeight, info.outWidth, c] };
  };
}

function zeroPadding2dRule(input: GraphValue, ctx: RuleContext): GraphValue {
  requireChannelsLast(ctx);
  const [h, w, c] = require4d(input, ctx);
  const padding = ctx.config.padding;
  let rows: [number, number];
  let cols: [number, number];
  if (typeof padding === 'number') {
    rows = [padding, padding];
    cols = [padding, padding];
  } else if (Array.isArray(padding) && padding.length === 2 && padding.every((p) => typeof p === 'number')) {
    rows = [padding[0], padding[0]];
    cols = [padding[1], padding[1]];
  } else if (Array.isArray(padding) && padding.length === 2 && padding.every((p) => Array.isArray(p) && p.length === 2)) {
    rows = padding[0] as [number, number];
    cols = padding[1] as [number, number];
  } else {
    return fail(ctx, `padding ${JSON.stringify(padding)}`);
  }
  const pads =
    input.layout === 'nchw' ? [0, 0, rows[0], cols[0], 0, 0, rows[1], cols[1]] : [0, rows[0], cols[0], 0, 0, rows[1], cols[1], 0];
  const name = ctx.graph.op('Pad', [input.name, ctx.graph.int64(`${ctx.ref.name}/pads`, pads)], {}, ctx.ref.name);
  return { name, layout: input.layout, shape: [h + rows[0] + rows[1], w + cols[0] + cols[1], c] };
}

function reluRule(input: GraphValue, ctx: RuleContext): GraphValue {
  const { graph, config } = ctx;
  const max = config.maxValue;
  if (max == null) return activation(input, 'relu', ctx);
  if (typeof max !== 'number') return fail(ctx, `maxValue ${JSON.stringify(max)}`);
  const lo = graph.float(`${ctx.ref.name}/min`, [], new Float32Array([0]));
  const hi = graph.float(`${ctx.ref.name}/max`, [], new Float32Array([max]));
  return { ...input, affine: undefined, name: graph.op('Clip', [input.name, lo, hi], {}, ctx.ref.name) };
}

function softmaxRule(input: GraphValue, ctx: RuleContext): GraphValue {
  const axis = ctx.config.axis ?? -1;
  const rank = input.shape.length + 1;
  if (axis !== -1 && axis !== rank - 1) fail(ctx, `softmax over axis ${String(axis)} (only the last axis is exported)`);
  return activation(input, 'softmax', ctx);
}

const identityRule: ExportRule = (input) => input;

/**
 * className → rule. Dropout and its relatives are the identity at inference. Add a class here
 * (with a parity case in test/onnx/export.test.ts) to make it exportable.
 */
export const EXPORT_RULES: Readonly<Record<string, ExportRule>> = {
  Conv2D: conv2dRule,
  Dense: denseRule,
  BatchNormalization: batchNormRule,
  Flatten: flattenRule,
  MaxPooling2D: pool2dRule('MaxPool'),
  AveragePooling2D: pool2dRule('AveragePool'),
  ZeroPadding2D: zeroPadding2dRule,
  ReLU: reluRule,
  Softmax: softmaxRule,
  Activation: (input, ctx) => activation(input, ctx.config.activation, ctx),
  Dropout: identityRule,
  SpatialDropout1D: identityRule,
  GaussianNoise: identityRule,
  GaussianDropout: identityRule,
  AlphaDropout: identityRule,
};

/** Rules that accept a deferred batch norm on their input (fold it, carry it, or defer their own). */
export const TAKES_PENDING_NORM = new Set(['Conv2D', 'Dense', 'Flatten', 'BatchNormalization', 'Dropout', 'SpatialDropout1D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout']);

