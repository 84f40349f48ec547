/**
 * `node --import tsx bench/checkpoints.ts [--recipe uniform] [--draws 2] <checkpoint>[,<checkpoint>…] …`:
 * scores checkpoints as they are, each alone and the soft vote of each comma-separated group, on
 * MNIST train digits that no shipped checkpoint trained on, corrupted by a practice recipe.
 *
 * The rows are the 5,002 validation rows every shipped checkpoint and sibling held out
 * (pretrain's `holdout` with `--holdout-seed 42`), each corrupted `--draws` times with fresh
 * random streams (seeded by the draw and the row, none of them the streams pretraining
 * validated on), and rounded to 7 decimals as a float practice file is. Pretraining chose each
 * checkpoint's best epoch on one fixed noise draw of those rows, so its recorded `valLoss`
 * leans towards that draw; fresh draws do not. It measured the noisy siblings of session 46
 * (README, "Shipped checkpoints"). MNIST t10k is never read.
 *
 * Prints a JSON line per checkpoint and per group: rows, log-loss and accuracy.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createRandom, deriveSeed } from '../src/data/random.js';
import { readMnist } from '../src/data/mnist.js';
import { makeImage, PRACTICE_RECIPES, type PracticeRecipe } from '../src/data/practice.js';
import { initEngine } from '../src/engine/backend.js';
import { loadCheckpoint } from '../src/model/checkpoint.js';
import { fromSpec } from '../src/model/preprocess.js';
import { lossAndAccuracy, predictRows } from '../src/training/validation.js';
import type { ImageSet } from '../src/data/image-set.js';
import { unseenRows } from './unseen.js';

const { values, positionals } = parseArgs({
  options: { recipe: { type: 'string', default: 'uniform' }, draws: { type: 'string', default: '2' }, sigma: { type: 'string' } },
  allowPositionals: true,
});
const recipe = values.recipe as PracticeRecipe;
if (!PRACTICE_RECIPES.includes(recipe)) throw new Error(`unknown recipe ${recipe}: one of ${PRACTICE_RECIPES.join(', ')}`);
const draws = Number(values.draws);
if (!Number.isInteger(draws) || draws < 1) throw new Error('--draws takes a whole number ≥ 1');
if (positionals.length === 0) throw new Error('name checkpoints to score: <checkpoint>[,<checkpoint>…] …');
const sigma = values.sigma === undefined ? null : Number(values.sigma);

await initEngine({ backend: 'wasm' });
const mnist = await readMnist('train');
// (none excluded: no competition is involved, and no shipped checkpoint trained on these rows)
const rows = unseenRows(mnist, []);
const px = mnist.rows * mnist.cols;
const count = rows.length * draws;
const images = new Float32Array(count * px);
const labels = new Uint8Array(count);
const out = new Float64Array(px);
for (let draw = 0; draw < draws; draw++) {
  rows.forEach((source, i) => {
    const j = draw * rows.length + i;
    makeImage(recipe, mnist.images.subarray(source * px, (source + 1) * px), mnist.rows, createRandom(deriveSeed(draw, 'bench-checkpoints', source)), sigma, out);
    for (let k = 0; k < px; k++) images[j * px + k] = Math.fround(Math.round(out[k]! * 1e7) / 1e7);
    labels[j] = mnist.labels[source]!;
  });
}
const set: ImageSet = { images, labels, count, size: mnist.rows, scale: 1 };
const all = Int32Array.from({ length: count }, (_, i) => i);

const predictions = new Map<string, Float32Array>();
async function probabilities(checkpoint: string): Promise<Float32Array> {
  let probs = predictions.get(checkpoint);
  if (!probs) {
    const { model, metadata } = await loadCheckpoint(path.resolve(checkpoint));
    probs = predictRows(model, fromSpec(metadata.preprocessing), set, all);
    model.dispose();
    predictions.set(checkpoint, probs);
  }
  return probs;
}
const line = (fields: Record<string, unknown>, probs: Float32Array) => {
  const { loss, acc } = lossAndAccuracy(probs, labels, all);
  console.log(JSON.stringify({ ...fields, recipe, rows: count, loss: +loss.toFixed(4), acc: +acc.toFixed(4) }));
};

const groups = positionals.map((group) => group.split(',').filter(Boolean));
for (const checkpoint of new Set(groups.flat())) line({ checkpoint }, await probabilities(checkpoint));
for (const group of groups.filter((g) => g.length > 1)) {
  const vote = new Float32Array(count * 10);
  for (const checkpoint of group) (await probabilities(checkpoint)).forEach((p, j) => (vote[j] += p / group.length));
  line({ vote: group }, vote);
}
