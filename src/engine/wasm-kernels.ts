/**
 * Kernels we add to (or replace in) tfjs-backend-wasm so that conv nets train on it.
 *
 * - `Conv2DBackpropFilter` is not registered for wasm at all (tfjs issue 8474), so
 *   `model.fit` of any conv net throws there. We build it on wasm's own XNNPACK
 *   `Conv2D` with the transpose trick: the filter gradient is a convolution of the
 *   input (batch and channels swapped) with the output gradient (batch and channels
 *   swapped) used as a filter dilated by the forward stride.
 * - `Conv2DBackpropInput` exists but is a naive loop nest; we replace it with XNNPACK
 *   convolutions of the output gradient with the flipped filter. Strided layers are
 *   split into stride² phase convolutions (polyphase), so no work is spent on the
 *   zeros a dilated gradient would hold.
 *
 * Every kernel here is checked against the `cpu` backend's gradients in
 * test/engine/wasm-kernels.test.ts.
 */
import * as tf from './tf.js';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

type TensorInfo = tf.TensorInfo;
type Pad = number | 'valid' | 'same' | number[][];

interface ConvAttrs {
  strides: number | [number, number];
  pad: Pad;
  dataFormat?: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

/** The kernel names this module registers for the wasm backend. */
export const WASM_TRAINING_KERNELS = ['Conv2DBackpropFilter', 'Conv2DBackpropInput'] as const;

interface KernelArgs {
  inputs: Record<string, TensorInfo>;
  backend: BackendWasm;
  attrs: Record<string, unknown>;
}

/** Runs another wasm kernel directly, inside our own kernel. */
function run(backend: BackendWasm, name: string, inputs: Record<string, TensorInfo>, attrs: Record<string, unknown> = {}): TensorInfo {
  const kernel = tf.getKernel(name, 'wasm');
  if (!kernel) throw new Error(`wasm kernel ${name} is missing`);
  return kernel.kernelFunc({ inputs, backend, attrs } as never) as TensorInfo;
}

function dispose(backend: BackendWasm, ...infos: TensorInfo[]): void {
  for (const info of infos) backend.disposeData(info.dataId);
}

function heap(backend: BackendWasm): Float32Array {
  // Re-read every time: an allocation can grow wasm memory and detach old views.
  return (backend.wasm as unknown as { HEAPF32: Float32Array }).HEAPF32;
}

function offsetOf(backend: BackendWasm, info: TensorInfo): number {
  return (backend.dataIdMap.get(info.dataId) as unknown as { memoryOffset: number }).memoryOffset / 4;
}

function explicitPad(top: number, bottom: number, left: number, right: number): number[][] {
  return [[0, 0], [top, bottom], [left, right], [0, 0]];
}

function requireNHWC(name: string, dataFormat: string | undefined): void {
  if (dataFormat !== undefined && dataFormat !== 'NHWC') {
    throw new Error(`${name} on wasm supports only NHWC (channelsLast), got ${dataFormat}`);
  }
}

/** dW[kh,kw,ci,co] = Σ_{b,oh,ow} x[b, oh·sh+kh−pt, ow·sw+kw−pl, ci] · dy[b,oh,ow,co]. */
function conv2DBackpropFilter({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { x, dy } = inputs;
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as ConvAttrs & { filterShape: [number, number, number, number] };
  requireNHWC('Conv2DBackpropFilter', dataFormat);
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number], filterShape, strides, 1, pad as never, dimRoundingMode,
  );
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, padInfo } = info;

  // x: [B,H,W,Ci] → [Ci,H,W,B] (the channels become the batch, the batch the channels)
  const xT = run(backend, 'Transpose', { x }, { perm: [3, 1, 2, 0] });
  // dy: [B,OH,OW,Co] → [OH,OW,B,Co]: a filter of size OH×OW from B to Co channels
  const dyT = run(backend, 'Transpose', { x: dy }, { perm: [1, 2, 0, 3] });
  // Stride of the forward conv becomes the dilation of the gradient-as-filter.
  const conv = run(backend, 'Conv2D', { x: xT, filter: dyT }, {
    strides: [1, 1],
    dilations: [sh, sw],
    pad: explicitPad(padInfo.top, padInfo.bottom, padInfo.left, padInfo.right),
    dataFormat: 'NHWC',
  });
  dispose(backend, xT, dyT);
  // The padded input may leave extra rows/cols past the filter size: keep kh×kw.
  let cropped = conv;
  if (conv.shape[1] !== kh || conv.shape[2] !== kw) {
    cropped = run(backend, 'Slice', { x: conv }, { begin: [0, 0, 0, 0], size: [conv.shape[0], kh, kw, conv.shape[3]] });
    dispose(backend, conv);
  }
  // [Ci,KH,KW,Co] → [KH,KW,Ci,Co]
  const out = run(backend, 'Transpose', { x: cropped }, { perm: [1, 2, 0, 3] });
  dispose(backend, cropped);
  return out;
}

