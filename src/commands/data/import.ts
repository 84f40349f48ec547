import path, { basename } from 'node:path';
import { Args, Flags } from '@oclif/core';
import { DigitsCommand } from '../../cli/base-command.js';
import { backendFlag, jsonFlag } from '../../cli/flags.js';
import type { BackendRequest } from '../../engine/backend.js';
import { importData } from '../../services/import.js';
import { UserError } from '../../errors.js';
import { removeOwnImportFilesSync, resolveCompetitionFiles, type ImportReport } from '../../data/import.js';
import { DEFAULT_DATASET_SUBDIR, readManifest } from '../../data/dataset.js';
import { ORIENTATIONS, type Orientation } from '../../data/orientation.js';
import { displayPath, formatCount } from '../../data/format.js';
import { createProgress } from '../../cli/progress.js';

export default class DataImport extends DigitsCommand {
  static override summary = 'Import competition CSVs into the fast binary dataset cache.';

  static override description = `Reads train.csv, test.csv and sample_submission.csv (a competition folder, or the files in that order), detects the layout (header, label column, pixel scale, image size, test labels, ids) and writes typed arrays plus dataset.json to <folder>/.digits (or --out). Every detection can be overridden with a flag. Re-importing unchanged files is instant.`;

  static override examples = [
    '<%= config.bin %> data import competitions/uniform',
    '<%= config.bin %> data import train.csv test.csv sample_submission.csv --out data/kaggle',
    '<%= config.bin %> data import seed002/ --no-header --label-column last --orientation transpose',
  ];

  static override args = {
    source: Args.string({ description: 'Competition folder, or train.csv', required: true }),
    test: Args.string({ description: 'test.csv (when files are given one by one)' }),
    sampleSubmission: Args.string({ description: 'sample_submission.csv (when files are given one by one)' }),
  };

