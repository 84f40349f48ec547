/**
 * Which tfjs backend runs, and why the others were skipped.
 *
 * `auto` tries, in order: `@tensorflow/tfjs-node-gpu` (CUDA), `@tensorflow/tfjs-node`
 * (libtensorflow on CPU), `@tensorflow/tfjs-backend-wasm` with the training kernels
 * we add to it (src/engine/wasm-kernels.ts), and last the pure-JS `cpu` backend.
 * The two native packages are optional dependencies: their install downloads
 * libtensorflow, which fails offline, so they are loaded with a dynamic `import()`.
 */
import os from 'node:os';
import * as tf from './tf.js';
import { UserError } from '../errors.js';
import { WASM_TRAINING_KERNELS, registerWasmTrainingKernels } from './wasm-kernels.js';
import { BN_TRAIN, BN_TRAIN_GRAD, registerBatchNormKernels, registerBatchNormLayer } from './batch-norm.js';
import { disableOrtKernels, enableOrtKernels, ortKernelStatus, type OrtKernelStatus } from './ort-kernels.js';

import type { BackendKind, BackendRequest } from './backend-names.js';

export { BACKEND_NAMES, type BackendKind, type BackendRequest } from './backend-names.js';

export interface BackendAttempt {
  backend: BackendKind;
  ok: boolean;
  /** why it was chosen or skipped, in words a user can act on */
  reason: string;
}

export interface EngineInfo {
  backend: BackendKind;
  /** the name tfjs knows the backend by (`tensorflow`, `wasm`, `cpu`) */
  tfBackend: string;
  attempts: BackendAttempt[];
  /** kernels we registered on top of the stock backend */
  addedKernels: string[];
  /** native convolution kernels through ONNX Runtime (wasm backend only) */
  ort: OrtKernelStatus;
  simd: boolean | null;
  threads: number | null;
  gpu: boolean;
  versions: Record<string, string>;
  cores: number;
}

const INSTALL_HINTS: Record<Exclude<BackendKind, 'cpu'>, string> = {
  gpu:
    'install it with `npm install @tensorflow/tfjs-node-gpu` on Linux x64 with CUDA 11.2 and cuDNN 8.1; its install downloads libtensorflow, so it needs access to storage.googleapis.com',
  node: 'install it with `npm install @tensorflow/tfjs-node`; its install downloads libtensorflow, so it needs access to storage.googleapis.com',
  wasm: 'reinstall the dependencies (`npm ci`): @tensorflow/tfjs-backend-wasm ships its .wasm files inside the package',
};

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n')[0]!.slice(0, 200);
}

function isNotInstalled(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
}

async function tryNative(kind: 'gpu' | 'node'): Promise<{ ok: boolean; reason: string; gpu: boolean }> {
  const pkg = kind === 'gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
  try {
    await import(pkg);
  } catch (error) {
    const reason = isNotInstalled(error) ? `${pkg} is not installed` : `${pkg} failed to load: ${firstLine(error)}`;
    return { ok: false, reason, gpu: false };
  }
  if (!(await tf.setBackend('tensorflow'))) return { ok: false, reason: `${pkg} loaded but its backend did not initialise`, gpu: false };
  const binding = (tf.backend() as unknown as { isUsingGpuDevice?: boolean }).isUsingGpuDevice;
  const gpu = kind === 'gpu' && binding === true;
  if (kind === 'gpu' && !gpu) {
    return { ok: false, reason: `${pkg} loaded but sees no CUDA GPU (check nvidia-smi, CUDA 11.2, cuDNN 8.1)`, gpu: false };
  }
  return { ok: true, reason: gpu ? `${pkg} sees a CUDA GPU` : `${pkg} (libtensorflow, all cores)`, gpu };
}

async function tryWasm(): Promise<{ ok: boolean; reason: string }> {
  try {
    tf.wasmBackend();
  } catch (error) {
    return { ok: false, reason: `@tensorflow/tfjs-backend-wasm failed to load: ${firstLine(error)}` };
  }
  registerWasmTrainingKernels();
  if (!(await tf.setBackend('wasm'))) return { ok: false, reason: 'the wasm backend did not initialise' };
  return { ok: true, reason: 'tfjs-backend-wasm (XNNPACK) with our training kernels' };
}

let current: EngineInfo | null = null;

