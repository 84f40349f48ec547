/**
 * Running members for inference: one `Predictor` interface, two engines.
 *
 * - `onnx`: the member exported by onnx-export.ts, run by onnxruntime-node (MLAS kernels,
 *   AVX2/FMA, every core: `intraOpNumThreads` = cores). One InferenceSession per member,
 *   created once and reused for every batch. The graph holds the preprocessing, so it is
 *   fed raw [0,1] pixels.
 * - `tfjs`: the checkpoint loaded into tfjs on whatever backend `initEngine` chose,
 *   preprocessed with `fromSpec`, predicted in batches inside `tf.tidy`.
 *
 * `predictEnsemble` soft-votes members and test-time augmentation: each batch of images is
 * shifted into one stacked buffer (all TTA variants, built once), every member runs on that
 * buffer in one call, and its probabilities are summed straight into the result.
 */
import { createHash } from 'node:crypto';
import os from 'node:os';
import { readFile } from 'node:fs/promises';
import * as tf from '../engine/tf.js';
import { mulberry32 } from '../data/random.js';
import { loadOnnxRuntime, onnxRuntimeStatus, type OnnxRuntime, type OrtInferenceSession } from '../engine/ort.js';
import { UserError } from '../errors.js';
import { loadCheckpoint } from '../model/checkpoint.js';
import { UnsupportedLayerError, checkpointToOnnx, exportCheckpointToOnnx, exportModelToOnnx, rawImageShape, shapeWithoutBatch } from '../onnx/export.js';
import { fromSpec } from '../model/preprocess.js';
import type { CheckpointPreprocessing } from '../model/checkpoint.js';
import { existingInt8, tensorsToCalibrate, writeInt8Export, type CalibrationSet } from '../onnx/quantize.js';

export type InferEngine = 'onnx' | 'tfjs';
/**
 * Number format on ONNX Runtime: `fp32` the exact float export; `int8` the statically
 * quantized one (onnx-quantize.ts, calibrated on the member's training images); `auto` int8
 * when an int8 export exists or calibration images are at hand, else fp32. tfjs is always fp32.
 */
export type Precision = 'auto' | 'fp32' | 'int8';
export const PRECISIONS: readonly Precision[] = ['auto', 'fp32', 'int8'];
export type InferMode = 'auto' | InferEngine;
export const INFER_MODES: readonly InferMode[] = ['auto', 'onnx', 'tfjs'];

export interface Predictor {
  /** Class probabilities, `count` × classes, for `count` raw images (size×size, [0,1], row-major). */
  predict(images: Float32Array, count: number): Promise<Float32Array>;
  dispose(): void;
  readonly kind: InferEngine;
  /** side of the raw images the member takes (28 for our presets) */
  readonly imageSize: number;
  /** why this engine runs the member (e.g. why `auto` fell back to tfjs) */
  readonly reason: string;
  /** the number format it computes in */
  readonly precision: 'fp32' | 'int8';
}

export interface PredictorOptions {
  /** default 'auto': ONNX Runtime when onnxruntime-node loads, else tfjs */
  infer?: InferMode;
  /** intra-op threads of an ONNX Runtime session; default all cores */
  threads?: number;
  /** most images per engine call; larger requests are split (default 256 on tfjs, 1024 on ONNX Runtime) */
  batchSize?: number;
  /** ONNX Runtime number format (default 'auto') */
  precision?: Precision;
  /** training images to calibrate an int8 export on, asked for only when one has to be made */
  calibration?: () => Promise<CalibrationSet>;
  /**
   * Whether ONNX Runtime's idle intra-op threads spin-wait for the next run (its default, and
   * ours when unset). `false` lets them sleep: slightly slower to wake, but they leave the core
   * to other threads (the HTTP event loop, other workers) between runs. Ensembles want
   * `false`: members run one after another, each with its own thread pool, and a pool still
   * spinning after its member's run takes a core from the next member's (5 members × 8-way TTA:
   * 8,200–8,700 member passes/s without spinning, 7,200–7,600 with).
   */
  spin?: boolean;
}

function isWriteRefused(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return code === 'EACCES' || code === 'EPERM' || code === 'EROFS';
}

/**
 * The bytes ONNX Runtime runs for a member at `precision`: the int8 export when asked for (made
 * now from the float one when missing or stale and calibration images are given), else the float.
 */
