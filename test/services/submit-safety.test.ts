/**
 * `digits submit` against other processes: a run folder another process holds (an evaluation
 * writing it) is refused, and what a killed submit left in the submissions folder is put right
 * by the next submit, never deleted.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { importCompetition, resolveCompetitionFiles } from '../../src/data/import.js';
import { buildPracticeCompetition } from '../../src/data/practice.js';
import { initEngine } from '../../src/engine/backend.js';
import { ensembleFromJson } from '../../src/ensemble/ensemble-spec.js';
import { trainEnsemble } from '../../src/services/train.js';
import { submitRun } from '../../src/services/submit.js';
import { writeRunReport } from '../../src/report/report-html.js';
import { evaluateRun, predictTestSet } from '../../src/services/evaluate.js';
import { loadRunDataset, readRunManifest } from '../../src/runs/manifest.js';
import { openMembers } from '../../src/runs/open-members.js';
import { loadServedEnsemble } from '../../src/serve/ensemble.js';
import { appendLedger, listSubmissions } from '../../src/data/submission.js';
import { LOCK_FILE, lockRun } from '../../src/runs/lock.js';
import { expectUserError } from '../data/helpers.js';
import { deadPid } from '../helpers/dead-pid.js';

/** The command a run folder's lock names. */
const lockCommand = (file: string): string | undefined => (JSON.parse(readFileSync(file, 'utf8')) as { command: string }).command;

let root: string;
let runDir: string;

beforeAll(async () => {
  // Given a small practice competition and a tiny run trained on it
  await initEngine({ backend: 'wasm' });
  root = await mkdtemp(path.join(os.tmpdir(), 'digits-submit-safety-'));
  const competition = path.join(root, 'competitions', 'clean');
  await buildPracticeCompetition({ recipe: 'clean', out: competition, trainRows: 200, testRows: 20, seed: 7 });
  await importCompetition({ ...(await resolveCompetitionFiles([competition])), orientation: 'as-is' });
  runDir = path.join(root, 'runs', 'r');
  const ensemble = ensembleFromJson(JSON.stringify({ name: 'tiny', validation: { kind: 'shared', fraction: 0.25, seed: 1 }, members: [{ preset: 'mlp', name: 'm', epochs: 1, batchSize: 30, seed: 1 }] }));
  await trainEnsemble({ ensemble, data: competition, runDir, concurrency: 1, backend: 'wasm', command: 'vitest' });
}, 240_000);

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('a run folder another process holds', () => {
  test('report refuses an evaluated run while an evaluation holds it: the page would show the evaluation about to be replaced', async () => {
    const evaluated = path.join(root, 'runs', 'evaluated');
    await cp(runDir, evaluated, { recursive: true });
    await evaluateRun({ runDir: evaluated, tta: [{ dx: 0, dy: 0 }], precision: 'fp32' });
    const evaluation = await lockRun(evaluated, `digits evaluate --run ${evaluated}`);
    try {
      await expectUserError(writeRunReport({ runDir: evaluated }), { message: /the run folder .*runs\/evaluated is in use by pid \d+ .*\(digits evaluate --run .*\)/, file: LOCK_FILE });
    } finally {
      await evaluation.release();
    }
    expect(await writeRunReport({ runDir: evaluated })).toBe(path.join(evaluated, 'report.html'));
  }, 60_000);

  test('an evaluation holds the run under the command that asked for it: digits run names itself to a second writer, evaluate alone its own line', async () => {
    const evaluated = path.join(root, 'runs', 'evaluated-by-run');
    await cp(runDir, evaluated, { recursive: true });
    const seen: Array<string | undefined> = [];
    const look = () => void seen.push(lockCommand(path.join(evaluated, LOCK_FILE)));
    await evaluateRun({ runDir: evaluated, tta: [{ dx: 0, dy: 0 }], precision: 'fp32', command: 'digits run --resume --out x', onProgress: look });
    await evaluateRun({ runDir: evaluated, tta: [{ dx: 0, dy: 0 }], precision: 'fp32', onProgress: look });
    expect(seen.length).toBeGreaterThan(1);
    expect(new Set(seen)).toEqual(new Set(['digits run --resume --out x', `digits evaluate --run ${evaluated}`]));
  }, 60_000);

  test('submit refuses it, naming the process, and writes nothing; once it is released the submit goes through', async () => {
    // Given an evaluation holding the run folder
    const dir = path.join(root, 'subs-busy');
    const evaluation = await lockRun(runDir, `digits evaluate --run ${runDir}`);
    try {
      // When the run is submitted meanwhile
      const error = await expectUserError(submitRun({ runDir, dir }), { message: /the run folder .*runs\/r is in use by pid \d+ on .* \(digits evaluate --run .*\)/, file: LOCK_FILE, hint: /^Wait for it to finish, then submit/ });
      expect(error.message).toContain(`pid ${process.pid}`);
      // Then nothing was written
      expect(await readdir(dir).catch(() => [])).toEqual([]);
    } finally {
      await evaluation.release();
    }
    // When the evaluation has ended
    const result = await submitRun({ runDir, dir });
    // Then the submit goes through
    expect((await listSubmissions(dir)).map((s) => [s.path, s.status])).toEqual([[result.file, 'ok']]);
  }, 60_000);
});

