/**
 * A folder flag (--out, --run, --dir) whose path is a file, or lies under a file: every command
 * refuses it before any work, as a user error naming the flag and the file in the way (exit 2),
 * and writes nothing. They crashed with mkdir's EEXIST or ENOTDIR (exit 70, a stack trace), and
 * `pretrain --out <file>` trained the whole job first (session 39).
 * The built CLI (bin/run.js), on a tiny practice competition in a temp folder.
 */
import { execFile } from 'node:child_process';
import { cpSync } from 'node:fs';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { checkCorrectionsStore } from '../../src/data/corrections.js';
import { makeFolder } from '../../src/output-folder.js';
import { removeTempDirs, tempDir, expectUserError } from '../data/helpers.js';
import { repoRoot } from '../helpers/run-command.js';
import { SKIP_REASON, canMount, mountReadOnly, type ReadOnlyFolder } from '../helpers/small-disk.js';

const exec = promisify(execFile);
const bin = path.join(repoRoot, 'bin/run.js');
const env = { ...process.env, CI: 'true', DIGITS_BACKEND: 'wasm' };

let work: string;
const comp = () => path.join(work, 'comp');

async function digits(argv: string[], cwd = work): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [bin, ...argv], { cwd, env, maxBuffer: 64 << 20 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout: string; stderr: string };
    if (typeof e.code !== 'number') throw error;
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** Every entry under `dir`, recursively (what a refused command must leave as it was). */
async function tree(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).map(String).sort();
}

beforeAll(async () => {
  work = await tempDir('digits-outdirs-');
  // Given a practice competition, imported, and a file named afile beside it
  expect((await digits(['data', 'practice', '--recipe', 'uniform', '--train', '300', '--test', '50', '--out', comp()])).code).toBe(0);
  expect((await digits(['data', 'import', comp()])).code).toBe(0);
  await writeFile(path.join(work, 'afile'), 'hi\n');
}, 120_000);
afterAll(removeTempDirs);

const commands: Array<{ command: string; flag: string; what: string; argv: (at: string) => string[] }> = [
  { command: 'search', flag: 'out', what: 'the search folder', argv: (at) => ['search', '--data', comp(), '--out', at, '--trials', '1', '--budget', '1'] },
  { command: 'data practice', flag: 'out', what: 'the competition folder', argv: (at) => ['data', 'practice', '--train', '100', '--test', '50', '--out', at] },
  { command: 'pretrain', flag: 'out', what: 'the checkpoint folder', argv: (at) => ['pretrain', '--preset', 'mlp', '--limit', '100', '--epochs', '1', '--out', at] },
  { command: 'data import', flag: 'out', what: 'the dataset folder', argv: (at) => ['data', 'import', comp(), '--force', '--out', at] },
  { command: 'train', flag: 'run', what: 'the run folder', argv: (at) => ['train', '--data', comp(), '--epochs', '1', '--run', at] },
];
const cases = commands.flatMap((c) => [
  { ...c, given: 'is a file', at: 'afile' },
  { ...c, given: 'lies under a file', at: 'afile/x' },
]);

