/**
 * The Canny edge detector (Canny 1986), as MNIST-C calls it through `skimage.feature.canny`
 * with its defaults: σ = 1, low threshold 0.1, high threshold 0.2 (on images in [0, 1]).
 *
 *  1. Gaussian smoothing with zeros outside the image, divided by the smoothed all-ones
 *     mask so the border is not darkened ("bleed-over" compensation);
 *  2. Sobel gradients (unnormalised 3×3 kernels, mirrored border), magnitude √(gx² + gy²);
 *  3. non-maximum suppression: a pixel stays when its magnitude is at least that of both
 *     neighbours along the gradient, each interpolated between the two pixels the gradient
 *     passes between; the one-pixel frame is never an edge;
 *  4. hysteresis: pixels at or above the low threshold that are connected (8-neighbourhood)
 *     to a pixel at or above the high threshold.
 *
 * Returns a binary image (0 or 1).
 */
import { correlate1d, gaussianBlur } from './image-ops.js';

export interface CannyOptions {
  sigma: number;
  low: number;
  high: number;
}

export const SKIMAGE_CANNY_DEFAULTS: CannyOptions = { sigma: 1, low: 0.1, high: 0.2 };

/** Sobel derivatives: gx along columns (x), gy along rows (y), unnormalised like scipy.ndimage.sobel. */
export function sobel(image: Float64Array, n: number): { gx: Float64Array; gy: Float64Array } {
  const smooth = [1, 2, 1];
  const derivative = [-1, 0, 1];
  const gx = correlate1d(correlate1d(image, n, derivative, 1, 'reflect'), n, smooth, 0, 'reflect');
  const gy = correlate1d(correlate1d(image, n, derivative, 0, 'reflect'), n, smooth, 1, 'reflect');
  return { gx, gy };
}

/** Non-maximum suppression along the gradient, interpolating the two neighbours; the frame is excluded. */
export function suppressNonMaxima(magnitude: Float64Array, gx: Float64Array, gy: Float64Array, n: number): Uint8Array {
  const keep = new Uint8Array(n * n);
  const m = (r: number, c: number) => magnitude[r * n + c];
  for (let r = 1; r < n - 1; r++) {
    for (let c = 1; c < n - 1; c++) {
      const i = r * n + c;
      const here = magnitude[i];
      if (here === 0) continue;
      const ax = Math.abs(gx[i]);
      const ay = Math.abs(gy[i]);
      // s: whether a step along the gradient moves rows and columns the same way (+1) or opposite ways (-1)
      const s = gx[i] * gy[i] >= 0 ? 1 : -1;
      let ahead: number;
      let behind: number;
      if (ay >= ax) {
        // mostly vertical gradient: one row up and down, interpolated sideways by |gx| / |gy|
        const w = ax / ay;
        ahead = (1 - w) * m(r + 1, c) + w * m(r + 1, c + s);
        behind = (1 - w) * m(r - 1, c) + w * m(r - 1, c - s);
      } else {
        const w = ay / ax;
        ahead = (1 - w) * m(r, c + 1) + w * m(r + s, c + 1);
        behind = (1 - w) * m(r, c - 1) + w * m(r - s, c - 1);
      }
      if (here >= ahead && here >= behind) keep[i] = 1;
    }
  }
  return keep;
}

/** Keeps the 8-connected groups of `weak` pixels that hold at least one `strong` pixel. */
export function hysteresis(weak: Uint8Array, strong: Uint8Array, n: number): Uint8Array {
  const out = new Uint8Array(n * n);
  const stack: number[] = [];
  for (let i = 0; i < n * n; i++) {
    if (!strong[i] || !weak[i] || out[i]) continue;
    out[i] = 1;
    stack.push(i);
    while (stack.length > 0) {
      const j = stack.pop()!;
      const r = Math.floor(j / n);
      const c = j % n;
      for (let dr = -1; dr <= 1; dr++) {
        for (let dc = -1; dc <= 1; dc++) {
          const rr = r + dr;
          const cc = c + dc;
          if (rr < 0 || rr >= n || cc < 0 || cc >= n) continue;
          const k = rr * n + cc;
          if (weak[k] && !out[k]) {
            out[k] = 1;
            stack.push(k);
          }
        }
      }
    }
  }
  return out;
}

export function canny(image: Float64Array, n: number, options: CannyOptions = SKIMAGE_CANNY_DEFAULTS): Float64Array {
  const ones = new Float64Array(n * n).fill(1);
  const bleed = gaussianBlur(ones, n, options.sigma, 'constant');
  const smoothed = gaussianBlur(image, n, options.sigma, 'constant');
  for (let i = 0; i < smoothed.length; i++) smoothed[i] /= bleed[i] + Number.EPSILON;
  const { gx, gy } = sobel(smoothed, n);
  const magnitude = new Float64Array(n * n);
  for (let i = 0; i < magnitude.length; i++) magnitude[i] = Math.hypot(gx[i], gy[i]);
  const maxima = suppressNonMaxima(magnitude, gx, gy, n);
  const weak = new Uint8Array(n * n);
  const strong = new Uint8Array(n * n);
  for (let i = 0; i < magnitude.length; i++) {
    if (!maxima[i]) continue;
    if (magnitude[i] >= options.low) weak[i] = 1;
    if (magnitude[i] >= options.high) strong[i] = 1;
  }
  return Float64Array.from(hysteresis(weak, strong, n));
}
