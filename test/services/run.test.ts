/**
 * The main job on a tiny competition: it initialises the engine it was asked for (its
 * in-process tfjs work runs there), and `--resume` continues a run from its folder alone.
 */
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '../../src/engine/tf.js';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { buildPracticeCompetition } from '../../src/data/practice.js';
import { initEngine } from '../../src/engine/backend.js';
import { budgetLeft, checkBudget, checkFolds, runMainJob, type MainJobOptions } from '../../src/services/run.js';
import { UserError } from '../../src/errors.js';
import { readRunManifest } from '../../src/runs/manifest.js';
import { listRuns } from '../../src/services/runs.js';
import { formatRunsTable } from '../../src/cli/runs-summary.js';

let dir: string;
let options: MainJobOptions;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'digits-mainjob-'));
  const competition = path.join(dir, 'competitions', 'clean');
  await buildPracticeCompetition({ recipe: 'clean', out: competition, trainRows: 300, testRows: 30, seed: 2 });
  const ensembleFile = path.join(dir, 'tiny.json');
  await writeFile(ensembleFile, JSON.stringify({ name: 'tiny', validation: { kind: 'shared', fraction: 0.25, seed: 1 }, members: [{ preset: 'mlp', name: 'm', epochs: 1, batchSize: 30 }] }));
  options = { data: competition, workDir: dir, ensemble: ensembleFile, backend: 'cpu', infer: 'tfjs', concurrency: 1, seed: 1, command: 'vitest', runName: 'first' };
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('digits run initialises the engine it is given (--backend) for its in-process work', async () => {
  // Given the engine on wasm
  await initEngine({ backend: 'wasm' });
  // When the main job runs with --backend cpu
  const result = await runMainJob(options);
  // Then its in-process tfjs work ran on cpu, and it ended with a scored submission
  expect(tf.getBackend()).toBe('cpu');
  expect(result.submission.rows).toBe(30);
  expect(result.answers).toBe(`${options.data}-answers.csv`);
  expect((await readRunManifest(result.runDir)).status).toBe('finished');
}, 180_000);

test('digits run --resume continues an interrupted run from its folder alone, then evaluates and submits', async () => {
  // Given a run whose training was interrupted (run.json still says "training")
  const runDir = path.join(dir, 'runs', 'first');
  const manifest = JSON.parse(await readFile(path.join(runDir, 'run.json'), 'utf8'));
  await writeFile(path.join(runDir, 'run.json'), JSON.stringify({ ...manifest, status: 'training', finishedAt: null, members: [] }));
  // When the main job resumes it with no data nor ensemble
  const result = await runMainJob({ ...options, data: undefined, ensemble: 'quick', runName: 'ignored', resume: runDir });
  // Then the same run is finished with its own ensemble, evaluated and submitted against the practice answers
  expect(result.runDir).toBe(runDir);
  const after = await readRunManifest(runDir);
  expect(after).toMatchObject({ status: 'finished', ensemble: { name: 'tiny' }, members: [{ name: 'm', ok: true, epochs: 1 }] });
  expect(result.competition).toBe(options.data);
  expect(result.submission.score?.accuracy).toBeGreaterThan(0);
}, 180_000);

test('a wrong answers file fails before any training: missing, or of another competition', async () => {
  const stages: string[] = [];
  // Given answers that cannot be read, and answers whose ids are not this competition's
  const other = path.join(dir, 'other-answers.csv');
  await writeFile(other, 'ImageId,Label\n900,1\n901,2\n');
  for (const [answers, message, extra] of [
    [path.join(dir, 'nope.csv'), /nope\.csv/],
    // (ids the test set lacks are named first, since session 42)
    [other, /^answers: id 900 is not a test id of this competition/],
    // (not an answers file, but refused as early: --precision int8 with --infer tfjs failed at the evaluation)
    [path.join(dir, 'nope.csv'), /^--precision int8 runs on ONNX Runtime, but --infer tfjs was asked for$/, { infer: 'tfjs', precision: 'int8' }],
    // (and more workers than cores are said before anything: checked below)
    [path.join(dir, 'nope.csv'), /nope\.csv/, { concurrency: 64, onStage: (stage: string, message: string) => stages.push(`${stage}: ${message}`) }],
  ] as Array<[string, RegExp, Partial<MainJobOptions>?]>) {
    const runName = `refused-${path.basename(answers, '.csv')}`;
    // When the main job is started with them
    const error = await runMainJob({ ...options, answers, runName, ...(extra ?? {}) }).then(
      () => null,
      (caught: unknown) => caught as Error,
    );
    // Then it stops with the error, and no run was started
    expect(error?.message).toMatch(message);
    await expect(readFile(path.join(dir, 'runs', runName, 'run.json'))).rejects.toMatchObject({ code: 'ENOENT' });
  }
  expect(stages[0]).toMatch(new RegExp(`^recipe: warning: --concurrency 64 is more than this machine's ${os.availableParallelism()} cores`));
}, 120_000);

