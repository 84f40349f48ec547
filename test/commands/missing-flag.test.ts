/**
 * A required flag left out: the error names the flag as its place (`where: {flag}`, shown as
 * `(flag --preset)`), as every other parse error does, and a flag that an environment variable
 * can give says so in its hint. The built CLI, as a user runs it.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect, test } from 'vitest';
import { repoRoot } from '../helpers/run-command.js';

const exec = promisify(execFile);
const env = Object.fromEntries(Object.entries({ ...process.env, CI: 'true' }).filter(([k]) => k !== 'DIGITS_QUEUE'));

async function digits(argv: string[]) {
  return exec(process.execPath, [path.join(repoRoot, 'bin/run.js'), ...argv], { env }).then(
    () => ({ code: 0, stdout: '', stderr: '' }),
    (error: { code: number; stdout: string; stderr: string }) => error,
  );
}

test.each([
  { argv: ['pretrain'], flag: 'preset', hint: /^`digits pretrain --help` shows the usage\.$/ },
  { argv: ['worker'], flag: 'redis', hint: /^Give --redis, or set DIGITS_QUEUE\. `digits worker --help` shows the usage\.$/ },
])('digits $argv without --$flag: the error is placed at the flag', { timeout: 120_000 }, async ({ argv, flag, hint }) => {
  // Given a command run without its required flag
  // When it runs with --json, and without
  const json = await digits([...argv, '--json']);
  const human = await digits(argv);
  // Then both exit 2, and the error names the flag as where it is
  expect(json.code).toBe(2);
  expect(JSON.parse(json.stdout.trim().split('\n').at(-1)!)).toMatchObject({ type: 'error', error: `Missing required flag ${flag}`, where: { flag }, hint: expect.stringMatching(hint) });
  expect(human.code).toBe(2);
  expect(human.stderr).toContain(`(flag --${flag})`);
});
