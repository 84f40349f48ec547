/**
 * Shell completion (@oclif/plugin-autocomplete): `digits autocomplete bash` builds the
 * completion cache and prints how to set it up; the script it sets up completes commands,
 * topics' subcommands and flags in a real bash, as a user's Tab does. The built CLI
 * (bin/run.js), with HOME and the cache in a temp folder.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, expect, test } from 'vitest';
import { removeTempDirs, tempDir } from '../data/helpers.js';
import { repoRoot } from '../helpers/run-command.js';

const exec = promisify(execFile);
afterAll(removeTempDirs);

test('bash completes commands, subcommands of a topic and flags', { timeout: 60_000 }, async () => {
  // Given a user who ran `digits autocomplete bash` and put its setup line in their shell
  const home = await tempDir('digits-autocomplete-');
  const env = { ...process.env, HOME: home, XDG_CACHE_HOME: path.join(home, '.cache'), CI: 'true' };
  const bin = path.join(repoRoot, 'bin/run.js');
  const { stdout: instructions } = await exec(process.execPath, [bin, 'autocomplete', 'bash'], { env, cwd: home });
  expect(instructions).toContain('digits autocomplete script bash');
  // When they press Tab after each of these
  const typed = ['digits ev', 'digits data im', 'digits run --bu', 'digits runs co'];
  const script = `digits() { :; }
eval "$(node ${JSON.stringify(bin)} autocomplete script bash)"
for line in ${typed.map((t) => `'${t}'`).join(' ')}; do
  read -ra COMP_WORDS <<< "$line"; COMP_CWORD=$((\${#COMP_WORDS[@]} - 1)); COMP_LINE="$line"; COMP_POINT=\${#line}
  _digits_autocomplete; echo "$line -> \${COMPREPLY[*]}"
done`;
  const { stdout } = await exec('bash', ['-c', script], { env, cwd: home });
  // Then each word is completed
  expect(stdout.trim().split('\n')).toEqual(['digits ev -> evaluate', 'digits data im -> import', 'digits run --bu -> --budget', 'digits runs co -> compare']);
});

test('-v prints the version, as --version does', async () => {
  const bin = path.join(repoRoot, 'bin/run.js');
  const [short, long] = await Promise.all([exec(process.execPath, [bin, '-v']), exec(process.execPath, [bin, '--version'])]);
  expect(short.stdout).toMatch(/^digits\/\d+\.\d+\.\d+ /);
  expect(short.stdout).toBe(long.stdout);
});
