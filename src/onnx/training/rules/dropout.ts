/**
 * Dropout: the keep-masks, already scaled by 1/(1−rate), are graph inputs (drawn in JS from a
 * seeded generator by the runtime, or given by the caller).
 */
import { maskName, type LayerRule } from '../rule.js';

export const dropoutRule: LayerRule<{ mask: number }, null> = {
  classes: ['Dropout'],
  plan({ config, shape, mask }) {
    if (config.noiseShape != null) return { fail: 'noiseShape' };
    const rate = config.rate ?? 0;
    // tfjs-layers skips Dropout when the rate is outside (0, 1).
    return rate > 0 && rate < 1 ? { plan: { mask: mask(rate) }, shape } : null;
  },
  forward: (g, L, x) => ({ y: g.mul(x, maskName(L.mask)), saved: null }),
  backward: (g, L, _saved, dy) => g.mul(dy, maskName(L.mask)),
};
