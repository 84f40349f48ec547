/** ReLU (without maxValue): the gradient is taken at its output. */
import { reluGrad, type LayerRule } from '../rule.js';

export const reluRule: LayerRule<null, { y: string }> = {
  classes: ['ReLU'],
  plan: ({ config, shape }) => (config.maxValue != null ? { fail: 'maxValue' } : { plan: null, shape }),
  forward(g, _L, x) {
    const y = g.op('Relu', [x]);
    return { y, saved: { y } };
  },
  backward: (g, _L, { y }, dy) => reluGrad(g, y, dy),
};
