/**
 * The dashboard command on a real (pseudo-)terminal: what a person sees, what a pipe gets,
 * how it exits. The screen itself is tested with ink-testing-library in dashboard.test.tsx.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { computeMetrics } from '../../src/evaluation/metrics.js';
import { type EvaluationReport, writeEvaluationReport } from '../../src/evaluation/evaluation-report.js';
import { removeTempDirs, tempDir } from '../data/helpers.js';
import { runOnTerminal, stripAnsi } from '../helpers/pty.js';

afterAll(removeTempDirs);

function probsReading(predicted: number[]): Float32Array {
  const out = new Float32Array(predicted.length * 10).fill(0.2 / 9);
  predicted.forEach((p, i) => (out[i * 10 + p] = 0.8));
  return out;
}

/** An evaluation of two members on ten held-out rows (no dataset cache: the digits are not drawn). */
function fakeReport(): EvaluationReport {
  const heldOutRows = [10, 11, 12, 13, 14, 15, 16, 17, 18, 19];
  const labels = heldOutRows.map((r) => r % 10);
  const history = (valAcc: number[]) => valAcc.map((v, epoch) => ({ epoch, loss: 1.2 - v, acc: v, valLoss: 1 - v, valAcc: v, lr: 1e-3, imagesPerSecond: 400, seconds: 5 }));
  return {
    format: 'digits-evaluation',
    version: 1,
    run: 'quick-b',
    createdAt: '2026-11-21T10:30:00.000Z',
    dataset: { dir: '/nonexistent/.digits', fingerprint: 'sha256:abc' },
    heldOutRows,
    members: [
      { name: 'alpha', preset: 'seed002', checkpoint: 'alpha/best', rows: 10, metrics: computeMetrics(probsReading(labels), labels), history: history([0.5, 0.8, 1]), validationRows: heldOutRows },
      { name: 'beta', preset: 'deotte', checkpoint: 'beta/best', rows: 10, metrics: computeMetrics(probsReading(labels.map((l) => (l === 7 ? 1 : l))), labels), history: history([0.6, 0.9]) },
    ],
    ensemble: {
      soft: computeMetrics(probsReading(labels.map((l) => (l === 4 ? 9 : l))), labels),
      hard: computeMetrics(probsReading(labels), labels),
    },
  };
}

