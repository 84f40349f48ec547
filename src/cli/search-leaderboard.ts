/** The search leaderboard as a terminal table, and search events as plain lines. */
import type { LeaderboardRow, SearchEvent } from '../services/search.js';
import type { TrialParams } from '../training/search/space.js';
import { formatRate, plural } from '../data/format.js';
import { renderTable } from './table.js';

const pct = (v: number | null) => (v === null ? '—' : `${(v * 100).toFixed(2)}%`);

export function describeParams(p: Omit<TrialParams, 'epochs'>): string {
  const aug = Object.entries(p.augmentation)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  return `${p.preset} from ${p.start}, ${p.optimizer} lr ${formatRate(p.learningRate)}${p.lrDecay < 1 ? ` ×${p.lrDecay}/epoch` : ''}, batch ${p.batchSize}${p.labelSmoothing ? `, smoothing ${p.labelSmoothing}` : ''}${aug ? `, ${aug}` : ', no augmentation'}`;
}

/**
 * The leaderboard in `width` columns (default: stdout's when it is a terminal, else each row on
 * one line): the recipe column wraps between its words, through the one table layout of
 * `src/cli/table.ts` (until session 43 it was padded by hand and a terminal cut it mid-word).
 */
export function formatLeaderboard(rows: readonly LeaderboardRow[], width?: number): string {
  const header = ['#', 'trial', 'state', 'rung', 'epochs', 'val_loss', 'val_acc', 'recipe'];
  const cells = rows.map((r) => [String(r.rank), r.trial, r.state, r.rung === null ? '—' : String(r.rung), String(r.epochs), r.valLoss === null ? '—' : r.valLoss.toFixed(4), pct(r.valAcc), describeParams(r.params)]);
  return `${renderTable(header, cells, { width, align: header.map(() => 'left'), names: header.map((_, i) => i === 1) })}\n`;
}

export function formatSearchEvent(e: SearchEvent): string {
  switch (e.type) {
    case 'search-start':
      // Random search trains each trial once, to its sampled epochs: it has no rungs to show.
      return `${e.resumed ? `continuing the search in ${e.dir} (${e.done} trial${e.done === 1 ? '' : 's'} done)` : `search in ${e.dir}`}: ${e.scheduler}, ${e.trials} trial${e.trials === 1 ? '' : 's'}${e.scheduler === 'random' ? '' : `, rungs at ${e.rungs.join(', ')} epochs`}`;
    case 'trial-start':
      return `${e.trial}: ${e.resumed ? 'continuing' : 'starting'} to ${plural(e.epochs, 'epoch')} (rung ${e.rung}): ${describeParams(e.params)}`;
    case 'trial-epoch':
      return `${e.trial}: epoch ${e.epoch}/${e.epochs} val_loss ${e.valLoss.toFixed(4)} val_acc ${pct(e.valAcc)} ${e.imagesPerSecond} img/s`;
    case 'trial-rung':
      return `${e.trial}: rung ${e.rung} reached (${plural(e.epochs, 'epoch')}): best val_loss ${e.valLoss.toFixed(4)} val_acc ${pct(e.valAcc)}`;
    case 'trial-failed':
      return `${e.trial}: FAILED: ${e.error.split('\n')[0]}`;
    case 'budget-spent':
      return `budget spent after ${e.seconds}s: no new trial starts; running ones finish`;
    case 'warning':
      return `warning: ${e.message}`;
  }
}
