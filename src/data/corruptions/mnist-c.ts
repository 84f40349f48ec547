/**
 * The 15 corruptions of the MNIST-C benchmark (Mu & Gilmer 2019, "MNIST-C: A Robustness
 * Benchmark for Computer Vision", github.com/google-research/mnist-c `corruptions.py`), written
 * from that description for images in [0, 1]. Each takes its parameters explicitly; the
 * severities MNIST-C's dataset uses (the defaults of `corruptions.py`) are in
 * MNIST_C_SEVERITY, and the random draws (directions, angles, noise) come from a seeded
 * `Random`, so an image and a seed always give the same result.
 */
import { poisson, type Random } from '../random.js';
import { canny, SKIMAGE_CANNY_DEFAULTS } from './canny.js';
import { aboutCentre, clipUnit, gaussianBlur, truncateToBytes, warpAffine } from './image-ops.js';
import { plasmaFractal } from './plasma.js';

/** The parameters MNIST-C's released dataset was made with (its functions' default severity). */
export const MNIST_C_SEVERITY = {
  /** severity 5: Poisson counts with mean x·λ, divided by λ */
  shotNoise: { lambda: 3 },
  /** severity 4: each pixel set to 0 or 1 (half each) with this probability */
  impulseNoise: { amount: 0.17 },
  /** severity 1: blur σ, largest swap offset, passes */
  glassBlur: { sigma: 0.7, maxDelta: 1, iterations: 2 },
  /** severity 1: ImageMagick motion blur of radius 10 px, σ 3 px, angle uniform in ±45° */
  motionBlur: { radius: 10, sigma: 3, maxAngleDegrees: 45 },
  /** severity 2: shear angle (radians), random sign */
  shear: { shear: 0.4 },
  /** severity 3: the digit shrinks to 0.7 of its size about the centre */
  scale: { factor: 0.7 },
  /** severity 2: rotation (radians, ≈ 22.9°), random sign */
  rotate: { radians: 0.4 },
  /** severity 5: HSV value + 0.5 (on a grey image: every pixel + 0.5, clipped) */
  brightness: { add: 0.5 },
  /** severity 3: shift of 3 px along each axis, random signs */
  translate: { pixels: 3 },
  /** severity 5: plasma fog of strength 3, wibble decay 1.4 on a 256² map */
  fog: { strength: 3, decay: 1.4, mapSize: 256 },
  /** severity 4: liquid N(0.65, 0.3), blur σ 1, threshold 0.65; mask blur σ 1.5, kept ≥ 0.8; mud grey 63/255 */
  spatter: { mean: 0.65, std: 0.3, sigma: 1, threshold: 0.65, maskSigma: 1.5, maskThreshold: 0.8, grey: 63 / 255 },
  /** the columns inverted on each side */
  stripe: { width: 7 },
  /** dashes of 2 px (the first off) along a line from column 0 to 27 between random rows 0–26 */
  dottedLine: { dash: 2 },
  /** zigzag teeth of length a and height b between columns 2 and 25 */
  zigzag: { a: 2, b: 2, from: 2, to: 25, maxTilt: 5 },
  canny: SKIMAGE_CANNY_DEFAULTS,
} as const;

const randomSign = (random: Random) => (random.next() < 0.5 ? -1 : 1);

export function shotNoise(image: Float64Array, lambda: number, random: Random): Float64Array {
  return clipUnit(image.map((x) => poisson(x * lambda, random) / lambda));
}

export function impulseNoise(image: Float64Array, amount: number, random: Random): Float64Array {
  return image.map((x) => (random.next() < amount ? (random.next() < 0.5 ? 1 : 0) : x));
}

/**
 * Blur, then swap pixels with a neighbour: each pass walks rows and columns from the far edge
 * inward and, with probability ½, swaps a pixel with the one at an offset drawn in
 * [−δ, δ − 1] along each axis (numpy's `randint(-δ, δ)` excludes δ); blur again.
 */
export function glassBlur(image: Float64Array, n: number, sigma: number, maxDelta: number, iterations: number, random: Random): Float64Array {
  return glassBlurAfterFirst(glassBlurFirst(image, n, sigma), n, sigma, maxDelta, iterations, random);
}

/** The first step of `glassBlur`: the blur, in 256 grey levels (it depends on σ alone, not on the swaps). */
export function glassBlurFirst(image: Float64Array, n: number, sigma: number): Float64Array {
  return truncateToBytes(gaussianBlur(image, n, sigma));
}

