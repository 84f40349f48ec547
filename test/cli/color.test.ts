/** Colour through one decision (cli/color.ts, ansis): FORCE_COLOR turns it on even when piped, NO_COLOR off. */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, expect, test } from 'vitest';
import { importCompetition, resolveCompetitionFiles } from '../../src/data/import.js';
import { competition, csv, removeTempDirs } from '../data/helpers.js';
import { repoRoot } from '../helpers/run-command.js';

const exec = promisify(execFile);
afterAll(removeTempDirs);

test.each([
  { env: { FORCE_COLOR: '1' }, coloured: true },
  { env: { NO_COLOR: '1' }, coloured: false },
  { env: {}, coloured: false },
])('digits data inspect with $env (piped): colour $coloured', { timeout: 120_000 }, async ({ env, coloured }) => {
  // Given an imported 8×8 competition
  const header = ['label', ...Array.from({ length: 64 }, (_, i) => `p${i}`)].join(',');
  const rows = Array.from({ length: 10 }, (_, r) => `${r},${Array.from({ length: 64 }, (_, i) => ((i + r) % 3) * 100).join(',')}`);
  const dir = await competition({ 'train.csv': csv(header, ...rows) });
  await importCompetition({ ...(await resolveCompetitionFiles([dir])), orientation: 'as-is' });
  // When its digits are drawn into a pipe
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'FORCE_COLOR' && k !== 'NO_COLOR'));
  const { stdout } = await exec(process.execPath, [path.join(repoRoot, 'bin/run.js'), 'data', 'inspect', '--data', dir, '--count', '2'], { env: { ...clean, ...env } });
  // Then 256-colour escapes appear only when asked for
  expect(stdout.includes('\u001B[38;5;')).toBe(coloured);
});