describe('digits dashboard on a terminal', () => {
  let work: string;
  let runDir: string;
  beforeAll(async () => {
    work = await tempDir('digits-dash-tty-');
    runDir = join(work, 'runs', 'quick-b');
    await mkdir(runDir, { recursive: true });
    await writeEvaluationReport(runDir, fakeReport());
  });

  test('piped (`digits dashboard | less`, stdin and stderr a terminal): the tables once on stdout, no interactive screen', async () => {
    // Given stdin and stderr on a terminal and stdout into a pipe
    // When the dashboard runs (nobody presses a key)
    const result = await runOnTerminal(['dashboard', '--run', runDir], { cwd: work, stdoutPipe: true, timeout: 20 });
    if (process.env.SHOW_TTY) console.log(result.tty)
    // Then it printed the tables to the pipe and exited by itself
    expect(result.timedOut).toBe(false);
    expect(result.exit).toBe(0);
    expect(result.stdout).toContain('Run quick-b evaluated 2026-11-21T10:30:00.000Z on 10 held-out rows');
    expect(result.stdout).toContain('ensemble (soft vote): accuracy 90.00%');
    // and drew no screen on the terminal (no keys line, no hidden cursor)
    expect(stripAnsi(result.tty)).not.toContain('q: quit');
    expect(result.tty).not.toContain('\u001B[?25l');
  });

  test('q quits at 80×24: never the full-screen path, and the prompt starts on a line of its own', async () => {
    // Given the dashboard on an 80×24 terminal
    // When q is pressed once its keys are shown
    const result = await runOnTerminal(['dashboard', '--run', runDir], { cwd: work, cols: 80, rows: 24, steps: [{ waitFor: 'q: quit', echoOff: true, send: 'q' }], timeout: 20 });
    if (process.env.SHOW_TTY) console.log(JSON.stringify(result.tty.slice(-500)));
    // Then it exits 0, the terminal as it was
    expect(result.timedOut).toBe(false);
    expect(result.exit).toBe(0);
    expect(result.lflagRestored).toBe(true);
    // and the screen and scrollback were never cleared (Ink does that for a frame as tall as the terminal)
    expect(result.tty).not.toContain('\u001B[2J');
    expect(result.tty).not.toContain('\u001B[3J');
    // and what it wrote ends with a newline, so the shell's prompt is not glued to the keys line
    expect(stripAnsi(result.tty)).toMatch(/q: quit\r?\n$/);
  });

  test('a terminal made shorter while it is up keeps its scrollback: the redraw clears only the screen', async () => {
    // Given the dashboard on a 100×30 terminal
    // When the terminal is made 12 rows tall while it is up (the frame drawn before is as tall as the old one), then q
    const result = await runOnTerminal(['dashboard', '--run', runDir], { cwd: work, cols: 100, rows: 30, steps: [{ waitFor: 'q: quit', echoOff: true, resize: [100, 12] }, { waitFor: 'q: quit', send: 'q' }], timeout: 20 });
    expect(result.timedOut).toBe(false);
    expect(result.exit).toBe(0);
    // Then Ink's full redraw came (home and erase down) without ESC[3J, which erases the scrollback
    // (until session 43 the shell's history and everything above the view were wiped)
    expect(result.tty).toContain('\u001B[1;1H\u001B[J');
    expect(result.tty).not.toContain('\u001B[3J');
  });

  test('Ctrl-Z stops it with the terminal given back; continued, it shows the same view again and q quits', async () => {
    // Given the dashboard on a terminal, on its second view
    // When Ctrl-Z is typed, the stopped job continued (as the shell's fg does), then q
    const result = await runOnTerminal(['dashboard', '--run', runDir], {
      cwd: work,
      steps: [
        { waitFor: 'q: quit', echoOff: true, send: '\u001B[C' },
        { waitFor: '2/', send: '\u001A' },
        { stopped: true, signal: 'CONT' },
        { waitFor: 'q: quit', echoOff: true, send: 'q' },
      ],
      jobControl: true,
      timeout: 20,
    });
    // Then the job stopped with the terminal as the shell had it
    expect(result.timedOut, stripAnsi(result.tty)).toBe(false);
    expect(result.pending).toBe(0);
    expect(result.lflagRestoredWhenStopped).toEqual([true]);
    // And it came back on the view it had, and q quit as usual
    const afterStop = stripAnsi(result.tty).split("[job stopped]")[1]!;
    expect(afterStop).toMatch(/\b2\/\d+ /);
    expect(result.exit).toBe(0);
    expect(result.lflagRestored).toBe(true);
  });

  test.each([
    { key: 'Q', name: 'Q (caps lock)', exit: 0 },
    { key: '\u0003', name: 'Ctrl-C', exit: 130 },
  ])('$name ends it with the status of other commands ($exit), the terminal restored', async ({ key, exit }) => {
    // Given the dashboard on a terminal
    // When the key is pressed once the screen is up
    const result = await runOnTerminal(['dashboard', '--run', runDir], { cwd: work, steps: [{ waitFor: 'q: quit', echoOff: true, send: key }], timeout: 20 });
    // Then it ends with that status (Ctrl-C: 130, as a shell reports a command interrupted), echo and line editing back on
    expect(result.timedOut).toBe(false);
    expect(result.exit).toBe(exit);
    expect(result.lflagRestored).toBe(true);
    expect(stripAnsi(result.tty)).toMatch(/q: quit\r?\n/);
  });
});
