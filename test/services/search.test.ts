/**
 * `digits search` for real at tiny scale: mlp trials on 300 rows of a practice competition,
 * scored on holdout rows; the leaderboard, search.json and the top-k ensemble file; and a
 * search process killed with SIGKILL that a second run continues.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { mkdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { importCompetition, resolveCompetitionFiles } from '../../src/data/import.js';
import { buildPracticeCompetition } from '../../src/data/practice.js';
import { ensembleFromJson, resolveEnsemble } from '../../src/ensemble/ensemble-spec.js';
import { initEngine } from '../../src/engine/backend.js';
import { trainEnsemble } from '../../src/services/train.js';
import { evaluateRun } from '../../src/services/evaluate.js';
import { listRuns } from '../../src/services/runs.js';
import { formatEvaluationSummary } from '../../src/cli/evaluation-summary.js';
import { formatRunsTable } from '../../src/cli/runs-summary.js';
import SearchCommand from '../../src/commands/search.js';
import { runCommand } from '../helpers/run-command.js';
import { crossValidationLines, buildDashboardModel } from '../../src/evaluation/dashboard-model.js';
import { parseSearchSpace } from '../../src/training/search/space.js';
import { chanceTrials, leaderboard, runSearch, searchSettings, topKEnsemble, type SearchEvent, type SearchFile } from '../../src/services/search.js';
import { UserError } from '../../src/errors.js';
import { lockRun } from '../../src/runs/lock.js';
import { deadPid } from '../helpers/dead-pid.js';

let dir: string;
let competition: string;
const spaceJson = {
  preset: 'mlp',
  start: 'scratch',
  optimizer: ['adam', 'rmsprop'],
  learningRate: { min: 3e-4, max: 3e-2, log: true },
  epochs: { min: 1, max: 3 },
  batchSize: 32,
  augmentation: { pixelShift: [0, 1] },
};

beforeAll(async () => {
  // Given a tiny clean practice competition (300 training rows), imported: an mlp learns it in an
  // epoch (on uniform noise its trials stayed at chance, which no ensemble file takes since session 41)
  dir = await mkdtemp(path.join(os.tmpdir(), 'digits-search-'));
  competition = path.join(dir, 'clean');
  await buildPracticeCompetition({ recipe: 'clean', out: competition, trainRows: 300, testRows: 20, seed: 5 });
  await importCompetition({ ...(await resolveCompetitionFiles([competition])), orientation: 'as-is' });
  await writeFile(path.join(dir, 'space.json'), JSON.stringify(spaceJson));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('random search: every trial scored on holdout rows, the top k written as an ensemble file train reads', async () => {
  const events: SearchEvent[] = [];
  // When a random search of three trials runs
  const result = await runSearch({
    data: competition,
    space: parseSearchSpace(spaceJson),
    spaceFile: 'space.json',
    out: path.join(dir, 'random'),
    scheduler: 'random',
    trials: 3,
    top: 2,
    concurrency: 2,
    backend: 'wasm',
    seed: 1,
    command: 'test',
    onEvent: (e) => events.push(e),
  });
  // Then three trials finished, each trained to its sampled epochs on 270 rows and scored on 30
  const file = JSON.parse(await readFile(result.searchFile, 'utf8')) as SearchFile;
  expect(file.trials).toHaveLength(3);
  expect(file.split).toMatchObject({ trainRows: 270, validationRows: 30 });
  for (const t of file.trials) {
    expect(t.state).toBe('done');
    expect(t.scores).toHaveLength(1);
    expect(t.scores[0]!.epochs).toBe(t.params.epochs);
    const history = JSON.parse(await readFile(path.join(result.dir, t.name, 'history.json'), 'utf8')) as Array<{ valLoss: number }>;
    expect(t.scores[0]!.valLoss).toBeCloseTo(Math.min(...history.map((h) => h.valLoss)), 6);
  }
  // The leaderboard is ordered by validation loss
  const losses = result.leaderboard.map((r) => r.valLoss!);
  expect(losses).toEqual([...losses].sort((a, b) => a - b));
  expect(events.filter((e) => e.type === 'trial-rung')).toHaveLength(3);
  // And the ensemble file holds the two best trials, with the epochs they reached
  const ensemble = await resolveEnsemble(result.ensembleFile!);
  expect(ensemble.members.map((m) => m.name)).toEqual(result.leaderboard.slice(0, 2).map((r) => r.trial));
  expect(ensemble.members[0]!.epochs).toBe(result.leaderboard[0]!.epochs);
  expect(ensemble.members[0]!.learningRate).toBe(result.leaderboard[0]!.params.learningRate);
  expect(ensemble.validation).toEqual({ kind: 'shared', fraction: 0.1, seed: 42 });
});

test('a damaged search.json (a value of the wrong kind, a missing one, torn JSON) is an error naming its line and column, not an internal error', async () => {
  // Given copies of the random search's search.json, each damaged as a hand edit or a torn write leaves it
  const text = await readFile(path.join(dir, 'random', 'search.json'), 'utf8');
  const damaged = async (name: string, edit: (file: SearchFile) => void | string) => {
    const folder = path.join(dir, name);
    await mkdir(folder, { recursive: true });
    const file = JSON.parse(text) as SearchFile;
    const replaced = edit(file);
    await writeFile(path.join(folder, 'search.json'), typeof replaced === 'string' ? replaced : JSON.stringify(file, null, 2));
    return folder;
  };
  const scores = await damaged('damaged-scores', (f) => void ((f.trials[1] as unknown as Record<string, unknown>).scores = 'x'));
  const params = await damaged('damaged-params', (f) => void delete (f.trials[0] as unknown as Record<string, unknown>).params);
  const state = await damaged('damaged-state', (f) => void ((f.trials[2] as unknown as Record<string, unknown>).state = 'bogus'));
  const torn = await damaged('damaged-torn', () => text.slice(0, 300));
  // Then reading each (as continuing the search does) names the key, or the JSON error, at its line and column
  await expect(searchSettings(scores)).rejects.toMatchObject({ message: expect.stringMatching(/^search\.json is damaged: trials\[1\]\.scores: /), where: { file: path.join(scores, 'search.json'), line: expect.any(Number), column: expect.any(Number) }, hint: expect.stringMatching(/^Put search\.json back/) });
  const at = (await searchSettings(scores).catch((e: UserError) => e)) as UserError;
  const lines = (await readFile(path.join(scores, 'search.json'), 'utf8')).split('\n');
  expect(lines[at.where!.line! - 1]!.slice(at.where!.column! - 1)).toMatch(/^"scores": "x"/);
  await expect(searchSettings(params)).rejects.toMatchObject({ message: expect.stringMatching(/^search\.json is damaged: trials\[0\]\.params: /), where: expect.objectContaining({ line: expect.any(Number) }) });
  await expect(searchSettings(state)).rejects.toMatchObject({ message: expect.stringMatching(/^search\.json is damaged: trials\[2\]\.state: /) });
  await expect(searchSettings(torn)).rejects.toMatchObject({ message: expect.stringMatching(/^search\.json is not valid JSON/), where: expect.objectContaining({ line: expect.any(Number), column: expect.any(Number) }) });
  // And a search continued there stops with that error before any trial
  await expect(runSearch({ data: competition, space: parseSearchSpace(spaceJson), spaceFile: 'space.json', out: scores, scheduler: 'random', trials: 3, top: 2, concurrency: 1, backend: 'wasm', seed: 1, command: 'test' })).rejects.toBeInstanceOf(UserError);
});

test('a run of the search\'s ensemble file validated on the search\'s holdout says its held-out figures are of the rows that chose its members; another seed does not', async () => {
  // Given the ensemble file the random search above wrote, which records where its members were chosen
  const file = path.join(dir, 'random', 'ensemble.json');
  const ensemble = await resolveEnsemble(file);
  expect(ensemble.selectedOn).toMatchObject({ by: expect.stringMatching(/^digits search --out .*random$/), validation: { kind: 'shared', fraction: 0.1, seed: 42 }, dataset: expect.any(String) });
  await initEngine({ backend: 'wasm' });
  const runs = path.join(dir, 'runs');
  // When it is trained as written, and with another validation seed, and both are evaluated
  for (const [name, seed] of [['same', 42], ['other', 43]] as const) {
    const spec = { ...ensemble, validation: { kind: 'shared' as const, fraction: 0.1, seed } };
    await trainEnsemble({ ensemble: spec, data: competition, runDir: path.join(runs, name), concurrency: 2, backend: 'wasm', command: 'vitest' });
  }
  const same = await evaluateRun({ runDir: path.join(runs, 'same'), tta: [], precision: 'fp32' });
  const other = await evaluateRun({ runDir: path.join(runs, 'other'), tta: [], precision: 'fp32' });
  // Then the run on the search's own holdout says so, with the remedy, in evaluation.json and in evaluate's text
  expect(same.ensemble.selectedOnHeldOut).toEqual({ by: ensemble.selectedOn!.by });
  const note = same.ensemble.warnings!.find((w) => w.includes('chose these members'))!;
  expect(note).toMatch(/^the 30 held-out rows are the ones digits search --out .*random ranked its trials on and chose these members by \(the shared 10% split, seed 42\): the held-out figures, and the TTA and weights decided on them, are optimistic; for an honest figure train with --folds 4, or with another validation seed/);
  expect(formatEvaluationSummary(same)).toContain(`NOTE: ${note}`);
  expect(crossValidationLines(buildDashboardModel(same))).toContain(`NOTE: ${note}`);
  // and the other seed's run, validated on other rows, does not
  expect(other.ensemble.selectedOnHeldOut).toBeUndefined();
  expect(other.ensemble.warnings?.some((w) => w.includes('chose these members')) ?? false).toBe(false);
  // digits runs labels the held-out figure of the first only
  const { runs: listed } = await listRuns({ runsDir: runs, submissionsDir: path.join(dir, 'submissions') });
  expect(listed.find((r) => r.name === 'same')!.heldOutSelectedBy).toBe(ensemble.selectedOn!.by);
  expect(listed.find((r) => r.name === 'other')!.heldOutSelectedBy).toBeNull();
  expect(formatRunsTable(listed)).toMatch(/\nsame\s.*%\)? \(optimistic: the rows the members were chosen on\)/);
}, 120_000);

test('ensemble files written before selectedOn existed still read, and a wrong selectedOn is refused naming the key', () => {
  const members = [{ preset: 'mlp' }];
  expect(ensembleFromJson(JSON.stringify({ validation: { kind: 'shared', fraction: 0.1, seed: 42 }, members })).selectedOn).toBeUndefined();
  expect(() => ensembleFromJson(JSON.stringify({ selectedOn: { by: 'x', validation: { kind: 'kfold', fraction: 0.1, seed: 1 } }, members }))).toThrow(/selectedOn\.validation\.kind/);
});

test('--space naming a folder is said to be a folder; --help says the holdout is seed 42 whatever --seed', async () => {
  const { stderr, exit } = await runCommand(SearchCommand, ['--data', competition, '--space', dir, '--out', path.join(dir, 'never')]);
  expect(exit).toBe(2);
  expect(stderr).toContain(`--space ${dir} is a folder, not a space file`);
  expect(SearchCommand.flags.seed.description).toMatch(/the holdout the trials are scored on is always seed 42/);
});

test('a trial lists the epochs it trained and, apart, the epochs its draw sampled, which only the random scheduler trains to (params carry no epochs)', () => {
  const params = { preset: 'mlp', start: 'scratch', optimizer: 'adam', learningRate: 1e-3, lrDecay: 1, epochs: 9, batchSize: 32, labelSmoothing: 0, augmentation: {} };
  const trials = [{ id: 0, name: 'trial-000', state: 'done', params, scores: [{ rung: 0, epochs: 1, valLoss: 0.5, valAcc: 0.8 }] }];
  const [row] = leaderboard({ scheduler: 'random', trials } as unknown as SearchFile);
  expect(row).toMatchObject({ trial: 'trial-000', rung: 0, epochs: 1, sampledEpochs: 9 });
  expect(row!.params).not.toHaveProperty('epochs');
  // under ASHA the rungs (from the space's range of epochs) are what trials train to: the draw's epochs are not used
  expect(leaderboard({ scheduler: 'asha', trials } as unknown as SearchFile)[0]).toMatchObject({ epochs: 1, sampledEpochs: null });
});

test('trials no better than chance (holdout loss ≥ ln 10) never join the ensemble file, and are named', () => {
  // Given a search whose two best trials learned and three others did not (a start that does not fit the data)
  const params = { preset: 'mlp', start: 'scratch', optimizer: 'adam', learningRate: 1e-3, lrDecay: 1, epochs: 2, batchSize: 32, labelSmoothing: 0, augmentation: {} };
  const trial = (id: number, valLoss: number, valAcc: number) => ({ id, name: `trial-00${id + 1}`, state: 'done', params, member: { name: `trial-00${id + 1}`, preset: 'mlp', epochs: 2 }, scores: [{ rung: 0, epochs: 2, valLoss, valAcc }] });
  const file = { scheduler: 'random', spaceFile: 'space.json', split: { fraction: 0.1, seed: 42 }, trials: [trial(0, 9.3, 0.1), trial(1, 0.02, 0.98), trial(2, 14.4, 0.1), trial(3, 0.03, 0.97), trial(4, Math.log(10), 0.1)] } as unknown as SearchFile;
  // Then the top 5 is the two that learned, and the others are named as at chance, best first
  const top = topKEnsemble(file, 5, 'search-x')!;
  expect((top.members as Array<{ name: string }>).map((m) => m.name)).toEqual(['trial-002', 'trial-004']);
  expect(chanceTrials(file)).toEqual(['trial-005', 'trial-001', 'trial-003']);
  // and a search with no trial better than chance writes no ensemble file
  expect(topKEnsemble({ ...file, trials: [trial(0, 9.3, 0.1)] } as unknown as SearchFile, 5, 'search-x')).toBeNull();
});

test('--out of a folder holding other files (the competition\'s) is refused before any trial; --budget that stops a search says it and the same command continues it', async () => {
  const before = await readdir(competition);
  const { stderr, exit } = await runCommand(SearchCommand, ['--data', competition, '--space', path.join(dir, 'space.json'), '--out', competition, '--trials', '1']);
  expect(exit).toBe(2);
  expect(stderr).toMatch(/already holds files \(.*\); a new search needs a new or empty folder/);
  expect(await readdir(competition)).toEqual(before);
  // A budget spent before the first trial: the result says the budget stopped it, with nothing drawn
  const out = path.join(dir, 'budgeted');
  const stopped = await runCommand(SearchCommand, ['--data', competition, '--space', path.join(dir, 'space.json'), '--out', out, '--trials', '3', '--budget', '0.00001', '--scheduler', 'random', '--backend', 'wasm', '--json']);
  expect(stopped.exit, stopped.stderr).toBe(0);
  const result = JSON.parse(stopped.stdout.trim().split('\n').at(-1)!);
  expect(result).toMatchObject({ stoppedByBudget: true, drawn: 0, maxTrials: 3, ensembleFile: null });
  const plain = await runCommand(SearchCommand, ['--data', competition, '--space', path.join(dir, 'space.json'), '--out', out, '--budget', '0.00001', '--scheduler', 'random', '--backend', 'wasm']);
  expect(plain.stdout).toContain('(--budget stopped it with 0 of its 3 trials drawn: run the same command again to continue)');
}, 60_000);

test('a search continued in its --out keeps its space, scheduler, seed and data when they are not typed again; a new one\'s --data defaults to the working folder', async () => {
  // Given a random search of one trial (seed 4, its own space file), started in the competition's folder without --data
  const out = path.join(dir, 'kept');
  const run = (args: string[], cwd = competition) => new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [path.join(process.cwd(), 'bin/run.js'), 'search', ...args, '--out', out, '--concurrency', '1', '--backend', 'wasm', '--json'], { cwd, env: { ...process.env, CI: 'true' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
  const first = await run(['--space', path.join(dir, 'space.json'), '--scheduler', 'random', '--seed', '4', '--trials', '1']);
  expect(first.code, first.stderr).toBe(0);
  // When it is continued from another folder naming only --trials (no --space, --scheduler, --seed nor --data)
  const second = await run(['--trials', '2'], dir);
  // Then it goes on with its own settings: the first trial kept, a second drawn
  expect(second.code, second.stderr).toBe(0);
  const file = JSON.parse(await readFile(path.join(out, 'search.json'), 'utf8')) as SearchFile;
  expect(file).toMatchObject({ scheduler: 'random', seed: 4, spaceFile: path.join(dir, 'space.json'), maxTrials: 2 });
  expect(file.trials.map((t) => t.state)).toEqual(['done', 'done']);
  // (a setting typed again that differs is still refused, naming it)
  const other = await run(['--seed', '5']);
  expect(other.code).toBe(2);
  expect(other.stdout).toMatch(/was started with seed 4/);
}, 120_000);

function search(out: string) {
  return spawn(process.execPath, ['bin/run.js', 'search', '--data', competition, '--space', path.join(dir, 'space.json'), '--scheduler', 'asha', '--trials', '4', '--out', out, '--concurrency', '1', '--top', '2', '--backend', 'wasm'], {
    env: { ...process.env, CI: 'true' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

test('a continued search keeps its own --trials unless given: more are drawn on request, fewer than drawn are refused; an edited space file is named as edited', async () => {
  // Given a finished random search of one trial
  const out = path.join(dir, 'continued');
  const base = { data: competition, space: parseSearchSpace(spaceJson), spaceFile: path.join(dir, 'space.json'), out, scheduler: 'random' as const, top: 1, concurrency: 1, backend: 'wasm' as const, seed: 2, command: 'test' };
  await runSearch({ ...base, trials: 1, command: 'digits search --trials 1' });
  // When it is run again without --trials, Then it draws nothing more (it drew up to the default 12)
  const again = await runSearch({ ...base, command: 'digits search (continued)' });
  // and search.json keeps the command that started it, the continuation's beside it (until session 44 it replaced it)
  expect(JSON.parse(await readFile(again.searchFile, 'utf8'))).toMatchObject({ command: 'digits search --trials 1', resumedBy: ['digits search (continued)'] });
  expect(again.leaderboard).toHaveLength(1);
  expect((JSON.parse(await readFile(again.searchFile, 'utf8')) as SearchFile).maxTrials).toBe(1);
  // When --trials asks for more, Then they are drawn; fewer than drawn is refused naming --trials
  expect((await runSearch({ ...base, trials: 2 })).leaderboard).toHaveLength(2);
  await expect(runSearch({ ...base, trials: 1 })).rejects.toMatchObject({ message: expect.stringMatching(/has drawn 2 trials already; --trials 1 cannot take them back/), where: expect.objectContaining({ flag: 'trials' }) });
  // And a space file edited since says so, rather than naming the same file as "another space"
  await expect(runSearch({ ...base, space: parseSearchSpace({ ...spaceJson, batchSize: 16 }) })).rejects.toThrow(/was started with other contents of .*space\.json \(the file was edited since\)/);
  // with a hint to put the file back (naming the same --space again would fail the same way)
  await expect(runSearch({ ...base, space: parseSearchSpace({ ...spaceJson, batchSize: 16 }) })).rejects.toMatchObject({ hint: expect.stringMatching(/^Put .*space\.json back as it was \(search\.json in .* keeps the space it was started with/) });
  // and another setting is named flag by flag, with the command the search was started with
  await expect(runSearch({ ...base, seed: 9 })).rejects.toMatchObject({ message: expect.stringMatching(/was started with seed 2/), hint: expect.stringMatching(/^Continue it with the settings it was started with \(--scheduler random --space .*space\.json --seed 2, --data \S*clean; it was started as: digits search --trials 1\)/) });
});

test('one search per folder: a second on the same --out is refused naming the first; a killed save\'s temp file goes when the search goes on', async () => {
  // Given a search folder held by a live search (this process), with a temp file a killed search left
  const out = path.join(dir, 'held');
  const base = { data: competition, space: parseSearchSpace(spaceJson), spaceFile: path.join(dir, 'space.json'), out, scheduler: 'random' as const, trials: 1, top: 1, concurrency: 1, backend: 'wasm' as const, seed: 3, command: 'test' };
  await mkdir(out, { recursive: true });
  const stale = path.join(out, `search.json.tmp-${await deadPid()}-0badf00d`);
  await writeFile(stale, '{"half": ');
  const first = await lockRun(out, 'digits search --out held (the first)');
  try {
    // When another search is started into it
    // Then it is refused before training anything, naming the first and --out (two trained the same trials into the same folders)
    await expect(runSearch(base)).rejects.toMatchObject({ message: expect.stringMatching(new RegExp(`^the search folder .*held is in use: pid ${process.pid} .*the first\\)\\)$`)), where: expect.objectContaining({ flag: 'out' }), hint: expect.stringMatching(/another --out/) });
    expect(await readdir(out)).toEqual(expect.not.arrayContaining([expect.stringMatching(/^trial-/)]));
  } finally {
    await first.release();
  }
  // And once free, the search runs, clears the dead writer's temp file and releases the folder
  await runSearch(base);
  expect((await readdir(out)).sort()).toEqual(expect.not.arrayContaining([path.basename(stale), '.lock']));
});

test('ASHA search killed mid-run continues where it stopped when run again with the same --out', async () => {
  const out = path.join(dir, 'asha');
  const read = async () => JSON.parse(await readFile(path.join(out, 'search.json'), 'utf8')) as SearchFile;
  // When the search is killed once two trials have a rung-0 score
  const first = search(out);
  let stderr = '';
  first.stderr.on('data', (c) => (stderr += c));
  await new Promise<void>((resolve, reject) => {
    const poll = setInterval(async () => {
      const file = await read().catch(() => null);
      if (file && file.trials.filter((t) => t.scores.length > 0).length >= 2) {
        clearInterval(poll);
        first.kill('SIGKILL');
        resolve();
      }
    }, 50);
    first.on('exit', (code) => {
      clearInterval(poll);
      if (code !== null) reject(new Error(`search ended (${code}) before it could be killed:\n${stderr}`));
    });
  });
  // (its lock goes with the process: the next command finds it gone)
  if (first.exitCode === null && first.signalCode === null) await new Promise((resolve) => first.on('exit', resolve));
  const before = await read();
  expect(before.rungs).toEqual([1, 3]);
  const scoredBefore = before.trials.filter((t) => t.scores.length > 0);

  // And run again
  const second = search(out);
  let output = '';
  second.stdout.on('data', (c) => (output += c));
  second.stderr.on('data', (c) => (output += c));
  const code = await new Promise<number | null>((resolve) => second.on('exit', resolve));
  expect(code, output).toBe(0);

  // Then it said it continued, kept every score it had, and finished all four trials
  expect(output).toContain('continuing the search');
  const after = await read();
  expect(after.trials).toHaveLength(4);
  expect(after.trials.every((t) => t.state === 'done')).toBe(true);
  for (const t of scoredBefore) expect(after.trials[t.id]!.scores[0]).toEqual(t.scores[0]);
  for (const t of after.trials) expect(after.trials[t.id]!.params).toEqual(t.params);
  // ASHA with η = 3: as soon as three rung-0 results were in, the best of them went on to
  // 3 epochs; the fourth result is promoted too only if it beat that one (top ⌊4/3⌋ = 1)
  const promoted = after.trials.filter((t) => t.scores.some((s) => s.rung === 1));
  const firstThree = after.trials.slice(0, 3).sort((a, b) => a.scores[0]!.valLoss - b.scores[0]!.valLoss);
  expect(promoted[0]!.id).toBe(firstThree[0]!.id);
  const fourthBest = after.trials[3]!.scores[0]!.valLoss < firstThree[0]!.scores[0]!.valLoss;
  expect(promoted.map((t) => t.id)).toEqual(fourthBest ? [firstThree[0]!.id, 3] : [firstThree[0]!.id]);
  expect(promoted[0]!.scores[1]!.epochs).toBe(3);
  // The promoted trial continued its run: 3 epochs of history, the first one its rung-0 epoch
  const history = JSON.parse(await readFile(path.join(out, promoted[0]!.name, 'history.json'), 'utf8')) as unknown[];
  expect(history).toHaveLength(3);
  expect(output).toMatch(/#\s+trial\s+state/);
  expect(output).toContain(path.join(out, 'ensemble.json'));
}, 120_000);

test('a failed trial is reported with its error, not as unfinished; the same command tries it again; all failed is an error', async () => {
  const out = path.join(dir, 'failing');
  const options = { data: competition, space: parseSearchSpace(spaceJson), spaceFile: 'space.json', out, scheduler: 'random' as const, trials: 2, top: 2, concurrency: 1, backend: 'wasm' as const, seed: 1, command: 'test' };
  // Given a search of one trial, continued to two with a file where trial-002's folder goes, so that trial fails
  await runSearch({ ...options, trials: 1 });
  await writeFile(path.join(out, 'trial-002'), 'in the way');
  const first = await runSearch(options);
  expect([first.failed, first.unfinished, first.ensembleMembers]).toEqual([1, 0, 1]);
  const failedRow = first.leaderboard.find((r) => r.state === 'failed')!;
  expect(failedRow).toMatchObject({ trial: 'trial-002', error: expect.stringMatching(/EEXIST|exists|not a directory/i) });
  // The command says so last and exits 1, as train does for failed members (it exited 0)
  const cli = await runCommand(SearchCommand, ['--data', competition, '--space', path.join(dir, 'space.json'), '--out', out, '--trials', '2', '--scheduler', 'random', '--seed', '1', '--concurrency', '1', '--backend', 'wasm']);
  expect(cli.exit).toBe(1);
  expect(cli.stdout).toMatch(/^failed +trial-002: /m);
  expect(cli.stderr).toMatch(/error: 1 of 2 trials failed: trial-002 \(.*(EEXIST|exists|not a directory)/i);
  expect(cli.stderr).toMatch(/hint: The leaderboard and the ensemble file are of the trials that trained\. Once what stopped it is put right, the same command tries it again\./);
  // When its cause is gone and the same search runs again, the trial is tried again and scored
  await rm(path.join(out, 'trial-002'));
  const retried: SearchEvent[] = [];
  const second = await runSearch({ ...options, onEvent: (e) => retried.push(e) });
  expect([second.failed, second.unfinished, second.ensembleMembers]).toEqual([0, 0, 2]);
  // It failed before its first epoch: it starts again, not "continuing"; its failed row had no rung (null, not -1)
  expect(retried.find((e) => e.type === 'trial-start')).toMatchObject({ trial: 'trial-002', resumed: false });
  expect(failedRow.rung).toBeNull();
  // A search whose every trial fails (on a backend this machine lacks) is an error naming the first failure
  const none = path.join(dir, 'none');
  await expect(runSearch({ ...options, out: none, trials: 1, backend: 'gpu' })).rejects.toMatchObject({ message: expect.stringMatching(/^every trial of the search failed \(1\), so there is no leaderboard nor ensemble file; trial-001: /) });
  // A space whose batch sizes exceed the holdout split's 270 training rows is said once, before the trials
  const events: SearchEvent[] = [];
  const big = parseSearchSpace({ ...spaceJson, batchSize: [32, 4096] });
  await expect(runSearch({ ...options, space: big, out: path.join(dir, 'big-batch'), trials: 1, backend: 'gpu', onEvent: (e) => events.push(e) })).rejects.toThrow(/every trial of the search failed/);
  expect(events.filter((e) => e.type === 'warning')).toEqual([{ type: 'warning', message: 'the space\'s batch size 4096 is more than the holdout split\'s 270 training rows: a trial drawing it trains each epoch as a single step over all of them. Keep "batchSize" at most 270 in space.json.' }]);
  expect(events.findIndex((e) => e.type === 'warning')).toBe(events.findIndex((e) => e.type === 'search-start') + 1);
}, 120_000);

test('a trial whose save fails stops the search only once the other running trial has ended: exit 2, no abort in native code', async () => {
  // Given a random search of two trials at once (seed 1 draws 60 epochs for trial-001 and 1 for trial-002)
  const out = path.join(dir, 'save-fails');
  await writeFile(path.join(dir, 'space-long.json'), JSON.stringify({ preset: 'mlp', start: 'scratch', optimizer: 'adam', learningRate: 0.003, epochs: [1, 60], batchSize: 32 }));
  const child = spawn(process.execPath, ['bin/run.js', 'search', '--data', competition, '--space', path.join(dir, 'space-long.json'), '--scheduler', 'random', '--trials', '2', '--concurrency', '2', '--seed', '1', '--top', '1', '--out', out, '--json'], {
    env: { ...process.env, CI: 'true' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  // When both have started (search.json saved for each) and a folder then takes search.json's place, so the next save fails for real (EISDIR)
  let broken = false;
  child.stdout.on('data', (c) => {
    stdout += c;
    if (!broken && stdout.includes('"type":"trial-start","trial":"trial-002"')) {
      broken = true;
      // (the child saves just after it prints the line: a save that lands between rm and mkdir is moved aside again)
      for (;;) {
        rmSync(path.join(out, 'search.json'), { recursive: true, force: true });
        try {
          mkdirSync(path.join(out, 'search.json'));
          break;
        } catch {
          // search.json written again meanwhile
        }
      }
    }
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  const lines = stdout.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as { type: string; trial?: string; epochs?: number; message?: string; error?: string });
  expect(lines.filter((l) => l.type === 'trial-start').map((l) => [l.trial, l.epochs])).toEqual([['trial-001', 60], ['trial-002', 1]]);
  // Then trial-002's failed save stops the search once trial-001 has trained its 60 epochs (it left
  // with that trial's worker mid-step, and ONNX Runtime aborted the process: exit 134)
  expect(code, `${stdout}\n${stderr}`).toBe(2);
  expect(stderr).not.toMatch(/terminate called|Napi::Error/);
  expect(lines.find((l) => l.type === 'warning')?.message).toMatch(/^the search stops \(trial-002: .*\); waiting for trial-001 to end first/);
  const ended = lines.findIndex((l) => l.type === 'trial-rung' && l.trial === 'trial-001');
  expect(ended).toBeGreaterThan(-1);
  expect(lines.at(-1)).toMatchObject({ type: 'error', error: `cannot write ${path.join(out, 'search.json')}: it is a folder, not a file` });
}, 120_000);
