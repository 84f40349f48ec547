/**
 * The last word of a job stopped by a signal (exitOnInterrupt): the error names the signal and
 * the hint, asked at the signal, says what is kept. The error itself claims nothing, or it
 * contradicts a hint such as run's "nothing is kept and no run folder is left" (seen:
 * "interrupted (SIGINT); the work saved so far is kept" above it). Run on a real pty.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { expect, test } from 'vitest';
import { repoRoot } from '../helpers/run-command.js';
import { runCommandOnTerminal } from '../helpers/pty.js';

const base = pathToFileURL(path.join(repoRoot, 'dist/cli/base-command.js')).href;
const script = `import { DigitsCommand } from '${base}';
class Job extends DigitsCommand {
  async run() {
    await this.parse(Job);
    this.exitOnInterrupt(() => 'Training had not started, so nothing is kept and no run folder is left: run the same command again.');
    process.stderr.write('working\\n');
    setInterval(() => {}, 1000);
    await new Promise(() => {});
  }
}
await Job.run(process.argv.slice(1).filter((a) => a !== '--'), '${repoRoot}');`;

test.each([
  { signal: 'SIGINT' as const, json: false },
  { signal: 'SIGTERM' as const, json: true },
  // a hang-up (the terminal closed) is an interrupt too: Node's default died at once, lock and all
  { signal: 'SIGHUP' as const, json: true },
])('stopped by $signal (--json $json): the error names the signal and leaves what is kept to the hint', { timeout: 60_000 }, async ({ signal, json }) => {
  // Given a job whose hint says nothing is kept
  // When it gets the signal while working
  const { tty: output, signal: died } = await runCommandOnTerminal([process.execPath, '--input-type=module', '-e', script, '--', ...(json ? ['--json'] : [])], { steps: [{ waitFor: 'working', signal: signal.slice(3) }], timeout: 60 });
  // Then it dies by the signal
  expect(died, output).toBe(signal);
  // And its last word is the signal and the hint, with no claim that work was kept
  if (json) {
    const line = JSON.parse(output.trim().split(/\r?\n/).at(-1)!);
    expect(line).toMatchObject({ type: 'error', error: `interrupted (${signal})`, hint: expect.stringMatching(/^Training had not started/) });
  } else {
    expect(output).toContain(`error: interrupted (${signal})`);
    expect(output).toContain('nothing is kept');
  }
  expect(output).not.toMatch(/saved so far is kept/);
});

/** A job whose hint takes a while (run's removes the probes' folder) and meanwhile gets the signal again. */
const slowHint = `import { DigitsCommand } from '${base}';
class Job extends DigitsCommand {
  async run() {
    await this.parse(Job);
    this.exitOnInterrupt(() => {
      // what \`timeout\` and a terminal's Ctrl-C do: a second SIGINT (to the process group) while the first is handled
      process.kill(process.pid, 'SIGINT');
      const until = Date.now() + 300;
      while (Date.now() < until) {}
      return 'Training had not started, so nothing is kept and no run folder is left: run the same command again.';
    });
    process.stdout.write('{"type":"working"}\\n');
    setInterval(() => {}, 1000);
    await new Promise(() => {});
  }
}
await Job.run(process.argv.slice(1).filter((a) => a !== '--'), '${repoRoot}');`;

test('a second SIGINT while the first is being handled does not cut the last word short', { timeout: 60_000 }, async () => {
  // Given a job under --json whose interrupt hint is slow, and which gets SIGINT again meanwhile
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, ['--input-type=module', '-e', slowHint, '--', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const died = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  while (!stdout.includes('working') && child.exitCode === null) await new Promise((r) => setTimeout(r, 20));
  // When it is interrupted
  child.kill('SIGINT');
  // Then it still dies by SIGINT, and only after its last line: the signal and the hint
  expect(await died, stderr).toBe('SIGINT');
  const last = JSON.parse(stdout.trim().split('\n').at(-1)!);
  expect(last).toMatchObject({ type: 'error', error: 'interrupted (SIGINT)', hint: expect.stringMatching(/^Training had not started/) });
});
