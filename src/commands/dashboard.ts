import path from 'node:path';
import { Flags } from '@oclif/core';
import { colorOn } from '../cli/color.js';
import { DigitsCommand } from '../cli/base-command.js';
import { jsonFlag } from '../cli/flags.js';
import { gridColumns, renderDigitGrid } from '../data/inspect.js';
import { buildDashboardModel, dashboardText, findView, misreadTiles } from '../evaluation/dashboard-model.js';
import { digitSourceForReport } from '../evaluation/dashboard-model.js';
import { relocatedDatasetDir } from '../runs/relocate.js';
import { latestEvaluatedRun, readRunEvaluation, runResumeCommand } from '../runs/manifest.js';

export default class Dashboard extends DigitsCommand {
  static override summary = 'Per-class precision/recall/F1, the confusion matrix, misread digits and training curves of an evaluated run.';

  static override description =
    'Reads <run>/evaluation.json (written by digits evaluate) and the dataset cache, so it opens instantly. In a terminal it fits the window: ←/→ (or typing the number of a view, e.g. 1 then 2 for view 12) switch between the ensemble and its members, ↑/↓ and PgUp/PgDn scroll, q quits. Piped, with CI=true or --json: prints the tables once (or the model as JSON).';

  static override examples = [
    '<%= config.bin %> dashboard',
    '<%= config.bin %> dashboard --run runs/quick-20261121-101500 --member seed002-1',
    '<%= config.bin %> dashboard --json > dashboard.json',
  ];

  static override flags = {
    ...jsonFlag,
    run: Flags.string({ description: 'Evaluated run folder (default: the newest under runs/ with an evaluation.json).' }),
    member: Flags.string({ description: 'View shown first: a member name, a k-fold recipe (its out-of-fold predictions), or one of the ensemble views the run has: ensemble, ensemble-hard, ensemble-tta, ensemble-hard-tta, ensemble-weighted, test, test-tta, test-equal, test-equal-tta.' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Dashboard);
    const runDir = flags.run ? path.resolve(flags.run) : await latestEvaluatedRun('runs');
    const report = await readRunEvaluation(runDir, 'show');
    const model = buildDashboardModel(report);
    const viewIndex = findView(model, flags.member, runDir, await runResumeCommand(runDir));
    if (flags.json) {
      this.printJson({ runDir, view: model.views[viewIndex]!.key, ...model });
      return;
    }
    const { source, note } = await digitSourceForReport(report, runDir, relocatedDatasetDir(runDir, report.dataset.dir, report.dataset.fingerprint));
    if (note) process.stderr.write(`note: ${note}\n`);
    // The screen needs a person at a terminal: stderr to draw on, stdin for keys, and stdout
    // too, else `digits dashboard | less` (or `| head`) got a screen on stderr and nothing in the pipe.
    if (this.plainOutput || !process.stdin.isTTY || !process.stdout.isTTY) {
      const view = model.views[viewIndex]!;
      // (piped into less or head: the terminal's width, which stderr still has; 120 in a file or CI)
      const width = process.stdout.columns ?? process.stderr.columns ?? 120;
      const size = source?.size ?? 28;
      const tiles = misreadTiles(view, source, gridColumns(width, size, Math.max(1, view.pairs.length)));
      const color = colorOn(process.stdout);
      const digits = tiles.length > 0 ? renderDigitGrid(tiles, { size, columns: tiles.length, color }) : undefined;
      process.stdout.write(dashboardText(model, viewIndex, digits));
      return;
    }
    const { showDashboard } = await import('../tui/Dashboard.js');
    const ended = await showDashboard({ model, initialView: viewIndex, digits: source, color: colorOn(process.stderr), bracketCurrent: !colorOn(process.stderr) });
    if (ended === 'interrupted') {
      // Ctrl-C ends it as it ends other commands: by SIGINT (a shell reports 130), now that
      // the screen is closed and the terminal restored. The exit code is for a handler that
      // keeps the process alive.
      process.exitCode = 130;
      process.kill(process.pid, 'SIGINT');
    }
  }
}