test('--resume on a finished run: refused once it has a submission; without one, evaluated and submitted, not trained again', async () => {
  // Given the finished run of the test above (trained, evaluated, submitted)
  const runDir = path.join(dir, 'runs', 'first');
  const before = await readRunManifest(runDir);
  // When it is resumed, it is refused, naming --run and pointing at digits submit
  const error = await runMainJob({ ...options, data: undefined, runName: 'ignored', resume: runDir }).then(
    () => null,
    (caught: unknown) => caught as UserError,
  );
  expect(error).toBeInstanceOf(UserError);
  expect(error!.message).toMatch(/^run first already finished: its members are trained and its submission is in /);
  expect(error!.where).toEqual({ flag: 'run' });
  expect(error!.hint).toMatch(/digits submit --run /);
  // And resumed from another working folder it is refused the same way: its project's ledger is the one read
  const elsewhere = path.join(dir, 'elsewhere');
  await mkdir(elsewhere, { recursive: true });
  const fromElsewhere = await runMainJob({ ...options, data: undefined, workDir: elsewhere, runName: 'ignored', resume: runDir }).then(
    () => null,
    (caught: unknown) => caught as UserError,
  );
  expect(fromElsewhere?.message).toMatch(/^run first already finished: /);
  expect(await readdir(elsewhere)).toEqual([]);
  // Given a job that writes reports, and no report.html in the run (stopped while writing it)
  const reporting = await runMainJob({ ...options, data: undefined, runName: 'ignored', resume: runDir, writeReport: async () => 'unused' }).then(
    () => null,
    (caught: unknown) => caught as UserError,
  );
  // Then the refusal says the report is missing and names the command that writes it
  expect(reporting!.message).toMatch(/already finished: .*, but it has no report\.html \(stopped while writing it\)$/);
  expect(reporting!.hint).toMatch(/^`digits report --run [^`]*first` writes its report; `digits submit --run /);
  // Given the same run without its submission (stopped while submitting), resumed from another folder
  await rm(path.join(dir, 'submissions'), { recursive: true, force: true });
  // (and first with a file where its submissions/ goes: the error says that the training is kept, and how to finish)
  await writeFile(path.join(dir, 'submissions'), 'in the way');
  const blocked = await runMainJob({ ...options, data: undefined, workDir: elsewhere, runName: 'ignored', resume: runDir }).then(() => null, (caught: unknown) => caught as UserError);
  expect(blocked!.hint).toMatch(/The members are trained and kept: once that is put right, `digits run --resume --run \S*first` writes the submission without training again\.$/);
  await rm(path.join(dir, 'submissions'));
  const stages: string[] = [];
  const result = await runMainJob({ ...options, data: undefined, workDir: elsewhere, runName: 'ignored', resume: runDir, onStage: (stage, message) => stages.push(`${stage}: ${message}`) });
  // Then it is evaluated and submitted; no member trained again (the record is as it was)
  expect(result.submission.rows).toBe(30);
  expect(stages.some((s) => /finished training: evaluating and submitting it/.test(s))).toBe(true);
  const after = await readRunManifest(runDir);
  expect(after.members).toEqual(before.members);
  expect(after.seconds).toBe(before.seconds);
  // and its submission went to its project's submissions/, from whatever folder it was resumed
  expect(path.dirname(result.submission.file)).toBe(path.join(dir, 'submissions'));
}, 180_000);

