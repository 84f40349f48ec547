import { join } from 'node:path';
import { Flags } from '@oclif/core';
import { DigitsCommand } from '../../cli/base-command.js';
import { jsonFlag, seedFlag } from '../../cli/flags.js';
import { UserError } from '../../errors.js';
import { DEFAULT_PRACTICE_RECIPE, PRACTICE_RECIPES, PRACTICE_RECIPE_SPECS, type PracticeRecipe, buildPracticeCompetition, removeOwnPracticeFilesSync } from '../../data/practice.js';
import { displayPath, formatCount, pathArg } from '../../data/format.js';
import { writePracticePreview } from '../../data/practice-preview.js';
import { createProgress } from '../../cli/progress.js';

export default class DataPractice extends DigitsCommand {
  static override summary = 'Build a practice competition from genuine MNIST.';

  static override description = `Writes train.csv, test.csv and sample_submission.csv in the layout of a real noisy-MNIST competition, with the test answers beside the folder (<out>-answers.csv) for offline scoring. Training rows come from the MNIST training set, test rows only from t10k. Recipes: ${PRACTICE_RECIPES.map((name) => `${name} (${PRACTICE_RECIPE_SPECS[name].summary})`).join('; ')}. With --preview, writes no competition but a PNG with one row per recipe (every recipe, or the one --recipe names) showing its first test rows (--test of them, default 8).`;

  static override examples = [
    '<%= config.bin %> data practice',
    '<%= config.bin %> data practice --recipe gaussian --sigma 0.5 --out competitions/sigma05',
    '<%= config.bin %> data practice --recipe clean --train 5000 --test 1000 --seed 7',
    '<%= config.bin %> data practice --recipe mnistc-motion-blur --out competitions/motion-blur',
    '<%= config.bin %> data practice --preview recipes.png',
    '<%= config.bin %> data practice --preview gaussian.png --recipe gaussian --test 16',
  ];

  static override flags = {
    ...jsonFlag,
    ...seedFlag,
    // (no oclif default: --preview draws the recipe given, or every recipe when none is)
    recipe: Flags.string({ description: `Which competition to imitate (default ${DEFAULT_PRACTICE_RECIPE}); with --preview, the one recipe to draw (default: every recipe).`, options: [...PRACTICE_RECIPES] }),
    sigma: Flags.string({ description: 'Noise σ (pixels in [0,1]) for gaussian (default 0.3) and affine (default 0).' }),
    train: Flags.integer({ description: 'Training rows (default: 42,000 for clean, 12,000 otherwise; at most 60,000).' }),
    test: Flags.integer({ description: 'Test rows, from t10k (default and at most 10,000); with --preview, digits per recipe (default 8).' }),
    out: Flags.string({ description: 'Competition folder to create (default: competitions/<recipe>).' }),
    force: Flags.boolean({ description: 'Replace the practice competition already in --out (its three CSVs and import cache; a folder holding anything else, or CSVs data practice did not write there, is refused).', default: false }),
    preview: Flags.string({ description: 'Write a PNG of the first test rows under every recipe instead of building a competition.', exclusive: ['train', 'out', 'force', 'sigma'] }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(DataPractice);
    const recipe = (flags.recipe ?? DEFAULT_PRACTICE_RECIPE) as PracticeRecipe;
    if (flags.preview) {
      // --recipe draws that one recipe (until session 43 it was ignored in silence: all were drawn)
      const recipes = flags.recipe ? [recipe] : PRACTICE_RECIPES;
      const preview = await writePracticePreview(flags.preview, { recipes, count: flags.test ?? 8, seed: flags.seed });
      if (flags.json) this.printJson({ file: flags.preview, recipes: preview.recipes, sourceIndices: preview.sourceIndices, width: preview.width, height: preview.height });
      else process.stdout.write(`Wrote ${displayPath(flags.preview)}: ${preview.recipes.length === 1 ? `the ${preview.recipes[0]} recipe` : `${preview.recipes.length} recipes`} × ${preview.sourceIndices.length} t10k digits (test rows 1–${preview.sourceIndices.length}, seed ${flags.seed})\n`);
      return;
    }
    let sigma: number | undefined;
    if (flags.sigma !== undefined) {
      sigma = Number(flags.sigma);
      if (flags.sigma.trim() === '' || !Number.isFinite(sigma)) {
        throw new UserError(`--sigma must be a number, not ${JSON.stringify(flags.sigma)}`, { where: { flag: 'sigma' }, hint: 'For example --sigma 0.3.' });
      }
    }
    const out = flags.out ?? join(process.cwd(), 'competitions', recipe);
    // Ctrl-C: the build's temp folder and files go at once (until session 45 the signal ended it
    // without a word, leaving 57–127 MB of them beside --out), and its last word says so.
    this.exitOnInterrupt(() => {
      removeOwnPracticeFilesSync(out);
      return 'The competition was not built (its partial files are removed): run the same command again.';
    });
    const progress = createProgress({ quiet: this.jsonEnabled() });
    const report = await buildPracticeCompetition({
      recipe,
      out,
      trainRows: flags.train,
      testRows: flags.test,
      seed: flags.seed,
      sigma,
      force: flags.force,
      onProgress: (event) => progress.update({ task: `writing ${event.split}.csv`, done: event.done, total: event.total, unit: 'rows' }),
    }).finally(() => progress.finish());
    if (flags.json) {
      this.printJson(report);
      return;
    }
    const shown = displayPath;
    const lines = [
      `Built the ${report.recipe} practice competition in ${shown(report.dir)} (${report.seconds.toFixed(1)} s)`,
      `  ${report.summary}${report.sigma ? `, σ = ${report.sigma}` : ''}; seed ${report.seed}`,
      `  train.csv              ${formatCount(report.trainRows)} rows from the MNIST training set`,
      `  test.csv               ${formatCount(report.testRows)} rows from MNIST t10k`,
      '  sample_submission.csv  ImageId,Label',
      `  answers (keep apart)   ${shown(report.answers)}, ${shown(report.answerKey)}`,
      `Next: digits data import ${pathArg(shown(report.dir))}`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  }
}
