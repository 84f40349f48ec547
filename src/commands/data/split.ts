import { Flags } from '@oclif/core';
import { DigitsCommand } from '../../cli/base-command.js';
import { dataFlag, jsonFlag, seedFlag } from '../../cli/flags.js';
import { UserError } from '../../errors.js';
import { displayPath, formatCount } from '../../data/format.js';
import { type SplitSpec, createSplit } from '../../data/splits.js';

export default class DataSplit extends DigitsCommand {
  static override summary = 'Save a seeded, stratified validation split (or k folds) with the dataset.';

  static override description = 'Held-out rows are chosen once and saved as splits/<name>.json in the dataset folder (indices, seed and the dataset fingerprint), so every model and report validates on the same rows. Each class keeps its share of the rows.';

  static override examples = [
    '<%= config.bin %> data split --data competitions/uniform --validation 0.1',
    '<%= config.bin %> data split --data competitions/uniform --folds 4 --name cv4',
  ];

  static override flags = {
    ...jsonFlag,
    ...seedFlag,
    ...dataFlag,
    name: Flags.string({ description: 'Name to save the split under (default: holdout, or kfold<k> with --folds).' }),
    validation: Flags.string({ description: 'Fraction of training rows held out (default 0.1).', exclusive: ['folds'] }),
    folds: Flags.integer({ description: 'Make k stratified folds instead of one hold-out split.', exclusive: ['validation'] }),
    force: Flags.boolean({ description: 'Replace a different split saved under the same name.', default: false }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(DataSplit);
    let spec: SplitSpec;
    if (flags.folds !== undefined) {
      spec = { kind: 'kfold', k: flags.folds, seed: flags.seed };
    } else {
      const fraction = Number(flags.validation ?? '0.1');
      if (!Number.isFinite(fraction)) throw new UserError(`--validation must be a number, not ${JSON.stringify(flags.validation)}`, { where: { flag: 'validation' }, hint: 'For example --validation 0.1.' });
      spec = { kind: 'holdout', validationFraction: fraction, seed: flags.seed };
    }
    const report = await createSplit({
      data: flags.data ?? process.cwd(),
      name: flags.name ?? (spec.kind === 'kfold' ? `kfold${spec.k}` : 'holdout'),
      spec,
      force: flags.force,
    });
    if (flags.json) {
      for (const message of report.warnings) this.emitJson({ type: 'warning', message });
      this.printJson(report);
      return;
    }
    for (const message of report.warnings) process.stderr.write(`warning: ${message}\n`);
    const what = spec.kind === 'kfold' ? `${spec.k} stratified folds` : `a stratified ${(spec.validationFraction * 100).toFixed(1)}% hold-out`;
    const lines = [`${report.unchanged ? 'Already saved' : report.replacedStale ? 'Replaced (made for the data before its re-import)' : 'Saved'} split "${report.name}": ${what} of ${formatCount(report.rows)} training rows, seed ${spec.seed}`, `  ${displayPath(report.file)}`];
    report.validationPerClass.forEach((counts, fold) => {
      const total = counts.reduce((a, b) => a + b, 0);
      const label = spec.kind === 'kfold' ? `fold ${fold + 1}` : 'validation';
      lines.push(`  ${label.padEnd(10)} ${formatCount(total).padStart(6)} rows  ${counts.map((count, digit) => `${digit}:${count}`).join(' ')}`);
    });
    // (what to do with it: an ensemble file names it)
    lines.push(`  use it: "validation": {"kind": "${spec.kind === 'kfold' ? 'kfold' : 'shared'}", "split": ${JSON.stringify(report.name)}} in an ensemble file`);
    process.stdout.write(`${lines.join('\n')}\n`);
  }
}
