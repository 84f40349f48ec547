import { beforeAll, describe, expect, test } from 'vitest';
import { canny, hysteresis } from '../../src/data/corruptions/canny.js';
import { CORRUPTIONS, CORRUPTION_RECIPES, type CorruptionRecipe } from '../../src/data/corruptions/index.js';
import { brightness, dottedLine, impulseNoise, lineStroke, motionBlur, rotate, scale, shear, shotNoise, stripe, translate, zigzagPoints } from '../../src/data/corruptions/mnist-c.js';
import { awgn, awgnSigma, linearMotionBlur, motionKernel, reduceContrast } from '../../src/data/corruptions/n-mnist.js';
import { plasmaFractal } from '../../src/data/corruptions/plasma.js';
import { type MnistSet, readMnist } from '../../src/data/mnist.js';
import { createRandom, poisson } from '../../src/data/random.js';

const N = 28;
let t10k: MnistSet;
beforeAll(async () => {
  t10k = await readMnist('test');
});

const digit = (index: number) => Float64Array.from(t10k.images.subarray(index * N * N, (index + 1) * N * N), (v) => v / 255);
const blank = (value = 0) => new Float64Array(N * N).fill(value);
const meanOf = (image: ArrayLike<number>) => Array.from(image).reduce((a, b) => a + b, 0) / image.length;
const meanAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i] - b[i]);
  return sum / a.length;
};

/** Mass, centroid (x = column, y = row) and the angle of the principal axis, counter-clockwise on screen, in degrees in (−90, 90]. */
function moments(image: Float64Array) {
  let mass = 0;
  let cx = 0;
  let cy = 0;
  for (let r = 0; r < N; r++) {
    for (let c = 0; c < N; c++) {
      const v = image[r * N + c];
      mass += v;
      cx += v * c;
      cy += v * r;
    }
  }
  cx /= mass;
  cy /= mass;
  let sxx = 0;
  let syy = 0;
  let sxy = 0;
  for (let r = 0; r < N; r++) {
    for (let c = 0; c < N; c++) {
      const v = image[r * N + c];
      const x = c - cx;
      const y = cy - r; // up is positive
      sxx += v * x * x;
      syy += v * y * y;
      sxy += v * x * y;
    }
  }
  const angle = (0.5 * Math.atan2(2 * sxy, sxx - syy) * 180) / Math.PI;
  return { mass, cx, cy, angle, spread: Math.sqrt((sxx + syy) / mass) };
}

/** A horizontal bar centred on the image centre (13.5, 13.5), 16 px long and 4 px thick. */
function bar(): Float64Array {
  const image = blank();
  for (let r = 12; r <= 15; r++) for (let c = 6; c <= 21; c++) image[r * N + c] = 1;
  return image;
}

/** A 3×3 blob centred at (x, y). */
function blob(x: number, y: number): Float64Array {
  const image = blank();
  for (let r = y - 1; r <= y + 1; r++) for (let c = x - 1; c <= x + 1; c++) image[r * N + c] = 1;
  return image;
}

// How far (mean |corrupted − clean| over 30 t10k digits) each corruption moves a digit: clearly
// changed, yet nowhere near a different image (two unrelated digits differ by about 0.2).
const PLAUSIBLE: Record<CorruptionRecipe, [number, number]> = {
  'mnistc-shot-noise': [0.02, 0.08],
  'mnistc-impulse-noise': [0.05, 0.12],
  'mnistc-glass-blur': [0.04, 0.14],
  'mnistc-motion-blur': [0.05, 0.15],
  'mnistc-shear': [0.05, 0.16],
  'mnistc-scale': [0.06, 0.15],
  'mnistc-rotate': [0.05, 0.16],
  'mnistc-brightness': [0.4, 0.5],
  'mnistc-translate': [0.1, 0.25],
  'mnistc-stripe': [0.4, 0.55],
  'mnistc-fog': [0.2, 0.5],
  'mnistc-spatter': [0.005, 0.08],
  'mnistc-dotted-line': [0.01, 0.05],
  'mnistc-zigzag': [0.02, 0.08],
  'mnistc-canny-edges': [0.1, 0.22],
  'nmnist-awgn': [0.1, 0.2],
  'nmnist-motion-blur': [0.03, 0.1],
  'nmnist-contrast-awgn': [0.2, 0.35],
};

