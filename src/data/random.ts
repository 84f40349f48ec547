/**
 * A small seeded PRNG, so practice competitions, splits and sample grids are the same on
 * every machine for the same seed. mulberry32 (Tommy Ettinger's public-domain 32-bit
 * generator): one uint32 of state, period 2^32, passes gjrand/PractRand at the sizes we draw.
 * Not for cryptography.
 */

export interface Random {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [0, n). */
  int(n: number): number;
  /** A float in [min, max). */
  uniform(min: number, max: number): number;
  /** A standard normal draw (Box–Muller; the spare value is kept for the next call). */
  normal(): number;
}

/** mulberry32 over a 32-bit seed. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Mixes a seed with labels (strings or integers) into one 32-bit seed, so independent
 * streams (`train` noise of row 17, `test` selection, …) never share a sequence.
 * FNV-1a over the parts, then a murmur3 finaliser.
 */
export function deriveSeed(seed: number, ...parts: Array<string | number>): number {
  let h = 0x811c9dc5 ^ (seed >>> 0);
  h = Math.imul(h, 0x01000193);
  for (const part of parts) {
    const text = `/${part}`;
    for (let i = 0; i < text.length; i++) {
      h ^= text.charCodeAt(i);
      h = Math.imul(h, 0x01000193);
    }
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export function createRandom(seed: number): Random {
  const next = mulberry32(seed);
  let spare: number | undefined;
  return {
    next,
    int: (n) => Math.floor(next() * n),
    uniform: (min, max) => min + (max - min) * next(),
    normal: () => {
      if (spare !== undefined) {
        const value = spare;
        spare = undefined;
        return value;
      }
      let u = 0;
      while (u === 0) u = next();
      const v = next();
      const radius = Math.sqrt(-2 * Math.log(u));
      spare = radius * Math.sin(2 * Math.PI * v);
      return radius * Math.cos(2 * Math.PI * v);
    },
  };
}

/**
 * A Poisson draw: Knuth's product of uniforms, exact, for means up to 100; above that a
 * normal draw with the same mean and variance, rounded to a count (Knuth's loop would take
 * `mean` steps, and e^−mean underflows past 745).
 */
export function poisson(mean: number, random: Random): number {
  if (mean <= 0) return 0;
  if (mean > 100) return Math.max(0, Math.round(mean + Math.sqrt(mean) * random.normal()));
  const limit = Math.exp(-mean);
  let k = 0;
  let product = random.next();
  while (product > limit) {
    k++;
    product *= random.next();
  }
  return k;
}

/** Fisher–Yates shuffle in place. */
export function shuffleInPlace<T extends { length: number; [i: number]: unknown }>(items: T, random: Random): T {
  for (let i = items.length - 1; i > 0; i--) {
    const j = random.int(i + 1);
    const tmp = items[i];
    items[i] = items[j];
    items[j] = tmp;
  }
  return items;
}

/** 0..n-1 in a seeded random order. */
export function permutation(n: number, random: Random): Uint32Array {
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  return shuffleInPlace(order, random);
}
