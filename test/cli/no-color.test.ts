/**
 * NO_COLOR (any non-empty value, https://no-color.org) turns colour off in the Ink views too,
 * not only in what we colour through ansis: Ink colours through chalk, whose supports-color
 * reads FORCE_COLOR but not NO_COLOR, so the base command turns NO_COLOR into FORCE_COLOR=0
 * before any command loads Ink. Checked on a real pty with a command of our base class that
 * renders Ink's red <Text> as the live views do.
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
    const [{ render, Text }, React] = await Promise.all([import('ink'), import('react')]);
    const app = render(React.createElement(Text, { color: 'red' }, 'red words'), { stdout: process.stderr });
    app.unmount();
    await app.waitUntilExit();
    process.stderr.write('FORCE_COLOR=' + process.env.FORCE_COLOR + '\\n');
  }
}
await Show.run([], '${repoRoot}');`;

/** Colour settings of the environment the tests run in, unset (the case's own come on top). */
const unset = { NO_COLOR: null, FORCE_COLOR: null, GITHUB_ACTIONS: null };

test.each([
  { env: {}, coloured: true },
  { env: { NO_COLOR: '1' }, coloured: false },
  { env: { NO_COLOR: 'yes' }, coloured: false },
  // an empty NO_COLOR is not set (no-color.org: "present and not an empty string")
  { env: { NO_COLOR: '' }, coloured: true },
  { env: { FORCE_COLOR: '0' }, coloured: false },
  // FORCE_COLOR, given too, decides
  { env: { NO_COLOR: '1', FORCE_COLOR: '1' }, coloured: true },
])('an Ink view with $env on a terminal: colour $coloured', { timeout: 60_000 }, async ({ env, coloured }) => {
  // Given a terminal that supports colour, and the environment of the case
  // When a command renders red text with Ink
  const { tty: output, exit } = await runCommandOnTerminal([process.execPath, '--input-type=module', '-e', script], { env: { ...unset, ...env } });
  // Then it is drawn, red only when colour is on
  expect(exit, output).toBe(0);
  expect(output).toContain('red words');
  expect(output.includes('\u001B[31m'), JSON.stringify(output)).toBe(coloured);
});
