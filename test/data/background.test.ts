import { expect, test } from 'vitest';
import { profileBackground } from '../../src/data/background.js';
import { createRandom } from '../../src/data/random.js';

function images(count: number, noise: (r: ReturnType<typeof createRandom>) => number) {
  const rnd = createRandom(1);
  const px = new Float32Array(count * 784);
  for (let i = 0; i < count; i++) {
    for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) {
      const ink = y >= 8 && y < 20 && x >= 12 && x < 16 ? 1 : 0;
      px[i * 784 + y * 28 + x] = Math.max(ink, noise(rnd));
    }
  }
  return { images: px, labels: new Uint8Array(count), count, size: 28, scale: 1 as const };
}

test.each([
  ['clean digits', () => 0, false],
  ['uniform background noise max(x, U(0,1))', (r: ReturnType<typeof createRandom>) => r.next(), true],
  ['sparse impulse noise (10% of pixels)', (r: ReturnType<typeof createRandom>) => (r.next() < 0.1 ? 1 : 0), true],
  ['faint stray pixels (0.2%)', (r: ReturnType<typeof createRandom>) => (r.next() < 0.002 ? 0.5 : 0), false],
])('%s', (_name, noise, noisy) => {
  const profile = profileBackground(images(50, noise));
  expect(profile.noisy).toBe(noisy);
  expect(profile.reason).toMatch(noisy ? /^noisy background/ : /^clean background/);
});
