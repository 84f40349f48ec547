/**
 * Progress of long jobs on stderr (stdout keeps the results): on a terminal a cli-progress
 * bar with its ETA, one bar per task (reading train.csv, predicting the test rows, …); in
 * pipes and CI the plain lines of data/progress.ts (every tenth of the way). Quiet under --json.
 *
 * A bar hides the cursor and turns the terminal's auto-wrap off while it is shown, so a
 * signal (Ctrl-C) or an exit then stops it first: the bar stays where it was, its line ended,
 * the cursor and wrapping back. cli-progress's own `gracefulExit` stops the bar on SIGINT but
 * then the process goes on (its listener replaces Node's default), so ours re-raises the
 * signal when no other listener (the command's exitOnInterrupt, a run lock's) will end it.
 */
import cliProgress from 'cli-progress';
import { liveTerminal } from './terminal.js';
import { STOP_SIGNALS } from '../signals.js';
import { createProgressPrinter, type ProgressPrinter, type ProgressUpdate } from '../data/progress.js';

export interface ProgressOptions {
  stream?: NodeJS.WriteStream;
  /** draw bars (default: the stream is a terminal, not in CI and not TERM=dumb: cli/terminal.ts) */
  interactive?: boolean;
  /** stay quiet for jobs smaller than this, in their unit */
  minTotal?: number;
  /** print nothing at all (--json) */
  quiet?: boolean;
}

export function createProgress(options: ProgressOptions = {}): ProgressPrinter {
  const stream = options.stream ?? process.stderr;
  if (options.quiet) return { update: () => {}, finish: () => {} };
  const interactive = options.interactive ?? liveTerminal(stream);
  if (!interactive) return createProgressPrinter({ stream, interactive: false, minTotal: options.minTotal });
  const minTotal = options.minTotal ?? 0;
  let bar: cliProgress.SingleBar | null = null;
  let task = '';
  /** The task whose bar reached its end: a later update of it (a last count) draws no second bar from 0% (until session 43 it did, once per file read) */
  let finished: string | null = null;
  let detailRoom = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    interrupt();
    // The other listeners of this signal still run (emit calls a copy of the list): they end
    // the process. With none, it ends by the signal as Node's default would.
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  };
  const watch = (on: boolean) => {
    for (const signal of STOP_SIGNALS) {
      process.removeListener(signal, onSignal);
      // First in line, so the bar's line is ended before anyone prints the last word.
      if (on) process.prependListener(signal, onSignal);
    }
    process.removeListener('exit', interrupt);
    if (on) process.on('exit', interrupt);
  };
  /** The bar stopped where it is (cursor and wrapping back, its line ended). */
  function interrupt(): void {
    watch(false);
    bar?.stop();
    bar = null;
  }
  /** The bar stopped and its line cleared: the job is done or goes on to another task. */
  const stop = () => {
    watch(false);
    if (!bar) return;
    bar.stop();
    bar = null;
    // up to the bar's line (stop() ended it) and clear it
    stream.write('\u001B[1A\u001B[2K');
  };
  return {
    update(progress: ProgressUpdate) {
      if (progress.total < minTotal) return;
      if (!bar && progress.task === finished && progress.done >= progress.total) return;
      const scale = progress.unit === 'bytes' ? 1e6 : 1;
      const detail = progress.detail ? `, ${progress.detail}` : '';
      const payload = { task: progress.task, unit: progress.unit === 'bytes' ? 'MB' : 'rows', detail, detailRoom };
      if (!bar || task !== progress.task) {
        // the room a growing detail gets, from its first width: kept for the bar's life
        detailRoom = detail ? [...detail].length + DETAIL_SLACK : 0;
        payload.detailRoom = detailRoom;
        stop();
        task = progress.task;
        bar = new cliProgress.SingleBar(
          {
            stream,
            format: fitToTerminal,
            hideCursor: true,
            clearOnComplete: false,
            etaBuffer: 20,
            fps: 10,
            formatValue: (value, _options, type) => (type === 'value' || type === 'total' ? (scale === 1 ? String(value) : value.toFixed(1)) : String(value)),
          },
          cliProgress.Presets.shades_classic,
        );
        // Watching before the first drawing: a signal that comes as it appears finds the listener.
        watch(true);
        bar.start(progress.total / scale, 0, payload);
      }
      bar.update(progress.done / scale, payload);
      if (progress.done >= progress.total) {
        stop();
        finished = progress.task;
      }
    },
    finish: stop,
  };
}

