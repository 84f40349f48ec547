/**
 * Import throughput: writes a 50,000 × 784 float CSV (label last, no header, like the
 * seed-002 InClass data; about 400 MB) to /tmp once, imports it, and prints MB/s and peak
 * RSS as JSON. Target: ≥ 60 MB/s with memory bounded by the output.
 *
 *   node --import tsx bench/import.ts [--rows 50000] [--integers] [--keep]
 *
 * --integers writes Kaggle-style 0–255 integer pixels (mostly zeros, like MNIST) instead.
 */
import { createWriteStream, existsSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { once } from 'node:events';
import { importCompetition } from '../src/data/import.js';
import { mulberry32 } from '../src/data/random.js';

const args = process.argv.slice(2);
const rowsArg = args.indexOf('--rows');
const rows = rowsArg === -1 ? 50_000 : Number(args[rowsArg + 1]);
const keep = args.includes('--keep');
const integers = args.includes('--integers');
const dir = `/tmp/digits-bench-import-${rows}${integers ? '-int' : ''}`;
const file = join(dir, 'train.csv');

async function generate(): Promise<void> {
  const { mkdir } = await import('node:fs/promises');
  await mkdir(dir, { recursive: true });
  const random = mulberry32(7);
  const out = createWriteStream(`${file}.tmp`);
  let batch: string[] = [];
  for (let r = 0; r < rows; r++) {
    const cells = new Array<string>(785);
    if (integers) {
      // About a fifth of MNIST's pixels are ink.
      for (let p = 0; p < 784; p++) cells[p] = random() < 0.8 ? '0' : String(Math.floor(random() * 256));
      cells[784] = String(r % 10);
    } else {
      for (let p = 0; p < 784; p++) cells[p] = random().toFixed(7);
      cells[784] = `${r % 10}.0`;
    }
    batch.push(cells.join(','));
    if (batch.length === 500 || r === rows - 1) {
      if (!out.write(`${batch.join('\n')}\n`)) await once(out, 'drain');
      batch = [];
    }
  }
  out.end();
  await once(out, 'finish');
  const { rename } = await import('node:fs/promises');
  await rename(`${file}.tmp`, file);
}

if (!existsSync(file)) {
  process.stderr.write(`generating ${file} …\n`);
  await generate();
}
const bytes = statSync(file).size;
let peakRss = process.memoryUsage().rss;
const baselineRss = peakRss;
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
}, 20);
const out = join(dir, '.digits');
await rm(out, { recursive: true, force: true });
const started = performance.now();
const report = await importCompetition({
  competitionDir: dir,
  train: file,
  out,
  force: true,
  onProgress: () => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  },
});
const seconds = (performance.now() - started) / 1000;
clearInterval(sampler);
peakRss = Math.max(peakRss, process.memoryUsage().rss);
const cacheBytes = report.train.rows * 784 * (report.dtype === 'uint8' ? 1 : 4);

const reStarted = performance.now();
const again = await importCompetition({ competitionDir: dir, train: file, out });
const reSeconds = (performance.now() - reStarted) / 1000;

process.stdout.write(
  `${JSON.stringify(
    {
      rows: report.train.rows,
      pixels: integers ? 'integers 0–255' : 'floats, 7 decimals',
      csvMB: +(bytes / 1e6).toFixed(1),
      seconds: +seconds.toFixed(2),
      MBperSecond: +(bytes / 1e6 / seconds).toFixed(1),
      cacheMB: +(cacheBytes / 1e6).toFixed(1),
      dtype: report.dtype,
      baselineRssMB: +(baselineRss / 1e6).toFixed(0),
      peakRssMB: +(peakRss / 1e6).toFixed(0),
      reimport: { reused: again.reused, seconds: +reSeconds.toFixed(3) },
      node: process.version,
    },
    null,
    2,
  )}\n`,
);
if (!keep) await rm(out, { recursive: true, force: true });
