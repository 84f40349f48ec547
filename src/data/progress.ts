/**
 * Progress lines for long data jobs (import, practice generation), on stderr so stdout
 * keeps the results. On a terminal one line is redrawn in place; elsewhere (pipes, CI)
 * plain lines are printed at every tenth of the way, so logs stay short.
 * Services only emit numbers; this is the renderer the data commands subscribe with.
 */
import { formatCount } from './format.js';

export interface ProgressUpdate {
  /** What is being worked on, e.g. `train.csv` or `practice train rows`. */
  task: string;
  done: number;
  total: number;
  unit: 'bytes' | 'rows';
  /** Extra words after the numbers, e.g. `12,000 rows`. */
  detail?: string;
}

export interface ProgressPrinter {
  update(progress: ProgressUpdate): void;
  /** Ends an in-place line, so following output starts on a fresh line. */
  finish(): void;
}


function amount(value: number, unit: ProgressUpdate['unit']): string {
  return unit === 'bytes' ? `${(value / 1e6).toFixed(1)} MB` : formatCount(value);
}

export function formatProgress(progress: ProgressUpdate): string {
  const percent = progress.total > 0 ? Math.min(100, Math.floor((progress.done / progress.total) * 100)) : 100;
  const of = progress.unit === 'bytes' ? `${(progress.done / 1e6).toFixed(1)}/${amount(progress.total, 'bytes')}` : `${amount(progress.done, 'rows')}/${amount(progress.total, 'rows')} rows`;
  return `${progress.task}: ${of} (${percent}%)${progress.detail ? `, ${progress.detail}` : ''}`;
}

export interface ProgressPrinterOptions {
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Redraw one line in place (default: stderr is a terminal and CI is not set). */
  interactive?: boolean;
  /** Stay quiet for jobs smaller than this (in their unit), which finish before a line helps. */
  minTotal?: number;
}

export function createProgressPrinter(options: ProgressPrinterOptions = {}): ProgressPrinter {
  const stream = options.stream ?? process.stderr;
  const interactive = options.interactive ?? (Boolean(stream.isTTY) && process.env.CI !== 'true');
  const minTotal = options.minTotal ?? 0;
  let lastDraw = 0;
  let drawn = false;
  const steps = new Map<string, number>();
  return {
    update(progress) {
      if (progress.total < minTotal) return;
      if (interactive) {
        const now = Date.now();
        if (now - lastDraw < 100 && progress.done < progress.total) return;
        lastDraw = now;
        stream.write(`\r\x1b[K${formatProgress(progress)}`);
        drawn = true;
        return;
      }
      const step = progress.total > 0 ? Math.floor((progress.done / progress.total) * 10) : 10;
      if ((steps.get(progress.task) ?? -1) >= step) return;
      steps.set(progress.task, step);
      stream.write(`${formatProgress(progress)}\n`);
    },
    finish() {
      if (interactive && drawn) stream.write('\r\x1b[K');
      drawn = false;
    },
  };
}