/** Corruptions that draw nothing at random. */
const FIXED = new Set<CorruptionRecipe>(['mnistc-scale', 'mnistc-brightness', 'mnistc-stripe', 'mnistc-canny-edges', 'nmnist-motion-blur']);

describe.each(CORRUPTION_RECIPES.map((name) => [name]))('%s', (name) => {
  const spec = CORRUPTIONS[name];

  test('is deterministic under a seed, keeps shape and range, and leaves its input alone', () => {
    for (const index of [0, 7, 42]) {
      // Given a t10k digit
      const clean = digit(index);
      const copy = Float64Array.from(clean);
      // When it is corrupted twice with the same seed and once with another
      const a = spec.apply(clean, N, createRandom(11));
      const b = spec.apply(clean, N, createRandom(11));
      const c = spec.apply(clean, N, createRandom(12));
      // Then the same seed gives the same image, of the same shape, in [0, 1]
      expect(Array.from(a)).toEqual(Array.from(b));
      expect(a).toHaveLength(N * N);
      expect(a.every((v) => Number.isFinite(v) && v >= 0 && v <= 1)).toBe(true);
      expect(Array.from(clean)).toEqual(Array.from(copy));
      // And another seed another image, unless the corruption draws nothing
      if (FIXED.has(name)) expect(Array.from(c)).toEqual(Array.from(a));
      else expect(Array.from(c)).not.toEqual(Array.from(a));
    }
  });

  test('moves a digit by a plausible amount', () => {
    let distance = 0;
    for (let index = 0; index < 30; index++) {
      const clean = digit(index);
      distance += meanAbsDiff(spec.apply(clean, N, createRandom(index)), clean);
    }
    const [low, high] = PLAUSIBLE[name];
    expect(distance / 30).toBeGreaterThan(low);
    expect(distance / 30).toBeLessThan(high);
  });
});

describe('geometric corruptions move mass as they say', () => {
  test.each([[0.4], [-0.4], [Math.PI / 6]])('rotate by %f rad turns a bar by that angle, counter-clockwise for positive angles', (radians) => {
    const before = moments(bar());
    const after = moments(rotate(bar(), N, radians));
    expect(before.angle).toBeCloseTo(0, 5);
    expect(after.angle).toBeCloseTo((radians * 180) / Math.PI, 0);
    expect(after.cx).toBeCloseTo(before.cx, 1);
    expect(after.cy).toBeCloseTo(before.cy, 1);
  });

  test('rotate by a quarter turn carries an off-centre blob from the right to the top', () => {
    const after = moments(rotate(blob(21, 13), N, Math.PI / 2));
    // centre 13.5: (21, 13) is 7.5 right and 0.5 up of it; a quarter turn counter-clockwise puts it 7.5 up and 0.5 left
    expect(after.cx).toBeCloseTo(13, 1);
    expect(after.cy).toBeCloseTo(6, 1);
  });

  test('translate moves the centroid by whole pixels and keeps the mass', () => {
    const before = moments(blob(12, 14));
    const after = moments(translate(blob(12, 14), N, 3, -3));
    expect(after.cx - before.cx).toBeCloseTo(3, 10);
    expect(after.cy - before.cy).toBeCloseTo(-3, 10);
    expect(after.mass).toBeCloseTo(before.mass, 10);
  });

  test('scale 0.7 shrinks the spread about the centre to 0.7', () => {
    const clean = digit(3);
    const before = moments(clean);
    const after = moments(scale(clean, N, 0.7));
    expect(after.spread / before.spread).toBeCloseTo(0.7, 1);
    expect(after.mass / before.mass).toBeCloseTo(0.49, 1);
  });

  test('shear leans a vertical bar one way or the other with the sign', () => {
    const vertical = blank();
    for (let r = 6; r <= 21; r++) for (let c = 13; c <= 14; c++) vertical[r * N + c] = 1;
    const lean = (image: Float64Array) => {
      const top = moments(image.map((v, i) => (Math.floor(i / N) < 11 ? v : 0)));
      const bottom = moments(image.map((v, i) => (Math.floor(i / N) > 16 ? v : 0)));
      return top.cx - bottom.cx;
    };
    expect(lean(vertical)).toBeCloseTo(0, 10);
    const positive = lean(shear(vertical, N, 0.4));
    const negative = lean(shear(vertical, N, -0.4));
    expect(Math.abs(positive)).toBeGreaterThan(3);
    expect(Math.sign(positive)).toBe(-Math.sign(negative));
  });
});