describe('a run another process changes while the test rows are predicted', () => {
  test('an evaluation that takes the run folder meanwhile: the submit is discarded, naming the process, and writes nothing', async () => {
    // Given a submit whose prediction is under way when another process takes the run folder
    const dir = path.join(root, 'subs-taken-meanwhile');
    const lock = path.join(runDir, LOCK_FILE);
    let taken = false;
    const takeTheRun = () => {
      if (taken) return;
      taken = true;
      writeFileSync(lock, `${JSON.stringify({ pid: process.pid, hostname: os.hostname(), startedAt: new Date().toISOString(), command: `digits evaluate --run ${runDir}` })}\n`);
    };
    try {
      // When it comes to write the submission
      await expectUserError(submitRun({ runDir, dir, onRows: takeTheRun }), { message: /the run folder .*runs\/r is in use by pid \d+ .*\(digits evaluate --run .*\)/, file: LOCK_FILE, hint: /^Wait for it to finish, then submit/ });
      // Then the prediction did run, and no CSV, temp file or ledger line was left
      expect(taken).toBe(true);
      expect(await readdir(dir).catch(() => [])).toEqual([]);
    } finally {
      await rm(lock, { force: true });
    }
  }, 60_000);

  test('run.json rewritten meanwhile (a training finished): the submit is discarded, naming the file, and the next submit goes through', async () => {
    // Given a submit whose prediction is under way when another process rewrites run.json
    const dir = path.join(root, 'subs-changed-meanwhile');
    const manifest = path.join(runDir, 'run.json');
    let rewritten = false;
    const rewrite = () => {
      if (rewritten) return;
      rewritten = true;
      // (the same text: what counts is that another process wrote it)
      writeFileSync(manifest, readFileSync(manifest, 'utf8'));
    };
    // When it comes to write the submission
    await expectUserError(submitRun({ runDir, dir, onRows: rewrite }), { message: /^run\.json of the run .*runs\/r changed while the submission was being made .*nothing was submitted$/, file: 'run.json', hint: /^Submit again/ });
    // Then nothing was written, and a submit now goes through
    expect(rewritten).toBe(true);
    const left = await readdir(dir).catch(() => []);
    expect(left.filter((f) => f.endsWith('.csv') || f.includes('.tmp'))).toEqual([]);
    expect((await listSubmissions(dir)).length).toBe(0);
    const result = await submitRun({ runDir, dir });
    expect((await listSubmissions(dir)).map((s) => [s.path, s.status])).toEqual([[result.file, 'ok']]);
  }, 60_000);
});

describe('what a killed submit left', () => {
  test('a file whose ledger line was written but whose name was not (an earlier version, killed in link) is restored by the next submit', async () => {
    // Given a ledger line whose file is missing and a temp file of a dead pid holding its bytes
    const dir = path.join(root, 'subs-unnamed');
    await mkdir(dir);
    const text = 'ImageId,Label\n1,7\n';
    const sha = (await import('node:crypto')).createHash('sha256').update(text).digest('hex');
    await writeFile(path.join(dir, `.20260101-000000-r.csv.tmp-${await deadPid()}-0a1b2c3d`), text);
    await appendLedger(dir, { file: '20260101-000000-r.csv', sha256: sha, createdAt: '2026-01-01T00:00:00.000Z', run: '../runs/r', members: [{ name: 'm', checkpoint: '../runs/r/m/best' }], voting: 'soft', tta: 8 });
    // When the next submit runs
    const warnings: string[] = [];
    const result = await submitRun({ runDir, dir, onWarning: (w) => warnings.push(w) });
    // Then the earlier file is back under its name (not deleted with the temp files), and both are listed unchanged
    expect(await readFile(path.join(dir, '20260101-000000-r.csv'), 'utf8')).toBe(text);
    expect((await listSubmissions(dir)).map((s) => [path.basename(s.path), s.status])).toEqual([
      ['20260101-000000-r.csv', 'ok'],
      [path.basename(result.file), 'ok'],
    ]);
    expect((await readdir(dir)).filter((f) => f.includes('.tmp-'))).toEqual([]);
    expect(warnings).toEqual([expect.stringMatching(/^restored 20260101-000000-r\.csv from the temp file/)]);
  }, 60_000);

  test('a CSV named but not recorded (killed before its ledger line) is reported by the next submit and kept', async () => {
    // Given a submission file no ledger line names, and its temp file (a second name of it) of a dead pid
    const dir = path.join(root, 'subs-unrecorded');
    await mkdir(dir);
    await writeFile(path.join(dir, '20260101-000000-r.csv'), 'ImageId,Label\n1,7\n');
    await writeFile(path.join(dir, `.20260101-000000-r.csv.tmp-${await deadPid()}-0a1b2c3d`), 'ImageId,Label\n1,7\n');
    // When the next submit runs
    const warnings: string[] = [];
    const result = await submitRun({ runDir, dir, onWarning: (w) => warnings.push(w) });
    // Then it says so, keeps the file, and records only its own
    expect(warnings).toEqual([expect.stringMatching(/^20260101-000000-r\.csv is in the submissions folder but not in ledger\.jsonl/)]);
    expect((await readdir(dir)).sort()).toEqual(['20260101-000000-r.csv', path.basename(result.file), 'ledger.jsonl'].sort());
    expect((await listSubmissions(dir)).map((s) => s.path)).toEqual([result.file]);
  }, 60_000);
});

