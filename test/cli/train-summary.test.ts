/**
 * `digits train`'s closing summary on stdout, as a shell shows it (the built CLI): one line per
 * member, the figures in one column whatever the names' lengths.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { importCompetition, resolveCompetitionFiles } from '../../src/data/import.js';
import { buildPracticeCompetition } from '../../src/data/practice.js';
import { removeTempDirs, tempDir } from '../data/helpers.js';
import { repoRoot } from '../helpers/run-command.js';

const exec = promisify(execFile);
let work: string;

beforeAll(async () => {
  work = await tempDir('digits-train-summary-');
  await buildPracticeCompetition({ recipe: 'uniform', out: path.join(work, 'comp'), trainRows: 200, testRows: 20, seed: 5 });
  await importCompetition({ ...(await resolveCompetitionFiles([path.join(work, 'comp')])), orientation: 'as-is' });
  await writeFile(path.join(work, 'e.json'), JSON.stringify({ name: 'names', members: [{ preset: 'mlp', name: 'a', epochs: 1 }, { preset: 'mlp', name: 'mlp-second-with-a-long-name', epochs: 1 }] }));
});
afterAll(removeTempDirs);

test('k-fold members with names of every length: the figures line up (a name over 14 characters pushed its own out of line)', async () => {
  const { stdout } = await exec(process.execPath, [path.join(repoRoot, 'bin/run.js'), 'train', '--data', 'comp', '--ensemble', 'e.json', '--folds', '2', '--run', 'runs/names'], { cwd: work, env: { ...process.env, CI: 'true', DIGITS_BACKEND: 'wasm' } });
  const lines = stdout.split('\n').filter((l) => l.includes(' val_acc '));
  expect(lines.map((l) => l.trim().split(/\s+/)[0])).toEqual(['a-f1', 'a-f2', 'mlp-second-with-a-long-name-f1', 'mlp-second-with-a-long-name-f2']);
  expect(new Set(lines.map((l) => l.indexOf(' val_acc '))).size).toBe(1);
});
