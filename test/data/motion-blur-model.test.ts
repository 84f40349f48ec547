/**
 * The motion-blur family's kernels: the fit's fast blur (ink spread from each inked pixel) makes
 * the same images as the recipes' own motion blurs (MNIST-C's streak, n-MNIST's line), which
 * the synthetic rows use, on real MNIST digits; a spread draws one direction per image.
 */
import { beforeAll, describe, expect, test } from 'vitest';
import { motionBlur } from '../../src/data/corruptions/mnist-c.js';
import { linearMotionBlur } from '../../src/data/corruptions/n-mnist.js';
import { readMnist, type MnistSet } from '../../src/data/mnist.js';
import { describeMotionBlur, motionBlurDigit, motionBlurDigitFast, type MotionBlurModel, streakRadius } from '../../src/data/motion-blur-model.js';
import { createRandom } from '../../src/data/random.js';

let mnist: MnistSet;
beforeAll(async () => {
  mnist = await readMnist('train');
});

const digit = (i: number) => mnist.images.subarray(i * 784, (i + 1) * 784);
/** Whether a digit's outermost ring of pixels is blank (there the streak repeats the border pixel, which the fast blur does not). */
const blankRing = (d: Uint8Array) => {
  for (let k = 0; k < 28; k++) if (d[k] || d[27 * 28 + k] || d[k * 28] || d[k * 28 + 27]) return false;
  return true;
};

describe('motion-blur kernels', () => {
  test('MNIST-C’s pair: σ 3 has radius 10', () => {
    expect(streakRadius(3)).toBe(10);
    expect(streakRadius(1.5)).toBe(5);
  });

  test.each<MotionBlurModel>([
    { kind: 'motion', profile: 'streak', extent: 3, angleDegrees: 0, spreadDegrees: 45 },
    { kind: 'motion', profile: 'streak', extent: 4.5, angleDegrees: 200, spreadDegrees: 90 },
    { kind: 'motion', profile: 'line', extent: 5, angleDegrees: 15, spreadDegrees: 0 },
    { kind: 'motion', profile: 'line', extent: 8, angleDegrees: 100, spreadDegrees: 22.5 },
  ])('the fast blur is the recipe’s blur on 300 MNIST digits: $profile $extent at $angleDegrees ± $spreadDegrees', (model) => {
    const exactRandom = createRandom(5);
    const fastRandom = createRandom(5);
    const out = new Float64Array(784);
    let compared = 0;
    for (let i = 0; i < 300; i++) {
      const exact = motionBlurDigit(model, digit(i), 28, exactRandom);
      motionBlurDigitFast(model, digit(i), 28, fastRandom, out);
      if (model.profile === 'streak' && !blankRing(digit(i))) continue;
      compared++;
      for (let p = 0; p < 784; p++) expect(Math.abs(out[p]! - exact[p]!)).toBeLessThanOrEqual(1.01 / 255);
    }
    expect(compared).toBeGreaterThan(280);
  });

  test('without a spread the recipe’s own functions make the image; with one, each image draws its direction', () => {
    const streak: MotionBlurModel = { kind: 'motion', profile: 'streak', extent: 3, angleDegrees: 30, spreadDegrees: 0 };
    const line: MotionBlurModel = { kind: 'motion', profile: 'line', extent: 5, angleDegrees: 15, spreadDegrees: 0 };
    const x = Float64Array.from(digit(3), (v) => v / 255);
    expect(Array.from(motionBlurDigit(streak, digit(3), 28, createRandom(1)))).toEqual(Array.from(motionBlur(x, 28, 10, 3, 30), (v) => Math.round(255 * v) / 255));
    expect(Array.from(motionBlurDigit(line, digit(3), 28, createRandom(1)))).toEqual(Array.from(linearMotionBlur(x, 28, 5, 15), (v) => Math.round(255 * v) / 255));
    const spread: MotionBlurModel = { ...streak, spreadDegrees: 45 };
    const random = createRandom(2);
    const a = motionBlurDigit(spread, digit(3), 28, random);
    const b = motionBlurDigit(spread, digit(3), 28, random);
    expect(Array.from(a)).not.toEqual(Array.from(b));
  });

  test('the model in words', () => {
    expect(describeMotionBlur({ kind: 'motion', profile: 'streak', extent: 3, angleDegrees: 0, spreadDegrees: 45 })).toBe('motion blur: one-sided Gaussian streak σ 3 px at 0° ± 45°');
    expect(describeMotionBlur({ kind: 'motion', profile: 'line', extent: 5, angleDegrees: 15, spreadDegrees: 0 })).toBe('motion blur: a line of 5 px at 15°');
  });
});
