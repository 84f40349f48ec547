/**
 * The --json contract, as a program reading `digits … --json` sees it: every line of stdout
 * is one JSON object with a string `type`; long jobs stream events and end with the result;
 * the result (`type: "result"`) or the error (`type: "error"`, with `error`, `hint`, `where`)
 * is the last line, exactly once; the exit code is the one the command has without --json.
 * Every command runs here for real (the built CLI, bin/run.js) on a tiny practice competition.
 */
import { execFile, spawn } from 'node:child_process';
import { cp, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { removeTempDirs, tempDir } from '../data/helpers.js';
import { repoRoot } from '../helpers/run-command.js';

const exec = promisify(execFile);
const bin = path.join(repoRoot, 'bin/run.js');
const env = { ...process.env, CI: 'true', DIGITS_BACKEND: 'wasm' };

let work: string;
const comp = () => path.join(work, 'comp');
const runDir = () => path.join(work, 'runs', 'tiny');

interface Outcome {
  code: number;
  lines: Array<Record<string, unknown>>;
  stderr: string;
}

/** Runs `digits <argv> --json` and parses every stdout line (a line that is not one JSON object fails the test). */
async function digitsJson(argv: string[], extraEnv: Record<string, string> = {}, cwd = work): Promise<Outcome> {
  let stdout: string;
  let stderr: string;
  let code = 0;
  try {
    ({ stdout, stderr } = await exec(process.execPath, [bin, ...argv, '--json'], { cwd, env: { ...env, ...extraEnv }, maxBuffer: 64 << 20 }));
  } catch (error) {
    const e = error as { code?: number; stdout: string; stderr: string };
    if (typeof e.code !== 'number') throw error;
    ({ stdout, stderr, code } = { stdout: e.stdout, stderr: e.stderr, code: e.code });
  }
  const text = stdout.endsWith('\n') ? stdout.slice(0, -1) : stdout;
  const lines = text.split('\n').map((line, i) => {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new Error(`digits ${argv.join(' ')} --json: stdout line ${i + 1} is not JSON: ${line.slice(0, 200)}\nstderr: ${stderr}`);
    }
    expect(value, `line ${i + 1} of digits ${argv.join(' ')}`).toBeTypeOf('object');
    expect(Array.isArray(value)).toBe(false);
    expect((value as { type?: unknown }).type, `line ${i + 1} of digits ${argv.join(' ')} has a type`).toBeTypeOf('string');
    return value as Record<string, unknown>;
  });
  return { code, lines, stderr };
}

/** The contract of a finished command: one final line, result on success, error otherwise. */
function expectFinished(outcome: Outcome, want: 'result' | 'error'): Record<string, unknown> {
  const last = outcome.lines.at(-1)!;
  const finals = outcome.lines.filter((l) => l.type === 'result' || l.type === 'error');
  expect(finals, outcome.stderr).toHaveLength(1);
  expect(last.type, `${JSON.stringify(last).slice(0, 500)}\n${outcome.stderr}`).toBe(want);
  if (want === 'result') expect(outcome.code, outcome.stderr).toBe(0);
  else {
    expect(outcome.code).not.toBe(0);
    expect(Object.keys(last).sort()).toEqual(['error', 'hint', 'type', 'where']);
    expect(last.error).toBeTypeOf('string');
  }
  // tfjs's "Hi, looks like you are running TensorFlow.js in Node.js" banner stays quiet.
  expect(outcome.stderr).not.toMatch(/looks like you are running TensorFlow\.js/);
  return last;
}

/**
 * Starts `digits <argv> --json` in `cwd`, and once `ready` holds for its stdout lines runs
 * `meanwhile` (if any) and sends SIGINT; resolves with how it exited and what it printed.
 */
