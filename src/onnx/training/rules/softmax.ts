/** Softmax over the features, as the last layer: the loss's gradient (graph.ts) is already taken at its input. */
import type { LayerRule } from '../rule.js';

export const softmaxRule: LayerRule<null, null> = {
  classes: ['Softmax'],
  plan({ shape, last }) {
    if (!last) return { fail: 'softmax before the last layer' };
    if (shape.length !== 1) return { fail: 'softmax over a rank-4 tensor' };
    return { plan: null, shape };
  },
  forward: (g, _L, x) => ({ y: g.op('Softmax', [x], { axis: -1 }), saved: null }),
  backward: (_g, _L, _saved, dy) => dy,
  endsInSoftmax: () => true,
};