describe('submit --precision int8', () => {
  test('with --infer tfjs it is refused before anything is read or said; a member that cannot be int8 (an mlp) is said to run fp32', async () => {
    const dir = path.join(root, 'subs-int8');
    const said: string[] = [];
    const warned: string[] = [];
    // When int8 is asked of tfjs, Then the error names --precision before any prediction (until session 43 it came after "predicting … test rows")
    await expect(submitRun({ runDir, dir, infer: 'tfjs', precision: 'int8', onProgress: (m) => said.push(m) })).rejects.toMatchObject({ message: '--precision int8 runs on ONNX Runtime, but --infer tfjs was asked for', where: { flag: 'precision' } });
    expect(said).toEqual([]);
    // When int8 is asked of a run whose member has no convolution to quantize
    const result = await submitRun({ runDir, dir, precision: 'int8', onWarning: (m) => warned.push(m) });
    // Then it predicts fp32 and says why, as evaluate does (it said only "predicted in fp32")
    expect(result.precision).toBe('fp32');
    expect(warned).toContainEqual(expect.stringMatching(/^member m: fp32, not the int8 asked for: /));
  });
});

describe('a bagged run', () => {
  test('whose holdouts share no row is evaluated out of bag, and reported as such', async () => {
    // Given a bagged run of four members, each holding out a tenth of the rows (they share none)
    const bagged = path.join(root, 'runs', 'bagged');
    const member = (seed: number) => ({ preset: 'mlp', name: `m${seed}`, epochs: 1, batchSize: 30, seed });
    const ensemble = ensembleFromJson(JSON.stringify({ name: 'bag', validation: { kind: 'bagged', fraction: 0.1 }, members: [1, 2, 3, 4].map(member) }));
    await trainEnsemble({ ensemble, data: path.join(root, 'competitions', 'clean'), runDir: bagged, concurrency: 1, backend: 'wasm', command: 'vitest' });
    // (its four members predict the test rows with weights, the bar counting test rows: 20 of 20, never rows × members, which read 80/80 for 20 rows)
    const manifest = await readRunManifest(bagged);
    const dataset = await loadRunDataset(bagged, manifest);
    const predictors = (await openMembers(bagged, manifest, { infer: 'onnx', dataset })).map((m) => m.predictor);
    const seen: Array<[number, number]> = [];
    const { memberProbs } = await predictTestSet(predictors, dataset, [], [0, 0.5, 0.5, 0], (done, total) => seen.push([done, total]));
    for (const p of predictors) p.dispose();
    expect(memberProbs).toHaveLength(4);
    expect(new Set(seen.map(([, total]) => total))).toEqual(new Set([20]));
    expect(seen.at(-1)).toEqual([20, 20]);
    expect(seen.every(([done], i) => i === 0 || done >= seen[i - 1]![0])).toBe(true);
    // When its report is asked for before it is evaluated, Then it is sent to evaluate (until session 45 it was told evaluate could not score it)
    await expect(writeRunReport({ runDir: bagged })).rejects.toMatchObject({ message: expect.stringMatching(/^the run .*bagged has not been evaluated$/), hint: expect.stringMatching(/^Evaluate it first: digits evaluate --run .*bagged$/) });
    // When it is evaluated, Then it is scored out of bag (until session 45: refused, no row being held out by every member)
    const report = await evaluateRun({ runDir: bagged, tta: [{ dx: 0, dy: 0 }], precision: 'fp32' });
    expect(report.ensemble.outOfBag).toMatchObject({ members: 4, commonRows: 0 });
    // And submit and serve mark its figure as out of bag (until session 45 submit said "held-out rows", and serve gave it bare)
    const submitted = await submitRun({ runDir: bagged, dir: path.join(root, 'submissions-bagged') });
    expect(submitted.validation).toMatchObject({ outOfBag: true, accuracy: report.ensemble.soft.accuracy });
    const served = await loadServedEnsemble(bagged, { workers: 0 });
    try {
      expect(served.validation).toMatchObject({ outOfBag: true, rows: report.heldOutRows.length });
    } finally {
      await served.dispose();
    }
    // And its report says how its rows were voted
    const html = await readFile(await writeRunReport({ runDir: bagged }), 'utf8');
    expect(html).toMatch(/training rows, each voted out of bag \(by the members that held it out, and no other\)/);
  }, 120_000);
});
