/**
 * The competition's noise model: fitted to real MNIST train images corrupted with known
 * parameters, it recovers them (Gaussian, photon, impulse and uniform-maximum noise); noise it
 * does not model (correlated backgrounds, binarised strokes, none at all) is refused; Canny
 * edge maps are recognised as such, at their σ, and blurs (glass or plain Gaussian) at theirs,
 * while rotation, shear and clean digits are no blur of that kind nor motion-blurred; motion
 * blurs (MNIST-C's streak, n-MNIST's line) are recognised at their parameters; synthetic rows
 * follow the model.
 */
import normalCdf from '@stdlib/stats-base-dists-normal-cdf';
import { beforeAll, describe, expect, test } from 'vitest';
import { canny } from '../../src/data/corruptions/canny.js';
import { CORRUPTIONS } from '../../src/data/corruptions/index.js';
import { glassBlur } from '../../src/data/corruptions/mnist-c.js';
import type { ImageSet } from '../../src/data/image-set.js';
import { readMnist, type MnistSet } from '../../src/data/mnist.js';
import { formatUnit, makeImage } from '../../src/data/practice.js';
import { motionBlurDigit } from '../../src/data/motion-blur-model.js';
import { type EdgeMapModel, fitNoiseModel, type GlassBlurModel, type ImpulseNoiseModel, type MaximumNoiseModel, MAX_BLUR_DISTANCE, MAX_MOTION_DISTANCE, MAX_PATTERN_DISTANCE, MAX_PHOTONS, mnistBoxLevels, MIN_IMPULSE, MIN_PHOTONS, MIN_SIGMA, type MotionBlurModel, synthesizeNoisyImages, type PoissonNoiseModel } from '../../src/data/noise-model.js';
import { createRandom, poisson } from '../../src/data/random.js';
import { gaussianOf } from '../helpers/noise-model.js';

let mnist: MnistSet;
let levels: Float64Array;
beforeAll(async () => {
  mnist = await readMnist('train');
  levels = mnistBoxLevels(mnist);
});

/** `count` MNIST train images (every 7th, both writer populations) with `corrupt` applied per image, in [0, 1] floats. */
function corrupted(count: number, corrupt: (x: Float32Array, random: ReturnType<typeof createRandom>) => Float32Array, seed = 3): ImageSet {
  const random = createRandom(seed);
  const images = new Float32Array(count * 784);
  const labels = new Uint8Array(count);
  for (let k = 0; k < count; k++) {
    const i = k * 7;
    const x = Float32Array.from(mnist.images.subarray(i * 784, (i + 1) * 784), (v) => v / 255);
    images.set(corrupt(x, random), k * 784);
    labels[k] = mnist.labels[i]!;
  }
  return { images, labels, count, size: 28, scale: 1 };
}

/** The images as bytes, as integer layouts store them. */
const asBytes = (set: ImageSet): ImageSet => ({ ...set, images: Uint8Array.from(set.images, (v) => Math.round(255 * v)), scale: 255 });

const gaussian = (gain: number, offset: number, sigma: number) => (x: Float32Array, random: ReturnType<typeof createRandom>) =>
  x.map((v) => Math.min(1, Math.max(0, gain * v + offset + sigma * random.normal())));

