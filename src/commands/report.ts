import path from 'node:path';
import { Flags } from '@oclif/core';
import { DigitsCommand } from '../cli/base-command.js';
import { jsonFlag } from '../cli/flags.js';
import { displayPath } from '../data/format.js';
import { latestEvaluatedRun } from '../runs/manifest.js';

export default class Report extends DigitsCommand {
  static override summary = 'Write a self-contained HTML report of an evaluated run: training curves, per-class bars, confusion matrix, misread digits.';

  static override description = 'Reads <run>/evaluation.json (written by digits evaluate) and the dataset cache. The page embeds its charts (SVG) and digits (PNG): it opens offline and can be mailed as one file.';

  static override examples = ['<%= config.bin %> report', '<%= config.bin %> report --run runs/quick-20261121-101500 --out quick.html'];

  static override flags = {
    ...jsonFlag,
    run: Flags.string({ description: 'Evaluated run folder (default: the newest under runs/ with an evaluation.json).' }),
    out: Flags.string({ description: 'HTML file to write, or a folder to write report.html into (default <run>/report.html).' }),
    force: Flags.boolean({ description: "Replace a file at --out that is not this run's report, or a report of it that drew misread digits this one cannot draw.", default: false }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Report);
    const run = flags.run ? path.resolve(flags.run) : await latestEvaluatedRun('runs');
    const { writeReport } = await import('../report/report-html.js');
    const written = await writeReport({ run, out: flags.out, force: flags.force });
    // (under --json the note is a warning line on stdout, as other commands' warnings are; it went to stderr until session 43)
    if (written.note) {
      if (this.jsonEnabled()) this.emitJson({ type: 'warning', message: written.note });
      else process.stderr.write(`note: ${written.note}\n`);
    }
    if (this.jsonEnabled()) {
      this.printJson({ run, ...written });
      return;
    }
    process.stdout.write(`Wrote ${displayPath(written.file)} (${Math.round(written.bytes / 1024)} KiB: ${written.charts} charts, ${written.images} misread digits)\n`);
  }
}
