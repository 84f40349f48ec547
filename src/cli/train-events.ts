/** Plain-line and JSON renderings of training events (non-TTY, CI=true, --json). */
import type { ReplannedEvent, TrainEvent } from '../training/train-member.js';
import { resumeNote } from '../training/resume-note.js';
import { plural } from '../data/format.js';

const pct = (v: number) => `${(v * 100).toFixed(2)}%`;

export function formatTrainEvent(event: TrainEvent | ReplannedEvent): string | null {
  switch (event.type) {
    case 'replanned':
      return `${event.member}: ${plural(event.epochs, 'epoch')} instead of ${event.planned}${event.epochs > 1 ? ', decaying over them' : ''}: the members before it trained ${event.secondsPerEpoch.toFixed(1)} s an epoch, and ${event.secondsLeft} s are left before the budget's deadline`;
    case 'start':
      return `${event.member}: ${event.trainRows} training rows, ${event.validationRows} validation rows, ${plural(event.epochs, 'epoch')} × ${event.batches} batch${event.batches === 1 ? '' : 'es'}${event.resumedAt ? ` (${resumeNote(event.resumedAt, event.epochs)})` : ''}${event.trainer ? `; step: ${event.trainer.reason}` : ''}`;
    case 'batch':
      return `${event.member}: epoch ${event.epoch + 1} batch ${event.batch}/${event.batches} loss ${event.loss.toFixed(4)} ${Math.round(event.imagesPerSecond)} img/s`;
    case 'epoch':
      return `${event.member}: epoch ${event.epoch + 1}/${event.epochs} loss ${event.loss.toFixed(4)} acc ${pct(event.acc)} val_loss ${event.valLoss.toFixed(4)} val_acc ${pct(event.valAcc)} lr ${event.lr.toExponential(2)} ${event.imagesPerSecond} img/s ${event.seconds}s${event.best ? ' *best' : ''}`;
    case 'done':
      return `${event.member}: done, best epoch ${event.bestEpoch + 1} val_loss ${event.bestValLoss.toFixed(4)} val_acc ${pct(event.bestValAcc)}${event.stoppedEarly ? ' (early stop)' : ''}`;
  }
}

/** Writes events to stderr as lines (or stdout as JSON objects with --json, all but `batch`). */
export function eventPrinter(json: boolean, batchEverySeconds = 30): (event: TrainEvent) => void {
  let lastBatchLine = 0;
  return (event) => {
    if (event.type === 'batch') {
      // Not streamed under --json, as in train and run (the first one was, until session 43).
      if (json) return;
      // Batch progress at most every `batchEverySeconds`, so logs stay readable.
      if (Date.now() - lastBatchLine < batchEverySeconds * 1000) return;
      lastBatchLine = Date.now();
    }
    if (json) {
      process.stdout.write(`${JSON.stringify(event)}\n`);
      return;
    }
    const line = formatTrainEvent(event);
    if (line) process.stderr.write(`${line}\n`);
  };
}