  static override flags = {
    ...jsonFlag,
    ...backendFlag,
    out: Flags.string({ description: 'Dataset folder to write (default: <competition folder>/.digits).' }),
    header: Flags.boolean({ description: 'The first row is a header (--no-header: it is data). Default: detected.', allowNo: true }),
    'label-column': Flags.string({ description: 'Label column: first, last or a header name. Default: a column named label, else the first or last column holding integers 0–9.' }),
    scale: Flags.string({ description: 'Pixel scale: 255 (integers 0–255, stored as uint8) or 1 (floats in [0,1], stored as float32). Default: detected.', options: ['255', '1'] }),
    size: Flags.integer({ description: 'Image side in pixels (784 pixel columns → 28). Default: square root of the pixel count.', min: 1 }),
    orientation: Flags.string({ description: 'Transform that makes stored images upright (see digits data inspect). Default: detected with the shipped clean-MNIST checkpoint (as-is when there is none).', options: [...ORIENTATIONS] }),
    'test-check': Flags.boolean({ description: "Compare test.csv's images with train.csv's and refuse a test set stored another way (transposed, mirrored, turned); --no-test-check takes test.csv as it is.", default: true, allowNo: true }),
    invert: Flags.boolean({ description: 'The CSVs draw dark digits on a light background: store them inverted (255 − v), bright on dark as MNIST (--no-invert: store as they are). Default: detected from the images.', allowNo: true }),
    force: Flags.boolean({ description: 'Re-import even when the cache is up to date.', default: false }),
    replace: Flags.boolean({ description: 'Replace a cached dataset that has test rows with one that has none (importing train.csv alone).', default: false }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(DataImport);
    const inputs = [args.source, args.test, args.sampleSubmission].filter((value): value is string => value !== undefined);
    const files = await resolveCompetitionFiles(inputs);
    if (flags['label-column'] !== undefined && flags['label-column'].trim() === '') {
      throw new UserError('--label-column is empty', { where: { flag: 'label-column' }, hint: 'Use first, last or a header name.' });
    }
    // train.csv alone would replace a cached dataset's test rows with none: say so first.
    const target = path.resolve(flags.out ?? path.join(files.competitionDir, DEFAULT_DATASET_SUBDIR));
    if (!files.test) {
      const cached = await readManifest(target).catch(() => null);
      if (cached && cached.test.rows > 0 && !flags.replace) {
        throw new UserError(`${displayPath(target)} holds ${formatCount(cached.test.rows)} test rows, and importing ${basename(files.train)} without a test.csv would drop them`, {
          where: { file: files.train },
          hint: `Give the test file too (digits data import ${basename(files.train)} test.csv), or pass --replace to import without test rows.`,
        });
      }
    }
    // Ctrl-C: its own partial files go at once, and its last word says what is there.
    this.exitOnInterrupt(
      () => (removeOwnImportFilesSync(target)
        ? `The dataset cache in ${displayPath(target)} is as it was before this import (its partial files are removed): run the same command again to import.`
        : `Nothing was imported (its partial files are removed): run the same command again.`),
    );
    const progress = createProgress({ minTotal: 8e6, quiet: this.jsonEnabled() });
    let report: ImportReport;
    try {
      report = await importData({
        ...files,
        backend: flags.backend as BackendRequest,
        out: flags.out,
        header: flags.header,
        labelColumn: flags['label-column'],
        scale: flags.scale === undefined ? undefined : (Number(flags.scale) as 1 | 255),
        size: flags.size,
        orientation: flags.orientation as Orientation | undefined,
        invert: flags.invert,
        testCheck: flags['test-check'],
        force: flags.force,
        onProgress: (event) =>
          progress.update({ task: `reading ${basename(event.file)}`, done: event.bytesRead, total: event.totalBytes, unit: 'bytes', detail: `${formatCount(event.rows)} rows` }),
      });
    } finally {
      progress.finish();
    }
    // Said once the import worked: before it, the warning came ahead of the error that stopped it
    // (a zip given as the train file: "no test.csv", then "is a zip archive").
    const warnings = [...(files.test ? [] : ['no test.csv: the dataset will have no test rows, so `digits submit` cannot write a submission from it']), ...report.warnings];
    if (flags.json) {
      for (const message of warnings) this.emitJson({ type: 'warning', message });
      this.printJson(report);
      return;
    }
    process.stdout.write(renderImportReport(report));
    for (const message of warnings) process.stderr.write(`warning: ${message}\n`);
  }
}

function plural(count: number, word: string): string {
  return `${formatCount(count)} ${word}${count === 1 ? '' : 's'}`;
}

function renderImportReport(report: ImportReport): string {
  const { detected } = report;
  const lines: string[] = [];
  const row = (label: string, text: string) => lines.push(`  ${label.padEnd(12)} ${text}`);
  const how = (detection: { how: string; reason: string }) => (detection.how === 'flag' ? `set by ${detection.reason}` : detection.reason);
  if (report.reused) {
    lines.push(`Dataset up to date in ${displayPath(report.datasetDir)} (${report.reused === 'unchanged' ? 'sources unchanged' : 'sources touched, same bytes'}; --force re-imports)`);
  } else {
    lines.push(`Imported ${plural(report.train.rows, 'training row')} and ${plural(report.test.rows, 'test row')} into ${displayPath(report.datasetDir)}`);
  }
  row('fingerprint', report.fingerprint);
  const train = detected.train;
  const label = train.label.value;
  row('train', `${basename(train.file)}: ${plural(train.rows, 'row')} × ${train.columns} columns`);
  row('', `header: ${train.header.value ? 'yes' : 'no'} (${how(train.header)})`);
  row('', `label: column ${label ? label.column + 1 : '?'}${label?.name ? ` "${label.name}"` : ''} (${how(train.label)})`);
  if (train.idColumn) row('', `id column: column ${train.idColumn.column + 1} "${train.idColumn.name}", skipped (its header names the rows' ids)`);
  if (detected.test) {
    const test = detected.test;
    row('test', `${basename(test.file)}: ${plural(test.rows, 'row')} × ${test.columns} columns, header: ${test.header.value ? 'yes' : 'no'}`);
    row('', `labels: ${test.label.value ? `yes, column ${test.label.value.column + 1}` : 'no'} (${how(test.label)})`);
    if (test.pixelsBy) row('', `pixel columns matched to train's ${test.pixelsBy}`);
    if (test.reordered) row('', test.reordered);
    if (detected.testMatch) row('', `layout: like train's (${detected.testMatch})`);
  } else {
    row('test', 'none given');
  }
  const from =
    report.ids.from === 'sample-submission'
      ? `from ${basename(detected.sampleSubmission?.file ?? 'sample_submission.csv')}`
      : report.ids.from === 'test-csv'
        ? `from ${basename(detected.test?.file ?? 'test.csv')}'s id column (no sample submission)`
        : '(numbered from 1: no sample submission)';
  // Shuffled ids are counted, not shown as a range: "34 … 35" said nothing of 200 shuffled ids (until session 39)
  const ids =
    report.ids.count === 0
      ? `none ${from}`
      : report.ids.inOrder
        ? `${report.ids.first} … ${report.ids.last} ${from}`
        : `${plural(report.ids.count, 'id')} ${from} (not in order: first ${report.ids.first}, last ${report.ids.last})`;
  row('ids', `${ids}; submission header ${report.submissionHeader.join(',')}`);
  row('images', `${report.width}×${report.height} (${how(detected.size)})`);
  row('scale', `${report.scale === 255 ? 'integers 0–255, stored as uint8' : 'floats in [0, 1], stored as float32'} (${how(detected.scale)})`);
  row('orientation', `${report.orientation} (${report.orientationNote}; override with --orientation)`);
  if (detected.polarity) row('polarity', `${report.inverted ? 'dark digits on light: stored inverted (255 − v), bright on dark as MNIST' : 'bright digits on dark, as MNIST'} (${how(detected.polarity)}; override with --invert / --no-invert)`);
  row('classes', report.train.classCounts.map((count, digit) => `${digit}: ${formatCount(count)}`).join('  '));
  if (!report.reused) {
    const rate = report.megabytesPerSecond === null || report.seconds < 0.05 ? '' : `, ${report.megabytesPerSecond.toFixed(0)} MB/s`;
    row('read', `${(report.bytesRead / 1e6).toFixed(1)} MB in ${report.seconds.toFixed(1)} s${rate}`);
  }
  return `${lines.join('\n')}\n`;
}
