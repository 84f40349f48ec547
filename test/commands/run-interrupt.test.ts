/**
 * `digits run` stopped by a signal at each stage, as a user sees it (the built CLI, bin/run.js,
 * under --json, on a tiny practice competition with a half-minute budget): the last line says
 * what was kept and names the command that goes on from there, that command works, and a run
 * resumed from its folder alone ends as an uninterrupted one (auto's record included).
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildPracticeCompetition } from '../../src/data/practice.js';
import { removeTempDirs, tempDir } from '../data/helpers.js';
import { repoRoot } from '../helpers/run-command.js';

const exec = promisify(execFile);
const bin = path.join(repoRoot, 'bin/run.js');
const env = { ...process.env, CI: 'true', DIGITS_BACKEND: 'wasm' };
type Line = Record<string, unknown>;

let work: string;
let competition: string;
const auto = () => ['run', '--data', competition, '--budget', '0.5', '--concurrency', '2'];

/** `digits <argv> --json` to its end: its exit code and parsed lines. */
async function digits(argv: string[]): Promise<{ code: number; lines: Line[]; stderr: string }> {
  const done = await exec(process.execPath, [bin, ...argv, '--json'], { cwd: work, env, maxBuffer: 64 << 20 }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code?: number; stdout: string; stderr: string }) => ({ code: error.code ?? -1, stdout: error.stdout, stderr: error.stderr }),
  );
  return { code: done.code, lines: done.stdout.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Line), stderr: done.stderr };
}

/** Starts `digits <argv> --json`, sends `signal` once `ready` holds for its lines; how it died and what it printed. */
async function interrupt(argv: string[], ready: (lines: Line[]) => boolean, signal: NodeJS.Signals) {
  const child = spawn(process.execPath, [bin, ...argv, '--json'], { cwd: work, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, sig) => resolve(sig)));
  const parsed = () => stdout.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Line);
  while (child.exitCode === null && !ready(parsed())) await new Promise((r) => setTimeout(r, 20));
  child.kill(signal);
  const died = await exited;
  const lines = parsed();
  expect(died, stderr).toBe(signal);
  expect(lines.at(-1), stderr).toMatchObject({ type: 'error', error: expect.stringMatching(new RegExp(`interrupted \\(${signal}\\)`)) });
  return { lines, hint: String(lines.at(-1)!.hint) };
}
const firstEpoch = (lines: Line[]) => lines.some((l) => l.type === 'epoch');
const atStage = (stage: string) => (lines: Line[]) => lines.some((l) => l.type === 'stage' && l.stage === stage);
const runFolders = async () => (await readdir(path.join(work, 'runs')).catch(() => [] as string[])).sort();
const json = async (file: string) => JSON.parse(await readFile(file, 'utf8'));

beforeAll(async () => {
  work = await tempDir('digits-run-interrupt-');
  competition = path.join(work, 'competitions', 'uniform');
  await buildPracticeCompetition({ recipe: 'uniform', out: competition, trainRows: 300, testRows: 40, seed: 11 });
});
afterAll(removeTempDirs);

