/**
 * The graph of one whole training step of a plan, for a fixed batch size: the forward pass
 * (NCHW, one transpose at the input) through each layer's rule, the softmax cross-entropy loss
 * and accuracy, the backward pass through the same rules in reverse (each gets back what its
 * forward saved), and the optimizer update of every parameter.
 *
 * Inputs: x [B,H,W,C], t [B,classes], every parameter, its optimizer states and the moving
 * statistics, the dropout masks, lr and the optimizer's per-step scalars. Outputs: loss, acc and
 * the new value of every parameter, state and statistic (`newName`).
 */
import { OnnxGraph } from '../../engine/onnx-graph.js';
import { NCHWC } from './layout.js';
import { OPTIMIZERS } from './optimizers.js';
import type { TrainingPlan } from './plan.js';
import { maskName, newName, paramName, statName, stateName, type BackwardContext, type FilterGradient, type GraphContext, type TrainerOptimizerKind } from './rule.js';

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
  const g = new OnnxGraph();
  const B = options.batch;
  const [H, W, C] = plan.input;
  const optimizer = OPTIMIZERS[options.optimizer];
  const x = g.input('x', [B, H, W, C]);
  const t = g.input('t', [B, options.classes]);
  plan.params.forEach((p, i) => {
    g.input(paramName(i), p.shape);
    for (let k = 0; k < optimizer.states; k++) g.input(stateName(i, k), p.shape);
  });
  plan.stats.forEach((s, i) => g.input(statName(i), s.shape));
  plan.masks.forEach((m, i) => g.input(maskName(i), [B, ...m.shape]));
  const lr = g.input('lr', []);
  for (const name of optimizer.scalars) g.input(name, []);
  const base: GraphContext = { batch: B, filterGradient: options.filterGradient, nchwcBlock: options.nchwcBlock ?? 0 };

  /* forward */
  let cur = C === 1 ? g.reshape(x, [B, 1, H, W]) : g.transpose(x, [0, 3, 1, 2]);
  let regLoss = null as string | null;
  const addLoss = (term: string) => (regLoss = regLoss ? g.add(regLoss, term) : term);
  const backwards: Array<(dy: string, ctx: BackwardContext) => string> = [];
  for (const layer of plan.layers) {
    const { y, backward } = layer.forward(g, cur, { ...base, addLoss });
    backwards.push(backward);
    cur = y;
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

  // d loss / d p, with clip's gradient (zero outside [lo, hi]), then through the softmax: the
  // gradient at the softmax's input, where the last layer's backward starts.
  const inside = g.op('And', [g.op('GreaterOrEqual', [p, lo]), g.op('LessOrEqual', [p, hi])]);
  const dp = g.op('Where', [inside, g.mul(g.div(t, pc), g.scalar(-1 / B)), g.scalar(0)]);
  let d = g.mul(p, g.sub(dp, g.reduceSum(g.mul(dp, p), [1], 1)));

  /* backward */
  const grads = new Map<number, string>();
  const setGradient = (index: number, gradient: string) => grads.set(index, gradient);
  for (let li = backwards.length - 1; li >= 0; li--) d = backwards[li]!(d, { ...base, needInput: li > 0, setGradient });

  /* optimizer */
  plan.params.forEach((param, i) => {
    const grad = grads.get(i);
    if (!grad) throw new Error(`no gradient for parameter ${i}`);
    const states = Array.from({ length: optimizer.states }, (_, k) => stateName(i, k));
    const update = { value: paramName(i), grad, lr, states, newStates: states.map(newName), newValue: newName(paramName(i)) };
    optimizer.update(g, update, { momentum: options.momentum });
    g.output(update.newValue, param.shape);
    for (const s of update.newStates) g.output(s, param.shape);
  });

  return g.encode({ name: 'digits_training_step', opset: 18, domains: options.nchwcBlock ? [{ domain: NCHWC, version: 1 }] : [] });
}
