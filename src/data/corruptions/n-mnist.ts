/**
 * The three n-MNIST variants (Basu et al. 2015, "Learning Sparse Feature Representations
 * using Probabilistic Quadtrees and Deep Belief Nets"; csc.lsu.edu/~saikat/n-mnist):
 *
 *   AWGN                      additive white Gaussian noise at a signal-to-noise ratio of 9.5
 *   motion blur               a linear camera motion of τ = 5 pixels at θ = 15° counter-clockwise
 *   reduced contrast + AWGN   the contrast range halved, then AWGN at a signal-to-noise ratio of 12
 *
 * The paper gives no formulas; our reading, in MATLAB's terms (the authors' tools):
 * - SNR in dB against a full-scale signal, as MATLAB's `awgn(x, snr)` assumes (signal
 *   power 0 dBW, i.e. 1 for an image in [0, 1]): σ = 10^(−snr/20), 0.335 at 9.5 dB and 0.251
 *   at 12 dB, then clipped to [0, 1] as storing uint8 does. (Measured against a digit's own
 *   mean power, about 0.1, σ would be 0.1: faint speckle, not the "significant background
 *   clutter" the authors describe);
 * - the motion kernel is `fspecial('motion', 5, 15)`'s idea: a line of length 5 through the
 *   centre at 15° (counter-clockwise on screen), each kernel cell weighted by 1 − its distance
 *   to the segment (0 beyond one pixel), normalised; zeros beyond the border (`imfilter`);
 * - halving the contrast maps [0, 1] onto [0.25, 0.75] (the range halved about mid-grey).
 */
import type { Random } from '../random.js';
import { clipUnit, correlate2d } from './image-ops.js';

export const N_MNIST_PARAMETERS = {
  awgn: { snrDb: 9.5, sigma: 10 ** (-9.5 / 20) },
  motionBlur: { length: 5, angleDegrees: 15 },
  contrastAwgn: { contrast: 0.5, snrDb: 12, sigma: 10 ** (-12 / 20) },
} as const;

/** The noise σ that gives `snrDb` against a full-scale signal (power 1). */
export function awgnSigma(snrDb: number): number {
  return 10 ** (-snrDb / 20);
}

export function awgn(image: Float64Array, snrDb: number, random: Random): Float64Array {
  const sigma = awgnSigma(snrDb);
  return clipUnit(image.map((x) => x + sigma * random.normal()));
}

/** The square kernel (odd side) of a linear motion of `length` pixels at `angleDegrees`, counter-clockwise from the +x axis on screen. */
export function motionKernel(length: number, angleDegrees: number): { kernel: Float64Array; size: number } {
  const half = (length - 1) / 2;
  const angle = (angleDegrees * Math.PI) / 180;
  const ux = Math.cos(angle);
  const uy = -Math.sin(angle); // rows grow downward: counter-clockwise on screen is −y
  const radius = Math.ceil(half + 1);
  const size = 2 * radius + 1;
  const kernel = new Float64Array(size * size);
  let total = 0;
  for (let r = -radius; r <= radius; r++) {
    for (let c = -radius; c <= radius; c++) {
      // distance from (c, r) to the segment from −half·u to +half·u
      const t = Math.max(-half, Math.min(half, c * ux + r * uy));
      const distance = Math.hypot(c - t * ux, r - t * uy);
      const w = Math.max(0, 1 - distance);
      kernel[(r + radius) * size + c + radius] = w;
      total += w;
    }
  }
  for (let i = 0; i < kernel.length; i++) kernel[i] /= total;
  return { kernel, size };
}

export function linearMotionBlur(image: Float64Array, n: number, length: number, angleDegrees: number): Float64Array {
  const { kernel, size } = motionKernel(length, angleDegrees);
  return clipUnit(correlate2d(image, n, kernel, size, 'constant'));
}

/** Scales the range by `contrast` about mid-grey: [0, 1] → [0.5 − c/2, 0.5 + c/2]. */
export function reduceContrast(image: Float64Array, contrast: number): Float64Array {
  return image.map((x) => 0.5 + (x - 0.5) * contrast);
}
