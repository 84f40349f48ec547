/**
 * Whether a command draws a live view (Ink, bars) or plain lines: plain when stderr is not a
 * terminal, under --json, in CI as Ink itself detects it (is-in-ci: CI or
 * CONTINUOUS_INTEGRATION set and not "0"/"false" — with CI=1 Ink draws nothing until it
 * unmounts, so a live view would leave a blank screen for the whole run), and on TERM=dumb
 * (no cursor movement). Checked on a real pty with a command of our base class.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { expect, test } from 'vitest';
import { repoRoot } from '../helpers/run-command.js';
import { runCommandOnTerminal } from '../helpers/pty.js';

const base = pathToFileURL(path.join(repoRoot, 'dist/cli/base-command.js')).href;
const script = `import { DigitsCommand } from '${base}';
class Show extends DigitsCommand {
  async run() {
    await this.parse(Show);
    const { default: isInCi } = await import('is-in-ci');
    process.stderr.write('plain=' + this.plainOutput + ' ink-ci=' + isInCi + '\\n');
  }
}
await Show.run(process.argv.slice(1), '${repoRoot}');`;

test.each([
  { env: {} as Record<string, string>, plain: false },
  { env: { CI: 'true' }, plain: true },
  { env: { CI: '1' }, plain: true },
  { env: { CI: 'yes' }, plain: true },
  { env: { CI: '' }, plain: true },
  { env: { CI: '0' }, plain: false },
  { env: { CI: 'false' }, plain: false },
  { env: { CONTINUOUS_INTEGRATION: '1' }, plain: true },
  { env: { TERM: 'dumb' }, plain: true },
])('on a terminal with $env: plain output $plain, as Ink sees CI', { timeout: 60_000 }, async ({ env, plain }) => {
  // Given a command on a terminal, with the environment of the case
  // When it asks whether to draw a live view
  const { tty: output, exit } = await runCommandOnTerminal([process.execPath, '--input-type=module', '-e', script], { env });
  expect(exit, output).toBe(0);
  // Then plain lines exactly when Ink would not draw live (CI) or the terminal cannot move the cursor
  const [, seen, inkCi] = /plain=(\w+) ink-ci=(\w+)/.exec(output)!;
  expect(seen, output).toBe(String(plain));
  if (!('TERM' in env)) expect(inkCi).toBe(String(plain));
});

test('--json is plain on a terminal too', { timeout: 60_000 }, async () => {
  const { tty: output } = await runCommandOnTerminal([process.execPath, '--input-type=module', '-e', script, '--', '--json'], {});
  expect(output).toContain('plain=true');
});

test('a terminal that reports 0 columns gets plain lines (Ink laid the live view out 0 wide)', { timeout: 60_000 }, async () => {
  const { tty: output } = await runCommandOnTerminal([process.execPath, '--input-type=module', '-e', script], { env: {}, cols: 0 });
  expect(output).toContain('plain=true');
});