describe('a folder flag that is a file, or lies under one', () => {
  test.each(cases)('$command --$flag $at ($given): refused before any work, naming the flag and afile; nothing written', async ({ flag, what, argv, at }) => {
    const before = await tree(work);
    // When the command is given that path
    const { code, stdout, stderr } = await digits(argv(at));
    // Then it is a user error: exit 2, no stack trace, the flag and the file in the way named
    expect(code, stderr).toBe(2);
    expect(stderr).not.toMatch(/internal error|\n\s+at /);
    const shown = path.join(work, at);
    const message = at === 'afile' ? `${what} ${shown} is a file, not a folder` : `${what} ${shown} cannot be made: ${path.join(work, 'afile')} is a file, not a folder`;
    // (the file the message names is not repeated in the location after it)
    expect(stderr).toContain(`error: ${message} (flag --${flag})`);
    // before any work (pretrain --out afile trained the whole job, then failed)
    expect(stderr).not.toMatch(/epoch|trial/);
    expect(stdout).toBe('');
    // and nothing was written: no folder, no work folder, afile as it was
    expect(await tree(work)).toEqual(before);
    expect(await readFile(path.join(work, 'afile'), 'utf8')).toBe('hi\n');
  });

  test('pretrain --out a folder holding other files: refused before the training, naming --out and those files', async () => {
    // Given the competition folder (CSVs and the import cache) as the checkpoint's --out
    const before = await tree(work);
    const { code, stderr } = await digits(['pretrain', '--preset', 'mlp', '--limit', '100', '--epochs', '1', '--out', comp()]);
    // Then it is refused now (it trained the whole job, then failed to save, leaving the weights in a hidden work folder)
    expect(code, stderr).toBe(2);
    expect(stderr).toMatch(new RegExp(`^error: cannot save a checkpoint to ${comp()}: the folder holds other files \\(\\.digits, sample_submission\\.csv, test\\.csv, …\\) and saving would replace it \\(flag --out\\)\n  hint: Give --out a new or empty folder`));
    expect(stderr).not.toMatch(/epoch|training rows/);
    // and no work folder was made beside it
    expect(await tree(work)).toEqual(before);
  });

  test('run: a file named runs, where the new run folder goes, is named before any work', async () => {
    const cwd = await tempDir('digits-outdirs-run-');
    await writeFile(path.join(cwd, 'runs'), 'x');
    const { code, stderr } = await digits(['run', '--data', comp(), '--budget', '1'], cwd);
    expect(code, stderr).toBe(2);
    expect(stderr).toMatch(new RegExp(`^error: the run folder \\S+ cannot be made: ${path.join(cwd, 'runs')} is a file, not a folder`));
    expect(await tree(cwd)).toEqual(['runs']);
  });

  test('serve --corrections under a file: the corrections store check names the file in the way', async () => {
    await expectUserError(checkCorrectionsStore(path.join(work, 'afile', 'x.jsonl')), {
      message: /the corrections store's folder .*afile is a file, not a folder/,
      file: 'afile',
      flag: 'corrections',
    });
  });

  test('serve --corrections naming a file that is no corrections store (the competition\'s train.csv) is refused at start-up, the file untouched', async () => {
    const csvFile = path.join(work, 'train-like.csv');
    const text = `label,p0,p1\n${Array.from({ length: 30 }, (_, i) => `${i % 10},0,1`).join('\n')}\n`;
    await writeFile(csvFile, text);
    await expectUserError(checkCorrectionsStore(csvFile), { message: /train-like\.csv is not a corrections file: none of its 31 lines is a correction/, flag: 'corrections', hint: /give --corrections a new file or a corrections store/ });
    // and one with a correction appended to it (what a server wrote there) is no store either
    await writeFile(csvFile, `${text}${JSON.stringify({ v: 1, time: 't', label: 3, predicted: null, image: Array.from({ length: 784 }, () => 0) })}\n`);
    await expectUserError(checkCorrectionsStore(csvFile), { message: /is not a corrections file: only 1 of its 32 lines is a correction/, flag: 'corrections' });
    expect((await readFile(csvFile, 'utf8')).startsWith(text)).toBe(true);
  });
});

