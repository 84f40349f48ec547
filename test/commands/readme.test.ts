/**
 * README's command table is generated from the commands (oclif.manifest.json, written by the
 * build): it must match them, so a new flag or command shows up in the README or fails here.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { expect, test } from 'vitest';
import { commandTable, withTable } from '../../scripts/readme-commands.js';
import { repoRoot } from '../helpers/run-command.js';

test('the README command table is the one the commands generate (npm run readme)', async () => {
  // Given the built manifest (npm test builds first) and the README
  const manifest = JSON.parse(await readFile(path.join(repoRoot, 'oclif.manifest.json'), 'utf8')) as Parameters<typeof commandTable>[0];
  const readme = await readFile(path.join(repoRoot, 'README.md'), 'utf8');
  // Then regenerating the table changes nothing
  expect(withTable(readme, commandTable(manifest))).toBe(readme);
  // and every command is in it, flags included
  for (const id of Object.keys(manifest.commands)) expect(readme).toContain(`\`digits ${id.replaceAll(':', ' ')}`);
  expect(readme).toMatch(/`digits train [^`]*\[--learning-rate\]/);
});
