/** Flatten in tfjs's NHWC order (h, w, c), so the Dense weights after it line up. */
import type { LayerRule } from '../rule.js';

/** the per-example NCHW input [C, H, W]; null when it is flat already */
type FlattenPlan = { c: number; h: number; w: number } | null;

export const flattenRule: LayerRule<FlattenPlan, null> = {
  classes: ['Flatten'],
  plan({ shape }) {
    if (shape.length !== 3) return { plan: null, shape };
    const [c, h, w] = shape as [number, number, number];
    return { plan: { c, h, w }, shape: [c * h * w] };
  },
  forward(g, L, x, ctx) {
    if (!L) return { y: x, saved: null };
    const { c, h, w } = L;
    const B = ctx.batch;
    return { y: h * w === 1 ? g.reshape(x, [B, c]) : g.reshape(g.transpose(x, [0, 2, 3, 1]), [B, h * w * c]), saved: null };
  },
  backward(g, L, _saved, dy, ctx) {
    if (!L) return dy;
    const { c, h, w } = L;
    const B = ctx.batch;
    return h * w === 1 ? g.reshape(dy, [B, c, 1, 1]) : g.transpose(g.reshape(dy, [B, h, w, c]), [0, 3, 1, 2]);
  },
};
