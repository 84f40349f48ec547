import os from 'node:os';
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { Flags } from '@oclif/core';
import { DigitsCommand } from '../cli/base-command.js';
import { backendFlag, dataFlag, flagTyped, jsonFlag, queueFlag } from '../cli/flags.js';
import { formatLeaderboard, formatSearchEvent } from '../cli/search-leaderboard.js';
import type { BackendRequest } from '../engine/backend.js';
import { UserError } from '../errors.js';
import { assertFolderPath } from '../output-folder.js';
import { PACKAGE_ROOT } from '../model/shipped.js';
import { CHANCE_LOSS, runSearch, searchSettings, type LeaderboardRow, type SearchEvent, type SearchOptions } from '../services/search.js';
import { freeRunName } from '../runs/new-folder.js';
import type { SchedulerKind } from '../training/search/asha.js';
import { searchSpaceFromJson } from '../training/search/space.js';
import { timestamp } from './train.js';
import { displayPath, shellArg } from '../data/format.js';
import { queueNamed, recordedCommand, redactRedisUrl } from '../services/queue/redis-url.js';

export default class Search extends DigitsCommand {
  static override summary = 'Hyperparameter search over member recipes (random or ASHA), scored on holdout rows; writes a leaderboard and the top-k as an ensemble file.';
  static override description =
    'Each trial is a member trained on the holdout split in a worker thread and scored by its best validation loss on the held-out rows (never on test answers). The search folder keeps search.json (every trial, rung and score); running again with the same --out continues it. The top-k trials are written as <out>/ensemble.json for `digits train --ensemble`.';
  static override examples = [
    '<%= config.bin %> search --data competitions/uniform',
    '<%= config.bin %> search --data my-competition --space spaces/default.json --scheduler asha --trials 27 --budget 60 --out runs/search-1',
    '<%= config.bin %> train --data my-competition --ensemble runs/search-1/ensemble.json',
  ];
  static override flags = {
    ...backendFlag,
    ...dataFlag,
    ...jsonFlag,
    // The holdout the trials are scored on is seed 42 whatever --seed says (the default shared
    // split, README "Search"): the shared flag's "splits" would not be true here.
    seed: Flags.integer({ description: "Random seed of the trials' draws and their members' seeds and shuffles; the holdout the trials are scored on is always seed 42 (the default shared split).", default: 42, env: 'DIGITS_SEED' }),
    ...queueFlag,
    space: Flags.string({ description: 'Search space JSON file (default: the shipped spaces/default.json).' }),
    trials: Flags.integer({ description: 'Trials to sample, at most (default 12; a continued search keeps its own unless this is given).', min: 1 }),
    budget: Flags.string({ description: 'Minutes after which no new trial or rung starts (running ones finish).' }),
    scheduler: Flags.string({ description: 'random: every trial to its sampled epochs; asha: asynchronous successive halving over epochs.', options: ['random', 'asha'], default: 'asha' }),
    eta: Flags.integer({ description: 'ASHA reduction factor η: rungs at r, rη, rη²… epochs, the top 1/η of a rung promoted.', default: 3, min: 2 }),
    out: Flags.string({ description: 'Search folder (default runs/search-<time>); an existing one is continued.' }),
    top: Flags.integer({ description: 'Trials written to the ensemble file.', default: 5, min: 1 }),
    concurrency: Flags.integer({ description: 'Trials trained at once (default: number of cores; with --queue, trials in the queue at once, default 8).', min: 1 }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Search);
    // A search continued in its --out keeps the settings it was started with where they are not
    // typed again (they had to be repeated, and a left-out --space was "another space": session 41).
    const started = flags.out ? await searchSettings(flags.out) : null;
    // (--data's default: the data a continued search was started on, else the working folder, as
    // its help says; until session 48 a continued search took the working folder too, and the
    // hint named the first competition below it)
    const data = flags.data ?? (started && existsSync(started.dataset) ? started.dataset : process.cwd());
    let budgetSeconds: number | undefined;
    if (flags.budget !== undefined) {
      const minutes = Number(flags.budget);
      if (!(minutes > 0)) throw new UserError(`--budget must be a number of minutes > 0, got ${flags.budget}`, { where: { flag: 'budget' }, hint: 'For example --budget 30.' });
      budgetSeconds = minutes * 60;
    }
    const typed = (name: string) => flagTyped(this.argv, name);
    let space;
    let spaceFile;
    if (started && !typed('space')) {
      ({ space, spaceFile } = started);
    } else {
      // A relative --space is the working folder's first, then the package's (`--space spaces/default.json`,
      // the help's example, failed outside the package), as `export onnx` and `--init` read theirs.
      const asked = path.resolve(flags.space ?? path.join(PACKAGE_ROOT, 'spaces', 'default.json'));
      const shipped = flags.space && !path.isAbsolute(flags.space) ? path.join(PACKAGE_ROOT, flags.space) : null;
      spaceFile = shipped && !existsSync(asked) && existsSync(shipped) ? shipped : asked;
      const file = spaceFile;
      const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
        // A folder is there but is no file: said so, not "no space file".
        const what = error.code === 'EISDIR' ? `--space ${file} is a folder, not a space file` : `no space file ${file}`;
        throw new UserError(what, { where: { file, flag: 'space' }, hint: 'Pass --space <file.json>; spaces/default.json in the package is an example.' });
      });
      space = searchSpaceFromJson(text, file);
    }
    const options: SearchOptions = {
      data,
      space,
      spaceFile,
      // (a free name, as train takes: two searches started in the same second shared one folder,
      // and the second was refused by the first's lock, naming an --out never typed)
      out: path.resolve(flags.out ?? path.join('runs', freeRunName('runs', `search-${timestamp()}`))),
      scheduler: (started && !typed('scheduler') ? started.scheduler : flags.scheduler) as SchedulerKind,
      trials: flags.trials,
      budgetSeconds,
      eta: started && !typed('eta') ? started.eta : flags.eta,
      top: flags.top,
      concurrency: flags.concurrency ?? (flags.queue ? 8 : os.availableParallelism()),
      backend: flags.backend as BackendRequest,
      // (DIGITS_SEED in the environment counts as typed: it is the user's seed)
      seed: started && !typed('seed') && process.env.DIGITS_SEED === undefined ? started.seed : flags.seed,
      command: recordedCommand(['digits', 'search', ...this.argv]),
      onEvent: (event: SearchEvent) => {
        if (this.jsonEnabled()) this.emitJson(event);
        else process.stderr.write(`${formatSearchEvent(event)}\n`);
      },
    };
    // A file in the way of the folder is said now, not by mkdir once the data is loaded (session 39).
    await assertFolderPath(options.out, { flag: 'out', what: 'the search folder' });
    const out = displayPath(options.out);
    this.exitOnInterrupt(() =>
      flags.queue
        ? // The trials stay on the queue and the workers go on training them: continuing now trains them twice, in the same folders.
          `The enqueued trials go on training on the workers (\`digits queue status --redis ${shellArg(redactRedisUrl(flags.queue))}\` shows them). Once the queue is idle, the same command${flags.out ? '' : ` with --out ${shellArg(out)}`} continues the search; continuing before would train the running trials a second time. Finished trials are kept in ${path.join(out, 'search.json')}; \`digits queue clean --run ${shellArg(path.basename(out))}\` removes the trials no worker has started.`
        : `Continue it with the same command${flags.out ? '' : ` and --out ${shellArg(out)}`}: finished trials are kept in ${path.join(out, 'search.json')}.`,
    );
    let report = null;
    let result;
    if (flags.queue) {
      // Trials as jobs on the queue; bullmq loads only here.
      const [{ searchOnQueue }, { formatRunReport }] = await Promise.all([import('../services/queue/enqueue.js'), import('../cli/queue.js')]);
      const onEnqueued = (info: { parent: string; children: number; storeRoot: string }) => {
        if (this.jsonEnabled()) this.emitJson({ type: 'enqueued', queue: redactRedisUrl(flags.queue!), ...info });
        else process.stderr.write(`trials go to ${queueNamed(flags.queue!, this.argv)} (flow ${info.parent}); workers need ${info.storeRoot} (or --store)\n`);
      };
      // (the end of a problem is news, not a warning: "warning: a worker is on the queue now" until session 49)
      const onNotice = (message: string, resolved: boolean) => (this.jsonEnabled() ? this.emitJson({ type: resolved ? 'notice' : 'warning', message }) : process.stderr.write(`${resolved ? '' : 'warning: '}${message}\n`));
      ({ report, ...result } = await searchOnQueue(options, { redis: flags.queue, flag: 'queue', onEnqueued, onNotice }));
      if (report && !this.jsonEnabled()) process.stderr.write(formatRunReport(report));
    } else {
      result = await runSearch(options);
    }
    if (this.jsonEnabled()) {
      // NDJSON: the leaderboard a row a line, then the result last (the CLI's JSON contract).
      for (const row of result.leaderboard) this.emitJson({ ...row, type: 'leaderboard' });
      this.printJson({ dir: result.dir, searchFile: result.searchFile, ensembleFile: result.ensembleFile, ensembleMembers: result.ensembleMembers, unfinished: result.unfinished, failed: result.failed, stoppedByBudget: result.stoppedByBudget, drawn: result.drawn, maxTrials: result.maxTrials, chance: result.chance, seconds: result.seconds, ...(report ? { queue: report } : {}) });
      this.failIfTrialsFailed(result, flags.out ? null : result.dir);
      return;
    }
    process.stdout.write(formatLeaderboard(result.leaderboard));
    for (const row of result.leaderboard) if (row.error) process.stdout.write(`failed      ${row.trial}: ${row.error}\n`);
    const trials = (n: number) => `${n} trial${n === 1 ? '' : 's'}`;
    const notes = [
      result.stoppedByBudget ? `--budget stopped it with ${result.drawn} of its ${result.maxTrials} trials drawn${result.unfinished ? `, ${result.unfinished} of them unfinished` : ''}: run the same command again to continue` : '',
      !result.stoppedByBudget && result.unfinished ? `${trials(result.unfinished)} unfinished: run the same command again to continue` : '',
      result.failed ? `${trials(result.failed)} failed: fix the cause, then run the same command again to try ${result.failed === 1 ? 'it' : 'them'} again` : '',
    ].filter(Boolean);
    process.stdout.write(`search      ${result.searchFile}${notes.length ? ` (${notes.join('; ')})` : ''}\n`);
    if (result.ensembleFile) {
      const fewer = result.ensembleMembers < flags.top ? ` (${result.ensembleMembers} of the --top ${flags.top}: only ${result.ensembleMembers} trial${result.ensembleMembers === 1 ? ' was' : 's were'} scored${result.chance.length ? ' better than chance' : ''})` : '';
      process.stdout.write(`ensemble    ${result.ensembleFile}${fewer}  (digits train --ensemble ${shellArg(result.ensembleFile)} --data ${shellArg(data)})\n`);
    }
    if (result.chance.length) {
      // (with no trial better than chance there is no ensemble file, which this line had left unsaid)
      const none = result.ensembleFile ? 'left out of the ensemble file' : 'so no ensemble file was written: widen the space (a higher learning rate, more epochs) or give the search more trials';
      process.stdout.write(`chance      ${result.chance.join(', ')}: no better than guessing (holdout loss ≥ ln 10 = ${CHANCE_LOSS.toFixed(2)}), ${none}\n`);
    }
    process.stdout.write(`time        ${result.seconds}s\n`);
    this.failIfTrialsFailed(result, flags.out ? null : result.dir);
  }

  /**
   * Some trials failed: the leaderboard and the ensemble file are of the others, and the command
   * says so last, exit 1, as train does for failed members (it exited 0, so a script went on to
   * train a smaller ensemble than it asked for).
   */
  private failIfTrialsFailed(result: { failed: number; leaderboard: readonly LeaderboardRow[] }, untypedOut: string | null): void {
    if (result.failed === 0) return;
    const failed = result.leaderboard.filter((row) => row.state === 'failed');
    const named = failed.slice(0, 3).map((row) => `${row.trial} (${row.error ?? 'no error recorded'})`).join('; ') + (failed.length > 3 ? `; ${failed.length - 3} more` : '');
    throw new UserError(`${result.failed} of ${result.leaderboard.length} trials failed: ${named}`, {
      hint: `The leaderboard and the ensemble file are of the trials that trained. Once what stopped ${result.failed === 1 ? 'it' : 'them'} is put right, the same command${untypedOut ? ` with --out ${shellArg(displayPath(untypedOut))}` : ''} tries ${result.failed === 1 ? 'it' : 'them'} again.`,
      exitCode: 1,
    });
  }
}
