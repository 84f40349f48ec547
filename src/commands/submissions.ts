import path from 'node:path';
import { stat } from 'node:fs/promises';
import { Flags } from '@oclif/core';
import { DigitsCommand } from '../cli/base-command.js';
import { jsonFlag } from '../cli/flags.js';
import { UserError } from '../errors.js';
import { displayPath } from '../data/format.js';
import { renderTable } from '../cli/table.js';
import { fileInTheWay } from '../output-folder.js';
import { DEFAULT_SUBMISSIONS_DIR, LEDGER_FILE, type ListedSubmission, listSubmissions } from '../data/submission.js';

const pct = (value: number | undefined) => (value === undefined ? '—' : `${(value * 100).toFixed(2)}%`);

/** The ledger as rows of text cells, oldest first. */
export function submissionRows(entries: ListedSubmission[]): string[][] {
  return entries.map((e) => [
    e.createdAt.replace('T', ' ').replace(/\.\d+Z$|Z$/, ''),
    e.file,
    path.basename(e.run),
    // how many; the names are in --json (a dozen names made the column the table's widest)
    String(e.members.length),
    // with the number format the test rows were predicted in (unrecorded before session 39); a
    // column of its own did not fit 80 columns with whole words
    // (`weighted soft`: ensemble selection's weights, as evaluate names the vote)
    `${e.weighted ? 'weighted ' : ''}${e.voting}${e.precision ? ` ${e.precision}` : ''}`,
    // (the variants' count read as a flag: 1 for "no TTA" looked like "yes")
    e.tta > 1 ? `${e.tta}-way` : 'no',
    // (figures of an evaluation in another format than the submission's say which)
    `${pct(e.validation?.accuracy)}${e.validation?.precision && e.precision && e.validation.precision !== e.precision ? ` (${e.validation.precision})` : ''}`,
    e.validation ? e.validation.logLoss.toFixed(4) : '—',
    pct(e.score?.accuracy),
    e.status,
  ]);
}

export const SUBMISSION_COLUMNS = ['created (UTC)', 'file', 'run', 'members', 'voting', 'tta', 'val acc', 'val loss', 'score', 'file status'];

/** The ledger as a table that fits `width` columns (default: the terminal's; unlimited when piped). */
export function formatTable(columns: string[], rows: string[][], width?: number): string {
  // (the file and run columns hold names: they break before the other words do)
  // and where whole words do not fit (80 columns), the member count, TTA, voting, then validation
  // log-loss go below each row rather than every name being cut into 6-letter pieces (until session 43)
  const detachable = ['members', 'tta', 'voting', 'val loss'].map((c) => columns.indexOf(c)).filter((i) => i >= 0);
  return renderTable(columns, rows, { width, names: columns.map((c) => c === 'file' || c === 'run'), detachable });
}

export default class Submissions extends DigitsCommand {
  static override summary = 'List the submissions written so far (the ledger), with validation scores and whether each file is unchanged.';

  static override examples = ['<%= config.bin %> submissions', '<%= config.bin %> submissions --dir my-submissions --json'];

  static override flags = {
    ...jsonFlag,
    dir: Flags.string({ description: `The submissions folder (holding ledger.jsonl; default: ${DEFAULT_SUBMISSIONS_DIR}; a folder named here must exist).` }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Submissions);
    const dir = path.resolve(flags.dir ?? DEFAULT_SUBMISSIONS_DIR);
    // A mistyped --dir is an error; the default may be missing before the first submission.
    // (a file named as --dir is listSubmissions' error, which says so)
    if (flags.dir !== undefined && (await stat(dir).catch(() => null)) === null) {
      // (a file above it, afile/sub: named, not "no such folder")
      const blocker = await fileInTheWay(dir);
      throw new UserError(`--dir ${flags.dir}: no such folder${blocker ? ` (${blocker} is a file, not a folder)` : ''}`, { where: { flag: 'dir', ...(blocker ? { file: blocker } : {}) }, hint: `Name the folder digits submit wrote to (${DEFAULT_SUBMISSIONS_DIR}/ of the project, the default).` });
    }
    // A torn line (a crash mid-append) is skipped, and said so.
    const onWarning = (message: string) => (this.jsonEnabled() ? this.emitJson({ type: 'warning', message }) : process.stderr.write(`warning: ${message}\n`));
    const entries = await listSubmissions(dir, { onWarning });
    if (flags.json) {
      this.printJson({ submissions: entries });
      return;
    }
    if (entries.length === 0) {
      process.stdout.write(`No submissions in ${displayPath(dir)} yet (no ${LEDGER_FILE}); digits submit writes them.\n`);
      return;
    }
    process.stdout.write(`${entries.length} submission${entries.length === 1 ? '' : 's'} in ${displayPath(dir)}\n\n${formatTable(SUBMISSION_COLUMNS, submissionRows(entries))}\n`);
  }
}
