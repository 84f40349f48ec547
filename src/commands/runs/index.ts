import path from 'node:path';
import { Flags } from '@oclif/core';
import { DigitsCommand } from '../../cli/base-command.js';
import { jsonFlag } from '../../cli/flags.js';
import { formatRunsTable } from '../../cli/runs-summary.js';
import { DEFAULT_SUBMISSIONS_DIR } from '../../data/submission.js';
import { listRuns } from '../../services/runs.js';
import { displayPath } from '../../data/format.js';
import { formatLocation } from '../../errors.js';

export const runsDirFlags = {
  'runs-dir': Flags.string({ description: 'The folder of run folders (default: runs; a folder named here must exist).' }),
  submissions: Flags.string({ description: `The submissions folder whose ledger gives test scores (default: ${DEFAULT_SUBMISSIONS_DIR}/ of the runs' project, the folder above their runs/, where digits submit writes; a folder named here must exist).` }),
};

/** The service's folders from the flags: the defaults, or the named folders, which must exist. */
export function runsFolders(flags: { 'runs-dir'?: string; submissions?: string }) {
  return {
    runsDir: path.resolve(flags['runs-dir'] ?? 'runs'),
    // (unset: the runs' project's, as digits submit chooses it; until session 43 ./submissions)
    submissionsDir: flags.submissions === undefined ? undefined : path.resolve(flags.submissions),
    given: { runsDir: flags['runs-dir'] !== undefined, submissionsDir: flags.submissions !== undefined },
  };
}

export default class Runs extends DigitsCommand {
  static override summary = 'List the training runs with their CV, held-out and test scores, what differs between their recipes, and their time.';
  static override description = 'Test scores come from submissions of the run scored against an answers file (the ledger); a run never submitted that way shows none.';
  static override examples = ['<%= config.bin %> runs', '<%= config.bin %> runs --json', '<%= config.bin %> runs compare quick-20261121-101500 cv-20261122-090000'];
  static override flags = { ...jsonFlag, ...runsDirFlags };

  async run(): Promise<void> {
    const { flags } = await this.parse(Runs);
    const folders = runsFolders(flags);
    // A damaged ledger line: a warning line under --json, as other commands give it.
    const onWarning = (message: string) => (this.jsonEnabled() ? this.emitJson({ type: 'warning', message }) : process.stderr.write(`warning: ${message}\n`));
    const { runs, damaged, abandoned, older } = await listRuns({ ...folders, onWarning });
    if (this.jsonEnabled()) return this.printJson({ runs, damaged, abandoned, older });
    // (as evaluate, report and submit say it: what, file:line:column, what to do)
    for (const d of damaged) process.stderr.write(`warning: ${displayPath(d.dir)} is not listed: ${d.reason}${d.where ? ` (${formatLocation({ ...d.where, file: d.where.file && displayPath(d.where.file) })})` : ''}\n${d.hint ? `  hint: ${d.hint}\n` : ''}`);
    for (const a of abandoned) {
      process.stderr.write(`warning: ${displayPath(a.dir)} is not listed: the run that made it (${a.command}, pid ${a.pid}, started ${a.startedAt}) was killed before it trained anything; the next digits run removes it (or delete it)\n`);
    }
    // (the reason names the folder already)
    for (const o of older) process.stderr.write(`warning: not listed: ${o.reason}\n${o.hint ? `  hint: ${o.hint}\n` : ''}`);
    if (runs.length === 0) {
      // (folders named in the warnings above are there, but none is a run to list)
      const unlisted = damaged.length + abandoned.length + older.length > 0;
      process.stdout.write(unlisted ? `No run in ${folders.runsDir} can be listed (see the warnings above); digits train or digits run makes new ones.\n` : `No runs in ${folders.runsDir} yet; digits train or digits run makes them.\n`);
      return;
    }
    process.stdout.write(formatRunsTable(runs));
  }
}
