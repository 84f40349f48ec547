/**
 * Native convolutions for the wasm backend, through ONNX Runtime.
 *
 * XNNPACK inside tfjs-backend-wasm reaches about 17 GFLOP/s on one core here (128-bit
 * SIMD, no FMA); ONNX Runtime's MLAS kernels use AVX2/FMA and reach 40–50 GFLOP/s on
 * the same convolutions (bench/conv-kernels.ts). So, when `onnxruntime-node` loads, we
 * replace the three convolution kernels of the wasm backend (forward, input gradient,
 * filter gradient) with one-op ONNX graphs run by ONNX Runtime, reading and writing the
 * tensors straight in wasm memory. Everything else (autodiff, optimisers, the other
 * ops) stays on tfjs-wasm.
 *
 * tfjs kernels are synchronous and `InferenceSession.run` of onnxruntime-node is a
 * Promise wrapped around a synchronous native call (onnxruntime-node `dist/backend.js`
 * runs `binding.InferenceSession.run` inside `setImmediate`). We call that native
 * binding directly; if a future onnxruntime-node moves it, loading fails cleanly and
 * the XNNPACK kernels of wasm-kernels.ts stay in place.
 */
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { BN_TRAIN, BN_TRAIN_GRAD } from './batch-norm.js';
import { encodeModel, floatInitializer, int64Initializer, node, valueInfo } from './onnx-graph.js';

const require = createRequire(import.meta.url);

export const ORT_KERNELS = ['Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter', BN_TRAIN, BN_TRAIN_GRAD] as const;

export interface OrtKernelStatus {
  /** onnxruntime-node loaded and its synchronous binding was found */
  available: boolean;
  /** our ORT kernels are the ones registered now */
  enabled: boolean;
  version: string | null;
  /** intra-op threads each session uses */
  threads: number;
  kernels: string[];
  reason: string;
}

export interface OrtTensor {
  data: Float32Array;
  dims: readonly number[];
}
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

let ortModules: OrtModules | null = null;
let loadFailure: string | null = null;
let status: OrtKernelStatus = {
  available: false,
  enabled: false,
  version: null,
  threads: 1,
  kernels: [],
  reason: 'not tried yet',
};

/** onnxruntime-node's Tensor class and synchronous session binding, or null (see `ortLoadFailure`). */
export function loadOrt(): OrtModules | null {
  if (ortModules || loadFailure) return ortModules;
  try {
    const ort = require('onnxruntime-node') as { Tensor: OrtModules['Tensor']; env: { versions?: { node?: string } } };
    const pkg = require('onnxruntime-node/package.json') as { version: string };
    const bindingModule = require('onnxruntime-node/dist/binding') as {
      binding: { InferenceSession: new () => SyncSession };
      initOrt: () => void;
    };
    bindingModule.initOrt();
    if (typeof bindingModule.binding?.InferenceSession !== 'function') throw new Error('onnxruntime-node has no synchronous InferenceSession binding');
    ortModules = { Tensor: ort.Tensor, InferenceSession: bindingModule.binding.InferenceSession, version: pkg.version };
  } catch (error) {
    loadFailure = error instanceof Error ? error.message.split('\n')[0]! : String(error);
  }
  return ortModules;
}

/** Why onnxruntime-node did not load (null when it loaded or was not tried). */
export function ortLoadFailure(): string | null {
  return loadFailure;
}

export function ortKernelStatus(): OrtKernelStatus {
  return { ...status, kernels: [...status.kernels] };
}

/* ---------- sessions, one per (kernel, shapes, attributes) ---------- */

const sessions = new Map<string, SyncSession>();
let threads = 1;

function session(key: string, build: () => Uint8Array): SyncSession {
  let s = sessions.get(key);
  if (!s) {
    const bytes = build();
    s = new ortModules!.InferenceSession();
    s.loadModel(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength, {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      enableCpuMemArena: true,
    });
    sessions.set(key, s);
  }
  return s;
}

function heapF32(backend: BackendWasm): Float32Array {
  return (backend.wasm as unknown as { HEAPF32: Float32Array }).HEAPF32;
}

function view(backend: BackendWasm, info: tf.TensorInfo): Float32Array {
  const offset = (backend.dataIdMap.get(info.dataId) as unknown as { memoryOffset: number }).memoryOffset / 4;
  return heapF32(backend).subarray(offset, offset + tf.util.sizeFromShape(info.shape));
}

