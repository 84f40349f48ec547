import path from 'node:path';
import { Errors, Flags } from '@oclif/core';
import { colorOn } from '../../cli/color.js';
import { DigitsCommand } from '../../cli/base-command.js';
import { backendFlag, dataFlag, jsonFlag, seedFlag } from '../../cli/flags.js';
import { parseDecimalCell } from '../../data/csv.js';
import { assertPngName, gridColumns, renderDigitGrid, writeDigitGridPng } from '../../data/inspect.js';
import { terminalWidth } from '../../cli/table.js';
import type { BackendRequest } from '../../engine/backend.js';
import { type AugmentationConfig, type AugmentationKey, augmentationConfigProblem, augmentationValueProblem } from '../../model/augmentation-config.js';
import { UserError } from '../../errors.js';

/** A flag of augmentation `key`: a plain decimal number within its limits (`AUGMENTATION_LIMITS`). */
const range = (key: AugmentationKey, description: string) =>
  Flags.custom<number>({
    description,
    parse: async (input: string) => {
      // In decimal, as CSV cells are read (Number() would take 0x1 and '' too).
      const value = parseDecimalCell(input);
      const problem = Number.isNaN(value) ? `must be a number, got ${input}` : augmentationValueProblem(key, value);
      // A CLIError, so the base command reports it as a bad flag value (exit 2), not as a bug.
      if (problem) throw new Errors.CLIError(problem, { exit: 2 });
      return value;
    },
  })();

export default class AugmentPreview extends DigitsCommand {
  static override summary = 'Draw augmented samples of the dataset in the terminal (and --png), to see what the ranges do.';
  static override examples = [
    '<%= config.bin %> augment preview --data competitions/uniform --rotation 10 --width-shift 0.1 --height-shift 0.1 --zoom 0.1',
    '<%= config.bin %> augment preview --data competitions/uniform --erasing 0.5 --png augment.png',
  ];
  static override flags = {
    ...backendFlag,
    ...dataFlag,
    ...jsonFlag,
    ...seedFlag,
    rotation: range('rotation', 'Degrees, uniform in ±value (Keras rotation_range).'),
    'width-shift': range('widthShift', 'Fraction of the width, ±value (width_shift_range).'),
    'height-shift': range('heightShift', 'Fraction of the height, ±value (height_shift_range).'),
    zoom: range('zoom', 'Zoom in [1−value, 1+value] per axis (zoom_range).'),
    shear: range('shear', 'Shear angle in degrees, ±value (shear_range).'),
    brightness: range('brightness', 'Brightness offset ±value (pixels in [0,1]).'),
    contrast: range('contrast', 'Contrast factor in [1−value, 1+value].'),
    noise: range('noise', 'Standard deviation of added Gaussian noise.'),
    erasing: range('erasing', 'Probability of erasing one random rectangle.'),
    'background-noise': range('backgroundNoise', 'Noisy-MNIST background: max(x, U(0, l)), l uniform in [background-noise-min, value] per image.'),
    'background-noise-min': range('backgroundNoiseMin', 'Lowest background-noise level l (default 0; equal to --background-noise for a fixed level).'),
    'pixel-shift': range('pixelShift', 'Whole-pixel shifts up to ±value per axis, borders filled from the image\'s own background (keeps noise statistics).'),
    'pixel-rotation': range('pixelRotation', 'Nearest-neighbour rotation, degrees ±value, borders filled from the image\'s own background (no interpolation).'),
    elastic: range('elastic', 'Elastic distortion, root-mean-square displacement in pixels (Simard et al. 2003); nearest-neighbour with --pixel-shift or --pixel-rotation, else bilinear.'),
    'elastic-sigma': range('elasticSigma', 'Smoothing of the elastic field in pixels (default 4).'),
    samples: Flags.integer({ description: 'Dataset rows to show.', default: 4, min: 1 }),
    variants: Flags.integer({ description: 'Augmented draws per row.', default: 5, min: 1 }),
    png: Flags.string({ description: 'Also write the grid as a PNG to this file.' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(AugmentPreview);
    if (flags.png) assertPngName(flags.png, 'png', 'augment.png');
    // (--data's default, as its help says and data inspect takes it: the working folder; until
    // session 48 a missing --data was refused here)
    const data = flags.data ?? process.cwd();
    // tfjs loads here, not when oclif reads the command (help, manifest).
    const [{ initEngine }, { AUGMENTATION_KEYS }, { previewAugmentation }] = await Promise.all([
      import('../../engine/backend.js'),
      import('../../model/augmentation-config.js'),
      import('../../services/augment-preview.js'),
    ]);
    const augmentation: AugmentationConfig = {};
    const flagOf: Record<keyof AugmentationConfig, string> = {
      rotation: 'rotation', widthShift: 'width-shift', heightShift: 'height-shift', zoom: 'zoom', shear: 'shear',
      brightness: 'brightness', contrast: 'contrast', noise: 'noise', erasing: 'erasing', backgroundNoise: 'background-noise', backgroundNoiseMin: 'background-noise-min',
      pixelShift: 'pixel-shift', pixelRotation: 'pixel-rotation', elastic: 'elastic', elasticSigma: 'elastic-sigma',
    };
    for (const key of AUGMENTATION_KEYS) {
      const value = (flags as Record<string, unknown>)[flagOf[key]] as number | undefined;
      if (value !== undefined) augmentation[key] = value;
    }
    const problem = augmentationConfigProblem(augmentation, (key) => `--${flagOf[key]}`);
    if (problem) throw new UserError(`--${flagOf[problem.key]} ${problem.message}`, { where: { flag: flagOf[problem.key] }, hint: 'For example --background-noise 0.5 --background-noise-min 0.2.' });
    await initEngine({ backend: flags.backend as BackendRequest });
    const preview = await previewAugmentation({ data, augmentation, samples: flags.samples, variants: flags.variants, seed: flags.seed });
    if (flags.png) await writeDigitGridPng(path.resolve(flags.png), preview.tiles, { size: preview.size, columns: preview.columns });
    if (flags.json) {
      // (the label a number, as everywhere else: it was the tile's caption text, "0", until session 43)
      const samples = preview.rows.map((row, i) => ({ row, label: preview.labels[i]!, draws: preview.columns - 1 }));
      this.printJson({ dataset: data, augmentation, size: preview.size, samples, png: flags.png ? path.resolve(flags.png) : null });
      return;
    }
    const color = colorOn(process.stdout);
    // As many tiles per line as the terminal holds (a sample's draws wrap onto the next line).
    const columns = gridColumns(terminalWidth(process.stdout) === Number.POSITIVE_INFINITY ? 10_000 : terminalWidth(process.stdout), preview.size, preview.columns);
    process.stdout.write(`augmentation ${JSON.stringify(augmentation)}\n${renderDigitGrid(preview.tiles, { size: preview.size, columns, color })}\n`);
    if (flags.png) process.stdout.write(`png ${path.resolve(flags.png)}\n`);
  }
}
