/**
 * `node --import tsx bench/probe-grid.ts <competition> [start@rate ...]`: auto's probe, at the
 * rates you name, on a competition's holdout rows (never its answers). The evidence behind
 * auto's probe rates: each probe is exactly the one `digits run` makes (seed002, Adam at a
 * constant rate, the augmentation the background calls for, batch 64, 2 epochs on all the
 * holdout split's training rows, seed 77), scored by its best holdout loss.
 *
 *   node --import tsx bench/probe-grid.ts /tmp/gen/nmnist-awgn/competition noisy@1e-4 noisy@1e-3 clean@2.2e-4
 *
 * Prints one JSON line per probe on stdout; PROBE_EPOCHS and PROBE_WORK (folder for the
 * probes' checkpoints, default a temp folder) change the defaults.
 */
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { autoAugmentation, autoProbeJob, loadAutoHoldout } from '../src/services/auto.js';
import type { Start } from '../src/training/search/space.js';
import type { TrainResult } from '../src/training/train-member.js';
import { runWorkerJobs, type WorkerJob } from '../src/training/worker-protocol.js';

const [competition, ...specs] = process.argv.slice(2);
if (!competition || specs.length === 0) {
  process.stderr.write('usage: probe-grid.ts <competition> start@rate [start@rate ...]  (start: noisy, clean, scratch)\n');
  process.exit(2);
}
const probes = specs.map((s) => {
  const [start, rate] = s.split('@');
  const learningRate = Number(rate);
  if (!['noisy', 'clean', 'scratch'].includes(start ?? '') || !(learningRate > 0)) {
    process.stderr.write(`not start@rate: ${s}\n`);
    process.exit(2);
  }
  return { start: start as Start, learningRate };
});
const epochs = Number(process.env.PROBE_EPOCHS ?? 2);
const work = process.env.PROBE_WORK ?? (await mkdtemp(path.join(os.tmpdir(), 'probe-grid-')));

const holdout = await loadAutoHoldout(competition);
const augmentation = autoAugmentation(holdout).augmentation.config;

const jobs: WorkerJob[] = await Promise.all(
  probes.map((p, i) =>
    autoProbeJob({ holdout, name: `probe-${i + 1}-${p.start}`, start: p.start, learningRate: p.learningRate, epochs, augmentation, trainRows: holdout.trainRows, outDir: path.join(work, `probe-${i + 1}-${p.start}`), backend: 'auto', command: 'probe-grid' }),
  ),
);
const outcomes = await runWorkerJobs<TrainResult>(jobs, { concurrency: 2 });
outcomes.forEach((o, i) => {
  const p = probes[i]!;
  const line = o.ok
    ? { competition, start: p.start, learningRate: p.learningRate, epochs, valLoss: Number(o.value.bestValLoss.toFixed(4)), valAcc: Number(o.value.bestValAcc.toFixed(4)), perEpoch: o.value.history.map((h) => Number((h.valLoss ?? NaN).toFixed(4))) }
    : { competition, start: p.start, learningRate: p.learningRate, error: o.error.split('\n')[0] };
  process.stdout.write(`${JSON.stringify(line)}\n`);
});
