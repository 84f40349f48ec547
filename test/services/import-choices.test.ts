/**
 * `digits run --data` after `digits data import <dir> <flags>`: run gives no import flags, and
 * its import with none re-imported the files by detection alone, undoing what the user chose
 * (a label column only a flag could name then failed the run). Real CSVs in a temp folder,
 * the import service both commands call.
 */
import { appendFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { resolveCompetitionFiles } from '../../src/data/import.js';
import { importData } from '../../src/services/import.js';
import { competition, csv, expectUserError, removeTempDirs } from '../data/helpers.js';

afterAll(removeTempDirs);

/** 2×2 images whose first and last columns both look like labels: only --label-column names it. */
const rows = Array.from({ length: 12 }, (_, i) => `${i % 10},${(i * 3) % 10},${i * 20},${i * 7},${(i + 5) % 10}`);

test("run's import keeps the choices of the user's own import, also when the files change", async () => {
  // Given a competition imported with --label-column digit (detection alone cannot tell)
  const dir = await competition({ 'train.csv': csv('a,digit,b,c,d', ...rows), 'test.csv': csv('a,b,c,d', '1,2,3,4') });
  const files = await resolveCompetitionFiles([dir]);
  await expectUserError(importData({ ...files, backend: 'wasm', orientation: 'as-is', force: true }), { message: /cannot tell which column of train\.csv is the label/ });
  const first = await importData({ ...files, backend: 'wasm', orientation: 'as-is', labelColumn: 'digit' });
  expect(first.detected.train.label.value?.name).toBe('digit');
  // When run imports the same files without flags
  const again = await importData({ ...files, backend: 'wasm', keepImportChoices: true });
  // Then the cache is reused as the user made it
  expect(again.reused).toBe('unchanged');
  expect(again.detected.train.label.value?.name).toBe('digit');
  // And when train.csv has changed since, it is imported again with the user's choices
  await appendFile(path.join(dir, 'train.csv'), '3,4,5,6,7\n');
  const changed = await importData({ ...files, backend: 'wasm', keepImportChoices: true });
  expect(changed.reused).toBeNull();
  expect(changed.detected.train.label.value?.name).toBe('digit');
  expect(changed.train.rows).toBe(13);
});
