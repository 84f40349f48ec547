/** Atomic writes: a reader never sees half a file, and a killed writer's temp file does not stay for ever. */
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { writeDurably, writeFileAtomic, writeJsonAtomic, writeJsonAtomicSync } from '../src/atomic-file.js';
import { deadPid } from './helpers/dead-pid.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'digits-atomic-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('writing a file removes the temp files killed writers of that file left beside it, and only those', async () => {
  // Given a report a killed writer left half-written as a temp file, a live writer's temp file of it, and a killed writer's temp of another file
  const file = path.join(dir, 'report.html');
  const dead = await deadPid();
  const killed = `report.html.tmp-${dead}-0a1b2c3d`;
  const live = `report.html.tmp-${process.pid}-0a1b2c3d`;
  const other = `search.json.tmp-${dead}-0a1b2c3d`;
  for (const name of [killed, live, other]) await writeFile(path.join(dir, name), '<html>half');
  // When the report is written again
  await writeFileAtomic(file, '<html>whole</html>');
  // Then it is whole, the killed writer's temp of it is gone, and the others are left to their own writers
  expect(await readFile(file, 'utf8')).toBe('<html>whole</html>');
  expect((await readdir(dir)).sort()).toEqual(['report.html', live, other].sort());
  // And the JSON writer does the same for its file
  await writeJsonAtomic(path.join(dir, 'search.json'), { trials: [] });
  expect((await readdir(dir)).sort()).toEqual(['report.html', live, 'search.json'].sort());
});

test('the synchronous JSON writer replaces the file whole and leaves no temp, also when it fails', async () => {
  const sub = await mkdtemp(path.join(dir, 'sync-'));
  const file = path.join(sub, 'search.json');
  writeJsonAtomicSync(file, { trials: [1] });
  writeJsonAtomicSync(file, { trials: [1, 2] });
  expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({ trials: [1, 2] });
  expect(await readdir(sub)).toEqual(['search.json']);
  // A value that cannot be written (a cycle) throws, and the file stays as it was, with no temp beside it
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  expect(() => writeJsonAtomicSync(file, cyclic)).toThrow(TypeError);
  expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({ trials: [1, 2] });
  expect(await readdir(sub)).toEqual(['search.json']);
});

test('a durable write that fails removes the file it began, and names it', async () => {
  // Given a write whose data cannot be written (a folder's path as the data: Node refuses after opening the file)
  const file = path.join(dir, 'half.csv');
  const error = (await writeDurably(file, 42 as unknown as string).catch((caught: unknown) => caught)) as Error;
  // Then it fails, and the file it opened is gone
  expect(error).toBeInstanceOf(Error);
  expect(await readdir(dir)).not.toContain('half.csv');
});
