/**
 * Append-only JSON-lines files (the corrections store, the submissions ledger): one record
 * per line, each written by one append of the whole line (O_APPEND, so it lands at the end
 * even with other writers) and fsynced. A crash can therefore tear at most the last line:
 * `appendJsonLine` ends such a line before appending, so the new record never glues itself to
 * the fragment, and `isTornJsonLine` tells a fragment of that kind (a record cut short) from a
 * line damaged some other way.
 */
import { open } from 'node:fs/promises';
import { namingFile } from '../atomic-file.js';
import { makeFolders } from '../make-folders.js';
import path from 'node:path';
import { parse as parseJsonc, printParseErrorCode, type ParseError } from 'jsonc-parser';

/**
 * Appends `line` (which ends in a newline) to `file`, ending a torn last line first; resolves
 * once it is durable. Missing folders are created unless `createFolders` is false: then a
 * folder that is gone is an ENOENT error, not made again (the server's corrections store, whose
 * run folder may be moved or deleted while it serves).
 */
export async function appendJsonLine(file: string, line: string, options: { createFolders?: boolean } = {}): Promise<void> {
  if (options.createFolders ?? true) await makeFolders(path.dirname(file));
  // 'a+': appends always go to the end (O_APPEND); reading the last byte is allowed.
  const handle = await open(file, 'a+').catch((error: unknown) => Promise.reject(namingFile(error, file)));
  let size: number | undefined;
  try {
    ({ size } = await handle.stat());
    let text = line;
    if (size > 0) {
      const last = Buffer.alloc(1);
      await handle.read(last, 0, 1, size - 1);
      // A torn last line (a crash mid-write) is ended here, so this record stays whole.
      if (last[0] !== 0x0a) text = `\n${line}`;
    }
    await handle.appendFile(text, 'utf8');
    await handle.sync();
  } catch (error) {
    // An append that failed part-way (a full disk) is cut off again: left, its fragment was a torn
    // line every later reader warned of for good (until session 45). (An append another writer
    // made meanwhile would go with it; the writers of these files are one command at a time.)
    if (size !== undefined) await handle.truncate(size).catch(() => undefined);
    throw namingFile(error, file);
  } finally {
    await handle.close();
  }
}

/**
 * Whether a line that is not JSON is a record cut short by a crash mid-write (`{"file":"a.csv","vo`):
 * an object whose only fault is that it stops early. A later append ends such a line, so it can
 * sit anywhere in the file; a line with any other fault (bytes changed or inserted, an extra
 * brace) is not torn.
 */
export function isTornJsonLine(line: string): boolean {
  const text = line.replace(/\r$/, '');
  if (!text.startsWith('{')) return false;
  const errors: ParseError[] = [];
  parseJsonc(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
  const first = errors[0];
  // The first fault reaches the end of the line: everything before it was a valid beginning.
  return first !== undefined && printParseErrorCode(first.error) !== 'EndOfFileExpected' && first.offset + first.length === text.length;
}
