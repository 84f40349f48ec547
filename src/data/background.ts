/**
 * What a competition's background looks like, from its training pixels alone: MNIST digits
 * are centred in a 20×20 box, so the outer frame of every image is background. On clean
 * digits it is black (0); on noisy competitions (uniform background noise, Gaussian noise,
 * shot noise, fog…) it is not. `auto` uses this to choose augmentation that keeps the
 * noise statistics (whole-pixel shifts filled from the background) over interpolating
 * transforms with black fill.
 */
import type { ImageSet } from './image-set.js';

export interface BackgroundProfile {
  /** images looked at */
  images: number;
  /** mean of the frame pixels, in [0, 1] */
  mean: number;
  /** standard deviation of the frame pixels */
  sd: number;
  /** share of frame pixels above 0.1 */
  litShare: number;
  /** true when the background is not (nearly) black */
  noisy: boolean;
  reason: string;
}

/** Outer frame width looked at (MNIST digits leave 4 pixels blank on every side). */
export const PROFILE_FRAME = 3;

/**
 * Profiles the outer frame of up to `limit` images spread over the set. Noisy means a
 * frame mean above 0.03 or more than 5% of frame pixels above 0.1 (clean MNIST: mean ≈
 * 0.001, under 0.5% lit; uniform noise: mean ≈ 0.5).
 */
export function profileBackground(data: ImageSet, limit = 2000): BackgroundProfile {
  const size = data.size;
  const px = size * size;
  const scale = 1 / data.scale;
  const count = Math.min(limit, data.count);
  const step = data.count / Math.max(1, count);
  let n = 0;
  let sum = 0;
  let sumSq = 0;
  let lit = 0;
  for (let i = 0; i < count; i++) {
    const base = Math.floor(i * step) * px;
    for (let y = 0; y < size; y++) {
      const edgeRow = y < PROFILE_FRAME || y >= size - PROFILE_FRAME;
      for (let x = 0; x < size; x++) {
        if (!edgeRow && x >= PROFILE_FRAME && x < size - PROFILE_FRAME) continue;
        const v = data.images[base + y * size + x]! * scale;
        sum += v;
        sumSq += v * v;
        if (v > 0.1) lit++;
        n++;
      }
    }
  }
  const mean = n ? sum / n : 0;
  const sd = n ? Math.sqrt(Math.max(0, sumSq / n - mean * mean)) : 0;
  const litShare = n ? lit / n : 0;
  const noisy = mean > 0.03 || litShare > 0.05;
  const figures = `frame mean ${mean.toFixed(3)}, sd ${sd.toFixed(3)}, ${(litShare * 100).toFixed(1)}% of frame pixels above 0.1, over ${count} images`;
  return {
    images: count,
    mean,
    sd,
    litShare,
    noisy,
    reason: noisy ? `noisy background (${figures})` : `clean background (${figures})`,
  };
}