interface Phase {
  /** phase (offset of the input row modulo the stride) */
  r: number;
  /** number of filter taps in this phase */
  taps: number;
  /** padding before the gradient for this phase's convolution */
  padBefore: number;
  /** padding after (≥ 0) and how many leading outputs to keep */
  padAfter: number;
}

/** One spatial dimension of a strided transposed convolution split into phases. */
function phasesOf(size: number, outSize: number, k: number, s: number, padStart: number) {
  const qLo = Math.floor(padStart / s);
  const qHi = Math.ceil((size + padStart) / s);
  const qn = qHi - qLo;
  const phases: Phase[] = [];
  for (let r = 0; r < s; r++) {
    const taps = Math.max(0, Math.ceil((k - r) / s));
    const padBefore = taps - 1 - qLo;
    const padAfter = qn - outSize - padBefore + taps - 1;
    phases.push({ r, taps, padBefore, padAfter });
  }
  return { qLo, qn, phases };
}

/**
 * dx[b,h,w,ci] = Σ dy[b,oh,ow,co] · W[kh,kw,ci,co] over h = oh·sh + kh − pt, w = ow·sw + kw − pl.
 * Falls back to wasm's own loop kernel for layouts the phase split does not cover
 * (negative effective padding, which only unusual explicit paddings produce).
 */
function makeConv2DBackpropInput(fallback: tf.KernelFunc) {
  return function conv2DBackpropInput(args: KernelArgs): TensorInfo {
    const { inputs, backend, attrs } = args;
    const { dy, filter } = inputs;
    const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs as unknown as ConvAttrs & { inputShape: [number, number, number, number] };
    requireNHWC('Conv2DBackpropInput', dataFormat);
    const info = tf.backend_util.computeConv2DInfo(
      inputShape, filter.shape as [number, number, number, number], strides, 1, pad as never, dimRoundingMode,
    );
    const { batchSize: b, inHeight: H, inWidth: W, inChannels: ci, outHeight: OH, outWidth: OW, outChannels: co } = info;
    const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, padInfo } = info;
    const rows = phasesOf(H, OH, kh, sh, padInfo.top);
    const cols = phasesOf(W, OW, kw, sw, padInfo.left);
    const usable = (p: Phase) => p.taps === 0 || p.padBefore >= 0;
    if (!rows.phases.every(usable) || !cols.phases.every(usable)) {
      return fallback(args as never) as TensorInfo;
    }

    const out = backend.makeOutput([b, H, W, ci], 'float32') as TensorInfo;
    const single = sh === 1 && sw === 1 && rows.qLo === padInfo.top && cols.qLo === padInfo.left;
    if (!single) heap(backend).fill(0, offsetOf(backend, out), offsetOf(backend, out) + b * H * W * ci);

    for (const pr of rows.phases) {
      for (const pc of cols.phases) {
        if (pr.taps === 0 || pc.taps === 0) continue;
        // Sub-filter of this phase, flipped, in/out channels swapped: G[th,tw,co,ci].
        const g = backend.makeOutput([pr.taps, pc.taps, co, ci], 'float32') as TensorInfo;
        {
          const mem = heap(backend);
          const src = offsetOf(backend, filter);
          let dst = offsetOf(backend, g);
          for (let th = 0; th < pr.taps; th++) {
            const fh = pr.r + (pr.taps - 1 - th) * sh;
            for (let tw = 0; tw < pc.taps; tw++) {
              const fw = pc.r + (pc.taps - 1 - tw) * sw;
              const base = src + (fh * kw + fw) * ci * co;
              for (let o = 0; o < co; o++) {
                for (let i = 0; i < ci; i++) mem[dst++] = mem[base + i * co + o];
              }
            }
          }
        }
        const phase = run(backend, 'Conv2D', { x: dy, filter: g }, {
          strides: [1, 1],
          dilations: [1, 1],
          pad: explicitPad(pr.padBefore, Math.max(0, pr.padAfter), pc.padBefore, Math.max(0, pc.padAfter)),
          dataFormat: 'NHWC',
        });
        dispose(backend, g);
        if (single && phase.shape[1] === H && phase.shape[2] === W) {
          // Stride 1: the one phase is the whole gradient.
          dispose(backend, out);
          return phase;
        }
        scatterPhase(backend, phase, out, { rows, cols, pr, pc, sh, sw, padTop: padInfo.top, padLeft: padInfo.left });
        dispose(backend, phase);
      }
    }
    return out;
  };
}

