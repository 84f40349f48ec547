/**
 * One writer per run folder: `<run>/.lock` holds the writer's pid, host, start time and
 * command. It is created with O_EXCL (`open(…, 'wx')`), so of two processes starting at
 * once exactly one gets it. A lock whose pid is gone on this host is stale (the process
 * was killed) and is taken over; a lock from another host cannot be checked and is
 * reported, naming how to remove it.
 *
 * Why not proper-lockfile: it detects staleness by an mtime it refreshes on a timer, which
 * a training step that blocks the event loop for seconds would miss, and it records no
 * pid or host to name in the error.
 */
import { readFileSync, unlinkSync } from 'node:fs';
import { link, readFile, rename, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { UserError } from '../errors.js';
import { processRunning, writeDurably } from '../atomic-file.js';
import { STOP_SIGNALS } from '../signals.js';

export const LOCK_FILE = '.lock';

export interface LockHolder {
  pid: number;
  hostname: string;
  startedAt: string;
  command: string;
}

export interface RunLock {
  file: string;
  holder: LockHolder;
  release(): Promise<void>;
}

/** A holder file's contents (a lock, or a run folder's claim): null when it is gone or torn. */
export async function readHolder(file: string): Promise<LockHolder | null> {
  return parseHolder(await readFile(file, 'utf8').catch(() => null));
}

function readHolderSync(file: string): LockHolder | null {
  let text: string | null = null;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    // gone
  }
  return parseHolder(text);
}

/** The lock file's text as its holder; null when it is gone or caught between create and write (held by an unknown process). */
function parseHolder(text: string | null): LockHolder | null {
  try {
    const value = text === null ? null : (JSON.parse(text) as LockHolder | null);
    // (a torn write that still parses, `{}` or `1`, holds no holder either)
    return typeof value === 'object' && value !== null && typeof value.pid === 'number' && typeof value.hostname === 'string' ? value : null;
  } catch {
    return null;
  }
}

/**
 * When a process of this host started (epoch ms), from Linux's /proc (the start in clock ticks
 * after boot, at the USER_HZ of 100 every Linux build exposes there); null elsewhere.
 */
