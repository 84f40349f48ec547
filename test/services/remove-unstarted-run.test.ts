/**
 * A `digits run` stopped while auto chose its recipe removes its folder, also while a probe's
 * worker thread is still writing into it (a checkpoint being saved as the process dies).
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { expect, test } from 'vitest';
import { interruptedMainJobHint, removeUnstartedRunSync } from '../../src/services/run.js';

test('a folder a worker thread keeps writing into is removed: each try lists it again (Node\'s retries only retried the failed rmdir)', async () => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'digits-unstarted-'));
  try {
    // Given a run folder with a probe's folder that a worker thread fills with files as fast as it can
    const probe = path.join(root, 'run', 'auto-probes', 'probe-1');
    await mkdir(probe, { recursive: true });
    await writeFile(path.join(probe, 'history.json'), '[]\n');
    const worker = new Worker(
      `const { writeFileSync } = require('node:fs');
       const { workerData, parentPort } = require('node:worker_threads');
       parentPort.postMessage('writing');
       const end = Date.now() + 1200;
       // (until its folder is gone: a write into a missing folder fails, and nothing makes it again)
       for (let i = 0; Date.now() < end; i++) { try { writeFileSync(workerData + '/f' + i, 'x'); } catch { break; } }`,
      { eval: true, workerData: probe },
    );
    await new Promise((resolve) => worker.once('message', resolve));
    // When the stopped run's folder is removed while it writes
    const removed = removeUnstartedRunSync(path.join(root, 'run'));
    await worker.terminate();
    // Then the folder is gone
    expect(removed).toBe(true);
    expect(existsSync(path.join(root, 'run'))).toBe(false);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('stopped at the submission after it was recorded: the hint names the report, the one step left (--resume refuses a submitted run)', async () => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'digits-stopped-submit-'));
  try {
    // Given a run whose run.json is there, and a ledger beside its project
    const runDir = path.join(root, 'runs', 'auto-1');
    await mkdir(runDir, { recursive: true });
    await writeFile(path.join(runDir, 'run.json'), '{}\n');
    await mkdir(path.join(root, 'submissions'));
    // When it is stopped at the submission before the ledger line, then after it
    expect(interruptedMainJobHint(runDir, 'submit')).toMatch(/^Training had finished: `digits run --resume --run /);
    await writeFile(path.join(root, 'submissions', 'ledger.jsonl'), `${JSON.stringify({ run: path.join('..', 'runs', 'auto-1'), file: 'x.csv' })}\n`);
    // Then the hint is the report's
    expect(interruptedMainJobHint(runDir, 'submit')).toBe(`Its members are trained, evaluated and its submission is written and recorded; only the HTML report is missing: \`digits report --run ${runDir}\` writes it.`);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
