/**
 * makeFolders fails with the real reason: Node's recursive mkdir says ENOENT on a read-only file
 * system or under a folder the user may not write, which commands reported as an internal error.
 */
import { chmod, mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { fromSystemError } from '../src/errors.js';
import { makeFolders } from '../src/make-folders.js';
import { SKIP_REASON, canMount, mountReadOnly, type ReadOnlyFolder } from './helpers/small-disk.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'digits-make-folders-'));
});
afterAll(async () => {
  await chmod(path.join(dir, 'locked'), 0o755).catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
});

test('makes the missing folders and returns the first it made, as mkdir -p does', async () => {
  expect(await makeFolders(path.join(dir, 'a', 'b', 'c'))).toBe(path.join(dir, 'a'));
  expect((await stat(path.join(dir, 'a', 'b', 'c'))).isDirectory()).toBe(true);
  expect(await makeFolders(path.join(dir, 'a', 'b'))).toBeUndefined();
});

describe.runIf(canMount)(`on a read-only file system (${SKIP_REASON})`, () => {
  let ro: ReadOnlyFolder;
  beforeAll(() => {
    ro = mountReadOnly();
  });
  afterAll(() => ro?.unmount());

  test('a folder two levels down fails with EROFS naming the first folder to make, which says "read-only"', async () => {
    // (mkdir(…, { recursive: true }) says ENOENT here)
    const error = (await makeFolders(path.join(ro.dir, 'new', 'run')).catch((caught: unknown) => caught)) as NodeJS.ErrnoException;
    expect(error.code).toBe('EROFS');
    expect(error.path).toBe(path.join(ro.dir, 'new'));
    expect(fromSystemError(error)?.message).toBe(`cannot write ${path.join(ro.dir, 'new')}: the file system is read-only`);
  });
});

// (root may write any folder: permissions are tested where they apply)
test.runIf(process.getuid?.() !== 0)('under a folder the user may not write, fails with EACCES naming the first folder to make', async () => {
  const locked = path.join(dir, 'locked');
  await mkdir(locked);
  await chmod(locked, 0o555);
  const error = (await makeFolders(path.join(locked, 'new', 'run')).catch((caught: unknown) => caught)) as NodeJS.ErrnoException;
  expect(error.code).toBe('EACCES');
  expect(error.path).toBe(path.join(locked, 'new'));
});
