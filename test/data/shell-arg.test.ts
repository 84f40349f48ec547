/**
 * A path put into a command the user is told to run is quoted for a POSIX shell when it needs
 * to be (shellArg), so the command works when pasted: checked by handing the printed words to
 * a real `sh`, and by pasting the "Next:" line of `digits data practice` into one.
 */
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, expect, test } from 'vitest';
import { pathArg, shellArg } from '../../src/data/format.js';
import { interruptedMainJobHint } from '../../src/services/run.js';
import { resumeCommand } from '../../src/runs/manifest.js';
import { repoRoot } from '../helpers/run-command.js';
import { removeTempDirs, tempDir } from './helpers.js';

const exec = promisify(execFile);
afterAll(removeTempDirs);

/** The words `sh` makes of `line` (each printed NUL-terminated). */
async function shellWords(line: string): Promise<string[]> {
  const { stdout } = await exec('sh', ['-c', `printf '%s\\0' ${line}`]);
  return stdout.split('\0').slice(0, -1);
}

test.each([
  { word: 'runs/quick-20261121-101500', quoted: false },
  { word: 'runs/試験-run', quoted: false },
  { word: 'redis://:***@localhost:6379', quoted: true },
  { word: '/tmp/x/my run é', quoted: true },
  { word: "it's", quoted: true },
  { word: 'a"b$c`d\\e', quoted: true },
  { word: '*', quoted: true },
  { word: '~/runs', quoted: true },
  { word: 'a;b&c|d', quoted: true },
  { word: '', quoted: true },
])('shellArg($word): one shell word, the same text', async ({ word, quoted }) => {
  // Given a word put into a printed command
  const printed = shellArg(word);
  // Then it is quoted only when it needs to be
  expect(printed !== word).toBe(quoted);
  // And a shell reads it back as exactly that one word
  expect(await shellWords(printed)).toEqual([word]);
});

test("the hint of a `digits run` stopped in a folder named with a space is a command a shell reads right", async () => {
  // Given a run folder with a space and an accent in its name, holding a run.json (training had started)
  const runDir = path.join(await tempDir('digits-shell-arg-'), 'my run é');
  await mkdir(runDir, { recursive: true });
  await writeFile(path.join(runDir, 'run.json'), '{}');
  // When it is stopped while training, and while writing its report
  const training = interruptedMainJobHint(runDir, 'train');
  const report = interruptedMainJobHint(runDir, 'report');
  // Then each command in the hints gives the folder to --run as one word
  for (const hint of [training, report]) {
    const command = /`(digits [^`]+)`/.exec(hint)![1]!;
    const words = await shellWords(command);
    expect(words.slice(words.indexOf('--run') + 1)).toEqual([runDir]);
  }
});

test('`digits data practice --out "<with space>"`: its "Next:" line, pasted into a shell, imports the competition', { timeout: 180_000 }, async () => {
  // Given a practice competition built in a folder with a space and an accent in its name
  const work = await tempDir('digits-shell-arg-');
  const bin = path.join(repoRoot, 'bin/run.js');
  const env = { ...process.env, CI: 'true' };
  const { stdout } = await exec(process.execPath, [bin, 'data', 'practice', '--recipe', 'clean', '--train', '300', '--test', '100', '--out', 'my comp é'], { cwd: work, env });
  const next = /^Next: (digits .*)$/m.exec(stdout)![1]!;
  // When the line is pasted into a shell where `digits` is the CLI
  const pasted = await exec('sh', ['-c', `digits() { "${process.execPath}" "${bin}" "$@"; }; ${next}`], { cwd: work, env }).then(
    ({ stdout: out }) => ({ code: 0, out }),
    (error: { code: number; stderr: string }) => ({ code: error.code, out: error.stderr }),
  );
  // Then it imports that folder
  expect(next).toBe("digits data import 'my comp é'");
  expect(pasted.code, pasted.out).toBe(0);
});

test('the resume command every unfinished-run message names reads back as one --run word', async () => {
  // Given a run folder whose path holds a space and a quote
  const runDir = path.join(await tempDir('digits-shell-arg-'), "Kim's run");
  // When the resume command of a run digits train and one digits run started are written
  for (const command of ['digits train --data x', 'digits run --data x']) {
    const words = await shellWords(resumeCommand(runDir, { command }));
    // Then a shell reads the folder back whole
    expect(words.slice(words.indexOf('--run') + 1)).toEqual([runDir]);
  }
});

test('a path starting with - is printed as ./-…, so the command does not take it for a flag', async () => {
  expect(pathArg('-weird')).toBe('./-weird');
  expect(pathArg('-my comp')).toBe("'./-my comp'");
  expect(pathArg('runs/x')).toBe('runs/x');
  // Given a practice competition built in ./-weird, When its "Next:" line is pasted into a shell, Then it imports that folder
  const work = await tempDir('digits-shell-arg-');
  const bin = path.join(repoRoot, 'bin/run.js');
  const env = { ...process.env, CI: 'true' };
  const { stdout } = await exec(process.execPath, [bin, 'data', 'practice', '--recipe', 'clean', '--train', '100', '--test', '20', '--out=-weird'], { cwd: work, env });
  const next = /^Next: (digits .*)$/m.exec(stdout)![1]!;
  expect(next).toBe('digits data import ./-weird');
  const pasted = await exec('sh', ['-c', `digits() { "${process.execPath}" "${bin}" "$@"; }; ${next}`], { cwd: work, env }).then(
    () => 0,
    (error: { code: number; stderr: string }) => error.stderr,
  );
  expect(pasted).toBe(0);
  // and typed without ./, the refusal says how to write it
  const typed = await exec(process.execPath, [bin, 'data', 'import', '-weird'], { cwd: work, env }).then(
    () => '',
    (error: { stderr: string }) => error.stderr,
  );
  // (named as typed, never as a long flag --weird that was not)
  expect(typed).toContain('error: not a flag of digits data import (-weird)\n');
  expect(typed).toContain('hint: A path starting with - is written ./-weird (or after --).');
}, 120_000);
