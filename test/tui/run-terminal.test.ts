/**
 * `digits run --pseudo-label` on a real (pseudo-)terminal: two trainings, each under a live
 * view, with stage lines between them. A line written while a view is up is drawn over by the
 * view's next frame (Ink erases the lines it drew last): round 2's line landed inside round 1's
 * frame. Each stage line must come after the view before it has ended, and the next round's
 * view must start below it.
 */
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { buildPracticeCompetition } from '../../src/data/practice.js';
import { removeTempDirs, tempDir } from '../data/helpers.js';
import { runOnTerminal, stripAnsi } from '../helpers/pty.js';

let work: string;
beforeAll(async () => {
  work = await tempDir('digits-run-terminal-');
  await buildPracticeCompetition({ recipe: 'uniform', out: path.join(work, 'comp'), trainRows: 300, testRows: 40, seed: 11 });
});
afterAll(removeTempDirs);

test('stage lines between the rounds of --pseudo-label are not drawn over by a live view', { timeout: 240_000 }, async () => {
  // Given a tiny auto run with pseudo-labelling, on a terminal (the mlp preset: one start to
  // probe and a network that trains in a second; the views do not depend on the network)
  const result = await runOnTerminal(['run', '--data', 'comp', '--budget', '0.5', '--concurrency', '2', '--pseudo-label', '--preset', 'mlp'], { cwd: work, cols: 120, rows: 40, env: { DIGITS_BACKEND: 'wasm' }, timeout: 200 });
  expect(result.timedOut, stripAnsi(result.tty).slice(-2000)).toBe(false);
  expect(result.exit, stripAnsi(result.tty).slice(-2000)).toBe(0);
  // When round 1's view has shown, and the stage lines of pseudo-labelling and round 2 follow
  const tty = result.tty;
  const round2 = tty.indexOf('round 2: ');
  expect(round2, stripAnsi(tty).slice(-3000)).toBeGreaterThan(tty.indexOf('digits run → '));
  // Then from the first line after round 1's training to round 2's view, nothing moves the
  // cursor up or erases a line: no frame of round 1 is redrawn over them
  const afterRound1 = tty.indexOf('[pseudo-label]');
  expect(afterRound1).toBeGreaterThan(0);
  const between = tty.slice(afterRound1, tty.indexOf('digits run → ', round2));
  expect(between, JSON.stringify(between)).not.toMatch(/\u001B\[\d*A|\u001B\[2K/);
  // And round 2 has a view of its own, drawn below its line
  expect(tty.indexOf('digits run → ', round2)).toBeGreaterThan(round2);
});
