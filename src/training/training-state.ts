/**
 * What `last/` holds besides the weights so that a resumed member continues exactly where it
 * stopped: the epoch loop's state (epoch, history, learning rate, best so far, the plateau
 * and early-stopping counters), the training step's optimizer state (moments, step count)
 * and the random streams. Shuffle and augmentation are seeded per epoch from
 * (seed, member, epoch), so the next epoch's seeds are recorded and checked; the dropout
 * stream runs across epochs and is saved as its generator state (ORT trainer).
 *
 * Written by `saveCheckpoint(..., { trainingState })` in the same atomic save as the weights
 * (one marker lists all files), never as a separate file that could disagree with them.
 */
import type { TrainingStateFiles } from '../model/checkpoint.js';
import type { SavedTensor, StepState } from './train-step.js';

export const TRAINING_STATE_VERSION = 1;

/** One finished epoch, as history.json and the training events report it. */
export interface EpochRecord {
  epoch: number;
  loss: number;
  acc: number;
  valLoss: number;
  valAcc: number;
  /** with a weight average (`ema`): the trained weights' validation figures; valLoss and valAcc are the average's */
  trainedValLoss?: number;
  trainedValAcc?: number;
  lr: number;
  imagesPerSecond: number;
  seconds: number;
}


export interface LoopState {
  /** the next epoch to train (= epochs finished) */
  epoch: number;
  history: EpochRecord[];
  lr: number;
  bestValLoss: number;
  bestEpoch: number;
  bestValAcc: number;
  plateau: number;
  sinceBest: number;
  /** seeds of the next epoch's shuffle and augmentation streams */
  random: { shuffle: number; augment: number };
}

interface TrainingStateJson {
  format: 'digits-training-state';
  version: number;
  loop: LoopState;
  step: Omit<StepState, 'tensors'> & { tensors: Array<Omit<SavedTensor, 'data'> & { offset: number; length: number }> };
}

export function encodeTrainingState(loop: LoopState, step: StepState): TrainingStateFiles {
  let bytes = 0;
  const tensors = step.tensors.map((t) => {
    const entry = { name: t.name, shape: t.shape, dtype: t.dtype, offset: bytes, length: t.data.length };
    bytes += t.data.length * 4;
    return entry;
  });
  const bin = new Uint8Array(bytes);
  step.tensors.forEach((t, i) => bin.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.length * 4), tensors[i]!.offset));
  // Infinity (no best epoch yet) does not survive JSON: null stands for it.
  const json: TrainingStateJson = { format: 'digits-training-state', version: TRAINING_STATE_VERSION, loop: { ...loop, bestValLoss: Number.isFinite(loop.bestValLoss) ? loop.bestValLoss : (null as unknown as number) }, step: { ...step, tensors } };
  return { json, bin };
}

export function decodeTrainingState(files: TrainingStateFiles, where: string): { loop: LoopState; step: StepState } {
  const json = files.json as TrainingStateJson;
  if (json?.format !== 'digits-training-state' || json.version !== TRAINING_STATE_VERSION) {
    throw new Error(`${where}: not a training state this digits reads (format ${String(json?.format)}, version ${String(json?.version)})`);
  }
  const copy = files.bin.slice();
  const tensors: SavedTensor[] = json.step.tensors.map((t) => {
    if (t.offset + t.length * 4 > copy.byteLength) throw new Error(`${where}: tensor ${t.name} lies beyond the end of the state file`);
    const data = t.dtype === 'int32' ? new Int32Array(copy.buffer, t.offset, t.length) : new Float32Array(copy.buffer, t.offset, t.length);
    return { name: t.name, shape: t.shape, dtype: t.dtype, data };
  });
  const loop = { ...json.loop, bestValLoss: json.loop.bestValLoss ?? Infinity };
  return { loop, step: { ...json.step, tensors } };
}
