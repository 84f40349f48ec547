/**
 * The corruption recipes of `digits data practice`: the MNIST-C suite (`mnistc-*`, Mu &
 * Gilmer 2019, at the severities of its released dataset) and the n-MNIST variants
 * (`nmnist-*`, Basu et al. 2015). Each applies to one upright image in [0, 1] and draws what
 * it randomises (directions, angles, noise, line rows) from the `Random` it is given, which
 * practice.ts seeds per row: the same seed gives the same competition on every machine.
 * MNIST-C and n-MNIST corrupt training and test images alike, and so do these recipes.
 */
import type { Random } from '../random.js';
import {
  MNIST_C_SEVERITY as S,
  brightness,
  cannyEdges,
  dottedLine,
  fog,
  glassBlur,
  impulseNoise,
  motionBlur,
  randomSign,
  rotate,
  scale,
  shear,
  shotNoise,
  spatter,
  stripe,
  translate,
  zigzag,
} from './mnist-c.js';
import { N_MNIST_PARAMETERS as N, awgn, linearMotionBlur, reduceContrast } from './n-mnist.js';

export const CORRUPTION_RECIPES = [
  'mnistc-shot-noise',
  'mnistc-impulse-noise',
  'mnistc-glass-blur',
  'mnistc-motion-blur',
  'mnistc-shear',
  'mnistc-scale',
  'mnistc-rotate',
  'mnistc-brightness',
  'mnistc-translate',
  'mnistc-stripe',
  'mnistc-fog',
  'mnistc-spatter',
  'mnistc-dotted-line',
  'mnistc-zigzag',
  'mnistc-canny-edges',
  'nmnist-awgn',
  'nmnist-motion-blur',
  'nmnist-contrast-awgn',
] as const;
export type CorruptionRecipe = (typeof CORRUPTION_RECIPES)[number];

export interface CorruptionSpec {
  name: CorruptionRecipe;
  family: 'MNIST-C' | 'n-MNIST';
  summary: string;
  /** The fixed parameters, as recorded in the answer key. */
  parameters: Readonly<Record<string, unknown>>;
  /** The corrupted image (a new array, values in [0, 1]) of an upright n×n image in [0, 1]. */
  apply(image: Float64Array, n: number, random: Random): Float64Array;
}

const mnistC = (name: CorruptionRecipe, summary: string, parameters: Record<string, unknown>, apply: CorruptionSpec['apply']): CorruptionSpec => ({
  name,
  family: 'MNIST-C',
  summary: `MNIST-C ${summary}`,
  parameters,
  apply,
});
const nMnist = (name: CorruptionRecipe, summary: string, parameters: Record<string, unknown>, apply: CorruptionSpec['apply']): CorruptionSpec => ({
  name,
  family: 'n-MNIST',
  summary: `n-MNIST ${summary}`,
  parameters,
  apply,
});