async function modelBytesOf(runtime: OnnxRuntime, dir: string, options: Omit<PredictorOptions, 'infer'>): Promise<{ bytes: Uint8Array; note: string; precision: 'fp32' | 'int8' }> {
  const float = await onnxBytesOf(dir);
  const precision = options.precision ?? 'auto';
  if (precision === 'fp32') return { ...float, precision: 'fp32' };
  // A network without convolutions (the mlp) has nothing int8 would speed up.
  if (tensorsToCalibrate(float.bytes).length === 0) return { ...float, note: `${float.note}; fp32: no convolution to quantize`, precision: 'fp32' };
  const floatSha = createHash('sha256').update(float.bytes).digest('hex');
  const existing = await existingInt8(dir, floatSha);
  if (existing) return { bytes: existing.bytes, note: `int8, calibrated on ${existing.sidecar.calibration.source}`, precision: 'int8' };
  if (!options.calibration) {
    if (precision === 'auto') return { ...float, note: `${float.note}; fp32: no int8 export and no calibration images`, precision: 'fp32' };
    throw new UserError(`${dir} has no int8 export and no calibration images were given`, {
      hint: 'make it with `digits evaluate` (which calibrates an int8 export of each member on its training rows), or use --precision fp32',
    });
  }
  const calibration = await options.calibration();
  const made = await writeInt8Export(runtime, dir, float.bytes, calibration);
  return { bytes: made.bytes, note: `int8, calibrated now on ${calibration.source}${made.written ? '' : ' (in memory: the folder is read-only)'}`, precision: 'int8' };
}

/** How a member's note names where its float ONNX bytes came from. */
export const EXISTING_EXPORT_NOTE = 'existing export';
export const EXPORTED_NOW_NOTE = 'exported now';

/** The member's ONNX bytes: the checkpoint's `model.onnx`, exported now if missing or stale. */
async function onnxBytesOf(dir: string): Promise<{ bytes: Uint8Array; note: string }> {
  try {
    const result = await exportCheckpointToOnnx(dir);
    return { bytes: new Uint8Array(await readFile(result.path)), note: result.exported ? EXPORTED_NOW_NOTE : EXISTING_EXPORT_NOTE };
  } catch (error) {
    // A read-only checkpoint (shipped in a package, mounted read-only) is exported in memory.
    if (!isWriteRefused(error)) throw error;
    return { bytes: (await checkpointToOnnx(dir)).model.bytes, note: 'exported in memory: the checkpoint folder is read-only' };
  }
}

class OnnxPredictor implements Predictor {
  readonly kind = 'onnx' as const;
  private disposed = false;

  constructor(
    private readonly runtime: OnnxRuntime,
    private readonly session: OrtInferenceSession,
    private readonly shape: [number, number, number],
    private readonly batchSize: number,
    readonly precision: 'fp32' | 'int8',
    readonly reason: string,
  ) {}

  get imageSize(): number {
    return this.shape[0];
  }

  async predict(images: Float32Array, count: number): Promise<Float32Array> {
    if (this.disposed) throw new Error('predict on a disposed ONNX predictor');
    const per = this.shape[0] * this.shape[1] * this.shape[2];
    checkImages(images, count, per);
    if (count === 0) return new Float32Array(0);
    let out: Float32Array | null = null;
    let classes = 0;
    for (let start = 0; start < count; start += this.batchSize) {
      const n = Math.min(this.batchSize, count - start);
      const input = new this.runtime.Tensor('float32', images.subarray(start * per, (start + n) * per), [n, ...this.shape]);
      const result = await this.session.run({ images: input });
      const probs = result.probabilities!.data as Float32Array;
      // One call: hand ONNX Runtime's own output array over, no copy.
      if (n === count) return probs;
      classes = probs.length / n;
      out ??= new Float32Array(count * classes);
      out.set(probs, start * classes);
    }
    return out!;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.session.release().catch(() => undefined);
  }
}

/** A member on ONNX Runtime; exports the checkpoint first when its `model.onnx` is missing or stale. */
export async function createOnnxPredictor(checkpointDir: string, options: Omit<PredictorOptions, 'infer'> = {}): Promise<Predictor> {
  const runtime = loadOnnxRuntime();
  if (!runtime) {
    throw new UserError(`cannot run ${checkpointDir} on ONNX Runtime: ${onnxRuntimeStatus().reason}`, {
      hint: 'reinstall the dependencies with `npm ci`, or run on tfjs (--infer tfjs)',
    });
  }
  const { bytes, note, precision } = await modelBytesOf(runtime, checkpointDir, options);
  return openOnnxPredictor(runtime, bytes, precision, note, options);
}

