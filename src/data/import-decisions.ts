/**
 * The import's decisions from the first rows of each file, before the streaming pass: the
 * sample's images in [0, 1], the ink polarity (dark on light is stored inverted), test.csv
 * against train.csv (a test set stored another way is refused), and the orientation.
 */
import { basename } from 'node:path';
import { UserError } from '../errors.js';
import type { CsvSample } from './csv.js';
import type { Detection } from './dataset.js';
import type { TestLayout, TrainLayout } from './detect.js';
import { type LayoutMatch, type Polarity, inkPolarity, matchTestToTrain } from './ink.js';
import { type Orientation, type OrientationScorer, detectOrientation } from './orientation.js';

/** The import options these decisions read (ImportOptions' fields of the same names). */
export interface ImportChoices {
  /** true/false: store inverted or not; undefined detects */
  invert?: boolean;
  orientation?: Orientation;
  orientationScorer?: OrientationScorer;
  orientationMargin?: number;
}

/** Pixels of a sample's data rows in [0, 1] (train's pixel order), with their labels, for the checks before the streaming pass. */
export interface SampleImages {
  images: Float32Array;
  labels: Uint8Array | null;
  count: number;
  size: number;
}

export function sampleImages(sample: CsvSample, header: boolean, columns: number, pixelColumns: number[], scale: number, labelColumn: number | null, limit = 1000): SampleImages {
  const size = Math.round(Math.sqrt(pixelColumns.length));
  const pixels = pixelColumns.length;
  const rows = (header ? sample.rows.slice(1) : sample.rows).filter((row) => row.cells.length === columns).slice(0, limit);
  const images = new Float32Array(rows.length * pixels);
  const labels = labelColumn === null ? null : new Uint8Array(rows.length);
  rows.forEach((row, i) => {
    // A bad cell reads as 0 here: the streaming pass reports it with its place.
    for (let p = 0; p < pixels; p++) images[i * pixels + p] = Math.min(1, Math.max(0, (Number(row.cells[pixelColumns[p]!]) || 0) / scale));
    if (labels && labelColumn !== null) labels[i] = Math.min(9, Math.max(0, Math.trunc(Number(row.cells[labelColumn]) || 0)));
  });
  return { images, labels, count: rows.length, size };
}

export function invertInPlace(images: Float32Array): void {
  for (let i = 0; i < images.length; i++) images[i] = 1 - images[i]!;
}

/**
 * Dark digits on a light background (in train and test alike) are stored inverted, so the
 * cache always holds MNIST's bright-on-dark; the record (`inverted` in dataset.json) says so.
 * Nothing downstream needs it: every command reads the cache, and serve's image input makes
 * its own drawings bright-on-dark. test.csv drawn the other way round from train.csv is
 * refused: a model trained on one polarity predicts the other near-randomly.
 */
