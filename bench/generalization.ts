/**
 * `npm run bench:generalization`: how the product's default `digits run` does on competitions
 * whose corruption is not the one it was built on, against a from-scratch baseline trained by
 * our own trainer on the same files (issue 13, item 1). For each recipe:
 *
 *  1. builds the practice competition (`digits data practice` service; train rows from MNIST
 *     train, test rows from t10k, answers beside the folder) and imports it with the CLI
 *     (`digits data import`, which detects the orientation as `digits run` does);
 *  2. runs the default main job as a user would: `node bin/run.js run --data <dir> --answers
 *     <answers> --json` (whatever ensemble is the default), in its own folder; records the
 *     submission's test accuracy and the wall-clock seconds;
 *  3. trains the baseline: one `seed002` member from scratch (no `init`), RMSprop 1e-3 constant,
 *     rotation ±10°, width/height shifts ±10%, batch 64, 15 epochs, best weights by validation
 *     loss on the default shared 10% holdout (`digits train --ensemble <file>`), then scores it
 *     once on the answers: `digits evaluate --no-tta --precision fp32` (plain fp32 predictions,
 *     as a plain PyTorch script would make them);
 *     With `--baseline-seeds 2,3,4` it trains one such baseline per seed (the member's seed:
 *     initial weights, shuffling, augmentation; the holdout stays the same) and compares with
 *     their mean accuracy: one baseline run varies by about 0.4 points from seed to seed;
 *  4. prints per recipe: accuracy of both, seconds of both, the difference (default − baseline,
 *     in points), and the average difference; a table on stderr, JSON on stdout.
 *
 * Resumable: each recipe's stages write <work>/<recipe>/{default,pseudo,baseline,result}.json; a
 * recipe whose result.json exists is not run again, a finished stage is not repeated, and an
 * interrupted baseline training continues with `digits train --resume`. The work folder is
 * named after the settings, so a smoke run never mixes with the full one.
 *
 *   npm run -s bench:generalization > generalization.json        # the full bench (hours)
 *   npm run -s bench:generalization -- mnistc-motion-blur nmnist-awgn
 *   GEN_TRAIN=1000 GEN_TEST=500 GEN_BASELINE_EPOCHS=2 npm run bench:generalization -- mnistc-motion-blur
 *
 * Options (flag, or environment variable):
 *   recipes as arguments, or --recipes a,b / GEN_RECIPES     default: DEFAULT_RECIPES below
 *   --train N / GEN_TRAIN                                     training rows (12,000)
 *   --test N / GEN_TEST                                       t10k test rows (10,000)
 *   --baseline-epochs N / GEN_BASELINE_EPOCHS                 baseline epochs (15)
 *   --seed N / GEN_SEED                                       competition seed (42)
 *   --baseline-seeds 2,3 / GEN_BASELINE_SEEDS                 the baseline member's seeds (2); the difference is
 *                                                            taken from the mean of their accuracies
 *   --work dir / GEN_WORK                                     work folder (tmp/generalization under the repo)
 *   --stages default,baseline / GEN_STAGES                    run one stage alone (its file is kept, no result);
 *                                                            `pseudo` adds `digits run --pseudo-label` beside the
 *                                                            default (its own columns, holdout accuracy included:
 *                                                            whether pseudo-labelling joins the default is decided
 *                                                            on holdout rows, not on the test answers)
 *
 * Never read by anything that trains or chooses: the answers are only passed to the scoring
 * steps, as a user with a practice competition would.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildPracticeCompetition, PRACTICE_RECIPES, type PracticeRecipe } from '../src/data/practice.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'bin', 'run.js');

/** Ten corruptions other than `uniform`, among them motion blur, impulse noise and AWGN with reduced contrast. */
export const DEFAULT_RECIPES: PracticeRecipe[] = [
  'mnistc-motion-blur',
  'mnistc-impulse-noise',
  'nmnist-contrast-awgn',
  'nmnist-awgn',
  'nmnist-motion-blur',
  'mnistc-shot-noise',
  'mnistc-glass-blur',
  'mnistc-fog',
  'mnistc-zigzag',
  'mnistc-canny-edges',
];

