/**
 * `--ensemble -` reads the ensemble file from standard input, as `-` does for most command-line
 * tools (`jq … | digits train --ensemble -`): until session 44 it was "no built-in ensemble or
 * file named -". Errors in it name `<stdin>` with the line and column; an empty input and a
 * terminal are refused, naming the flag (a terminal would wait for a file typed in).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { buildPracticeCompetition } from '../../src/data/practice.js';
import { removeTempDirs, tempDir } from '../data/helpers.js';
import { runOnTerminal } from '../helpers/pty.js';
import { runBuilt } from '../helpers/built-cli.js';

let work: string;

/** `digits <argv>` with `input` on its standard input: exit code, stdout and stderr. */
const digits = (argv: string[], input: string) => runBuilt(argv, work, input);

beforeAll(async () => {
  work = await tempDir('digits-ensemble-stdin-');
  await buildPracticeCompetition({ recipe: 'uniform', out: path.join(work, 'comp'), trainRows: 300, testRows: 40, seed: 3 });
});
afterAll(removeTempDirs);

test('train and run take the ensemble file on standard input; its errors name <stdin>', { timeout: 300_000 }, async () => {
  const file = { validation: { kind: 'shared', fraction: 0.2, seed: 1 }, members: [{ preset: 'mlp', name: 'piped', epochs: 1 }] };
  // When `digits run` is given it on stdin (it imports the competition; its name, unset, is "stdin": "the ensemble ensemble" read oddly until session 45)
  const run = await digits(['run', '--data', 'comp', '--ensemble', '-', '--json'], JSON.stringify(file));
  expect(run.code, run.stderr).toBe(0);
  const result = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { type: string; runDir: string; submission: { members: string[] } };
  expect(result).toMatchObject({ type: 'result', submission: { members: ['piped'] } });
  expect(path.basename(result.runDir)).toMatch(/^stdin-\d{8}-\d{6}$/);
  expect(run.stdout).toMatch(/"training the stdin ensemble \(1 member/);
  // And `digits train` with a named one: the run records the ensemble it read
  const train = await digits(['train', '--data', 'comp', '--ensemble', '-', '--run', 'runs/from-stdin'], JSON.stringify({ ...file, name: 'mine' }));
  expect(train.code, train.stderr).toBe(0);
  const manifest = JSON.parse(await readFile(path.join(work, 'runs/from-stdin/run.json'), 'utf8')) as { ensemble: { name: string; members: Array<{ name: string }> } };
  expect(manifest.ensemble).toMatchObject({ name: 'mine', members: [expect.objectContaining({ name: 'piped' })] });

  // A syntax error is named at <stdin>:line:column, exit 2
  const broken = await digits(['train', '--data', 'comp', '--ensemble', '-'], '{\n  "members": [ {"preset": "mlp",} ]\n}\n');
  expect(broken.code).toBe(2);
  expect(broken.stderr).toMatch(/^error: the ensemble file is not valid JSON: property name expected \(<stdin>:2:33\)$/m);
  // Nothing on stdin: said, naming the flag
  const empty = await digits(['train', '--data', 'comp', '--ensemble', '-'], '');
  expect(empty.code).toBe(2);
  expect(empty.stderr).toMatch(/^error: --ensemble - read nothing from standard input \(flag --ensemble\)$/m);
});

test('--ensemble - with a terminal for standard input is refused at once, not left waiting for input', { timeout: 120_000 }, async () => {
  const result = await runOnTerminal(['train', '--data', 'comp', '--ensemble', '-'], { cwd: work, timeout: 60 });
  expect(result.timedOut).toBe(false);
  expect(result.exit).toBe(2);
  expect(result.tty).toMatch(/error: --ensemble - reads the ensemble file from standard input, and standard input is a terminal \(flag --ensemble\)/);
});

test('--ensemble quick with a file named quick in the working folder: the built-in is trained, and a warning says the file is not read', { timeout: 120_000 }, async () => {
  // Given a file ./quick (an ensemble file saved without .json) and a folder with no imported data, so nothing trains
  await writeFile(path.join(work, 'quick'), JSON.stringify({ members: [{ preset: 'mlp', epochs: 1 }] }));
  await mkdir(path.join(work, 'nothing-here'), { recursive: true });
  // When `--ensemble quick` is given, Then the warning comes first (until session 44 nothing said the file was passed over)
  const plain = await digits(['train', '--data', 'nothing-here', '--ensemble', 'quick'], '');
  expect(plain.stderr).toMatch(/^warning: --ensemble quick is the built-in ensemble; the file \.\/quick in the working folder is not read \(give \.\/quick to train it\)\n/);
  const json = await digits(['train', '--data', 'nothing-here', '--ensemble', 'quick', '--json'], '');
  expect(JSON.parse(json.stdout.split('\n')[0]!)).toEqual({ type: 'warning', message: expect.stringMatching(/^--ensemble quick is the built-in ensemble; the file \.\/quick /) });
  // And ./quick is what trains that file: no warning
  const file = await digits(['train', '--data', 'nothing-here', '--ensemble', './quick'], '');
  expect(file.stderr).not.toMatch(/warning:/);
});

test("an init missing from an ensemble on standard input: looked for in the working folder and among the shipped checkpoints, no file's folder", { timeout: 120_000 }, async () => {
  await mkdir(path.join(work, 'nothing-here'), { recursive: true });
  const result = await digits(['train', '--data', 'nothing-here', '--ensemble', '-'], JSON.stringify({ members: [{ preset: 'mlp', epochs: 1, init: 'nope/ckpt' }] }));
  expect(result.code).toBe(2);
  // (until session 44 it named "the ensemble file's folder", the working folder again, and said to give it relative to that folder)
  expect(result.stderr).toMatch(/^error: the init checkpoint nope\/ckpt \(members\[0\]\.init\) does not exist: looked among the shipped checkpoints \(.*\) and in the working folder \(.*nope\/ckpt\) \(<stdin>\)$/m);
  expect(result.stderr).toMatch(/hint: In an ensemble file on standard input, "init" is relative to the working folder: give it so \(or absolute\)/);
});
