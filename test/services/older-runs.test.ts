/**
 * Folders an older digits left, read by this one. Versions before run.json had a `status`
 * wrote run.json only when training ended (an interrupted run is member folders with
 * checkpoints and no run.json), and stored absolute paths in run.json (the dataset) and in the
 * submissions ledger (the run), which name the old place once the project has moved whole.
 * The old files are written here in the shapes those versions wrote (probe O, old build
 * c5b79d6), around real checkpoints trained by today's code.
 */
import { cp, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import RunsCommand from '../../src/commands/runs/index.js';
import DashboardCommand from '../../src/commands/dashboard.js';
import { importCompetition, resolveCompetitionFiles } from '../../src/data/import.js';
import { buildPracticeCompetition } from '../../src/data/practice.js';
import { initEngine } from '../../src/engine/backend.js';
import { ensembleFromJson } from '../../src/ensemble/ensemble-spec.js';
import { evaluateRun } from '../../src/services/evaluate.js';
import { compareRuns, listRuns } from '../../src/services/runs.js';
import { submitRun } from '../../src/services/submit.js';
import { planResume, trainEnsemble } from '../../src/services/train.js';
import { loadServedEnsemble } from '../../src/serve/ensemble.js';
import { readRunEvaluation, readRunManifest } from '../../src/runs/manifest.js';
import { relocationCandidates } from '../../src/runs/relocate.js';
import { writeRunReport } from '../../src/report/report-html.js';
import { expectUserError } from '../data/helpers.js';
import { runCommand } from '../helpers/run-command.js';

let root: string;
/** the project where the old version made it, before it moved */
let before: string;
/** the same project, moved whole */
let project: string;
let testAccuracy: number;
const runsDir = () => path.join(project, 'runs');
const datasetNow = () => path.join(project, 'competitions', 'clean', '.digits');

/** run.json as the old version wrote it: no status, splits nor split digests, the dataset's folder absolute. */
async function writeOldRunJson(runDir: string, datasetDir: string): Promise<void> {
  const manifest = JSON.parse(await readFile(path.join(runDir, 'run.json'), 'utf8')) as Record<string, unknown>;
  for (const key of ['status', 'splits', 'splitDigests', 'resumedBy', 'initIdentities']) delete manifest[key];
  manifest.dataset = { ...(manifest.dataset as object), dir: datasetDir };
  await writeFile(path.join(runDir, 'run.json'), `${JSON.stringify(manifest, null, 2)}\n`);
}

beforeAll(async () => {
  // Given a project with a tiny practice competition, a run trained in it and submitted with a
  // test score, as an older digits left it (absolute paths in run.json and the ledger) ...
  await initEngine({ backend: 'wasm' });
  root = await mkdtemp(path.join(os.tmpdir(), 'digits-older-'));
  before = path.join(root, 'old-place', 'project');
  const competition = path.join(before, 'competitions', 'clean');
  await buildPracticeCompetition({ recipe: 'clean', out: competition, trainRows: 200, testRows: 20, seed: 7 });
  await importCompetition({ ...(await resolveCompetitionFiles([competition])), orientation: 'as-is' });
  const runDir = path.join(before, 'runs', 'tiny');
  const ensemble = ensembleFromJson(JSON.stringify({ name: 'tiny', validation: { kind: 'shared', fraction: 0.25, seed: 1 }, members: [{ preset: 'mlp', name: 'm', epochs: 1, batchSize: 25, seed: 1 }] }));
  await trainEnsemble({ ensemble, data: competition, runDir, concurrency: 1, backend: 'wasm', command: 'digits train --data competitions/clean --ensemble tiny.json --run runs/tiny' });
  const submitted = await submitRun({ runDir, dir: path.join(before, 'submissions'), answers: `${competition}-answers.csv`, precision: 'fp32' });
  testAccuracy = submitted.score!.accuracy;
  await writeOldRunJson(runDir, path.join(competition, '.digits'));
  const ledgerFile = path.join(before, 'submissions', 'ledger.jsonl');
  const lines = (await readFile(ledgerFile, 'utf8')).trim().split('\n').map((line) => JSON.parse(line) as { run: string; members: Array<{ checkpoint: string }>; score?: { answers: string } });
  const absolute = lines.map((e) => ({ ...e, run: runDir, members: e.members.map((m) => ({ ...m, checkpoint: path.join(runDir, 'm', 'best') })), score: e.score && { ...e.score, answers: `${competition}-answers.csv` } }));
  await writeFile(ledgerFile, absolute.map((e) => `${JSON.stringify(e)}\n`).join(''));
  // ... an unfinished run of that version (its member's best/, last/, history.json and state.json, no run.json) ...
  const slow = path.join(before, 'runs', 'slow');
  await mkdir(slow, { recursive: true });
  await cp(path.join(runDir, 'm'), path.join(slow, 'a'), { recursive: true });
  await writeFile(path.join(slow, 'a', 'state.json'), `${JSON.stringify({ history: [], lr: 0.001, bestValLoss: 2.2, bestEpoch: 0, bestValAcc: 0.12, plateau: 0, sinceBest: 0 }, null, 2)}\n`);
  // ... and a folder that holds nothing of a run
  await mkdir(path.join(before, 'runs', 'notes', 'drafts'), { recursive: true });
  await writeFile(path.join(before, 'runs', 'notes', 'todo.txt'), 'try deotte\n');
  // When the whole project is moved
  project = path.join(root, 'new-place', 'project');
  await mkdir(path.dirname(project), { recursive: true });
  await rename(before, project);
}, 240_000);

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("an older digits' unfinished run (no run.json)", () => {
  test('runs names it beside the runs it lists, with what it is and what can still be used', async () => {
    const { runs, damaged, older } = await listRuns({ runsDir: runsDir() });
    expect(runs.map((r) => r.name)).toEqual(['tiny']);
    expect(damaged).toEqual([]);
    // (the folder holding nothing of a run is not named)
    expect(older).toEqual([{ dir: path.join(runsDir(), 'slow'), members: ['a'], reason: expect.stringMatching(/slow is an unfinished run of an older digits \(member a with a checkpoint, no run\.json\): that version wrote run\.json only when training ended, so this run cannot be resumed or evaluated$/), hint: expect.stringMatching(/a\/best.*export onnx.*"init".*new run/) }]);
    const { stderr, exit } = await runCommand(RunsCommand, ['--runs-dir', runsDir()]);
    expect(exit).toBe(0);
    expect(stderr).toMatch(/warning: not listed: .*slow is an unfinished run of an older digits/);
    expect(stderr).toMatch(/hint: .*can still be used/);
  });

  test('resume, evaluate, dashboard, serve and compare refuse it saying what it is, not "no run"', async () => {
    const slow = path.join(runsDir(), 'slow');
    const refusals = [() => planResume(slow), () => evaluateRun({ runDir: slow, tta: [] }), () => readRunEvaluation(slow, 'show'), () => loadServedEnsemble(slow), () => compareRuns({ runsDir: runsDir(), a: 'slow', b: 'tiny' })];
    for (const refusal of refusals) {
      const error = await expectUserError(refusal(), { message: /slow is an unfinished run of an older digits .*cannot be resumed or evaluated/ });
      expect(error.hint).toMatch(/Its members' best checkpoints \(a\/best\) can still be used: `digits export onnx .*slow\/a\/best` exports one, and an ensemble file's "init" fine-tunes from one\. To go on, train a new run/);
      expect(error.hint).not.toMatch(/digits runs/);
    }
  });

  test('a folder holding nothing of a run keeps its message', async () => {
    const notes = path.join(runsDir(), 'notes');
    await expectUserError(planResume(notes), { message: /^nothing to resume in .*notes: it holds no run\.json$/ });
    await expectUserError(evaluateRun({ runDir: notes, tta: [] }), { message: /^no training run in .*notes$/ });
    // and a folder that is not there is said to be missing
    await expectUserError(planResume(path.join(runsDir(), 'never')), { message: /^nothing to resume: there is no folder .*never$/ });
  });
});

describe('an older project moved whole (absolute paths in run.json and the ledger)', () => {
  test('runs still shows the test score of the ledger line naming the run at its old place', async () => {
    const { runs } = await listRuns({ runsDir: runsDir() });
    expect(runs[0]!.test?.accuracy).toBe(testAccuracy);
  });

  test('evaluate and resume find the competition at the same place relative to the run, by its fingerprint, and say so once', async () => {
    const runDir = path.join(runsDir(), 'tiny');
    const notes: string[] = [];
    const plan = await planResume(runDir, { onNote: (message) => notes.push(message) });
    expect(plan.data).toBe(datasetNow());
    const report = await evaluateRun({ runDir, tta: [], precision: 'fp32', onNote: (message) => notes.push(message) });
    expect(report.dataset.fingerprint).toBe((await readRunManifest(runDir)).dataset.fingerprint);
    expect(notes).toHaveLength(2);
    for (const note of notes) expect(note).toBe(`run.json of run tiny records its dataset at ${path.join(before, 'competitions', 'clean', '.digits')}, an absolute path as older digits wrote them; the project has moved, and the same data (its fingerprint) is at ${datasetNow()}: using that`);
  });

  test('where no competition of the run is found (or only another one), the error says run.json is an older one and that --data works', async () => {
    // Given the run alone elsewhere, and a copy beside a competition of the same name but other data
    const alone = path.join(root, 'alone', 'runs', 'tiny');
    const decoy = path.join(root, 'decoy');
    await cp(path.join(runsDir(), 'tiny'), alone, { recursive: true });
    await cp(path.join(runsDir(), 'tiny'), path.join(decoy, 'runs', 'tiny'), { recursive: true });
    const other = path.join(decoy, 'competitions', 'clean');
    await buildPracticeCompetition({ recipe: 'clean', out: other, trainRows: 100, testRows: 10, seed: 8 });
    await importCompetition({ ...(await resolveCompetitionFiles([other])), orientation: 'as-is' });
    for (const runDir of [alone, path.join(decoy, 'runs', 'tiny')]) {
      const error = await expectUserError(evaluateRun({ runDir, tta: [] }), { message: /^the dataset run tiny was trained on is not at .*: its run\.json, written by an older digits, records that absolute path, and no competition with the run's data is at the same place relative to the run$/ });
      expect(error.hint).toMatch(/Older digits stored absolute paths.*--data <competition folder>/);
      expect(error.hint).not.toMatch(/move both together/);
    }
    // --data names it, as the hint says
    const plan = await planResume(alone, { data: path.join(project, 'competitions', 'clean') });
    expect(plan.data).toBe(datasetNow());
  });

  test("the report and the dashboard draw the misread digits of an older evaluation naming the dataset's old absolute path", async () => {
    // Given the run evaluated (above), its evaluation.json as an older digits wrote it: the dataset's folder absolute, at the old place
    const runDir = path.join(runsDir(), 'tiny');
    const file = path.join(runDir, 'evaluation.json');
    const evaluation = JSON.parse(await readFile(file, 'utf8')) as { dataset: { dir: string } };
    evaluation.dataset.dir = path.join(before, 'competitions', 'clean', '.digits');
    await writeFile(file, `${JSON.stringify(evaluation, null, 2)}\n`);
    // When the report is written and the dashboard drawn as text
    const html = await readFile(await writeRunReport({ runDir, force: true }), 'utf8');
    const dashboard = await runCommand(DashboardCommand, ['--run', runDir]);
    // Then neither says the digits could not be drawn (until session 45 both did, until the run was evaluated again)
    expect(html).not.toMatch(/misread digits not drawn/);
    expect(dashboard.stdout + dashboard.stderr).not.toMatch(/misread digits not drawn/);
  });

  test('the candidates are the stored path\'s tails under the folders above the run, nearest first', () => {
    const candidates = relocationCandidates('/old/root/competitions/uniform/.digits', '/new/root/runs/tiny');
    expect(candidates).toContain('/new/root/competitions/uniform/.digits');
    expect(candidates.indexOf('/new/root/runs/tiny/uniform/.digits')).toBeLessThan(candidates.indexOf('/new/root/competitions/uniform/.digits'));
    expect(candidates).not.toContain('/old/root/competitions/uniform/.digits');
  });
});