/** The from-scratch baseline: seed002, 15 epochs, RMSprop 1e-3, rotation ±10°, shifts ±10%, batch 64. */
export function baselineEnsemble(epochs: number, seed = 2): object {
  return {
    name: 'baseline',
    description: `seed002 from scratch: ${epochs} epochs, RMSprop 1e-3, rotation ±10°, width/height shift ±10%, batch 64, best weights by validation loss`,
    validation: { kind: 'shared', fraction: 0.1, seed: 42 },
    members: [
      {
        name: 'seed002-scratch',
        preset: 'seed002',
        optimizer: 'rmsprop',
        learningRate: 1e-3,
        schedule: { kind: 'constant' },
        augmentation: { rotation: 10, widthShift: 0.1, heightShift: 0.1 },
        epochs,
        batchSize: 64,
        seed,
      },
    ],
  };
}

interface Settings {
  recipes: PracticeRecipe[];
  trainRows: number;
  testRows: number;
  baselineEpochs: number;
  seed: number;
  /** the baseline member's seeds; the first seed's files keep the names of a one-seed bench */
  baselineSeeds: number[];
  work: string;
  /** which stages to run: both make a result; one alone only keeps its stage file */
  stages: string[];
}

/** The stages a recipe can run: the default run, the same with --pseudo-label, the baseline. */
const STAGES = ['default', 'pseudo', 'baseline'] as const;
type StageName = (typeof STAGES)[number];

interface DefaultResult {
  accuracy: number;
  seconds: number;
  runDir: string;
  members: number;
  validationAccuracy: number | null;
}

interface BaselineResult {
  /** the member's seed (absent in files of a bench before seeds: 2) */
  seed?: number;
  accuracy: number;
  seconds: number;
  trainSeconds: number;
  validationAccuracy: number | null;
  bestEpoch: number | null;
  epochs: number;
}

interface RecipeResult {
  recipe: PracticeRecipe;
  settings: Omit<Settings, 'recipes' | 'work' | 'stages'>;
  orientation: string;
  default: DefaultResult;
  /** the first seed's baseline */
  baseline: BaselineResult;
  /** every seed's baseline, when more than one was asked for */
  baselines?: BaselineResult[];
  /** the mean test accuracy of the baselines */
  baselineAccuracy?: number;
  /** default − the baselines' mean accuracy, in accuracy points */
  difference: number;
  /** `digits run --pseudo-label`, when that stage ran */
  pseudo?: DefaultResult;
}

const log = (line: string) => process.stderr.write(`${line}\n`);

function positiveInteger(value: string | undefined, fallback: number, name: string): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    log(`${name} must be a whole number ≥ 1, not ${JSON.stringify(value)}`);
    process.exit(2);
  }
  return n;
}

function parseSettings(): Settings {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      recipes: { type: 'string' },
      train: { type: 'string' },
      test: { type: 'string' },
      'baseline-epochs': { type: 'string' },
      seed: { type: 'string' },
      'baseline-seeds': { type: 'string' },
      work: { type: 'string' },
      stages: { type: 'string' },
    },
  });
  const listed = positionals.length > 0 ? positionals : (values.recipes ?? process.env.GEN_RECIPES)?.split(',').map((r) => r.trim()).filter(Boolean);
  const recipes = (listed ?? DEFAULT_RECIPES) as PracticeRecipe[];
  const unknown = recipes.filter((r) => !(PRACTICE_RECIPES as readonly string[]).includes(r));
  if (unknown.length > 0) {
    log(`unknown recipe ${unknown.join(', ')}; recipes: ${PRACTICE_RECIPES.join(', ')}`);
    process.exit(2);
  }
  const trainRows = positiveInteger(values.train ?? process.env.GEN_TRAIN, 12_000, '--train');
  const testRows = positiveInteger(values.test ?? process.env.GEN_TEST, 10_000, '--test');
  const baselineEpochs = positiveInteger(values['baseline-epochs'] ?? process.env.GEN_BASELINE_EPOCHS, 15, '--baseline-epochs');
  const seed = positiveInteger(values.seed ?? process.env.GEN_SEED, 42, '--seed');
  const seedList = (values['baseline-seeds'] ?? process.env.GEN_BASELINE_SEEDS ?? '2').split(',').map((x) => x.trim());
  if (seedList.some((x) => x === '')) {
    log(`--baseline-seeds takes whole numbers separated by commas (2,3,4), not ${JSON.stringify(seedList.join(','))}`);
    process.exit(2);
  }
  const baselineSeeds = [...new Set(seedList.map((x) => positiveInteger(x, 2, '--baseline-seeds')))];
  const base = path.resolve(values.work ?? process.env.GEN_WORK ?? path.join(ROOT, 'tmp', 'generalization'));
  const work = path.join(base, `train${trainRows}-test${testRows}-epochs${baselineEpochs}-seed${seed}`);
  const stages = (values.stages ?? process.env.GEN_STAGES ?? 'default,baseline').split(',').map((x) => x.trim());
  const badStage = stages.find((x) => !(STAGES as readonly string[]).includes(x));
  if (badStage !== undefined || stages.length === 0) {
    log(`--stages takes ${STAGES.join(', ')} (comma-separated), not ${JSON.stringify(badStage ?? '')}`);
    process.exit(2);
  }
  return { recipes, trainRows, testRows, baselineEpochs, seed, baselineSeeds, work, stages };
}

