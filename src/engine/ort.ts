/**
 * The one place onnxruntime-node is loaded, lazily (a build without its native binary still
 * runs everything on tfjs).
 *
 * - `loadOnnxRuntime`: the package's public API (`InferenceSession.create`, `Tensor`): what
 *   inference and calibration use.
 * - `loadOrt`: its synchronous session binding. `InferenceSession.run` of onnxruntime-node is a
 *   Promise wrapped around a synchronous native call (onnxruntime-node `dist/backend.js` runs
 *   `binding.InferenceSession.run` inside `setImmediate`); tfjs kernels are synchronous, and the
 *   whole-step trainer pays no `setImmediate` per step, so both call the binding directly. If a
 *   future onnxruntime-node moves it, this fails cleanly and callers fall back to tfjs.
 */
import { createRequire } from 'node:module';
import type * as Ort from 'onnxruntime-node';

const require = createRequire(import.meta.url);

export type OnnxRuntime = typeof Ort;
export type OrtInferenceSession = Ort.InferenceSession;

export interface OrtTensor {
  data: Float32Array;
  dims: readonly number[];
}
/** A session of the native binding: `run` returns when the outputs are computed. */
export interface SyncSession {
  loadModel(buffer: ArrayBuffer, byteOffset: number, byteLength: number, options: object): void;
  run(feeds: Record<string, OrtTensor>, fetches: Record<string, null>, options: object): Record<string, OrtTensor>;
  endProfiling?(): void;
  dispose(): void;
}
export interface OrtModules {
  Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => OrtTensor;
  InferenceSession: new () => SyncSession;
  version: string;
}

let runtime: OnnxRuntime | null = null;
let runtimeFailure: string | null = null;
let sync: OrtModules | null = null;
let syncFailure: string | null = null;

const firstLine = (error: unknown) => (error instanceof Error ? error.message.split('\n')[0]! : String(error));

/** onnxruntime-node, or null (`onnxRuntimeStatus` says why). */
export function loadOnnxRuntime(): OnnxRuntime | null {
  if (runtime || runtimeFailure) return runtime;
  try {
    runtime = require('onnxruntime-node') as OnnxRuntime;
  } catch (error) {
    runtimeFailure = firstLine(error);
  }
  return runtime;
}

/** The installed onnxruntime-node's version (null when it does not load). */
export function onnxRuntimeVersion(): string | null {
  if (!loadOnnxRuntime()) return null;
  return (require('onnxruntime-node/package.json') as { version: string }).version;
}

export function onnxRuntimeStatus(): { available: boolean; reason: string } {
  const version = onnxRuntimeVersion();
  if (version) return { available: true, reason: `onnxruntime-node ${version}` };
  return { available: false, reason: `onnxruntime-node did not load: ${runtimeFailure}` };
}

/** onnxruntime-node's Tensor class and synchronous session binding, or null (see `ortLoadFailure`). */
export function loadOrt(): OrtModules | null {
  if (sync || syncFailure) return sync;
  const ort = loadOnnxRuntime();
  if (!ort) {
    syncFailure = runtimeFailure;
    return null;
  }
  try {
    const bindingModule = require('onnxruntime-node/dist/binding') as {
      binding: { InferenceSession: new () => SyncSession };
      initOrt: () => void;
    };
    bindingModule.initOrt();
    if (typeof bindingModule.binding?.InferenceSession !== 'function') throw new Error('onnxruntime-node has no synchronous InferenceSession binding');
    sync = { Tensor: ort.Tensor as unknown as OrtModules['Tensor'], InferenceSession: bindingModule.binding.InferenceSession, version: onnxRuntimeVersion()! };
  } catch (error) {
    syncFailure = firstLine(error);
  }
  return sync;
}

/** Why the synchronous binding did not load (null when it loaded or was not tried). */
export function ortLoadFailure(): string | null {
  return syncFailure;
}