/** Runs a cached graph on wasm tensors and copies its outputs into new wasm tensors. */
function runGraphOutputs(
  backend: BackendWasm,
  key: string,
  build: () => Uint8Array,
  feeds: Record<string, tf.TensorInfo>,
  outputs: Array<[name: string, shape: number[]]>,
): tf.TensorInfo[] {
  const s = session(key, build);
  const ortFeeds: Record<string, OrtTensor> = {};
  for (const [name, info] of Object.entries(feeds)) ortFeeds[name] = new ortModules!.Tensor('float32', view(backend, info), info.shape);
  const fetches: Record<string, null> = {};
  for (const [name] of outputs) fetches[name] = null;
  const result = s.run(ortFeeds, fetches, {});
  const infos = outputs.map(([, shape]) => backend.makeOutput(shape, 'float32') as tf.TensorInfo);
  // makeOutput may grow wasm memory: take the views after all allocations.
  outputs.forEach(([name], i) => view(backend, infos[i]!).set(result[name]!.data));
  return infos;
}

function runGraph(
  backend: BackendWasm,
  key: string,
  build: () => Uint8Array,
  feeds: Record<string, tf.TensorInfo>,
  outShape: number[],
): tf.TensorInfo {
  return runGraphOutputs(backend, key, build, feeds, [['y', outShape]])[0]!;
}

const NHWC_TO_NCHW = [0, 3, 1, 2];
const NCHW_TO_NHWC = [0, 2, 3, 1];

function convInfoOf(xShape: number[], filterShape: number[], attrs: Record<string, unknown>) {
  const { strides, pad, dilations, dimRoundingMode, dataFormat } = attrs as {
    strides: number | [number, number];
    pad: 'valid' | 'same' | number | number[][];
    dilations?: number | [number, number];
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
    dataFormat?: string;
  };
  if (dataFormat !== undefined && dataFormat !== 'NHWC') throw new Error(`convolutions on wasm support only NHWC, got ${dataFormat}`);
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    strides,
    dilations ?? 1,
    pad as never,
    dimRoundingMode,
  );
}

type ConvInfo = ReturnType<typeof convInfoOf>;

function padsOf(info: ConvInfo): number[] {
  // ONNX order: [top, left, bottom, right]
  return [info.padInfo.top, info.padInfo.left, info.padInfo.bottom, info.padInfo.right];
}

/* ---------- the three kernels ---------- */

type KernelArgs = { inputs: Record<string, tf.TensorInfo>; backend: BackendWasm; attrs: Record<string, unknown> };

