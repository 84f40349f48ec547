import { describe, expect, test } from 'vitest';
import { ORIENTATIONS, type Orientation, applyOrientation, detectOrientation, inverseOrientation } from '../../src/data/orientation.js';

// 3×3 image, values name their position:
// 1 2 3
// 4 5 6
// 7 8 9
const image = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]);

describe('applyOrientation', () => {
  const cases: Array<[Orientation, number[]]> = [
    ['as-is', [1, 2, 3, 4, 5, 6, 7, 8, 9]],
    ['transpose', [1, 4, 7, 2, 5, 8, 3, 6, 9]],
    ['flip-h', [3, 2, 1, 6, 5, 4, 9, 8, 7]],
    ['flip-v', [7, 8, 9, 4, 5, 6, 1, 2, 3]],
    ['rot90', [3, 6, 9, 2, 5, 8, 1, 4, 7]], // numpy.rot90: counter-clockwise
    ['rot180', [9, 8, 7, 6, 5, 4, 3, 2, 1]],
    ['rot270', [7, 4, 1, 8, 5, 2, 9, 6, 3]],
    ['transpose-anti', [9, 6, 3, 8, 5, 2, 7, 4, 1]],
  ];

  test.each(cases)('%s', (orientation, expected) => {
    expect(Array.from(applyOrientation(image, 3, orientation))).toEqual(expected);
  });

  test('covers every orientation, each a different permutation', () => {
    expect(cases.map(([name]) => name).sort()).toEqual([...ORIENTATIONS].sort());
    expect(new Set(cases.map(([, values]) => values.join())).size).toBe(ORIENTATIONS.length);
  });

  test.each(ORIENTATIONS.map((o) => [o]))('%s is undone by its inverse, on every image of a float batch', (orientation) => {
    const batch = Float32Array.from({ length: 4 * 16 }, (_, i) => i / 64);
    const turned = applyOrientation(batch, 4, orientation);
    expect(turned).toBeInstanceOf(Float32Array);
    expect(Array.from(applyOrientation(turned, 4, inverseOrientation(orientation)))).toEqual(Array.from(batch));
  });

  test('composes like the square’s symmetries', () => {
    const twice = (o: Orientation) => applyOrientation(applyOrientation(image, 3, o), 3, o);
    expect(Array.from(twice('rot90'))).toEqual(Array.from(applyOrientation(image, 3, 'rot180')));
    expect(Array.from(applyOrientation(applyOrientation(image, 3, 'transpose'), 3, 'flip-h'))).toEqual(Array.from(applyOrientation(image, 3, 'rot270')));
    for (const o of ['transpose', 'flip-h', 'flip-v', 'rot180', 'transpose-anti'] as const) expect(Array.from(twice(o))).toEqual(Array.from(image));
  });

  test('does not change its input and rejects partial images', () => {
    const copy = image.slice();
    applyOrientation(image, 3, 'rot90');
    expect(image).toEqual(copy);
    expect(() => applyOrientation(new Uint8Array(10), 3, 'as-is')).toThrow(RangeError);
  });
});

describe('detectOrientation', () => {
  test('without a scorer (no clean-MNIST checkpoint yet) it answers as-is with confidence null', async () => {
    const detection = await detectOrientation({ images: image, size: 3, scale: 255 });
    expect(detection).toMatchObject({ orientation: 'as-is', confidence: null, note: 'no clean-MNIST checkpoint yet' });
  });

  test('with a scorer it picks the orientation the scorer likes best', async () => {
    // A scorer that likes images whose top-left pixel is the largest: the stored image is upright after rot180.
    const scorer = (images: Float32Array) => images[0];
    const detection = await detectOrientation({ images: image, size: 3, scale: 255 }, scorer);
    expect(['rot180', 'transpose-anti']).toContain(detection.orientation); // both move 9 to the top-left
    expect(detection.scores['as-is']).toBeCloseTo(1 / 255);
    expect(detection.confidence).toBe(0);
  });
});