/** One ONNX Runtime session on `bytes`, sequential, `threads` intra-op threads (default all cores). */
async function openOnnxPredictor(runtime: OnnxRuntime, bytes: Uint8Array, precision: 'fp32' | 'int8', note: string, options: Pick<PredictorOptions, 'threads' | 'batchSize' | 'spin'>): Promise<Predictor> {
  const threads = Math.max(1, options.threads ?? os.availableParallelism());
  const session = await runtime.InferenceSession.create(bytes, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    // Session config entries (onnxruntime_session_options_config_keys.h); the Node binding
    // flattens `extra` into dotted keys and refuses anything but an object of strings.
    ...(options.spin === false ? { extra: { session: { intra_op: { allow_spinning: '0' } } } } : {}),
  });
  const dims = (session.inputMetadata[0] as { shape?: Array<number | string> } | undefined)?.shape;
  const shape = (dims?.slice(1).map(Number) ?? [28, 28, 1]) as [number, number, number];
  return new OnnxPredictor(runtime, session, shape, options.batchSize ?? 1024, precision, `onnxruntime-node ${precision}, ${threads} thread${threads > 1 ? `s${options.spin === false ? ' (no spin-wait)' : ''}` : ''} (${note})`);
}

/**
 * A model held in memory (a member between two epochs) on ONNX Runtime: exported with its
 * preprocessing, fp32, one session. Null when ONNX Runtime does not load or a layer has no
 * export rule: the caller predicts on tfjs instead.
 */
export async function createOnnxPredictorForModel(model: tf.LayersModel, preprocessing: CheckpointPreprocessing, options: { threads?: number; batchSize?: number } = {}): Promise<Predictor | null> {
  const runtime = loadOnnxRuntime();
  if (!runtime) return null;
  let bytes: Uint8Array;
  try {
    bytes = exportModelToOnnx(model, { preprocessing }).bytes;
  } catch (error) {
    if (error instanceof UnsupportedLayerError) return null;
    throw error;
  }
  return openOnnxPredictor(runtime, bytes, 'fp32', 'exported in memory', { threads: options.threads ?? 1, batchSize: options.batchSize });
}

/* ---------- tfjs ---------- */

class TfjsPredictor implements Predictor {
  readonly kind = 'tfjs' as const;
  readonly precision = 'fp32' as const;

  constructor(
    private readonly model: tf.LayersModel,
    private readonly apply: (x: tf.Tensor4D) => tf.Tensor4D,
    private readonly shape: [number, number, number],
    private readonly batchSize: number,
    readonly reason: string,
  ) {}

  get imageSize(): number {
    return this.shape[0];
  }

  async predict(images: Float32Array, count: number): Promise<Float32Array> {
    const per = this.shape[0] * this.shape[1] * this.shape[2];
    checkImages(images, count, per);
    let out: Float32Array | null = null;
    for (let start = 0; start < count; start += this.batchSize) {
      const n = Math.min(this.batchSize, count - start);
      const probs = tf.tidy(() => {
        const x = tf.tensor4d(images.subarray(start * per, (start + n) * per), [n, ...this.shape]);
        return this.model.predict(this.apply(x)) as tf.Tensor;
      });
      try {
        const values = (await probs.data()) as Float32Array;
        const classes = values.length / n;
        out ??= new Float32Array(count * classes);
        out.set(values, start * classes);
      } finally {
        probs.dispose();
      }
    }
    return out ?? new Float32Array(0);
  }

  dispose(): void {
    this.model.dispose();
  }
}

/** A member on tfjs, on the backend `initEngine` chose. */
export async function createTfjsPredictor(checkpointDir: string, options: Omit<PredictorOptions, 'infer'> & { reason?: string } = {}): Promise<Predictor> {
  await tf.ready();
  const { model, metadata } = await loadCheckpoint(checkpointDir);
  const shape = rawImageShape(shapeWithoutBatch(model.inputs[0]!.shape), metadata.preprocessing);
  const pre = fromSpec(metadata.preprocessing);
  return new TfjsPredictor(model, (x) => pre.apply(x), shape, options.batchSize ?? 256, options.reason ?? `tfjs on ${tf.getBackend()}`);
}

/** Why a member runs fp32 when int8 was asked for (no convolution to quantize, no ONNX Runtime), or null when it does not. */
export function int8Fallback(asked: Precision | undefined, predictor: Pick<Predictor, 'precision' | 'reason'>): string | null {
  return asked === 'int8' && predictor.precision !== 'int8' ? `fp32, not the int8 asked for: ${predictor.reason}` : null;
}