/** What follows the bar, whole where there is room. */
const TAIL = '{percentage}% | ETA {eta_formatted} | {value}/{total} {unit}{detail}';
/** Shorter tails, in the order a narrow terminal takes them, so that the task keeps a readable name. */
const NARROW_TAILS = ['{percentage}% | ETA {eta_formatted} | {value}/{total} {unit}', '{percentage}% | {value}/{total} {unit}', '{percentage}%'];
const BAR_MAX = 40;
const BAR_MIN = 10;
const ETA_SLACK = 3;
/** Columns kept for a detail that grows as the job goes ("33 rows" → "12,000 rows"): its final width is not known. */
const DETAIL_SLACK = 6;
/** The task's name is kept to at least this many columns (or whole when shorter) before the tail gives up its parts. */
const TASK_MIN = 12;

/**
 * `{task} {bar} {percentage}% | ETA … | {value}/{total} {unit}` in the terminal's width (read
 * at every drawing, so a resized terminal is followed), one column spare: with auto-wrap off a
 * longer line was cut at the edge ("… 44% | ETs"). The bar narrows to fit (at most 40 columns);
 * below 10 it is left out, and then the task's name is shortened ("…"); where even that leaves
 * it under 12 columns, the tail gives up its detail, then the ETA, then the counts (until session
 * 43 the name went first, so at 40 columns a bar read "51% | ETA 1s | 48.0/92.8 MB, 6,206 rows"
 * without saying which file).
 */
const fitToTerminal: cliProgress.GenericFormatter = (options, params, payload: { task: string; detail?: string; detailRoom?: number }) => {
  const width = (text: string) => [...text].length;
  const room = params.maxWidth - 1;
  const format = (tail: string, at = params) => cliProgress.Format.Formatter({ ...options, format: tail }, at, payload);
  const tail = format(TAIL);
  // The bar's size (and the task's, shortened) from the widest the figures get (at the end,
  // an ETA a few columns longer, a growing detail a few more), so that they do not jump as the
  // figures grow (the detail's growth was not counted until session 43: the bar went 20 → 16).
  const widest = width(format(NARROW_TAILS[0]!, { ...params, value: params.total, progress: 1 })) + ETA_SLACK + Math.max(payload.detailRoom ?? 0, width(payload.detail ?? ''));
  const task = payload.task;
  const barSize = Math.min(BAR_MAX, room - width(task) - Math.max(width(tail), widest) - 2);
  if (barSize >= BAR_MIN) return `${task} ${cliProgress.Format.BarFormat(params.progress, { ...options, barsize: barSize })} ${tail}`;
  const shorten = (text: string, to: number) => (width(text) <= to ? text : `${[...text].slice(0, Math.max(0, to - 1)).join('')}…`);
  const keep = Math.min(width(task), TASK_MIN);
  for (const [i, candidate] of [TAIL, ...NARROW_TAILS].entries()) {
    const shown = format(candidate);
    const taskRoom = room - Math.max(width(shown), i === 0 ? widest : 0) - 1;
    if (taskRoom >= keep) return `${shorten(task, taskRoom)} ${shown}`;
  }
  const last = format(NARROW_TAILS.at(-1)!);
  return room - width(last) - 1 >= 2 ? `${shorten(task, room - width(last) - 1)} ${last}` : last;
};

/** A `(task, done, total)` row counter for services' `onRows`, drawn as bars. */
export function rowProgress(printer: ProgressPrinter): (task: string, done: number, total: number) => void {
  return (task, done, total) => printer.update({ task: `predicting ${task}`, done, total, unit: 'rows' });
}
