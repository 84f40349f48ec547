import { existsSync } from 'node:fs';
import path from 'node:path';
import { Flags } from '@oclif/core';
import { displayPath, shellArg } from '../data/format.js';
import { DigitsCommand } from '../cli/base-command.js';
import { backendFlag, inferFlag, jsonFlag, runDataFlag } from '../cli/flags.js';
import { resolveRunDir } from '../cli/runs.js';
import { createProgress, rowProgress } from '../cli/progress.js';
import type { BackendRequest } from '../engine/backend.js';
import { formatEvaluationSummary } from '../cli/evaluation-summary.js';
import { type InferMode, type Precision } from '../inference/predictor.js';
import { TTA_8 } from '../ensemble/tta.js';

export default class Evaluate extends DigitsCommand {
  static override summary = 'Score a run honestly: members on their held-out rows, the ensemble on rows no member trained on (soft/hard, with/without TTA).';
  static override examples = ['<%= config.bin %> evaluate', '<%= config.bin %> evaluate --run runs/quick-20261121-101500 --answers competitions/uniform-answers.csv', '<%= config.bin %> evaluate --no-tta --json'];
  static override flags = {
    ...backendFlag,
    ...jsonFlag,
    ...inferFlag,
    ...runDataFlag,
    run: Flags.string({ description: 'Run folder (default: the newest under runs/).' }),
    answers: Flags.string({ description: 'Answers file (ImageId,Label) of a practice competition: scores the test predictions too.' }),
    tta: Flags.boolean({ description: 'Test-time augmentation (8 small shifts) as well as plain predictions.', default: true, allowNo: true }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Evaluate);
    const runDir = await resolveRunDir(flags.run);
    const [{ initEngine }, { evaluateRun }] = await Promise.all([import('../engine/backend.js'), import('../services/evaluate.js')]);
    await initEngine({ backend: flags.backend as BackendRequest });
    // Bars with ETA on a terminal; the stage lines say enough in logs.
    const bars = createProgress({ quiet: this.plainOutput });
    // evaluation.json is written whole when the evaluation ends (atomically), so a stopped one
    // leaves the run's figures as they were.
    this.exitOnInterrupt(() => "The run's evaluation is as it was (evaluation.json is written only when an evaluation ends): run the same command again.");
    const report = await evaluateRun({
      runDir,
      infer: flags.infer as InferMode,
      precision: flags.precision as Precision,
      tta: flags.tta ? TTA_8 : [],
      answers: flags.answers,
      dataDir: flags.data,
      onProgress: this.jsonEnabled() ? undefined : (message) => process.stderr.write(`${message}\n`),
      onNote: (message) => (this.jsonEnabled() ? this.emitJson({ type: 'warning', message }) : process.stderr.write(`note: ${message}\n`)),
      onRows: rowProgress(bars),
    }).finally(() => bars.finish());
    // A report written from the evaluation before this one now describes figures that are gone
    // (it was left stale without a word): say so, with the command that writes it anew.
    const { REPORT_FILE } = await import('../runs/manifest.js');
    const stale = existsSync(path.join(runDir, REPORT_FILE))
      ? `${path.join(displayPath(runDir), REPORT_FILE)} is of the previous evaluation: \`digits report --run ${shellArg(displayPath(runDir))}\` writes it anew`
      : null;
    if (this.jsonEnabled()) {
      if (stale) this.emitJson({ type: 'warning', message: stale });
      this.printJson(report);
    } else {
      process.stdout.write(formatEvaluationSummary(report, { runDir }));
      if (stale) process.stderr.write(`note: ${stale}\n`);
    }
  }
}