/** Runs `node bin/run.js <args>` in `cwd`; stdout is returned, stderr goes to `logFile`. */
async function digits(args: string[], cwd: string, logFile: string): Promise<{ stdout: string; seconds: number }> {
  await mkdir(cwd, { recursive: true });
  const started = performance.now();
  const stderr = createWriteStream(logFile, { flags: 'a' });
  stderr.write(`$ digits ${args.join(' ')}\n`);
  const child = spawn(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, CI: 'true' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const chunks: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
  child.stderr.pipe(stderr);
  const code = await new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (exit) => resolve(exit ?? 1));
  });
  stderr.end();
  const stdout = Buffer.concat(chunks).toString('utf8');
  if (code !== 0) throw new Error(`digits ${args.join(' ')} exited with ${code}; see ${logFile}`);
  return { stdout, seconds: (performance.now() - started) / 1000 };
}

/** The result a `--json` command ends with: its last NDJSON line, of type "result". */
function finalJson<T>(stdout: string): T {
  const lines = stdout.trim().split('\n');
  const last = lines.length > 0 ? (JSON.parse(lines[lines.length - 1]!) as { type?: string }) : null;
  if (!last || last.type !== 'result') throw new Error(`no JSON result in the output:\n${stdout.slice(-500)}`);
  return last as T;
}

async function readJson<T>(file: string): Promise<T | null> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch {
    return null;
  }
}

async function writeJson(file: string, value: unknown): Promise<void> {
  await writeFile(`${file}.tmp`, `${JSON.stringify(value, null, 2)}\n`);
  await rename(`${file}.tmp`, file);
}

async function prepareCompetition(recipe: PracticeRecipe, settings: Settings, dir: string): Promise<{ competition: string; answers: string }> {
  const competition = path.join(dir, 'competition');
  const answers = `${competition}-answers.csv`;
  const key = await readJson<{ recipe: string; seed: number; train: { rows: number }; test: { rows: number } }>(`${competition}-answers.json`);
  const fresh = key && key.recipe === recipe && key.seed === settings.seed && key.train.rows === settings.trainRows && key.test.rows === settings.testRows && existsSync(answers);
  if (!fresh) {
    log(`  building the ${recipe} competition (${settings.trainRows} train rows, ${settings.testRows} t10k test rows)`);
    await buildPracticeCompetition({ recipe, out: competition, trainRows: settings.trainRows, testRows: settings.testRows, seed: settings.seed, force: true });
  }
  return { competition, answers };
}

/** The main job as a user runs it (`stage` default), or with `--pseudo-label` (`stage` pseudo). */
async function runDefault(dir: string, competition: string, answers: string, stage: Exclude<StageName, 'baseline'> = 'default'): Promise<DefaultResult> {
  const file = path.join(dir, `${stage}.json`);
  const done = await readJson<DefaultResult>(file);
  if (done) return done;
  const cwd = path.join(dir, stage);
  await rm(cwd, { recursive: true, force: true });
  const extra = stage === 'pseudo' ? ['--pseudo-label'] : [];
  log(`  ${stage}: digits run --data <competition> --answers <answers>${extra.map((x) => ` ${x}`).join('')} --json`);
  const { stdout, seconds } = await digits(['run', '--data', competition, '--answers', answers, ...extra, '--json'], cwd, path.join(dir, `${stage}.log`));
  const result = finalJson<{ runDir: string; submission: { score?: { accuracy: number }; members: string[]; validation?: { accuracy: number } } }>(stdout);
  if (!result.submission.score) throw new Error('digits run did not score its submission against the answers');
  const value: DefaultResult = {
    accuracy: result.submission.score.accuracy,
    seconds: Math.round(seconds),
    runDir: result.runDir,
    members: result.submission.members.length,
    validationAccuracy: result.submission.validation?.accuracy ?? null,
  };
  await writeJson(file, value);
  return value;
}

