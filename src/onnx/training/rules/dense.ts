/**
 * Dense (relu/softmax/linear, bias or not, L2 on the kernel) on a flat input. A softmax
 * activation is allowed on the last layer only: the loss's gradient (graph.ts) is already taken
 * at the softmax's input.
 */
import { l2Loss, l2Of, paramName, reluGrad, withL2, type LayerRule } from '../rule.js';

export interface DensePlan {
  units: number;
  inputs: number;
  activation: 'relu' | 'linear' | 'softmax';
  bias: boolean;
  l2: number;
  /** parameter indices */
  kernel: number;
  biasParam: number;
}

export const denseRule: LayerRule<DensePlan, { x: string; y: string }> = {
  classes: ['Dense'],

  plan({ config, shape, last, param }) {
    if (shape.length !== 1) return { fail: 'Dense on a rank-4 tensor (add a Flatten before it)' };
    const activation = config.activation ?? 'linear';
    if (activation !== 'relu' && activation !== 'linear' && activation !== 'softmax') return { fail: `activation ${activation}` };
    if (activation === 'softmax' && !last) return { fail: 'softmax before the last layer' };
    const l2 = l2Of(config);
    if (typeof l2 !== 'number') return l2;
    const units = config.units!;
    const inputs = shape[0]!;
    const kernel = param('kernel', [inputs, units]);
    const bias = config.useBias !== false;
    const biasParam = bias ? param('bias', [units]) : -1;
    return { plan: { units, inputs, activation, bias, l2, kernel, biasParam }, shape: [units] };
  },

  forward(g, L, x, ctx) {
    let y = g.op('Gemm', [x, paramName(L.kernel), ...(L.bias ? [paramName(L.biasParam)] : [])]);
    if (L.activation === 'relu') y = g.op('Relu', [y]);
    else if (L.activation === 'softmax') y = g.op('Softmax', [y], { axis: -1 });
    if (L.l2) ctx.addLoss(l2Loss(g, L.kernel, L.l2));
    return { y, saved: { x, y } };
  },

  backward(g, L, { x, y }, dy, ctx) {
    let d = dy;
    if (L.activation === 'relu') d = reluGrad(g, y, d);
    ctx.setGradient(L.kernel, withL2(g, g.op('Gemm', [x, d], { transA: 1 }), L.kernel, L.l2));
    if (L.bias) ctx.setGradient(L.biasParam, g.reduceSum(d, [0], 0));
    return ctx.needInput ? g.op('Gemm', [d, paramName(L.kernel)], { transB: 1 }) : d;
  },

  endsInSoftmax: (L) => L.activation === 'softmax',
};
