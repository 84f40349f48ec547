import os from 'node:os';
import path from 'node:path';
import { Flags } from '@oclif/core';
import { DigitsCommand } from '../cli/base-command.js';
import { jsonFlag } from '../cli/flags.js';
import { onStopSignals } from '../signals.js';

export default class WorkerCommand extends DigitsCommand {
  static override summary = 'Train ensemble members and search trials from a BullMQ queue in Redis, until stopped (SIGTERM lets the running jobs finish).';
  static override description =
    'Each job runs as local training does (one worker thread per job); its progress goes back through the queue to the `digits train --queue` or `digits search --queue` that enqueued it. A job started again (a retry, or a take-over from a worker that died) resumes from the member\'s last checkpoint. The run folders must be reachable from this machine: the same path, or --store where the shared folder is mounted here.';
  static override examples = [
    '<%= config.bin %> worker --redis redis://10.0.0.5:6379',
    '<%= config.bin %> worker --redis redis://10.0.0.5:6379 --concurrency 4 --store /mnt/digits',
  ];
  static override flags = {
    ...jsonFlag,
    redis: Flags.string({ description: 'The Redis holding the queue (redis://host:port).', env: 'DIGITS_QUEUE', required: true }),
    concurrency: Flags.integer({ description: 'Jobs trained at once, one worker thread each (default: number of cores).', min: 1 }),
    store: Flags.string({ description: 'Where this machine sees the folder holding the runs and data of the enqueuing machine (default: the same path as there).', parse: async (input: string) => path.resolve(input) }),
    'stall-interval': Flags.integer({ description: 'Milliseconds a job lock lasts and between checks for stalled jobs (BullMQ lockDuration and stalledInterval; default 30000).', min: 100, hidden: true, env: 'DIGITS_QUEUE_STALL_MS' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(WorkerCommand);
    const [{ startQueueWorker }, { formatWorkerEvent }] = await Promise.all([import('../services/queue/worker.js'), import('../cli/queue.js')]);
    const worker = await startQueueWorker({
      redis: flags.redis,
      concurrency: flags.concurrency ?? os.availableParallelism(),
      store: flags.store,
      stallMs: flags['stall-interval'],
      onEvent: (event) => {
        if (this.jsonEnabled()) {
          if (event.type !== 'job-event' || event.event.type !== 'batch') this.emitJson(event);
          return;
        }
        const line = formatWorkerEvent(event);
        if (line) process.stderr.write(`${line}\n`);
      },
    });
    // SIGTERM, Ctrl-C or SIGHUP: stop taking jobs and let the running ones finish; a second one stops at once.
    // (or the worker stops of itself, when it cannot see a job's files: that error ends the command)
    const blind = await new Promise<Error | null>((resolve) => {
      let stopping = false;
      const stop = (signal: NodeJS.Signals) => {
        // The second signal: the process dies by it (a shell reports 130 for Ctrl-C, 143 for
        // SIGTERM, 129 for SIGHUP). Not process.exit(): exit handlers would tear the training threads down
        // mid-step, and ONNX Runtime's native objects then abort the process (SIGABRT, seen in
        // the test). What it leaves running is taken over by another worker once its lock
        // lapses: say when.
        if (stopping) {
          const stall = (flags['stall-interval'] ?? 30_000) / 1000;
          // its lock lapses after one stall interval, and the next check for stalled jobs comes within another
          const message = worker.running === 0
            ? 'stopped at once (it was running no job)'
            : worker.running === 1
              ? `stopped at once: the job it was running is taken over by another worker in ${Number(stall.toFixed(1))}–${Number((2 * stall).toFixed(1))} s (the stall interval) and resumes from its last saved epoch`
              : `stopped at once: the ${worker.running} jobs it was running are taken over by other workers in ${Number(stall.toFixed(1))}–${Number((2 * stall).toFixed(1))} s (the stall interval) and resume from their last saved epochs`;
          if (this.jsonEnabled()) this.emitJson({ type: 'warning', message });
          else process.stderr.write(`${message}\n`);
          off();
          process.kill(process.pid, signal);
          return;
        }
        stopping = true;
        void worker.close().then(() => resolve(null));
      };
      const off = onStopSignals(stop);
      void worker.stopped.then((error) => {
        off();
        resolve(error);
      });
    });
    if (blind) throw blind;
    if (this.jsonEnabled()) this.printJson({ worker: worker.name, stopped: true });
  }
}
