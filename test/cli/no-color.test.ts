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
import { runInPty } from './pty.js';

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

const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !['NO_COLOR', 'FORCE_COLOR', 'CI', 'CONTINUOUS_INTEGRATION', 'GITHUB_ACTIONS'].includes(k)));

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
  const run = await runInPty([process.execPath, '--input-type=module', '-e', script], { cwd: repoRoot, env: { ...clean, TERM: 'xterm-256color', ...env } });
  // Then it is drawn, red only when colour is on
  expect(run.code, run.output).toBe(0);
  expect(run.output).toContain('red words');
  expect(run.output.includes('\u001B[31m'), JSON.stringify(run.output)).toBe(coloured);
});
