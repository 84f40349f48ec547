import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PNG } from 'pngjs';
import { afterAll, describe, expect, test } from 'vitest';
import DataPractice from '../../src/commands/data/practice.js';
import { CORRUPTIONS } from '../../src/data/corruptions/index.js';
import { readMnist } from '../../src/data/mnist.js';
import { PRACTICE_RECIPES } from '../../src/data/practice.js';
import { practicePreviewImages, renderPracticePreview } from '../../src/data/practice-preview.js';
import { createRandom, deriveSeed } from '../../src/data/random.js';
import { runCommand } from '../helpers/run-command.js';
import { removeTempDirs, tempDir } from './helpers.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
afterAll(removeTempDirs);

describe('digits data practice --preview', () => {
  test('the preview shows the first test rows of each recipe, upright, the same t10k digits in every row', async () => {
    // Given the clean and motion-blur recipes
    const { images, sourceIndices } = await practicePreviewImages({ recipes: ['clean', 'mnistc-motion-blur'], count: 3, seed: 5 });
    const t10k = await readMnist('test');
    // Then the clean row is the t10k digits and the blurred row their corruption with each test row's stream
    sourceIndices.forEach((source, column) => {
      const digit = Float64Array.from(t10k.images.subarray(source * 784, (source + 1) * 784), (v) => v / 255);
      expect(Array.from(images[0][column])).toEqual(Array.from(digit));
      const blurred = CORRUPTIONS['mnistc-motion-blur'].apply(digit, 28, createRandom(deriveSeed(5, 'practice', 'test', column)));
      expect(Array.from(images[1][column])).toEqual(Array.from(blurred));
    });
  });

  test('the PNG has one row per recipe and one tile per digit', async () => {
    const preview = await renderPracticePreview({ recipes: ['clean', 'uniform', 'mnistc-stripe'], count: 4, seed: 1, zoom: 2 });
    const png = PNG.sync.read(preview.png);
    expect([png.width, png.height]).toEqual([preview.width, preview.height]);
    // gap 4, tiles 56: three rows
    expect(preview.height).toBe(4 + 3 * (56 + 4));
    expect(preview.sourceIndices).toHaveLength(4);
  });

  test('as a user runs it: every recipe in the file, nothing else written', async () => {
    const dir = await tempDir();
    const file = join(dir, 'recipes.png');
    const result = await runCommand(DataPractice, ['--preview', file, '--test', '2', '--json'], root);
    expect(result.exit).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.recipes).toEqual([...PRACTICE_RECIPES]);
    const png = PNG.sync.read(await readFile(file));
    expect(png.height).toBe(report.height);
    expect(png.height).toBeGreaterThan(PRACTICE_RECIPES.length * 28);
    expect(await readdir(dir)).toEqual(['recipes.png']);
  });

  test('with --recipe, the preview draws that recipe alone (it was ignored: every recipe was drawn)', async () => {
    const dir = await tempDir();
    const file = join(dir, 'gaussian.png');
    const result = await runCommand(DataPractice, ['--preview', file, '--recipe', 'gaussian', '--test', '3', '--json'], root);
    expect(result.exit).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.recipes).toEqual(['gaussian']);
    expect(report.sourceIndices).toHaveLength(3);
    // one row of tiles: the PNG as high as one recipe's preview
    const png = PNG.sync.read(await readFile(file));
    expect(png.height).toBe((await renderPracticePreview({ recipes: ['gaussian'], count: 3, seed: 1 })).height);
    // and its text says so
    const text = await runCommand(DataPractice, ['--preview', file, '--recipe', 'gaussian', '--test', '3'], root);
    expect(text.stdout).toMatch(/^Wrote .*gaussian\.png: the gaussian recipe × 3 t10k digits/);
  });
});
