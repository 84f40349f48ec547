import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Flags } from '@oclif/core';
import { DigitsCommand } from '../cli/base-command.js';
import { backendFlag, dataFlag, jsonFlag, memberOverrideFlags, queueFlag, refuseWithResume } from '../cli/flags.js';
import { freeRunName } from '../runs/new-folder.js';
import { queueNamed, recordedCommand, redactRedisUrl } from '../services/queue/redis-url.js';
import { formatTrainEvent } from '../cli/train-events.js';
import type { BackendRequest } from '../engine/backend.js';
import type { EnsembleEvent } from '../training/train-member.js';
import { BUILTIN_ENSEMBLE_NAMES } from '../cli/flags.js';
import { UserError, failureLine } from '../errors.js';
import { resolveRunDir } from '../cli/runs.js';
import { CORRECTIONS_FILE } from '../data/corrections.js';
import { assertFolderPath } from '../output-folder.js';
import { RUN_MANIFEST, assertNewRunFolder, partlyFailedError } from '../runs/manifest.js';
import { displayPath, plural, shellArg } from '../data/format.js';

export function timestamp(date = new Date()): string {
  return date.toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-');
}

export default class Train extends DigitsCommand {
  static override summary = 'Train an ensemble: every member in parallel worker threads, each validated on its held-out rows.';
  static override examples = [
    '<%= config.bin %> train --data competitions/uniform',
    '<%= config.bin %> train --ensemble full --data my-competition',
    '<%= config.bin %> train --ensemble my-ensemble.json --data my-competition --concurrency 1',
    '<%= config.bin %> train --resume --run runs/quick-20261121-101500',
    '<%= config.bin %> train --data competitions/uniform --epochs 1 --learning-rate 1e-4 --seed 7',
    '<%= config.bin %> train --ensemble full --data /mnt/shared/comp --run /mnt/shared/runs/full-1 --queue redis://10.0.0.5:6379',
  ];
  static override flags = {
    ...backendFlag,
    ...dataFlag,
    ...jsonFlag,
    ...memberOverrideFlags,
    ...queueFlag,
    // No default: with --resume, an ensemble given must match the run's own (and is not needed).
    ensemble: Flags.string({ description: `Built-in ensemble (${BUILTIN_ENSEMBLE_NAMES.join(', ')}) or an ensemble JSON file (- reads it from standard input; format: README "Ensemble files"; default quick; with --resume, the run's own).` }),
    run: Flags.string({ description: 'Run folder (default runs/<ensemble>-<time>); with --resume, the run to continue.' }),
    concurrency: Flags.integer({ description: 'Members trained at once (default: number of cores); with --queue the workers\' own --concurrency decides instead.', min: 1 }),
    resume: Flags.boolean({ description: 'Continue an interrupted run from its folder alone (needs --run): each member restarts exactly from its last saved epoch.', default: false }),
    folds: Flags.integer({ description: 'Validate by k-fold cross-validation: each member entry is trained once per fold (<name>-f1 … -fk), and evaluate reports CV mean ± sd and out-of-fold predictions.', min: 2 }),
    extra: Flags.string({ description: 'Add the drawing pad\'s corrections to the training rows: a corrections.jsonl file, or "corrections" for the newest run\'s.' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Train);
    // tfjs, Ink and the training service load here, not when oclif reads the command (help, manifest).
    // (Ink, some 0.3 s of start-up, only where a live view can be drawn: plainOutput holds for the whole process)
    const [{ BUILTIN_ENSEMBLES, STDIN_NAME, expandFolds, foldsOverride, resolveEnsemble, shadowedByBuiltin, withFolds, withOverrides }, { planResume, trainEnsemble }, tui, { initialState, reduce }] = await Promise.all([
      import('../ensemble/ensemble-spec.js'),
      import('../services/train.js'),
      this.plainOutput ? null : Promise.all([import('../tui/TrainView.js'), import('../tui/live.js')]),
      import('../tui/train-state.js'),
    ]);
    let data = flags.data;
    let ensemble;
    let resumedExtra: string | undefined;
    if (flags.resume) {
      if (!flags.run) throw new UserError('--resume needs the run to continue', { where: { flag: 'run' }, hint: 'Pass --run runs/<name> (see the folders under runs/).' });
      refuseWithResume(this.argv, ['folds', 'epochs', 'learning-rate', 'batch-size', 'seed', 'extra']);
      // The run folder records its ensemble and data; flags given as well must match them.
      const onNote = (message: string) => (this.jsonEnabled() ? this.emitJson({ type: 'warning', message }) : process.stderr.write(`note: ${message}\n`));
      const plan = await planResume(flags.run, { data, ensemble: flags.ensemble ? await resolveEnsemble(flags.ensemble) : undefined, onNote });
      ({ ensemble, data, extra: resumedExtra } = plan);
      // Every member trained: nothing to continue (it restarted each worker and added to the run's time).
      const planned = plan.manifest.splits?.length ?? expandFolds(plan.ensemble).length;
      if (plan.manifest.status === 'finished' && plan.manifest.members.length >= planned && plan.manifest.members.every((m) => m.ok)) {
        // (a finished member whose checkpoint was deleted is not trained again by --resume: say so, not "evaluate it", which fails on the missing file)
        const runFolder = path.resolve(flags.run);
        const missing = plan.manifest.members.filter((m) => m.checkpoint && !existsSync(path.join(runFolder, m.checkpoint)));
        if (missing.length > 0) {
          throw new UserError(`run ${path.basename(flags.run)} finished training, but the checkpoint of ${missing.map((m) => `${m.name} (${m.checkpoint})`).join(', ')} is gone`, {
            where: { file: path.join(runFolder, missing[0]!.checkpoint!), flag: 'run' },
            hint: `--resume does not train a finished member again: restore ${missing.length === 1 ? 'that folder' : 'those folders'} from a copy, or train a new run with its ensemble (\`digits train --ensemble <file> --data <competition>\`; its ensemble is in ${path.join(flags.run, RUN_MANIFEST)}).`,
          });
        }
        throw new UserError(`run ${path.basename(flags.run)} already finished: ${plan.manifest.members.length === 1 ? 'its member is' : `all ${plan.manifest.members.length} members are`} trained`, {
          where: { flag: 'run' },
          hint: `Evaluate or submit it (digits evaluate --run ${shellArg(flags.run)}), or train a new run without --resume.`,
        });
      }
    } else {
      const shadowed = flags.ensemble ? shadowedByBuiltin(flags.ensemble) : null;
      if (shadowed) {
        if (this.jsonEnabled()) this.emitJson({ type: 'warning', message: shadowed });
        else process.stderr.write(`warning: ${shadowed}\n`);
      }
      ensemble = await resolveEnsemble(flags.ensemble ?? 'quick');
    }
    // --data's default, as its help says: the working folder (when it holds no imported dataset,
    // the error names the competitions below it). It said "which competition? --data is missing" until session 41.
    data ??= process.cwd();
    if (!flags.resume) {
      if (flags.folds) {
        const replaced = foldsOverride(ensemble, flags.folds);
        if (replaced) (this.jsonEnabled() ? this.emitJson({ type: 'warning', message: replaced }) : process.stderr.write(`warning: ${replaced}\n`));
        ensemble = withFolds(ensemble, flags.folds);
      }
      ensemble = withOverrides(ensemble, { seed: flags.seed, epochs: flags.epochs, learningRate: flags['learning-rate'], batchSize: flags['batch-size'] });
    }
    const trained = expandFolds(ensemble).map((f) => f.member);
    const viewMembers = trained.length > 0 ? trained : ensemble.members;
    const ensembleName = ensemble.name;
    const runDir = path.resolve(flags.run ?? path.join('runs', freeRunName('runs', `${ensembleName}-${timestamp()}`)));
    // A new run goes into a new or empty folder: not over another run, nor among other files.
    if (flags.run && !flags.resume) await assertNewRunFolder(runDir, 'run');
    // (the default one too: a file named runs is said here, not by mkdir)
    else if (!flags.resume) await assertFolderPath(runDir, { flag: 'run', what: 'the run folder' });
    const print = (event: EnsembleEvent) => {
      if (this.jsonEnabled()) {
        if (event.type !== 'batch') this.emitJson(event);
        return;
      }
      if (event.type === 'member-failed') process.stderr.write(`${event.member}: FAILED: ${event.error.split('\n')[0]}\n`);
      else if (event.type === 'engine') process.stderr.write(`${event.member}: worker on ${event.backend}${event.ort ? ' + onnxruntime kernels' : ''}\n`);
      else if (event.type !== 'batch') {
        const line = formatTrainEvent(event);
        if (line) process.stderr.write(`${line}\n`);
      }
    };
    // A person at a terminal gets the live view; pipes, CI and --json get plain lines.
    const live = !tui
      ? null
      : tui[1].mountLive((state: ReturnType<typeof initialState>) => tui[0].TrainView({ state }), initialState(`digits train: ${ensembleName} → ${displayPath(runDir)}`, flags.backend, viewMembers));
    let state = initialState(`digits train: ${ensembleName} → ${displayPath(runDir)}`, flags.backend, viewMembers);
    const onEvent = (event: EnsembleEvent) => {
      if (!live) return print(event);
      state = reduce(state, event);
      live.update(state);
    };
    this.exitOnInterrupt(
      () =>
        !existsSync(path.join(runDir, RUN_MANIFEST))
          ? 'Training had not started: run the same command again.'
          : flags.queue
            ? // The jobs stay on the queue and the workers go on training them: a local resume would train the same members twice.
              `The enqueued members go on training on the workers (\`digits queue status --redis ${shellArg(redactRedisUrl(flags.queue))}\` shows them). Once the queue is idle, \`digits train --resume --run ${shellArg(displayPath(runDir))} --queue ${shellArg(redactRedisUrl(flags.queue))}\` collects them and trains what is left; resuming before would train the same members twice. \`digits queue clean --run ${shellArg(path.basename(runDir))}\` removes the members no worker has started.`
            : `Continue it with \`digits train --resume --run ${shellArg(displayPath(runDir))}\`: each member restarts from its last saved epoch.`,
      () => live?.done(),
    );
    const heldWarnings: string[] = [];
    const sayHeldWarnings = () => {
      for (const message of heldWarnings.splice(0)) process.stderr.write(`warning: ${message}\n`);
    };
    let extra = resumedExtra;
    if (flags.extra) extra = flags.extra === 'corrections' ? path.join(await resolveRunDir(undefined), CORRECTIONS_FILE) : path.resolve(flags.extra);
    const options = {
      extra,
      ensemble,
      data,
      runDir,
      concurrency: flags.concurrency ?? os.availableParallelism(),
      backend: flags.backend as BackendRequest,
      resume: flags.resume,
      command: recordedCommand(['digits', 'train', ...this.argv]),
      onEvent,
      // (below a live view a line would garble it: there they are said once the view has ended)
      onWarning: (message: string) => (this.jsonEnabled() ? this.emitJson({ type: 'warning', message }) : live ? heldWarnings.push(message) : process.stderr.write(`warning: ${message}\n`)),
      // A fold count the data cannot hold names where it was set.
      foldsFrom: flags.folds ? { flag: 'folds' } : flags.ensemble && !(flags.ensemble in BUILTIN_ENSEMBLES) ? { file: flags.ensemble === '-' ? STDIN_NAME : path.resolve(flags.ensemble) } : undefined,
    };
    let report = null;
    let manifest;
    if (flags.queue) {
      // Members as jobs on the queue; bullmq loads only here.
      const [{ trainOnQueue }, { formatRunReport }] = await Promise.all([import('../services/queue/enqueue.js'), import('../cli/queue.js')]);
      const onEnqueued = (info: { parent: string; children: number; storeRoot: string }) => {
        if (this.jsonEnabled()) this.emitJson({ type: 'enqueued', queue: redactRedisUrl(flags.queue!), ...info });
        else if (!live) process.stderr.write(`enqueued ${plural(info.children, 'member')} on ${queueNamed(flags.queue!, this.argv)} (flow ${info.parent}); workers need ${info.storeRoot} (or --store)\n`);
      };
      const onFailedReport = (failed: Parameters<typeof formatRunReport>[0]) => {
        if (this.jsonEnabled()) this.emitJson({ type: 'queue-report', ...failed });
        else process.stderr.write(formatRunReport(failed));
      };
      // (in the live view under its title, replaced by the next notice and gone when the jobs are taken)
      // (the end of a problem is news, not a warning: "warning: a worker is on the queue now" until session 49)
      const onNotice = (message: string, resolved: boolean) => {
        if (this.jsonEnabled()) this.emitJson({ type: resolved ? 'notice' : 'warning', message });
        else if (!live) process.stderr.write(`${resolved ? '' : 'warning: '}${message}\n`);
        else {
          state = { ...state, notice: resolved ? undefined : message };
          live.update(state);
        }
      };
      ({ manifest, report } = await trainOnQueue(options, { redis: flags.queue, flag: 'queue', onEnqueued, onFailedReport, onNotice }).finally(() => {
        live?.done();
        sayHeldWarnings();
      }));
      if (report && !this.jsonEnabled()) process.stderr.write(formatRunReport(report));
    } else {
      manifest = await trainEnsemble(options).finally(() => {
        live?.done();
        sayHeldWarnings();
      });
    }
    if (this.jsonEnabled()) {
      this.printJson(report ? { ...manifest, queue: report } : manifest);
    } else {
      process.stdout.write(`run ${runDir} (${manifest.seconds}s)\n`);
      // (names padded to the longest, so the figures line up: at a fixed 14 a k-fold member's longer name pushed its own out of line)
      const nameWidth = Math.max(14, ...manifest.members.map((m) => m.name.length));
      for (const m of manifest.members) {
        process.stdout.write(
          m.ok
            ? `  ${m.name.padEnd(nameWidth)} val_acc ${((m.bestValAcc ?? 0) * 100).toFixed(2)}%  val_loss ${(m.bestValLoss ?? 0).toFixed(4)}  best epoch ${(m.bestEpoch ?? 0) + 1}/${m.epochs}\n`
            : `  ${m.name.padEnd(nameWidth)} FAILED: ${failureLine(m.error)}\n`,
        );
      }
    }
    if (manifest.members.every((m) => !m.ok)) this.exit(1);
    // Some members failed: the result above is of the others, and the command says so last, exit 1 (it exited 0).
    const resume = `digits train --resume --run ${shellArg(displayPath(runDir))}${flags.queue ? ` --queue ${shellArg(redactRedisUrl(flags.queue))}` : ''}`;
    const partly = partlyFailedError(runDir, manifest.members, { resume, kept: () => `\`digits evaluate --run ${shellArg(displayPath(runDir))}\` scores the run as it is` });
    if (partly) throw partly;
  }
}