/** The rest of `glassBlur` on its first step's output `x` (changed in place): the swaps, the second blur. */
export function glassBlurAfterFirst(x: Float64Array, n: number, sigma: number, maxDelta: number, iterations: number, random: Random): Float64Array {
  for (let pass = 0; pass < iterations; pass++) {
    for (let h = n - maxDelta; h > maxDelta; h--) {
      for (let w = n - maxDelta; w > maxDelta; w--) {
        if (random.next() >= 0.5) continue;
        const dx = random.int(2 * maxDelta) - maxDelta;
        const dy = random.int(2 * maxDelta) - maxDelta;
        const hp = h + dy;
        const wp = w + dx;
        if (hp < 0 || hp >= n || wp < 0 || wp >= n || h >= n || w >= n) continue;
        const tmp = x[h * n + w];
        x[h * n + w] = x[hp * n + wp];
        x[hp * n + wp] = tmp;
      }
    }
  }
  return clipUnit(gaussianBlur(x, n, sigma));
}

/**
 * The taps of `motionBlur`: the 2·radius + 1 Gaussian weights (σ, not normalised; `total` is
 * their sum) and the whole-pixel offsets (row, column) of the pixels behind along the angle.
 */
export function motionBlurTaps(radius: number, sigma: number, angleDegrees: number): { weights: number[]; offsets: Array<[number, number]>; total: number } {
  const width = 2 * Math.ceil(radius) + 1;
  const angle = (angleDegrees * Math.PI) / 180;
  const weights: number[] = [];
  const offsets: Array<[number, number]> = [];
  let total = 0;
  for (let i = 0; i < width; i++) {
    const w = Math.exp(-(i * i) / (2 * sigma * sigma));
    weights.push(w);
    total += w;
    offsets.push([Math.ceil(i * Math.sin(angle) - 0.5), Math.ceil(i * Math.cos(angle) - 0.5)]);
  }
  return { weights, offsets, total };
}

/**
 * ImageMagick's motion blur (`MagickMotionBlurImage`, which MNIST-C calls): each pixel is a
 * one-sided Gaussian-weighted average (σ) of the 2·radius + 1 pixels behind it along the
 * angle, at offsets rounded to whole pixels; beyond the border the edge pixel is repeated.
 */
export function motionBlur(image: Float64Array, n: number, radius: number, sigma: number, angleDegrees: number): Float64Array {
  const { weights, offsets, total } = motionBlurTaps(radius, sigma, angleDegrees);
  const width = weights.length;
  const clamp = (v: number) => (v < 0 ? 0 : v >= n ? n - 1 : v);
  const out = new Float64Array(n * n);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) {
      let sum = 0;
      for (let i = 0; i < width; i++) sum += weights[i] * image[clamp(r + offsets[i][0]) * n + clamp(c + offsets[i][1])];
      out[r * n + c] = sum / total;
    }
  }
  return clipUnit(out);
}

/**
 * skimage's AffineTransform(shear=s) as MNIST-C used it (skimage ≤ 0.18): input x = x − sin(s)·y,
 * input y = cos(s)·y, about the centre.
 */
export function shear(image: Float64Array, n: number, radians: number): Float64Array {
  return clipUnit(warpAffine(image, n, aboutCentre(n, 1, -Math.sin(radians), 0, Math.cos(radians))));
}

/** Shrinks (factor < 1) or enlarges the digit about the centre. */
export function scale(image: Float64Array, n: number, factor: number): Float64Array {
  return clipUnit(warpAffine(image, n, aboutCentre(n, 1 / factor, 0, 0, 1 / factor)));
}

/** Rotates about the centre; a positive angle turns the digit counter-clockwise on screen (rows grow downward). */
export function rotate(image: Float64Array, n: number, radians: number): Float64Array {
  const cos = Math.cos(radians);
  const sin = Math.sin(radians);
  return clipUnit(warpAffine(image, n, aboutCentre(n, cos, -sin, sin, cos)));
}

/** Moves the digit by (dx, dy) pixels (right and down positive), zeros shifted in. */
export function translate(image: Float64Array, n: number, dx: number, dy: number): Float64Array {
  return clipUnit(warpAffine(image, n, { a: 1, b: 0, c: -dx, d: 0, e: 1, f: -dy }));
}

/**
 * MNIST-C raises the HSV value of the grey image converted to RGB; for a grey pixel S = 0 and
 * V = x, so RGB → grey gives back min(x + add, 1). Written as that.
 */
export function brightness(image: Float64Array, add: number): Float64Array {
  return clipUnit(image.map((x) => x + add));
}

/** Inverts the first and last `width` columns. */
export function stripe(image: Float64Array, n: number, width: number): Float64Array {
  const out = Float64Array.from(image);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) if (c < width || c >= n - width) out[r * n + c] = 1 - image[r * n + c];
  }
  return out;
}

