/**
 * The run folder on its own: run.json exists from the first epoch, paths in it (and in
 * evaluation.json and the ledger) are relative, so a copied project evaluates, submits and
 * serves after the original is gone; submit checks its inputs before writing anything; files
 * left by killed writers are removed on the next start.
 */
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { importCompetition, resolveCompetitionFiles } from '../../src/data/import.js';
import { createSplit } from '../../src/data/splits.js';
import { buildPracticeCompetition } from '../../src/data/practice.js';
import { initEngine } from '../../src/engine/backend.js';
import { ensembleFromJson, resolveEnsemble } from '../../src/ensemble/ensemble-spec.js';
import { planResume, trainEnsemble } from '../../src/services/train.js';
import { evaluateRun } from '../../src/services/evaluate.js';
import { submitRun } from '../../src/services/submit.js';
import { readLedger } from '../../src/data/submission.js';
import { readRunManifest, type RunManifest } from '../../src/runs/manifest.js';
import { loadServedEnsemble } from '../../src/serve/ensemble.js';
import { startServer, type RunningServer } from '../../src/serve/server.js';
import type { EnsembleEvent } from '../../src/training/train-member.js';
import { expectUserError } from '../data/helpers.js';
import { runCommand } from '../helpers/run-command.js';
import SubmitCommand from '../../src/commands/submit.js';
import EvaluateCommand from '../../src/commands/evaluate.js';
import TrainCommand from '../../src/commands/train.js';
import { formatEvaluationSummary } from '../../src/cli/evaluation-summary.js';
import { TTA_NOT_MEASURED } from '../../src/evaluation/evaluation-report.js';
import { deadPid } from '../helpers/dead-pid.js';

let root: string;
let project: string;
let runDir: string;
let manifestAtStart: RunManifest | null = null;
const ensemble = () =>
  ensembleFromJson(JSON.stringify({ name: 'tiny', validation: { kind: 'shared', fraction: 0.25, seed: 1 }, members: [{ preset: 'mlp', name: 'm', epochs: 1, batchSize: 30, seed: 1 }] }));

beforeAll(async () => {
  // Given a project folder with a small practice competition and a run trained in it
  await initEngine({ backend: 'wasm' });
  root = await mkdtemp(path.join(os.tmpdir(), 'digits-runfolder-'));
  project = path.join(root, 'project');
  const competition = path.join(project, 'competitions', 'clean');
  await buildPracticeCompetition({ recipe: 'clean', out: competition, trainRows: 300, testRows: 30, seed: 5 });
  await importCompetition({ ...(await resolveCompetitionFiles([competition])), orientation: 'as-is' });
  runDir = path.join(project, 'runs', 'r');
  const onEvent = (event: EnsembleEvent) => {
    // run.json is there, saying "training", by the time the first member starts
    if (event.type === 'start' && !manifestAtStart) void readRunManifest(runDir).then((m) => (manifestAtStart ??= m));
  };
  await trainEnsemble({ ensemble: ensemble(), data: competition, runDir, concurrency: 1, backend: 'wasm', command: 'vitest', onEvent });
}, 240_000);

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('run.json', () => {
  test('is written before training, says "training", and "finished" at the end, with relative paths', async () => {
    expect(manifestAtStart).toMatchObject({ status: 'training', finishedAt: null, members: [], splits: [{ member: 'm', name: 'holdout-0.25-seed1', fold: 0 }] });
    const manifest = await readRunManifest(runDir);
    expect(manifest.status).toBe('finished');
    expect(manifest.dataset.dir).toBe(path.join('..', '..', 'competitions', 'clean', '.digits'));
    expect(JSON.stringify(manifest)).not.toContain(root);
  });

  test('resuming from the folder alone takes its ensemble and data; a flag that differs is an error naming it', async () => {
    const plan = await planResume(runDir);
    expect(plan.ensemble.name).toBe('tiny');
    expect(plan.data).toBe(path.join(project, 'competitions', 'clean', '.digits'));
    await expectUserError(planResume(runDir, { ensemble: { ...ensemble(), name: 'other', members: [{ ...ensemble().members[0]!, epochs: 5 }] } }), { message: /--ensemble other is not the ensemble/, flag: 'ensemble' });
    // What differs is said, member by member
    const edited = { ...ensemble(), members: [{ ...ensemble().members[0]!, epochs: 3, preset: 'deotte' }, { ...ensemble().members[0]!, name: 'd' }] };
    await expectUserError(planResume(runDir, { ensemble: edited }), { message: /^--ensemble tiny is not the ensemble run r was trained with: m: preset "deotte" \(the run's: "mlp"\), epochs 3 \(the run's: 1\); d: not in the run \(as recorded in run\.json\)$/ });
    await expectUserError(planResume(runDir, { ensemble: { ...ensemble(), members: [] } }), { message: /was trained with: m: left out /, flag: 'ensemble' });
    const elsewhere = path.join(root, 'other-competition');
    await buildPracticeCompetition({ recipe: 'clean', out: elsewhere, trainRows: 100, testRows: 10, seed: 6 });
    await importCompetition({ ...(await resolveCompetitionFiles([elsewhere])), orientation: 'as-is' });
    await expectUserError(planResume(runDir, { data: elsewhere }), { message: /--data .* is not the data/, flag: 'data' });
    await expectUserError(planResume(path.join(root, 'nothing-here')), { message: /nothing to resume/, flag: 'run' });
    // the reader's own word where it knows more: a file above the folder, a damaged run.json
    const afile = path.join(root, 'afile');
    await writeFile(afile, 'x');
    await expectUserError(planResume(path.join(afile, 'x')), { message: new RegExp(`${afile.replace(/[/.]/g, '\\$&')} is a file, not a folder`), flag: 'run' });
    const damaged = path.join(root, 'damaged');
    await cp(runDir, damaged, { recursive: true });
    await writeFile(path.join(damaged, 'run.json'), '{bad');
    await expectUserError(planResume(damaged), { message: /run\.json is not valid JSON/ });
  });

  test('evaluate and submit on an unfinished run say how to resume it', async () => {
    const unfinished = path.join(project, 'runs', 'unfinished');
    await cp(runDir, unfinished, { recursive: true });
    const manifest = await readRunManifest(unfinished);
    await writeFile(path.join(unfinished, 'run.json'), JSON.stringify({ ...manifest, status: 'training', finishedAt: null, members: [] }));
    await expectUserError(evaluateRun({ runDir: unfinished }), { message: /training has not finished/, hint: /digits train --resume --run .*unfinished/ });
    await expectUserError(submitRun({ runDir: unfinished, dir: path.join(project, 'submissions') }), { message: /training has not finished/, hint: /--resume/ });
    // a run `digits run` started goes on with `digits run --resume`, which evaluates and submits after
    await writeFile(path.join(unfinished, 'run.json'), JSON.stringify({ ...manifest, command: 'digits run --data comp', status: 'training', finishedAt: null, members: [] }));
    await expectUserError(evaluateRun({ runDir: unfinished }), { message: /training has not finished/, hint: /^Continue it with `digits run --resume --run .*unfinished` \(it restarts each member from its last saved epoch, then evaluates and submits\)\.$/ });
    await rm(unfinished, { recursive: true });
  });

  test('the next start removes temp files a killed writer left in the run folder', async () => {
    // Given leftovers of a killed process: a checkpoint temp folder and a run.json temp
    const pid = await deadPid();
    const checkpointTemp = path.join(runDir, 'm', `last.tmp-${pid}-0a1b2c3d`);
    await mkdir(checkpointTemp);
    await writeFile(path.join(checkpointTemp, 'weights.bin'), 'partial');
    await writeFile(path.join(runDir, `run.json.tmp-${pid}-0a1b2c3d`), '{');
    // When the run is resumed (nothing left to train)
    const manifest = await trainEnsemble({ ensemble: ensemble(), data: path.join(project, 'competitions', 'clean'), runDir, concurrency: 1, backend: 'wasm', command: 'vitest', resume: true });
    // Then they are gone and the run is finished as before
    expect(manifest.status).toBe('finished');
    expect(await readdir(path.join(runDir, 'm'))).not.toContain(path.basename(checkpointTemp));
    expect(await readdir(runDir)).not.toContain(`run.json.tmp-${pid}-0a1b2c3d`);
    expect(await readdir(runDir)).not.toContain('.lock');
  }, 120_000);
});

