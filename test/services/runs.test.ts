/**
 * `digits runs` on tiny real runs: the list shows each run's held-out score, its test score
 * only when a submission of it was scored against answers, and the recipe knobs that
 * differ; `runs compare` puts two runs side by side.
 */
import { cp, mkdir, mkdtemp, readFile, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import RunsCommand from '../../src/commands/runs/index.js';
import RunsCompareCommand from '../../src/commands/runs/compare.js';
import { importCompetition, resolveCompetitionFiles } from '../../src/data/import.js';
import { buildPracticeCompetition } from '../../src/data/practice.js';
import { initEngine } from '../../src/engine/backend.js';
import { ensembleFromJson } from '../../src/ensemble/ensemble-spec.js';
import { evaluateRun } from '../../src/services/evaluate.js';
import { readEvaluationReport, type EvaluationReport } from '../../src/evaluation/evaluation-report.js';
import { compareRuns, listRuns, recipeDifferences, recipeSignature, type RunSummary } from '../../src/services/runs.js';

type RunSummaryJson = Pick<RunSummary, 'test'>;
import { submitRun } from '../../src/services/submit.js';
import { writeReport } from '../../src/report/report-html.js';
import { trainEnsemble } from '../../src/services/train.js';
import { runCommand } from '../helpers/run-command.js';
import { UserError } from '../../src/errors.js';
import { newestUnfinishedRun, readRunManifest } from '../../src/runs/manifest.js';
import { readLedger } from '../../src/data/submission.js';

let dir: string;
const runsDir = () => path.join(dir, 'runs');
const submissionsDir = () => path.join(dir, 'submissions');

beforeAll(async () => {
  // Given two evaluated runs of a tiny competition that differ in one member's learning rate,
  // the first also submitted and scored against the answers
  await initEngine({ backend: 'wasm' });
  dir = await mkdtemp(path.join(os.tmpdir(), 'digits-runs-'));
  const competition = path.join(dir, 'clean');
  await buildPracticeCompetition({ recipe: 'clean', out: competition, trainRows: 200, testRows: 20, seed: 3 });
  await importCompetition({ ...(await resolveCompetitionFiles([competition])), orientation: 'as-is' });
  for (const [name, rate] of [['first', 1e-3], ['second', 3e-3]] as const) {
    const ensemble = ensembleFromJson(JSON.stringify({ name, validation: { kind: 'shared', fraction: 0.25, seed: 1 }, members: [{ preset: 'mlp', name: 'm1', epochs: 1, batchSize: 25, seed: 1 }, { preset: 'mlp', name: 'm2', epochs: 1, batchSize: 25, seed: 2, learningRate: rate }] }));
    const runDir = path.join(runsDir(), name);
    await trainEnsemble({ ensemble, data: competition, runDir, concurrency: 2, backend: 'wasm', command: 'vitest' });
    await evaluateRun({ runDir, tta: [], precision: 'fp32' });
    if (name === 'first') await submitRun({ runDir, dir: submissionsDir(), answers: `${competition}-answers.csv`, precision: 'fp32' });
  }
}, 240_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('digits runs', () => {
  test('lists each run with its held-out score, a test score only when answers scored a submission of it, and what differs', async () => {
    const { runs, damaged } = await listRuns({ runsDir: runsDir(), submissionsDir: submissionsDir() });
    expect(damaged).toEqual([]);
    expect(runs.map((r) => r.name)).toEqual(['first', 'second']);
    for (const r of runs) {
      expect(r.heldOut!.rows).toBe(50);
      expect(r.validation).toBe('shared 25% seed 1');
      expect(r.members).toBe(2);
      expect(r.cv).toBeNull();
    }
    expect(runs[0]!.test!.accuracy).toBeGreaterThan(0);
    // its answers and CSV as full paths, not the ledger's own relative ones (`../competitions/…` until session 44)
    expect(path.isAbsolute(runs[0]!.test!.answers) && runs[0]!.test!.answers.endsWith(`${path.sep}clean-answers.csv`)).toBe(true);
    expect(path.dirname(runs[0]!.test!.file)).toBe(path.resolve(submissionsDir()));
    expect(runs[1]!.test).toBeNull();
    expect(runs[0]!.differences).toEqual([]);
    expect(runs[1]!.differences).toEqual(['learningRate=0.001|0.003']);
  });

  test('the command prints a table and --json the same list', async () => {
    const { stdout, exit } = await runCommand(RunsCommand, ['--runs-dir', runsDir(), '--submissions', submissionsDir()]);
    expect(exit).toBe(0);
    expect(stdout).toMatch(/^run\s+created \(UTC\)\s+training time\s+validation/);
    expect(stdout).toMatch(/\nfirst\s.*shared 25% seed 1/);
    expect(stdout).toMatch(/\nsecond\s.*shared 25% seed 1.*learningRate=0\.001\|0\.003\n/);
    const json = await runCommand(RunsCommand, ['--runs-dir', runsDir(), '--submissions', submissionsDir(), '--json']);
    expect(JSON.parse(json.stdout)).toEqual({ type: 'result', ...JSON.parse(JSON.stringify(await listRuns({ runsDir: runsDir(), submissionsDir: submissionsDir() }))) });
  });

  test('a folder whose run.json cannot be read is named, not skipped in silence; a folder without one is no run', async () => {
    // Given a run folder with a truncated run.json, and a search folder (no run.json) beside the runs
    const broken = path.join(runsDir(), 'broken');
    await mkdir(broken);
    await writeFile(path.join(broken, 'run.json'), '{"format": "digits-run", "members": [');
    await mkdir(path.join(runsDir(), 'search-1'));
    try {
      // When the runs are listed
      const { runs, damaged } = await listRuns({ runsDir: runsDir(), submissionsDir: submissionsDir() });
      // Then the two runs are listed, and the broken folder is named with what is wrong
      expect(runs.map((r) => r.name)).toEqual(['first', 'second']);
      // as evaluate, report and submit name it: damaged, file:line:column, restore it (a byte position until session 43)
      const file = path.join(broken, 'run.json');
      const asEvaluateSaysIt = await readRunManifest(broken).catch((e: UserError) => e);
      expect(asEvaluateSaysIt).toMatchObject({ message: expect.stringMatching(/^the run's run\.json is not valid JSON: /), where: { file, line: 1, column: expect.any(Number) }, hint: expect.stringMatching(/restore it from a copy/) });
      const said = asEvaluateSaysIt as UserError;
      expect(damaged).toEqual([{ dir: broken, reason: said.message, where: said.where, hint: said.hint }]);
      const { stdout, stderr, exit } = await runCommand(RunsCommand, ['--runs-dir', runsDir(), '--submissions', submissionsDir()]);
      expect(exit).toBe(0);
      expect(stdout).toMatch(/\nfirst\s/);
      expect(stderr).toContain(`warning: ${broken} is not listed: ${said.message} (${file}:1:${said.where!.column})\n  hint: ${said.hint}\n`);
      // and compare gives the error evaluate gives (it said "not a digits run", to compare "folders written by digits train"), a search folder no run, its hint listing only the runs (not the broken folder)
      await expect(compareRuns({ a: 'first', b: 'broken', runsDir: runsDir(), submissionsDir: submissionsDir() })).rejects.toMatchObject({ message: said.message, where: said.where, hint: said.hint });
      const compared = await runCommand(RunsCompareCommand, ['broken', 'first', '--runs-dir', runsDir(), '--submissions', submissionsDir()]);
      expect(compared.exit).toBe(2);
      expect(compared.stderr).toContain(`(${file}:1:${said.where!.column})\n  hint: It is damaged`);
      // and a run.json that is JSON but no run's is damaged too
      await writeFile(path.join(broken, 'run.json'), '{"format": "something-else"}');
      expect((await listRuns({ runsDir: runsDir(), submissionsDir: submissionsDir() })).damaged).toEqual([{ dir: broken, reason: expect.stringMatching(/^the run's run\.json is not a digits run manifest/), where: { file }, hint: said.hint }]);
      await expect(compareRuns({ a: 'first', b: 'broken', runsDir: runsDir(), submissionsDir: submissionsDir() })).rejects.toMatchObject({ message: expect.stringMatching(/not a digits run manifest/), hint: said.hint });
      await writeFile(path.join(runsDir(), 'search-1', 'search.json'), '{}');
      const search = await compareRuns({ a: 'first', b: 'search-1', runsDir: runsDir(), submissionsDir: submissionsDir() }).catch((e: UserError) => e);
      expect(search).toBeInstanceOf(UserError);
      expect((search as UserError).message).toMatch(/search-1 is not a run: it holds no run\.json \(it is a digits search folder/);
      expect((search as UserError).hint).toBe(`Runs under ${runsDir()}: first, second.`);
      // and as --run of a command that reads a run, it is named a search folder, with the command that makes a run of its best trials
      const asRun = await readRunManifest(path.join(runsDir(), 'search-1')).catch((e: UserError) => e);
      expect((asRun as UserError).message).toMatch(/^no training run in .*search-1: it is a search folder$/);
      expect((asRun as UserError).hint).toMatch(/^Its best trials are in .*search-1\/ensemble\.json once the search has finished: `digits train --ensemble .*search-1\/ensemble\.json --data <competition>` trains them as a run/);
    } finally {
      await rm(broken, { recursive: true });
      await rm(path.join(runsDir(), 'search-1'), { recursive: true });
    }
  });

  test('a run not evaluated, one left training by a process that is gone, and one still training each say so and what goes on; report and dashboard on an unfinished run say how to continue it', async () => {
    // Given three copies of a run without their evaluation: one trained, one interrupted (status training, no live lock), one training (its lock held by this process)
    const made: string[] = [];
    for (const name of ['x-trained', 'x-interrupted', 'x-training']) {
      const copy = path.join(runsDir(), name);
      await cp(path.join(runsDir(), 'second'), copy, { recursive: true });
      await rm(path.join(copy, 'evaluation.json'));
      made.push(copy);
    }
    for (const copy of made.slice(1)) {
      const manifest = JSON.parse(await readFile(path.join(copy, 'run.json'), 'utf8'));
      await writeFile(path.join(copy, 'run.json'), JSON.stringify({ ...manifest, status: 'training' }));
    }
    await writeFile(path.join(made[2]!, '.lock'), JSON.stringify({ pid: process.pid, hostname: os.hostname(), startedAt: new Date().toISOString(), command: 'vitest' }));
    try {
      // When the runs are listed
      const { runs } = await listRuns({ runsDir: runsDir(), submissionsDir: submissionsDir() });
      const byName = new Map(runs.map((r) => [path.basename(r.dir), r]));
      // Then each says where it is, and the command that goes on
      expect(runs.filter((r) => r.name === 'second').map((r) => [path.basename(r.dir), r.state]).sort()).toEqual([
        ['second', 'evaluated'], ['x-interrupted', 'interrupted'], ['x-trained', 'trained'], ['x-training', 'training'],
      ]);
      expect(byName.get('x-trained')!.note).toBe(`not evaluated (digits evaluate --run ${made[0]})`);
      expect(byName.get('x-interrupted')!.note).toBe(`training interrupted (digits train --resume --run ${made[1]})`);
      expect(byName.get('x-training')!.note).toMatch(/^still training/);
      const { stdout } = await runCommand(RunsCommand, ['--runs-dir', runsDir(), '--submissions', submissionsDir()]);
      expect(stdout).toMatch(/interrupted/);
      expect(stdout).toMatch(/training…/);
      // And the report of the interrupted run says to continue its training, not to evaluate it
      await expect(writeReport({ run: made[1]! })).rejects.toMatchObject({ message: expect.stringMatching(/its training has not finished/), hint: expect.stringMatching(/digits train --resume/) });
      // and one training now is not pointed at a resume its lock would refuse
      await expect(writeReport({ run: made[2]! })).rejects.toMatchObject({ message: expect.stringMatching(new RegExp(`it is training now \\(pid ${process.pid} on .*: vitest\\)$`)), hint: expect.stringMatching(/^Wait for the training to finish, then /) });
      await expect(evaluateRun({ runDir: made[2]!, tta: [] })).rejects.toMatchObject({ message: expect.stringMatching(/^cannot evaluate run .*: it is training now/) });
      // while the trained one is pointed at evaluate, and a folder that is no run says so
      await expect(writeReport({ run: made[0]! })).rejects.toMatchObject({ hint: expect.stringMatching(/digits evaluate --run/) });
      await expect(writeReport({ run: runsDir() })).rejects.toMatchObject({ message: expect.stringMatching(/^no training run in/) });
    } finally {
      for (const copy of made) await rm(copy, { recursive: true, force: true });
    }
  });

  test.each([
    ['a line that is not JSON', 'garbage{', /: the ledger line is not JSON \(.*\): skipped, so a test score it holds is not shown\. Fix or delete that line/],
    ['a line missing a field', '{"file":"x.csv","createdAt":"2026-01-01T00:00:00Z","run":"../runs/second","members":[],"voting":"soft","tta":1,"score":{"accuracy":1,"answers":"a.csv"}}', /: the ledger line has no "sha256", so it is not a submission entry: skipped/],
  ])('a ledger with %s: a warning naming ledger.jsonl:<line>, and the other lines\' test scores still shown', async (_label, line, said) => {
    // Given the ledger with a damaged first line before the scored submission of "first"
    const ledger = path.join(submissionsDir(), 'ledger.jsonl');
    const original = await readFile(ledger, 'utf8');
    await writeFile(ledger, `${line}\n${original}`);
    try {
      // When the runs are listed and compared
      const warnings: string[] = [];
      const { runs } = await listRuns({ runsDir: runsDir(), submissionsDir: submissionsDir(), onWarning: (m) => warnings.push(m) });
      const compared = await compareRuns({ a: 'first', b: 'second', runsDir: runsDir(), submissionsDir: submissionsDir() });
      // Then the damaged line is named, and the good line's score is still the run's (every test score vanished in silence until session 43)
      expect(warnings).toEqual([expect.stringMatching(said)]);
      expect(warnings[0]!.startsWith(`${ledger}:1: `)).toBe(true);
      expect(runs[0]!.test!.accuracy).toBeGreaterThan(0);
      expect(compared.a.test!.accuracy).toBe(runs[0]!.test!.accuracy);
      // on stderr, and as a warning line under --json before the result
      const plain = await runCommand(RunsCommand, ['--runs-dir', runsDir(), '--submissions', submissionsDir()]);
      expect(plain.exit).toBe(0);
      expect(plain.stderr).toContain(`warning: ${warnings[0]}\n`);
      expect(plain.stdout).toMatch(new RegExp(`\\nfirst\\s.*${(runs[0]!.test!.accuracy * 100).toFixed(2).replace('.', '\\.')}%`));
      const json = await runCommand(RunsCommand, ['--runs-dir', runsDir(), '--submissions', submissionsDir(), '--json']);
      const lines = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; message?: string; runs?: Array<{ test: unknown }> });
      expect(lines.map((l) => l.type)).toEqual(['warning', 'result']);
      expect(lines[0]!.message).toBe(warnings[0]);
      expect(lines[1]!.runs![0]!.test).not.toBeNull();
      const comparedCli = await runCommand(RunsCompareCommand, ['first', 'second', '--runs-dir', runsDir(), '--submissions', submissionsDir()]);
      expect(comparedCli.stderr).toContain(`warning: ${warnings[0]}\n`);
      // while digits submissions still refuses the ledger (it lists every line, so it cannot skip one)
      await expect(readLedger(submissionsDir())).rejects.toMatchObject({ where: { file: ledger, line: 1 } });
    } finally {
      await writeFile(ledger, original);
    }
  });

  test('a ledger that cannot be read at all: a warning, the runs listed without test scores', async () => {
    // Given a submissions folder whose ledger.jsonl is a folder
    const subs = path.join(dir, 'subs-folder-ledger');
    await mkdir(path.join(subs, 'ledger.jsonl'), { recursive: true });
    try {
      const warnings: string[] = [];
      const { runs } = await listRuns({ runsDir: runsDir(), submissionsDir: subs, onWarning: (m) => warnings.push(m) });
      expect(runs.map((r) => r.test)).toEqual([null, null]);
      expect(warnings).toEqual([expect.stringMatching(/^no test scores: .*ledger\.jsonl is a folder; the ledger is a file/)]);
    } finally {
      await rm(subs, { recursive: true, force: true });
    }
  });

  test("without --submissions, the ledger is the runs' project's (the folder above runs/), as digits submit chose it, not the working folder's", async () => {
    // Given the runs of a project in a temporary folder, listed and compared from this repository (which has a submissions/ of its own)
    expect(path.resolve('.')).not.toBe(dir);
    // When they are listed with only --runs-dir, and compared by their paths
    const { runs } = await listRuns({ runsDir: runsDir() });
    const listed = await runCommand(RunsCommand, ['--runs-dir', runsDir(), '--json']);
    const compared = await compareRuns({ a: path.join(runsDir(), 'first'), b: path.join(runsDir(), 'second'), runsDir: 'runs' });
    const comparedCli = await runCommand(RunsCompareCommand, [path.join(runsDir(), 'first'), path.join(runsDir(), 'second')]);
    // Then the first run's test score is the one its submit recorded in <project>/submissions (they showed none until session 43)
    const scored = (await readLedger(submissionsDir())).find((e) => e.score)!.score!.accuracy;
    expect(runs[0]!.test!.accuracy).toBe(scored);
    expect((JSON.parse(listed.stdout) as { runs: RunSummaryJson[] }).runs[0]!.test!.accuracy).toBe(scored);
    expect(compared.a.test!.accuracy).toBe(scored);
    expect(comparedCli.stdout).toMatch(new RegExp(`test accuracy\\s+${(scored * 100).toFixed(2).replace('.', '\\.')}%\\s+—`));
    // and a project with no submissions yet says nothing of it
    const bare = path.join(dir, 'bare', 'runs');
    await cp(path.join(runsDir(), 'second'), path.join(bare, 'second'), { recursive: true });
    try {
      const warnings: string[] = [];
      expect((await listRuns({ runsDir: bare, onWarning: (m) => warnings.push(m) })).runs.map((r) => r.test)).toEqual([null]);
      expect(warnings).toEqual([]);
    } finally {
      await rm(path.join(dir, 'bare'), { recursive: true, force: true });
    }
  });

  test('a run of another competition differs in its data: in the table, in compare (its figures are not comparable) and in --json', async () => {
    // Given a run of the first run's recipes trained and evaluated on another competition
    const other = path.join(dir, 'other');
    await buildPracticeCompetition({ recipe: 'clean', out: other, trainRows: 200, testRows: 20, seed: 4 });
    await importCompetition({ ...(await resolveCompetitionFiles([other])), orientation: 'as-is' });
    const manifest = await readRunManifest(path.join(runsDir(), 'first'));
    const runDir = path.join(runsDir(), 'z-other');
    await trainEnsemble({ ensemble: manifest.ensemble, data: other, runDir, concurrency: 2, backend: 'wasm', command: 'vitest' });
    await evaluateRun({ runDir, tta: [], precision: 'fp32' });
    try {
      const theirs = (await readRunManifest(runDir)).dataset.fingerprint;
      const short = (fingerprint: string) => fingerprint.replace(/^sha256:/, '').slice(0, 8);
      // When the runs are listed and the two compared
      const { runs } = await listRuns({ runsDir: runsDir(), submissionsDir: submissionsDir() });
      const c = await compareRuns({ a: 'first', b: 'z-other', runsDir: runsDir(), submissionsDir: submissionsDir() });
      const { stdout } = await runCommand(RunsCompareCommand, ['first', 'z-other', '--runs-dir', runsDir(), '--submissions', submissionsDir()]);
      // Then the table says the data differs (it said nothing: "the same recipe" until session 43), and --json carries the data
      const listed = runs.find((r) => r.dir === runDir)!;
      expect(listed.data).toEqual({ dir: path.join(other, '.digits'), name: 'other', fingerprint: theirs });
      expect(runs.find((r) => r.name === 'first')!.data.name).toBe('clean');
      expect(listed.differences).toEqual([`data=other (${short(theirs)})`, 'learningRate=0.001']);
      // and compare says the runs were trained on different data, so their figures are not comparable
      expect(c.sameData).toBe(false);
      expect(c.ensemble).toEqual([{ key: 'data', a: `clean (${short(manifest.dataset.fingerprint)})`, b: `other (${short(theirs)})` }]);
      expect(stdout).toMatch(/^data\s+clean \([0-9a-f]{8}\)\s+other \([0-9a-f]{8}\)$/m);
      expect(stdout).toContain(`\nthe two runs were trained and scored on different data (clean (${short(manifest.dataset.fingerprint)}), other (${short(theirs)})): their figures are not comparable\n`);
      expect(stdout).not.toContain('the recipes are the same');
      // while two runs of one competition have the same data
      expect((await compareRuns({ a: 'first', b: 'second', runsDir: runsDir(), submissionsDir: submissionsDir() })).sameData).toBe(true);
    } finally {
      await rm(runDir, { recursive: true, force: true });
    }
  }, 120_000);

  test('a run folder linked into runs/ (a symbolic link to a folder) is listed as the run it is', async () => {
    // Given a copy of the run "second" kept elsewhere, linked into runs/
    const elsewhere = path.join(dir, 'elsewhere', 'runs', 'second-copy');
    await cp(path.join(runsDir(), 'second'), elsewhere, { recursive: true });
    const link = path.join(runsDir(), 'linked');
    await symlink(elsewhere, link, 'dir');
    try {
      // When the runs are listed
      const { runs, damaged } = await listRuns({ runsDir: runsDir(), submissionsDir: submissionsDir() });
      // Then it is listed under the link's name, evaluated like the original (it was missing without a word until session 43)
      expect(damaged).toEqual([]);
      const linked = runs.find((r) => r.dir === link);
      expect(linked).toMatchObject({ name: 'second', state: 'evaluated', heldOut: runs.find((r) => r.dir === path.join(runsDir(), 'second'))!.heldOut });
      const { stdout } = await runCommand(RunsCommand, ['--runs-dir', runsDir(), '--submissions', submissionsDir()]);
      expect(stdout).toMatch(/\nlinked \(run second\)\s/);
      // And once the folder it points to is gone, the link is named with a warning, and compare says what it is
      await rm(path.join(dir, 'elsewhere'), { recursive: true, force: true });
      const warnings: string[] = [];
      const after = await listRuns({ runsDir: runsDir(), submissionsDir: submissionsDir(), onWarning: (m) => warnings.push(m) });
      expect(after.runs.some((r) => r.dir === link)).toBe(false);
      expect(warnings).toEqual([`${link} is a link to ${elsewhere}, which is not there: it is left out (remove the link, or put the run back where it points)`]);
      await expect(compareRuns({ a: 'linked', b: 'second', runsDir: runsDir(), submissionsDir: submissionsDir() })).rejects.toMatchObject({ message: `${link} is a link to ${elsewhere}, which is not there (run A of the comparison)`, hint: expect.stringMatching(/^Remove the link, or put the run back where it points\. Runs under /) });
    } finally {
      await rm(link);
      await rm(path.join(dir, 'elsewhere'), { recursive: true, force: true });
    }
  });

  test('run --resume without --run continues the newest run that is unfinished for digits run: training stopped, or trained by digits run and never submitted', async () => {
    // Given, from oldest to newest: a run left training, one that digits run trained but never submitted, and one digits train finished
    const runs = path.join(dir, 'runs-resume');
    const subs = path.join(dir, 'submissions-resume');
    const states: Array<[string, string, string]> = [['left-training', 'training', 'digits train --data x'], ['run-unsubmitted', 'finished', 'digits run --data x'], ['train-finished', 'finished', 'digits train --data x']];
    for (const [i, [name, status, command]] of states.entries()) {
      const copy = path.join(runs, name);
      await cp(path.join(runsDir(), 'second'), copy, { recursive: true });
      const manifest = JSON.parse(await readFile(path.join(copy, 'run.json'), 'utf8'));
      await writeFile(path.join(copy, 'run.json'), JSON.stringify({ ...manifest, status, command }));
      const when = new Date(Date.now() - (3 - i) * 60_000);
      await utimes(path.join(copy, 'run.json'), when, when);
    }
    try {
      // When digits run --resume looks for the run to continue
      // Then it is the trained one that was never submitted (it was passed over for the older one left training)
      expect(await newestUnfinishedRun(runs, subs)).toBe(path.join(runs, 'run-unsubmitted'));
      // And once that one is submitted, the one left training
      await submitRun({ runDir: path.join(runs, 'run-unsubmitted'), dir: subs, precision: 'fp32' });
      expect(await newestUnfinishedRun(runs, subs)).toBe(path.join(runs, 'left-training'));
      // And a pseudo-labelling run stopped in its first round (only round1/run.json and auto.json), when newer
      const pseudo = path.join(runs, 'pseudo-stopped');
      await cp(path.join(runsDir(), 'second'), path.join(pseudo, 'round1'), { recursive: true });
      await writeFile(path.join(pseudo, 'auto.json'), '{}');
      expect(await newestUnfinishedRun(runs, subs)).toBe(pseudo);
      // which runs lists as interrupted, with the command that continues it (it was not listed)
      const listed = (await listRuns({ runsDir: runs, submissionsDir: subs })).runs.find((r) => r.dir === pseudo);
      expect(listed).toMatchObject({ state: 'interrupted', members: 2, checkpointed: 2, note: `pseudo-labelling stopped in round 1 (digits run --resume --run ${pseudo})` });
    } finally {
      for (const folder of [runs, subs]) await rm(folder, { recursive: true, force: true });
    }
  });

  test('copies of a run folder are told apart by their folders in the table and in compare', async () => {
    // Given two copies of the run "second" beside it, each keeping its run.json's name
    const copies = ['copy-a', 'copy-b'].map((name) => path.join(runsDir(), name));
    for (const copy of copies) await cp(path.join(runsDir(), 'second'), copy, { recursive: true });
    try {
      // When the runs are listed and the copies compared
      const { stdout } = await runCommand(RunsCommand, ['--runs-dir', runsDir(), '--submissions', submissionsDir()]);
      const compared = await runCommand(RunsCompareCommand, ['copy-a', 'copy-b', '--runs-dir', runsDir(), '--submissions', submissionsDir()]);
      // Then each copy's row names its folder and the run it is a copy of; the original keeps its name
      expect(stdout.split('\n').map((line) => line.split(/\s{2,}/)[0])).toEqual(['run', 'first', 'copy-a (run second)', 'copy-b (run second)', 'second', '']);
      // and compare's columns are the two folders
      expect(compared.stdout).toMatch(/^\s+copy-a \(run second\)\s+copy-b \(run second\)\n/);
      // two copies have the same recipes; one folder named twice is said to be one run
      expect(compared.stdout).toContain('\nthe recipes are the same\n');
      const twice = await runCommand(RunsCompareCommand, ['copy-a', path.join(runsDir(), 'copy-a'), '--runs-dir', runsDir(), '--submissions', submissionsDir()]);
      expect(twice.stdout).toContain('\nboth sides are the same run folder: nothing can differ\n');
      expect((await compareRuns({ a: 'copy-a', b: 'copy-b', runsDir: runsDir(), submissionsDir: submissionsDir() })).sameRun).toBe(false);
    } finally {
      for (const copy of copies) await rm(copy, { recursive: true, force: true });
    }
  });

  test('a trained run one of whose member checkpoints was deleted counts the checkpoints that are there', async () => {
    // Given a copy of the 2-member trained run with m2's best checkpoint deleted
    const copy = path.join(runsDir(), 'x-lost');
    await cp(path.join(runsDir(), 'second'), copy, { recursive: true });
    await rm(path.join(copy, 'm2', 'best'), { recursive: true });
    try {
      // When the runs are listed
      const { runs } = await listRuns({ runsDir: runsDir(), submissionsDir: submissionsDir() });
      // Then it has 2 members, 1 with a checkpoint (it read as whole, and evaluate then failed on the missing one)
      expect(runs.find((r) => r.dir === copy)).toMatchObject({ members: 2, checkpointed: 1, failed: 0 });
      const { stdout } = await runCommand(RunsCommand, ['--runs-dir', runsDir(), '--submissions', submissionsDir()]);
      expect(stdout).toMatch(/x-lost.*\s2 \(1 with a checkpoint\)\s/);
    } finally {
      await rm(copy, { recursive: true, force: true });
    }
  });

  test('an interrupted run counts the members it plans, and how many saved a checkpoint, not its outcomes (none until training ends)', async () => {
    // Given a copy of the 2-member run as an interruption leaves it: run.json says training with no
    // outcomes yet, m1 has saved its best checkpoint and m2 none
    const copy = path.join(runsDir(), 'x-halfway');
    await cp(path.join(runsDir(), 'second'), copy, { recursive: true });
    await rm(path.join(copy, 'evaluation.json'));
    await rm(path.join(copy, 'm2'), { recursive: true });
    const manifest = JSON.parse(await readFile(path.join(copy, 'run.json'), 'utf8'));
    await writeFile(path.join(copy, 'run.json'), JSON.stringify({ ...manifest, status: 'training', finishedAt: null, members: [] }));
    try {
      // When the runs are listed and the copy compared with its original
      const { runs } = await listRuns({ runsDir: runsDir(), submissionsDir: submissionsDir() });
      const c = await compareRuns({ a: 'second', b: 'x-halfway', runsDir: runsDir(), submissionsDir: submissionsDir() });
      // Then it has 2 members, 1 with a checkpoint, where the finished original has 2 trained
      expect(runs.find((r) => r.dir === copy)).toMatchObject({ state: 'interrupted', members: 2, checkpointed: 1, failed: 0 });
      expect(runs.find((r) => r.dir === path.join(runsDir(), 'second'))).toMatchObject({ members: 2, checkpointed: 2 });
      expect([c.a.members, c.b.members, c.b.checkpointed]).toEqual([2, 2, 1]);
      const { stdout } = await runCommand(RunsCommand, ['--runs-dir', runsDir(), '--submissions', submissionsDir()]);
      expect(stdout).toMatch(/shared 25% seed 1\s+2 \(1 with a checkpoint\)\s+—\s+interrupted/);
      const compared = await runCommand(RunsCompareCommand, ['second', 'x-halfway', '--runs-dir', runsDir(), '--submissions', submissionsDir()]);
      expect(compared.stdout).toMatch(/\nmembers\s+2\s+2 \(1 with a checkpoint\)\n/);
    } finally {
      await rm(copy, { recursive: true, force: true });
    }
  });

  test.each([
    [
      'incomplete (heldOutRows renamed)',
      (text: string) => text.replace('"heldOutRows"', '"heldOutRowz"'),
      undefined,
      'evaluation-damaged',
      /^not usably evaluated: .*evaluation\.json is incomplete \(members, heldOutRows or ensemble metrics missing\) \(digits evaluate --run .*\)$/,
    ],
    ['not JSON', (text: string) => text.replace('"version"', '#"version"'), undefined, 'evaluation-damaged', /^not usably evaluated: evaluation\.json is not valid JSON .* at line \d+, column \d+ \(digits evaluate/],
    [
      'with a figure of the wrong type (hand-edited)',
      (text: string) => text.replace(/"soft": \{\s*"rows": (\d+),\s*"accuracy": [0-9.e-]+/, '"soft": { "rows": $1, "accuracy": "x"'),
      undefined,
      'evaluation-damaged',
      /^not usably evaluated: evaluation\.json is damaged: ensemble\.soft\.accuracy is a string where number belongs at line \d+, column \d+ \(digits evaluate/,
    ],
    [
      'of a member run.json does not have',
      (text: string) => text.replace(/"name": "m2"/g, '"name": "m3"'),
      undefined,
      'evaluation-outdated',
      /^not usably evaluated: evaluation\.json is of members m1, m3; run\.json's trained members are m1, m2 \(digits evaluate --run /,
    ],
    [
      'of a member checkpoint saved again since (trained further)',
      (text: string) => text,
      'resave',
      'evaluation-outdated',
      /^not usably evaluated: member m1's checkpoint was saved again after evaluation\.json was made \(.*\) \(digits evaluate/,
    ],
    [
      'written before checkpoint identities, older than a member\'s checkpoint',
      (text: string) => text.replace(/,\s*"identity": "[^"]*"/g, ''),
      'touch',
      'evaluation-outdated',
      /^not usably evaluated: member m1's checkpoint was saved \(.*\) after evaluation\.json was made \(.*\) \(digits evaluate/,
    ],
    [
      'of a member whose checkpoint was deleted since',
      (text: string) => text,
      'delete',
      'evaluation-outdated',
      /^not usably evaluated: member m1's checkpoint cannot be read now \(.*\) \(digits evaluate/,
    ],
    [
      'written before checkpoint identities, of a member whose checkpoint was deleted since',
      (text: string) => text.replace(/,\s*"identity": "[^"]*"/g, ''),
      'delete',
      'evaluation-outdated',
      /^not usably evaluated: member m1's checkpoint is gone \(no m1\/best\/model\.json\) \(digits evaluate/,
    ],
  ] as Array<[string, (text: string) => string, 'touch' | 'resave' | 'delete' | undefined, string, RegExp]>)('an evaluation.json %s is not shown as the run’s evaluation, in runs and runs compare', async (_label, damage, rewriteManifest, state, note) => {
    // Given a copy of an evaluated run whose evaluation.json is damaged, or not of its run.json as it is now
    const copy = path.join(runsDir(), 'x-evaluation');
    await cp(path.join(runsDir(), 'second'), copy, { recursive: true });
    const file = path.join(copy, 'evaluation.json');
    await writeFile(file, damage(await readFile(file, 'utf8')));
    if (rewriteManifest === 'touch') {
      // (an evaluation without identities is judged by time: a checkpoint saved again has a newer COMPLETE marker)
      expect(await readFile(file, 'utf8')).not.toContain('"identity"');
      const later = new Date(Date.now() + 60_000);
      await utimes(path.join(copy, 'm1', 'best', 'COMPLETE'), later, later);
    }
    if (rewriteManifest === 'delete') {
      // (a member's best weights removed by hand: run.json still lists the member as trained; until session 43 its figures stayed current)
      await rm(path.join(copy, 'm1', 'best'), { recursive: true });
    }
    if (rewriteManifest === 'resave') {
      // (a resume that found a better epoch saves the member's checkpoint again: other weights in the same folder)
      await rm(path.join(copy, 'm1', 'best'), { recursive: true });
      await cp(path.join(copy, 'm2', 'best'), path.join(copy, 'm1', 'best'), { recursive: true });
    }
    try {
      // When the runs are listed and the copy compared with its original
      const { runs } = await listRuns({ runsDir: runsDir(), submissionsDir: submissionsDir() });
      const run = runs.find((r) => r.dir === copy)!;
      const c = await compareRuns({ a: 'second', b: 'x-evaluation', runsDir: runsDir(), submissionsDir: submissionsDir() });
      // Then the copy has no scores, a state saying its evaluation is unusable, and a note saying why and what to run
      expect(run).toMatchObject({ state, heldOut: null, cv: null, weighted: null, note: expect.stringMatching(note) });
      const { stdout } = await runCommand(RunsCommand, ['--runs-dir', runsDir(), '--submissions', submissionsDir()]);
      expect(stdout).toContain(state === 'evaluation-damaged' ? 'evaluation damaged' : 'evaluation outdated');
      // and compare shows none of its figures beside the original's
      expect(c.b).toMatchObject({ state, heldOut: null });
      expect(c.a.heldOut).not.toBeNull();
      expect(c.recipes.map((r) => r.accuracy.b)).toEqual([null, null]);
      expect(c.members.map((m) => m.b)).toEqual([null, null]);
      // and the commands that use the figures (submit, the report, the dashboard) refuse an outdated one, saying to evaluate again
      // (a damaged one is refused by them too, naming the field: until session 43 a figure of the wrong type crashed the report and `runs compare`, and `submit` wrote "NaN%" into a ledger line its own reader refused)
      if (state === 'evaluation-damaged') {
        const damaged = { message: expect.stringMatching(/evaluation\.json (is not valid JSON|is incomplete|is damaged)/), hint: expect.stringMatching(/^Re-run digits evaluate --run /) };
        await expect(submitRun({ runDir: copy, dir: path.join(copy, 'subs') })).rejects.toMatchObject(damaged);
        await expect(writeReport({ run: copy })).rejects.toMatchObject(damaged);
        await expect(stat(path.join(copy, 'subs'))).rejects.toThrow();
      }
      if (state === 'evaluation-outdated' && rewriteManifest !== 'delete') {
        const outdated = { message: expect.stringMatching(/it is not of the run as it is now/), hint: expect.stringMatching(/^Evaluate it again: digits evaluate --run /) };
        await expect(submitRun({ runDir: copy, dir: path.join(copy, 'subs') })).rejects.toMatchObject(outdated);
        await expect(writeReport({ run: copy })).rejects.toMatchObject(outdated);
      }
      // (a member that is gone cannot be evaluated again: both say to restore it; until session 43 the report was written from the old figures)
      if (rewriteManifest === 'delete') {
        const gone = { hint: expect.stringMatching(/^Restore m1\/best in .*x-evaluation .*, or train the run again\.$/) };
        await expect(submitRun({ runDir: copy, dir: path.join(copy, 'subs') })).rejects.toMatchObject(gone);
        await expect(writeReport({ run: copy })).rejects.toMatchObject({ ...gone, message: expect.stringMatching(/it is not of the run as it is now \(member m1's checkpoint/) });
      }
    } finally {
      await rm(copy, { recursive: true, force: true });
    }
  });

  test('a copied run folder (every file newer than its evaluation) keeps its evaluation: checkpoints are compared by content', async () => {
    // Given a copy of an evaluated run made a minute later (a plain copy gives its files new times)
    const copy = path.join(runsDir(), 'x-copied');
    await cp(path.join(runsDir(), 'second'), copy, { recursive: true });
    const later = new Date(Date.now() + 60_000);
    for (const member of ['m1', 'm2']) await utimes(path.join(copy, member, 'best', 'COMPLETE'), later, later);
    try {
      // When it is listed and submitted
      const { runs } = await listRuns({ runsDir: runsDir(), submissionsDir: submissionsDir() });
      // Then its evaluation is its own, as the original's (it was "outdated" until session 35)
      expect(runs.find((r) => r.dir === copy)).toMatchObject({ state: 'evaluated', heldOut: runs.find((r) => r.dir === path.join(runsDir(), 'second'))!.heldOut });
      const submitted = await submitRun({ runDir: copy, dir: path.join(copy, 'subs') });
      expect(submitted.rows).toBeGreaterThan(0);
    } finally {
      await rm(copy, { recursive: true, force: true });
    }
  });

  test('compare shows the differing recipe knob and both runs’ scores; an unknown run is a UserError naming the runs', async () => {
    const c = await compareRuns({ a: 'first', b: 'second', runsDir: runsDir(), submissionsDir: submissionsDir() });
    expect(c.recipes.map(({ accuracy: _, ...r }) => r)).toEqual([
      { name: 'm1', in: 'both', differences: [] },
      { name: 'm2', in: 'both', differences: [{ key: 'learningRate', a: '0.001', b: '0.003' }] },
    ]);
    // a recipe's score is its member's accuracy on its own held-out rows, as evaluated
    const evaluation = await readEvaluationReport(path.join(runsDir(), 'second'));
    expect(c.recipes[1]!.accuracy.b).toBe(evaluation.members.find((m) => m.name === 'm2')!.metrics.accuracy);
    expect(c.members.map((m) => m.name)).toEqual(['m1', 'm2']);
    expect(c.members.every((m) => m.a !== null && m.b !== null)).toBe(true);
    expect(c.members[1]!.b).toBe(c.recipes[1]!.accuracy.b);
    const { stdout } = await runCommand(RunsCompareCommand, ['first', 'second', '--runs-dir', runsDir(), '--submissions', submissionsDir()]);
    expect(stdout).toMatch(/m2\.learningRate\s+0\.001\s+0\.003/);
    const bad = await runCommand(RunsCompareCommand, ['first', 'nope', '--runs-dir', runsDir()]);
    expect(bad.exit).not.toBe(0);
  });

  test("evaluate's single member on the test answers is the one best on its held-out rows, not the best on test", async () => {
    const competition = path.join(dir, 'clean');
    const report = await evaluateRun({ runDir: path.join(runsDir(), 'second'), tta: [], precision: 'fp32', answers: `${competition}-answers.csv` });
    const held = [...report.members].sort((a, b) => b.metrics.accuracy - a.metrics.accuracy || a.metrics.logLoss - b.metrics.logLoss)[0]!;
    expect(report.test!.bestMember.name).toBe(held.name);
    // 50 held-out rows (a quarter of 200): the figures come with a warning that they rest on few rows,
    // the advice fitting a run that already has a shared split (the dataset is small; k-fold scores every row)
    expect(report.heldOutRows).toHaveLength(50);
    expect(report.ensemble.warnings).toContain('the ensemble is scored on only 50 rows that no member trained on: its figures, and the TTA and weights decided on them, say little (the dataset is small: the shared split holds out 25% of its 200 training rows; k-fold validation (--folds 4) would score it on every training row)');
  });

  test('a named --runs-dir or --submissions that is missing, or a run folder as --runs-dir, is an error naming the flag; the defaults may be missing', async () => {
    const nowhere = path.join(dir, 'nowhere');
    await expect(listRuns({ runsDir: nowhere, submissionsDir: submissionsDir(), given: { runsDir: true } })).rejects.toMatchObject({ message: `--runs-dir ${nowhere}: no such folder`, where: { flag: 'runs-dir' } });
    await expect(listRuns({ runsDir: path.join(runsDir(), 'first'), submissionsDir: submissionsDir(), given: { runsDir: true } })).rejects.toMatchObject({ message: expect.stringMatching(/first is a run folder, not a folder of runs$/), hint: `Name the folder that holds it: --runs-dir ${runsDir()}.` });
    await expect(listRuns({ runsDir: runsDir(), submissionsDir: nowhere, given: { submissionsDir: true } })).rejects.toMatchObject({ where: { flag: 'submissions' } });
    await expect(compareRuns({ a: 'first', b: 'second', runsDir: runsDir(), submissionsDir: nowhere, given: { submissionsDir: true } })).rejects.toMatchObject({ where: { flag: 'submissions' } });
    // compare too, also with both runs named by their folders (the flag was ignored there)
    await expect(compareRuns({ a: path.join(runsDir(), 'first'), b: path.join(runsDir(), 'second'), runsDir: nowhere, submissionsDir: submissionsDir(), given: { runsDir: true } })).rejects.toMatchObject({ message: `--runs-dir ${nowhere}: no such folder`, where: { flag: 'runs-dir' } });
    // the defaults of a project with no run yet
    expect(await listRuns({ runsDir: nowhere, submissionsDir: nowhere })).toEqual({ runs: [], damaged: [], abandoned: [], older: [] });
    const cli = await runCommand(RunsCommand, ['--runs-dir', nowhere]);
    expect(cli.exit).toBe(2);
  });

  test('compare shows a member with TTA only when its run submits with TTA, as its recipe', async () => {
    // Given the second run's evaluation with TTA figures for m2 that differ from its plain ones
    const file = path.join(runsDir(), 'second', 'evaluation.json');
    const original = await readFile(file, 'utf8');
    const report = JSON.parse(original) as EvaluationReport;
    const m2 = report.members.find((m) => m.name === 'm2')!;
    m2.tta = { ...m2.metrics, accuracy: m2.metrics.accuracy === 0.5 ? 0.25 : 0.5 };
    try {
      for (const used of [false, true]) {
        report.ensemble.ttaDecision = { used, reason: 'set by the test' };
        await writeFile(file, JSON.stringify(report));
        // When the runs are compared
        const c = await compareRuns({ a: 'first', b: 'second', runsDir: runsDir(), submissionsDir: submissionsDir() });
        // Then m2's figure is the variant the run submits, in the members table as in the recipes table
        const want = used ? m2.tta.accuracy : m2.metrics.accuracy;
        expect(c.members.find((m) => m.name === 'm2')!.b).toBe(want);
        expect(c.recipes.find((r) => r.name === 'm2')!.accuracy.b).toBe(want);
      }
    } finally {
      await writeFile(file, original);
    }
  });

  test('beside a weighted submission, the held-out column shows the weighted vote first, labelled, and the equal vote named', async () => {
    // Given the second run's evaluation with selection's weights in use
    const file = path.join(runsDir(), 'second', 'evaluation.json');
    const original = await readFile(file, 'utf8');
    const report = JSON.parse(original) as EvaluationReport;
    const crossFitted = { accuracy: 0.875, logLoss: 0.4321 };
    report.ensemble.weights = [0.75, 0.25];
    report.ensemble.selection = { method: 'caruana', units: 'members', variant: 'plain', rows: 50, names: ['m1', 'm2'], weights: [0.75, 0.25], picks: ['m1', 'm1', 'm1', 'm2'], equal: report.ensemble.soft, inSample: crossFitted, crossFitted, used: true, reason: 'set by the test' };
    try {
      await writeFile(file, JSON.stringify(report));
      // When the runs are listed and compared
      const { stdout } = await runCommand(RunsCommand, ['--runs-dir', runsDir(), '--submissions', submissionsDir()]);
      const compared = await runCommand(RunsCompareCommand, ['first', 'second', '--runs-dir', runsDir(), '--submissions', submissionsDir()]);
      // Then the submitted (weighted) figure comes first and says so, the equal vote's beside it
      const equal = `${(report.ensemble.soft.accuracy * 100).toFixed(2)}%`;
      expect(stdout).toContain(`87.50% weighted, submitted (equal vote ${equal})`);
      expect(compared.stdout).toMatch(new RegExp(`held-out accuracy\\s.*87\\.50% weighted, submitted \\(equal vote ${equal.replace('.', '\\.')}\\)`));
      expect(compared.stdout).toMatch(new RegExp(`held-out log-loss\\s.*0\\.4321 weighted, submitted \\(equal vote ${report.ensemble.soft.logLoss.toFixed(4)}\\)`));
    } finally {
      await writeFile(file, original);
    }
  });

  test('extra training rows (corrections, pseudo-labels, synthetic rows) are part of a run\'s signature, so runs that differ in them say so', async () => {
    const manifest = JSON.parse(await readFile(path.join(runsDir(), 'first', 'run.json'), 'utf8'));
    const plain = recipeSignature(manifest);
    const extra = recipeSignature({ ...manifest, extra: { file: 'synthetic-rows.jsonl', rows: 43_200, sha256: 'x' } });
    expect(plain.get('extra rows')).toBe('0');
    expect(extra.get('extra rows')).toBe('43200 (synthetic-rows.jsonl)');
    expect(recipeDifferences([plain, extra])).toEqual([[], ['extra rows=43200 (synthetic-rows.jsonl)']]);
  });

  test('the data is named by the competition its stored folder resolves to from the run (run.json keeps it relative)', () => {
    // Given runs kept inside a Kaggle competition's folder, their dataset stored as `../../.digits`
    const manifest = { ensemble: { name: 'e', description: '', validation: { kind: 'shared', fraction: 0.1, seed: 42 }, members: [{ name: 'm1', preset: 'mlp' }] }, dataset: { dir: '../../.digits', fingerprint: 'sha256:9b1c0e2aff' } } as never;
    // Then the signature names the competition (until session 43 it read `../../.digits (9b1c0e2a)`)
    expect(recipeSignature(manifest, '/home/me/digit-recognizer/runs/auto-1').get('data')).toBe('digit-recognizer (9b1c0e2a)');
  });

  test('runs validated on other rows differ in validation: the seed of a shared split or of k-fold folds is part of it', () => {
    const members = [{ name: 'm1', preset: 'mlp' }];
    const signature = (validation: unknown) => recipeSignature({ ensemble: { name: 'e', description: '', validation, members } } as never);
    const [seed11, seed12] = [signature({ kind: 'shared', fraction: 0.5, seed: 11 }), signature({ kind: 'shared', fraction: 0.5, seed: 12 })];
    expect(seed11.get('validation')).toBe('shared 50% seed 11');
    expect(recipeDifferences([seed11, seed12])).toEqual([[], ['validation=shared 50% seed 12']]);
    expect(recipeDifferences([signature({ kind: 'kfold', folds: 3, seed: 42 }), signature({ kind: 'kfold', folds: 3, seed: 7 })])).toEqual([[], ['validation=kfold 3 seed 7']]);
    // bagged members hold out rows seeded by their own seeds, which the recipe keys show
    expect(signature({ kind: 'bagged', fraction: 0.1 }).get('validation')).toBe('bagged 10%');
  });

  test('recipes that use the same values on other members differ: knobs are compared member by member, not as sets', () => {
    const signature = (optimizers: string[]) => recipeSignature({ ensemble: { name: 'e', description: '', validation: { kind: 'shared', fraction: 0.1, seed: 42 }, members: optimizers.map((optimizer, i) => ({ name: `m${i}`, preset: 'mlp', optimizer })) } } as never);
    const [a, b] = [signature(['rmsprop', 'adam', 'adam']), signature(['rmsprop', 'rmsprop', 'adam'])];
    expect(a.get('optimizer')).toBe('rmsprop|adam|adam');
    expect(recipeDifferences([a, b])).toEqual([[], ['optimizer=rmsprop|rmsprop|adam']]);
    // one value shared by every member is shown once
    expect(signature(['adam', 'adam']).get('optimizer')).toBe('adam');
  });

  test.each([
    ['one run: nothing to differ from', [{ a: '1' }], [[]]],
    ['a knob that changes, then stays', [{ a: '1', b: 'x' }, { a: '2', b: 'x' }, { a: '2', b: 'x' }], [[], ['a=2'], []]],
    ['a key only the later run has', [{ a: '1' }, { a: '1', c: 'y' }], [[], ['c=y']]],
    ['a key the later run lacks', [{ a: '1', c: 'y' }, { a: '1' }], [[], ['c=-']]],
  ])('recipeDifferences: %s', (_label, signatures, expected) => {
    expect(recipeDifferences(signatures.map((s) => new Map(Object.entries(s))))).toEqual(expected);
  });
});
