/**
 * `node --import tsx bench/grid.ts <uniform-answers.json>`: what the 8-bit grid of the `uniform`
 * practice file is worth (README, "the practice file shows most digit pixels exactly"). The
 * practice file writes max(digit, U(0, 1)) with 7 decimals, and MNIST's pixels are multiples of
 * 1/255, so the pixels where the digit won lie exactly on that grid. On the rows of
 * `bench/unseen.ts` (MNIST train digits no shipped checkpoint trained on, corrupted by the recipe
 * with fresh streams and rounded to 7 decimals as the file is), it scores the clean checkpoints
 * as they are on the grid pixels alone (every other pixel set to 0) against the noisy
 * checkpoints on the images as they are. A measurement of the practice generator, not a feature:
 * auto does not look at the grid. Reads the answers file for the recipe, seed and training
 * sources only, never the test labels.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { createRandom, deriveSeed } from '../src/data/random.js';
import { readMnist } from '../src/data/mnist.js';
import { makeImage } from '../src/data/practice.js';
import { initEngine } from '../src/engine/backend.js';
import { loadCheckpoint } from '../src/model/checkpoint.js';
import { fromSpec } from '../src/model/preprocess.js';
import { lossAndAccuracy, predictRows } from '../src/training/validation.js';
import { unseenRows, type PracticeAnswers } from './unseen.js';
import type { ImageSet } from '../src/data/image-set.js';
const [answersFile] = process.argv.slice(2);
const answers = JSON.parse(await readFile(answersFile!, 'utf8')) as PracticeAnswers;
await initEngine({ backend: 'wasm' });
const mnist = await readMnist('train');
const rows = unseenRows(mnist, answers.train.sourceIndices);
const px = 784;
const raw = new Float32Array(rows.length * px);
const masked = new Float32Array(rows.length * px);
const labels = new Uint8Array(rows.length);
const out = new Float64Array(px);
let on = 0;
rows.forEach((source, i) => {
  makeImage(answers.recipe, mnist.images.subarray(source * px, (source + 1) * px), 28, createRandom(deriveSeed(answers.seed, 'unseen', source)), answers.sigma, out);
  for (let k = 0; k < px; k++) {
    const x = Math.fround(Math.round(out[k]! * 1e7) / 1e7);
    raw[i * px + k] = x;
    if (Math.abs(Math.round(x * 255) / 255 - x) < 3e-5) { masked[i * px + k] = x; on++; }
  }
  labels[i] = mnist.labels[source]!;
});
console.log(JSON.stringify({ rows: rows.length, gridPixelsPerImage: on / rows.length }));
const idx = Int32Array.from({ length: rows.length }, (_, i) => i);
const score = async (images: Float32Array, ckpts: string[], name: string) => {
  const set: ImageSet = { images, labels, count: rows.length, size: 28, scale: 1 };
  const probs: Float32Array[] = [];
  for (const c of ckpts) {
    const { model, metadata } = await loadCheckpoint(path.resolve(c));
    probs.push(predictRows(model, fromSpec(metadata.preprocessing), set, idx));
    model.dispose();
  }
  const avg = new Float32Array(probs[0]!.length);
  for (const p of probs) p.forEach((v, j) => (avg[j] += v / probs.length));
  const s = lossAndAccuracy(avg, labels, idx);
  console.log(JSON.stringify({ images: name, checkpoints: ckpts.map((c) => path.relative('checkpoints', c)), loss: +s.loss.toFixed(4), acc: +s.acc.toFixed(4) }));
};
const clean = ['seed002', 'seed002-2', 'seed002-3', 'seed002-4'].map((n) => `checkpoints/mnist-clean/${n}`);
const noisy = ['seed002', 'seed002-2', 'seed002-3'].map((n) => `checkpoints/mnist-noisy/${n}`);
for (const c of clean) await score(masked, [c], 'grid-masked');
await score(masked, clean, 'grid-masked');
for (const c of noisy) await score(raw, [c], 'as they are');
await score(raw, noisy, 'as they are');