describe('submit checks its inputs before writing anything', () => {
  test('a missing answers file: an error, and no submission file nor ledger line', async () => {
    const dir = path.join(root, 'subs-missing-answers');
    await expectUserError(submitRun({ runDir, dir, answers: path.join(root, 'nope.csv') }), { message: /cannot read the answers/, file: 'nope.csv' });
    expect(await readdir(dir).catch(() => [])).toEqual([]);
  });

  test('answers of another competition: an error before writing', async () => {
    const dir = path.join(root, 'subs-wrong-answers');
    const answers = path.join(root, 'wrong-answers.csv');
    await writeFile(answers, 'ImageId,Label\n1,3\n2,4\n');
    await expectUserError(submitRun({ runDir, dir, answers }), { message: /the answers have no row for test id 3/, flag: 'answers' });
    expect(await readdir(dir).catch(() => [])).toEqual([]);
  });

  test('an answer that is not a digit: an error at its line before predicting, nothing written', async () => {
    const dir = path.join(root, 'subs-bad-label');
    const answers = path.join(root, 'bad-label-answers.csv');
    await writeFile(answers, 'ImageId,Label\n1,3\n2,12\n');
    await expectUserError(submitRun({ runDir, dir, answers }), { message: /label "12" is not a digit 0–9/, file: 'bad-label-answers.csv', line: 3 });
    expect(await readdir(dir).catch(() => [])).toEqual([]);
  });

  test('a dataset with no test rows: an error, nothing written', async () => {
    // Given a run trained on a competition that has only train.csv
    const trainOnly = path.join(project, 'competitions', 'train-only');
    await mkdir(trainOnly, { recursive: true });
    await cp(path.join(project, 'competitions', 'clean', 'train.csv'), path.join(trainOnly, 'train.csv'));
    await importCompetition({ ...(await resolveCompetitionFiles([trainOnly])), orientation: 'as-is' });
    const run = path.join(project, 'runs', 'train-only');
    await trainEnsemble({ ensemble: ensemble(), data: trainOnly, runDir: run, concurrency: 1, backend: 'wasm', command: 'vitest' });
    // When it is submitted
    const dir = path.join(root, 'subs-no-test');
    await expectUserError(submitRun({ runDir: run, dir }), { message: /no test rows/ });
    // Then nothing was written
    expect(await readdir(dir).catch(() => [])).toEqual([]);
  }, 120_000);

  test('a --name a file name keeps nothing of (Japanese, emoji) names the file after the run, and says so', async () => {
    const dir = path.join(root, 'subs-cjk');
    for (const name of ['日本語', '🚀']) {
      const warnings: string[] = [];
      const result = await submitRun({ runDir, dir, name, onWarning: (w) => warnings.push(w) });
      // (until session 44: "…-submission.csv", without a word)
      expect(path.basename(result.file)).toMatch(/^\d{8}-\d{6}-r(-\d+)?\.csv$/);
      expect(warnings).toContainEqual(expect.stringMatching(new RegExp(`^--name ${name} has no letter or digit a file name here can keep .*: the file is named after the run, r$`, 'u')));
    }
    // a name in Latin letters after transliteration is kept, without a warning
    const warnings: string[] = [];
    expect(path.basename((await submitRun({ runDir, dir, name: 'Café', onWarning: (w) => warnings.push(w) })).file)).toMatch(/-Cafe\.csv$/);
    expect(warnings.filter((w) => w.startsWith('--name'))).toEqual([]);
  }, 60_000);

  test('a temp file of a killed submit is removed on the next submit, and every CSV is in the ledger', async () => {
    const dir = path.join(root, 'subs-killed');
    await mkdir(dir);
    const pid = await deadPid();
    const leftover = path.join(dir, `.20260101-000000-r.csv.tmp-${pid}-0a1b2c3d`);
    await writeFile(leftover, 'ImageId,Label\n1,7\n');
    const result = await submitRun({ runDir, dir });
    const files = await readdir(dir);
    expect(files).not.toContain(path.basename(leftover));
    const csvs = files.filter((f) => f.endsWith('.csv'));
    expect(csvs).toEqual([path.basename(result.file)]);
    expect((await readLedger(dir)).map((e) => e.file)).toEqual(csvs);
  }, 60_000);
});

