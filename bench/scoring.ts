/**
 * `node --import tsx bench/scoring.ts [rows] [checkpoint]`: how long scoring a model on fixed
 * rows takes on each engine of `training/validation.ts` (what a member's validation after
 * every epoch and pretraining's t10k cost): tfjs on wasm against ONNX Runtime on one thread,
 * the model exported in memory each time as a member's would be. Defaults: 1,200 MNIST train
 * rows (a 12,000-row competition's 10% holdout), the shipped clean seed002 checkpoint.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ImageSet } from '../src/data/image-set.js';
import { readMnist } from '../src/data/mnist.js';
import { initEngine } from '../src/engine/backend.js';
import { loadCheckpoint } from '../src/model/checkpoint.js';
import { fromSpec } from '../src/model/preprocess.js';
import { createRowScorer, type ScoringEngine } from '../src/training/validation.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

async function main(): Promise<void> {
  const count = Number(process.argv[2] ?? 1200);
  const checkpoint = process.argv[3] ?? path.join(ROOT, 'checkpoints', 'mnist-clean', 'seed002');
  if (!Number.isInteger(count) || count <= 0) throw new Error(`rows must be a positive integer, got ${process.argv[2]}`);
  await initEngine({ backend: 'wasm' });
  const mnist = await readMnist('train');
  const data: ImageSet = { images: mnist.images, labels: mnist.labels, count: mnist.count, size: 28, scale: 255 };
  const rows = Int32Array.from({ length: count }, (_, i) => i);
  const { model, metadata } = await loadCheckpoint(checkpoint);
  const pre = fromSpec(metadata.preprocessing);
  for (const engine of ['tfjs', 'onnx'] as ScoringEngine[]) {
    const scorer = createRowScorer(data, rows, pre, engine);
    await scorer.score(model); // warm-up (and the first gather of the rows)
    const times: number[] = [];
    let loss = 0;
    for (let k = 0; k < 3; k++) {
      const t = performance.now();
      loss = (await scorer.score(model)).loss;
      times.push(performance.now() - t);
    }
    const best = Math.min(...times);
    process.stdout.write(`${JSON.stringify({ engine, reason: scorer.reason, rows: count, bestMs: Math.round(best), imagesPerSecond: Math.round(count / (best / 1000)), loss: Number(loss.toFixed(6)) })}\n`);
  }
  model.dispose();
}

await main();
