/**
 * A progress bar hides the cursor and turns the terminal's auto-wrap off while it draws; a
 * signal or an exit while it is shown must give both back (and end the bar's line) before
 * the process ends, and the process must still end as it would have: by the signal (a shell
 * reports 130 or 143) or with its exit code. Run on a real pty, with the built module.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { expect, test } from 'vitest';
import { repoRoot } from '../helpers/run-command.js';
import { count, runCommandOnTerminal } from '../helpers/pty.js';

const progress = pathToFileURL(path.join(repoRoot, 'dist/cli/progress.js')).href;

/** A node process that shows a bar at 10% and then does `then`. */
const script = (then: string) =>
  `import { createProgress } from '${progress}';
   const bars = createProgress();
   bars.update({ task: 'predicting test rows', done: 10, total: 100, unit: 'rows' });
   ${then}`;

test.each([
  { how: 'Ctrl-C (SIGINT)', then: 'setInterval(() => {}, 1000);', signal: 'SIGINT' as const, died: 'SIGINT', code: null },
  { how: 'SIGTERM', then: 'setInterval(() => {}, 1000);', signal: 'SIGTERM' as const, died: 'SIGTERM', code: null },
  {
    how: 'SIGINT with a handler of the command that re-raises it (exitOnInterrupt)',
    then: `process.once('SIGINT', () => { process.stderr.write('\\nerror: interrupted (SIGINT)\\n'); process.kill(process.pid, 'SIGINT'); }); setInterval(() => {}, 1000);`,
    signal: 'SIGINT' as const,
    died: 'SIGINT',
    code: null,
  },
  { how: 'process.exit(3)', then: 'process.exit(3);', signal: undefined, died: null, code: 3 },
])('a bar interrupted by $how: cursor shown, wrap on, its line ended, and the process ends the same way', { timeout: 60_000 }, async ({ then, signal, died, code }) => {
  // Given a bar drawn on a terminal
  // When the process gets the signal once the bar is on screen (or exits while it is)
  const steps = signal ? [{ waitFor: 'predicting test rows', signal: signal.slice(3) }] : [];
  const { tty: output, ...run } = await runCommandOnTerminal([process.execPath, '--input-type=module', '-e', script(then)], { steps, timeout: 60 });
  // Then it ended as it would have without a bar
  expect(run.timedOut, output).toBe(false);
  expect(run.signal, output).toBe(died);
  if (code !== null) expect(run.exit, output).toBe(code);
  // And the bar was drawn, and every cursor hide and wrap-off it wrote was undone
  expect(output).toContain('predicting test rows');
  expect(count(output, '\u001B[?25l')).toBeGreaterThan(0);
  expect(count(output, '\u001B[?25h'), JSON.stringify(output)).toBe(count(output, '\u001B[?25l'));
  expect(count(output, '\u001B[?7h'), JSON.stringify(output)).toBe(count(output, '\u001B[?7l'));
  // And the bar stays where it stopped (10%), its line ended, so whatever follows starts on a line of its own
  const afterBar = output.slice(output.lastIndexOf('10%'));
  expect(afterBar).toMatch(/\r?\n/);
  if (then.includes('interrupted')) expect(afterBar).toMatch(/\n\r?\nerror: interrupted \(SIGINT\)/);
});
