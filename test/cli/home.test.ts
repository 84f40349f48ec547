/** A quoted ~ reaches digits as typed: it is the home folder, as the shell would have made it. */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, expect, test } from 'vitest';
import { expandHome } from '../../src/cli/base-command.js';
import { removeTempDirs, tempDir } from '../data/helpers.js';
import { repoRoot } from '../helpers/run-command.js';

const exec = promisify(execFile);
afterAll(removeTempDirs);

test('~ and ~/… as a word or a --flag= value are the home folder; anything else is left as it is', () => {
  const home = process.env.HOME;
  process.env.HOME = '/h/me';
  try {
    expect(['~', '~/comp', '--out=~/comp/x', '--out=~', '~user/x', 'a~/b', '--seed', '-1'].map(expandHome)).toEqual(['/h/me', '/h/me/comp', '--out=/h/me/comp/x', '--out=/h/me', '~user/x', 'a~/b', '--seed', '-1']);
  } finally {
    process.env.HOME = home;
  }
});

test("`digits data practice --out '~/comp'` builds the competition in the home folder, not in a folder named ~", async () => {
  const home = await tempDir('digits-home-');
  const work = await tempDir('digits-work-');
  const { stdout } = await exec(process.execPath, [path.join(repoRoot, 'bin/run.js'), 'data', 'practice', '--recipe', 'uniform', '--train', '100', '--test', '20', '--out', '~/comp'], { cwd: work, env: { ...process.env, HOME: home, CI: 'true' } });
  expect(existsSync(path.join(home, 'comp', 'train.csv'))).toBe(true);
  expect(existsSync(path.join(work, '~'))).toBe(false);
  expect(stdout).toContain(path.join(home, 'comp'));
}, 60_000);