/** Seed 2's files keep the names of the bench before seeds (baseline.json, baseline/), so its earlier results count. */
export function baselineName(seed: number): string {
  return seed === 2 ? 'baseline' : `baseline-seed${seed}`;
}

async function runBaseline(dir: string, competition: string, answers: string, epochs: number, seed: number): Promise<BaselineResult> {
  const name = baselineName(seed);
  const file = path.join(dir, `${name}.json`);
  const done = await readJson<BaselineResult>(file);
  if (done) return { ...done, seed };
  const cwd = path.join(dir, name);
  await mkdir(cwd, { recursive: true });
  const ensembleFile = path.join(cwd, 'baseline-ensemble.json');
  await writeFile(ensembleFile, `${JSON.stringify(baselineEnsemble(epochs, seed), null, 2)}\n`);
  const runDir = path.join(cwd, 'runs', 'baseline');
  const resume = existsSync(path.join(runDir, 'run.json'));
  log(`  ${name}: digits train --ensemble baseline-ensemble.json (seed002 from scratch, ${epochs} epochs, seed ${seed})${resume ? ' --resume' : ''}`);
  const logFile = path.join(dir, `${name}.log`);
  const train = await digits(['train', '--data', competition, '--ensemble', ensembleFile, '--run', runDir, ...(resume ? ['--resume'] : []), '--json'], cwd, logFile);
  const manifest = finalJson<{ members: Array<{ ok: boolean; bestValAcc?: number; bestEpoch?: number; error?: string }> }>(train.stdout);
  const member = manifest.members[0];
  if (!member?.ok) throw new Error(`the baseline member failed: ${member?.error ?? 'no member'}`);
  log(`  ${name}: digits evaluate --answers <answers> --no-tta --precision fp32 --json`);
  const evaluation = await digits(['evaluate', '--run', runDir, '--answers', answers, '--no-tta', '--precision', 'fp32', '--json'], cwd, logFile);
  const report = finalJson<{ test?: { soft: { accuracy: number } } }>(evaluation.stdout);
  if (!report.test) throw new Error('digits evaluate did not score the test predictions against the answers');
  const value: BaselineResult = {
    seed,
    accuracy: report.test.soft.accuracy,
    seconds: Math.round(train.seconds + evaluation.seconds),
    trainSeconds: Math.round(train.seconds),
    validationAccuracy: member.bestValAcc ?? null,
    bestEpoch: member.bestEpoch === undefined ? null : member.bestEpoch + 1,
    epochs,
  };
  await writeJson(file, value);
  return value;
}

async function runRecipe(recipe: PracticeRecipe, settings: Settings): Promise<RecipeResult | null> {
  const dir = path.join(settings.work, recipe);
  const resultFile = path.join(dir, 'result.json');
  const done = await readJson<RecipeResult>(resultFile);
  const doneSeeds = done ? (done.baselines ?? [done.baseline]).map((b) => b.seed ?? 2) : [];
  const sameSeeds = doneSeeds.length === settings.baselineSeeds.length && settings.baselineSeeds.every((s) => doneSeeds.includes(s));
  if (done && sameSeeds && (done.pseudo || !settings.stages.includes('pseudo'))) {
    log(`${recipe}: done before (${resultFile})`);
    return done;
  }
  log(`${recipe}:`);
  await mkdir(dir, { recursive: true });
  const { competition, answers } = await prepareCompetition(recipe, settings, dir);
  const imported = finalJson<{ orientation: string }>((await digits(['data', 'import', competition, '--json'], dir, path.join(dir, 'import.log'))).stdout);
  log(`  imported: orientation ${imported.orientation}`);
  // One stage alone (--stages baseline) runs and keeps its stage file, without a result.
  let defaultResult: DefaultResult | null = null;
  if (settings.stages.includes('default')) {
    defaultResult = await runDefault(dir, competition, answers);
    log(`  default: ${(defaultResult.accuracy * 100).toFixed(2)}% in ${defaultResult.seconds} s`);
  }
  let pseudo: DefaultResult | null = null;
  if (settings.stages.includes('pseudo')) {
    pseudo = await runDefault(dir, competition, answers, 'pseudo');
    log(`  pseudo: ${(pseudo.accuracy * 100).toFixed(2)}% in ${pseudo.seconds} s`);
  }
  const baselines: BaselineResult[] = [];
  if (settings.stages.includes('baseline')) {
    for (const seed of settings.baselineSeeds) {
      const baseline = await runBaseline(dir, competition, answers, settings.baselineEpochs, seed);
      log(`  ${baselineName(seed)}: ${(baseline.accuracy * 100).toFixed(2)}% in ${baseline.seconds} s`);
      baselines.push(baseline);
    }
  }
  if (!defaultResult || baselines.length === 0) return null;
  const baselineAccuracy = baselines.reduce((sum, b) => sum + b.accuracy, 0) / baselines.length;
  const result: RecipeResult = {
    recipe,
    settings: { trainRows: settings.trainRows, testRows: settings.testRows, baselineEpochs: settings.baselineEpochs, seed: settings.seed, baselineSeeds: settings.baselineSeeds },
    orientation: imported.orientation,
    default: defaultResult,
    baseline: baselines[0]!,
    ...(baselines.length > 1 ? { baselines } : {}),
    baselineAccuracy,
    difference: (defaultResult.accuracy - baselineAccuracy) * 100,
    ...(pseudo ? { pseudo } : {}),
  };
  await writeJson(resultFile, result);
  return result;
}