function conv2D({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const { x, filter } = inputs;
  const info = convInfoOf(x.shape, filter.shape, attrs);
  const key = `Conv2D|${x.shape}|${filter.shape}|${info.strideHeight},${info.strideWidth}|${info.dilationHeight},${info.dilationWidth}|${padsOf(info)}`;
  return runGraph(
    backend,
    key,
    () =>
      encodeModel({
        name: 'conv2d_nhwc',
        inputs: [valueInfo('x', x.shape), valueInfo('w', filter.shape)],
        outputs: [valueInfo('y', info.outShape)],
        nodes: [
          node({ op: 'Transpose', inputs: ['x'], outputs: ['xc'], attrs: { perm: NHWC_TO_NCHW } }),
          // filter [KH,KW,Ci,Co] → ONNX [Co,Ci,KH,KW]
          node({ op: 'Transpose', inputs: ['w'], outputs: ['wc'], attrs: { perm: [3, 2, 0, 1] } }),
          node({
            op: 'Conv',
            inputs: ['xc', 'wc'],
            outputs: ['yc'],
            attrs: { strides: [info.strideHeight, info.strideWidth], dilations: [info.dilationHeight, info.dilationWidth], pads: padsOf(info) },
          }),
          node({ op: 'Transpose', inputs: ['yc'], outputs: ['y'], attrs: { perm: NCHW_TO_NHWC } }),
        ],
      }),
    { x, w: filter },
    info.outShape,
  );
}

function conv2DBackpropInput({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const { dy, filter } = inputs;
  const inputShape = attrs.inputShape as number[];
  const info = convInfoOf(inputShape, filter.shape, { ...attrs, dilations: 1 });
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw, inHeight: H, inWidth: W, outHeight: OH, outWidth: OW } = info;
  // ConvTranspose output = s·(O−1) + outputPadding + K − padBegin − padEnd; choose padEnd (and,
  // when it would go negative, an output padding < stride) so the output is exactly H×W.
  const endPad = (s: number, o: number, k: number, begin: number, size: number) => s * (o - 1) + k - begin - size;
  const bottom = endPad(sh, OH, kh, info.padInfo.top, H);
  const right = endPad(sw, OW, kw, info.padInfo.left, W);
  const pads = [info.padInfo.top, info.padInfo.left, Math.max(0, bottom), Math.max(0, right)];
  const outputPadding = [Math.max(0, -bottom), Math.max(0, -right)];
  const key = `Conv2DBackpropInput|${dy.shape}|${filter.shape}|${inputShape}|${sh},${sw}|${pads}|${outputPadding}`;
  return runGraph(
    backend,
    key,
    () =>
      encodeModel({
        name: 'conv2d_backprop_input_nhwc',
        inputs: [valueInfo('dy', dy.shape), valueInfo('w', filter.shape)],
        outputs: [valueInfo('y', inputShape)],
        nodes: [
          node({ op: 'Transpose', inputs: ['dy'], outputs: ['dyc'], attrs: { perm: NHWC_TO_NCHW } }),
          // ConvTranspose weight is [C_in = Co of the forward conv, C_out = Ci, KH, KW]
          node({ op: 'Transpose', inputs: ['w'], outputs: ['wc'], attrs: { perm: [3, 2, 0, 1] } }),
          node({
            op: 'ConvTranspose',
            inputs: ['dyc', 'wc'],
            outputs: ['yc'],
            attrs: { strides: [sh, sw], pads, output_padding: outputPadding, kernel_shape: [kh, kw] },
          }),
          node({ op: 'Transpose', inputs: ['yc'], outputs: ['y'], attrs: { perm: NCHW_TO_NHWC } }),
        ],
      }),
    { dy, w: filter },
    inputShape,
  );
}

function conv2DBackpropFilter({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const { x, dy } = inputs;
  const filterShape = attrs.filterShape as number[];
  const info = convInfoOf(x.shape, filterShape, { ...attrs, dilations: 1 });
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw, inChannels: ci, outChannels: co, outHeight: OH, outWidth: OW } = info;
  const [b] = x.shape as [number];
  const { top, bottom, left, right } = info.padInfo;
  // dW[(kh,kw,ci), co] = Σ_(b,oh,ow) patches[(b,oh,ow), (kh,kw,ci)] · dy[(b,oh,ow), co]: one GEMM
  // over im2col patches built in NHWC by strided slices (no layout transposes at all), and
  // the (kh,kw,ci) order of the patches is already the filter's [KH,KW,Ci,Co] layout.
  const key = `Conv2DBackpropFilter|${x.shape}|${dy.shape}|${filterShape}|${sh},${sw}|${top},${bottom},${left},${right}`;
  return runGraph(
    backend,
    key,
    () => {
      const nodes: object[] = [];
      const initializers: object[] = [int64Initializer('slice_axes', [1, 2]), int64Initializer('slice_steps', [sh, sw])];
      let src = 'x';
      if (top || bottom || left || right) {
        initializers.push(int64Initializer('pads', [0, top, left, 0, 0, bottom, right, 0]));
        nodes.push(node({ op: 'Pad', inputs: ['x', 'pads'], outputs: ['xp'] }));
        src = 'xp';
      }
      const slices: string[] = [];
      for (let i = 0; i < kh; i++) {
        for (let j = 0; j < kw; j++) {
          const name = `p_${i}_${j}`;
          initializers.push(int64Initializer(`${name}_s`, [i, j]), int64Initializer(`${name}_e`, [i + (OH - 1) * sh + 1, j + (OW - 1) * sw + 1]));
          nodes.push(node({ op: 'Slice', inputs: [src, `${name}_s`, `${name}_e`, 'slice_axes', 'slice_steps'], outputs: [name] }));
          slices.push(name);
        }
      }
      nodes.push(node({ op: 'Concat', inputs: slices, outputs: ['patches'], attrs: { axis: 3 } }));
      initializers.push(int64Initializer('p_shape', [b * OH * OW, kh * kw * ci]), int64Initializer('dy_shape', [b * OH * OW, co]), int64Initializer('w_shape', [kh, kw, ci, co]));
      nodes.push(node({ op: 'Reshape', inputs: ['patches', 'p_shape'], outputs: ['p2'] }));
      nodes.push(node({ op: 'Reshape', inputs: ['dy', 'dy_shape'], outputs: ['d2'] }));
      nodes.push(node({ op: 'Gemm', inputs: ['p2', 'd2'], outputs: ['g'], attrs: { transA: 1 } }));
      nodes.push(node({ op: 'Reshape', inputs: ['g', 'w_shape'], outputs: ['y'] }));
      return encodeModel({
        name: 'conv2d_backprop_filter_nhwc',
        inputs: [valueInfo('x', x.shape), valueInfo('dy', dy.shape)],
        outputs: [valueInfo('y', [kh, kw, ci, co])],
        nodes,
        initializers,
      });
    },
    { x, dy },
    [kh, kw, ci, co],
  );
}

/* ---------- batch normalisation in training (the fused kernels of batch-norm.ts, natively) ---------- */

function bnTrain({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo[] {
  const { x, gamma, beta } = inputs;
  const epsilon = (attrs as { epsilon: number }).epsilon;
  const c = x.shape[x.shape.length - 1]!;
  const axes = x.shape.slice(0, -1).map((_, i) => i);
  const key = `BNTrain|${x.shape}|${epsilon}`;
  return runGraphOutputs(
    backend,
    key,
    () =>
      encodeModel({
        name: 'batch_norm_train',
        inputs: [valueInfo('x', x.shape), valueInfo('gamma', [c]), valueInfo('beta', [c])],
        outputs: [valueInfo('y', x.shape), valueInfo('mean', [c]), valueInfo('variance', [c])],
        initializers: [floatInitializer('eps', [], new Float32Array([epsilon])), int64Initializer('axes', axes)],
        nodes: [
          node({ op: 'ReduceMean', inputs: ['x', 'axes'], outputs: ['mean'], attrs: { keepdims: 0 } }),
          node({ op: 'Sub', inputs: ['x', 'mean'], outputs: ['xc'] }),
          node({ op: 'Mul', inputs: ['xc', 'xc'], outputs: ['xc2'] }),
          node({ op: 'ReduceMean', inputs: ['xc2', 'axes'], outputs: ['var_k'], attrs: { keepdims: 0 } }),
          node({ op: 'Add', inputs: ['var_k', 'eps'], outputs: ['var_eps'] }),
          node({ op: 'Sqrt', inputs: ['var_eps'], outputs: ['std'] }),
          node({ op: 'Div', inputs: ['gamma', 'std'], outputs: ['a'] }),
          node({ op: 'Mul', inputs: ['xc', 'a'], outputs: ['xa'] }),
          node({ op: 'Add', inputs: ['xa', 'beta'], outputs: ['y'] }),
          node({ op: 'Identity', inputs: ['var_k'], outputs: ['variance'] }),
        ],
      }),
    { x, gamma, beta },
    [
      ['y', x.shape],
      ['mean', [c]],
      ['variance', [c]],
    ],
  );
}

function bnTrainGrad({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo[] {
  const { dy, x, gamma, mean, variance } = inputs;
  const epsilon = (attrs as { epsilon: number }).epsilon;
  const c = x.shape[x.shape.length - 1]!;
  const n = tf.util.sizeFromShape(x.shape) / c;
  const axes = x.shape.slice(0, -1).map((_, i) => i);
  const key = `BNTrainGrad|${x.shape}|${epsilon}`;
  // x̂ = (x−μ)·r, dβ = Σdy, dγ = Σ dy·x̂, dx = γr·(dy − dβ/N − x̂·dγ/N)
  return runGraphOutputs(
    backend,
    key,
    () =>
      encodeModel({
        name: 'batch_norm_train_grad',
        inputs: [valueInfo('dy', x.shape), valueInfo('x', x.shape), valueInfo('gamma', [c]), valueInfo('mean', [c]), valueInfo('variance', [c])],
        outputs: [valueInfo('dx', x.shape), valueInfo('dgamma', [c]), valueInfo('dbeta', [c])],
        initializers: [
          floatInitializer('eps', [], new Float32Array([epsilon])),
          floatInitializer('inv_n', [], new Float32Array([1 / n])),
          int64Initializer('axes', axes),
        ],
        nodes: [
          node({ op: 'Add', inputs: ['variance', 'eps'], outputs: ['var_eps'] }),
          node({ op: 'Sqrt', inputs: ['var_eps'], outputs: ['std'] }),
          node({ op: 'Reciprocal', inputs: ['std'], outputs: ['r'] }),
          node({ op: 'Sub', inputs: ['x', 'mean'], outputs: ['xc'] }),
          node({ op: 'Mul', inputs: ['xc', 'r'], outputs: ['xhat'] }),
          node({ op: 'ReduceSum', inputs: ['dy', 'axes'], outputs: ['dbeta'], attrs: { keepdims: 0 } }),
          node({ op: 'Mul', inputs: ['dy', 'xhat'], outputs: ['dy_xhat'] }),
          node({ op: 'ReduceSum', inputs: ['dy_xhat', 'axes'], outputs: ['dgamma'], attrs: { keepdims: 0 } }),
          node({ op: 'Mul', inputs: ['dbeta', 'inv_n'], outputs: ['mdb'] }),
          node({ op: 'Mul', inputs: ['dgamma', 'inv_n'], outputs: ['mdg'] }),
          node({ op: 'Mul', inputs: ['xhat', 'mdg'], outputs: ['t1'] }),
          node({ op: 'Sub', inputs: ['dy', 'mdb'], outputs: ['t2'] }),
          node({ op: 'Sub', inputs: ['t2', 't1'], outputs: ['t3'] }),
          node({ op: 'Mul', inputs: ['gamma', 'r'], outputs: ['gr'] }),
          node({ op: 'Mul', inputs: ['t3', 'gr'], outputs: ['dx'] }),
        ],
      }),
    { dy, x, gamma, mean, variance },
    [
      ['dx', x.shape],
      ['dgamma', [c]],
      ['dbeta', [c]],
    ],
  );
}

const ORT_IMPLS: Record<(typeof ORT_KERNELS)[number], (args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[]> = {
  Conv2D: conv2D,
  Conv2DBackpropInput: conv2DBackpropInput,
  Conv2DBackpropFilter: conv2DBackpropFilter,
  [BN_TRAIN]: bnTrain,
  [BN_TRAIN_GRAD]: bnTrainGrad,
};

/** The kernels that were registered for wasm before ours, to restore on disable. */
const replaced = new Map<string, tf.KernelConfig>();

export interface OrtKernelOptions {
  /** intra-op threads per session; default 1 (members train in parallel workers, one core each) */
  threads?: number;
}

/**
 * Replaces the wasm backend's convolution kernels with ONNX Runtime ones when
 * onnxruntime-node loads; otherwise leaves the XNNPACK kernels and says why.
 */
export async function enableOrtKernels(options: OrtKernelOptions = {}): Promise<OrtKernelStatus> {
  threads = Math.max(1, options.threads ?? 1);
  const modules = loadOrt();
  if (!modules) {
    status = { available: false, enabled: false, version: null, threads, kernels: [], reason: `onnxruntime-node did not load: ${loadFailure}` };
    return ortKernelStatus();
  }
  if (!status.enabled) {
    for (const name of ORT_KERNELS) {
      const previous = tf.getKernel(name, 'wasm');
      if (previous) {
        replaced.set(name, previous);
        tf.unregisterKernel(name, 'wasm');
      }
      tf.registerKernel({
        kernelName: name,
        backendName: 'wasm',
        setupFunc: previous?.setupFunc,
        kernelFunc: ORT_IMPLS[name] as unknown as tf.KernelFunc,
      });
    }
  }
  for (const s of sessions.values()) s.dispose();
  sessions.clear();
  status = {
    available: true,
    enabled: true,
    version: modules.version,
    threads,
    kernels: [...ORT_KERNELS],
    reason: `onnxruntime-node ${modules.version} (MLAS, ${threads} thread${threads > 1 ? 's' : ''} per session)`,
  };
  return ortKernelStatus();
}

/** Puts back the kernels that were registered before `enableOrtKernels` (for tests and A/B benches). */
export function disableOrtKernels(): void {
  if (!status.enabled) return;
  for (const name of ORT_KERNELS) {
    tf.unregisterKernel(name, 'wasm');
    const previous = replaced.get(name);
    if (previous) tf.registerKernel(previous);
  }
  replaced.clear();
  for (const s of sessions.values()) s.dispose();
  sessions.clear();
  status = { ...status, enabled: false, kernels: [], reason: 'disabled' };
}
