import { resolve } from 'node:path';
import { Flags } from '@oclif/core';
import { colorOn } from '../../cli/color.js';
import { DigitsCommand } from '../../cli/base-command.js';
import { dataFlag, jsonFlag, seedFlag } from '../../cli/flags.js';
import { displayPath, formatCount } from '../../data/format.js';
import { UserError } from '../../errors.js';
import { assertPngName, type DatasetStats, type PixelStats, gridColumns, inspectDataset, renderDigitGrid, writeDigitGridPng } from '../../data/inspect.js';

export default class DataInspect extends DigitsCommand {
  static override summary = 'Class balance, pixel statistics and sample digits of an imported dataset.';

  static override description = 'Draws a grid of sample digits with their labels in the terminal (grey half blocks; shade characters when the output is not a terminal) and, with --png, writes the same grid as an image. Use it to check the orientation: digits should look upright and unmirrored.';

  static override examples = [
    '<%= config.bin %> data inspect --data competitions/uniform',
    '<%= config.bin %> data inspect --data competitions/uniform --count 30 --png samples.png',
    '<%= config.bin %> data inspect --json',
  ];

  static override flags = {
    ...jsonFlag,
    ...seedFlag,
    ...dataFlag,
    count: Flags.integer({ description: 'Sample digits to draw (one per class in turn).', default: 10, min: 0 }),
    set: Flags.string({ description: 'Draw samples from the training or the test rows.', options: ['train', 'test'], default: 'train' }),
    png: Flags.string({ description: 'Also write the sample grid to this PNG file.' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(DataInspect);
    if (flags.png) assertPngName(flags.png, 'png', 'samples.png');
    // --count 0 draws nothing: a --png with it wrote no file, yet --json reported one (until session 43).
    if (flags.png && flags.count === 0) {
      throw new UserError('--png with --count 0 would draw no digit: there is nothing to write', { where: { flag: 'count' }, hint: 'Drop --png, or give --count a number of digits to draw (e.g. --count 10).' });
    }
    const inspection = await inspectDataset({ data: flags.data ?? process.cwd(), set: flags.set as 'train' | 'test', count: flags.count, seed: flags.seed });
    const { stats, tiles } = inspection;
    const size = stats.width;
    const columns = gridColumns(process.stdout.columns ?? 120, size, Math.max(1, tiles.length));
    // (written only when there is a digit to draw: a set without rows has none, and no file is reported then)
    const png = flags.png && tiles.length > 0 ? resolve(flags.png) : null;
    if (png) await writeDigitGridPng(png, tiles, { size, columns });
    if (flags.json) {
      this.printJson({ ...stats, samples: { set: inspection.set, rows: inspection.samples, png } });
      return;
    }
    const color = colorOn(process.stdout);
    const out: string[] = [renderStats(stats)];
    if (tiles.length > 0) {
      out.push(`Samples (${inspection.set}, seed ${flags.seed})`);
      out.push(renderDigitGrid(tiles, { size, columns, color }));
      if (png) out.push(`Wrote the grid to ${displayPath(png)}`);
      out.push('Digits should look upright and unmirrored; if not, re-import with --orientation (transpose, flip-h, flip-v, rot90, rot180, rot270, transpose-anti).');
    } else if (flags.png) out.push(`No ${inspection.set} rows to draw: no PNG written`);
    process.stdout.write(`${out.join('\n')}\n`);
  }
}

const BLOCKS = ' ▏▎▍▌▋▊▉█';
const SPARKS = '▁▂▃▄▅▆▇█';

function bar(fraction: number, width: number): string {
  const eighths = Math.round(fraction * width * 8);
  return '█'.repeat(Math.floor(eighths / 8)) + (eighths % 8 ? BLOCKS[eighths % 8] : '');
}

function sparkline(values: number[]): string {
  const max = Math.max(...values);
  return values.map((value) => (value === 0 ? ' ' : SPARKS[Math.min(7, Math.floor((value / max) * 7.999))])).join('');
}

function pixelLine(name: string, pixels: PixelStats | null): string {
  if (!pixels) return `  ${name.padEnd(6)} (no rows)`;
  const f = (value: number) => value.toFixed(3).padStart(6);
  return `  ${name.padEnd(6)} ${f(pixels.min)} ${f(pixels.max)} ${f(pixels.mean)} ${f(pixels.std)} ${`${(pixels.zeroFraction * 100).toFixed(1)}%`.padStart(6)}  [${sparkline(pixels.histogram)}]`;
}

function renderStats(stats: DatasetStats): string {
  const lines = [
    `Dataset ${displayPath(stats.datasetDir)} (${stats.fingerprint.slice(0, 19)}…)`,
    `  images ${stats.width}×${stats.height}, ${stats.scale === 255 ? 'integers 0–255 (uint8)' : 'floats in [0, 1] (float32)'}, orientation ${stats.orientation} (${stats.orientationNote})`,
    `  train ${formatCount(stats.train.rows)} rows; test ${formatCount(stats.test.rows)} rows (${stats.test.hasLabels ? 'labelled' : 'no labels'}); splits: ${stats.splits.length > 0 ? stats.splits.map((name) => (stats.staleSplits.includes(name) ? `${name} (made for the data before its re-import: \`digits data split --name ${name} --force\` makes it again)` : name)).join(', ') : 'none (digits data split)'}`,
    '',
    'Class balance (train)',
  ];
  const largest = Math.max(...stats.train.classFractions, 1e-9);
  stats.train.classCounts.forEach((count, digit) => {
    const fraction = stats.train.classFractions[digit];
    lines.push(`  ${digit}  ${formatCount(count).padStart(7)}  ${`${(fraction * 100).toFixed(1)}%`.padStart(6)}  ${bar(fraction / largest, 30)}`);
  });
  lines.push('', `Pixels (in [0, 1])    min    max   mean    std  zeros  histogram 0→1`);
  lines.push(pixelLine('train', stats.train.pixels), pixelLine('test', stats.test.pixels), '');
  return lines.join('\n');
}