describe('pixel corruptions do what MNIST-C describes', () => {
  test('brightness adds 0.5 to every pixel, clipped at 1, and so raises the mean', () => {
    const clean = digit(5);
    const bright = brightness(clean, 0.5);
    clean.forEach((x, i) => expect(bright[i]).toBeCloseTo(Math.min(1, x + 0.5), 12));
    expect(meanOf(bright)).toBeGreaterThan(meanOf(clean) + 0.4);
  });

  test('stripe inverts the 7 columns on each side and nothing else', () => {
    const clean = digit(9);
    const striped = stripe(clean, N, 7);
    for (let r = 0; r < N; r++) {
      for (let c = 0; c < N; c++) {
        const i = r * N + c;
        expect(striped[i]).toBeCloseTo(c < 7 || c >= 21 ? 1 - clean[i] : clean[i], 12);
      }
    }
  });

  test('impulse noise sets about 17% of the pixels to black or white, half each', () => {
    const noisy = impulseNoise(Float64Array.from({ length: 100 * N * N }, () => 0.5), 0.17, createRandom(3));
    const white = noisy.filter((v) => v === 1).length / noisy.length;
    const black = noisy.filter((v) => v === 0).length / noisy.length;
    expect(white + black).toBeCloseTo(0.17, 2);
    expect(Math.abs(white - black)).toBeLessThan(0.01);
    expect(noisy.every((v) => v === 0 || v === 0.5 || v === 1)).toBe(true);
  });

  test('shot noise: Poisson counts over λ = 3 keep the mean of mid-grey', () => {
    const random = createRandom(8);
    const draws = Array.from({ length: 20_000 }, () => poisson(1.5, random));
    const mean = meanOf(draws);
    expect(mean).toBeCloseTo(1.5, 1);
    expect(meanOf(draws.map((k) => (k - mean) ** 2))).toBeCloseTo(1.5, 1);
    const noisy = shotNoise(Float64Array.from({ length: 20_000 }, () => 0.2), 3, createRandom(9));
    expect(noisy.every((v) => Math.abs(v * 3 - Math.round(v * 3)) < 1e-12)).toBe(true);
    expect(meanOf(noisy)).toBeCloseTo(0.2, 1);
  });

  test('motion blur streaks a point behind it along the angle with Gaussian weights, keeping its mass', () => {
    const point = blank();
    point[14 * N + 24] = 1;
    // radius 10: 21 taps at whole-pixel offsets 0–20, so the point lights the 21 pixels up to 20 to its left
    const streak = motionBlur(point, N, 10, 3, 0);
    const lit = [...streak.keys()].filter((i) => streak[i] > 0);
    expect(lit).toEqual(Array.from({ length: 21 }, (_, k) => 14 * N + 4 + k));
    for (let c = 24; c > 4; c--) expect(streak[14 * N + c]).toBeGreaterThan(streak[14 * N + c - 1]);
    expect(streak[14 * N + 24] / streak[14 * N + 21]).toBeCloseTo(Math.exp(9 / 18), 10);
    expect(meanOf(streak) * N * N).toBeCloseTo(1, 6);
    // at 90° the streak runs along the column instead
    const vertical = motionBlur(point, N, 10, 3, 90);
    expect([...vertical.keys()].filter((i) => vertical[i] > 0).every((i) => i % N === 24 && Math.floor(i / N) <= 14)).toBe(true);
  });

  test('a dotted line adds 2-px dashes, every other pair of columns untouched', () => {
    const clean = digit(1);
    const dotted = dottedLine(clean, N, 4, 20, 2);
    let added = 0;
    for (let r = 0; r < N; r++) {
      for (let c = 0; c < N; c++) {
        const i = r * N + c;
        if (Math.floor(c / 2) % 2 === 0) expect(dotted[i]).toBe(clean[i]);
        else added += dotted[i] - clean[i];
      }
    }
    expect(added).toBeGreaterThan(10);
  });

  test('the MNIST-C stroke is full on its line, fades within about 1.5 px and stops at its columns', () => {
    const stroke = lineStroke(N, 3, 10, 20, 10);
    expect(stroke[10 * N + 8]).toBeCloseTo(1, 12);
    expect(stroke[11 * N + 8]).toBeGreaterThan(0.3);
    expect(stroke[11 * N + 8]).toBeLessThan(0.8);
    expect(stroke[12 * N + 8]).toBe(0);
    expect(stroke[10 * N + 2]).toBe(0);
    expect(stroke[10 * N + 20]).toBe(0);
  });

  test('a zigzag alternates above and below its baseline', () => {
    const points = zigzagPoints(2, 14, 25, 14, 2, 2);
    expect(points[0]).toEqual([2, 14]);
    const rows = points.slice(1, -1).map(([, r]) => r - 14);
    expect(rows).toEqual([2, -2, 2, -2, 2, -2]);
    expect(points.at(-1)![0]).toBeCloseTo(25, 10);
  });
});

