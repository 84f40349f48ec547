import os from 'node:os';
import { Flags } from '@oclif/core';
import { DigitsCommand } from '../cli/base-command.js';
import { backendFlag, inferFlag, jsonFlag, memberOverrideFlags, refuseWithResume } from '../cli/flags.js';
import { formatTrainEvent } from '../cli/train-events.js';
import type { BackendRequest } from '../engine/backend.js';
import { formatAutoEvent, formatAutoSummary, overBudgetNote } from '../cli/auto-summary.js';
import { assertFolderPath } from '../output-folder.js';
import { UserError } from '../errors.js';
import { BUILTIN_ENSEMBLE_NAMES } from '../cli/flags.js';
import type { InferMode, Precision } from '../inference/predictor.js';
import type { EnsembleEvent } from '../training/train-member.js';
import { formatEvaluationSummary } from '../cli/evaluation-summary.js';
import type { LiveView } from '../tui/live.js';
import type { TrainViewState } from '../tui/train-state.js';
import { timestamp } from './train.js';
import path from 'node:path';
import { ROUND1_DIR, RUN_MANIFEST, newestUnfinishedRun, partlyFailedError } from '../runs/manifest.js';
import { claimRunFolder, keepClaimSync, releaseClaim, releaseClaimSync, removeAbandonedRunFolders, removeEmptyParent, removeEmptyParentSync } from '../runs/new-folder.js';
import { existsSync } from 'node:fs';
import { rmdir } from 'node:fs/promises';
import type { Stage } from '../services/run.js';
import { PRESET_NAMES } from '../model/preset-specs.js';
import { recordedCommand, redactRedisUrl } from '../services/queue/redis-url.js';
import { displayPath, plural, shellArg } from '../data/format.js';

/**
 * The members of the ensemble training now under `runDir` (round 1's folder first, with
 * --pseudo-label), as its run.json plans them; none when it cannot be read.
 */
async function plannedMembers(runDir: string): Promise<Array<{ name: string; epochs: number }>> {
  const [{ readRunManifest }, { expandFolds }] = await Promise.all([import('../runs/manifest.js'), import('../ensemble/ensemble-spec.js')]);
  for (const dir of [runDir, path.join(runDir, ROUND1_DIR)]) {
    const manifest = await readRunManifest(dir).catch(() => null);
    if (manifest?.status === 'training') return expandFolds(manifest.ensemble).map(({ member }) => ({ name: member.name, epochs: member.epochs }));
  }
  return [];
}