describe('submit on damaged inputs', () => {
  /** A copy of the trained run beside it (same project, so its relative paths hold), evaluated when asked. */
  async function copyOfRun(name: string, evaluate?: { tta?: [] }): Promise<string> {
    const copy = path.join(project, 'runs', name);
    await cp(runDir, copy, { recursive: true });
    if (evaluate) await evaluateRun({ runDir: copy, ...evaluate });
    return copy;
  }

  test('a run folder moved without its competition: evaluate and submit say where run.json says the dataset is, relative to the run', async () => {
    // Given a copy of the run two folders deeper than the project's runs/, without the competition
    const moved = path.join(root, 'elsewhere', 'a', 'b', 'run');
    await cp(runDir, moved, { recursive: true });
    const stored = JSON.parse(await readFile(path.join(moved, 'run.json'), 'utf8')).dataset.dir as string;
    // Then both name the run.json, the stored relative path and what to do
    for (const attempt of [() => evaluateRun({ runDir: moved, tta: [] }), () => submitRun({ runDir: moved, dir: path.join(root, 'subs-moved') })]) {
      await expect(attempt()).rejects.toMatchObject({
        message: expect.stringContaining(`records it as ${stored} (relative to the run folder)`),
        where: { file: path.join(moved, 'run.json') },
        hint: expect.stringMatching(/moved without its competition/),
      });
    }
  });

  test('a run and its competition moved apart: --data names where the competition is now; another competition is refused by fingerprint', async () => {
    // Given the run moved one way and a copy of its competition another, and a different competition
    const moved = path.join(root, 'moved-apart', 'runs', 'r');
    await cp(runDir, moved, { recursive: true });
    const competition = path.join(root, 'moved-apart', 'data', 'clean');
    await cp(path.join(project, 'competitions', 'clean'), competition, { recursive: true });
    const other = path.join(root, 'moved-apart', 'data', 'other');
    await buildPracticeCompetition({ recipe: 'clean', out: other, trainRows: 100, testRows: 30, seed: 8 });
    await importCompetition({ ...(await resolveCompetitionFiles([other])), orientation: 'as-is' });
    // When evaluate, submit (through the command) and resume are given the competition's new folder
    const report = await evaluateRun({ runDir: moved, tta: [], dataDir: competition });
    expect(report.ensemble.soft.rows).toBeGreaterThan(0);
    const dir = path.join(root, 'subs-moved-apart');
    const printed = await runCommand(SubmitCommand, ['--run', moved, '--dir', dir, '--data', competition, '--backend', 'wasm']);
    expect(printed.exit).toBe(0);
    expect(await readLedger(dir)).toHaveLength(1);
    // Then they work; and a competition that is not the run's is refused, naming --data and both fingerprints
    const manifest = await readRunManifest(moved);
    for (const attempt of [() => evaluateRun({ runDir: moved, tta: [], dataDir: other }), () => submitRun({ runDir: moved, dir, dataDir: other }), () => planResume(moved, { data: other })]) {
      await expect(attempt()).rejects.toMatchObject({
        message: expect.stringMatching(new RegExp(`is not the data run r was trained on: its fingerprint is sha256:\\w+, run\\.json records ${manifest.dataset.fingerprint}`)),
        where: { flag: 'data' },
      });
    }
    expect(await readLedger(dir)).toHaveLength(1);
    // And a resume with --data records the new folder, so later commands need no --data
    const plan = await planResume(moved, { data: competition });
    await trainEnsemble({ ensemble: plan.ensemble, data: plan.data, runDir: moved, concurrency: 1, backend: 'wasm', command: 'vitest', resume: true });
    expect((await readRunManifest(moved)).dataset.dir).toBe(path.join('..', '..', 'data', 'clean', '.digits'));
    expect((await evaluateRun({ runDir: moved, tta: [] })).ensemble.soft.rows).toBeGreaterThan(0);
    // And another competition's hint names where the run's was last seen; its own folder, imported
    // again since with other data (another orientation), is said to be that, not a wrong folder
    await expect(evaluateRun({ runDir: moved, tta: [], dataDir: other })).rejects.toMatchObject({ hint: expect.stringMatching(/^Give the folder of the competition the run was trained on \(run\.json last saw it at .*moved-apart\/data\/clean\/\.digits\)/) });
    // A copy whose sample submission was reissued with other ids: which file differs is said
    const reissued = path.join(root, 'moved-apart', 'data', 'reissued');
    await cp(competition, reissued, { recursive: true });
    await rm(path.join(reissued, '.digits'), { recursive: true });
    const sample = (await readFile(path.join(reissued, 'sample_submission.csv'), 'utf8')).trimEnd().split('\n');
    await writeFile(path.join(reissued, 'sample_submission.csv'), [sample[0], ...sample.slice(1).map((line) => `${Number(line.split(',')[0]) + 1000},0`)].join('\n') + '\n');
    await importCompetition({ ...(await resolveCompetitionFiles([reissued])), orientation: 'as-is' });
    // (the run's own import is readable again now: before the resume run.json pointed where the run's folder no longer is)
    await expect(evaluateRun({ runDir: moved, tta: [], dataDir: reissued })).rejects.toMatchObject({ message: expect.stringMatching(/^--data .*reissued is not the data run r was trained on \(train\.csv and test\.csv are the same; sample_submission\.csv differs\): /) });
    await expect(evaluateRun({ runDir: moved, tta: [], dataDir: other })).rejects.toMatchObject({ message: expect.stringMatching(/ \(sample_submission\.csv is the same; train\.csv and test\.csv differ\): /) });
    await importCompetition({ ...(await resolveCompetitionFiles([competition])), orientation: 'flip-h', force: true });
    await expect(evaluateRun({ runDir: moved, tta: [], dataDir: competition })).rejects.toMatchObject({
      where: { flag: 'data' },
      hint: expect.stringMatching(/^That is the folder the run was trained on, imported again since with other data/),
    });
  }, 120_000);

  test('evaluate says a report.html written from the previous evaluation is stale, with the command that writes it anew', async () => {
    const copy = await copyOfRun('stale-report', {});
    await writeFile(path.join(copy, 'report.html'), '<html>the previous evaluation</html>');
    const printed = await runCommand(EvaluateCommand, ['--run', copy, '--no-tta', '--backend', 'wasm']);
    expect(printed.exit).toBe(0);
    expect(printed.stderr).toMatch(/note: .*stale-report\/report\.html is of the previous evaluation: `digits report --run .*stale-report` writes it anew/);
    const json = await runCommand(EvaluateCommand, ['--run', copy, '--no-tta', '--backend', 'wasm', '--json']);
    expect(json.stdout.split('\n')[0]).toMatch(/^\{"type":"warning","message":".*report\.html is of the previous evaluation/);
  });

  test('after evaluate --no-tta, submit goes without TTA and says it was not measured (not that it did not help)', async () => {
    // Given a run evaluated with TTA, then again with --no-tta
    const copy = await copyOfRun('no-tta', {});
    const noTta = await evaluateRun({ runDir: copy, tta: [] });
    // Then the evaluation says the next submission goes without TTA because it was not measured
    expect(formatEvaluationSummary(noTta)).toContain('TTA not measured (--no-tta): digits submit will predict the images as they are');
    // When it is submitted
    const dir = path.join(root, 'subs-no-tta');
    const result = await submitRun({ runDir: copy, dir });
    // Then without TTA, for that reason, with the plain figure in the ledger
    expect(result).toMatchObject({ tta: 1, ttaReason: TTA_NOT_MEASURED, validation: { logLoss: noTta.ensemble.soft.logLoss } });
    expect((await readLedger(dir))[0]).toMatchObject({ tta: 1, validation: { logLoss: noTta.ensemble.soft.logLoss } });
    // and the command says so
    const printed = await runCommand(SubmitCommand, ['--run', copy, '--dir', dir, '--backend', 'wasm']);
    expect(printed.exit).toBe(0);
    expect(printed.stdout).toContain('no TTA (not measured: the last digits evaluate ran with --no-tta; run digits evaluate without it to let TTA be chosen)');
    expect(printed.stdout).not.toContain('did not help');
    await rm(copy, { recursive: true });
  }, 120_000);

  test('a corrupt evaluation.json is an error naming its line and column, and nothing is written', async () => {
    const copy = await copyOfRun('corrupt-eval', {});
    const file = path.join(copy, 'evaluation.json');
    const text = await readFile(file, 'utf8');
    await writeFile(file, `${text.slice(0, 300)}#!${text.slice(300)}`);
    const dir = path.join(root, 'subs-corrupt-eval');
    const error = await expectUserError(submitRun({ runDir: copy, dir }), { message: /evaluation\.json is not valid JSON/, file: 'evaluation.json', hint: /digits evaluate --run/ });
    expect(error.where?.line).toBeGreaterThan(0);
    expect(error.where?.column).toBeGreaterThan(0);
    expect(await readdir(dir).catch(() => [])).toEqual([]);
    await rm(copy, { recursive: true });
  }, 120_000);

  test('an incomplete evaluation.json refused by submit --dir <new folder> leaves no folder behind', async () => {
    // Given an evaluated copy of the run whose evaluation.json lacks heldOutRows (the key renamed)
    const copy = await copyOfRun('incomplete-eval', {});
    const file = path.join(copy, 'evaluation.json');
    await writeFile(file, (await readFile(file, 'utf8')).replace('"heldOutRows"', '"heldOutRowz"'));
    // When it is submitted into a submissions folder that does not exist yet
    const dir = path.join(root, 'subs-incomplete-eval', 'new');
    const printed = await runCommand(SubmitCommand, ['--run', copy, '--dir', dir, '--backend', 'wasm']);
    // Then it is refused, naming the file, and neither the folder nor its parent was created
    expect(printed.exit).not.toBe(0);
    expect(printed.stderr).toMatch(/evaluation\.json is incomplete/);
    await expect(readdir(path.join(root, 'subs-incomplete-eval'))).rejects.toMatchObject({ code: 'ENOENT' });
    await rm(copy, { recursive: true });
  }, 120_000);

  test("a member's folder deleted after evaluate: an error naming it, though its predictions are saved", async () => {
    const copy = await copyOfRun('member-gone', {});
    await rm(path.join(copy, 'm'), { recursive: true });
    const dir = path.join(root, 'subs-member-gone');
    await expectUserError(submitRun({ runDir: copy, dir }), { message: /member m of the run cannot be read: no checkpoint at .*member-gone\/m\/best/, hint: /Restore m\/best/ });
    expect(await readdir(dir).catch(() => [])).toEqual([]);
    await rm(copy, { recursive: true });
  }, 120_000);

  test('a finished run whose run.json has no status (written by a digits before it had one) is finished: --resume says so and changes nothing', async () => {
    // Given a copy of the run whose run.json is as older versions wrote it, once, at the end: no status
    const copy = await copyOfRun('no-status');
    const file = path.join(copy, 'run.json');
    const old = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
    delete old.status;
    await writeFile(file, JSON.stringify(old, null, 2));
    const before = await readFile(file, 'utf8');
    // When it is resumed
    const printed = await runCommand(TrainCommand, ['--resume', '--run', copy, '--backend', 'wasm']);
    // Then it is a finished run (until session 44 every member was "resumed" from a last/ of no
    // training state, failed, and run.json was rewritten as failed, which every reader then refused)
    expect(printed.exit).toBe(2);
    expect(printed.stderr).toMatch(/error: run no-status already finished: its member is trained/);
    expect(await readFile(file, 'utf8')).toBe(before);
    expect(await readRunManifest(copy)).toMatchObject({ status: 'finished', members: [expect.objectContaining({ name: 'm', ok: true })] });
    await rm(copy, { recursive: true });
  }, 120_000);

  test('an evaluation of the TTA before the edge fill (black, until 2026-12-02) is outdated; one made after it, recording no fill, is not', async () => {
    // Given an evaluated copy (with TTA): a new evaluation records its fill
    const copy = await copyOfRun('black-fill', {});
    const file = path.join(copy, 'evaluation.json');
    const evaluation = JSON.parse(await readFile(file, 'utf8')) as { createdAt: string; ensemble: { ttaTransforms?: string[]; ttaFill?: string } };
    expect(evaluation.ensemble.ttaTransforms).toHaveLength(8);
    expect(evaluation.ensemble.ttaFill).toBe('edge');
    // When it is made to look like an evaluation of a digits before the edge fill (no ttaFill, made on 30 November)
    delete evaluation.ensemble.ttaFill;
    await writeFile(file, JSON.stringify({ ...evaluation, createdAt: '2026-11-30T12:00:00.000Z' }));
    // Then submit and serve refuse it with the command that evaluates it again (until session 44 its
    // figures and TTA choice were reused for a submission and a server using today's TTA)
    const dir = path.join(root, 'subs-black-fill');
    await expectUserError(submitRun({ runDir: copy, dir }), { message: /from its evaluation\.json: it is not of the run as it is now \(evaluation\.json \(2026-11-30T12:00:00\.000Z\) measured the TTA of a digits before 2026-12-02, whose shifts filled the rows and columns they uncover black/, hint: /^Evaluate it again: digits evaluate --run / });
    await expectUserError(loadServedEnsemble(copy, { workers: 0 }), { message: /measured the TTA of a digits before 2026-12-02/ });
    expect(await readdir(dir).catch(() => [])).toEqual([]);
    // And one made after the change by a digits that did not record the fill yet is current
    await writeFile(file, JSON.stringify({ ...evaluation, createdAt: '2026-12-05T12:00:00.000Z' }));
    expect((await submitRun({ runDir: copy, dir })).file).toMatch(/\.csv$/);
    await rm(copy, { recursive: true });
  }, 120_000);

  test("serve refuses an evaluation made before a member's checkpoint was replaced, as submit does; evaluate and serve name a deleted member", async () => {
    // Given an evaluated copy whose member m was then replaced by another network (trained with another seed)
    const copy = await copyOfRun('member-replaced', {});
    const other = path.join(project, 'runs', 'other-seed');
    const reseeded = ensembleFromJson(JSON.stringify({ name: 'tiny', validation: { kind: 'shared', fraction: 0.25, seed: 1 }, members: [{ preset: 'mlp', name: 'm', epochs: 1, batchSize: 30, seed: 2 }] }));
    await trainEnsemble({ ensemble: reseeded, data: path.join(project, 'competitions', 'clean'), runDir: other, concurrency: 1, backend: 'wasm', command: 'vitest' });
    await rm(path.join(copy, 'm', 'best'), { recursive: true });
    await cp(path.join(other, 'm', 'best'), path.join(copy, 'm', 'best'), { recursive: true });
    // Then serving it is refused with the command that evaluates it again (until session 44 it served the
    // old evaluation's TTA decision and figures "as the submission")
    await expectUserError(loadServedEnsemble(copy, { workers: 0 }), { message: /^cannot serve run r from its evaluation\.json: it is not of the run as it is now \(member m's checkpoint was saved again/, hint: /^Evaluate it again: digits evaluate --run / });
    // And with a member's folder deleted from a run not evaluated, evaluate and serve name the member and
    // say to restore it (they said "no checkpoint at …/m/best … train a model to create it")
    const gone = await copyOfRun('member-gone-unevaluated');
    await rm(path.join(gone, 'm'), { recursive: true });
    await expectUserError(evaluateRun({ runDir: gone }), { message: /^member m of the run cannot be read: no checkpoint at /, hint: /^Restore m\/best in .* \(digits evaluate scores every trained member of run\.json\), or train the run again\.$/ });
    await expectUserError(loadServedEnsemble(gone, { workers: 0 }), { message: /^member m of the run cannot be read: /, hint: /\(digits serve serves every trained member of run\.json\)/ });
    await rm(copy, { recursive: true });
    await rm(gone, { recursive: true });
  }, 180_000);

  test('a torn last ledger line: the new record goes on a line of its own, and is listed', async () => {
    const dir = path.join(root, 'subs-torn');
    const first = await submitRun({ runDir, dir });
    const ledger = path.join(dir, 'ledger.jsonl');
    const whole = await readFile(ledger, 'utf8');
    await writeFile(ledger, whole + whole.slice(0, 40));
    const warnings: string[] = [];
    const second = await submitRun({ runDir, dir, name: 'torn', onWarning: (w) => warnings.push(w) });
    expect(warnings).toEqual(['ledger.jsonl:2: torn last line (a write did not finish), skipped']);
    expect((await readLedger(dir)).map((e) => e.sha256)).toEqual([first.sha256, second.sha256]);
  }, 60_000);

  test('--dir naming a file, a folder named ledger.jsonl, a --name too long: errors naming them, nothing written', async () => {
    const file = path.join(root, 'subs-a-file');
    await writeFile(file, 'x');
    await expectUserError(submitRun({ runDir, dir: file }), { message: /is a file, not a folder/, file: 'subs-a-file', flag: 'dir' });
    const dir = path.join(root, 'subs-ledger-folder');
    await mkdir(path.join(dir, 'ledger.jsonl'), { recursive: true });
    await expectUserError(submitRun({ runDir, dir }), { message: /ledger\.jsonl is a folder; the ledger is a file/, file: 'ledger.jsonl' });
    expect(await readdir(dir)).toEqual(['ledger.jsonl']);
    const named = path.join(root, 'subs-long-name');
    await expectUserError(submitRun({ runDir, dir: named, name: 'a'.repeat(300) }), { message: /the name is 300 characters long; a submission's name has at most 100/, flag: 'name' });
    expect(await readdir(named).catch(() => [])).toEqual([]);
  }, 60_000);
});

describe('a run fine-tuned from a checkpoint in the project', () => {
  test('stores its init relative to the run folder, and resumes from a moved copy of the project', async () => {
    // Given a checkpoint in the project and a run whose member fine-tunes it
    const start = path.join(project, 'checkpoints', 'start');
    await cp(path.join(runDir, 'm', 'best'), start, { recursive: true });
    const tunedSpec = () => ensembleFromJson(JSON.stringify({ name: 'tuned', validation: { kind: 'shared', fraction: 0.25, seed: 1 }, members: [{ preset: 'mlp', name: 't', epochs: 1, batchSize: 30, seed: 2, init: start }] }));
    const tuned = path.join(project, 'runs', 'tuned');
    const warnings: string[] = [];
    await trainEnsemble({ ensemble: tunedSpec(), data: path.join(project, 'competitions', 'clean'), runDir: tuned, concurrency: 1, backend: 'wasm', command: 'vitest', onWarning: (m) => warnings.push(m) });
    // (that checkpoint is the first run's member, trained on this competition: its rows may be the ones held out now; train and evaluate say so)
    expect(warnings).toEqual([expect.stringMatching(/^member t starts from a checkpoint trained on this competition's rows .*: rows held out now may have trained it, so the held-out figures, and the TTA and weights decided on them, are optimistic/)]);
    expect((await evaluateRun({ runDir: tuned, tta: [], precision: 'fp32' })).ensemble.warnings).toContain(warnings[0]);
    const manifest = await readRunManifest(tuned);
    expect(manifest.ensemble.members[0]!.init).toBe(path.join('..', '..', 'checkpoints', 'start'));
    expect(JSON.stringify(manifest)).not.toContain(root);
    // and the run made unfinished (its member not trained yet), the project copied elsewhere, the original checkpoint gone
    await writeFile(path.join(tuned, 'run.json'), JSON.stringify({ ...manifest, status: 'training', finishedAt: null, members: [] }));
    await rm(path.join(tuned, 't'), { recursive: true });
    const moved = path.join(root, 'moved-tuned', 'project');
    await cp(project, moved, { recursive: true });
    await rm(tuned, { recursive: true });
    await rm(start, { recursive: true });
    // When the copy's run is resumed from its folder alone
    const movedRun = path.join(moved, 'runs', 'tuned');
    const plan = await planResume(movedRun);
    expect(plan.ensemble.members[0]!.init).toBe(path.join(moved, 'checkpoints', 'start'));
    const resumed = await trainEnsemble({ ensemble: plan.ensemble, data: plan.data, runDir: movedRun, concurrency: 1, backend: 'wasm', command: 'vitest', resume: true });
    // Then its member trains from the copy's checkpoint, and run.json still names it relatively
    expect(resumed.status).toBe('finished');
    expect(resumed.members.map((m) => m.ok)).toEqual([true]);
    expect((await readRunManifest(movedRun)).ensemble.members[0]!.init).toBe(path.join('..', '..', 'checkpoints', 'start'));
    await rm(path.join(root, 'moved-tuned'), { recursive: true });
  }, 180_000);

  test('a damaged init (truncated weights) is refused before any member trains, naming the file', async () => {
    const bad = path.join(project, 'checkpoints', 'bad');
    await cp(path.join(runDir, 'm', 'best'), bad, { recursive: true });
    await truncate(path.join(bad, 'weights.bin'), 100);
    const spec = ensembleFromJson(JSON.stringify({ name: 'damaged', members: [{ preset: 'mlp', name: 'ok', epochs: 1, batchSize: 30 }, { preset: 'mlp', name: 'x', epochs: 1, batchSize: 30, init: bad }] }));
    const damaged = path.join(project, 'runs', 'damaged');
    await expectUserError(trainEnsemble({ ensemble: spec, data: path.join(project, 'competitions', 'clean'), runDir: damaged, concurrency: 1, backend: 'wasm', command: 'vitest' }), { message: /^member x: its init .*bad cannot be read: .*weights\.bin/ });
    expect(existsSync(damaged)).toBe(false);
  });

  test('resuming refuses an init checkpoint replaced since the run started, while a member would start from it; once every member has its own epochs it goes on', async () => {
    // Given a finished run fine-tuned from a project checkpoint, which recorded the checkpoint's identity
    const start = path.join(project, 'checkpoints', 'start2');
    await cp(path.join(runDir, 'm', 'best'), start, { recursive: true });
    const spec = ensembleFromJson(JSON.stringify({ name: 'swapped', validation: { kind: 'shared', fraction: 0.25, seed: 1 }, members: [{ preset: 'mlp', name: 'u', epochs: 1, batchSize: 30, seed: 2, init: start }] }));
    const run = path.join(project, 'runs', 'swapped');
    await trainEnsemble({ ensemble: spec, data: path.join(project, 'competitions', 'clean'), runDir: run, concurrency: 1, backend: 'wasm', command: 'vitest' });
    const manifest = await readRunManifest(run);
    expect(Object.keys(manifest.initIdentities ?? {})).toEqual(['u']);
    // When the checkpoint is replaced by another network and the run resumed with its member not trained yet
    await rm(start, { recursive: true });
    await cp(path.join(run, 'u', 'best'), start, { recursive: true });
    const unfinished = path.join(project, 'runs', 'swapped-copy');
    await cp(run, unfinished, { recursive: true });
    await rm(path.join(unfinished, 'u'), { recursive: true });
    await writeFile(path.join(unfinished, 'run.json'), JSON.stringify({ ...manifest, status: 'training', finishedAt: null, members: [] }));
    const plan = await planResume(unfinished);
    // Then it is refused, naming the member, the checkpoint and what to do
    await expectUserError(trainEnsemble({ ensemble: plan.ensemble, data: plan.data, runDir: unfinished, concurrency: 1, backend: 'wasm', command: 'vitest', resume: true }), {
      message: /^member u: its init checkpoint .*start2 was replaced since run swapped-copy started \(its identity was [0-9a-f:]+, it is [0-9a-f:]+\)/,
      flag: 'run',
      hint: /Put the checkpoint the run started from back/,
    });
    // And the run whose member has its own epochs resumes from them, the replaced init unread
    expect((await trainEnsemble({ ensemble: (await planResume(run)).ensemble, data: plan.data, runDir: run, concurrency: 1, backend: 'wasm', command: 'vitest --resume', resume: true })).status).toBe('finished');
    // and run.json keeps the command that started it, with the resume's beside it (the resume replaced it)
    expect(await readRunManifest(run)).toMatchObject({ command: 'vitest', resumedBy: ['vitest --resume'] });
  }, 120_000);
});

describe("an ensemble file's init", () => {
  test("is relative to the file's folder, whatever the working folder", async () => {
    // Given an ensemble file in project/ensembles naming ../checkpoints/beside, and a working folder elsewhere
    await cp(path.join(runDir, 'm', 'best'), path.join(project, 'checkpoints', 'beside'), { recursive: true });
    const file = path.join(project, 'ensembles', 'tuned.json');
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, JSON.stringify({ name: 'beside', members: [{ preset: 'mlp', name: 'b', init: '../checkpoints/beside', epochs: 1 }, { preset: 'seed002', name: 'c', init: 'checkpoints/mnist-clean/seed002' }] }));
    expect(process.cwd()).not.toBe(path.dirname(file));
    // When it is read
    const spec = await resolveEnsemble(file);
    // Then the first init is the checkpoint beside the file; a path not there is left for the shipped checkpoints
    expect(spec.members.map((m) => m.init)).toEqual([path.join(project, 'checkpoints', 'beside'), 'checkpoints/mnist-clean/seed002']);
    // A missing init, or one of another preset, is an error naming the file and the member's key
    await writeFile(file, JSON.stringify({ members: [{ preset: 'mlp', epochs: 1 }, { preset: 'mlp', init: 'nowhere/ckpt' }] }));
    await expectUserError(resolveEnsemble(file), { message: new RegExp(`^the init checkpoint nowhere/ckpt \\(members\\[1\\]\\.init\\) does not exist: looked in the ensemble file's folder \\(${path.join(project, 'ensembles', 'nowhere', 'ckpt')}\\), among the shipped checkpoints`), file: 'tuned.json' });
    await writeFile(file, JSON.stringify({ members: [{ preset: 'deotte', init: 'checkpoints/mnist-clean/seed002' }] }));
    await expectUserError(resolveEnsemble(file), { message: /^members\[0\]\.init: the checkpoint checkpoints\/mnist-clean\/seed002 is a seed002 network, and the member's preset is deotte$/, file: 'tuned.json', hint: /"preset": "seed002"/ });
  });

  test('a run refused for a missing init says where it looked, and leaves no run folder', async () => {
    const spec = ensembleFromJson(JSON.stringify({ name: 'missing', members: [{ preset: 'mlp', name: 'x', init: 'nowhere/ckpt', epochs: 1 }] }));
    const missing = path.join(project, 'runs', 'missing');
    await expectUserError(trainEnsemble({ ensemble: spec, data: path.join(project, 'competitions', 'clean'), runDir: missing, concurrency: 1, backend: 'wasm', command: 'vitest' }), { message: /nowhere\/ckpt does not exist: looked among the shipped checkpoints .* and in the working folder/ });
    // a path out of the package is not called a shipped checkpoint
    const outside = ensembleFromJson(JSON.stringify({ name: 'outside', members: [{ preset: 'mlp', name: 'x', init: '../nock', epochs: 1 }] }));
    const refused = await expectUserError(trainEnsemble({ ensemble: outside, data: path.join(project, 'competitions', 'clean'), runDir: path.join(project, 'runs', 'outside'), concurrency: 1, backend: 'wasm', command: 'vitest' }), { message: /^the init checkpoint \.\.\/nock does not exist: looked in the working folder \(.*\)$/ });
    expect(refused.message).not.toMatch(/shipped/);
    await expect(readdir(missing)).rejects.toMatchObject({ code: 'ENOENT' });
    // A folder that was there before (e.g. made by the user) stays
    await mkdir(missing);
    await expectUserError(trainEnsemble({ ensemble: spec, data: path.join(project, 'competitions', 'clean'), runDir: missing, concurrency: 1, backend: 'wasm', command: 'vitest' }), { message: /does not exist/ });
    expect(await readdir(missing)).toEqual([]);
    await rm(missing, { recursive: true });
  });
});

describe('a copied project', () => {
  let server: RunningServer | null = null;
  afterAll(async () => {
    await server?.close();
  });

  test('evaluates, submits and serves after the original is deleted', async () => {
    // Given a copy of the whole project elsewhere, and the original gone
    const moved = path.join(root, 'moved', 'project');
    await cp(project, moved, { recursive: true });
    await rm(project, { recursive: true, force: true });
    const movedRun = path.join(moved, 'runs', 'r');

    // When it is evaluated, submitted and served there
    const report = await evaluateRun({ runDir: movedRun, answers: path.join(moved, 'competitions', 'clean-answers.csv') });
    const submissions = path.join(moved, 'submissions');
    const submission = await submitRun({ runDir: movedRun, dir: submissions, answers: path.join(moved, 'competitions', 'clean-answers.csv') });
    server = await startServer({ ensemble: await loadServedEnsemble(movedRun, { workers: 0 }), port: 0 });
    const model = (await (await fetch(`${server.url}/v1/model`)).json()) as { members: Array<{ checkpoint: string }> };

    // Then everything works, and what is stored or shown names no absolute path
    expect(report.test?.rows).toBe(30);
    expect(submission.rows).toBe(30);
    expect(submission.score?.accuracy).toBeGreaterThan(0);
    const stored = [await readFile(path.join(movedRun, 'run.json'), 'utf8'), await readFile(path.join(movedRun, 'evaluation.json'), 'utf8'), await readFile(path.join(submissions, 'ledger.jsonl'), 'utf8'), JSON.stringify(model)];
    for (const text of stored) expect(text).not.toContain(root);
    const [entry] = await readLedger(submissions);
    expect(entry).toMatchObject({ run: path.join('..', 'runs', 'r'), members: [{ name: 'm', checkpoint: path.join('..', 'runs', 'r', 'm', 'best') }], score: { answers: path.join('..', 'competitions', 'clean-answers.csv') } });
    expect(model.members[0]!.checkpoint).toBe(path.join('m', 'best'));
  }, 180_000);
});

describe('a saved split replaced after a run trained on it', () => {
  test('evaluate and train --resume refuse it (its members would be scored on rows they trained on); the split saved again as it was is accepted', async () => {
    // Given a run trained on a saved 3-fold split, then the split replaced under its name with another seed
    const competition = path.join(root, 'cv-project', 'competitions', 'clean');
    await buildPracticeCompetition({ recipe: 'clean', out: competition, trainRows: 150, testRows: 10, seed: 8 });
    await importCompetition({ ...(await resolveCompetitionFiles([competition])), orientation: 'as-is' });
    await createSplit({ data: competition, name: 'cv3', spec: { kind: 'kfold', k: 3, seed: 1 } });
    const cv = path.join(root, 'cv-project', 'runs', 'cv');
    const spec = ensembleFromJson(JSON.stringify({ name: 'cv', validation: { kind: 'kfold', split: 'cv3' }, members: [{ preset: 'mlp', name: 'm', epochs: 1, batchSize: 30, seed: 1 }] }));
    await trainEnsemble({ ensemble: spec, data: competition, runDir: cv, concurrency: 1, backend: 'wasm', command: 'vitest' });
    const recorded = (await readRunManifest(cv)).splitDigests;
    expect(Object.keys(recorded ?? {})).toEqual(['cv3']);
    await createSplit({ data: competition, name: 'cv3', spec: { kind: 'kfold', k: 3, seed: 99 }, force: true });
    // Then evaluating and resuming it are refused, naming the split and run.json
    await expectUserError(evaluateRun({ runDir: cv, tta: [] }), { message: /^split "cv3" changed since run cv was trained on it/, file: 'run.json', hint: /--force/ });
    const plan = await planResume(cv);
    await expectUserError(trainEnsemble({ ensemble: plan.ensemble, data: plan.data, runDir: cv, concurrency: 1, backend: 'wasm', command: 'vitest', resume: true }), { message: /^split "cv3" changed since run cv was trained on it/ });
    // And with the split saved again as it was, the run evaluates
    await createSplit({ data: competition, name: 'cv3', spec: { kind: 'kfold', k: 3, seed: 1 }, force: true });
    expect((await evaluateRun({ runDir: cv, tta: [] })).cv?.folds).toBe(3);
    // and once evaluated (its test predictions saved), submit refuses the replaced split too, as evaluate does (it submitted)
    await createSplit({ data: competition, name: 'cv3', spec: { kind: 'kfold', k: 3, seed: 99 }, force: true });
    await expectUserError(submitRun({ runDir: cv, dir: path.join(root, 'cv-project', 'subs') }), { message: /^split "cv3" changed since run cv was trained on it/ });
    expect(existsSync(path.join(root, 'cv-project', 'subs'))).toBe(false);
    await createSplit({ data: competition, name: 'cv3', spec: { kind: 'kfold', k: 3, seed: 1 }, force: true });
    // An ensemble file asking for more folds than rows: the error names the ensemble, not a --folds nobody typed
    const many = ensembleFromJson(JSON.stringify({ name: 'many', validation: { kind: 'kfold', folds: 500 }, members: [{ preset: 'mlp', name: 'm', epochs: 1 }] }));
    const error = await expectUserError(trainEnsemble({ ensemble: many, data: competition, runDir: path.join(root, 'cv-project', 'runs', 'many'), concurrency: 1, backend: 'wasm', command: 'vitest' }), { message: /not 500 \(k-fold validation of ensemble many\)$/, hint: /"folds" in the ensemble's validation/ });
    expect(error.where).toBeUndefined();
    // And where the caller says where the count was set (train's --folds, or the file), the error names it
    const fromFlag = await expectUserError(trainEnsemble({ ensemble: many, data: competition, runDir: path.join(root, 'cv-project', 'runs', 'many'), concurrency: 1, backend: 'wasm', command: 'vitest', foldsFrom: { flag: 'folds' } }), { message: /not 500/, hint: /^Lower --folds\.$/ });
    expect(fromFlag.where).toEqual({ flag: 'folds' });
    const fromFile = await expectUserError(trainEnsemble({ ensemble: many, data: competition, runDir: path.join(root, 'cv-project', 'runs', 'many'), concurrency: 1, backend: 'wasm', command: 'vitest', foldsFrom: { file: '/x/many.json' } }), { message: /not 500/, hint: /ensemble file/ });
    expect(fromFile.where).toEqual({ file: '/x/many.json' });
  }, 120_000);

  test('a hold-out saved by data split, named by an ensemble file: the members hold out its rows, run.json says which, and a k-fold split is refused', async () => {
    // Given a hold-out of 20% saved under a name of the user's, and an ensemble file naming it
    const competition = path.join(root, 'cv-project', 'competitions', 'clean');
    const saved = await createSplit({ data: competition, name: 'mine', spec: { kind: 'holdout', validationFraction: 0.2, seed: 5 } });
    const runDir = path.join(root, 'cv-project', 'runs', 'mine');
    const spec = ensembleFromJson(JSON.stringify({ name: 'mine', validation: { kind: 'shared', split: 'mine' }, members: [{ preset: 'mlp', name: 'a', epochs: 1, batchSize: 30, seed: 1 }, { preset: 'mlp', name: 'b', epochs: 1, batchSize: 30, seed: 2 }] }));
    await trainEnsemble({ ensemble: spec, data: competition, runDir, concurrency: 1, backend: 'wasm', command: 'vitest' });
    // Then every member trained on that split, and run.json records its fraction and seed with its name
    const manifest = await readRunManifest(runDir);
    expect(manifest.splits).toEqual([{ member: 'a', name: 'mine', fold: 0 }, { member: 'b', name: 'mine', fold: 0 }]);
    expect(manifest.ensemble.validation).toEqual({ kind: 'shared', fraction: 0.2, seed: 5, split: 'mine' });
    // And the ensemble is scored on its rows (30 of the 150)
    const report = await evaluateRun({ runDir, tta: [], precision: 'fp32' });
    expect(report.heldOutRows.length).toBe(saved.validationPerClass[0]!.reduce((a, b) => a + b, 0));
    expect(report.heldOutRows.length).toBe(30);
    // And resuming it with its own ensemble file again is accepted (the file names the split, run.json its rows too)
    await trainEnsemble({ ensemble: spec, data: competition, runDir, concurrency: 1, backend: 'wasm', command: 'vitest', resume: true });
    // A k-fold split named as a hold-out is refused, naming the split's file and the kind that takes it
    await createSplit({ data: competition, name: 'folds3', spec: { kind: 'kfold', k: 3, seed: 1 } });
    const wrong = ensembleFromJson(JSON.stringify({ name: 'wrong', validation: { kind: 'shared', split: 'folds3' }, members: [{ preset: 'mlp', name: 'a', epochs: 1 }] }));
    const error = await expectUserError(trainEnsemble({ ensemble: wrong, data: competition, runDir: path.join(root, 'cv-project', 'runs', 'wrong'), concurrency: 1, backend: 'wasm', command: 'vitest' }), { message: /^split "folds3" holds 3 folds, not one hold-out$/, file: 'folds3.json', hint: /\{"kind": "kfold", "split": "folds3"\}/ });
    expect(error.where?.file).toBe(path.join(competition, '.digits', 'splits', 'folds3.json'));
    expect(existsSync(path.join(root, 'cv-project', 'runs', 'wrong'))).toBe(false);
    // A split of no such name lists those there are
    const missing = ensembleFromJson(JSON.stringify({ name: 'missing', validation: { kind: 'shared', split: 'nope' }, members: [{ preset: 'mlp', name: 'a', epochs: 1 }] }));
    await expectUserError(trainEnsemble({ ensemble: missing, data: competition, runDir: path.join(root, 'cv-project', 'runs', 'missing'), concurrency: 1, backend: 'wasm', command: 'vitest' }), { message: /^no split named "nope"/ });
  }, 120_000);

  test('a batch larger than the training rows is said before training, naming the members; the members still train', async () => {
    const competition = path.join(root, 'cv-project', 'competitions', 'clean');
    const runDir = path.join(root, 'cv-project', 'runs', 'big-batch');
    // 150 rows, 20% held out: 120 training rows; a and b ask for 4096, c for 30
    const spec = ensembleFromJson(JSON.stringify({ name: 'big', validation: { kind: 'shared', fraction: 0.2, seed: 3 }, members: [{ preset: 'mlp', name: 'a', epochs: 1, batchSize: 4096, seed: 1 }, { preset: 'mlp', name: 'b', epochs: 1, batchSize: 4096, seed: 2 }, { preset: 'mlp', name: 'c', epochs: 1, batchSize: 30, seed: 3 }] }));
    const warnings: string[] = [];
    const manifest = await trainEnsemble({ ensemble: spec, data: competition, runDir, concurrency: 1, backend: 'wasm', command: 'vitest', onWarning: (m) => warnings.push(m) });
    expect(warnings).toEqual(['members a, b: batch size 4096 is more than the 120 training rows, so each epoch is a single step over all of them; a batch size of at most 120 (64 is the presets\' usual) gives the epochs several steps']);
    expect(manifest.members.map((m) => [m.name, m.ok, m.epochs])).toEqual([['a', true, 1], ['b', true, 1], ['c', true, 1]]);
    // Resuming says nothing again
    warnings.length = 0;
    await trainEnsemble({ ensemble: spec, data: competition, runDir, concurrency: 1, backend: 'wasm', command: 'vitest', resume: true, onWarning: (m) => warnings.push(m) });
    expect(warnings).toEqual([]);
  }, 120_000);

  test('a failed fold member: the ensemble CV and out-of-fold rows say how much they cover', async () => {
    const competition = path.join(root, 'cv-project', 'competitions', 'clean');
    const failing = path.join(root, 'cv-project', 'runs', 'failing');
    await mkdir(failing, { recursive: true });
    await writeFile(path.join(failing, 'a-f2'), 'in the way of fold member a-f2');
    const spec = ensembleFromJson(JSON.stringify({ name: 'failing', validation: { kind: 'kfold', folds: 3, seed: 7 }, members: [{ preset: 'mlp', name: 'a', epochs: 1, batchSize: 30 }, { preset: 'mlp', name: 'b', epochs: 1, batchSize: 30, seed: 5 }] }));
    await trainEnsemble({ ensemble: spec, data: competition, runDir: failing, concurrency: 1, backend: 'wasm', command: 'vitest' });
    const report = await evaluateRun({ runDir: failing, tta: [], precision: 'fp32' });
    expect(report.cv!.ensemble.accuracy.values).toHaveLength(2);
    expect(report.cv!.trainRows).toBe(150);
    expect(report.heldOutRows.length).toBe(100);
    expect(report.ensemble.warnings).toContain("fold member a-f2 failed: the ensemble's cross-validation covers 2 of 3 folds (100 of 150 training rows); each recipe's covers the folds its members trained (a: folds 1, 3 of 3)");
    const text = formatEvaluationSummary(report);
    expect(text).toContain('out-of-fold predictions of 100 of the 150 training rows (a fold member failed)');
    expect(text).toContain('on the out-of-fold predictions of 100 of the 150 training rows:');
    // A CSV edited after the import: evaluate and submit refuse the stale cache, naming the file
    const testCsv = path.join(competition, 'test.csv');
    const original = await readFile(testCsv, 'utf8');
    await writeFile(testCsv, original.split('\n').slice(0, 6).join('\n') + '\n');
    await expectUserError(evaluateRun({ runDir: failing, tta: [] }), { message: /^test\.csv changed after it was imported/, file: 'test.csv', hint: /digits data import/ });
    await expectUserError(submitRun({ runDir: failing, dir: path.join(root, 'cv-project', 'submissions') }), { message: /^test\.csv changed after it was imported/ });
    await writeFile(testCsv, original);
  }, 120_000);
});
