/**
 * The state of the live training view, folded from training events. Pure: the Ink view
 * renders it, tests check it, nothing here knows about React.
 */
import type { EnsembleEvent } from '../training/train-member.js';

export interface MemberRow {
  name: string;
  status: 'waiting' | 'training' | 'done' | 'failed';
  epoch: number;
  epochs: number;
  batch: number;
  batches: number;
  loss: number | null;
  acc: number | null;
  valAcc: number | null;
  lr: number | null;
  imagesPerSecond: number | null;
  /** validation accuracy after each epoch, for the sparkline */
  valAccHistory: number[];
  startedAt: number | null;
  error?: string;
}

export interface TrainViewState {
  title: string;
  backend: string;
  members: MemberRow[];
  startedAt: number;
  /** what the run waits on, when it waits (the queue's notices: no worker, Redis away); shown under the title */
  notice?: string;
}

export function initialState(title: string, backend: string, members: Array<{ name: string; epochs: number }>, now = Date.now()): TrainViewState {
  return {
    title,
    backend,
    startedAt: now,
    members: members.map((m) => ({
      name: m.name,
      status: 'waiting',
      epoch: 0,
      epochs: m.epochs,
      batch: 0,
      batches: 0,
      loss: null,
      acc: null,
      valAcc: null,
      lr: null,
      imagesPerSecond: null,
      valAccHistory: [],
      startedAt: null,
    })),
  };
}

/**
 * The state with the planned members, in the plan's order, as soon as the plan is known (a
 * view told of members only as they started showed 100% with 4 of 6 done, then dropped): rows
 * that already report keep what they have, the others wait; rows outside the plan stay, last.
 */
export function withPlannedMembers(state: TrainViewState, planned: Array<{ name: string; epochs: number }>): TrainViewState {
  const known = new Map(state.members.map((row) => [row.name, row]));
  const names = new Set(planned.map((m) => m.name));
  const waiting = initialState('', '', planned.filter((m) => !known.has(m.name))).members;
  const fresh = new Map(waiting.map((row) => [row.name, row]));
  return {
    ...state,
    members: [
      // (a row made by an engine event before its start has no epochs yet: the plan's)
      ...planned.map((m) => {
        const row = known.get(m.name);
        return row ? (row.epochs === 0 ? { ...row, epochs: m.epochs } : row) : fresh.get(m.name)!;
      }),
      ...state.members.filter((row) => !names.has(row.name)),
    ],
  };
}

export function reduce(state: TrainViewState, event: EnsembleEvent, now = Date.now()): TrainViewState {
  const update = (name: string, f: (row: MemberRow) => MemberRow): TrainViewState => {
    // A member the view was not told about up front gets its row when it first reports.
    const members = state.members.some((row) => row.name === name) ? state.members : [...state.members, ...initialState('', '', [{ name, epochs: 0 }]).members];
    return { ...state, members: members.map((row) => (row.name === name ? f(row) : row)) };
  };
  switch (event.type) {
    case 'engine':
      return { ...update(event.member, (r) => r), backend: `${event.backend}${event.ort ? ' + onnxruntime kernels' : ''}` };
    case 'start':
      return update(event.member, (r) => ({ ...r, status: 'training', epochs: event.epochs, epoch: event.resumedAt, batches: event.batches, startedAt: now }));
    case 'batch':
      return update(event.member, (r) => ({ ...r, status: 'training', epoch: event.epoch, batch: event.batch, batches: event.batches, loss: event.loss, imagesPerSecond: event.imagesPerSecond }));
    case 'epoch':
      return update(event.member, (r) => ({
        ...r,
        epoch: event.epoch + 1,
        batch: 0,
        loss: event.loss,
        acc: event.acc,
        valAcc: event.valAcc,
        lr: event.lr,
        imagesPerSecond: event.imagesPerSecond,
        valAccHistory: [...r.valAccHistory, event.valAcc],
      }));
    case 'done':
      return update(event.member, (r) => ({ ...r, status: 'done', batch: 0 }));
    case 'member-failed':
      return update(event.member, (r) => ({ ...r, status: 'failed', error: event.error.split('\n')[0] }));
    case 'replanned':
      // (the bar counts the epochs it will train; the notice says why, under the title)
      return { ...update(event.member, (r) => ({ ...r, epochs: event.epochs })), notice: `${event.member}: ${event.epochs} epoch${event.epochs === 1 ? '' : 's'} instead of ${event.planned}: ${event.secondsLeft} s left before the budget's deadline, at ${event.secondsPerEpoch.toFixed(1)} s an epoch` };
  }
}

/** Fraction of all epochs done, counting partial epochs. */
export function overallProgress(state: TrainViewState): number {
  let done = 0;
  let total = 0;
  for (const r of state.members) {
    total += r.epochs;
    if (r.status === 'done' || r.status === 'failed') done += r.epochs;
    else done += r.epoch + (r.batches ? r.batch / r.batches : 0);
  }
  return total ? Math.min(1, done / total) : 0;
}

/** Seconds left for a member at its current pace, or null before it has a pace. */
export function etaSeconds(row: MemberRow, now = Date.now()): number | null {
  if (row.status !== 'training' || row.startedAt === null) return row.status === 'done' ? 0 : null;
  const progress = row.epoch + (row.batches ? row.batch / row.batches : 0);
  if (progress <= 0) return null;
  const elapsed = (now - row.startedAt) / 1000;
  return (elapsed / progress) * (row.epochs - progress);
}

const BARS = '▁▂▃▄▅▆▇█';
export function sparkline(values: number[]): string {
  if (values.length === 0) return '';
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  return values.map((v) => BARS[hi === lo ? BARS.length - 1 : Math.round(((v - lo) / (hi - lo)) * (BARS.length - 1))]).join('');
}

export function formatDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '—';
  const s = Math.round(seconds);
  const m = Math.floor(s / 60);
  return m > 0 ? `${m}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}
