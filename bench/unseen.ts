/**
 * `node --import tsx bench/unseen.ts <run> [<run> ...] <competition-answers.json>`: scores the
 * members of runs (and their plain soft vote) on MNIST train digits that no network of them
 * trained on, corrupted by the practice competition's own recipe with fresh random streams.
 *
 * Why: a practice competition draws its training rows, and so its holdout rows, from MNIST
 * train, and every shipped checkpoint was pretrained on almost all of MNIST train. Holdout
 * figures therefore favour networks that learnt those digits by heart. The rows used here are
 * the 5,002 validation rows every shipped checkpoint was validated on and none trained on
 * (pretrain's `holdout` with `--holdout-seed 42`), minus the competition's training sources
 * and minus the sources of a run's synthetic rows (auto's noise model). The answers file is
 * read for the recipe, its seed and its training sources only, never for test labels.
 *
 * Prints one JSON line per run: each member's log-loss and accuracy (fp32 best weights), the
 * plain soft vote of all members, the vote of each start's members (`byStart`: `mnist-clean`,
 * `mnist-noisy` or `scratch`) and of each starting checkpoint's (`byInit`: `mnist-clean/seed002`, …).
 *
 * `--common` scores every run on the same rows: those none of the runs trained on (a run with
 * synthetic rows leaves fewer, so runs with and without them compare on its rows).
 *
 * `--weights last` scores each member's last epoch (its `last/` checkpoint, kept for --resume)
 * instead of the weights its validation rows chose (`best/`, what the run predicts with).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRandom, deriveSeed } from '../src/data/random.js';
import { readMnist, type MnistSet } from '../src/data/mnist.js';
import { makeImage, type PracticeRecipe } from '../src/data/practice.js';
import { syntheticSources, type NoiseFit } from '../src/data/noise-model.js';
import { initEngine } from '../src/engine/backend.js';
import { loadCheckpoint } from '../src/model/checkpoint.js';
import { fromSpec } from '../src/model/preprocess.js';
import { holdout } from '../src/training/pretrain.js';
import { lossAndAccuracy, predictRows } from '../src/training/validation.js';
import type { ImageSet } from '../src/data/image-set.js';

/** The holdout seed of every shipped checkpoint and sibling (README, "Independent checkpoints"). */
export const HOLDOUT_SEED = 42;
const VALIDATION_ROWS = 5000;

/** What the script reads of a practice competition's answers file (no test labels). */
export interface PracticeAnswers {
  recipe: PracticeRecipe;
  seed: number;
  sigma: number | null;
  layout: { pixels: 'integer' | 'float' };
  train: { sourceIndices: number[] };
}

/** The pretraining validation rows of MNIST train that are none of `excluded` (sorted). */
export function unseenRows(mnist: Pick<MnistSet, 'labels'>, excluded: Iterable<number>): number[] {
  const { validation } = holdout(mnist.labels, VALIDATION_ROWS, deriveSeed(HOLDOUT_SEED, 'holdout'));
  const skip = new Set(excluded);
  return Array.from(validation).filter((r) => !skip.has(r));
}

/**
 * Those rows corrupted by the competition's recipe with a fresh stream per row (seeded by the
 * competition's seed and the source row), upright, quantised as the competition's pixels are.
 */
export function unseenImages(mnist: MnistSet, rows: readonly number[], answers: PracticeAnswers): ImageSet {
  const px = mnist.rows * mnist.cols;
  const images = new Float32Array(rows.length * px);
  const labels = new Uint8Array(rows.length);
  const out = new Float64Array(px);
  rows.forEach((source, i) => {
    makeImage(answers.recipe, mnist.images.subarray(source * px, (source + 1) * px), mnist.rows, createRandom(deriveSeed(answers.seed, 'unseen', source)), answers.sigma, out);
    for (let k = 0; k < px; k++) images[i * px + k] = answers.layout.pixels === 'integer' ? Math.round(out[k]! * 255) / 255 : Math.fround(out[k]!);
    labels[i] = mnist.labels[source]!;
  });
  return { images, labels, count: rows.length, size: mnist.rows, scale: 1 };
}

interface RunRecord {
  /** `recipe`: the ensemble entry a k-fold member trains (`<recipe>-f<i>`) */
  members: Array<{ name: string; ok: boolean; checkpoint: string; recipe?: string }>;
  ensemble: { members: Array<{ name: string; init?: string }> };
}