/** x + strength · plasma (its top-left n×n corner), scaled back by max / (max + strength). */
export function fog(image: Float64Array, n: number, strength: number, decay: number, mapSize: number, random: Random): Float64Array {
  const plasma = plasmaFractal(mapSize, decay, random);
  let max = 0;
  for (const x of image) max = Math.max(max, x);
  const out = new Float64Array(n * n);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) out[r * n + c] = ((image[r * n + c] + strength * plasma[r * mapSize + c]) * max) / (max + strength);
  }
  return clipUnit(out);
}

/** Blotches of mud: a blurred, thresholded Gaussian liquid layer whose mask (blurred, ≥ 0.8) paints grey over the digit. */
export function spatter(image: Float64Array, n: number, p: (typeof MNIST_C_SEVERITY)['spatter'], random: Random): Float64Array {
  const liquid = new Float64Array(n * n);
  for (let i = 0; i < liquid.length; i++) liquid[i] = p.mean + p.std * random.normal();
  const blurred = gaussianBlur(liquid, n, p.sigma);
  const mask = gaussianBlur(
    blurred.map((v) => (v > p.threshold ? 1 : 0)),
    n,
    p.maskSigma,
  );
  const out = new Float64Array(n * n);
  for (let i = 0; i < out.length; i++) {
    const m = mask[i] < p.maskThreshold ? 0 : mask[i];
    out[i] = image[i] * (1 - m) + p.grey * m;
  }
  return clipUnit(out);
}

/**
 * MNIST-C's stroke: 1 + ln(1 − d / 2.3) at vertical distance d from the line through
 * (c0, r0) and (c1, r1), clipped to [0, 1] (about 3 px wide), only in columns ⌊c0⌋ … ⌈c1⌉ − 1.
 */
export function lineStroke(n: number, c0: number, r0: number, c1: number, r1: number): Float64Array {
  const out = new Float64Array(n * n);
  if (c1 === c0) return out;
  const slope = (r1 - r0) / (c1 - c0);
  const left = Math.floor(c0);
  const right = Math.ceil(c1);
  for (let r = 0; r < n; r++) {
    for (let c = Math.max(0, left); c < Math.min(n, right); c++) {
      const d = Math.min(Math.abs(r - (slope * (c - c0) + r0)), 2.3 - 1e-10);
      out[r * n + c] = Math.min(1, Math.max(0, Math.log(1 - d / 2.3) + 1));
    }
  }
  return out;
}

/** A dashed line across the whole width between rows r0 and r1: 2-px dashes, the first 2 columns off. */
export function dottedLine(image: Float64Array, n: number, r0: number, r1: number, dash: number): Float64Array {
  const stroke = lineStroke(n, 0, r0, n - 1, r1);
  const out = Float64Array.from(image);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) {
      const on = Math.floor(c / dash) % 2 === 1;
      if (on) out[r * n + c] += stroke[r * n + c];
    }
  }
  return clipUnit(out);
}

/** The corner points of MNIST-C's zigzag from (c0, r0) towards (c1, r1), before strokes are drawn. */
export function zigzagPoints(c0: number, r0: number, c1: number, r1: number, a: number, b: number): Array<[number, number]> {
  const theta = Math.atan((r1 - r0) / (c1 - c0));
  const length = (c1 - c0) / Math.cos(theta);
  const points: Array<[number, number]> = [[0, 0]];
  const teeth = Math.floor((length - a) / (2 * a)) + 1;
  let lastRow = 0;
  for (let i = 0; i < teeth; i++) {
    lastRow = (i % 2 === 0 ? 1 : -1) * b;
    points.push([(2 * i + 1) * a, lastRow]);
  }
  const whole = 2 * a * Math.floor(length / (2 * a));
  // MNIST-C ends on a point at the full length whose height is lastRow / (2 · the leftover length).
  if (length !== whole) points.push([length, lastRow / (2 * (length - whole))]);
  const cos = Math.cos(theta);
  const sin = Math.sin(theta);
  return points.map(([c, r]) => [cos * c - sin * r + c0, sin * c + cos * r + r0]);
}

export function zigzag(image: Float64Array, n: number, r0: number, r1: number, p: (typeof MNIST_C_SEVERITY)['zigzag']): Float64Array {
  const points = zigzagPoints(p.from, r0, p.to, r1, p.a, p.b);
  const out = Float64Array.from(image);
  for (let i = 1; i < points.length; i++) {
    const stroke = lineStroke(n, points[i - 1][0], points[i - 1][1], points[i][0], points[i][1]);
    for (let k = 0; k < out.length; k++) out[k] = Math.min(1, out[k] + stroke[k]);
  }
  return out;
}

export function cannyEdges(image: Float64Array, n: number): Float64Array {
  return canny(image, n, MNIST_C_SEVERITY.canny);
}

export { randomSign };
