import { expect, test } from 'vitest';
import { fromSystemError } from '../../src/errors.js';

const systemError = (code: string, syscall?: string, file?: string) => Object.assign(new Error(`${code}: ${syscall ?? ''} ${file ?? ''}`), { code, ...(syscall ? { syscall } : {}), ...(file ? { path: file } : {}) });

test('a full disk or a folder one may not write is a user error naming the file (exit 2), not an internal error with a stack (exit 70)', () => {
  // the temp file a write went through is named as the file it was to become
  expect(fromSystemError(systemError('ENOSPC', 'open', '/sub/run-r1.csv.tmp-8614-1a2b3c4d'))).toMatchObject({ message: 'cannot write /sub/run-r1.csv: the disk is full', where: { file: '/sub/run-r1.csv' }, hint: expect.stringMatching(/^Free some space/), exitCode: 2 });
  expect(fromSystemError(systemError('EACCES', 'open', '/runs/t1/.lock'))).toMatchObject({ message: 'cannot write /runs/t1/.lock: permission denied', where: { file: '/runs/t1/.lock' }, exitCode: 2 });
  expect(fromSystemError(systemError('EROFS', 'mkdir', '/mnt/ro/c'))).toMatchObject({ message: 'cannot write /mnt/ro/c: the file system is read-only' });
  // and a file written in a temp folder (a checkpoint's) as the file in the folder it was to become
  expect(fromSystemError(systemError('ENOSPC', 'write', '/ck/best.tmp-8614-1a2b3c4d/model.json'))).toMatchObject({ message: 'cannot write /ck/best/model.json: the disk is full' });
  // a folder where a file goes (its temp file renamed onto it) names the file it was to be
  expect(fromSystemError(systemError('EISDIR', 'rename', '/runs/s/search.json.tmp-8614-1a2b3c4d'))).toMatchObject({ message: 'cannot write /runs/s/search.json: it is a folder, not a file', hint: expect.stringMatching(/^Move that folder aside/), exitCode: 2 });
  // a write on an open file has no path: the code and the call say what failed
  expect(fromSystemError(systemError('ENOSPC', 'write'))).toMatchObject({ message: 'the disk is full (ENOSPC in write)', exitCode: 2 });
  // wrapped as a cause, it is found too
  expect(fromSystemError(new Error('saving failed', { cause: systemError('EDQUOT', 'write', '/q/x.bin') }))).toMatchObject({ message: 'cannot write /q/x.bin: the disk quota is used up' });
  // anything else stays a bug to report
  expect(fromSystemError(systemError('ENOENT', 'open', '/x'))).toBeNull();
  expect(fromSystemError(new TypeError('x is undefined'))).toBeNull();
});

test('a system error reported as text (by a worker thread) is read back and said as one when every job failed alike; anything else stays a bug', async () => {
  const { writeFileSync } = await import('node:fs');
  const { commonFixableSystemError, systemErrorFromText } = await import('../../src/errors.js');
  // Given the text of a real full-disk write (/dev/full fails every write with ENOSPC)
  let full = '';
  try {
    writeFileSync('/dev/full', 'x');
  } catch (error) {
    full = (error as Error).message;
  }
  expect(systemErrorFromText(full)).toMatchObject({ code: 'ENOSPC', syscall: 'write' });
  expect(systemErrorFromText("EACCES: permission denied, open '/runs/r/x.json.tmp-1-2'")).toMatchObject({ code: 'EACCES', syscall: 'open', path: '/runs/r/x.json.tmp-1-2' });
  // Then every probe failing with it is the full-disk error line
  expect(fromSystemError(commonFixableSystemError([full, full]))).toMatchObject({ message: 'the disk is full (ENOSPC in write)', exitCode: 2 });
  // and not when one failed otherwise (a bug), nor for an error a user cannot put right
  expect(commonFixableSystemError([full, 'TypeError: x is undefined'])).toBeNull();
  expect(commonFixableSystemError(["ENOENT: no such file or directory, open '/x'"])).toBeNull();
  expect(systemErrorFromText('every probe failed')).toBeNull();
});

test('a system error named by the file it was writing keeps that file when it crosses a thread as text (a member on a full disk named run.json until session 47)', async () => {
  const { openSync, writeSync, closeSync } = await import('node:fs');
  const { namingFile } = await import('../../src/atomic-file.js');
  const { errorText, systemErrorFromText } = await import('../../src/errors.js');
  // Given a real write on a descriptor that fails (no path in Node's error), named as a writer names it
  let error: unknown;
  const fd = openSync('/dev/full', 'w');
  try {
    writeSync(fd, 'x');
  } catch (e) {
    error = namingFile(e, '/runs/r/m/best.tmp-1-ab/weights.bin');
  } finally {
    closeSync(fd);
  }
  expect((error as Error).message).toBe('ENOSPC: no space left on device, write');
  // Then its text carries the path as Node writes one, and reads back as the file the temp was to become
  const text = errorText(error);
  expect(text).toBe("ENOSPC: no space left on device, write '/runs/r/m/best.tmp-1-ab/weights.bin'");
  expect(fromSystemError(systemErrorFromText(text))).toMatchObject({ message: 'cannot write /runs/r/m/best/weights.bin: the disk is full', exitCode: 2 });
  // and a message that names its path already, or any other error, is left as it is
  const named = Object.assign(new Error("EACCES: permission denied, open '/x'"), { code: 'EACCES', syscall: 'open', path: '/x' });
  expect(errorText(named)).toBe("EACCES: permission denied, open '/x'");
  expect(errorText(new TypeError('x is undefined'))).toBe('x is undefined');
  expect(errorText('plain text')).toBe('plain text');
  // And a recorded failure reads as the same sentence wherever it is said (live line, summary, evaluate's note)
  const { failureLine } = await import('../../src/errors.js');
  expect(failureLine(`${text}\n    at write (node:fs)`)).toBe('cannot write /runs/r/m/best/weights.bin: the disk is full');
  expect(failureLine('data at fault\nmore')).toBe('data at fault');
  expect(failureLine(undefined)).toBe('no error recorded');
});