test('what cannot work is refused after the import, before auto chooses anything, leaving no run folder', async () => {
  const competition = options.data!;
  const trainOnly = path.join(dir, 'train-only');
  await mkdir(trainOnly, { recursive: true });
  await copyFile(path.join(competition, 'train.csv'), path.join(trainOnly, 'train.csv'));
  // 14×14 images (every other row and column of the practice digits), and one training row
  const small = path.join(dir, 'small-images');
  const oneRow = path.join(dir, 'one-row');
  await mkdir(small, { recursive: true });
  await mkdir(oneRow, { recursive: true });
  const keep = (i: number) => Math.floor(i / 28) % 2 === 0 && (i % 28) % 2 === 0;
  for (const name of ['train.csv', 'test.csv']) {
    const lines = (await readFile(path.join(competition, name), 'utf8')).trim().split('\n').map((line) => line.split(','));
    const first = name === 'train.csv' ? 1 : 0; // the clean layout: label first
    const shrunk = lines.map((cells) => [...cells.slice(0, first), ...cells.slice(first).filter((_, i) => keep(i))].join(','));
    await writeFile(path.join(small, name), `${shrunk.join('\n')}\n`);
    await writeFile(path.join(oneRow, name), `${lines.slice(0, name === 'train.csv' ? 2 : lines.length).map((cells) => cells.join(',')).join('\n')}\n`);
  }
  // a competition whose dataset cache cannot be made (.digits is a file): run has no --out to name
  const blocked = path.join(dir, 'blocked-cache');
  await mkdir(blocked, { recursive: true });
  for (const name of ['train.csv', 'test.csv']) await copyFile(path.join(competition, name), path.join(blocked, name));
  await writeFile(path.join(blocked, '.digits'), 'not a folder');
  const cases: Array<{ name: string; change: Partial<MainJobOptions>; message: RegExp; where: object }> = [
    { name: 'a dataset cache that cannot be made', change: { data: blocked }, message: /^the dataset folder .*blocked-cache\/\.digits is a file, not a folder$/, where: { file: path.join(blocked, '.digits') } },
    { name: 'images of another size', change: { data: small }, message: /^the presets take 28×28 images; this dataset's are 14×14$/, where: { file: path.join(small, 'train.csv') } },
    { name: 'one training row', change: { data: oneRow }, message: /^too few training rows \(1\) in train\.csv for a run: it needs at least 10$/, where: { file: path.join(oneRow, 'train.csv') } },
    { name: 'a file as --data', change: { data: path.join(competition, 'train.csv') }, message: /^--data takes the competition's folder, not one of its files/, where: { flag: 'data' } },
    { name: 'a --data that is not there', change: { data: path.join(dir, 'nope') }, message: /^there is no folder .*nope$/, where: { flag: 'data' } },
    { name: 'no test.csv', change: { data: trainOnly }, message: /train-only has no test rows, so a run cannot end in a submission$/, where: { file: trainOnly } },
    { name: 'more folds than rows', change: { folds: 301 }, message: /^--folds 301 is more than the 300 training rows$/, where: { flag: 'folds' } },
    { name: 'hopeless folds for the budget', change: { folds: 250, budgetMinutes: 0.05 }, message: /^--folds 250 cannot fit a 0\.05-minute budget: auto trains whole recipes of 250 fold members/, where: { flag: 'folds' } },
  ];
  for (const c of cases) {
    const runName = `refused-${c.name.replaceAll(' ', '-')}`;
    const error = await runMainJob({ ...options, ensemble: 'auto', answers: undefined, runName, ...c.change }).then(
      () => null,
      (caught: unknown) => caught as UserError,
    );
    expect(error, c.name).toBeInstanceOf(UserError);
    expect(error!.message, c.name).toMatch(c.message);
    expect(error!.where, c.name).toEqual(c.where);
    await expect(stat(path.join(dir, 'runs', runName)), c.name).rejects.toMatchObject({ code: 'ENOENT' });
  }
}, 120_000);

test('an ensemble of bagged members whose holdouts share no row runs to its submission, scored out of bag', async () => {
  // Given 8 members that each hold out their own 10% of the 300 rows (about 300 × 0.1^8 rows shared: none)
  const bagged = path.join(dir, 'bagged.json');
  await writeFile(bagged, JSON.stringify({ name: 'bagged', validation: { kind: 'bagged', fraction: 0.1 }, members: Array.from({ length: 8 }, (_, i) => ({ preset: 'mlp', name: `b${i}`, epochs: 1, seed: i })) }));
  // When it is run (until session 45 it was refused before any training: evaluate could not score it)
  const warnings: string[] = [];
  const result = await runMainJob({ ...options, ensemble: bagged, answers: undefined, runName: 'bagged-run', onWarning: (w) => warnings.push(w) });
  // (training's warning reaches the run: until session 45 run dropped every warning of training's)
  expect(warnings).toEqual([expect.stringMatching(/^no training row is held out by all 8 members .*its evaluation will score the ensemble out of bag/)]);
  // Then it is evaluated out of bag, on the rows some member held out, and submitted with all 8 members
  expect(result.evaluation.ensemble.outOfBag).toMatchObject({ members: 8, commonRows: 0 });
  const held = new Set(result.evaluation.members.flatMap((m) => m.validationRows ?? []));
  expect(result.evaluation.heldOutRows).toEqual([...held].sort((a, b) => a - b));
  expect(result.evaluation.ensemble.warnings).toEqual(expect.arrayContaining([expect.stringMatching(/^scored out of bag: the 8 members each hold out their own rows/)]));
  expect(result.submission.members).toHaveLength(8);
  // And `digits runs` marks its held-out figure as out of bag
  const listed = (await listRuns({ runsDir: path.join(dir, 'runs') })).runs.find((r) => r.name === 'bagged-run')!;
  expect(listed.heldOut).toMatchObject({ outOfBag: true, rows: result.evaluation.heldOutRows.length });
  expect(formatRunsTable([listed], 200)).toMatch(/ \(out of bag\)/);
}, 120_000);

test('with no --data, a working folder holding a competition is the competition (it built a practice one inside it)', async () => {
  // Given a working folder whose train.csv is the user's (here a broken one, so the import fails at once)
  const work = path.join(dir, 'my-competition');
  await mkdir(work, { recursive: true });
  await writeFile(path.join(work, 'train.csv'), 'hello\n');
  const stages: string[] = [];
  // When the main job runs there with no --data
  const error = await runMainJob({ ...options, data: undefined, workDir: work, runName: 'here', onStage: (stage, message) => stages.push(`${stage}: ${message}`) }).then(() => null, (caught: unknown) => caught as Error);
  // Then it used that folder (its train.csv is what failed to import), and made no practice competition
  expect(stages[0]).toBe(`competition: using the competition in the working folder, ${work}`);
  expect(error?.message ?? '').toMatch(/train\.csv/);
  expect(existsSync(path.join(work, 'competitions'))).toBe(false);
}, 60_000);

test('checkFolds: the rows bound, and the budget bound only for auto', () => {
  expect(() => checkFolds(5, 300)).not.toThrow();
  expect(() => checkFolds(300, 300)).not.toThrow();
  expect(() => checkFolds(301, 300)).toThrow(/more than the 300 training rows/);
  // 12,000 rows, 4 folds, 20 minutes on 2 workers: fine; 1,000 folds in a minute: not
  expect(() => checkFolds(4, 12000, { budgetSeconds: 1200, concurrency: 2 })).not.toThrow();
  expect(() => checkFolds(1000, 2000, { budgetSeconds: 60, concurrency: 2 })).toThrow(/one epoch of each, with the 8 s each member takes to start, would take at least 4500 s even at 2000 img\/s per worker/);
  // the members' starts count: 100 folds of 120 rows in a minute ran four times over it; 10 folds fit
  expect(() => checkFolds(100, 120, { budgetSeconds: 60, concurrency: 2 })).toThrow(/^--folds 100 cannot fit a 1-minute budget/);
  expect(() => checkFolds(10, 120, { budgetSeconds: 60, concurrency: 2 })).not.toThrow();
  expect(() => checkFolds(1000, 2000)).not.toThrow();
});

test('checkBudget: minutes from 0.5 (auto keeps 20 s to evaluate and submit) to a week', () => {
  expect(checkBudget('20')).toBe(20);
  expect(checkBudget('0.5')).toBe(0.5);
  expect(checkBudget('10080')).toBe(10080);
  expect(() => checkBudget('0.01')).toThrow(/--budget 0\.01 is too short to train anything: .* at least 0\.5 minutes/);
  expect(() => checkBudget('1e9')).toThrow(/--budget 1e9 is more than a week \(10080 minutes\)/);
  expect(() => checkBudget('abc')).toThrow(/--budget must be a number of minutes > 0, got abc/);
  expect(() => checkBudget('Infinity')).toThrow(/must be a number of minutes/);
});

test("budgetLeft: a resumed auto run's deadline is what its budget has left after its earlier sessions", () => {
  const plan = { reserveSeconds: 60 } as Parameters<typeof budgetLeft>[0]['plan'];
  // 20 minutes; 150 s to import and choose, 600 s trained: 1,200 − 60 − 750 = 390 s left
  const left = budgetLeft({ budgetMinutes: 20, choosingSeconds: 120, trainingStartSeconds: 150, plan }, 600, 1_000_000);
  expect(left).toMatchObject({ secondsLeft: 390, deadline: 1_000_000 + 390_000 });
  expect(left.line).toBe("the run's 20-minute budget has 390 s of training left (750 s spent before this session, 60 s kept to evaluate and submit): members not started yet are planned to it");
  // an older record (no trainingStartSeconds) counts its choosing time
  expect(budgetLeft({ budgetMinutes: 20, choosingSeconds: 120, plan }, 600, 0).secondsLeft).toBe(420);
  // spent: the deadline is in the past, and the line says what that means
  const spent = budgetLeft({ budgetMinutes: 0.5, choosingSeconds: 10, trainingStartSeconds: 12, plan: { ...plan, reserveSeconds: 20 } }, 25, 5_000);
  expect(spent.secondsLeft).toBe(-27);
  expect(spent.deadline).toBeLessThan(5_000);
  expect(spent.line).toBe("the run's 0.5-minute budget is spent (37 s before this session): members with saved epochs stop where they are, and members not started yet train one epoch");
  // with --epochs given at the start nothing is re-planned: the line says members stop at the deadline (until session 45 it promised planning)
  expect(budgetLeft({ budgetMinutes: 20, choosingSeconds: 120, trainingStartSeconds: 150, plan }, 600, 0, false).line).toMatch(/: members stop at it \(--epochs set their epochs, so none is re-planned\)$/);
});
