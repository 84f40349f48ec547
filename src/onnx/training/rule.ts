/**
 * What a training rule is: for one tfjs layer class, how to read the layer (`plan`), the
 * forward nodes, and the backward nodes, which get back exactly the values their forward
 * saved (`S`, typed per rule). The graph of a step (graph.ts) chains the rules; the rules
 * live in rules/, one file per layer class.
 */
import * as tf from '../../engine/tf.js';
import type { OnnxGraph } from '../../engine/onnx-graph.js';

export type TrainerOptimizerKind = 'adam' | 'rmsprop' | 'sgd';
export type FilterGradient = 'auto' | 'conv' | 'im2col' | 'taps';

/* ---------- names of the step graph's inputs and outputs ---------- */

/** parameter i (graph layout) */
export const paramName = (i: number) => `p${i}`;
/** optimizer state k of parameter i */
export const stateName = (i: number, k: number) => `s${i}_${k}`;
/** moving statistic i */
export const statName = (i: number) => `m${i}`;
/** dropout mask i */
export const maskName = (i: number) => `mask${i}`;
/** the updated value of an input, as a graph output */
export const newName = (name: string) => `${name}_new`;

/* ---------- what a plan holds besides the layers ---------- */

export interface ParamSlot {
  variable: tf.LayerVariable;
  /** shape in the graph */
  shape: number[];
  /** tfjs layout → graph layout (null: same) */
  perm: number[] | null;
}

export interface MaskSlot {
  /** per-example shape in the graph's layout (NCHW without batch, or [F]) */
  shape: number[];
  rate: number;
}

/** The subset of tfjs layer configs the rules read. */
export interface LayerConfig {
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

/** What `plan` sees of one layer and of the plan so far. */
export interface PlanContext {
  layer: tf.Layer;
  config: LayerConfig;
  /** the layer's per-example input: [C,H,W] (NCHW) or [F] */
  shape: number[];
  /** is it the last layer of the model */
  last: boolean;
  /** registers a trainable weight of the layer (field of the tfjs layer) and returns its index */
  param(field: string, shape: number[], perm?: number[]): number;
  /** registers a non-trainable statistic (BN moving mean/variance) and returns its index */
  stat(field: string, shape: number[]): number;
  /** registers a dropout mask of the layer's input shape and returns its index */
  mask(rate: number): number;
}

/** A rule's plan of a layer (`P`) with the per-example shape it outputs; or why not; or null: the layer is an identity in training. */
export type Planned<P> = { plan: P; shape: number[] } | { fail: string } | null;

export interface GraphContext {
  /** the batch size the graph is built for */
  batch: number;
  filterGradient: FilterGradient;
  /** NCHWc block size of the forward convolutions (0: plain ONNX Conv) */
  nchwcBlock: number;
}

export interface ForwardContext extends GraphContext {
  /** adds a term to the loss (L2 regularisers) */
  addLoss(term: string): void;
}

export interface BackwardContext extends GraphContext {
  /** false for the first layer: nobody needs the gradient of its input */
  needInput: boolean;
  /** the gradient of parameter `index` */
  setGradient(index: number, gradient: string): void;
}

export interface LayerRule<P, S> {
  /** the tfjs class names the rule reads */
  readonly classes: readonly string[];
  plan(ctx: PlanContext): Planned<P>;
  /** forward nodes: the output and what the backward needs */
  forward(g: OnnxGraph, L: P, x: string, ctx: ForwardContext): { y: string; saved: S };
  /** backward nodes: the input gradient (or `dy` unchanged when `needInput` is false and nothing else is needed) */
  backward(g: OnnxGraph, L: P, saved: S, dy: string, ctx: BackwardContext): string;
  /** does the layer end in a softmax (the step's loss is softmax cross-entropy) */
  endsInSoftmax?(L: P): boolean;
}

/** A planned layer: its rule bound to its plan; the saved state keeps its type from forward to backward. */
export interface PlannedLayer {
  readonly layer: string;
  readonly className: string;
  readonly endsInSoftmax: boolean;
  forward(g: OnnxGraph, x: string, ctx: ForwardContext): { y: string; backward: (dy: string, ctx: BackwardContext) => string };
}

/** A rule with its types closed over: what the plan walks (rules/index.ts). */
export interface BoundRule {
  readonly classes: readonly string[];
  plan(ctx: PlanContext): { layer: PlannedLayer; shape: number[] } | { fail: string } | null;
}

export function bindRule<P, S>(rule: LayerRule<P, S>): BoundRule {
  return {
    classes: rule.classes,
    plan(ctx) {
      const planned = rule.plan(ctx);
      if (!planned || 'fail' in planned) return planned;
      const { plan } = planned;
      const layer: PlannedLayer = {
        layer: ctx.layer.name,
        className: ctx.layer.getClassName(),
        endsInSoftmax: rule.endsInSoftmax?.(plan) ?? false,
        forward(g, x, fctx) {
          const { y, saved } = rule.forward(g, plan, x, fctx);
          return { y, backward: (dy, bctx) => rule.backward(g, plan, saved, dy, bctx) };
        },
      };
      return { layer, shape: planned.shape };
    },
  };
}

/* ---------- small helpers the rules share ---------- */

export const pair = (v: number | number[] | undefined, fallback: number): [number, number] =>
  v === undefined ? [fallback, fallback] : Array.isArray(v) ? [v[0]!, v[1] ?? v[0]!] : [v, v];

/** The L2 factor of the kernel regulariser (0 when none), or why it is not supported. */
export function l2Of(config: LayerConfig): number | { fail: string } {
  const reg = config.kernelRegularizer;
  if (!reg) return 0;
  if (reg.className !== 'L1L2' || (reg.config?.l1 ?? 0) !== 0) return { fail: `kernel regulariser ${reg.className} with L1` };
  return reg.config?.l2 ?? 0;
}

/** The loss term l2·Σw² of a kernel, and its gradient term 2·l2·w added to `gradient`. */
export const l2Loss = (g: OnnxGraph, kernel: number, l2: number) => g.mul(g.op('ReduceSumSquare', [paramName(kernel)], { keepdims: 0 }), g.scalar(l2));
export const withL2 = (g: OnnxGraph, gradient: string, kernel: number, l2: number) => (l2 ? g.add(gradient, g.mul(paramName(kernel), g.scalar(2 * l2))) : gradient);

/** dy where y > 0, else 0 (the gradient of ReLU taken at its output) */
export const reluGrad = (g: OnnxGraph, y: string, dy: string) => g.op('Where', [g.op('Greater', [y, g.scalar(0)]), dy, g.scalar(0)]);