describe('a refused train creates no folder', () => {
  test.each([
    { given: 'no such --data', argv: () => ['train', '--data', 'nope'], message: /^error: there is no folder .*nope \(flag --data\)/ },
    { given: "an ensemble file whose init checkpoint is missing", argv: () => ['train', '--data', comp(), '--ensemble', 'ens.json'], message: /^error: the init checkpoint nowhere\/ckpt \(members\[0\]\.init\) does not exist: looked in the ensemble file's folder/ },
    { given: 'a missing init, into --run a/b/c', argv: () => ['train', '--data', comp(), '--ensemble', 'ens.json', '--run', 'a/b/c'], message: /^error: the init checkpoint nowhere\/ckpt \(members\[0\]\.init\) does not exist: looked in the ensemble file's folder/ },
  ])('$given: exit 2, and neither the run folder nor the runs/ (or a/b/) made for it is left', async ({ argv, message }) => {
    // Given a fresh working folder holding only an ensemble file
    const cwd = await tempDir('digits-refused-train-');
    await writeFile(path.join(cwd, 'ens.json'), JSON.stringify({ members: [{ preset: 'mlp', epochs: 1, init: 'nowhere/ckpt' }] }));
    // When train is refused
    const { code, stderr } = await digits(argv(), cwd);
    expect(code, stderr).toBe(2);
    expect(stderr).toMatch(message);
    // Then it made no folder (an empty runs/ was left behind)
    expect(await tree(cwd)).toEqual(['ens.json']);
  });

  test("undo removes only the empty folders it made: another run's folder under the same fresh runs/ stays", async () => {
    const cwd = await tempDir('digits-make-folder-');
    const made = await makeFolder(path.join(cwd, 'runs', 'mine'), { keep: ['.lock'] });
    expect(made.created).toBe(true);
    await writeFile(path.join(cwd, 'runs', 'mine', '.lock'), '');
    // Given another command's run made beside it meanwhile
    await mkdir(path.join(cwd, 'runs', 'theirs'));
    await writeFile(path.join(cwd, 'runs', 'theirs', 'run.json'), '{}');
    await made.undo();
    expect(await tree(cwd)).toEqual(['runs', 'runs/theirs', 'runs/theirs/run.json']);
    // And a folder that was there already is never removed
    const again = await makeFolder(path.join(cwd, 'runs', 'theirs'));
    expect(again.created).toBe(false);
    await again.undo();
    expect(await tree(cwd)).toEqual(['runs', 'runs/theirs', 'runs/theirs/run.json']);
  });
});

describe.runIf(canMount)(`a new folder on a read-only file system (${SKIP_REASON})`, () => {
  let ro: ReadOnlyFolder;
  beforeAll(() => {
    ro = mountReadOnly();
  });
  afterAll(() => ro?.unmount());

  // (Node's recursive mkdir says ENOENT there: until session 45 these three said "internal error … ENOENT: no such file or directory, mkdir", exit 70)
  test.each([
    { command: 'train', argv: () => ['train', '--data', comp(), '--epochs', '1', '--run', 'runs/tr'], first: 'runs' },
    { command: 'search', argv: () => ['search', '--data', comp(), '--out', 'searches/s', '--trials', '1', '--budget', '1'], first: 'searches' },
    { command: 'pretrain', argv: () => ['pretrain', '--preset', 'mlp', '--limit', '100', '--epochs', '1', '--out', 'ckpt'], first: '.digits' },
  ])('$command into it says the file system is read-only, naming the folder (exit 2)', async ({ argv, first }) => {
    // Given a project folder on a read-only file system, When the command is run there
    const { code, stderr } = await digits(argv(), ro.dir);
    // Then it is a user error naming the first folder it could not make
    expect(code, stderr).toBe(2);
    expect(stderr).not.toMatch(/internal error|ENOENT|\n\s+at /);
    expect(stderr).toContain(`error: cannot write ${path.join(ro.dir, first)}: the file system is read-only`);
    expect(stderr).toContain('hint: Point the command at a writable folder');
    // (pretrain's .digits is no folder the user named: it is said to be its work folder beside --out)
    if (first === '.digits') expect(stderr).toContain(`: the file system is read-only (the pretraining's work folder, kept beside --out until it ends) (flag --out)`);
  });

  test('export onnx of a checkpoint there says to export a copy (it has no --out to point elsewhere)', async () => {
    // Given a checkpoint on a read-only file system (a shipped one in a read-only install, say)
    expect((await digits(['pretrain', '--preset', 'mlp', '--limit', '100', '--epochs', '1', '--out', path.join(work, 'ck')])).code).toBe(0);
    const held = mountReadOnly((source) => cpSync(path.join(work, 'ck'), path.join(source, 'ck'), { recursive: true }));
    try {
      // When it is exported
      const { code, stderr } = await digits(['export', 'onnx', path.join(held.dir, 'ck'), '--no-check']);
      // Then the error names the file, and the hint the one way out
      expect(code, stderr).toBe(2);
      expect(stderr).toMatch(/error: cannot write .*ck\/model\.onnx: the file system is read-only/);
      expect(stderr).toContain(`hint: The export is written beside the checkpoint's weights: copy the checkpoint to a folder you can write (\`cp -r ${path.join(held.dir, 'ck')} my-checkpoint\`) and export the copy`);
      expect(stderr).not.toContain('point the command at');
    } finally {
      held.unmount();
    }
  });
});
