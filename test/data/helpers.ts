/** Tiny competitions written to real temp folders (no filesystem mocks). */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { UserError, type ErrorLocation } from '../../src/errors.js';

const made: string[] = [];

export async function tempDir(prefix = 'digits-data-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

export async function removeTempDirs(): Promise<void> {
  await Promise.all(made.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
}

/** Writes `files` (name → text or bytes) into a new temp folder and returns it. */
export async function competition(files: Record<string, string | Uint8Array>): Promise<string> {
  const dir = await tempDir();
  for (const [name, content] of Object.entries(files)) {
    await mkdir(join(dir, name, '..'), { recursive: true });
    await writeFile(join(dir, name), content);
  }
  return dir;
}

/** Lines joined with `\n` and a final newline. */
export function csv(...lines: string[]): string {
  return `${lines.join('\n')}\n`;
}

export interface ExpectedUserError {
  message: RegExp;
  /** Basename of where.file. */
  file?: string;
  line?: number;
  column?: number;
  flag?: string;
  hint?: RegExp;
}

export async function expectUserError(promise: Promise<unknown>, expected: ExpectedUserError): Promise<UserError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error, 'expected a UserError').toBeInstanceOf(UserError);
  const userError = error as UserError;
  expect(userError.message).toMatch(expected.message);
  const where: ErrorLocation = userError.where ?? {};
  if (expected.file !== undefined) expect(where.file?.split('/').pop()).toBe(expected.file);
  if (expected.line !== undefined) expect(where.line).toBe(expected.line);
  if (expected.column !== undefined) expect(where.column).toBe(expected.column);
  if (expected.flag !== undefined) expect(where.flag).toBe(expected.flag);
  if (expected.hint !== undefined) expect(userError.hint).toMatch(expected.hint);
  else expect(userError.hint, 'every UserError says what to try').toBeTruthy();
  return userError;
}
