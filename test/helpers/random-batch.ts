import { mulberry32 } from '../../src/data/random.js';

/** A seeded batch of b random 28×28 images in [0, 1) and one-hot labels, as the ORT trainer takes them. */
export function randomBatch(b: number, seed: number): { x: Float32Array; y: Float32Array } {
  const next = mulberry32(seed);
  const x = Float32Array.from({ length: b * 784 }, () => next());
  const y = new Float32Array(b * 10);
  for (let i = 0; i < b; i++) y[i * 10 + Math.floor(next() * 10)] = 1;
  return { x, y };
}
