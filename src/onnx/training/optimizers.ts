/**
 * The optimizer updates inside the step graph, with tfjs's own formulas (tfjs-core
 * optimizers/*_optimizer.ts) so a step equals `trainOnBatch`'s: Adam, RMSprop (momentum 0),
 * SGD with momentum. Each parameter has `states` state tensors (graph inputs and outputs);
 * scalars that change per step (Adam's β1ᵗ, β2ᵗ) are kept by the runtime and fed as inputs.
 */
import type { OnnxGraph } from '../../engine/onnx-graph.js';
import type { TrainerOptimizerKind } from './rule.js';

export interface UpdateNames {
  /** the parameter, its gradient, the learning rate (scalar input) */
  value: string;
  grad: string;
  lr: string;
  /** its state tensors and the names their new values get */
  states: string[];
  newStates: string[];
  /** the name the new value gets */
  newValue: string;
}

export interface OptimizerRule {
  /** state tensors per parameter */
  readonly states: number;
  /** per-step scalars: their graph input names, first values and how they advance after a step */
  readonly scalars: readonly string[];
  initialScalars(): number[];
  nextScalars(current: number[]): number[];
  /** the feed of each scalar input */
  scalarFeeds(current: number[]): number[];
  /** emits the new value and new states of one parameter */
  update(g: OnnxGraph, n: UpdateNames, options: { momentum: number }): void;
}

const adam: OptimizerRule = {
  states: 2,
  scalars: ['one_minus_acc_beta1', 'one_minus_acc_beta2'],
  // tfjs keeps accBeta1 = β1ᵗ, accBeta2 = β2ᵗ as float32 variables, starting at β1 and β2.
  initialScalars: () => [Math.fround(0.9), Math.fround(0.999)],
  nextScalars: ([b1, b2]) => [Math.fround(b1! * 0.9), Math.fround(b2! * 0.999)],
  scalarFeeds: ([b1, b2]) => [1 - b1!, 1 - b2!],
  update(g, n) {
    const [b1, b2, eps] = [0.9, 0.999, 1e-7];
    const m = g.named(n.newStates[0]!, 'Add', [g.mul(n.states[0]!, g.scalar(b1)), g.mul(n.grad, g.scalar(1 - b1))]);
    const v = g.named(n.newStates[1]!, 'Add', [g.mul(n.states[1]!, g.scalar(b2)), g.mul(g.mul(n.grad, n.grad), g.scalar(1 - b2))]);
    const mHat = g.div(m, 'one_minus_acc_beta1');
    const vHat = g.div(v, 'one_minus_acc_beta2');
    const step = g.mul(g.div(mHat, g.add(g.op('Sqrt', [vHat]), g.scalar(eps))), g.op('Neg', [n.lr]));
    g.named(n.newValue, 'Add', [step, n.value]);
  },
};

const rmsprop: OptimizerRule = {
  states: 1,
  scalars: [],
  initialScalars: () => [],
  nextScalars: () => [],
  scalarFeeds: () => [],
  update(g, n) {
    // tf.train.rmsprop(lr, 0.9, 0, 1e-7): momentum 0, so the moment is just this step's update
    const [decay, eps] = [0.9, 1e-7];
    const ms = g.named(n.newStates[0]!, 'Add', [g.mul(n.states[0]!, g.scalar(decay)), g.mul(g.mul(n.grad, n.grad), g.scalar(1 - decay))]);
    const step = g.div(g.mul(n.grad, n.lr), g.op('Sqrt', [g.add(ms, g.scalar(eps))]));
    g.named(n.newValue, 'Sub', [n.value, step]);
  },
};

const sgdMomentum: OptimizerRule = {
  states: 1,
  scalars: [],
  initialScalars: () => [],
  nextScalars: () => [],
  scalarFeeds: () => [],
  update(g, n, { momentum }) {
    // tf.train.momentum(lr, momentum): accumulation = momentum·accumulation + g; value −= lr·accumulation
    const acc = g.named(n.newStates[0]!, 'Add', [g.mul(n.states[0]!, g.scalar(momentum)), n.grad]);
    g.named(n.newValue, 'Add', [g.mul(g.op('Neg', [n.lr]), acc), n.value]);
  },
};

export const OPTIMIZERS: Readonly<Record<TrainerOptimizerKind, OptimizerRule>> = { adam, rmsprop, sgd: sgdMomentum };

/** Optimizer state tensors per parameter. */
export function stateCount(kind: TrainerOptimizerKind): number {
  return OPTIMIZERS[kind].states;
}
