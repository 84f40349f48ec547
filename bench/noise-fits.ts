/**
 * `node --import tsx bench/noise-fits.ts [recipe …]`: fits auto's noise model
 * (src/data/noise-model.ts) to the training rows of every practice recipe (or those named),
 * 3,000 rows each at seed 42 as `digits data practice` writes them, and prints one line per
 * recipe: the model it accepts (or none), the time the fit took, and its reason. It shows
 * which competitions get synthetic rows, and that the families refuse what they do not model.
 */
import { readMnist } from '../src/data/mnist.js';
import { fitNoiseModel, mnistBoxLevels } from '../src/data/noise-model.js';
import { practiceRows, PRACTICE_RECIPES } from '../src/data/practice.js';

const ROWS = 3000;

const mnist = await readMnist('train');
const levels = mnistBoxLevels(mnist);
const only = process.argv.slice(2);
for (const recipe of PRACTICE_RECIPES) {
  if (only.length > 0 && !only.includes(recipe)) continue;
  const rows = [...practiceRows({ recipe, split: 'train', count: ROWS, seed: 42, sigma: recipe === 'gaussian' ? 0.3 : null }, mnist)].slice(0, ROWS);
  // integer layouts write 0–255, float layouts [0, 1]
  const float = rows.some((r) => Array.from(r.values).some((v) => !Number.isInteger(v)));
  const images = new Float32Array(rows.length * 784);
  const labels = new Uint8Array(rows.length);
  rows.forEach((row, k) => {
    for (let p = 0; p < 784; p++) images[k * 784 + p] = float ? row.values[p]! : row.values[p]! / 255;
    labels[k] = row.label;
  });
  const started = Date.now();
  const fit = fitNoiseModel({ images, labels, count: rows.length, size: 28, scale: 1 }, levels, { digits: mnist });
  process.stdout.write(`${recipe.padEnd(22)} ${fit.model ? JSON.stringify(fit.model) : 'none'} (${Date.now() - started} ms): ${fit.reason}\n`);
}
