/** Writing files so that a reader never sees half of one: temp file in the same folder, fsynced, then rename. */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { open, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';

/**
 * `error` naming `file`: a write through a file handle or descriptor that fails (ENOSPC, EDQUOT)
 * fails without a path, so a full disk was reported without the file (`the disk is full (ENOSPC
 * in write)`) until session 45. Errors that name a path already keep theirs. Returns `error`.
 */
export function namingFile(error: unknown, file: string): unknown {
  const e = error as NodeJS.ErrnoException;
  if (e instanceof Error && typeof e.code === 'string' && typeof e.path !== 'string') e.path = file;
  return error;
}

/**
 * Writes and fsyncs one file (not atomic by itself: callers rename or link it into place; `wx`
 * creates it only if absent, as the run lock does). A
 * write that fails removes the file again (a full disk left an empty submission temp file until
 * session 45), so a failed command leaves nothing.
 */
export async function writeDurably(file: string, data: string | Uint8Array, flag: 'w' | 'wx' = 'w'): Promise<void> {
  const handle = await open(file, flag).catch((error: unknown) => Promise.reject(namingFile(error, file)));
  try {
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (error) {
    await rm(file, { force: true }).catch(() => undefined);
    throw namingFile(error, file);
  }
}

export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  // A writer of this file killed mid-write left its temp beside it (report.html's, search.json's):
  // it goes with the next write of the same file, whichever command makes it.
  const prefix = `${path.basename(file)}.tmp-`;
  for (const name of await readdir(path.dirname(file)).catch(() => [] as string[])) {
    if (name.startsWith(prefix) && isStaleTemp(name)) await rm(path.join(path.dirname(file), name), { force: true }).catch(() => undefined);
  }
  const temp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await writeDurably(temp, data);
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true }).catch(() => undefined);
    throw error;
  }
}

export async function writeJsonAtomic(file: string, value: unknown, options: { pretty?: boolean } = {}): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(value, null, options.pretty === false ? undefined : 2)}\n`);
}

/**
 * `writeJsonAtomic`, synchronously: for small state files rewritten while a signal may end the
 * process (search.json). A signal is handled between tasks of the event loop, so a synchronous
 * save has either happened or not when the process dies: an asynchronous one could be caught
 * between its temp file and its rename, leaving the temp and the file a step behind (a finished
 * trial then read as running; session 41's probe, 2 times in about 11).
 */
export function writeJsonAtomicSync(file: string, value: unknown): void {
  const temp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    const fd = openSync(temp, 'w');
    try {
      writeSync(fd, `${JSON.stringify(value, null, 2)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, file);
  } catch (error) {
    rmSync(temp, { force: true });
    throw namingFile(error, temp);
  }
}

/**
 * Temp files and folders carry the writer's pid: `<name>.tmp-<pid>-<hex>` (this module,
 * submissions, data import), `<dir>.tmp-…` and `<dir>.old-…` (checkpoints). A process
 * killed mid-write leaves them behind; this returns the pid of such a name, else null.
 */
const TEMP_SUFFIX = /\.(?:tmp|old|stale)-(\d+)-[0-9a-f]+$/;

export function tempOwner(name: string): number | null {
  const match = TEMP_SUFFIX.exec(name);
  return match ? Number(match[1]) : null;
}

/** The file a temp file (`<name>.tmp-<pid>-<hex>`, or a file in a temp folder such as a checkpoint's) was written to become; other paths as they are. */
export function withoutTempSuffix(file: string): string {
  return file.replace(/\.(?:tmp|old|stale)-\d+-[0-9a-f]+(?=$|[\\/])/g, '');
}

/** A temp file or folder (`<name>.tmp-<pid>-<hex>`, `.old-`, `.stale-`) whose writer no longer runs. */
export function isStaleTemp(name: string): boolean {
  const pid = tempOwner(name);
  return pid !== null && !processRunning(pid);
}

/** Whether a process of this host with that pid runs (this one included). */
export function processRunning(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes, under `dir` (down to `depth` levels), the temp files and folders whose writer no
 * longer runs. Returns what was removed. Checkpoint `.old-` folders are left to the
 * checkpoint module (one may be the only copy after a save killed between its renames).
 */
export async function removeStaleTempFiles(dir: string, depth = 3): Promise<string[]> {
  const removed: string[] = [];
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    const pid = tempOwner(entry.name);
    if (pid !== null && !entry.name.includes('.old-')) {
      if (!processRunning(pid)) {
        await rm(full, { recursive: true, force: true });
        removed.push(full);
      }
    } else if (entry.isDirectory() && depth > 1) {
      removed.push(...(await removeStaleTempFiles(full, depth - 1)));
    }
  }
  return removed;
}

/**
 * Why `writeFileAtomic(file, …)` failed, in words about `file`: the error's own text names the
 * temp file the write went through (`open '…/x.html.tmp-24338-f12a9176'`), which the user never named.
 */
export function writeFailure(error: unknown, file: string): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return `the folder ${path.dirname(file)} does not exist`;
  if (code === 'EISDIR') return 'it is a folder';
  if (code === 'ENOTDIR') return `${path.dirname(file)} is not a folder`;
  // (a read-only file system was "permission denied" until session 45, where every other command says read-only)
  if (code === 'EROFS') return 'the file system is read-only';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'ENOSPC') return 'the disk is full';
  return (error as Error).message;
}
