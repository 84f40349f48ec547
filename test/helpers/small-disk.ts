/**
 * Real ENOSPC and EROFS for tests: a small tmpfs (filled to the last block on demand) and a
 * read-only bind mount. Both need root (CI runs as root); `canMount` says whether this process
 * may make them, so a test can be skipped with its reason elsewhere.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const canMount = process.platform === 'linux' && process.getuid?.() === 0;
export const SKIP_REASON = 'needs root to mount a small tmpfs (a real full disk) or a read-only bind mount';

export interface SmallDisk {
  /** the mounted folder */
  dir: string;
  /** fills the disk to 0 bytes free, or to about `leave` bytes (a file `zzfill` at its root) */
  fill(leave?: number): void;
  /** frees the space fill took */
  free(): void;
  unmount(): void;
}

/** Mounts a tmpfs of `megabytes` MB in a fresh temp folder. */
export function mountSmallDisk(megabytes = 8): SmallDisk {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'digits-small-disk-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${megabytes}m`, 'tmpfs', dir]);
  const filler = path.join(dir, 'zzfill');
  return {
    dir,
    fill(leave = 0) {
      const free = statfsSync(dir);
      writeFileSync(filler, '');
      const size = free.bavail * free.bsize - leave;
      if (size > 0) execFileSync('fallocate', ['-l', String(size), filler]);
      if (leave > 0) return;
      // (what fallocate's rounding left: a byte at a time until none)
      try {
        for (;;) writeFileSync(filler, 'x', { flag: 'a' });
      } catch {
        // full
      }
    },
    free() {
      rmSync(filler, { force: true });
    },
    unmount() {
      execFileSync('umount', [dir]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface ReadOnlyFolder {
  /** the read-only view: writes under it fail with EROFS */
  dir: string;
  /** the writable folder it shows */
  source: string;
  unmount(): void;
}

/**
 * A read-only bind mount of a fresh temp folder (`prepare` fills the folder first), or of
 * `existing`, a folder the test made (left as it is on unmount).
 */
export function mountReadOnly(prepare: (source: string) => void = () => {}, existing?: string): ReadOnlyFolder {
  const root = mkdtempSync(path.join(os.tmpdir(), 'digits-read-only-'));
  const source = existing ?? path.join(root, 'source');
  const dir = path.join(root, 'ro');
  if (!existing) mkdirSync(source);
  mkdirSync(dir);
  prepare(source);
  execFileSync('mount', ['--bind', source, dir]);
  execFileSync('mount', ['-o', 'remount,bind,ro', dir]);
  return {
    dir,
    source,
    unmount() {
      execFileSync('umount', [dir]);
      rmSync(root, { recursive: true, force: true });
    },
  };
}
