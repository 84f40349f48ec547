/**
 * A run some of whose members failed and some trained (the built CLI, bin/run.js): `train` and
 * `run` print their result, then say which members failed and how to train them again, and
 * exit 1 (until session 44 they exited 0, so a script went on to submit a smaller ensemble
 * than it asked for); `--resume` trains the failed members again, also of a finished run.
 *
 * The failure is a real one: the run is killed (SIGKILL, as a machine that dies) while its
 * second member trains, and a file is put where that member's folder was, so the member's
 * worker cannot make its folder when the run is resumed.
 */
import { readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { buildPracticeCompetition } from '../../src/data/practice.js';
import { removeTempDirs, tempDir } from '../data/helpers.js';
import { breakMember, killWhenTrained, runBuilt } from '../helpers/built-cli.js';

let work: string;
let competition: string;
let ensembleFile: string;

const digits = (argv: string[]) => runBuilt(argv, work);
const killWhileBTrains = (argv: string[]) => killWhenTrained(argv, work, 'b');
const breakB = (runDir: string) => breakMember(runDir, 'b');

const members = async (runDir: string) =>
  (JSON.parse(await readFile(path.join(runDir, 'run.json'), 'utf8')) as { status: string; members: Array<{ name: string; ok: boolean }> });

beforeAll(async () => {
  work = await tempDir('digits-partly-failed-');
  competition = path.join(work, 'comp');
  await buildPracticeCompetition({ recipe: 'uniform', out: competition, trainRows: 300, testRows: 40, seed: 5 });
  // (`train` needs it imported; `run` imports it itself)
  expect((await digits(['data', 'import', competition])).code).toBe(0);
  ensembleFile = path.join(work, 'two.json');
  // a trains first (one worker), then b, long enough to be killed during it (it is killed after
  // its first epoch; the tests train it to its end twice, so 15 epochs rather than 40)
  await writeFile(
    ensembleFile,
    JSON.stringify({ name: 'two', validation: { kind: 'shared', fraction: 0.2, seed: 1 }, members: [{ preset: 'mlp', name: 'a', epochs: 1 }, { preset: 'mlp', name: 'b', epochs: 15 }] }),
  );
});
afterAll(removeTempDirs);

test('train: a member that fails on --resume ends the command with its error after the result, exit 1; --resume trains it again once fixed', { timeout: 300_000 }, async () => {
  // Given a two-member training killed while b trained, and b's folder replaced by a file
  const runDir = path.join(work, 'runs', 'two');
  await killWhileBTrains(['train', '--data', competition, '--ensemble', ensembleFile, '--run', runDir, '--concurrency', '1']);
  await breakB(runDir);

  // When it is resumed under --json
  const json = await digits(['train', '--resume', '--run', runDir, '--json']);
  // Then a trained and b failed: the result line comes first, the error last, exit 1
  expect(json.code, json.stderr).toBe(1);
  const result = json.lines.find((l) => l.type === 'result')!;
  expect(result).toMatchObject({ status: 'finished', members: [expect.objectContaining({ name: 'a', ok: true }), expect.objectContaining({ name: 'b', ok: false })] });
  expect(json.lines.indexOf(result)).toBe(json.lines.length - 2);
  expect(json.lines.at(-1)).toMatchObject({
    type: 'error',
    error: expect.stringMatching(/^1 of 2 members failed to train: b \(EEXIST\b.*\)$/),
    hint: expect.stringMatching(/^The run keeps the one member that trained: `digits evaluate --run .*two` scores the run as it is\. Once what stopped it is put right, `digits train --resume --run .*two` trains it again \(the others as they are\)\.$/),
    where: { file: path.join(runDir, 'run.json') },
  });

  // And resumed again as it is, without --json (a finished run: its failed member is tried again), the same error is the last word on stderr
  const plain = await digits(['train', '--resume', '--run', runDir]);
  expect(plain.code, plain.stderr).toBe(1);
  expect(plain.stdout).toMatch(/^ {2}a +val_acc .*\n {2}b +FAILED: EEXIST/m);
  expect(plain.stderr.trimEnd().split('\n').slice(-2).join('\n')).toMatch(/^error: 1 of 2 members failed to train: b \(EEXIST.*\n {2}hint: The run keeps the one member that trained/);

  // When the file is taken away, --resume trains b and ends with exit 0, both members trained
  await rm(path.join(runDir, 'b'));
  const fixed = await digits(['train', '--resume', '--run', runDir]);
  expect(fixed.code, fixed.stderr).toBe(0);
  expect(fixed.stderr).not.toMatch(/error:/);
  expect(await members(runDir)).toMatchObject({ status: 'finished', members: [expect.objectContaining({ name: 'a', ok: true }), expect.objectContaining({ name: 'b', ok: true })] });
});

test('run: the evaluation and submission of the members that trained, then the error, exit 1; `run --resume` trains the failed member and submits again', { timeout: 300_000 }, async () => {
  // Given `digits run` killed while b trained, and b's folder replaced by a file
  await killWhileBTrains(['run', '--data', competition, '--ensemble', ensembleFile, '--concurrency', '1']);
  const runs = (await readdir(path.join(work, 'runs'))).filter((n) => n.startsWith('two-'));
  expect(runs).toHaveLength(1);
  const runDir = path.join(work, 'runs', runs[0]!);
  await breakB(runDir);

  // When it is resumed under --json
  const json = await digits(['run', '--resume', '--run', runDir, '--json']);
  // Then the result (a submission of member a alone) comes before the error, exit 1
  expect(json.code, json.stderr).toBe(1);
  const result = json.lines.find((l) => l.type === 'result') as { submission: { members: string[]; file: string } } | undefined;
  expect(result?.submission.members).toEqual(['a']);
  expect(json.lines.at(-1)).toMatchObject({
    type: 'error',
    error: expect.stringMatching(/^1 of 2 members failed to train: b \(EEXIST\b/),
    hint: expect.stringMatching(/^The run keeps the one member that trained: the evaluation and submission above are of it alone\. Once what stopped it is put right, `digits run --resume --run .*two-\S+` trains it again \(the others as they are\)\.$/),
  });

  // When the file is taken away, `run --resume` without --run (its run finished, with a failed member: the newest to continue) trains b, evaluates, submits both, exit 0
  await rm(path.join(runDir, 'b'));
  const fixed = await digits(['run', '--resume']);
  expect(fixed.code, fixed.stderr).toBe(0);
  expect(fixed.stderr).toMatch(/\[train\] training the failed member of the two ensemble in .* again \(b; the others as they are\)/);
  expect(fixed.stdout).toMatch(/^submission .*\(40 rows, 2 members,/m);
  expect(await members(runDir)).toMatchObject({ status: 'finished', members: [expect.objectContaining({ name: 'a', ok: true }), expect.objectContaining({ name: 'b', ok: true })] });
});

test('run whose every member failed: the hint names `digits run --resume` (which trains on, evaluates and submits), not `digits train --resume`', { timeout: 300_000 }, async () => {
  // Given a one-member `digits run` killed while its member trained, and the member's folder replaced by a file
  const one = path.join(work, 'one.json');
  await writeFile(one, JSON.stringify({ name: 'one', validation: { kind: 'shared', fraction: 0.2, seed: 1 }, members: [{ preset: 'mlp', name: 'b', epochs: 40 }] }));
  await killWhileBTrains(['run', '--data', competition, '--ensemble', one, '--concurrency', '1']);
  const runs = (await readdir(path.join(work, 'runs'))).filter((n) => n.startsWith('one-'));
  expect(runs).toHaveLength(1);
  const runDir = path.join(work, 'runs', runs[0]!);
  await breakB(runDir);
  // When it is resumed, its only member fails (its folder cannot be made)
  const json = await digits(['run', '--resume', '--run', runDir, '--json']);
  // Then the run failed, and the hint's command is run's own resume (train's only trained: the run stayed unevaluated and unsubmitted)
  expect(json.code, json.stderr).toBe(1);
  const last = json.lines.at(-1) as { type: string; error: string; hint: string };
  expect(last).toMatchObject({ type: 'error', error: expect.stringMatching(/^run one-\S+: every member failed \(EEXIST\b/) });
  expect(last.hint).toMatch(/`digits run --resume --run \S*one-\S+`/);
  expect(last.hint).not.toMatch(/digits train/);
});