/** Writes one phase's rows/cols into their strided places of dx. */
function scatterPhase(
  backend: BackendWasm,
  phase: TensorInfo,
  out: TensorInfo,
  p: {
    rows: { qLo: number; qn: number };
    cols: { qLo: number; qn: number };
    pr: Phase;
    pc: Phase;
    sh: number;
    sw: number;
    padTop: number;
    padLeft: number;
  },
): void {
  const [b, H, W, ci] = out.shape;
  const [, PH, PW] = phase.shape;
  const mem = heap(backend);
  const src = offsetOf(backend, phase);
  const dst = offsetOf(backend, out);
  const qRows = Math.min(p.rows.qn, PH);
  const qCols = Math.min(p.cols.qn, PW);
  for (let n = 0; n < b; n++) {
    for (let qi = 0; qi < qRows; qi++) {
      const h = (qi + p.rows.qLo) * p.sh + p.pr.r - p.padTop;
      if (h < 0 || h >= H) continue;
      const srcRow = src + ((n * PH + qi) * PW) * ci;
      const dstRow = dst + ((n * H + h) * W) * ci;
      for (let qj = 0; qj < qCols; qj++) {
        const w = (qj + p.cols.qLo) * p.sw + p.pc.r - p.padLeft;
        if (w < 0 || w >= W) continue;
        const s = srcRow + qj * ci;
        const d = dstRow + w * ci;
        for (let c = 0; c < ci; c++) mem[d + c] = mem[s + c];
      }
    }
  }
}

let registered = false;

/**
 * Registers our training kernels on the wasm backend. Idempotent. Must run after
 * `@tensorflow/tfjs-backend-wasm` is imported (it registers its own kernels at import).
 */
export function registerWasmTrainingKernels(): readonly string[] {
  if (registered) return WASM_TRAINING_KERNELS;
  const stock = tf.getKernel('Conv2DBackpropInput', 'wasm');
  if (!stock) throw new Error('tfjs-backend-wasm is not loaded: import it before registering training kernels');
  const stockInput = stock.kernelFunc;
  const stockSetup = stock.setupFunc;

  if (tf.getKernel('Conv2DBackpropFilter', 'wasm')) tf.unregisterKernel('Conv2DBackpropFilter', 'wasm');
  tf.registerKernel({
    kernelName: 'Conv2DBackpropFilter',
    backendName: 'wasm',
    kernelFunc: conv2DBackpropFilter as unknown as tf.KernelFunc,
  });
  tf.unregisterKernel('Conv2DBackpropInput', 'wasm');
  tf.registerKernel({
    kernelName: 'Conv2DBackpropInput',
    backendName: 'wasm',
    // Keep the stock kernel's setup so its fallback path still has its cwrap'd function.
    setupFunc: stockSetup,
    kernelFunc: makeConv2DBackpropInput(stockInput) as unknown as tf.KernelFunc,
  });
  registered = true;
  return WASM_TRAINING_KERNELS;
}