export const CORRUPTIONS: Record<CorruptionRecipe, CorruptionSpec> = {
  'mnistc-shot-noise': mnistC('mnistc-shot-noise', 'shot noise: Poisson(λx)/λ, λ = 3', S.shotNoise, (x, _n, random) => shotNoise(x, S.shotNoise.lambda, random)),
  'mnistc-impulse-noise': mnistC('mnistc-impulse-noise', 'impulse (salt-and-pepper) noise on 17% of the pixels', S.impulseNoise, (x, _n, random) =>
    impulseNoise(x, S.impulseNoise.amount, random),
  ),
  'mnistc-glass-blur': mnistC('mnistc-glass-blur', 'glass blur: Gaussian σ 0.7, local pixel swaps (δ 1, 2 passes), Gaussian again', S.glassBlur, (x, n, random) =>
    glassBlur(x, n, S.glassBlur.sigma, S.glassBlur.maxDelta, S.glassBlur.iterations, random),
  ),
  'mnistc-motion-blur': mnistC('mnistc-motion-blur', 'motion blur: one-sided Gaussian streak, radius 10, σ 3, angle in ±45°', S.motionBlur, (x, n, random) =>
    motionBlur(x, n, S.motionBlur.radius, S.motionBlur.sigma, random.uniform(-S.motionBlur.maxAngleDegrees, S.motionBlur.maxAngleDegrees)),
  ),
  'mnistc-shear': mnistC('mnistc-shear', 'shear of ±0.4 rad about the centre', S.shear, (x, n, random) => shear(x, n, S.shear.shear * randomSign(random))),
  'mnistc-scale': mnistC('mnistc-scale', 'scale: the digit shrunk to 0.7 about the centre', S.scale, (x, n) => scale(x, n, S.scale.factor)),
  'mnistc-rotate': mnistC('mnistc-rotate', 'rotation by ±0.4 rad (±22.9°) about the centre', S.rotate, (x, n, random) => rotate(x, n, S.rotate.radians * randomSign(random))),
  'mnistc-brightness': mnistC('mnistc-brightness', 'brightness: every pixel + 0.5, clipped', S.brightness, (x) => brightness(x, S.brightness.add)),
  'mnistc-translate': mnistC('mnistc-translate', 'translation by ±3 px along each axis', S.translate, (x, n, random) =>
    translate(x, n, S.translate.pixels * randomSign(random), S.translate.pixels * randomSign(random)),
  ),
  'mnistc-stripe': mnistC('mnistc-stripe', 'stripe: the 7 leftmost and 7 rightmost columns inverted', S.stripe, (x, n) => stripe(x, n, S.stripe.width)),
  'mnistc-fog': mnistC('mnistc-fog', 'fog: plasma fractal (diamond-square) of strength 3, decay 1.4', S.fog, (x, n, random) =>
    fog(x, n, S.fog.strength, S.fog.decay, S.fog.mapSize, random),
  ),
  'mnistc-spatter': mnistC('mnistc-spatter', 'spatter: grey mud blotches from a thresholded, blurred liquid layer', S.spatter, (x, n, random) => spatter(x, n, S.spatter, random)),
  'mnistc-dotted-line': mnistC('mnistc-dotted-line', 'dotted line across the image between random rows', S.dottedLine, (x, n, random) =>
    dottedLine(x, n, random.int(n - 1), random.int(n - 1), S.dottedLine.dash),
  ),
  'mnistc-zigzag': mnistC('mnistc-zigzag', 'zigzag line across the image at a random row and tilt', S.zigzag, (x, n, random) => {
    const r0 = random.int(n - 1);
    return zigzag(x, n, r0, r0 + random.int(2 * S.zigzag.maxTilt) - S.zigzag.maxTilt, S.zigzag);
  }),
  'mnistc-canny-edges': mnistC('mnistc-canny-edges', 'Canny edges (σ 1, thresholds 0.1 and 0.2) instead of the digit', { ...S.canny }, (x, n) => cannyEdges(x, n)),
  'nmnist-awgn': nMnist('nmnist-awgn', 'additive white Gaussian noise at SNR 9.5 dB (σ 0.335)', N.awgn, (x, _n, random) => awgn(x, N.awgn.snrDb, random)),
  'nmnist-motion-blur': nMnist('nmnist-motion-blur', 'linear motion blur of 5 px at 15°', N.motionBlur, (x, n) => linearMotionBlur(x, n, N.motionBlur.length, N.motionBlur.angleDegrees)),
  'nmnist-contrast-awgn': nMnist('nmnist-contrast-awgn', 'contrast halved about mid-grey, then additive white Gaussian noise at SNR 12 dB (σ 0.251)', N.contrastAwgn, (x, _n, random) =>
    awgn(reduceContrast(x, N.contrastAwgn.contrast), N.contrastAwgn.snrDb, random),
  ),
};

export function isCorruptionRecipe(name: string): name is CorruptionRecipe {
  return (CORRUPTION_RECIPES as readonly string[]).includes(name);
}