export function decidePolarity(options: Pick<ImportChoices, 'invert'>, train: TrainLayout, trainLook: SampleImages, test: TestLayout | null, testLook: SampleImages | null): Detection<'as-is' | 'inverted'> {
  const trainPolarity = inkPolarity(trainLook.images, trainLook.count, trainLook.size);
  if (options.invert !== undefined) {
    // A flag against what the pixels show is done as asked, and said (--invert on MNIST's own bright
    // digits went through without a word, and stored digits no shipped checkpoint has seen).
    const against = trainPolarity.inverted === !options.invert ? `, against what ${basename(train.file)}'s first ${trainLook.count} rows show (${trainPolarity.reason}): the cache holds ${options.invert ? 'dark digits on a light background, which no shipped checkpoint was trained on' : 'dark digits on a light background as they are'}` : '';
    return options.invert ? { value: 'inverted', how: 'flag', reason: `--invert${against}` } : { value: 'as-is', how: 'flag', reason: `--no-invert${against}` };
  }
  const testPolarity = testLook ? inkPolarity(testLook.images, testLook.count, testLook.size) : null;
  if (test && testPolarity && trainPolarity.inverted !== null && testPolarity.inverted !== null && testPolarity.inverted !== trainPolarity.inverted) {
    const draws = (p: Polarity) => (p.inverted ? 'dark digits on a light background' : 'bright digits on a dark background');
    throw new UserError(`${basename(test.file)} draws ${draws(testPolarity)}, but ${basename(train.file)} draws ${draws(trainPolarity)}: a model trained on one predicts the other near-randomly`, {
      where: { file: test.file, line: test.firstDataLine },
      hint: `Both files must draw digits the same way: invert ${basename(test.file)}'s pixels (255 − v, or 1 − v for values in [0, 1]) or check both come from the same competition; if both are right as they are, import with --no-invert. Found in its first ${testLook!.count} rows: ${testPolarity.reason}; ${basename(train.file)}: ${trainPolarity.reason}.`,
    });
  }
  if (trainPolarity.inverted) return { value: 'inverted', how: 'detected', reason: trainPolarity.reason };
  return { value: 'as-is', how: 'detected', reason: trainPolarity.reason };
}

const TRANSFORM_WORDS: Record<Orientation, string> = {
  'as-is': 'as stored',
  transpose: 'transposed (rows and columns swapped)',
  'flip-h': 'mirrored left to right',
  'flip-v': 'mirrored top to bottom',
  rot90: 'turned a quarter turn',
  rot180: 'turned upside down (rot180)',
  rot270: 'turned a quarter turn',
  'transpose-anti': 'transposed along the anti-diagonal',
};

/**
 * Refuses a test.csv whose images are laid out differently from train.csv's (transposed,
 * mirrored, turned, or its pixel columns in another order): orientation is detected on train
 * and applied to both, so such a test set used to end in a near-random "validated" submission.
 */
export function checkTestMatchesTrain(train: TrainLayout, trainLook: SampleImages, test: TestLayout, testLook: SampleImages): LayoutMatch {
  const match = matchTestToTrain({ images: trainLook.images, labels: trainLook.labels!, count: trainLook.count }, testLook, trainLook.size);
  if (match.differs && match.best) {
    const size = trainLook.size;
    throw new UserError(`${basename(test.file)}'s images are not stored like ${basename(train.file)}'s: they look ${TRANSFORM_WORDS[match.best]} (${match.note})`, {
      where: { file: test.file, line: test.firstDataLine },
      hint: `Both files must store each ${size}×${size} image the same way. Write ${basename(test.file)} again in ${basename(train.file)}'s layout (its images after ${match.best}), or check both come from the same competition; if ${basename(test.file)} is right as it is, import with --no-test-check.`,
    });
  }
  return match;
}

export async function decideOrientation(
  options: Pick<ImportChoices, 'orientation' | 'orientationScorer' | 'orientationMargin'>,
  train: TrainLayout,
  look: SampleImages,
): Promise<Detection<Orientation> & { confidence: number | null; note: string }> {
  if (options.orientation) {
    return { value: options.orientation, how: 'flag', reason: `--orientation ${options.orientation}`, confidence: null, note: `set with --orientation ${options.orientation}` };
  }
  // The first 256 rows, in [0, 1] (inverted already when the competition draws dark on light).
  const count = Math.min(256, look.count);
  const pixels = look.size * look.size;
  const detection = await detectOrientation(
    { images: look.images.subarray(0, count * pixels), size: train.size.value, scale: 1, labels: look.labels?.subarray(0, count) },
    options.orientationScorer,
    { margin: options.orientationMargin },
  );
  return {
    value: detection.orientation,
    how: 'detected',
    reason: detection.confidence === null ? `as-is: ${detection.note}` : `${detection.note} (confidence ${detection.confidence.toFixed(3)})`,
    confidence: detection.confidence,
    note: detection.note,
  };
}
