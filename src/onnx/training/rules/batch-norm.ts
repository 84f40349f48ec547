/**
 * BatchNormalization (ours or stock) over the channel axis, center and scale on, in training
 * form: batch statistics, moving statistics updated as tfjs-layers does.
 */
import { newName, paramName, statName, type LayerRule } from '../rule.js';

export interface BatchNormPlan {
  c: number;
  /** [H, W] of an NCHW input; null for a flat [F] input */
  spatial: [number, number] | null;
  momentum: number;
  epsilon: number;
  /** parameter indices */
  gamma: number;
  beta: number;
  /** moving-statistic indices */
  mean: number;
  variance: number;
}

interface BatchNormSaved {
  /** x − batch mean */
  xc: string;
  /** 1/√(batch variance + ε) */
  rstd: string;
  /** γ·rstd */
  a: string;
}

const axesOf = (L: BatchNormPlan) => (L.spatial ? [0, 2, 3] : [0]);
const countOf = (L: BatchNormPlan, batch: number) => batch * (L.spatial ? L.spatial[0] * L.spatial[1] : 1);

export const batchNormRule: LayerRule<BatchNormPlan, BatchNormSaved> = {
  classes: ['BatchNormalization'],

  plan({ config, shape, param, stat }) {
    const axis = Array.isArray(config.axis) ? config.axis : [config.axis ?? -1];
    const rank = shape.length + 1;
    if (axis.length !== 1 || (axis[0]! !== -1 && axis[0]! !== rank - 1)) return { fail: `axis ${String(config.axis)} (only the channel axis is supported)` };
    if (config.center === false || config.scale === false) return { fail: 'center or scale off' };
    const c = shape[0]!;
    const plan: BatchNormPlan = {
      c,
      spatial: shape.length === 3 ? [shape[1]!, shape[2]!] : null,
      momentum: config.momentum ?? 0.99,
      epsilon: config.epsilon ?? 1e-3,
      gamma: param('gamma', [c]),
      beta: param('beta', [c]),
      mean: stat('movingMean', [c]),
      variance: stat('movingVariance', [c]),
    };
    return { plan, shape };
  },

  forward(g, L, x, ctx) {
    const axes = axesOf(L);
    const bc = (p: string) => (L.spatial ? g.reshape(p, [L.c, 1, 1]) : p);
    const mean = g.reduceMean(x, axes, 1);
    const xc = g.sub(x, mean);
    const variance = g.mul(g.op('ReduceSumSquare', [xc, g.ints(axes)], { keepdims: 1 }), g.scalar(1 / countOf(L, ctx.batch)));
    const rstd = g.op('Reciprocal', [g.op('Sqrt', [g.add(variance, g.scalar(L.epsilon))])]);
    const a = g.mul(bc(paramName(L.gamma)), rstd);
    // The affine map in one pass: ONNX BatchNormalization (inference form) with the batch statistics.
    const y = g.op('BatchNormalization', [x, paramName(L.gamma), paramName(L.beta), g.reshape(mean, [L.c]), g.reshape(variance, [L.c])], { epsilon: { float: L.epsilon } });
    // moving = moving − (moving − batch)·(1 − momentum), as BatchNormalization.call does
    const decay = g.scalar(1 - L.momentum);
    for (const [stat, batchValue] of [[L.mean, mean], [L.variance, variance]] as const) {
      const flat = g.reshape(batchValue, [L.c]);
      g.named(newName(statName(stat)), 'Sub', [statName(stat), g.mul(g.sub(statName(stat), flat), decay)]);
      g.output(newName(statName(stat)), [L.c]);
    }
    return { y, saved: { xc, rstd, a } };
  },

  backward(g, L, { xc, rstd, a }, dy, ctx) {
    const axes = axesOf(L);
    const n = countOf(L, ctx.batch);
    const sumDy = g.reduceSum(dy, axes, 1);
    const sumDyXc = g.reduceSum(g.mul(dy, xc), axes, 1);
    ctx.setGradient(L.beta, g.reshape(sumDy, [L.c]));
    ctx.setGradient(L.gamma, g.reshape(g.mul(sumDyXc, rstd), [L.c]));
    if (!ctx.needInput) return dy;
    // dx = a·dy − a·Σdy/N − xc·a·r²·Σ(dy·xc)/N
    const k2 = g.mul(g.mul(a, g.mul(rstd, rstd)), g.mul(sumDyXc, g.scalar(-1 / n)));
    const k3 = g.mul(a, g.mul(sumDy, g.scalar(-1 / n)));
    // xc·k2 + k3 in one pass: BatchNormalization with mean 0 and variance 1 − ε (so √(var+ε) = 1)
    const affine = g.op('BatchNormalization', [xc, g.reshape(k2, [L.c]), g.reshape(k3, [L.c]), g.zeros(L.c), g.constant(new Float32Array(L.c).fill(1 - L.epsilon), [L.c])], {
      epsilon: { float: L.epsilon },
    });
    return g.add(g.mul(dy, a), affine);
  },
};
