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
 * tfjs kernels are synchronous, so the sessions run through onnxruntime-node's synchronous
 * binding (ort.ts); when it does not load, the XNNPACK kernels of wasm-kernels.ts stay in place.
 */
import * as tf from './tf.js';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { BN_TRAIN, BN_TRAIN_GRAD } from './batch-norm.js';
import { OnnxGraph } from './onnx-graph.js';
import { loadOrt, ortLoadFailure, type OrtModules, type OrtTensor, type SyncSession } from './ort.js';

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

let ortModules: OrtModules | null = null;
let status: OrtKernelStatus = {
  available: false,
  enabled: false,
  version: null,
  threads: 1,
  kernels: [],
  reason: 'not tried yet',
};

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
    () => {
      const g = new OnnxGraph();
      g.input('x', x.shape);
      g.input('w', filter.shape);
      g.named('xc', 'Transpose', ['x'], { perm: NHWC_TO_NCHW });
      // filter [KH,KW,Ci,Co] → ONNX [Co,Ci,KH,KW]
      g.named('wc', 'Transpose', ['w'], { perm: [3, 2, 0, 1] });
      g.named('yc', 'Conv', ['xc', 'wc'], { strides: [info.strideHeight, info.strideWidth], dilations: [info.dilationHeight, info.dilationWidth], pads: padsOf(info) });
      g.named('y', 'Transpose', ['yc'], { perm: NCHW_TO_NHWC });
      g.output('y', info.outShape);
      return g.encode({ name: 'conv2d_nhwc' });
    },
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
    () => {
      const g = new OnnxGraph();
      g.input('dy', dy.shape);
      g.input('w', filter.shape);
      g.named('dyc', 'Transpose', ['dy'], { perm: NHWC_TO_NCHW });
      // ConvTranspose weight is [C_in = Co of the forward conv, C_out = Ci, KH, KW]
      g.named('wc', 'Transpose', ['w'], { perm: [3, 2, 0, 1] });
      g.named('yc', 'ConvTranspose', ['dyc', 'wc'], { strides: [sh, sw], pads, output_padding: outputPadding, kernel_shape: [kh, kw] });
      g.named('y', 'Transpose', ['yc'], { perm: NCHW_TO_NHWC });
      g.output('y', inputShape);
      return g.encode({ name: 'conv2d_backprop_input_nhwc' });
    },
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
      const g = new OnnxGraph();
      g.input('x', x.shape);
      g.input('dy', dy.shape);
      const axes = g.ints([1, 2]);
      const steps = g.ints([sh, sw]);
      const src = top || bottom || left || right ? g.op('Pad', ['x', g.ints([0, top, left, 0, 0, bottom, right, 0])]) : 'x';
      const slices: string[] = [];
      for (let i = 0; i < kh; i++) {
        for (let j = 0; j < kw; j++) slices.push(g.op('Slice', [src, g.ints([i, j]), g.ints([i + (OH - 1) * sh + 1, j + (OW - 1) * sw + 1]), axes, steps]));
      }
      const patches = g.reshape(g.op('Concat', slices, { axis: 3 }), [b * OH * OW, kh * kw * ci]);
      const gemm = g.op('Gemm', [patches, g.reshape('dy', [b * OH * OW, co])], { transA: 1 });
      g.named('y', 'Reshape', [gemm, g.ints([kh, kw, ci, co])]);
      g.output('y', [kh, kw, ci, co]);
      return g.encode({ name: 'conv2d_backprop_filter_nhwc' });
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
    () => {
      const g = new OnnxGraph();
      g.input('x', x.shape);
      g.input('gamma', [c]);
      g.input('beta', [c]);
      const mean = g.named('mean', 'ReduceMean', ['x', g.ints(axes)], { keepdims: 0 });
      const xc = g.sub('x', mean);
      const variance = g.reduceMean(g.mul(xc, xc), axes, 0);
      const a = g.div('gamma', g.op('Sqrt', [g.add(variance, g.scalar(epsilon))]));
      g.named('y', 'Add', [g.mul(xc, a), 'beta']);
      g.named('variance', 'Identity', [variance]);
      g.output('y', x.shape);
      g.output('mean', [c]);
      g.output('variance', [c]);
      return g.encode({ name: 'batch_norm_train' });
    },
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
    () => {
      const g = new OnnxGraph();
      const inputs: Array<[string, number[]]> = [['dy', x.shape], ['x', x.shape], ['gamma', [c]], ['mean', [c]], ['variance', [c]]];
      for (const [name, shape] of inputs) g.input(name, shape);
      const r = g.op('Reciprocal', [g.op('Sqrt', [g.add('variance', g.scalar(epsilon))])]);
      const xhat = g.mul(g.sub('x', 'mean'), r);
      const dbeta = g.named('dbeta', 'ReduceSum', ['dy', g.ints(axes)], { keepdims: 0 });
      const dgamma = g.named('dgamma', 'ReduceSum', [g.mul('dy', xhat), g.ints(axes)], { keepdims: 0 });
      const invN = g.scalar(1 / n);
      const t3 = g.sub(g.sub('dy', g.mul(dbeta, invN)), g.mul(xhat, g.mul(dgamma, invN)));
      g.named('dx', 'Mul', [t3, g.mul('gamma', r)]);
      g.output('dx', x.shape);
      g.output('dgamma', [c]);
      g.output('dbeta', [c]);
      return g.encode({ name: 'batch_norm_train_grad' });
    },
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
  ortModules = modules;
  if (!modules) {
    status = { available: false, enabled: false, version: null, threads, kernels: [], reason: `onnxruntime-node did not load: ${ortLoadFailure()}` };
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
