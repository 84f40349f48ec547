/**
 * Progress of long jobs on stderr (stdout keeps the results): on a terminal a cli-progress
 * bar with its ETA, one bar per task (reading train.csv, predicting the test rows, …); in
 * pipes and CI the plain lines of data/progress.ts (every tenth of the way). Quiet under --json.
 */
import cliProgress from 'cli-progress';
import { createProgressPrinter, type ProgressPrinter, type ProgressUpdate } from '../data/progress.js';

export interface ProgressOptions {
  stream?: NodeJS.WriteStream;
  /** draw bars (default: the stream is a terminal and CI is not set) */
  interactive?: boolean;
  /** stay quiet for jobs smaller than this, in their unit */
  minTotal?: number;
  /** print nothing at all (--json) */
  quiet?: boolean;
}

export function createProgress(options: ProgressOptions = {}): ProgressPrinter {
  const stream = options.stream ?? process.stderr;
  if (options.quiet) return { update: () => {}, finish: () => {} };
  const interactive = options.interactive ?? (Boolean(stream.isTTY) && process.env.CI !== 'true');
  if (!interactive) return createProgressPrinter({ stream, interactive: false, minTotal: options.minTotal });
  const minTotal = options.minTotal ?? 0;
  let bar: cliProgress.SingleBar | null = null;
  let task = '';
  const stop = () => {
    bar?.stop();
    bar = null;
  };
  return {
    update(progress: ProgressUpdate) {
      if (progress.total < minTotal) return;
      const scale = progress.unit === 'bytes' ? 1e6 : 1;
      const payload = { task: progress.task, unit: progress.unit === 'bytes' ? 'MB' : 'rows', detail: progress.detail ? `, ${progress.detail}` : '' };
      if (!bar || task !== progress.task) {
        stop();
        task = progress.task;
        bar = new cliProgress.SingleBar(
          {
            stream,
            format: '{task} {bar} {percentage}% | ETA {eta_formatted} | {value}/{total} {unit}{detail}',
            hideCursor: true,
            clearOnComplete: true,
            etaBuffer: 20,
            fps: 10,
            formatValue: (value, _options, type) => (type === 'value' || type === 'total' ? (scale === 1 ? String(value) : value.toFixed(1)) : String(value)),
          },
          cliProgress.Presets.shades_classic,
        );
        bar.start(progress.total / scale, 0, payload);
      }
      bar.update(progress.done / scale, payload);
      if (progress.done >= progress.total) stop();
    },
    finish: stop,
  };
}

/** A `(task, done, total)` row counter for services' `onRows`, drawn as bars. */
export function rowProgress(printer: ProgressPrinter): (task: string, done: number, total: number) => void {
  return (task, done, total) => printer.update({ task: `predicting ${task}`, done, total, unit: 'rows' });
}
