/**
 * A full disk, for real (a small tmpfs filled to the last block): every command says which file
 * it could not write, and leaves no half-written or temp file behind. The built CLI (bin/run.js)
 * on a tiny practice competition; needs root to mount (CI runs as root).
 */
import { execFile } from 'node:child_process';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { repoRoot } from '../helpers/run-command.js';
import { SKIP_REASON, canMount, mountReadOnly, mountSmallDisk, type ReadOnlyFolder, type SmallDisk } from '../helpers/small-disk.js';

const exec = promisify(execFile);
const bin = path.join(repoRoot, 'bin/run.js');
const env = { ...process.env, CI: 'true', DIGITS_BACKEND: 'wasm' };

let disk: SmallDisk;

async function digits(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [bin, ...argv], { cwd: disk.dir, env, maxBuffer: 64 << 20 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout: string; stderr: string };
    if (typeof e.code !== 'number') throw error;
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** Runs the command on a disk with `leave` bytes free (none by default), then frees the space again. */
async function onFullDisk(argv: string[], leave = 0): Promise<{ code: number; stdout: string; stderr: string }> {
  disk.fill(leave);
  try {
    return await digits(argv);
  } finally {
    disk.free();
  }
}

/** The one error line of a full disk: the file named (as `where.file` under --json too), exit 2. */
function expectNamedFullDisk(result: { code: number; stderr: string }, file: RegExp): void {
  expect(result.code, result.stderr).toBe(2);
  expect(result.stderr).not.toMatch(/internal error|\(ENOSPC in write\)|\.tmp-\d+/);
  const line = /error: cannot write (\S+): the disk is full/.exec(result.stderr);
  expect(line, result.stderr).not.toBeNull();
  expect(path.relative(disk.dir, line![1]!)).toMatch(file);
}

describe.runIf(canMount)(`on a full disk (${SKIP_REASON})`, () => {
  beforeAll(async () => {
    disk = mountSmallDisk(48);
    // Given a practice competition, imported, and a run trained on it, on a small disk
    expect((await digits(['data', 'practice', '--recipe', 'uniform', '--train', '300', '--test', '50', '--out', 'comp'])).code).toBe(0);
    expect((await digits(['data', 'import', 'comp'])).code).toBe(0);
    // (two 1-epoch MLPs: a member's weights, ~1 MB, are still far more than the room left below;
    // the default ensemble's six CNNs took most of this file's time)
    await writeFile(path.join(disk.dir, 'mlp.json'), JSON.stringify({ name: 'mlp', validation: { kind: 'shared', fraction: 0.1, seed: 42 }, members: [{ preset: 'mlp', name: 'mlp-1', epochs: 1, seed: 1 }, { preset: 'mlp', name: 'mlp-2', epochs: 1, seed: 2 }] }));
    const train = await digits(['train', '--data', 'comp', '--ensemble', 'mlp.json', '--epochs', '1', '--run', 'runs/tr']);
    expect(train.code, train.stderr).toBe(0);
    // (evaluated, so that submit's first write is the submission itself)
    expect((await digits(['evaluate', '--run', 'runs/tr'])).code).toBe(0);
  }, 180_000);
  afterAll(() => disk?.unmount());

  // (until session 45 these said "the disk is full (ENOSPC in write)", naming no file)
  test('data import names the dataset file it could not write', async () => {
    expectNamedFullDisk(await onFullDisk(['data', 'import', 'comp', '--force']), /^comp\/\.digits\/train-images-[^/]+\.f32$/);
  });

  test('train names the member file it could not write (it named run.json), and leaves no temp folder', async () => {
    // (room for the run folder and run.json, not for the members' weights)
    const result = await onFullDisk(['train', '--data', 'comp', '--ensemble', 'mlp.json', '--epochs', '1', '--run', 'runs/full'], 200_000);
    expectNamedFullDisk(result, /^runs\/full\/[^/]+\/(best|last)\/[^/]+$/);
    expect(result.stderr).not.toMatch(/ENOSPC|run\.json/);
    expect(result.stderr).toMatch(/^[\w-]+: FAILED: cannot write \S+: the disk is full$/m);
    expect(result.stderr).toContain('hint: Free some space (or point the command at another disk), then `digits train --resume --run runs/full` trains the members again.');
    const left = (await readdir(path.join(disk.dir, 'runs/full'), { recursive: true })).filter((name) => /\.tmp-/.test(name));
    expect(left).toEqual([]);
  });

  test('data practice names the CSV it could not write', async () => {
    expectNamedFullDisk(await onFullDisk(['data', 'practice', '--train', '100', '--test', '50', '--out', 'comp2']), /^comp2\/train\.csv$/);
  });

  test('evaluate names the file of the run it could not write when the lock fits but the rest does not', async () => {
    expectNamedFullDisk(await onFullDisk(['evaluate', '--run', 'runs/tr'], 16 << 10), /^runs\/tr\/(?!\.lock$).+/);
    expect(await readdir(path.join(disk.dir, 'runs/tr'))).not.toContain('.lock');
  });

  test('submit leaves no temp file in submissions/ (it left an empty .<name>.csv.tmp-…)', async () => {
    const result = await onFullDisk(['submit', '--run', 'runs/tr']);
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toMatch(/cannot write \S+\/submissions\/\S+\.csv: the disk is full/);
    const left = await readdir(path.join(disk.dir, 'submissions')).catch(() => [] as string[]);
    expect(left.filter((name) => /\.tmp-/.test(name))).toEqual([]);
  });

  test('report (as run writes it, without --out) says the disk is full with the hint about space, naming no --out', async () => {
    // (until session 45: "… the disk is full (flag --out)", hint "Check that the folder is writable, or pass another --out")
    const result = await onFullDisk(['report', '--run', 'runs/tr']);
    expectNamedFullDisk(result, /^runs\/tr\/report\.html$/);
    expect(result.stderr).not.toMatch(/--out/);
    expect(result.stderr).toMatch(/hint: Free some space/);
  });

  describe('and a read-only view of the same folder', () => {
    let ro: ReadOnlyFolder;
    beforeAll(async () => {
      await mkdir(path.join(disk.dir, 'submissions'), { recursive: true });
      ro = mountReadOnly(() => {}, disk.dir);
    });
    afterAll(() => ro?.unmount());

    test('report says the file system is read-only (it said "permission denied")', async () => {
      const result = await digits(['report', '--run', path.join(ro.dir, 'runs/tr')]);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toContain(`error: cannot write ${path.join(ro.dir, 'runs/tr/report.html')}: the file system is read-only`);
      expect(result.stderr).toMatch(/hint: Point the command at a writable folder/);
    });

    test('submit names the submission it could not write, not its temp file\'s dot-prefixed name', async () => {
      const result = await digits(['submit', '--run', 'runs/tr', '--dir', path.join(ro.dir, 'submissions')]);
      expect(result.code, result.stderr).toBe(2);
      const named = /error: cannot write (\S+): the file system is read-only/.exec(result.stderr);
      expect(named, result.stderr).not.toBeNull();
      expect(path.relative(ro.dir, named![1]!)).toMatch(/^submissions\/\d{8}-\d{6}-tr\.csv$/);
    });

    test('submit into a submissions folder it cannot make says the file system is read-only, as the other commands do', async () => {
      const result = await digits(['submit', '--run', 'runs/tr', '--dir', path.join(ro.dir, 'fresh', 'subs')]);
      expect(result.code, result.stderr).toBe(2);
      // (until session 45: "cannot use the submissions folder … (EROFS) (flag --dir)", hint "Check the folder and its permissions")
      expect(result.stderr).toMatch(new RegExp(`error: cannot (write|access) ${ro.dir}\\S*: the file system is read-only`));
      expect(result.stderr).not.toMatch(/flag --dir|cannot use the submissions folder/);
      expect(result.stderr).toMatch(/hint: Point the command at a writable folder/);
    });
  });

  test('evaluate names the lock it could not write, and leaves none', async () => {
    expectNamedFullDisk(await onFullDisk(['evaluate', '--run', 'runs/tr']), /^runs\/tr\/\.lock$/);
    expect(await readdir(path.join(disk.dir, 'runs/tr'))).not.toContain('.lock');
  });
});