/** int8 is an ONNX Runtime model: asked for with tfjs, it would be ignored without a word; refused (run checks it before training). */
export function assertInferPrecision(infer: InferMode | undefined, precision: Precision | undefined): void {
  if (infer === 'tfjs' && precision === 'int8') {
    throw new UserError('--precision int8 runs on ONNX Runtime, but --infer tfjs was asked for', { where: { flag: 'precision' }, hint: 'Drop --infer tfjs (or use --infer onnx), or use --precision fp32 with tfjs.' });
  }
}

/**
 * The predictor of one member. `auto` runs it on ONNX Runtime when onnxruntime-node loads
 * and the model exports, else on tfjs (saying why in `reason`).
 */
export async function createPredictor(checkpointDir: string, options: PredictorOptions = {}): Promise<Predictor> {
  const infer = options.infer ?? 'auto';
  if (infer === 'onnx') return createOnnxPredictor(checkpointDir, options);
  assertInferPrecision(infer, options.precision);
  if (infer === 'tfjs') return createTfjsPredictor(checkpointDir, { ...options, reason: `tfjs on ${tf.getBackend()} (asked for)` });
  const status = onnxRuntimeStatus();
  if (!status.available) return createTfjsPredictor(checkpointDir, { ...options, reason: `tfjs on ${tf.getBackend()}: ${status.reason}` });
  try {
    return await createOnnxPredictor(checkpointDir, options);
  } catch (error) {
    if (!(error instanceof UnsupportedLayerError)) throw error;
    return createTfjsPredictor(checkpointDir, { ...options, reason: `tfjs on ${tf.getBackend()}: ${error.message}` });
  }
}

/** Checks that `images` holds `count` images of `per` values. */
export function checkImages(images: Float32Array, count: number, per: number): void {
  if (!Number.isInteger(count) || count < 0) throw new Error(`count must be a non-negative integer, got ${count}`);
  if (images.length < count * per) throw new Error(`${count} images of ${per} pixels need ${count * per} values, got ${images.length}`);
}

/* ---------- parity of an export ---------- */

export interface ParityReport {
  images: number;
  /** largest |p_onnx − p_tfjs| over all images and classes */
  maxAbsDiff: number;
  /** images whose most likely class is the same on both engines */
  argmaxAgreement: number;
  tolerance: number;
  ok: boolean;
  /** the export compared: always the float one (`model.onnx`) */
  precision: 'fp32';
}

/**
 * Runs the checkpoint on tfjs and on its float ONNX export (`model.onnx`) over the same random
 * [0,1] images. Always fp32: with precision `auto` an evaluated member (whose folder holds the
 * `model.int8.onnx` that `digits evaluate` calibrates) would be compared as int8, whose
 * probabilities differ from tfjs's by design (issue 15: fine-tuned members "failed" parity
 * 57–62/64 while the shipped checkpoints, never evaluated, passed).
 */
export async function checkOnnxParity(checkpointDir: string, options: { images?: number; seed?: number; tolerance?: number } = {}): Promise<ParityReport> {
  const count = options.images ?? 64;
  const tolerance = options.tolerance ?? 1e-4;
  const onnx = await createOnnxPredictor(checkpointDir, { precision: 'fp32' });
  const reference = await createTfjsPredictor(checkpointDir);
  try {
    const random = mulberry32(options.seed ?? 1);
    const images = new Float32Array(count * reference.imageSize * reference.imageSize);
    for (let i = 0; i < images.length; i++) images[i] = random();
    const a = await onnx.predict(images, count);
    const b = await reference.predict(images, count);
    const classes = b.length / count;
    let maxAbsDiff = 0;
    let argmaxAgreement = 0;
    for (let i = 0; i < count; i++) {
      let bestA = 0;
      let bestB = 0;
      for (let k = 0; k < classes; k++) {
        const j = i * classes + k;
        maxAbsDiff = Math.max(maxAbsDiff, Math.abs(a[j]! - b[j]!));
        if (a[j]! > a[i * classes + bestA]!) bestA = k;
        if (b[j]! > b[i * classes + bestB]!) bestB = k;
      }
      if (bestA === bestB) argmaxAgreement++;
    }
    return { images: count, maxAbsDiff, argmaxAgreement, tolerance, ok: maxAbsDiff <= tolerance && argmaxAgreement === count, precision: 'fp32' };
  } finally {
    onnx.dispose();
    reference.dispose();
  }
}