describe('Canny', () => {
  test('a filled square gives a thin binary outline on its border and nothing inside or far away', () => {
    // Given a white square, rows and columns 8–19
    const square = blank();
    for (let r = 8; r <= 19; r++) for (let c = 8; c <= 19; c++) square[r * N + c] = 1;
    // When Canny runs with MNIST-C's settings
    const edges = canny(square, N, { sigma: 1, low: 0.1, high: 0.2 });
    // Then it is binary, every edge pixel within a pixel of the square's border
    expect(edges.every((v) => v === 0 || v === 1)).toBe(true);
    const distanceToBorder = (r: number, c: number) => {
      const inside = r >= 8 && r <= 19 && c >= 8 && c <= 19;
      const d = Math.min(Math.abs(r - 7.5), Math.abs(r - 19.5), Math.abs(c - 7.5), Math.abs(c - 19.5));
      return inside || (r >= 7 && r <= 20 && c >= 7 && c <= 20) ? d : Infinity;
    };
    let count = 0;
    for (let r = 0; r < N; r++) {
      for (let c = 0; c < N; c++) {
        if (!edges[r * N + c]) continue;
        count++;
        expect(distanceToBorder(r, c)).toBeLessThanOrEqual(1);
      }
    }
    // And each side is traced along most of its length, one pixel thick
    const side = (pick: (k: number) => number) => Array.from({ length: 10 }, (_, k) => pick(k + 9)).filter(Boolean).length;
    const top = side((c) => edges[7 * N + c] || edges[8 * N + c]);
    const bottom = side((c) => edges[19 * N + c] || edges[20 * N + c]);
    const left = side((r) => edges[r * N + 7] || edges[r * N + 8]);
    const right = side((r) => edges[r * N + 19] || edges[r * N + 20]);
    expect([top, bottom, left, right]).toEqual([10, 10, 10, 10]);
    expect(count).toBeGreaterThanOrEqual(40);
    expect(count).toBeLessThanOrEqual(56);
  });

  test('a blank image and a uniform grey have no edges', () => {
    expect(canny(blank(), N).every((v) => v === 0)).toBe(true);
    expect(canny(blank(0.7), N).every((v) => v === 0)).toBe(true);
  });

  test('a faint square below the low threshold has no edges; hysteresis keeps weak pixels only when linked to strong ones', () => {
    const faint = blank();
    for (let r = 8; r <= 19; r++) for (let c = 8; c <= 19; c++) faint[r * N + c] = 0.02;
    expect(canny(faint, N).every((v) => v === 0)).toBe(true);
    const weak = new Uint8Array(N * N);
    const strong = new Uint8Array(N * N);
    for (let c = 2; c < 10; c++) weak[5 * N + c] = 1; // a chain with one strong pixel
    strong[5 * N + 9] = 1;
    for (let c = 15; c < 20; c++) weak[20 * N + c] = 1; // a chain without
    const kept = hysteresis(weak, strong, N);
    expect([...kept.keys()].filter((i) => kept[i])).toEqual(Array.from({ length: 8 }, (_, k) => 5 * N + 2 + k));
  });
});

