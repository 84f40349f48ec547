import path from 'node:path';
import { Flags } from '@oclif/core';
import { DigitsCommand } from '../../cli/base-command.js';
import { jsonFlag } from '../../cli/flags.js';
import { UserError } from '../../errors.js';

export default class QueueCleanCommand extends DigitsCommand {
  static override summary = 'Remove the jobs of a run or search that no worker has started (left by a command stopped before its workers came).';
  static override description =
    'Waiting and delayed member and trial jobs of --run (the run or search folder\'s name, as `queue status` shows it), or of every run with --all, are removed; jobs a worker runs now are left to finish there, and listed. A run whose jobs were removed is continued with `digits train --resume --run <folder> --queue <url>` (a search with its own command again).';
  static override examples = ['<%= config.bin %> queue clean --redis redis://127.0.0.1:6379 --run tiny-20261206-211432', '<%= config.bin %> queue clean --redis redis://127.0.0.1:6379 --all --json'];
  static override flags = {
    ...jsonFlag,
    redis: Flags.string({ description: 'The Redis holding the queue (redis://host:port).', env: 'DIGITS_QUEUE', required: true }),
    run: Flags.string({ description: 'The run or search whose jobs to remove: its folder name (a path is taken by its last part).', exclusive: ['all'] }),
    all: Flags.boolean({ description: 'Remove the jobs no worker has started of every run and search on the queue.', default: false }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(QueueCleanCommand);
    if (!flags.run && !flags.all) {
      throw new UserError('say whose jobs to remove: --run <name> or --all', { where: { flag: 'run' }, hint: '`digits queue status` shows the runs the jobs belong to; --run takes a run or search folder\'s name.' });
    }
    const [{ cleanQueue }] = await Promise.all([import('../../services/queue/clean.js')]);
    const run = flags.run === undefined ? undefined : path.basename(path.resolve(flags.run));
    const result = await cleanQueue({ redis: flags.redis, run });
    if (this.jsonEnabled()) {
      for (const job of result.removed) this.emitJson({ type: 'removed', ...job });
      for (const job of result.running) this.emitJson({ type: 'running', ...job });
      this.printJson(result);
      return;
    }
    const whose = run === undefined ? 'on the queue' : `of ${run}`;
    const lines = [result.removed.length === 0 ? `no job ${whose} was waiting to start` : `removed ${result.removed.length === 1 ? '1 job' : `${result.removed.length} jobs`} ${whose} no worker had started:`];
    for (const job of result.removed) lines.push(`  ${job.kind} ${job.member} of ${job.run} (job ${job.job}, ${job.state})`);
    if (result.running.length > 0) {
      lines.push(`left to finish (a worker runs ${result.running.length === 1 ? 'it' : 'them'} now):`);
      for (const job of result.running) lines.push(`  ${job.kind} ${job.member} of ${job.run} (job ${job.job}${job.worker ? `, on ${job.worker}` : ''})`);
    }
    process.stdout.write(`${lines.join('\n')}\n`);
  }
}
