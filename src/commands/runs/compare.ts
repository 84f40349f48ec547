import { Args } from '@oclif/core';
import { DigitsCommand } from '../../cli/base-command.js';
import { jsonFlag } from '../../cli/flags.js';
import { formatRunComparison } from '../../cli/runs-summary.js';
import { compareRuns } from '../../services/runs.js';
import { runsDirFlags, runsFolders } from './index.js';

export default class RunsCompare extends DigitsCommand {
  static override summary = 'Two runs side by side: scores, time, and the recipe knobs that differ.';
  static override examples = ['<%= config.bin %> runs compare quick-20261121-101500 cv-20261122-090000', '<%= config.bin %> runs compare runs/a runs/b --json'];
  static override args = {
    a: Args.string({ description: 'A run name under --runs-dir, or a run folder.', required: true }),
    b: Args.string({ description: 'The other run.', required: true }),
  };
  static override flags = { ...jsonFlag, ...runsDirFlags };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(RunsCompare);
    // A damaged ledger line: a warning line under --json, as other commands give it.
    const onWarning = (message: string) => (this.jsonEnabled() ? this.emitJson({ type: 'warning', message }) : process.stderr.write(`warning: ${message}\n`));
    const comparison = await compareRuns({ a: args.a, b: args.b, ...runsFolders(flags), onWarning });
    if (flags.json) return this.printJson(comparison);
    process.stdout.write(formatRunComparison(comparison));
  }
}
