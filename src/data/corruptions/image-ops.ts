/**
 * Small image operations the corruptions are built from. An image is a square, row-major
 * Float64Array of side `n` with values in [0, 1] (MNIST-C's code works on x / 255).
 * Every function returns a new array and leaves its input alone.
 */

/** How a filter reads pixels outside the image. */
export type Border = 'nearest' | 'constant' | 'reflect';

function borderIndex(i: number, n: number, border: Border): number {
  if (i >= 0 && i < n) return i;
  if (border === 'constant') return -1;
  if (border === 'nearest') return i < 0 ? 0 : n - 1;
  // 'reflect' as scipy.ndimage: the edge pixel is repeated (d c b a | a b c d | d c b a).
  const period = 2 * n;
  let k = ((i % period) + period) % period;
  if (k >= n) k = period - 1 - k;
  return k;
}

/** The 1-D Gaussian of scipy.ndimage / skimage: radius ⌊4σ + ½⌋ (truncate 4), normalised to sum 1. */
export function gaussianKernel(sigma: number): Float64Array {
  const radius = Math.floor(4 * sigma + 0.5);
  const kernel = new Float64Array(2 * radius + 1);
  let sum = 0;
  for (let i = -radius; i <= radius; i++) {
    const value = Math.exp((-0.5 * i * i) / (sigma * sigma));
    kernel[i + radius] = value;
    sum += value;
  }
  for (let i = 0; i < kernel.length; i++) kernel[i] /= sum;
  return kernel;
}

/** Correlates rows (axis 1) or columns (axis 0) with a 1-D odd-length kernel. */
export function correlate1d(image: Float64Array, n: number, kernel: ArrayLike<number>, axis: 0 | 1, border: Border): Float64Array {
  const out = new Float64Array(n * n);
  const taps = kernel.length;
  const radius = (taps - 1) / 2;
  // where tap t of position i reads along the axis (−1: outside, adds nothing), worked out once
  const source = new Int32Array(n * taps);
  for (let i = 0; i < n; i++) for (let t = 0; t < taps; t++) source[i * taps + t] = borderIndex(i + t - radius, n, border);
  const stride = axis === 0 ? n : 1;
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) {
      const along = axis === 0 ? r : c;
      const base = axis === 0 ? c : r * n;
      let sum = 0;
      for (let t = 0; t < taps; t++) {
        const j = source[along * taps + t]!;
        if (j < 0) continue;
        sum += kernel[t]! * image[base + j * stride]!;
      }
      out[r * n + c] = sum;
    }
  }
  return out;
}

/** Separable Gaussian blur (skimage.filters.gaussian: mode 'nearest' unless told, truncate 4). */
export function gaussianBlur(image: Float64Array, n: number, sigma: number, border: Border = 'nearest'): Float64Array {
  const kernel = gaussianKernel(sigma);
  return correlate1d(correlate1d(image, n, kernel, 0, border), n, kernel, 1, border);
}

/** Correlates with a square 2-D kernel (side k, odd), zero outside the image unless told. */
export function correlate2d(image: Float64Array, n: number, kernel: Float64Array, k: number, border: Border = 'constant'): Float64Array {
  const out = new Float64Array(n * n);
  const radius = (k - 1) / 2;
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) {
      let sum = 0;
      for (let dr = -radius; dr <= radius; dr++) {
        const rr = borderIndex(r + dr, n, border);
        if (rr < 0) continue;
        for (let dc = -radius; dc <= radius; dc++) {
          const w = kernel[(dr + radius) * k + dc + radius];
          if (w === 0) continue; // the same sum: a line's kernel is mostly zeros
          const cc = borderIndex(c + dc, n, border);
          if (cc < 0) continue;
          sum += w * image[rr * n + cc];
        }
      }
      out[r * n + c] = sum;
    }
  }
  return out;
}

/** Bilinear sample at (row y, column x); 0 outside the image. */
export function bilinear(image: Float64Array, n: number, y: number, x: number): number {
  const x0 = Math.floor(x);
  const y0 = Math.floor(y);
  const fx = x - x0;
  const fy = y - y0;
  const at = (r: number, c: number) => (r >= 0 && r < n && c >= 0 && c < n ? image[r * n + c] : 0);
  return (at(y0, x0) * (1 - fx) + at(y0, x0 + 1) * fx) * (1 - fy) + (at(y0 + 1, x0) * (1 - fx) + at(y0 + 1, x0 + 1) * fx) * fy;
}

/**
 * A 2×3 affine map from output pixel (x = column, y = row) to input pixel, as skimage's
 * `warp(image, inverse_map=AffineTransform(...))` uses it: [xIn, yIn] = [[a, b, c], [d, e, f]] · [x, y, 1].
 */
export interface InverseAffine {
  a: number;
  b: number;
  c: number;
  d: number;
  e: number;
  f: number;
}

/** Resamples through an inverse affine map, bilinear, 0 outside (skimage warp: order 1, mode constant). */
export function warpAffine(image: Float64Array, n: number, map: InverseAffine): Float64Array {
  const out = new Float64Array(n * n);
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      out[y * n + x] = bilinear(image, n, map.d * x + map.e * y + map.f, map.a * x + map.b * y + map.c);
    }
  }
  return out;
}

/**
 * The inverse map of a 2×2 linear part about the image centre: MNIST-C adds the translation
 * that keeps (13.5, 13.5), the centre of a 28-pixel image, in place.
 */
export function aboutCentre(n: number, a: number, b: number, d: number, e: number): InverseAffine {
  const centre = (n - 1) / 2;
  return { a, b, c: centre * (1 - a - b), d, e, f: centre * (1 - d - e) };
}

export function clipUnit(image: Float64Array): Float64Array {
  for (let i = 0; i < image.length; i++) image[i] = image[i] < 0 ? 0 : image[i] > 1 ? 1 : image[i];
  return image;
}

/** Rounds to the 256 grey levels of a uint8 image, truncating like numpy's `np.uint8(x * 255)`. */
export function truncateToBytes(image: Float64Array): Float64Array {
  const out = new Float64Array(image.length);
  for (let i = 0; i < image.length; i++) out[i] = Math.floor(Math.min(1, Math.max(0, image[i])) * 255) / 255;
  return out;
}
