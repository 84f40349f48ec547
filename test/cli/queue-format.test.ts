/**
 * The queue's text lines (src/cli/queue.ts): `queue status` and the worker's ready line.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, test } from 'vitest';
import { formatQueueStatus, formatWorkerEvent } from '../../src/cli/queue.js';
import { repoRoot } from '../helpers/run-command.js';

describe('queue lines', () => {
  test('queue status: a busy worker says how many jobs it runs, then one line each (its line ended in "): ")', () => {
    const text = formatQueueStatus({
      redis: 'redis://127.0.0.1:6379',
      queues: [{ queue: 'digits-members', waiting: 1, active: 2, delayed: 0, waitingChildren: 0, completed: 3, failed: 0 }],
      workers: [
        { worker: 'worker:a:1', connected: true, addr: '127.0.0.1:5000', age: 12, running: [
          { job: 'j1', run: 'r', member: 'm1', kind: 'member', attempt: 1, progress: 'epoch 2/4 done' },
          { job: 'j2', run: 'r', member: 'm2', kind: 'member', attempt: 2, progress: null },
        ] },
        { worker: 'worker:b:2', connected: true, addr: '127.0.0.1:5001', age: 3, running: [] },
      ],
    });
    const lines = text.trimEnd().split('\n');
    expect(lines.slice(-5)).toEqual([
      'workers',
      '  worker:a:1 (127.0.0.1:5000, connected 12s): running 2 jobs',
      '    member m1 of r (job j1, attempt 1): epoch 2/4 done',
      '    member m2 of r (job j2, attempt 2)',
      '  worker:b:2 (127.0.0.1:5001, connected 3s): idle',
    ]);
  });

  test('a worker says where it reads the runs\' files when given --store', () => {
    expect(formatWorkerEvent({ type: 'worker-ready', worker: 'worker:a:1', concurrency: 2, redis: 'redis://h:6379' })).toBe('worker:a:1: ready on redis://h:6379, 2 jobs at once');
    expect(formatWorkerEvent({ type: 'worker-ready', worker: 'worker:a:1', concurrency: 1, redis: 'redis://h:6379', store: '/mnt/lab' })).toBe("worker:a:1: ready on redis://h:6379, 1 job at once, reading the runs' files under --store /mnt/lab");
  });

  test('queue clean says whose jobs to remove before it connects (--run or --all), and takes one of them only', async () => {
    const run = (argv: string[]) =>
      promisify(execFile)(process.execPath, [path.join(repoRoot, 'bin/run.js'), 'queue', 'clean', '--redis', 'redis://127.0.0.1:1', ...argv], { env: { ...process.env, CI: 'true' } }).then(
        () => ({ code: 0, stderr: '' }),
        (error: { code: number; stderr: string }) => ({ code: error.code, stderr: error.stderr }),
      );
    const neither = await run([]);
    expect(neither.code).toBe(2);
    expect(neither.stderr).toContain('error: say whose jobs to remove: --run <name> or --all (flag --run)');
    const both = await run(['--run', 'r', '--all']);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/--all|--run/);
  });
});