/** The engine chosen by the last `initEngine`, or null before it ran. */
export function currentEngine(): EngineInfo | null {
  return current;
}

export interface EngineOptions {
  backend: BackendRequest;
  /** use ONNX Runtime's native convolutions inside the wasm backend when it loads (default true) */
  ortKernels?: boolean;
  /** threads for native kernels (default 1: parallel members each own a core) */
  threads?: number;
}

/**
 * tfjs-backend-cpu prints "Hi, looks like you are running TensorFlow.js in Node.js…" to stderr
 * on its first tensor (backend_cpu.ts, its `firstUse` field), with --backend cpu and under
 * --json too. We choose backends ourselves and `digits doctor` says why, so the banner is
 * noise: the registered factory is wrapped (once, when this module loads, before anything
 * can make the backend) so that the backend it makes counts as already used. tfjs's PROD
 * flag would hide it too, and other checks with it.
 */
function quietCpuBanner(): void {
  const entry = tf.engine().registryFactory.cpu as { factory: () => unknown; quiet?: boolean } | undefined;
  if (!entry || entry.quiet) return;
  const make = entry.factory;
  entry.factory = () => {
    const backend = make() as { firstUse?: boolean } | Promise<unknown>;
    if (backend && !(backend instanceof Promise) && 'firstUse' in backend) backend.firstUse = false;
    return backend;
  };
  entry.quiet = true;
}
quietCpuBanner();

/**
 * Chooses and initialises the backend. A backend asked for by name that cannot load
 * is a UserError saying why and how to install it; `auto` records why each one was skipped.
 */
export async function initEngine(options: EngineOptions): Promise<EngineInfo> {
  // Our layers and kernels are registered before any backend initialises, so that
  // saved BatchNormalization layers load as ours and kernel setup functions run.
  registerBatchNormKernels();
  registerBatchNormLayer();
  const order: BackendKind[] = options.backend === 'auto' ? ['gpu', 'node', 'wasm', 'cpu'] : [options.backend];
  const attempts: BackendAttempt[] = [];
  let chosen: BackendKind | null = null;
  let gpu = false;
  for (const kind of order) {
    let result: { ok: boolean; reason: string; gpu?: boolean };
    if (kind === 'gpu' || kind === 'node') result = await tryNative(kind);
    else if (kind === 'wasm') result = await tryWasm();
    else result = (await tf.setBackend('cpu')) ? { ok: true, reason: "pure JavaScript tfjs ops (conv nets train through ONNX Runtime's whole-step graph when it loads, at about wasm's speed; without it, under 1 img/s)" } : { ok: false, reason: 'cpu backend did not initialise' };
    attempts.push({ backend: kind, ok: result.ok, reason: result.reason });
    if (result.ok) {
      chosen = kind;
      gpu = result.gpu ?? false;
      break;
    }
  }
  if (!chosen) {
    const failed = attempts[attempts.length - 1]!;
    const hint = failed.backend === 'cpu' ? 'reinstall the dependencies with `npm ci`' : INSTALL_HINTS[failed.backend];
    throw new UserError(`the ${failed.backend} backend cannot load: ${failed.reason}`, {
      where: { flag: 'backend' },
      hint: `${hint}; or run with --backend auto to fall back to what loads`,
    });
  }

  if (chosen === 'wasm' && options.ortKernels !== false) await enableOrtKernels({ threads: options.threads });
  else disableOrtKernels();
  const ort = ortKernelStatus();

  const addedKernels = chosen === 'wasm' ? [...new Set([...WASM_TRAINING_KERNELS, BN_TRAIN, BN_TRAIN_GRAD, ...ort.kernels])] : [];
  let simd: boolean | null = null;
  let threads: number | null = null;
  const versions: Record<string, string> = { tfjs: tf.version.tfjs, node: process.versions.node };
  if (chosen === 'wasm') {
    const wasm = tf.wasmBackend();
    simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
    threads = wasm.getThreadsCount();
    versions['tfjs-backend-wasm'] = wasm.version_wasm;
  }
  if (ort.version) versions['onnxruntime-node'] = ort.version;
  current = {
    backend: chosen,
    tfBackend: tf.getBackend(),
    attempts,
    addedKernels,
    ort,
    simd,
    threads,
    gpu,
    versions,
    cores: os.availableParallelism(),
  };
  return current;
}