async function interrupt(argv: string[], ready: (lines: Array<Record<string, unknown>>) => boolean, options: { cwd?: string; meanwhile?: () => Promise<void> } = {}) {
  const child = spawn(process.execPath, [bin, ...argv, '--json'], { cwd: options.cwd ?? work, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const parsed = () => stdout.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Record<string, unknown>);
  while (child.exitCode === null && !ready(parsed())) await new Promise((r) => setTimeout(r, 50));
  await options.meanwhile?.();
  child.kill('SIGINT');
  return { ...(await exited), lines: parsed() };
}
const hasEpoch = (lines: Array<Record<string, unknown>>) => lines.some((l) => l.type === 'epoch');

beforeAll(async () => {
  work = await tempDir('digits-json-');
  await writeFile(path.join(work, 'tiny.json'), JSON.stringify({ members: [{ preset: 'mlp', epochs: 3, batchSize: 32 }] }));
});
afterAll(removeTempDirs);

describe('every command under --json prints NDJSON ending with its result', () => {
  // The steps build on each other (practice → import → … → serve), so they run in order.
  test('data practice, import, split, inspect; augment preview', { timeout: 300_000 }, async () => {
    const practice = expectFinished(await digitsJson(['data', 'practice', '--recipe', 'uniform', '--train', '200', '--test', '30', '--out', comp()]), 'result');
    expect(practice).toHaveProperty('answers');
    const imported = expectFinished(await digitsJson(['data', 'import', comp(), '--orientation', 'as-is']), 'result');
    expect(imported).toHaveProperty('datasetDir');
    expectFinished(await digitsJson(['data', 'split', '--data', comp(), '--name', 'holdout', '--validation', '0.2']), 'result');
    expectFinished(await digitsJson(['data', 'inspect', '--data', comp(), '--count', '4']), 'result');
    const preview = expectFinished(await digitsJson(['augment', 'preview', '--data', comp(), '--rotation', '10', '--samples', '2', '--variants', '2']), 'result');
    // (--data's default is the working folder, as its help says and data inspect takes it)
    expect(expectFinished(await digitsJson(['augment', 'preview', '--samples', '1', '--variants', '1'], {}, comp()), 'result')).toMatchObject({ dataset: comp() });
    await mkdir(path.join(work, 'a-folder.png'), { recursive: true });
    // the preview reports what it drew, not an echo of its flags
    expect(preview.samples).toEqual([expect.objectContaining({ row: expect.any(Number), label: expect.any(Number), draws: 2 }), expect.anything()]);
    // (the label a number, the one the drawn row has: it was the caption text, "7")
    const inspected = expectFinished(await digitsJson(['data', 'inspect', '--data', comp(), '--count', '0']), 'result') as { train: { classCounts: number[] } };
    for (const sample of preview.samples as Array<{ label: number }>) expect(inspected.train.classCounts[sample.label]).toBeGreaterThan(0);
    // values that wreck the digits, hex, a floor above the top, a PNG into a folder: errors naming the flag, exit 2
    for (const [flags, message] of [
      [['--contrast', '1.8'], /--contrast.*must be a number from 0 to 1 \(the factor is 1 ± contrast\), got 1\.8/],
      [['--zoom', '0x1'], /--zoom.*must be a number, got 0x1/],
      [['--pixel-shift', '2.5'], /--pixel-shift.*must be a whole number from 0 to 14/],
      [['--elastic', '2', '--elastic-sigma', '0'], /--elastic-sigma.*must be a number above 0 and up to 14/],
      [['--background-noise', '0.5', '--background-noise-min', '0.8'], /--background-noise-min must be at most --background-noise \(0\.5\), got 0\.8/],
      [['--png', path.join(work, 'a-folder.png')], /cannot write .*a-folder\.png: it is a folder$/],
      [['--png', path.join(work, 'grid.jpg')], /grid\.jpg would hold a PNG image under another name/],
    ] as Array<[string[], RegExp]>) {
      const refused = await digitsJson(['augment', 'preview', '--data', comp(), '--samples', '1', '--variants', '1', ...flags]);
      expect(refused.code, flags.join(' ')).toBe(2);
      expect(expectFinished(refused, 'error').error).toMatch(message);
    }
    // (and nothing was written under the wrong name, nor any temp file left beside it)
    expect((await readdir(work)).filter((f) => f.startsWith('grid') || f.includes('.tmp'))).toEqual([]);
    // a fraction that rounds to no held-out row
    const split = await digitsJson(['data', 'split', '--data', comp(), '--name', 'none', '--validation', '0.001']);
    expect(expectFinished(split, 'error')).toMatchObject({ error: expect.stringMatching(/--validation 0\.001 holds out no row/), where: { flag: 'validation' }, hint: expect.stringMatching(/With 200 training rows, use a fraction of at least 0\.0025 and below 0\.9975/) });
  });

  test('train streams its events, then the run manifest as the last line; --epochs and --batch-size override the file', { timeout: 300_000 }, async () => {
    const outcome = await digitsJson(['train', '--data', comp(), '--ensemble', path.join(work, 'tiny.json'), '--run', runDir(), '--concurrency', '1', '--epochs', '1', '--batch-size', '16', '--seed', '9', '--learning-rate', '2e-3']);
    const result = expectFinished(outcome, 'result');
    const types = outcome.lines.map((l) => l.type);
    expect(types).toContain('start');
    expect(types).toContain('epoch');
    expect(types.indexOf('start')).toBeLessThan(types.indexOf('epoch'));
    expect(result.members).toEqual([expect.objectContaining({ ok: true, epochs: 1 })]);
    // one epoch in batches of 16 (the file says 3 epochs of 32)
    const start = outcome.lines.find((l) => l.type === 'start') as { epochs: number; batches: number; trainRows: number };
    expect(start.epochs).toBe(1);
    expect(start.batches).toBe(Math.ceil(start.trainRows / 16));
  });

  test('--folds over an ensemble file with another number of folds says it replaces them', { timeout: 300_000 }, async () => {
    await writeFile(path.join(work, 'cv3.json'), JSON.stringify({ name: 'cv3', validation: { kind: 'kfold', folds: 3 }, members: [{ preset: 'mlp', epochs: 1, batchSize: 32 }] }));
    const outcome = await digitsJson(['train', '--data', comp(), '--ensemble', path.join(work, 'cv3.json'), '--run', path.join(work, 'cv-run'), '--concurrency', '1', '--folds', '2']);
    const result = expectFinished(outcome, 'result');
    expect(outcome.lines.filter((l) => l.type === 'warning')).toEqual([{ type: 'warning', message: "--folds 2 replaces the 3 folds of ensemble cv3's validation" }]);
    expect(result.members).toHaveLength(2);
  });

  test('evaluate, submit, submissions, dashboard, report, corrections, export onnx, doctor', { timeout: 300_000 }, async () => {
    expectFinished(await digitsJson(['evaluate', '--run', runDir(), '--no-tta', '--precision', 'fp32']), 'result');
    const submitted = expectFinished(await digitsJson(['submit', '--run', runDir(), '--dir', path.join(work, 'subs'), '--precision', 'fp32']), 'result');
    expect(submitted.file).toBeTypeOf('string');
    const listed = expectFinished(await digitsJson(['submissions', '--dir', path.join(work, 'subs')]), 'result');
    expect(listed.submissions).toHaveLength(1);
    // without --dir, from another folder: the submission goes to the run's project (the folder above runs/)
    const elsewhere = path.join(work, 'submit-elsewhere');
    await mkdir(elsewhere, { recursive: true });
    const { stdout: away } = await exec(process.execPath, [bin, 'submit', '--run', runDir(), '--precision', 'fp32', '--json'], { cwd: elsewhere, env });
    expect(path.dirname(String(JSON.parse(away.trim().split('\n').at(-1)!).file))).toBe(path.join(work, 'submissions'));
    expect(await readdir(elsewhere)).toEqual([]);
    // a mistyped --dir is an error naming it, not "no submissions yet"
    const mistyped = await digitsJson(['submissions', '--dir', path.join(work, 'subz')]);
    expect(expectFinished(mistyped, 'error')).toMatchObject({ where: { flag: 'dir' } });
    expect(mistyped.code).toBe(2);
    expectFinished(await digitsJson(['dashboard', '--run', runDir()]), 'result');
    // the run's bare name, as `digits runs` lists it: the error names its folder
    const bare = expectFinished(await digitsJson(['dashboard', '--run', 'tiny']), 'error');
    expect(bare).toMatchObject({ error: `there is no folder ${path.join(work, 'tiny')}`, where: { flag: 'run' }, hint: `Did you mean --run ${path.join('runs', 'tiny')}? (--run takes the run's folder.)` });
    // a file of the run where its folder is meant: the error names the folder
    for (const command of ['dashboard', 'evaluate']) {
      const file = expectFinished(await digitsJson([command, '--run', path.join(runDir(), 'run.json')]), 'error');
      expect(file, command).toMatchObject({ error: `--run takes a run's folder, and ${path.join(runDir(), 'run.json')} is a file`, where: { flag: 'run' }, hint: `Did you mean --run ${runDir()}?` });
    }
    // a stray file, in no run: said to be a file, and no folder suggested (its folder is not a run)
    const stray = path.join(work, 'notes.txt');
    await writeFile(stray, 'not a run\n');
    for (const argv of [['evaluate', '--run', stray], ['run', '--resume', '--run', stray]]) {
      const refused = expectFinished(await digitsJson(argv), 'error');
      expect(refused, argv[0]).toMatchObject({ error: `--run takes a run's folder, and ${stray} is a file`, where: { flag: 'run' }, hint: expect.stringMatching(/^Name a run folder/) });
    }
    expect(expectFinished(await digitsJson(['runs', '--runs-dir', stray]), 'error')).toMatchObject({ error: `--runs-dir ${stray} is a file, not a folder`, where: { flag: 'runs-dir' } });
    expectFinished(await digitsJson(['report', '--run', runDir(), '--out', path.join(work, 'report.html')]), 'result');
    // no corrections were collected: an error the user can read, still one JSON line
    const corrections = await digitsJson(['corrections', '--run', runDir()]);
    expectFinished(corrections, corrections.code === 0 ? 'result' : 'error');
    const member = (await readdir(runDir(), { withFileTypes: true })).find((e) => e.isDirectory())!.name;
    const exported = expectFinished(await digitsJson(['export', 'onnx', path.join(runDir(), member, 'best'), '--images', '8']), 'result');
    expect(exported.parity).toMatchObject({ ok: true, precision: 'fp32' });
    // the help example's shipped checkpoint, named from a folder that has no checkpoints/ of its own
    const shipped = expectFinished(await digitsJson(['export', 'onnx', 'checkpoints/mnist-clean/seed002', '--images', '2']), 'result');
    expect(shipped.path).toBe(path.join(repoRoot, 'checkpoints', 'mnist-clean', 'seed002', 'model.onnx'));
    expectFinished(await digitsJson(['doctor', '--seconds', '0', '--backend', 'cpu']), 'result');
  });

  test('a damaged run (a member checkpoint incomplete, run.json torn): evaluate and serve give one error line naming the file, exit 2, not an internal error', { timeout: 300_000 }, async () => {
    // Given a copy of the trained run whose first member lost its COMPLETE marker
    const damaged = path.join(work, 'runs', 'damaged');
    await cp(runDir(), damaged, { recursive: true });
    const member = (await readdir(damaged, { withFileTypes: true })).find((e) => e.isDirectory())!.name;
    await rm(path.join(damaged, member, 'best', 'COMPLETE'));
    for (const argv of [['evaluate', '--run', damaged], ['serve', '--run', damaged, '--port', '0', '--workers', '0']]) {
      const outcome = await digitsJson(argv);
      const error = expectFinished(outcome, 'error');
      expect(outcome.code, argv[0]).toBe(2);
      expect(error).toMatchObject({ error: expect.stringMatching(/incomplete/), where: { file: path.join(damaged, member, 'best', 'COMPLETE') } });
    }
    // And a run.json cut short: its line and column
    const text = await readFile(path.join(runDir(), 'run.json'), 'utf8');
    await writeFile(path.join(damaged, 'run.json'), text.slice(0, 200));
    const outcome = await digitsJson(['evaluate', '--run', damaged]);
    const error = expectFinished(outcome, 'error');
    expect(outcome.code).toBe(2);
    const lines = text.slice(0, 200).split('\n');
    expect(error).toMatchObject({ error: expect.stringMatching(/run\.json is not valid JSON/), where: { file: path.join(damaged, 'run.json'), line: lines.length } });
  });

  test('serve: "listening" first, the result after SIGTERM last', async () => {
    const child = spawn(process.execPath, [bin, 'serve', '--run', runDir(), '--port', '0', '--workers', '0', '--json'], { cwd: work, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    while (!stdout.includes('\n') && child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string });
    expect(lines.map((l) => l.type)).toEqual(['listening', 'result']);
  });

  test('pretrain streams its events and ends with its result', { timeout: 300_000 }, async () => {
    const pretrain = await digitsJson(['pretrain', '--preset', 'mlp', '--epochs', '1', '--limit', '200', '--out', path.join(work, 'pre')]);
    expectFinished(pretrain, 'result');
    expect(pretrain.lines.map((l) => l.type)).toContain('epoch');
    // (no batch events, as in train: the first one was streamed until session 43)
    expect(pretrain.lines.map((l) => l.type)).not.toContain('batch');
  });

  test('run streams its stages and events and ends with its result', { timeout: 300_000 }, async () => {
    // A fresh competition: run imports it itself (detecting the orientation), which would not match the as-is cache above
    const fresh = path.join(work, 'comp-run');
    expectFinished(await digitsJson(['data', 'practice', '--recipe', 'uniform', '--train', '200', '--test', '30', '--out', fresh]), 'result');
    // an ensemble file whose "name" is not its file name: the run is named after the ensemble, as train names it
    await writeFile(path.join(work, 'file-name.json'), JSON.stringify({ name: 'named', members: [{ preset: 'mlp', epochs: 3, batchSize: 32 }] }));
    const run = await digitsJson(['run', '--data', fresh, '--ensemble', path.join(work, 'file-name.json'), '--concurrency', '1', '--precision', 'fp32', '--epochs', '1']);
    expect(path.basename(String(expectFinished(run, 'result').runDir))).toMatch(/^named-\d{8}-\d{6}$/);
    expect(run.lines.filter((l) => l.type === 'stage').length).toBeGreaterThan(2);
  });

  test('runs, runs compare and search end with their result', { timeout: 300_000 }, async () => {
    const runs = expectFinished(await digitsJson(['runs', '--runs-dir', path.join(work, 'runs'), '--submissions', path.join(work, 'subs')]), 'result');
    expect((runs as unknown as { runs: Array<{ name: string }> }).runs.map((r) => r.name)).toContain('tiny');
    expectFinished(await digitsJson(['runs', 'compare', 'tiny', 'tiny', '--runs-dir', path.join(work, 'runs'), '--submissions', path.join(work, 'subs')]), 'result');
    await writeFile(path.join(work, 'space.json'), JSON.stringify({ preset: 'mlp', start: 'scratch', optimizer: 'adam', learningRate: { min: 1e-3, max: 1e-2, log: true }, epochs: 1, batchSize: 32 }));
    const search = await digitsJson(['search', '--data', comp(), '--space', path.join(work, 'space.json'), '--trials', '2', '--concurrency', '1', '--out', path.join(work, 'search')]);
    expectFinished(search, 'result');
    expect(search.lines.filter((l) => l.type === 'leaderboard')).toHaveLength(2);
  });

  test('train stopped by Ctrl-C: the error line last, saying how to resume, and death by SIGINT; --resume goes on from the saved epoch', { timeout: 300_000 }, async () => {
    const interrupted = path.join(work, 'runs', 'interrupted');
    // Given a long training, interrupted after its first epoch
    const first = await interrupt(['train', '--data', comp(), '--ensemble', path.join(work, 'tiny.json'), '--run', interrupted, '--concurrency', '1', '--epochs', '100000'], hasEpoch);
    // Then it died by the signal, and its last line is the error, saying how to continue
    expect(first.signal).toBe('SIGINT');
    const last = first.lines.at(-1)!;
    expect(last).toMatchObject({ type: 'error', error: expect.stringMatching(/interrupted \(SIGINT\)/), hint: expect.stringContaining(`digits train --resume --run ${path.join('runs', 'interrupted')}`) });
    expect(first.lines.filter((l) => l.type === 'error' || l.type === 'result')).toHaveLength(1);
    // And the command it names continues from a saved epoch
    const second = await interrupt(['train', '--resume', '--run', interrupted], hasEpoch);
    const start = second.lines.find((l) => l.type === 'start') as { resumedAt: number };
    expect(start.resumedAt).toBeGreaterThan(0);
    expect(second.lines.at(-1)).toMatchObject({ type: 'error', hint: expect.stringContaining('--resume') });
  });

  test('pretrain stopped by Ctrl-C publishes no checkpoint and says how to resume; resumed from another folder it goes on, and a second one into the same --out is refused there', { timeout: 300_000 }, async () => {
    const out = path.join(work, 'pre-interrupted');
    const elsewhere = path.join(work, 'elsewhere');
    await mkdir(elsewhere);
    const argv = ['pretrain', '--preset', 'mlp', '--limit', '300', '--epochs', '100000', '--out', out];
    // Given a long pretraining, interrupted after its first epoch
    const first = await interrupt(argv, hasEpoch);
    // Then it died by the signal, its last line says how to continue, and no half-trained checkpoint was published
    expect(first.signal).toBe('SIGINT');
    expect(first.lines.at(-1)).toMatchObject({ type: 'error', error: expect.stringMatching(/interrupted \(SIGINT\)/), hint: expect.stringContaining(`--out ${out} --json --resume`) });
    await expect(readdir(out)).rejects.toMatchObject({ code: 'ENOENT' });
    // When it is resumed from another working folder, and meanwhile a second one into the same --out starts from the first folder
    let refused: Outcome | undefined;
    const second = await interrupt([...argv, '--resume'], hasEpoch, { cwd: elsewhere, meanwhile: async () => void (refused = await digitsJson(argv)) });
    // Then the resumed one went on from a saved epoch, and the other was refused, naming --out
    expect((second.lines.find((l) => l.type === 'start') as { resumedAt: number }).resumedAt).toBeGreaterThan(0);
    expect(expectFinished(refused!, 'error')).toMatchObject({ error: expect.stringContaining(`a pretraining into ${out} is already running`), where: { flag: 'out' } });
  });

  test('pretrain answers Ctrl-C in the middle of an epoch, not at its end', { timeout: 300_000 }, async () => {
    // Given an epoch of 860 batches of seed002 (minutes), interrupted once its first batch is
    // reported (on stderr: --json streams no batch events)
    const argv = ['pretrain', '--preset', 'seed002', '--limit', '60000', '--epochs', '2', '--out', path.join(work, 'pre-mid-epoch')];
    const child = spawn(process.execPath, [bin, ...argv], { cwd: work, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    while (child.exitCode === null && !/: epoch 1 batch \d+\//.test(stderr)) await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGINT');
    // Then it stopped at once: no epoch ended, and no second batch line came (they come every
    // 30 s; a stop at the epoch's end, a minute on, printed two or three)
    expect(await exited).toBe('SIGINT');
    expect(stderr).toMatch(/interrupted \(SIGINT\)/);
    expect(stderr).not.toMatch(/: epoch 1\/2 /);
    expect(stderr.match(/: epoch 1 batch /g)).toHaveLength(1);
    // and with no epoch finished there is nothing to resume: the hint says to start it again (--resume would be refused)
    const hint = stderr.split('\n').find((line) => line.includes('hint:'));
    expect(hint).toMatch(/It stopped before its first epoch ended, so there is nothing to resume: run `digits pretrain .* --out .*pre-mid-epoch.*` again to start it\.$/);
    expect(hint).not.toContain('--resume');
  });

  test('a resumed pretraining records the time of every session and the command that started it, with the resume', { timeout: 300_000 }, async () => {
    const out = path.join(work, 'sessions', 'pre');
    const argv = ['pretrain', '--preset', 'mlp', '--limit', '300', '--epochs', '3', '--out', out];
    // Given a pretraining interrupted after its first epoch
    const first = await interrupt(argv, hasEpoch);
    expect(first.signal).toBe('SIGINT');
    const workDir = path.join(work, 'sessions', '.digits', 'pretrain', 'mlp');
    const [key] = await readdir(workDir);
    const sessionsFile = path.join(workDir, key!, 'sessions.json');
    const recorded = JSON.parse(await readFile(sessionsFile, 'utf8')) as { command: string; resumedBy: string[]; seconds: number };
    expect(recorded).toMatchObject({ command: expect.stringMatching(/^digits pretrain .*--epochs 3 .*--json$/), resumedBy: [] });
    // (as if its first session had taken 1000 s)
    await writeFile(sessionsFile, JSON.stringify({ ...recorded, seconds: 1000 }));
    // When it is resumed to its end
    const second = await digitsJson([...argv, '--resume']);
    const result = expectFinished(second, 'result') as { seconds: number };
    // Then the checkpoint and the result count both sessions, and keep the first command with the resume
    expect(result.seconds).toBeGreaterThanOrEqual(1000);
    const metadata = JSON.parse(await readFile(path.join(out, 'metadata.json'), 'utf8')) as { command: string; resumedBy: string[]; metrics: { seconds: number } };
    expect(metadata.metrics.seconds).toBeGreaterThanOrEqual(1000);
    expect(metadata.command).toBe(recorded.command);
    expect(metadata.resumedBy).toEqual([expect.stringMatching(/^digits pretrain .*--resume --json$/)]);
    // and nothing is left to resume
    expect(existsSync(sessionsFile)).toBe(false);
  });

  test('queue status and worker with a Redis nobody listens on: one error line naming --redis (the status itself: test/services/queue.test.ts)', async () => {
    for (const command of [['queue', 'status'], ['worker']]) {
      const outcome = await digitsJson([...command, '--redis', 'redis://127.0.0.1:1']);
      const error = expectFinished(outcome, 'error');
      expect(outcome.lines).toHaveLength(1);
      expect(error.error).toMatch(/cannot reach Redis at redis:\/\/127\.0\.0\.1:1/);
      expect(error.where).toEqual({ flag: 'redis' });
    }
  });

  test('run with DIGITS_QUEUE exported says that it trains here (it has no queue), the password hidden', { timeout: 120_000 }, async () => {
    const outcome = await digitsJson(['run', '--data', comp(), '--answers', path.join(work, 'no-such-answers.csv')], { DIGITS_QUEUE: 'redis://:s3cret@127.0.0.1:1' });
    expect(outcome.lines[0]).toEqual({ type: 'warning', message: expect.stringMatching(/^DIGITS_QUEUE is set \(redis:\/\/:\*\*\*@127\.0\.0\.1:1\), but digits run trains on this machine/) });
    expect(JSON.stringify(outcome.lines)).not.toContain('s3cret');
  });

  test('run --run without --resume: one error line naming --run, nothing trained', async () => {
    const outcome = await digitsJson(['run', '--data', comp(), '--run', path.join(work, 'runs', 'new')]);
    const error = expectFinished(outcome, 'error');
    expect(outcome.lines).toHaveLength(1);
    expect(error).toMatchObject({ error: expect.stringMatching(/needs --resume/), where: { flag: 'run' } });
    await expect(readdir(path.join(work, 'runs', 'new'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  test('run --preset with an ensemble other than auto: one error line naming --preset, nothing trained', async () => {
    const outcome = await digitsJson(['run', '--data', comp(), '--ensemble', 'quick', '--preset', 'deotte']);
    const error = expectFinished(outcome, 'error');
    expect(outcome.lines).toHaveLength(1);
    expect(error.error).toMatch(/--preset chooses the network of the auto ensemble/);
    expect(error.where).toEqual({ flag: 'preset' });
  });

  test('run --pseudo-label --folds: one error line naming --folds, nothing built or trained', async () => {
    const both = await digitsJson(['run', '--data', comp(), '--pseudo-label', '--folds', '3']);
    const error = expectFinished(both, 'error');
    expect(both.lines).toHaveLength(1);
    expect(both.code).toBe(2);
    expect(error.error).toBe('--pseudo-label does not combine with --folds');
    expect(error.where).toEqual({ flag: 'folds' });
  });

  test('--resume: flags that configure a new run are refused, naming the flag; a finished training run is not trained again', async () => {
    const epochs = await digitsJson(['train', '--resume', '--run', runDir(), '--epochs', '3']);
    expect(expectFinished(epochs, 'error')).toMatchObject({ error: '--epochs configures a new run; --resume continues the run as its run.json recorded it', where: { flag: 'epochs' } });
    expect(epochs.code).toBe(2);
    const folds = await digitsJson(['run', '--resume', '--run', runDir(), '--folds', '3']);
    expect(expectFinished(folds, 'error')).toMatchObject({ where: { flag: 'folds' } });
    const finished = await digitsJson(['train', '--resume', '--run', runDir()]);
    expect(expectFinished(finished, 'error')).toMatchObject({ error: 'run tiny already finished: its member is trained', where: { flag: 'run' } });
    expect(finished.lines).toHaveLength(1);
    // a copy whose member's checkpoint was deleted: --resume says it does not train it again, and what to do
    const copy = path.join(work, 'runs', 'tiny-lost');
    await cp(runDir(), copy, { recursive: true });
    const { members } = JSON.parse(await readFile(path.join(copy, 'run.json'), 'utf8')) as { members: Array<{ name: string; checkpoint: string }> };
    await rm(path.join(copy, members[0]!.checkpoint), { recursive: true });
    const lost = expectFinished(await digitsJson(['train', '--resume', '--run', copy]), 'error');
    expect(lost).toMatchObject({ error: `run tiny-lost finished training, but the checkpoint of ${members[0]!.name} (${members[0]!.checkpoint}) is gone`, where: { flag: 'run' }, hint: expect.stringMatching(/^--resume does not train a finished member again: restore that folder from a copy, or train a new run/) });
    await rm(copy, { recursive: true });
  });

  test('run --budget with an ensemble other than auto: one error line naming --budget (it was ignored)', async () => {
    const outcome = await digitsJson(['run', '--data', comp(), '--ensemble', 'quick', '--budget', '5']);
    const error = expectFinished(outcome, 'error');
    expect(outcome.lines).toHaveLength(1);
    expect(outcome.code).toBe(2);
    expect(error).toMatchObject({ error: '--budget plans the auto ensemble', where: { flag: 'budget' } });
  });

  test('run --folds 1, and --folds 0 with an ensemble other than auto: one error line naming --folds, nothing trained', async () => {
    const one = await digitsJson(['run', '--data', comp(), '--folds', '1']);
    expect(one.lines).toHaveLength(1);
    expect(one.code).toBe(2);
    expect(expectFinished(one, 'error')).toMatchObject({ error: expect.stringMatching(/^--folds 1 is not cross-validation/), where: { flag: 'folds' }, hint: expect.stringContaining('--folds 0 for a 10% holdout') });
    const zero = await digitsJson(['run', '--data', comp(), '--ensemble', 'quick', '--folds', '0']);
    expect(zero.lines).toHaveLength(1);
    expect(expectFinished(zero, 'error')).toMatchObject({ error: expect.stringMatching(/^--folds 0 turns off the auto ensemble's default k-fold/), where: { flag: 'folds' } });
  });

  test('run --synthetic-rows with an ensemble other than auto: one error line naming --synthetic-rows, nothing trained', async () => {
    const outcome = await digitsJson(['run', '--data', comp(), '--ensemble', 'quick', '--synthetic-rows', '1000']);
    const error = expectFinished(outcome, 'error');
    expect(outcome.lines).toHaveLength(1);
    expect(error.error).toMatch(/--synthetic-rows works with the auto ensemble/);
    expect(error.where).toEqual({ flag: 'synthetic-rows' });
  });

  test('a mistyped command or flag: the closest one suggested, in the one error format, exit 2 (with and without --json)', async () => {
    const json = await digitsJson(['trian', '--data', comp()]);
    const error = expectFinished(json, 'error');
    expect(json.lines).toHaveLength(1);
    expect(json.code).toBe(2);
    expect(error).toMatchObject({ error: 'trian is not a digits command', hint: expect.stringContaining('did you mean `digits train`?') });
    const plain = (argv: string[]) =>
      exec(process.execPath, [bin, ...argv], { cwd: work, env }).then(
        () => ({ code: 0, stderr: '' }),
        (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
      );
    const command = await plain(['data', 'imprt', comp()]);
    expect(command.code).toBe(2);
    // (the words after it kept, so the suggestion can be pasted)
    expect(command.stderr).toContain(`error: data imprt is not a digits command\n  hint: did you mean \`digits data import ${comp()}\`?`);
    // a whole command given an argument it does not take (oclif read "data inspect comp" as one command): the argument is named, with the flag it may be meant for
    const extra = expectFinished(await digitsJson(['data', 'inspect', comp()]), 'error');
    expect(extra).toMatchObject({ error: `\`digits data inspect\` takes no argument, and was given "${comp()}"`, hint: `did you mean \`digits data inspect --data ${comp()}\`? \`digits data inspect --help\` lists its flags.` });
    const doctor = await plain(['doctor', 'extra']);
    expect(doctor.code).toBe(2);
    expect(doctor.stderr).toMatch(/^error: `digits doctor` takes no argument, and was given "extra"\n {2}hint: `digits doctor --help` lists its flags\./);
    // with --help too (oclif printed its raw "Command trian not found", and under --json a topic's catalog, exit 0)
    const helped = await plain(['trian', '--help']);
    expect(helped.code).toBe(2);
    expect(helped.stderr).toMatch(/^error: trian is not a digits command\n {2}hint: did you mean `digits train`\?/);
    const helpedJson = await digitsJson(['data', 'improt', '--help']);
    expect(helpedJson.code).toBe(2);
    expect(expectFinished(helpedJson, 'error')).toMatchObject({ error: 'data improt is not a digits command', hint: expect.stringContaining('did you mean `digits data import`?') });
    // a topic, the version flag, and a command below a command are suggested too
    expect((await plain(['dta'])).stderr).toContain('did you mean `digits data`?');
    // a topic typed right and its command wrong beyond a guess: the command is named, and the topic's help (until session 45: "data is not a digits command; did you mean `digits data im comp`?")
    expect((await plain(['data', 'i', 'comp'])).stderr).toMatch(/^error: data i is not a digits command\n {2}hint: `digits help data` lists the data commands\.$/m);
    // …and a beginning of exactly one of its commands names that one (until session 48 only the topic's help)
    expect((await plain(['data', 'im', 'comp'])).stderr).toMatch(/^error: data im is not a digits command\n {2}hint: did you mean `digits data import comp`\? `digits help data` lists the data commands\.$/m);
    expect((await plain(['data', 'prac'])).stderr).toMatch(/^error: data prac is not a digits command\n {2}hint: did you mean `digits data practice`\? /m);
    for (const typed of ['version', '--verison']) expect((await plain([typed])).stderr, typed).toContain('did you mean `digits --version`?');
    // with --help after a command's mistyped subcommand, and with flag values after a typo (not taken for arguments)
    expect((await plain(['runs', 'compar', 'a', 'b', '--help'])).stderr).toMatch(/^error: runs compar is not a digits command\n {2}hint: did you mean `digits runs compare a b`\?/);
    expect((await plain(['trian', '--run', 'r', '--help'])).stderr).toMatch(/^error: trian is not a digits command\n {2}hint: did you mean `digits train`\? /);
    // the words after a typo as the suggested command takes them: an argument it lacks goes after the flag it fits
    expect((await plain(['evalute', 'runs/x'])).stderr).toContain('did you mean `digits evaluate --run runs/x`?');
    const below = await plain(['runs', 'compar', 'a', 'b']);
    expect(below.code).toBe(2);
    expect(below.stderr).toMatch(/^error: runs compar is not a digits command\n {2}hint: did you mean `digits runs compare a b`\?/);
    const flag = await plain(['run', '--answer', 'x.csv']);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(/did you mean --answers\?/);
    // a value outside a flag's options: the closest option
    const value = await plain(['data', 'practice', '--recipe', 'mnistc-fgo', '--out', path.join(work, 'never')]);
    expect(value.code).toBe(2);
    expect(value.stderr).toMatch(/to be one of: .*\(flag --recipe\)\n {2}hint: did you mean mnistc-fog\? /);
    expect((await plain(['data', 'practice', '--recipe', 'zzzzzzzz', '--out', path.join(work, 'never')])).stderr).not.toMatch(/did you mean/);
    // nothing close: no guess
    expect((await plain(['zzzzzzzz'])).stderr).not.toMatch(/did you mean/);
    // flags that --preview would ignore are refused, in one line, and no PNG is written
    const png = path.join(work, 'preview-refused.png');
    const both = await plain(['data', 'practice', '--preview', png, '--train', '100']);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/^error: --train=100 cannot also be provided when using --preview \(flag --train\)\n/);
    expect(existsSync(png)).toBe(false);
  });

  test('help --json: every command with its arguments and flags as data; one command; a topic; an unknown one is an error naming the closest', async () => {
    const all = await digitsJson(['help']);
    const catalog = expectFinished(all, 'result') as unknown as { bin: string; topics: Array<{ name: string }>; commands: Array<{ id: string; summary?: string; flags: Array<{ name: string; type: string; default?: unknown; options?: string[] }> }> };
    expect(all.lines).toHaveLength(1);
    expect(catalog.bin).toBe('digits');
    const ids = catalog.commands.map((c) => c.id);
    for (const id of ['run', 'train', 'data practice', 'runs compare', 'help']) expect(ids).toContain(id);
    expect(catalog.topics.map((t) => t.name)).toContain('data');
    expect(catalog.commands.every((c) => typeof c.summary === 'string' && c.summary.length > 0)).toBe(true);
    const run = catalog.commands.find((c) => c.id === 'run')!;
    expect(run.flags.find((f) => f.name === 'folds')).toMatchObject({ type: 'option' });
    expect(run.flags.find((f) => f.name === 'pseudo-label')).toMatchObject({ type: 'boolean' });
    expect(run.flags.find((f) => f.name === 'budget')).toMatchObject({ type: 'option', description: expect.stringContaining('default 20') });
    const one = expectFinished(await digitsJson(['help', 'data', 'practice']), 'result') as unknown as typeof catalog;
    expect(one.commands.map((c) => c.id)).toEqual(['data practice']);
    expect(one.commands[0]!.flags.find((f) => f.name === 'recipe')!.options).toContain('mnistc-fog');
    const topic = expectFinished(await digitsJson(['help', 'runs']), 'result') as unknown as typeof catalog;
    expect(topic.commands.map((c) => c.id)).toEqual(['runs']);
    const data = expectFinished(await digitsJson(['help', 'data']), 'result') as unknown as typeof catalog;
    expect(data.commands.map((c) => c.id)).toEqual(expect.arrayContaining(['data import', 'data practice', 'data split']));
    // a topic with --json, and --json alone: the same catalogs, one result line (text help and an error before)
    const topicJson = await digitsJson(['data']);
    expect(topicJson.lines).toHaveLength(1);
    expect((expectFinished(topicJson, 'result') as unknown as typeof catalog).commands.map((c) => c.id)).toEqual(data.commands.map((c) => c.id));
    const alone = await digitsJson([]);
    expect(alone.lines).toHaveLength(1);
    expect((expectFinished(alone, 'result') as unknown as typeof catalog).commands.map((c) => c.id)).toEqual(ids);
    const unknown = await digitsJson(['help', 'trian']);
    expect(expectFinished(unknown, 'error')).toMatchObject({ error: 'trian is not a digits command or topic', hint: expect.stringContaining('did you mean `digits help train`?') });
    expect(unknown.code).toBe(2);
    // and without --json, oclif's help text as before
    const { stdout } = await exec(process.execPath, [bin, 'help', 'run'], { cwd: work, env });
    expect(stdout).toContain('$ digits run');
    expect(stdout).toContain('--folds=<value>');
    // `<command> --help --json` (flag values among the words too): that command's catalog, as `help <command> --json` prints it
    for (const [argv, ids] of [
      [['runs', 'compare', '--help'], ['runs compare']],
      [['train', '--data', 'comp', '-h'], ['train']],
    ] as Array<[string[], string[]]>) {
      const viaFlag = expectFinished(await digitsJson(argv), 'result') as unknown as typeof catalog;
      expect(viaFlag.commands.map((c) => c.id), argv.join(' ')).toEqual(ids);
    }
    expect((expectFinished(await digitsJson(['data', '--help']), 'result') as unknown as typeof catalog).topics.map((t) => t.name)).toEqual(['data']);
    // a command under a topic, as typed (words): that command's help, not the topic's
    const nested = await exec(process.execPath, [bin, 'help', 'runs', 'compare'], { cwd: work, env });
    expect(nested.stdout).toContain('$ digits runs compare A B');
    expect((await exec(process.execPath, [bin, 'help', 'data', 'practice'], { cwd: work, env })).stdout).toContain('$ digits data practice');
    // the help command's own usage when it is the one asked about (oclif printed the root help)
    for (const argv of [['help', '-h'], ['help', '--help'], ['help', 'help']]) {
      const own = await exec(process.execPath, [bin, ...argv], { cwd: work, env });
      expect(own.stdout, argv.join(' ')).toContain('$ digits help [COMMAND...] [--json] [-n]');
    }
    expect((await exec(process.execPath, [bin, 'help'], { cwd: work, env })).stdout).toContain('TOPICS');
  });

  test("oclif's own parse errors (a bad value, flags that exclude each other) in the one error format, naming the flag", async () => {
    const bad = await digitsJson(['train', '--data', comp(), '--epochs', 'abc']);
    expect(expectFinished(bad, 'error')).toMatchObject({ error: '--epochs: expected an integer but received: abc', where: { flag: 'epochs' } });
    expect(bad.code).toBe(2);
    // a bad value from the environment (no flag typed) says where it came from
    const fromEnv = await exec(process.execPath, [bin, 'data', 'split', '--data', comp(), '--json'], { cwd: work, env: { ...env, DIGITS_SEED: 'abc' } }).then(
      () => null,
      (e: { code: number; stdout: string }) => ({ code: e.code, line: JSON.parse(e.stdout.trim().split('\n').at(-1)!) as Record<string, unknown> }),
    );
    expect(fromEnv?.code).toBe(2);
    expect(fromEnv?.line).toMatchObject({ type: 'error', error: '--seed: expected an integer but received: abc (from the environment: DIGITS_SEED=abc)', hint: 'Fix or unset DIGITS_SEED, or give --seed on the command line.', where: { flag: 'seed' } });
    // and so does our own error about a value the environment gave (DIGITS_DATA, DIGITS_QUEUE with its password hidden)
    const fail = (argv: string[], extra: Record<string, string>) =>
      exec(process.execPath, [bin, ...argv, '--json'], { cwd: work, env: { ...env, ...extra } }).then(
        () => null,
        (e: { code: number; stdout: string }) => ({ code: e.code, line: JSON.parse(e.stdout.trim().split('\n').at(-1)!) as { error: string; hint: string; where: unknown } }),
      );
    const data = await fail(['data', 'inspect'], { DIGITS_DATA: 'nope' });
    expect(data?.code).toBe(2);
    expect(data?.line.error).toMatch(/nope.* \(from the environment: DIGITS_DATA=nope\)$/);
    expect(data?.line.hint).toMatch(/--data came from DIGITS_DATA: fix or unset it, or give --data on the command line\.$/);
    const queue = await fail(['train', '--data', comp()], { DIGITS_QUEUE: 'redis://:secret@127.0.0.1:1' });
    expect(queue?.line.error).toMatch(/\(from the environment: DIGITS_QUEUE=redis:\/\/:\*\*\*@127\.0\.0\.1:1\)$/);
    expect(JSON.stringify(queue?.line)).not.toContain('secret');
    expect(queue?.line.hint).toContain('--queue came from DIGITS_QUEUE: fix or unset it');
    // (typed on the command line, the same error says nothing of the environment)
    const typed = await fail(['data', 'inspect', '--data', 'nope'], { DIGITS_DATA: 'other' });
    expect(typed?.line.error).not.toContain('from the environment');
    // --space's example path (spaces/default.json) is the package's when the working folder has none: read, it gets as far as the data
    const space = await digitsJson(['search', '--data', path.join(work, 'not-imported'), '--space', 'spaces/default.json', '--trials', '1']);
    expect(expectFinished(space, 'error')).toMatchObject({ where: { flag: 'data' } });
    const noSpace = await digitsJson(['search', '--data', comp(), '--space', 'spaces/nope.json', '--trials', '1']);
    expect(expectFinished(noSpace, 'error')).toMatchObject({ error: `no space file ${path.join(work, 'spaces', 'nope.json')}`, where: { flag: 'space' } });
    // our own flag parser (--learning-rate) fails the same way, not as an internal error (exit 70)
    for (const command of ['train', 'run']) {
      const rate = await digitsJson([command, '--data', comp(), '--learning-rate', '0']);
      expect(expectFinished(rate, 'error')).toMatchObject({ error: '--learning-rate: expected a number > 0 (for example 1e-3), got 0', where: { flag: 'learning-rate' } });
      expect(rate.code).toBe(2);
    }
    const both = await digitsJson(['data', 'split', '--data', comp(), '--folds', '3', '--validation', '0.2']);
    expect(expectFinished(both, 'error')).toMatchObject({ error: '--folds=3 cannot also be provided when using --validation; --validation=0.2 cannot also be provided when using --folds', where: { flag: 'folds' } });
    // a boolean given both ways is refused as a flag given twice is (oclif took the last in silence)
    const both2 = await digitsJson(['data', 'import', comp(), '--header', '--no-header']);
    expect(both2.code).toBe(2);
    expect(expectFinished(both2, 'error')).toMatchObject({ error: '--header and --no-header are both given', where: { flag: 'header' } });
    // an empty value (an unset shell variable) is refused: `runs --runs-dir ""` listed the working folder
    for (const args of [['runs', '--runs-dir', ''], ['train', '--data=', '--ensemble', 'quick']]) {
      const empty = await digitsJson(args);
      expect(empty.code, args.join(' ')).toBe(2);
      const flag = args[1]!.replace(/^--|=$/g, '');
      expect(expectFinished(empty, 'error')).toMatchObject({ error: `--${flag} is given an empty value`, where: { flag }, hint: `Give --${flag} a path (the working folder is .), or leave it out for its default.` });
    }
    // and a flag of choices is told them, another value flag to take a value (until session 43 both were told of paths)
    const choices = await digitsJson(['evaluate', '--precision', '']);
    expect(expectFinished(choices, 'error')).toMatchObject({ error: '--precision is given an empty value', hint: 'Give --precision one of auto, fp32, int8, or leave it out for its default.' });
    const value = await digitsJson(['run', '--budget=']);
    expect(expectFinished(value, 'error')).toMatchObject({ error: '--budget is given an empty value', hint: 'Give --budget a value, or leave it out for its default.' });
    // (a required flag has no default: `worker --redis ""` was told to leave it out)
    const required = await digitsJson(['worker', '--redis', '']);
    expect(expectFinished(required, 'error')).toMatchObject({ error: '--redis is given an empty value', hint: 'Give --redis a value.' });
    // and a name flag is told to take a name, not a path
    for (const args of [['submit', '--name', ''], ['data', 'split', '--data', comp(), '--name=']]) {
      const empty = await digitsJson(args);
      expect(empty.code, args.join(' ')).toBe(2);
      expect(expectFinished(empty, 'error')).toMatchObject({ error: '--name is given an empty value', where: { flag: 'name' }, hint: 'Give --name a name (for example --name first-try), or leave it out for its default.' });
    }
    // a missing argument names no flag (oclif's text lists the usage's flags after it)
    const missing = await digitsJson(['runs', 'compare']);
    // (each argument named as the usage writes it, with its description: they were glued as "a  A run name…; b  The other run.")
    expect(expectFinished(missing, 'error')).toMatchObject({ error: 'missing 2 arguments: <a> (a run name under --runs-dir, or a run folder) and <b> (the other run)', where: null });
    // and without --json: our `error: … (flag --x)` and hint lines, not oclif's block
    const plain = await exec(process.execPath, [bin, 'serve', '--port', '99999'], { cwd: work, env }).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
    );
    expect(plain.code).toBe(2);
    expect(plain.stderr).toBe('error: --port: expected an integer less than or equal to 65535 but received: 99999 (flag --port)\n  hint: `digits serve --help` shows the usage.\n');
  });

  test.each(['data practice', 'data import', 'data split', 'data inspect', 'augment preview', 'pretrain', 'train', 'run', 'evaluate', 'submit', 'submissions', 'dashboard', 'report', 'corrections', 'serve', 'export onnx', 'doctor', 'runs', 'runs compare', 'search', 'worker', 'queue status'])(
    'digits %s with a mistyped flag: one error line naming it, exit 2',
    async (command) => {
      const outcome = await digitsJson([...command.split(' '), '--no-such-flag']);
      const error = expectFinished(outcome, 'error');
      expect(outcome.lines).toHaveLength(1);
      expect(outcome.code).toBe(2);
      expect(error.where).toEqual({ flag: 'no-such-flag' });
    },
  );
});