describe('digits run stopped by a signal', () => {
  test('while auto chooses its recipe: no run folder is left (its probes were), and the hint says so', { timeout: 300_000 }, async () => {
    // Given an auto run interrupted once its first range test reported (probes under runs/auto-…/auto-probes/)
    const { hint } = await interrupt(auto(), (lines) => lines.some((l) => l.type === 'auto-lr-find'), 'SIGINT');
    // Then nothing is left under runs/ (`runs` would not list a folder without run.json, and nothing removed it),
    // nor the runs/ folder itself, which this run made
    expect(await runFolders()).toEqual([]);
    expect(existsSync(path.join(work, 'runs'))).toBe(false);
    // And the hint says that training had not started and to run the command again
    expect(hint).toBe('Training had not started (auto was choosing the recipe), so nothing is kept and no run folder is left: run the same command again.');
  });

  test('killed (SIGKILL) before it trained: `runs` names the folder left, and the next run removes it', { timeout: 300_000 }, async () => {
    // Given an auto run killed outright at its first stage (no handler runs; its folder is claimed by then)
    const child = spawn(process.execPath, [bin, ...auto(), '--json'], { cwd: work, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, sig) => resolve(sig)));
    while (child.exitCode === null && !stdout.includes('"type":"stage"')) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    // Then its folder is left, with its claim and no run.json
    const [left] = await runFolders();
    const leftDir = path.join(work, 'runs', left!);
    expect(readdirSync(leftDir)).toContain('.claim');
    expect(existsSync(path.join(leftDir, 'run.json'))).toBe(false);
    // When the runs are listed, the folder is named as abandoned, with the process that made it
    const listed = await digits(['runs']);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.lines.at(-1)).toMatchObject({ runs: [], abandoned: [{ dir: leftDir, pid: child.pid, command: expect.stringMatching(/^digits run --data /) }] });
    const plain = await exec(process.execPath, [bin, 'runs'], { cwd: work, env });
    expect(plain.stderr).toContain(`warning: ${path.join('runs', left!)} is not listed: the run that made it (digits run --data`);
    expect(plain.stderr).toContain(`pid ${child.pid}`);
    // When the next run starts (one refused at once: its competition is not there; the clean-up comes first)
    const { lines, code } = await digits(['run', '--data', path.join(work, 'no-such-competition')]);
    expect(code).toBe(2);
    // Then it said it removed the abandoned folder, and removed it (and its own claimed folder went with its refusal)
    expect(lines).toContainEqual({ type: 'warning', message: expect.stringMatching(new RegExp(`^removed ${path.join('runs', left!).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: the digits run that made it \\(pid ${child.pid}, started .*\\) was killed before it trained anything$`)) });
    expect(await runFolders()).toEqual([]);
  });

  test('two runs started at once (the same second) each get a folder of their own', { timeout: 300_000 }, async () => {
    // Given two auto runs started together, both stopped once both are choosing their recipes
    // (neither is stopped before the other has its folder: a loaded machine starts them seconds apart)
    const seen: string[][] = [];
    const choosing = [false, false];
    const [a, b] = await Promise.all([0, 1].map((i) => interrupt(auto(), (lines) => {
      choosing[i] ||= atStage('recipe')(lines);
      if (!choosing.every(Boolean)) return false;
      seen.push(readdirSync(path.join(work, 'runs')).sort());
      return true;
    }, 'SIGINT')));
    // Then while they chose their recipes there were two run folders (they shared one, and the
    // second failed on the first's lock after its whole probing phase)
    expect(seen.some((folders) => folders.length === 2)).toBe(true);
    // Then each said its own clean-up, and neither left a folder (nor removed the other's while it worked)
    expect(a.hint).toMatch(/no run folder is left/);
    expect(b.hint).toMatch(/no run folder is left/);
    expect(await runFolders()).toEqual([]);
  });

  test('at its first epoch, then resumed: the run ends with the auto record an uninterrupted run has', { timeout: 600_000 }, async () => {
    // Given an auto run stopped by SIGTERM at its first epoch
    const before = await runFolders();
    const { hint } = await interrupt(auto(), firstEpoch, 'SIGTERM');
    const name = (await runFolders()).find((n) => !before.includes(n));
    const runDir = path.join(work, 'runs', name!);
    // (its claim on the folder went with it: the folder holds a run, it is not abandoned)
    expect(existsSync(path.join(runDir, '.claim'))).toBe(false);
    expect(hint).toBe(`Continue it with \`digits run --resume --run ${path.join('runs', name!)}\`: training goes on from each member's last saved epoch, then evaluation and the submission.`);
    // Then auto's record is already in the run folder
    const planned = await json(path.join(runDir, 'auto.json'));
    expect(planned.chosen.start).toMatch(/noisy|clean|scratch/);
    // …with what the budget spent before training began
    expect(planned.trainingStartSeconds).toEqual(expect.any(Number));
    // When the command the hint names is run to its end
    const resumed = await digits(['run', '--resume', '--run', path.join('runs', name!)]);
    expect(resumed.code, resumed.stderr).toBe(0);
    // Then it trains within what is left of the run's budget, and says so
    const stages = resumed.lines.filter((l) => l.type === 'stage').map((l) => String(l.message));
    expect(stages.filter((m) => /^the run's 0\.5-minute budget (has \d+ s of training left|is spent) \(\d+ s/.test(m))).toHaveLength(1);
    const result = resumed.lines.at(-1)!;
    // Then the result, run.json and auto.json hold the same record, the one planned before training
    expect(result.type).toBe('result');
    expect(result.auto).toEqual(planned);
    expect((await json(path.join(runDir, 'run.json'))).auto).toEqual(planned);
    expect(await json(path.join(runDir, 'auto.json'))).toEqual(planned);
    expect(existsSync(path.join(runDir, 'report.html'))).toBe(true);

    // Given the same run without its report (as when stopped while writing it)
    await rm(path.join(runDir, 'report.html'));
    // When it is resumed again, it is refused, naming `digits report --run`
    const again = await digits(['run', '--resume', '--run', path.join('runs', name!)]);
    expect(again.code).toBe(2);
    expect(again.lines.at(-1)).toMatchObject({ type: 'error', error: expect.stringMatching(/already finished: .* but it has no report\.html/), where: { flag: 'run' }, hint: expect.stringMatching(/^`digits report --run runs\/auto-[^`]+` writes its report; /) });
  });

  test('while writing its report: the hint names `digits report --run`, which writes it', { timeout: 300_000 }, async () => {
    // Given a tiny run (an ensemble file of one 1-epoch member) stopped at its report stage
    await writeFile(path.join(work, 'tiny.json'), JSON.stringify({ name: 'tiny', members: [{ preset: 'mlp', epochs: 1, batchSize: 32 }] }));
    const { hint } = await interrupt(['run', '--data', competition, '--ensemble', path.join(work, 'tiny.json'), '--concurrency', '1'], atStage('report'), 'SIGTERM');
    const name = (await runFolders()).find((n) => n.startsWith('tiny-'))!;
    // Then the hint says the submission is written and names the command that writes the report
    expect(hint).toBe(`Its members are trained, evaluated and its submission is written; only the HTML report is missing: \`digits report --run ${path.join('runs', name)}\` writes it.`);
    // And that command writes it
    const report = await digits(['report', '--run', path.join('runs', name)]);
    expect(report.code, report.stderr).toBe(0);
    expect(existsSync(path.join(work, 'runs', name, 'report.html'))).toBe(true);
  });

  test('--pseudo-label in round 1: the hint names --resume, which continues round 1, then round 2', { timeout: 600_000 }, async () => {
    // Given a pseudo-labelling auto run stopped by SIGINT at round 1's first epoch
    const before = await runFolders();
    const { hint } = await interrupt([...auto(), '--pseudo-label'], firstEpoch, 'SIGINT');
    const name = (await runFolders()).find((n) => !before.includes(n))!;
    const runDir = path.join(work, 'runs', name);
    // Then the hint says round 1 is kept and how to continue (not that training had not started)
    expect(hint).toMatch(new RegExp(`^Round 1 of pseudo-labelling is kept in runs/${name}/round1: \`digits run --resume --run runs/${name}\` continues it`));
    // When the command it names is run
    const resumed = await digits(['run', '--resume', '--run', path.join('runs', name)]);
    expect(resumed.code, resumed.stderr).toBe(0);
    // Then round 1 was continued and round 2 fine-tuned its members with pseudo-labelled rows
    const stages = resumed.lines.filter((l) => l.type === 'stage').map((l) => String(l.message));
    expect(stages.some((m) => /^round 1: resuming |^round 1 in .* finished training/.test(m))).toBe(true);
    expect(stages.some((m) => m.startsWith('round 2: '))).toBe(true);
    const manifest = await json(path.join(runDir, 'run.json'));
    expect(manifest.status).toBe('finished');
    expect(manifest.extra.file).toBe('pseudo-labels.jsonl');
    expect(manifest.ensemble.members.every((m: { init: string }) => m.init.startsWith('round1/'))).toBe(true);
    // And the record says so, in the result, run.json and auto.json alike
    const result = resumed.lines.at(-1)!;
    expect(result.auto).toMatchObject({ pseudoLabel: { testRows: 40 } });
    // …and its evaluation does not call round 2's figures flattered by its inits, round 1's members, which held out the same rows (until session 45 it did)
    const evaluation = await json(path.join(runDir, 'evaluation.json'));
    expect((evaluation.ensemble.warnings ?? []).filter((w: string) => /checkpoint trained on this competition's rows/.test(w))).toEqual([]);
    // …with the reason it holds out 10% rather than folds (until session 45 "a 10% holdout" alone, by "default")
    expect((result.auto as { validation: unknown }).validation).toEqual({ kind: 'holdout', by: 'flag', reason: expect.stringMatching(/^a 10% holdout: --pseudo-label fine-tunes each round-1 member in round 2/) });
    expect(manifest.auto).toEqual(result.auto);
    expect(await json(path.join(runDir, 'auto.json'))).toEqual(result.auto);
  });
});