function table(results: RecipeResult[]): string {
  const pct = (x: number | null | undefined) => (x === null || x === undefined ? '' : (x * 100).toFixed(2));
  const withPseudo = results.some((r) => r.pseudo);
  const withSeeds = results.some((r) => r.baselines);
  const header = ['recipe', 'default %', 'default s', 'holdout %', withSeeds ? 'baseline % (mean)' : 'baseline %', ...(withSeeds ? ['baseline % by seed'] : []), 'baseline s', 'difference', ...(withPseudo ? ['pseudo %', 'pseudo s', 'pseudo holdout %'] : [])];
  const rows = results.map((r) => [
    r.recipe,
    pct(r.default.accuracy),
    String(r.default.seconds),
    pct(r.default.validationAccuracy),
    pct(r.baselineAccuracy ?? r.baseline.accuracy),
    ...(withSeeds ? [(r.baselines ?? [r.baseline]).map((b) => `${pct(b.accuracy)} (${b.seed ?? 2})`).join(' ')] : []),
    String(r.baseline.seconds),
    `${r.difference >= 0 ? '+' : ''}${r.difference.toFixed(2)}`,
    ...(withPseudo ? [pct(r.pseudo?.accuracy), r.pseudo ? String(r.pseudo.seconds) : '', pct(r.pseudo?.validationAccuracy)] : []),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

async function main(): Promise<void> {
  if (!existsSync(path.join(ROOT, 'dist', 'commands', 'run.js'))) {
    log('dist/ is missing: build the CLI first (npm run build), or use npm run bench:generalization, which builds it');
    process.exit(2);
  }
  const settings = parseSettings();
  log(`generalization bench: ${settings.recipes.length} recipes, ${settings.trainRows} train rows, ${settings.testRows} test rows, baseline ${settings.baselineEpochs} epochs (seed${settings.baselineSeeds.length > 1 ? 's' : ''} ${settings.baselineSeeds.join(', ')}); work in ${settings.work}`);
  const results: RecipeResult[] = [];
  const failures: Array<{ recipe: string; error: string }> = [];
  for (const recipe of settings.recipes) {
    try {
      const result = await runRecipe(recipe, settings);
      if (result) results.push(result);
    } catch (error) {
      log(`${recipe}: FAILED: ${(error as Error).message}`);
      failures.push({ recipe, error: (error as Error).message });
    }
  }
  const averageDifference = results.length > 0 ? results.reduce((sum, r) => sum + r.difference, 0) / results.length : null;
  log('');
  log(table(results));
  log(averageDifference === null ? 'no recipe finished' : `average difference (default − baseline): ${averageDifference >= 0 ? '+' : ''}${averageDifference.toFixed(2)} points over ${results.length} recipes; default ahead on ${results.filter((r) => r.difference > 0).length}`);
  process.stdout.write(`${JSON.stringify({ settings, results, averageDifference, failures }, null, 2)}\n`);
  if (failures.length > 0) process.exitCode = 1;
}

// Run when executed (npm run bench:generalization), not when a test imports the baseline spec.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