describe('fitNoiseModel', () => {
  test.each([
    { gain: 1, offset: 0, sigma: 0.335 },
    { gain: 0.5, offset: 0.25, sigma: 0.251 },
    { gain: 0.8, offset: 0.1, sigma: 0.12 },
  ])('recovers gain $gain, offset $offset, σ $sigma from the images alone', ({ gain, offset, sigma }) => {
    const fit = fitNoiseModel(corrupted(3000, gaussian(gain, offset, sigma)), levels);
    expect(fit.model).not.toBeNull();
    expect(gaussianOf(fit.model).gain).toBeCloseTo(gain, 1);
    expect(Math.abs(gaussianOf(fit.model).gain - gain)).toBeLessThan(0.03);
    expect(Math.abs(gaussianOf(fit.model).offset - offset)).toBeLessThan(0.01);
    expect(Math.abs(gaussianOf(fit.model).sigma - sigma)).toBeLessThan(0.01);
    expect(fit.frameDistance).toBeLessThan(0.02);
    expect(fit.boxDistance).toBeLessThan(0.02);
    expect(fit.reason).toMatch(/^Gaussian sensor noise/);
  });

  test.each([
    { gain: 1, level: 1, count: 2000 },
    { gain: 0.8, level: 0.6, count: 2000 },
    { gain: 1, level: 1, count: 300 },
  ])('uniform-maximum noise is no clipped normal, and is fitted as what it is: gain $gain, level $level on $count images', ({ gain, level, count }) => {
    const fit = fitNoiseModel(corrupted(count, (x, r) => x.map((v) => Math.max(Math.min(1, gain * v), level * r.next()))), levels);
    expect(fit.model).toEqual({ kind: 'maximum', gain: expect.closeTo(gain, 2), level: expect.closeTo(level, 2) });
    expect(fit.frameDistance).toBeLessThan(0.01);
    expect(fit.boxDistance).toBeLessThan(0.01);
    expect(fit.reason).toMatch(/^uniform background noise under the digit: y = max\(/);
  });

  test('the practice recipe uniform (max(digit, U(0, 1)), as its file stores it) is uniform-maximum noise at level 1 and gain 1', () => {
    const recipe = (x: Float32Array, r: ReturnType<typeof createRandom>) => {
      const out = new Float64Array(784);
      makeImage('uniform', Uint8Array.from(x, (v) => Math.round(255 * v)), 28, r, null, out);
      return Float32Array.from(out, (v) => Number(formatUnit(v)));
    };
    const fit = fitNoiseModel(corrupted(1500, recipe), levels, { digits: mnist });
    expect(fit.model).toEqual({ kind: 'maximum', gain: expect.closeTo(1, 2), level: expect.closeTo(1, 2) });
  });

  test('uniform noise too faint to matter, or correlated, is refused, Gaussian and maximum both', () => {
    const faint = fitNoiseModel(corrupted(2000, (x, r) => x.map((v) => Math.max(v, 0.1 * r.next()))), levels);
    expect(faint.model).toBeNull();
    expect(faint.reason).toMatch(/no uniform maximum either: no noise worth matching \(uniform noise on \[0, 0\.1\]/);
    const smeared = (x: Float32Array, r: ReturnType<typeof createRandom>) => {
      const u = Float32Array.from(x, () => r.next());
      return x.map((v, p) => Math.max(v, (u[p]! + u[p - (p % 28 > 0 ? 1 : 0)]! + u[p + (p % 28 < 27 ? 1 : 0)]!) / 3));
    };
    const correlated = fitNoiseModel(corrupted(2000, smeared), levels);
    expect(correlated.model).toBeNull();
    expect(correlated.reason).toMatch(/no uniform maximum either: the background is not white noise/);
  });

  test('Gaussian noise stays Gaussian (the maximum is tried only when the normal is refused)', () => {
    const fit = fitNoiseModel(corrupted(2000, gaussian(1, 0.5, 0.3)), levels);
    expect(fit.model?.kind).toBe('gaussian');
  });

  test('refuses a background whose neighbouring pixels correlate (Gaussian noise blurred along rows)', () => {
    const blurred = (x: Float32Array, r: ReturnType<typeof createRandom>) => {
      const noisy = gaussian(1, 0.3, 0.2)(x, r);
      return noisy.map((_, p) => {
        const c = p % 28;
        const a = noisy[p - (c > 0 ? 1 : 0)]!;
        const b = noisy[p + (c < 27 ? 1 : 0)]!;
        return (a + noisy[p]! + b) / 3;
      });
    };
    const fit = fitNoiseModel(corrupted(2000, blurred), levels);
    expect(fit.model).toBeNull();
    expect(fit.neighbourCorrelation).toBeGreaterThan(0.5);
    expect(fit.reason).toMatch(/not white noise/);
  });

  test('finds no noise worth matching on faintly noisy images', () => {
    const fit = fitNoiseModel(corrupted(2000, gaussian(1, 0, 0.02)), levels);
    expect(gaussianOf(fit.fitted).sigma).toBeLessThan(MIN_SIGMA);
    expect(fit.model).toBeNull();
    expect(fit.reason).toMatch(/no noise worth matching/);
  });
});

describe('fitNoiseModel on a black frame: photon noise', () => {
  const photonNoise = (photons: number, gain: number) => (x: Float32Array, random: ReturnType<typeof createRandom>) => x.map((v) => Math.min(1, poisson(photons * gain * v, random) / photons));

  test.each([
    { photons: 3, gain: 1 },
    { photons: 25, gain: 1 },
    { photons: 60, gain: 0.7 },
  ])('recovers λ $photons and gain $gain from the images alone (pixels stored as bytes)', ({ photons, gain }) => {
    const fit = fitNoiseModel(asBytes(corrupted(2000, photonNoise(photons, gain))), levels);
    expect(fit.model?.kind).toBe('poisson');
    const model = fit.model as PoissonNoiseModel;
    expect(Math.abs(model.photons - photons) / photons).toBeLessThan(0.05);
    expect(Math.abs(model.gain - gain)).toBeLessThan(0.03);
    expect(fit.boxDistance).toBeLessThan(0.02);
    expect(fit.reason).toMatch(/^photon \(shot\) noise/);
  });

  test('the practice recipe mnistc-shot-noise (MNIST-C, λ 3) is photon noise at λ 3', () => {
    const recipe = CORRUPTIONS['mnistc-shot-noise'];
    const fit = fitNoiseModel(asBytes(corrupted(1500, (x, r) => Float32Array.from(recipe.apply(Float64Array.from(x), 28, r)))), levels);
    expect(fit.model).toEqual({ kind: 'poisson', gain: expect.closeTo(1, 1), photons: expect.closeTo(3, 1) });
  });

  test('clean digits have no photon noise worth matching: the best λ is past MAX_PHOTONS', () => {
    const fit = fitNoiseModel(asBytes(corrupted(1500, (x) => x)), levels);
    expect(fit.model).toBeNull();
    expect(fit.fitted.kind).toBe('poisson');
    expect((fit.fitted as PoissonNoiseModel).photons).toBeGreaterThan(MAX_PHOTONS);
    expect(fit.reason).toMatch(/no noise worth matching/);
  });

  test('a binary edge map (mnistc-canny-edges), with no MNIST digits to compare it to, is not photon noise, though λ < 1 would fit it exactly', () => {
    const recipe = CORRUPTIONS['mnistc-canny-edges'];
    const fit = fitNoiseModel(asBytes(corrupted(1500, (x, r) => Float32Array.from(recipe.apply(Float64Array.from(x), 28, r)))), levels);
    expect(fit.model).toBeNull();
    expect((fit.fitted as PoissonNoiseModel).photons).toBeLessThan(MIN_PHOTONS);
    expect(fit.reason).toMatch(/nearly binary/);
  });
});

describe('fitNoiseModel on a black frame and a binary digit box: an edge map', () => {
  const edgesOf = (sigma: number) => (x: Float32Array) => Float32Array.from(canny(Float64Array.from(x), 28, { sigma, low: 0.1, high: 0.2 }));
  // images from rows 7k, edge maps fitted on other rows (an odd stride): no digit is in both
  test('the practice recipe mnistc-canny-edges (skimage defaults) is an edge map at σ 1', () => {
    const recipe = CORRUPTIONS['mnistc-canny-edges'];
    const fit = fitNoiseModel(asBytes(corrupted(1500, (x, r) => Float32Array.from(recipe.apply(Float64Array.from(x), 28, r)))), levels, { digits: mnist });
    expect(fit.model).toEqual({ kind: 'edges', sigma: 1, low: 0.1, high: 0.2 });
    expect(fit.boxDistance).toBeLessThan(MAX_PATTERN_DISTANCE);
    expect(fit.reason).toMatch(/^edge map \(Canny, σ 1,/);
  });

  test.each([0.5, 2])('edges made at σ %s are fitted at that σ', (sigma) => {
    const fit = fitNoiseModel(asBytes(corrupted(1500, edgesOf(sigma))), levels, { digits: mnist });
    expect(fit.model).toEqual({ kind: 'edges', sigma, low: 0.1, high: 0.2 });
  });

  test('binarised digits (filled strokes) are binary but no edge map', () => {
    const fit = fitNoiseModel(asBytes(corrupted(1500, (x) => x.map((v) => (v >= 0.5 ? 1 : 0)))), levels, { digits: mnist });
    expect(fit.model).toBeNull();
    expect(fit.fitted.kind).toBe('edges');
    expect(fit.boxDistance).toBeGreaterThan(MAX_PATTERN_DISTANCE);
    expect(fit.reason).toMatch(/binary but not an edge map/);
  });

  test('edge maps of thickened strokes (each edge pixel grown into a 2×2 block) are no edge map of MNIST digits', () => {
    const thick = (x: Float32Array) => {
      const e = edgesOf(1)(x);
      const out = new Float32Array(784);
      for (let p = 0; p < 784; p++) if (e[p]) for (const q of [p, p + 1, p + 28, p + 29]) if (q < 784) out[q] = 1;
      return out;
    };
    const fit = fitNoiseModel(asBytes(corrupted(1500, thick)), levels, { digits: mnist });
    expect(fit.model).toBeNull();
  });
});

describe('fitNoiseModel when no pixel noise fits: a blur', () => {
  const glass = (sigma: number, maxDelta: number, iterations: number) => (x: Float32Array, r: ReturnType<typeof createRandom>) =>
    Float32Array.from(glassBlur(Float64Array.from(x), 28, sigma, maxDelta, iterations, r));
  // images from rows 7k, blurs fitted on other rows (an odd stride): no digit is in both
  test('the practice recipe mnistc-glass-blur (MNIST-C: σ 0.7, swaps up to 1 px, 2 passes) is that glass blur', () => {
    const recipe = CORRUPTIONS['mnistc-glass-blur'];
    const fit = fitNoiseModel(asBytes(corrupted(1500, (x, r) => Float32Array.from(recipe.apply(Float64Array.from(x), 28, r)))), levels, { digits: mnist });
    expect(fit.model).toEqual({ kind: 'glass', sigma: 0.7, maxDelta: 1, iterations: 2 });
    expect(fit.boxDistance).toBeLessThan(MAX_BLUR_DISTANCE / 2);
    expect(fit.reason).toMatch(/^glass blur σ 0\.7, 2 passes of swaps up to 1 px \(nearest blur/);
  });

  test.each([
    { sigma: 1, maxDelta: 3, iterations: 2 },
    { sigma: 1.4, maxDelta: 1, iterations: 0 },
  ])('a blur of σ $sigma with $iterations passes of swaps up to $maxDelta px is fitted as made', (spec) => {
    const fit = fitNoiseModel(asBytes(corrupted(1500, glass(spec.sigma, spec.maxDelta, spec.iterations))), levels, { digits: mnist });
    expect(fit.model).toEqual({ kind: 'glass', ...spec });
  });

  test.each(['clean', 'mnistc-shear', 'mnistc-rotate'] as const)('%s digits are neither blurred nor motion-blurred MNIST digits', (name) => {
    const apply = name === 'clean' ? (x: Float32Array) => x : (x: Float32Array, r: ReturnType<typeof createRandom>) => Float32Array.from(CORRUPTIONS[name].apply(Float64Array.from(x), 28, r));
    const fit = fitNoiseModel(asBytes(corrupted(1500, apply)), levels, { digits: mnist });
    expect(fit.model).toBeNull();
    expect(fit.reason).toMatch(/; no noise model: the digits are not blurred MNIST digits \(pixel and neighbour-difference distance 0\.\d+ > 0\.02\)/);
    // clean digits are far from any blur, and the motion blurs are not tried; sheared and rotated digits are tried and refused
    if (name === 'clean') expect(fit.reason).toMatch(/; no noise model: no motion blur either \(the nearest blur is past 0\.13\)$/);
    else expect(fit.reason).toMatch(/; no noise model: the digits are not motion-blurred MNIST digits \(pixel and signed neighbour-difference distance 0\.\d+ > 0\.02\)/);
  });

  test.each([
    { name: 'mnistc-motion-blur', model: { kind: 'motion', profile: 'streak', extent: 3, angleDegrees: 0, spreadDegrees: 45 }, reason: /^motion blur: one-sided Gaussian streak σ 3 px at 0° ± 45° \(nearest/ },
    { name: 'nmnist-motion-blur', model: { kind: 'motion', profile: 'line', extent: 5, angleDegrees: 15, spreadDegrees: 0 }, reason: /^motion blur: a line of 5 px at 15° \(nearest/ },
  ] as const)('the practice recipe $name is its own motion blur', ({ name, model, reason }) => {
    const recipe = CORRUPTIONS[name];
    const fit = fitNoiseModel(asBytes(corrupted(1500, (x, r) => Float32Array.from(recipe.apply(Float64Array.from(x), 28, r)))), levels, { digits: mnist });
    expect(fit.model).toEqual(model);
    expect(fit.boxDistance).toBeLessThan(MAX_MOTION_DISTANCE / 2);
    expect(fit.reason).toMatch(reason);
  });

  test('without MNIST digits to blur, no blur is tried', () => {
    const fit = fitNoiseModel(asBytes(corrupted(1500, glass(0.7, 1, 2))), levels);
    expect(fit.model).toBeNull();
    expect(fit.reason).not.toMatch(/blur/);
  });
});

describe('fitNoiseModel on a black-and-white frame: impulse noise', () => {
  const impulse = (amount: number, salt: number) => (x: Float32Array, r: ReturnType<typeof createRandom>) => x.map((v) => (r.next() < amount ? (r.next() < salt ? 1 : 0) : v));

  test.each([
    { amount: 0.17, salt: 0.5 },
    { amount: 0.05, salt: 0.5 },
    { amount: 0.3, salt: 0.8 },
  ])('recovers amount $amount and salt $salt from the images alone', ({ amount, salt }) => {
    const fit = fitNoiseModel(asBytes(corrupted(2000, impulse(amount, salt))), levels);
    expect(fit.model?.kind).toBe('impulse');
    const model = fit.model as ImpulseNoiseModel;
    // the frame (black in MNIST) measures amount · salt; the amount alone comes from the digit box
    expect(Math.abs(model.amount - amount)).toBeLessThan(0.01);
    expect(Math.abs(model.amount * model.salt - amount * salt)).toBeLessThan(0.002);
    expect(fit.boxDistance).toBeLessThan(0.02);
    expect(fit.reason).toMatch(/^impulse \(salt-and-pepper\) noise/);
  });

  test('the practice recipe mnistc-impulse-noise (MNIST-C, 17%) is impulse noise at 17%, half of it white', () => {
    const recipe = CORRUPTIONS['mnistc-impulse-noise'];
    const fit = fitNoiseModel(asBytes(corrupted(1500, (x, r) => Float32Array.from(recipe.apply(Float64Array.from(x), 28, r)))), levels);
    expect(fit.model).toEqual({ kind: 'impulse', amount: expect.closeTo(0.17, 2), salt: expect.closeTo(0.5, 1) });
  });

  test('pepper alone on a black frame leaves the frame black: not impulse noise, and not photon noise either', () => {
    const fit = fitNoiseModel(asBytes(corrupted(1500, impulse(0.1, 0))), levels);
    expect(fit.fitted.kind).toBe('poisson');
    expect(fit.model).toBeNull();
  });

  test('white specks around the digits but none on them: no noise on the digits worth matching', () => {
    const box = (p: number) => Math.abs((p % 28) - 13.5) < 10 && Math.abs(Math.floor(p / 28) - 13.5) < 10;
    const fit = fitNoiseModel(asBytes(corrupted(2000, (x, r) => x.map((v, p) => (!box(p) && r.next() < 0.05 ? 1 : v)))), levels);
    expect(fit.fitted.kind).toBe('impulse');
    expect((fit.fitted as ImpulseNoiseModel).amount).toBeLessThan(MIN_IMPULSE);
    expect(fit.model).toBeNull();
    expect(fit.reason).toMatch(/no noise worth matching/);
  });

  test('white stripes across a black frame are not impulse noise (neighbouring pixels correlate)', () => {
    const fit = fitNoiseModel(asBytes(corrupted(1500, (x) => x.map((v, p) => (Math.floor(p / 28) % 7 === 0 && (p % 28) < 14 ? 1 : v)))), levels);
    expect(fit.fitted.kind).toBe('impulse');
    expect(fit.model).toBeNull();
    expect(fit.reason).toMatch(/not independent/);
  });
});

describe('synthesizeNoisyImages', () => {
  const model = { kind: 'gaussian' as const, gain: 0.5, offset: 0.25, sigma: 0.25 };

  test('impulse noise: every pixel is its source, black or white; the replaced share and its white share match the model, and the fit finds it again', () => {
    const spec: ImpulseNoiseModel = { kind: 'impulse', amount: 0.2, salt: 0.3 };
    const s = synthesizeNoisyImages(mnist, spec, 2000, 8);
    let grey = 0;
    let greyKept = 0;
    let other = 0;
    let blackFrame = 0;
    let whiteFrame = 0;
    for (let k = 0; k < s.count; k++) {
      const src = mnist.images.subarray(s.sources[k]! * 784, (s.sources[k]! + 1) * 784);
      for (let p = 0; p < 784; p++) {
        const v = s.images[k * 784 + p]!;
        if (v !== src[p] && v !== 0 && v !== 255) other++;
        if (src[p]! > 0 && src[p]! < 255) {
          grey++;
          if (v === src[p]) greyKept++;
        }
        if (src[p] === 0) {
          if (v === 0) blackFrame++;
          else if (v === 255) whiteFrame++;
        }
      }
    }
    expect(other).toBe(0);
    // grey source pixels survive with probability 1 − amount; black ones turn white with amount · salt
    expect(Math.abs(greyKept / grey - 0.8)).toBeLessThan(0.005);
    expect(Math.abs(whiteFrame / (blackFrame + whiteFrame) - 0.06)).toBeLessThan(0.003);
    const fit = fitNoiseModel({ images: s.images, labels: s.labels, count: s.count, size: 28, scale: 255 }, levels);
    expect(fit.model).toEqual({ kind: 'impulse', amount: expect.closeTo(0.2, 2), salt: expect.closeTo(0.3, 1) });
  });

  test('edge maps: every image is the Canny edge map of its source, 0 or 255, and the fit finds the model again', () => {
    const spec: EdgeMapModel = { kind: 'edges', sigma: 1.5, low: 0.1, high: 0.2 };
    const s = synthesizeNoisyImages(mnist, spec, 600, 8);
    for (let k = 0; k < s.count; k += 37) {
      const src = Float64Array.from(mnist.images.subarray(s.sources[k]! * 784, (s.sources[k]! + 1) * 784), (v) => v / 255);
      const expected = canny(src, 28, spec);
      expect(Array.from(s.images.subarray(k * 784, (k + 1) * 784))).toEqual(Array.from(expected, (v) => 255 * v));
      expect(s.labels[k]).toBe(mnist.labels[s.sources[k]!]);
    }
    const fit = fitNoiseModel({ images: s.images, labels: s.labels, count: s.count, size: 28, scale: 255 }, levels, { digits: mnist });
    expect(fit.model).toEqual(spec);
  });

  test('blurs: every image is its source blurred (its ink kept, its pixels spread), and the fit finds the model again', () => {
    const spec: GlassBlurModel = { kind: 'glass', sigma: 0.9, maxDelta: 2, iterations: 2 };
    const s = synthesizeNoisyImages(mnist, spec, 1500, 8);
    for (let k = 0; k < s.count; k += 37) {
      const src = mnist.images.subarray(s.sources[k]! * 784, (s.sources[k]! + 1) * 784);
      const image = s.images.subarray(k * 784, (k + 1) * 784);
      let ink = 0;
      let blurredInk = 0;
      let lit = 0;
      let blurredLit = 0;
      for (let p = 0; p < 784; p++) {
        ink += src[p]!;
        blurredInk += image[p]!;
        if (src[p]! > 0) lit++;
        if (image[p]! > 0) blurredLit++;
      }
      expect(Math.abs(blurredInk - ink) / ink).toBeLessThan(0.05);
      expect(blurredLit).toBeGreaterThan(1.3 * lit);
      expect(s.labels[k]).toBe(mnist.labels[s.sources[k]!]);
    }
    const fit = fitNoiseModel({ images: s.images, labels: s.labels, count: s.count, size: 28, scale: 255 }, levels, { digits: mnist });
    expect(fit.model).toEqual(spec);
  });

  test('uniform-maximum noise: every pixel is the brighter of its source and a draw spread evenly under the level, and the fit finds the model again', () => {
    const spec: MaximumNoiseModel = { kind: 'maximum', gain: 0.9, level: 0.7 };
    const s = synthesizeNoisyImages(mnist, spec, 1500, 8);
    let below = 0;
    let frame = 0;
    let frameSum = 0;
    let inkKept = 0;
    let ink = 0;
    for (let k = 0; k < s.count; k++) {
      const src = mnist.images.subarray(s.sources[k]! * 784, (s.sources[k]! + 1) * 784);
      for (let p = 0; p < 784; p++) {
        const v = s.images[k * 784 + p]!;
        // (0.9 · x lands on halves, where the two roundings may differ by one)
        const x = Math.round(0.9 * src[p]!);
        if (v < x - 1) below++;
        if (src[p] === 0) {
          frame++;
          frameSum += v / 255;
        }
        if (x > 0.7 * 255) {
          ink++;
          if (Math.abs(v - x) <= 1) inkKept++;
        }
      }
    }
    // never darker than the source (up to rounding), ink above the level kept, the background's mean a/2
    expect(below).toBe(0);
    expect(inkKept).toBe(ink);
    expect(Math.abs(frameSum / frame - 0.35)).toBeLessThan(0.003);
    const fit = fitNoiseModel({ images: s.images, labels: s.labels, count: s.count, size: 28, scale: 255 }, levels);
    expect(fit.model).toEqual({ kind: 'maximum', gain: expect.closeTo(0.9, 2), level: expect.closeTo(0.7, 2) });
  });

  test('motion blurs: every image is its source streaked as the model says', () => {
    const spec: MotionBlurModel = { kind: 'motion', profile: 'line', extent: 9, angleDegrees: 120, spreadDegrees: 0 };
    const s = synthesizeNoisyImages(mnist, spec, 300, 8);
    for (let k = 0; k < s.count; k += 7) {
      const src = mnist.images.subarray(s.sources[k]! * 784, (s.sources[k]! + 1) * 784);
      const expected = motionBlurDigit(spec, src, 28, createRandom(0));
      expect(Array.from(s.images.subarray(k * 784, (k + 1) * 784))).toEqual(Array.from(expected, (v) => Math.round(255 * v)));
      expect(s.labels[k]).toBe(mnist.labels[s.sources[k]!]);
    }
  });

  test('distinct MNIST train images with their own labels, the same for the same seed', () => {
    const a = synthesizeNoisyImages(mnist, model, 500, 9);
    const b = synthesizeNoisyImages(mnist, model, 500, 9);
    const c = synthesizeNoisyImages(mnist, model, 500, 10);
    expect(a.count).toBe(500);
    expect(new Set(a.sources).size).toBe(500);
    a.sources.forEach((s, k) => expect(a.labels[k]).toBe(mnist.labels[s]));
    expect(Buffer.from(a.images).equals(Buffer.from(b.images))).toBe(true);
    expect(Buffer.from(a.images).equals(Buffer.from(c.images))).toBe(false);
  });

  test("pixels follow the model: the frame's mean is E[clip(offset + σz)], and the fit finds the model again", () => {
    const s = synthesizeNoisyImages(mnist, model, 3000, 4);
    let sum = 0;
    let n = 0;
    for (let k = 0; k < s.count; k++) {
      for (let p = 0; p < 784; p++) {
        const y = Math.floor(p / 28);
        const x = p % 28;
        if (y < 3 || y >= 25 || x < 3 || x >= 25) {
          sum += s.images[k * 784 + p]! / 255;
          n++;
        }
      }
    }
    // E[clip(μ + σz, 0, 1)] for μ = 0.25, σ = 0.25, computed here by its own integral
    const mu = 0.25;
    const sigma = 0.25;
    let expected = 0;
    const steps = 20000;
    for (let i = 0; i < steps; i++) {
      const y0 = i / steps;
      const y1 = (i + 1) / steps;
      expected += ((y0 + y1) / 2) * (normalCdf(y1, mu, sigma) - normalCdf(y0, mu, sigma));
    }
    expected += 1 - normalCdf(1, mu, sigma);
    expect(Math.abs(sum / n - expected)).toBeLessThan(0.003);
    const fit = fitNoiseModel({ images: s.images, labels: s.labels, count: s.count, size: 28, scale: 255 }, levels);
    expect(Math.abs(gaussianOf(fit.model).gain - 0.5)).toBeLessThan(0.03);
    expect(Math.abs(gaussianOf(fit.model).sigma - 0.25)).toBeLessThan(0.01);
  });

  test('photon noise: pixels lie on the counts k/λ, black stays black, full-intensity pixels average E[min(1, K/λ)], and the fit finds the model again', () => {
    const photon: PoissonNoiseModel = { kind: 'poisson', gain: 1, photons: 5 };
    const s = synthesizeNoisyImages(mnist, photon, 2000, 6);
    // round(255 · min(1, k/5)) for k = 0…5
    const lattice = new Set([0, 51, 102, 153, 204, 255]);
    let offLattice = 0;
    let litFromBlack = 0;
    let full = 0;
    let fullSum = 0;
    for (let k = 0; k < s.count; k++) {
      const src = mnist.images.subarray(s.sources[k]! * 784, (s.sources[k]! + 1) * 784);
      for (let p = 0; p < 784; p++) {
        const v = s.images[k * 784 + p]!;
        if (!lattice.has(v)) offLattice++;
        if (src[p] === 0 && v !== 0) litFromBlack++;
        if (src[p] === 255) {
          full++;
          fullSum += v / 255;
        }
      }
    }
    expect(offLattice).toBe(0);
    expect(litFromBlack).toBe(0);
    // E[min(1, K/5)], K ~ Poisson(5), summed here term by term
    let expected = 0;
    let pk = Math.exp(-5);
    let below = 0;
    for (let k = 0; k < 5; k++) {
      expected += pk * (k / 5);
      below += pk;
      pk *= 5 / (k + 1);
    }
    expected += 1 - below;
    expect(full).toBeGreaterThan(10_000);
    expect(Math.abs(fullSum / full - expected)).toBeLessThan(0.005);
    const fit = fitNoiseModel({ images: s.images, labels: s.labels, count: s.count, size: 28, scale: 255 }, levels);
    expect(fit.model).toEqual({ kind: 'poisson', gain: expect.closeTo(1, 1), photons: expect.closeTo(5, 1) });
  });
});