function procStatFields(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the fields after the command name, which is in parentheses and may hold spaces: state first
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

function processStartMs(pid: number): number | null {
  try {
    const fields = procStatFields(pid);
    if (!fields) return null;
    const ticks = Number(fields[19]);
    const boot = /^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'));
    return Number.isFinite(ticks) && boot ? Number(boot[1]) * 1000 + ticks * 10 : null;
  } catch {
    return null;
  }
}

/**
 * A lock left by a process that no longer runs on this host: its pid is gone, or (Linux) the
 * pid now belongs to a process started after the lock was taken (pids are reused, after a
 * reboot above all; such a lock named an unrelated process to kill).
 */
export function isStale(holder: LockHolder): boolean {
  if (holder.hostname !== os.hostname() || !Number.isInteger(holder.pid)) return false;
  // (a killed process its parent has not yet reaped is a zombie: signals still reach its pid)
  if (!processRunning(holder.pid) || procStatFields(holder.pid)?.[0] === 'Z') return true;
  const started = processStartMs(holder.pid);
  const locked = Date.parse(holder.startedAt);
  // (a process takes its lock after it starts; 2 s allow for the clock's steps and the tick)
  return started !== null && Number.isFinite(locked) && started > locked + 2000;
}

/**
 * Who holds a run folder's lock now: the holder, or null when nobody does (no lock file, or
 * one left by a process that no longer runs on this host). A lock of another host counts as held.
 */
export async function currentHolder(runDir: string): Promise<LockHolder | null> {
  const holder = await readHolder(path.join(path.resolve(runDir), LOCK_FILE));
  return holder && !isStale(holder) ? holder : null;
}

/** `currentHolder`, synchronously (for checks made where nothing is awaited). */
export function currentHolderSync(runDir: string): LockHolder | null {
  const holder = readHolderSync(path.join(path.resolve(runDir), LOCK_FILE));
  return holder && !isStale(holder) ? holder : null;
}

const same = (a: LockHolder | null, b: LockHolder | null) => a != null && b != null && a.pid === b.pid && a.hostname === b.hostname && a.startedAt === b.startedAt;

/**
 * The locks this process holds, so that a signal that ends it does not leave them behind (a
 * Ctrl-C'd `evaluate` left its lock: taken over later on this host, but refused, naming the
 * file to delete, from another machine sharing the run folder).
 */
const held = new Map<string, LockHolder>();

/** Removes the locks this process holds, synchronously: for whoever is about to end it by a signal. */
export function releaseHeldLocksSync(): void {
  for (const [file, holder] of held) {
    try {
      if (same(readHolderSync(file), holder)) unlinkSync(file);
    } catch {
      // gone, or not ours any more: nothing to remove
    }
  }
  held.clear();
  setSignalHandlers(false);
}

/**
 * While a lock is held, SIGINT, SIGTERM and SIGHUP remove it and then end the process by the same
 * signal, as Node's default would. A command with handlers of its own (exitOnInterrupt, the
 * queue worker's graceful stop) handles the signal itself: this one acts only when it is the
 * last listener, and those handlers call releaseHeldLocksSync before they end the process.
 */
function onSignal(signal: NodeJS.Signals): void {
  if (process.listenerCount(signal) > 1) return;
  releaseHeldLocksSync();
  process.kill(process.pid, signal);
}

function setSignalHandlers(on: boolean): void {
  for (const signal of STOP_SIGNALS) {
    process.removeListener(signal, onSignal);
    if (on) process.on(signal, onSignal);
  }
}

/**
 * Takes the run folder's lock (creating the folder's lock file) or throws a UserError naming
 * the holder. `command` says what holds it (shown to a second writer).
 */
export async function lockRun(runDir: string, command: string): Promise<RunLock> {
  const dir = path.resolve(runDir);
  const file = path.join(dir, LOCK_FILE);
  const holder: LockHolder = { pid: process.pid, hostname: os.hostname(), startedAt: new Date().toISOString(), command };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      // Created only if absent (EEXIST: held, below). A lock that cannot be written (a full disk) is
      // removed again: left empty, it read as held by another process and blocked the run once
      // space was freed (until session 45).
      await writeDurably(file, `${JSON.stringify(holder)}\n`, 'wx');
      let released = false;
      held.set(file, holder);
      if (held.size === 1) setSignalHandlers(true);
      return {
        file,
        holder,
        async release() {
          if (released) return;
          released = true;
          // Only our own lock is removed (a stale-lock takeover elsewhere may have replaced it).
          if (same(await readHolder(file), holder)) await rm(file, { force: true });
          if (held.get(file) === holder) held.delete(file);
          if (held.size === 0) setSignalHandlers(false);
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const current = await readHolder(file);
    const torn = current === null ? await abandonedTornLock(file) : null;
    if (torn) {
      // Moved aside and checked as a stale lock is (below), by the file's identity: it has no holder to compare.
      const aside = `${file}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
      if (await rename(file, aside).then(() => true, () => false)) {
        const moved = await stat(aside).catch(() => null);
        if (moved && moved.ino === torn.ino && moved.dev === torn.dev) await rm(aside, { force: true });
        else await link(aside, file).then(() => rm(aside, { force: true }), () => rm(aside, { force: true }));
      }
      continue;
    }
    if (current && isStale(current)) {
      // Move the stale lock aside under a unique name, then check it is the one we judged:
      // a process that took over first has put a fresh lock there, which goes back.
      const aside = `${file}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
      if (await rename(file, aside).then(() => true, () => false)) {
        const moved = await readHolder(aside);
        if (same(moved, current)) await rm(aside, { force: true });
        else await link(aside, file).then(() => rm(aside, { force: true }), () => rm(aside, { force: true }));
      }
      continue;
    }
    throw heldError(dir, file, current);
  }
  throw heldError(dir, file, await readHolder(file));
}

/**
 * How long a lock file may stay empty or torn while its locker is alive: it writes its holder
 * right after creating the file, so one older than this was left by a process that died (or hit
 * a full disk) between the two.
 */
export const TORN_LOCK_GRACE_MS = 5000;

/**
 * The lock file's identity when it holds no holder (empty or unparseable) and was last written
 * longer than TORN_LOCK_GRACE_MS ago: such a lock is stale, and is taken over as a dead pid's is.
 * Null when it is gone, young, or holds a holder.
 */
async function abandonedTornLock(file: string): Promise<{ ino: number; dev: number } | null> {
  const info = await stat(file).catch(() => null);
  if (!info || !info.isFile() || Date.now() - info.mtimeMs < TORN_LOCK_GRACE_MS) return null;
  if ((await readHolder(file)) !== null) return null;
  return { ino: info.ino, dev: info.dev };
}

/** Throws the error naming the process that holds the run folder, if a live one does. */
export async function assertNotHeld(runDir: string): Promise<void> {
  const dir = path.resolve(runDir);
  const holder = await currentHolder(dir);
  if (holder) throw heldError(dir, path.join(dir, LOCK_FILE), holder);
}

function heldError(dir: string, file: string, holder: LockHolder | null): UserError {
  const who = holder ? `pid ${holder.pid} on ${holder.hostname} since ${holder.startedAt} (${holder.command})` : 'another process';
  const local = holder?.hostname === os.hostname();
  return new UserError(`the run folder ${dir} is in use by ${who}`, {
    where: { file },
    hint: local
      ? `Wait for it to finish or stop it (kill ${holder!.pid}); two writers would mix their checkpoints. Or pick another run folder.`
      : `Wait for it to finish; if that process is no longer running${holder ? ` on ${holder.hostname}` : ''}, delete ${file}.`,
  });
}

/** Runs `work` holding the run folder's lock; the lock is released however `work` ends. */
export async function withRunLock<T>(runDir: string, command: string, work: () => Promise<T>): Promise<T> {
  const lock = await lockRun(runDir, command);
  try {
    return await work();
  } finally {
    await lock.release();
  }
}
