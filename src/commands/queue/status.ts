import { Flags } from '@oclif/core';
import { DigitsCommand } from '../../cli/base-command.js';
import { jsonFlag } from '../../cli/flags.js';

export default class QueueStatusCommand extends DigitsCommand {
  static override summary = 'Jobs of the training queue (waiting, active, done, failed) and what each worker runs.';
  static override examples = ['<%= config.bin %> queue status --redis redis://127.0.0.1:6379', '<%= config.bin %> queue status --redis redis://127.0.0.1:6379 --json'];
  static override flags = {
    ...jsonFlag,
    redis: Flags.string({ description: 'The Redis holding the queue (redis://host:port).', env: 'DIGITS_QUEUE', required: true }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(QueueStatusCommand);
    const [{ queueStatus }, { formatQueueStatus }] = await Promise.all([import('../../services/queue/status.js'), import('../../cli/queue.js')]);
    const status = await queueStatus({ redis: flags.redis });
    if (this.jsonEnabled()) {
      // NDJSON: a line per queue and per worker, then the whole status as the result.
      for (const q of status.queues) this.emitJson({ type: 'queue', ...q });
      for (const w of status.workers) this.emitJson({ type: 'worker', ...w });
      this.printJson(status);
      return;
    }
    process.stdout.write(formatQueueStatus(status));
  }
}