/** The MNIST train rows `run` trained on: the competition's sources and its synthetic rows'. */
export async function trainedSources(run: string, answers: PracticeAnswers, mnist: MnistSet): Promise<Set<number>> {
  const auto = await readFile(path.join(run, 'auto.json'), 'utf8').then((t) => JSON.parse(t) as { noise?: { fit: NoiseFit; syntheticRows: number; seed: number } }, () => null);
  const excluded = new Set(answers.train.sourceIndices);
  const noise = auto?.noise;
  // the rows synthesizeNoisyImages makes them from (whatever the model: its first draws)
  if (noise?.fit.model && noise.syntheticRows > 0) for (const s of syntheticSources(createRandom(noise.seed), mnist.count, noise.syntheticRows)) excluded.add(s);
  return excluded;
}

/** The checkpoint a member's record names (`<member>/best`), or the same member's `last/`. */
export function memberWeights(checkpoint: string, weights: 'best' | 'last'): string {
  return weights === 'best' ? checkpoint : path.join(path.dirname(checkpoint), 'last');
}

async function scoreRun(run: string, answers: PracticeAnswers, mnist: MnistSet, excluded: Set<number>, weights: 'best' | 'last'): Promise<object> {
  const record = JSON.parse(await readFile(path.join(run, 'run.json'), 'utf8')) as RunRecord;
  const rows = unseenRows(mnist, excluded);
  const data = unseenImages(mnist, rows, answers);
  const all = Int32Array.from({ length: rows.length }, (_, i) => i);

  const members: Array<{ name: string; init: string; logLoss: number; accuracy: number }> = [];
  const probs: Float32Array[] = [];
  // `mnist-clean/seed002`: the checkpoint's folder and name (mnist-clean and mnist-noisy each have a seed002)
  const inits = new Map(record.ensemble.members.map((m) => [m.name, m.init ? path.join(path.basename(path.dirname(m.init)), path.basename(m.init)) : 'scratch']));
  for (const m of record.members.filter((x) => x.ok)) {
    const { model, metadata } = await loadCheckpoint(path.join(run, memberWeights(m.checkpoint, weights)));
    const p = predictRows(model, fromSpec(metadata.preprocessing), data, all);
    model.dispose();
    const s = lossAndAccuracy(p, data.labels, all);
    probs.push(p);
    members.push({ name: m.name, init: inits.get(m.recipe ?? m.name) ?? '?', logLoss: round(s.loss), accuracy: round(s.acc) });
  }
  const vote = (chosen: number[]) => {
    const avg = new Float32Array(rows.length * 10);
    for (const k of chosen) probs[k]!.forEach((v, j) => (avg[j] = avg[j]! + v / chosen.length));
    const s = lossAndAccuracy(avg, data.labels, all);
    return { members: chosen.length, logLoss: round(s.loss), accuracy: round(s.acc) };
  };
  // the vote of the members that share a key: their checkpoint, or their start (its folder: `mnist-clean`, `mnist-noisy`, or `scratch`)
  const votesBy = (key: (m: (typeof members)[number]) => string): Record<string, ReturnType<typeof vote>> =>
    Object.fromEntries([...new Set(members.map(key))].map((k) => [k, vote(members.flatMap((m, i) => (key(m) === k ? [i] : [])))]));
  const byInit = votesBy((m) => m.init);
  const byStart = votesBy((m) => m.init.split(path.sep)[0]!);
  return { run, recipe: answers.recipe, weights, rows: rows.length, vote: vote(members.map((_, k) => k)), byStart, byInit, members };
}

function round(v: number): number {
  return Number(v.toFixed(5));
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const common = args.includes('--common');
  const at = args.indexOf('--weights');
  const weights = at >= 0 ? args[at + 1] : 'best';
  const answersFile = args.find((a) => a.endsWith('.json'));
  const runs = args.filter((a, i) => a !== answersFile && a !== '--common' && (at < 0 || (i !== at && i !== at + 1)));
  if (!answersFile || runs.length === 0 || (weights !== 'best' && weights !== 'last')) {
    process.stderr.write('usage: unseen.ts [--common] [--weights best|last] <run> [<run> ...] <competition-answers.json>\n');
    process.exit(2);
  }
  const answers = JSON.parse(await readFile(answersFile, 'utf8')) as PracticeAnswers;
  await initEngine({ backend: 'wasm' });
  const mnist = await readMnist('train');
  const trained = await Promise.all(runs.map((run) => trainedSources(run, answers, mnist)));
  const union = new Set(trained.flatMap((t) => [...t]));
  for (const [k, run] of runs.entries()) process.stdout.write(`${JSON.stringify(await scoreRun(run, answers, mnist, common ? union : trained[k]!, weights))}\n`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