describe('fog', () => {
  test('the plasma fractal spans [0, 1] and is smooth: neighbours differ far less than random pairs', () => {
    const map = plasmaFractal(256, 1.4, createRandom(4));
    expect(Math.min(...map)).toBe(0);
    expect(Math.max(...map)).toBe(1);
    let neighbours = 0;
    let pairs = 0;
    const random = createRandom(5);
    for (let r = 0; r < 255; r++) {
      for (let c = 0; c < 255; c++) {
        neighbours += Math.abs(map[r * 256 + c] - map[r * 256 + c + 1]);
        pairs += Math.abs(map[r * 256 + c] - map[random.int(256 * 256)]);
      }
    }
    expect(neighbours / pairs).toBeLessThan(0.25);
    expect(() => plasmaFractal(100, 1.4, createRandom(1))).toThrow(/power of two/);
  });
});

describe('n-MNIST', () => {
  test('AWGN at SNR 9.5 and 12 dB has σ 0.335 and 0.251 on full-scale images; about 68% of draws fall within σ', () => {
    expect(awgnSigma(9.5)).toBeCloseTo(0.335, 3);
    expect(awgnSigma(12)).toBeCloseTo(0.251, 3);
    const noisy = awgn(Float64Array.from({ length: 20_000 }, () => 0.5), 9.5, createRandom(6));
    const within = noisy.filter((v) => Math.abs(v - 0.5) < awgnSigma(9.5)).length / noisy.length;
    expect(within).toBeCloseTo(0.683, 1);
  });

  test('reduced contrast maps black to 0.25 and white to 0.75', () => {
    const out = reduceContrast(Float64Array.from([0, 0.5, 1]), 0.5);
    expect(Array.from(out)).toEqual([0.25, 0.5, 0.75]);
  });

  test('the motion kernel is a normalised 5-px line at 15° counter-clockwise; a point blurs into it', () => {
    const { kernel } = motionKernel(5, 15);
    expect(meanOf(kernel) * kernel.length).toBeCloseTo(1, 12);
    const point = blank();
    point[14 * N + 14] = 1;
    const blurred = linearMotionBlur(point, N, 5, 15);
    const m = moments(blurred);
    expect(m.mass).toBeCloseTo(1, 10);
    expect(m.angle).toBeCloseTo(15, -1);
    expect(Math.abs(m.angle - 15)).toBeLessThan(4);
    expect(m.cx).toBeCloseTo(14, 6);
    expect(m.cy).toBeCloseTo(14, 6);
  });
});