export default class Run extends DigitsCommand {
  static override summary = 'The main job: competition → import → ensemble training → honest evaluation → validated submission and report.';
  static override description =
    'With no --data it takes the working folder when that holds a competition (its train.csv); else it builds the default practice competition (noisy MNIST in the layout of the seed-002 InClass competition) under competitions/, and scores the submission against its answers.';
  static override examples = ['<%= config.bin %> run', '<%= config.bin %> run --data my-competition --budget 10', '<%= config.bin %> run --data my-competition --pseudo-label', '<%= config.bin %> run --ensemble full --data my-competition'];
  static override flags = {
    ...backendFlag,
    data: Flags.string({
      description: "Competition folder; when not given, the working folder if it holds a competition's train.csv, else the default practice competition under competitions/ (built on first use).",
      env: 'DIGITS_DATA',
      parse: async (input: string) => path.resolve(input),
    }),
    ...inferFlag,
    ...jsonFlag,
    ...memberOverrideFlags,
    // Literals, not the service's constants: oclif reads flags without loading the services.
    ensemble: Flags.string({ description: `auto (a recipe chosen for this competition on its holdout rows within --budget), a built-in ensemble (${BUILTIN_ENSEMBLE_NAMES.join(', ')}) or an ensemble JSON file (- reads it from standard input; format: README "Ensemble files").`, default: 'auto' }),
    budget: Flags.string({ description: 'auto: minutes the whole run should take on this machine (it plans its probes and members to fit; default 20, at least 0.5, at most a week).' }),
    preset: Flags.string({ description: 'auto: the network its probes and members use (default: auto\'s own, README "The auto ensemble"); needs shipped clean/noisy checkpoints of that preset to fine-tune from, else it trains from scratch.', options: PRESET_NAMES }),
    'pseudo-label': Flags.boolean({ description: 'auto: a second round whose training rows include the test rows round 1 is confident about (test labels are never read).', default: false }),
    'synthetic-rows': Flags.integer({ description: 'auto: how many MNIST train images with the competition\'s fitted corruption join the training rows when it can be modelled (default: enough for 54,000 training rows in all for Gaussian sensor noise, photon noise, impulse noise, Canny edge maps, blurs, motion blurs and corruption layers; none for uniform-maximum noise unless a count is given; 0: none; README "Synthetic rows").', min: 0 }),
    answers: Flags.string({ description: 'Answers file (ImageId,Label) to score the submission (found beside practice competitions).' }),
    concurrency: Flags.integer({ description: 'Members trained at once (default: number of cores).', min: 1 }),
    resume: Flags.boolean({ description: 'Continue an interrupted run (--run, default the newest unfinished one under runs/) from its folder alone, then evaluate and submit.', default: false }),
    run: Flags.string({ description: 'With --resume: the run folder to continue.', dependsOn: ['resume'] }),
    folds: Flags.integer({ description: 'Validate by k-fold cross-validation: each member entry (with auto: each recipe its plan fits, k members at a time) is trained once per fold; CV mean ± sd, out-of-fold predictions, ensemble weights fitted on them. auto\'s default: 4 folds when its plan fits 2 whole recipes or more and as many members as a 10% holdout would, else the holdout; 0: the holdout.', min: 0 }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Run);
    // tfjs, Ink and the services load here, not when oclif reads the command (help, manifest).
    // (Ink, some 0.3 s of start-up, only where a live view can be drawn: plainOutput holds for the whole process;
    // vega and vega-lite, 0.4 CPU-s, only when the report is written)
    const [{ initEngine }, { runMainJob, interruptedMainJobHint, checkBudget }, tui, { initialState, reduce, withPlannedMembers }, { removeOwnImportFilesSync }, { removeOwnPracticeFilesSync }] = await Promise.all([
      import('../engine/backend.js'),
      import('../services/run.js'),
      this.plainOutput ? null : Promise.all([import('../tui/TrainView.js'), import('../tui/live.js')]),
      import('../tui/train-state.js'),
      import('../data/import.js'),
      import('../data/practice.js'),
    ]);
    const json = this.jsonEnabled();
    const budgetMinutes = flags.budget === undefined ? undefined : checkBudget(flags.budget);
    if (flags.preset && flags.ensemble !== 'auto') throw new UserError('--preset chooses the network of the auto ensemble', { where: { flag: 'preset' }, hint: 'Drop --ensemble (auto is the default), or set each member\'s "preset" in your ensemble file.' });
    if (flags['synthetic-rows'] !== undefined && flags.ensemble !== 'auto') throw new UserError('--synthetic-rows works with the auto ensemble', { where: { flag: 'synthetic-rows' }, hint: 'Drop --ensemble (auto is the default) or drop --synthetic-rows.' });
    if (flags.budget !== undefined && flags.ensemble !== 'auto') throw new UserError('--budget plans the auto ensemble', { where: { flag: 'budget' }, hint: 'Drop --ensemble (auto is the default), or drop --budget: an ensemble file trains its members\' own epochs.' });
    if (flags['pseudo-label'] && flags.ensemble !== 'auto') throw new UserError('--pseudo-label works with the auto ensemble', { where: { flag: 'pseudo-label' }, hint: 'Drop --ensemble (auto is the default) or drop --pseudo-label.' });
    if (flags.folds === 1) throw new UserError('--folds 1 is not cross-validation: each fold member validates on the rows it did not train on, so it takes 2 folds or more', { where: { flag: 'folds' }, hint: 'Use --folds 4 or 5 (usual), or --folds 0 for a 10% holdout.' });
    if (flags.folds === 0 && flags.ensemble !== 'auto') throw new UserError('--folds 0 turns off the auto ensemble\'s default k-fold validation', { where: { flag: 'folds' }, hint: 'Drop --folds: an ensemble file or a built-in ensemble validates as its "validation" says.' });
    if (flags.resume) refuseWithResume(this.argv, ['ensemble', 'budget', 'preset', 'pseudo-label', 'synthetic-rows', 'folds', 'epochs', 'learning-rate', 'batch-size', 'seed']);
    if (flags.run && !flags.resume) throw new UserError('--run names the run to continue, and needs --resume', { where: { flag: 'run' }, hint: `Add --resume to continue ${flags.run}, or leave --run out: a new run goes to runs/<ensemble>-<time>.` });
    const resume = flags.resume ? (flags.run ?? (await newestUnfinishedRun('runs'))) : undefined;
    // A run is named after its ensemble, as `digits train` names it: auto, a built-in, or an
    // ensemble file's own "name" (the file is read here, so a broken one fails before the import).
    const ensembleName = flags.ensemble === 'auto' || (BUILTIN_ENSEMBLE_NAMES as readonly string[]).includes(flags.ensemble) ? flags.ensemble : (await (await import('../ensemble/ensemble-spec.js')).resolveEnsemble(flags.ensemble)).name;
    let runName = resume ? path.basename(resume) : `${ensembleName}-${timestamp()}`;
    let live: LiveView<TrainViewState> | null = null;
    let state: TrainViewState | null = null;
    const say = (stage: string, message: string) => {
      if (json) this.emitJson({ type: 'stage', stage, message });
      else process.stderr.write(`[${stage}] ${message}\n`);
    };
    const warn = (message: string) => {
      if (json) this.emitJson({ type: 'warning', message });
      else process.stderr.write(`warning: ${message}\n`);
    };
    // A built-in's name with a file of that name here: the built-in trains, and the file is said to be passed over (a warning, as train says it).
    if (!flags.resume) {
      const shadowed = (await import('../ensemble/ensemble-spec.js')).shadowedByBuiltin(flags.ensemble);
      if (shadowed) warn(shadowed);
    }
    // An exported DIGITS_QUEUE makes train and search enqueue; run trains here, which a user of the queue should not have to guess.
    if (process.env.DIGITS_QUEUE) {
      warn(`DIGITS_QUEUE is set (${redactRedisUrl(process.env.DIGITS_QUEUE)}), but digits run trains on this machine: it has no queue. To train on the workers, \`digits train --ensemble <file> --queue …\`, then \`digits evaluate\` and \`digits submit\`.`);
    }
    const onTrainEvent = (event: EnsembleEvent) => {
      if (json) {
        if (event.type !== 'batch') this.emitJson(event);
        return;
      }
      if (this.plainOutput) {
        if (event.type === 'member-failed') process.stderr.write(`${event.member}: FAILED: ${event.error.split('\n')[0]}\n`);
        else if (event.type !== 'engine' && event.type !== 'batch') {
          const line = formatTrainEvent(event);
          if (line) process.stderr.write(`${line}\n`);
        }
        return;
      }
      if (!state) return;
      state = reduce(state, event);
      live?.update(state);
    };
    // The main thread detects the orientation and evaluates: on the chosen backend, as
    // `digits evaluate` does (else tfjs's default, its pure-JavaScript cpu backend).
    await initEngine({ backend: flags.backend as BackendRequest });
    // A file named runs (or the run's name) is said now, not by mkdir after auto's probes (session 39).
    if (resume === undefined) await assertFolderPath(path.resolve('runs', runName), { what: 'the run folder' });
    if (resume === undefined) {
      // Folders of runs killed (SIGKILL, a crash of the machine) before they saved anything go first.
      for (const gone of await removeAbandonedRunFolders(path.resolve('runs'))) {
        warn(`removed ${displayPath(gone.dir)}: the digits run that made it (pid ${gone.holder.pid}, started ${gone.holder.startedAt}) was killed before it trained anything`);
      }
    }
    // The folder is this run's from the start: another run started in the same second gets `-2`.
    const claim = resume === undefined ? await claimRunFolder(path.resolve('runs'), runName, recordedCommand(['digits', 'run', ...this.argv])) : null;
    if (claim) runName = claim.name;
    const runDir = resume ?? path.join('runs', runName);
    // The hint fits the stage reached: resume training, evaluate and submit, or write the report.
    let reached: Stage | null = null;
    let importing: string | null = null;
    let building: string | null = null;
    // (whether this run made the folder above the practice competition: competitions/ in a fresh folder)
    let madePracticeParent = false;
    this.exitOnInterrupt(
      () => {
        // (stopped while importing: the import's partial files go, and a .digits/ it made)
        if (reached === 'import' && importing) removeOwnImportFilesSync(importing);
        // (stopped while building the default practice competition: its temp folder and files go;
        // until session 45 they were left, 112 MB, and the next run left its own beside them)
        // (and competitions/ itself when this run made it and it holds nothing else; until session 46 it was left empty)
        if (reached === 'competition' && building) removeOwnPracticeFilesSync(building, { parentMade: madePracticeParent });
        const hint = interruptedMainJobHint(runDir, reached, resume !== undefined);
        if (!existsSync(runDir)) removeEmptyParentSync(claim);
        else if (existsSync(path.join(runDir, RUN_MANIFEST)) || existsSync(path.join(runDir, ROUND1_DIR, RUN_MANIFEST))) releaseClaimSync(claim);
        else keepClaimSync(claim);
        return hint;
      },
      () => live?.done(),
    );
    const result = await runMainJob({
      data: flags.data,
      answers: flags.answers,
      workDir: process.cwd(),
      ensemble: flags.ensemble,
      budgetMinutes,
      pseudoLabel: flags['pseudo-label'],
      syntheticRows: flags['synthetic-rows'],
      preset: flags.preset,
      backend: flags.backend as BackendRequest,
      infer: flags.infer as InferMode,
      precision: flags.precision as Precision,
      concurrency: flags.concurrency ?? os.availableParallelism(),
      folds: flags.folds,
      // The practice competition's draw: --seed when given, else 42 as before.
      seed: flags.seed ?? 42,
      overrides: { seed: flags.seed, epochs: flags.epochs, learningRate: flags['learning-rate'], batchSize: flags['batch-size'] },
      command: recordedCommand(['digits', 'run', ...this.argv]),
      runName,
      resume,
      onImporting: (datasetDir) => (importing = datasetDir),
      onBuildingPractice: (competitionDir) => {
        building = competitionDir;
        madePracticeParent = !existsSync(path.dirname(competitionDir));
      },
      onStage: (stage, message) => {
        reached = stage;
        // Stages come between trainings, never during one. A line written below a live view
        // garbled it (Ink redraws the lines it drew last: round 2's line of --pseudo-label
        // landed inside round 1's frame), so a view ends before the next stage's line, and the
        // next training (round 2) mounts a view of its own.
        if (live) {
          live.done();
          live = null;
          state = null;
        }
        say(stage, message);
      },
      // (before training starts, so never under a live view; one is ended first all the same, as for stages)
      onWarning: (message) => {
        if (live) {
          live.done();
          live = null;
          state = null;
        }
        warn(message);
      },
      onTrainEvent: (event) => {
        if (!state && tui) {
          // Training began (its first event is a member's engine, which the title shows): mount
          // the live view for the whole ensemble, with every planned member once run.json,
          // written before the first event, is read (members shown only as they started made
          // the bar say 100% with 4 of 6 done).
          state = reduce(initialState(`digits run → runs/${runName}`, flags.backend, []), event);
          live = tui[1].mountLive((s: TrainViewState) => tui[0].TrainView({ state: s }), state);
          void plannedMembers(runDir).then((planned) => {
            if (!state || planned.length === 0) return;
            state = withPlannedMembers(state, planned);
            live?.update(state);
          });
          return;
        }
        onTrainEvent(event);
      },
      onAutoEvent: (event) => {
        if (json) this.emitJson(event);
        else say('recipe', formatAutoEvent(event));
      },
      writeReport: async (runDir) => (await import('../report/report-html.js')).writeRunReport({ runDir }),
    })
      .catch(async (error: unknown) => {
        // A run refused or failed before it kept anything (a bad CSV, an answers file that does
        // not match) leaves neither its claimed folder nor a runs/ it made.
        await releaseClaim(claim);
        if (claim && (await rmdir(claim.dir).then(() => true, (e: NodeJS.ErrnoException) => e.code === 'ENOENT'))) await removeEmptyParent(claim);
        throw error;
      })
      .finally(() => live?.done());
    // (a resumed run's folder may still hold the claim of the run that was killed after its run.json)
    await releaseClaim(claim ?? { dir: runDir });
    // Some members failed: the evaluation and submission are of the others, and the command says so last, exit 1 (it exited 0).
    const failed = result.evaluation.failedMembers ?? [];
    const partly = partlyFailedError(result.runDir, [...result.evaluation.members.map((m) => ({ name: m.name, ok: true })), ...failed.map((m) => ({ ...m, ok: false }))], {
      resume: `digits run --resume --run ${shellArg(displayPath(result.runDir))}`,
      kept: (trained) => `the evaluation and submission above are of ${trained === 1 ? 'it' : 'them'} alone`,
    });
    if (json) {
      this.printJson(result);
      if (partly) throw partly;
      return;
    }
    process.stdout.write(formatEvaluationSummary(result.evaluation, { runDir: result.runDir }));
    if (result.auto) process.stdout.write(formatAutoSummary(result.auto));
    const s = result.submission;
    process.stdout.write(`submission  ${s.file} (${plural(s.rows, 'row')}, ${plural(s.members.length, 'member')}, ${s.voting === 'weighted soft' ? 'weighted soft voting (ensemble selection)' : 'soft voting'}, ${s.tta > 1 ? `${s.tta}-way TTA` : 'no TTA'}, validated)\n`);
    if (s.score) process.stdout.write(`score       ${(s.score.accuracy * 100).toFixed(2)}% against ${s.score.answers}\n`);
    if (result.report) process.stdout.write(`report      ${result.report}\n`);
    process.stdout.write(`dashboard   digits dashboard --run ${shellArg(result.runDir)}\ntime        ${result.seconds}s${overBudgetNote(result.seconds, result.auto?.budgetMinutes)}\n`);
    if (partly) throw partly;
  }
}
