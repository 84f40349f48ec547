/**
 * A plasma fractal by the diamond-square algorithm (Fournier, Fussell & Carpenter 1982), on a
 * torus like the heightmap MNIST-C's fog uses: a square of side `size` (a power of two), one
 * corner fixed at 0; each pass sets the square centres to the mean of their 4 corners plus
 * noise, then the edge midpoints ("diamonds") to the mean of their 4 neighbours plus noise;
 * the noise amplitude is divided by `decay`² per pass (MNIST-C draws wibble · U(−wibble,
 * wibble) and divides wibble by `decay`). Scaled to [0, 1] at the end.
 */
import type { Random } from '../random.js';

export function plasmaFractal(size: number, decay: number, random: Random): Float64Array {
  if (size < 2 || (size & (size - 1)) !== 0) throw new Error(`plasma fractal size must be a power of two, not ${size}`);
  const map = new Float64Array(size * size);
  const shift = Math.log2(size);
  const mask = size - 1; // size is a power of two: wrapping around the torus is a bit mask
  const at = (r: number, c: number) => map[((r & mask) << shift) | (c & mask)];
  let wibble = 100;
  const noisy = (sum: number) => sum / 4 + wibble * random.uniform(-wibble, wibble);
  for (let step = size; step >= 2; step /= 2) {
    const half = step / 2;
    // squares: centres from the four corners
    for (let r = 0; r < size; r += step) {
      for (let c = 0; c < size; c += step) {
        map[(r + half) * size + c + half] = noisy(at(r, c) + at(r + step, c) + at(r, c + step) + at(r + step, c + step));
      }
    }
    // diamonds: top edge midpoints (left/right corners, centres above and below), then left edge midpoints
    for (let r = 0; r < size; r += step) {
      for (let c = 0; c < size; c += step) {
        map[r * size + c + half] = noisy(at(r, c) + at(r, c + step) + at(r + half, c + half) + at(r - half, c + half));
      }
    }
    for (let r = 0; r < size; r += step) {
      for (let c = 0; c < size; c += step) {
        map[(r + half) * size + c] = noisy(at(r, c) + at(r + step, c) + at(r + half, c + half) + at(r + half, c - half));
      }
    }
    wibble /= decay;
  }
  let min = Infinity;
  let max = -Infinity;
  for (const v of map) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  for (let i = 0; i < map.length; i++) map[i] = (map[i] - min) / (max - min);
  return map;
}
