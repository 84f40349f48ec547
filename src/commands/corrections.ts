import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { Flags } from '@oclif/core';
import { colorOn } from '../cli/color.js';
import { DigitsCommand } from '../cli/base-command.js';
import { jsonFlag } from '../cli/flags.js';
import { UserError, runIsAFile } from '../errors.js';
import { resolveRunDir } from '../cli/runs.js';
import { displayPath, shellArg } from '../data/format.js';
import { assertPngName, type DigitTile, gridColumns, renderDigitGrid, writeDigitGridPng } from '../data/inspect.js';
import { CORRECTIONS_FILE, readCorrections, summarizeCorrections, type CorrectionRecord, type CorrectionSummary } from '../data/corrections.js';

export default class Corrections extends DigitsCommand {
  static override summary = 'What the drawing pad collected: corrections per label, what the ensemble said instead, and the digits.';

  static override description =
    'Reads the corrections file that `digits serve` appends to (default <run>/corrections.jsonl of the newest run) and shows how many corrections each label has, which predicted → given confusions they come from, and the most recent corrected digits (in the terminal, and as a PNG with --png). A torn last line (a crash mid-write) is skipped with a warning.';

  static override examples = ['<%= config.bin %> corrections', '<%= config.bin %> corrections --file runs/quick-20261121-101500/corrections.jsonl --png corrections.png', '<%= config.bin %> corrections --json'];

  static override flags = {
    ...jsonFlag,
    file: Flags.string({ description: 'Corrections file (default <run>/corrections.jsonl).' }),
    run: Flags.string({ description: 'Run whose corrections to show when --file is not given (default: the newest under runs/).' }),
    count: Flags.integer({ description: 'Most recent corrected digits to draw.', default: 40, min: 0 }),
    png: Flags.string({ description: 'Also write the grid of corrected digits to this PNG file.' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Corrections);
    if (flags.png) assertPngName(flags.png, 'png', 'corrections.png');
    // --count 0 draws nothing, so a --png with it would be written with nothing, or not at all
    // (until session 43 it said "No corrections: no PNG written" of a file holding some).
    if (flags.png && flags.count === 0) {
      throw new UserError('--png with --count 0 would draw no digit: there is nothing to write', { where: { flag: 'count' }, hint: 'Drop --png, or give --count a number of digits to draw (e.g. --count 40).' });
    }
    const runDir = flags.file ? null : await resolveRunDir(flags.run);
    if (runDir) await assertRunFolder(runDir);
    const file = flags.file ? path.resolve(flags.file) : path.join(runDir!, CORRECTIONS_FILE);
    // A run whose pad saved nothing yet has no store: an empty list, as `runs` and `submissions`
    // say theirs (it was an error, exit 2); a --file named and missing stays one.
    if (!flags.file && !existsSync(file) && existsSync(path.join(runDir!, 'run.json'))) {
      if (flags.json) {
        this.printJson({ file, ...summarizeCorrections([]), warnings: [], png: null });
        return;
      }
      process.stdout.write(`No corrections in ${displayPath(file)} yet: the drawing pad of \`digits serve --run ${shellArg(displayPath(runDir!))}\` saves them.\n`);
      return;
    }
    const log = await readCorrections(file);
    // (NDJSON warning lines under --json, as train --extra gives them; plain text went to stderr)
    for (const warning of log.warnings) {
      if (flags.json) this.emitJson({ type: 'warning', message: warning });
      else process.stderr.write(`warning: ${warning}\n`);
    }
    const summary = summarizeCorrections(log.records);
    const recent = log.records.slice(Math.max(0, log.records.length - flags.count));
    const tiles = recent.map(tileOf);
    const png = flags.png ? path.resolve(flags.png) : null;
    const columns = gridColumns(process.stdout.columns ?? 120, 28, Math.max(1, tiles.length));
    if (png && tiles.length > 0) await writeDigitGridPng(png, tiles, { size: 28, columns: Math.min(columns, 10) });
    if (flags.json) {
      this.printJson({ file: log.file, ...summary, warnings: log.warnings, png: png && tiles.length > 0 ? png : null });
      return;
    }
    const color = colorOn(process.stdout);
    const out = [renderSummary(log.file, summary)];
    if (tiles.length > 0) {
      out.push(`Most recent ${tiles.length} (what the ensemble said → the right digit)`, renderDigitGrid(tiles, { size: 28, columns, color }));
    }
    if (png) out.push(tiles.length > 0 ? `Wrote the grid to ${png}` : 'No corrections: no PNG written');
    process.stdout.write(`${out.join('\n')}\n`);
  }
}

/**
 * --run names a run: one that is not there, or a folder that is none (no run.json and no
 * corrections), is said of --run (until session 43 both were "there is no corrections file"
 * blamed on --file, which was not given).
 */
async function assertRunFolder(runDir: string): Promise<void> {
  const info = await stat(runDir).catch(() => null);
  if (info && !info.isDirectory()) throw runIsAFile(runDir);
  if (info && (existsSync(path.join(runDir, 'run.json')) || existsSync(path.join(runDir, CORRECTIONS_FILE)))) return;
  const named = path.join('runs', path.basename(runDir));
  const guess = path.resolve(named) !== runDir && existsSync(path.join(named, 'run.json'));
  throw new UserError(info ? `${runDir} is not a run folder (it has no run.json)` : `no run at ${runDir}`, {
    where: { file: runDir, flag: 'run' },
    hint: guess ? `Did you mean --run ${shellArg(named)}? (--run takes the run's folder.)` : 'Name a run folder (`digits runs` lists them), or give a corrections file with --file.',
  });
}

function tileOf(record: CorrectionRecord): DigitTile {
  return {
    image: Float32Array.from(record.image, (v) => v / 255),
    caption: `${record.predicted ?? '?'} → ${record.label}`,
    // The PNG caption says the same: what the ensemble said > the right digit.
    label: `${record.predicted ?? '?'}>${record.label}`,
  };
}

function renderSummary(file: string, summary: CorrectionSummary): string {
  const lines = [`Corrections in ${file}: ${summary.count}`];
  if (summary.count === 0) return `${lines[0]}\n`;
  lines.push('', 'Per label (the right digit)');
  const most = Math.max(...summary.perLabel, 1);
  summary.perLabel.forEach((count, label) => lines.push(`  ${label}  ${String(count).padStart(5)}  ${'█'.repeat(Math.round((count / most) * 30))}`));
  lines.push('', 'Confusions (the ensemble said → the right digit)');
  for (const pair of summary.pairs.slice(0, 15)) lines.push(`  ${pair.predicted} → ${pair.label}  ${String(pair.count).padStart(5)}`);
  if (summary.pairs.length > 15) lines.push(`  … ${summary.pairs.length - 15} more pairs (--json lists them all)`);
  if (summary.withoutPrediction > 0) lines.push(`  (${summary.withoutPrediction} without a recorded prediction)`);
  if (summary.confirmed > 0) lines.push(`  (${summary.confirmed} saved with the digit the ensemble said: training rows, not confusions)`);
  // Laid out as the dashboard's confusion matrix: rows the true (given) digit, columns what was predicted.
  lines.push('', 'Matrix: rows = true digit (given), columns = predicted');
  lines.push(`      ${Array.from({ length: 10 }, (_, k) => String(k).padStart(4)).join('')}`);
  for (let given = 0; given < 10; given++) {
    const row = summary.confusion[given]!;
    lines.push(`  ${given}   ${row.map((c) => (c ? String(c) : '·').padStart(4)).join('')}`);
  }
  lines.push('');
  return lines.join('\n');
}
