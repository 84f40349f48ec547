/**
 * `digits data practice --preview <png>`: one row per practice recipe, the first test rows
 * of each competition as the recipe writes them (same seed, same t10k digits in every row),
 * drawn upright, with the recipe's name on the left; like the figures of the MNIST-C and
 * n-MNIST papers. No competition is written.
 */
import { PNG } from 'pngjs';
import { UserError } from '../errors.js';
import { FONT, assertPngName, writePngFile } from './inspect.js';
import { readMnist } from './mnist.js';
import { MNIST_TEST_COUNT, PRACTICE_RECIPE_SPECS, type PracticeRecipe, makeImage, practiceSourceIndices } from './practice.js';
import { createRandom, deriveSeed } from './random.js';

export interface PracticePreviewOptions {
  recipes: readonly PracticeRecipe[];
  /** Test rows shown per recipe (the first ones of test.csv). */
  count: number;
  seed: number;
  /** Screen pixels per image pixel. */
  zoom?: number;
}

export interface PracticePreview {
  png: Buffer;
  recipes: PracticeRecipe[];
  /** The t10k images shown, in column order. */
  sourceIndices: number[];
  width: number;
  height: number;
}

/** The upright images (values in [0, 1]) of the first `count` test rows of each recipe. */
export async function practicePreviewImages(options: PracticePreviewOptions): Promise<{ images: Float64Array[][]; sourceIndices: number[]; size: number }> {
  if (!Number.isInteger(options.count) || options.count < 1 || options.count > MNIST_TEST_COUNT) {
    throw new UserError(`the preview shows 1 to ${MNIST_TEST_COUNT} digits per recipe, not ${options.count}`, { where: { flag: 'test' }, hint: 'For example --test 8.' });
  }
  const t10k = await readMnist('test');
  const n = t10k.rows;
  const pixels = n * t10k.cols;
  const sources = Array.from(practiceSourceIndices('test', options.count, options.seed));
  const images = options.recipes.map((recipe) =>
    sources.map((source, row) => {
      const out = new Float64Array(pixels);
      const digit = t10k.images.subarray(source * pixels, (source + 1) * pixels);
      makeImage(recipe, digit, n, createRandom(deriveSeed(options.seed, 'practice', 'test', row)), PRACTICE_RECIPE_SPECS[recipe].defaultSigma, out);
      return out;
    }),
  );
  return { images, sourceIndices: sources, size: n };
}

export async function renderPracticePreview(options: PracticePreviewOptions): Promise<PracticePreview> {
  const { images, sourceIndices, size } = await practicePreviewImages(options);
  const zoom = options.zoom ?? 3;
  const font = 2;
  const gap = 2 * zoom;
  const tile = size * zoom;
  const longest = Math.max(...options.recipes.map((name) => name.length));
  const labelWidth = longest * 4 * font + 2 * gap;
  const width = labelWidth + options.count * (tile + gap) + gap;
  const height = gap + options.recipes.length * (tile + gap);
  const data = Buffer.alloc(width * height, 40);
  const set = (x: number, y: number, grey: number) => {
    if (x >= 0 && x < width && y >= 0 && y < height) data[y * width + x] = grey;
  };
  options.recipes.forEach((recipe, row) => {
    const top = gap + row * (tile + gap);
    const textTop = top + Math.floor((tile - 5 * font) / 2);
    [...recipe].forEach((char, position) => {
      FONT[char]?.forEach((line, gy) =>
        [...line].forEach((cell, gx) => {
          if (cell !== '#') return;
          for (let dy = 0; dy < font; dy++) for (let dx = 0; dx < font; dx++) set(gap + (position * 4 + gx) * font + dx, textTop + gy * font + dy, 255);
        }),
      );
    });
    images[row].forEach((image, column) => {
      const left = labelWidth + column * (tile + gap);
      for (let y = 0; y < size; y++) {
        for (let x = 0; x < size; x++) {
          const grey = Math.round(Math.min(1, Math.max(0, image[y * size + x])) * 255);
          for (let dy = 0; dy < zoom; dy++) for (let dx = 0; dx < zoom; dx++) set(left + x * zoom + dx, top + y * zoom + dy, grey);
        }
      }
    });
  });
  const png = new PNG({ width, height, colorType: 0, inputColorType: 0, bitDepth: 8, inputHasAlpha: false });
  png.data = data;
  return {
    png: PNG.sync.write(png, { colorType: 0, inputColorType: 0, inputHasAlpha: false, bitDepth: 8 }),
    recipes: [...options.recipes],
    sourceIndices,
    width,
    height,
  };
}

export async function writePracticePreview(file: string, options: PracticePreviewOptions): Promise<PracticePreview> {
  assertPngName(file, 'preview', 'recipes.png');
  const preview = await renderPracticePreview(options);
  await writePngFile(file, preview.png, 'preview');
  return preview;
}
