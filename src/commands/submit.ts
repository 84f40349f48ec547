import path from 'node:path';
import { Flags } from '@oclif/core';
import { DigitsCommand } from '../cli/base-command.js';
import { backendFlag, inferFlag, jsonFlag, runDataFlag } from '../cli/flags.js';
import { resolveRunDir } from '../cli/runs.js';
import { runSubmissionsDir } from '../runs/manifest.js';
import { displayPath, plural, shellArg } from '../data/format.js';
import { createProgress, rowProgress } from '../cli/progress.js';
import type { BackendRequest } from '../engine/backend.js';
import type { InferMode, Precision } from '../inference/predictor.js';

export default class Submit extends DigitsCommand {
  static override summary = "Write a run's submission CSV in the competition's format, validate it as Kaggle would, and record it in submissions/ledger.jsonl.";
  static override examples = ['<%= config.bin %> submit', '<%= config.bin %> submit --run runs/quick-20261121-101500 --name try-3', '<%= config.bin %> submit --answers competitions/uniform-answers.csv'];
  static override flags = {
    ...backendFlag,
    ...inferFlag,
    ...runDataFlag,
    ...jsonFlag,
    run: Flags.string({ description: 'Run folder (default: the newest under runs/).' }),
    name: Flags.string({ description: "Name part of the file name, at most 100 characters (default: the run's name)." }),
    dir: Flags.string({ description: "Submissions folder (default: submissions/ of the run's project, the folder above its runs/; for a run folder elsewhere, ./submissions)." }),
    answers: Flags.string({ description: 'Answers file (ImageId,Label) of a practice competition: the score goes into the ledger.' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Submit);
    const runDir = await resolveRunDir(flags.run);
    const dir = flags.dir ? path.resolve(flags.dir) : runSubmissionsDir(runDir);
    const shownDir = displayPath(dir);
    const [{ initEngine }, { submitRun }] = await Promise.all([import('../engine/backend.js'), import('../services/submit.js')]);
    await initEngine({ backend: flags.backend as BackendRequest });
    // Bars with ETA on a terminal; the stage lines say enough in logs.
    const bars = createProgress({ quiet: this.plainOutput });
    // The CSV is named before its ledger line is appended (services/submit.ts), so a submit
    // stopped between the two leaves a file without its line, which the next submit and
    // `digits submissions` report and keep.
    this.exitOnInterrupt(
      () =>
        `Run the same command again. A CSV in ${shellArg(shownDir)} named before the interruption but not in its ledger is kept, and \`digits submissions${dir === path.resolve('submissions') ? '' : ` --dir ${shellArg(shownDir)}`}\` lists it.`,
    );
    const result = await submitRun({
      runDir,
      dir,
      name: flags.name,
      answers: flags.answers,
      dataDir: flags.data,
      infer: flags.infer as InferMode,
      precision: flags.precision as Precision,
      onProgress: this.jsonEnabled() ? undefined : (m) => process.stderr.write(`${m}\n`),
      onWarning: (message) => (this.jsonEnabled() ? this.emitJson({ type: 'warning', message }) : process.stderr.write(`warning: ${message}\n`)),
      onRows: rowProgress(bars),
    }).finally(() => bars.finish());
    if (this.jsonEnabled()) {
      this.printJson(result);
      return;
    }
    process.stdout.write(`${result.file}\n  ${plural(result.rows, 'row')}, ${plural(result.members.length, 'member')}, ${result.voting === 'weighted soft' && result.weights ? `weighted soft voting (ensemble selection: ${result.weights.map((w) => w.toFixed(3)).join(', ')})` : result.weights ? `soft voting (recipes equal, a recipe's weight shared by its trained fold members: ${result.weights.map((w) => w.toFixed(3)).join(', ')})` : 'soft voting'}, ${result.tta > 1 ? `${result.tta}-way TTA` : 'no TTA'} (${result.ttaReason}), predicted in ${result.precision}; validated (header, ids, row count, labels 0–9)\n`);
    if (result.validation) process.stdout.write(`  validation accuracy ${(result.validation.accuracy * 100).toFixed(2)}% (${result.validation.outOfBag ? 'out of bag' : 'held-out rows'}${result.validation.precision === result.precision ? '' : `, of the ${result.validation.precision} evaluation`})\n`);
    if (result.score) process.stdout.write(`  score ${(result.score.accuracy * 100).toFixed(2)}% against ${result.score.answers}\n`);
  }
}
