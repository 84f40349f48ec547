/** Plain-line renderings of the queue: `digits worker`'s events, `digits queue status`, a flow's report. */
import type { RunReport } from '../services/queue/queues.js';
import type { QueueStatus } from '../services/queue/status.js';
import type { QueueWorkerEvent } from '../services/queue/worker.js';
import { resumeNote } from '../training/resume-note.js';
import { formatTrainEvent } from './train-events.js';
import { plural } from '../data/format.js';
import { failureLine } from '../errors.js';

export function formatWorkerEvent(event: QueueWorkerEvent): string | null {
  switch (event.type) {
    case 'worker-ready':
      return `${event.worker}: ready on ${event.redis}, ${event.concurrency} job${event.concurrency === 1 ? '' : 's'} at once${event.store ? `, reading the runs' files under --store ${event.store}` : ''}`;
    case 'job-start':
      return `job ${event.job}: ${event.kind} ${event.member} of ${event.run} (attempt ${event.attempt}${event.resume ? ', resuming from its last checkpoint' : ''})`;
    case 'job-event':
      if (event.event.type === 'batch') return null;
      if (event.event.type === 'member-failed') return `${event.event.member}: FAILED: ${event.event.error.split('\n')[0]}`;
      if (event.event.type === 'engine') return `${event.event.member}: worker thread on ${event.event.backend}${event.event.ort ? ' + onnxruntime kernels' : ''}`;
      return formatTrainEvent(event.event);
    case 'job-done':
      return `job ${event.job}: ${event.member} of ${event.run} done (${event.resumedAt && event.resumedAt >= event.epochs ? resumeNote(event.resumedAt, event.epochs) : `${plural(event.epochs, 'epoch')}${event.resumedAt ? `, ${resumeNote(event.resumedAt, event.epochs)}` : ''}`})`;
    case 'job-failed':
      return `job ${event.job}: ${event.member} of ${event.run} FAILED${event.retry ? ' (will be retried)' : ''}: ${event.error.split('\n')[0]}`;
    case 'worker-error':
      return `queue error (BullMQ retries): ${event.error}`;
    case 'worker-blind':
      return `job ${event.job}: ${event.member} of ${event.run} went back to the queue: this worker cannot see ${event.what} (${event.missing}); it takes no more jobs`;
    case 'worker-draining':
      return event.running === 0 ? 'stopping: no new jobs; no job running' : `stopping: no new jobs; waiting for ${event.running} running job${event.running === 1 ? '' : 's'} to finish (signal again to stop at once)`;
    case 'worker-closed':
      return 'stopped';
  }
}

export function formatQueueStatus(status: QueueStatus): string {
  const lines = [`queue on ${status.redis}`];
  const header = ['queue', 'waiting', 'active', 'delayed', 'waiting-children', 'completed', 'failed'];
  const rows = status.queues.map((q) => [q.queue, q.waiting, q.active, q.delayed, q.waitingChildren, q.completed, q.failed].map(String));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const r of [header, ...rows]) lines.push(`  ${r.map((c, i) => c.padEnd(widths[i]!)).join('  ')}`);
  lines.push(status.workers.length ? 'workers' : 'no worker connected (start one with `digits worker --redis <url>`)');
  for (const w of status.workers) {
    const where = w.connected ? `${w.addr ?? '?'}, connected ${w.age ?? '?'}s` : 'not connected: its jobs are taken over after the stall interval';
    // (a busy worker's line ended in "): " until session 49)
    lines.push(`  ${w.worker} (${where}): ${w.running.length ? `running ${w.running.length === 1 ? '1 job' : `${w.running.length} jobs`}` : 'idle'}`);
    for (const r of w.running) lines.push(`    ${r.kind} ${r.member} of ${r.run} (job ${r.job}, attempt ${r.attempt})${r.progress ? `: ${r.progress}` : ''}`);
  }
  return `${lines.join('\n')}\n`;
}

export function formatRunReport(report: RunReport): string {
  const failed = report.members.filter((m) => !m.ok);
  const resumed = report.members.filter((m) => m.ok && m.resumedAt);
  const lines = [`queue report: ${report.members.length - failed.length} of ${report.members.length} jobs done${resumed.length ? `, ${resumed.map((m) => `${m.member} ${resumeNote(m.resumedAt, m.epochs)}`).join(', ')}` : ''}`];
  if (report.abandoned) lines.push(`  abandoned: the ${report.kind} stopped renewing its lease before closing its flow, so this reports the ${report.kind === 'search' ? 'trials' : 'members'} it had enqueued by then`);
  for (const m of failed) lines.push(`  ${m.member}: FAILED after ${m.attempts} attempt${m.attempts === 1 ? '' : 's'}: ${failureLine(m.error)}`);
  return `${lines.join('\n')}\n`;
}
