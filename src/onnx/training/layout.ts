/**
 * ONNX Runtime's blocked NCHWc convolutions (com.microsoft.nchwc: MLAS's fastest kernels, which
 * ORT's own optimizer only applies to constant weights; ours change every step, so the step
 * graph reorders them itself), and the probe that finds the block size this CPU uses.
 */
import { OnnxGraph, type AttrValue } from '../../engine/onnx-graph.js';
import type { OrtModules } from '../../engine/ort.js';

export const NCHWC = 'com.microsoft.nchwc';

/** A 2-D convolution's geometry (NCHW, filter [co, ci, kh, kw], pads [top, left, bottom, right]). */
export interface ConvGeometry {
  kh: number;
  kw: number;
  ci: number;
  co: number;
  sh: number;
  sw: number;
  pads: [number, number, number, number];
}

/**
 * The filter [Co,Ci,KH,KW] in MLAS's NCHWc layouts (what ORT's NchwcTransformer does to constant
 * weights): OIHWBiBo [Co/b, Ci/b, KH, KW, b(i), b(o)], or OIHWBo [Co/b, Ci, KH, KW, b(o)] for an
 * NCHW input (Ci = 1).
 */
function nchwcFilter(g: OnnxGraph, w: string, co: number, ci: number, kh: number, kw: number, blk: number): string {
  const blocked = ci === 1 || ci % blk !== 0
    ? g.transpose(g.reshape(w, [co / blk, blk, ci, kh, kw]), [0, 2, 3, 4, 1])
    : g.transpose(g.reshape(w, [co / blk, blk, ci / blk, blk, kh, kw]), [0, 2, 4, 5, 3, 1]);
  return g.reshape(blocked, [co, ci, kh, kw]);
}

/** Forward convolution (+ ReLU) of x by the filter w [co,ci,kh,kw] (and bias) in NCHWc: NCHW in, NCHW out. */
export function nchwcConv(g: OnnxGraph, c: ConvGeometry, relu: boolean, x: string, w: string, bias: string | undefined, blk: number): string {
  const attrs: Record<string, AttrValue> = { strides: [c.sh, c.sw], pads: c.pads, kernel_shape: [c.kh, c.kw], dilations: [1, 1] };
  if (relu) attrs.activation = { str: 'Relu' };
  return blockedConv(g, x, w, c.co, c.ci, c.kh, c.kw, attrs, blk, false, bias);
}

/** Conv(x, w[, b]) through the NCHWc ops: x and the result in NCHW; w [co,ci,kh,kw] reordered in the graph unless `wBlocked`. */
export function blockedConv(g: OnnxGraph, x: string, w: string, co: number, ci: number, kh: number, kw: number, attrs: Record<string, AttrValue>, blk: number, wBlocked: boolean, bias?: string): string {
  // A one-channel input is read as NCHW directly (as ORT's own transformer does).
  const input = ci === 1 ? x : g.op('ReorderInput', [x], {}, 'nchwc_in', NCHWC);
  const wb = wBlocked ? w : nchwcFilter(g, w, co, ci, kh, kw, blk);
  const y = g.op('Conv', [input, wb, ...(bias ? [bias] : [])], attrs, 'nchwc_conv', NCHWC);
  return g.op('ReorderOutput', [y], { channels: co }, 'nchwc_out', NCHWC);
}

/** dy [B,Co,OH,OW] transposed to [Co,B,OH,OW] already in the OIHWBiBo filter layout, through dy's NCHWc form (runs of `blk` floats move, not single ones). */
export function blockedTranspose(g: OnnxGraph, dy: string, b: number, co: number, oh: number, ow: number, blk: number): string {
  return g.reshape(g.transpose(g.reshape(g.op('ReorderInput', [dy], {}, 'nchwc_in', NCHWC), [b / blk, blk, co / blk, oh, ow, blk]), [2, 0, 3, 4, 1, 5]), [co, b, oh, ow]);
}

let probedBlock: number | null = null;

/**
 * The NCHWc block size MLAS uses here (8 with AVX2, 16 with AVX-512), found by running one
 * small convolution both ways and comparing; 0 when neither layout matches or the nchwc ops
 * are missing (other builds or CPUs): then the plain ONNX Conv is used.
 */
export function nchwcBlockSize(ort: OrtModules): number {
  if (probedBlock !== null) return probedBlock;
  probedBlock = 0;
  const c = 16;
  const next = (() => {
    let state = 12345;
    return () => ((state = (Math.imul(state, 1103515245) + 12345) | 0) >>> 8) / 16777216 - 0.5;
  })();
  const x = Float32Array.from({ length: c * 36 }, next);
  const x1 = Float32Array.from({ length: 36 }, next);
  const w = Float32Array.from({ length: c * c * 9 }, next);
  const w1 = Float32Array.from({ length: c * 9 }, next);
  for (const blk of [8, 16]) {
    try {
      const g = new OnnxGraph();
      g.input('x', [1, c, 6, 6]);
      g.input('x1', [1, 1, 6, 6]);
      g.input('w', [c, c, 3, 3]);
      g.input('w1', [c, 1, 3, 3]);
      // stride 2 with asymmetric 'same' padding, as seed002's k5 layers
      const conv = (ci: number): ConvGeometry => ({ kh: 3, kw: 3, ci, co: c, sh: 2, sw: 2, pads: [0, 0, 1, 1] });
      const a = nchwcConv(g, conv(c), false, 'x', 'w', undefined, blk);
      const a1 = nchwcConv(g, conv(1), false, 'x1', 'w1', undefined, blk);
      const attrs = { strides: [2, 2], pads: [0, 0, 1, 1], kernel_shape: [3, 3] };
      g.named('plain', 'Conv', ['x', 'w'], attrs);
      g.named('plain1', 'Conv', ['x1', 'w1'], attrs);
      g.named('blocked', 'Identity', [a]);
      g.named('blocked1', 'Identity', [a1]);
      for (const name of ['plain', 'plain1', 'blocked', 'blocked1']) g.output(name, [1, c, 3, 3]);
      const bytes = g.encode({ name: 'nchwc_probe', domains: [{ domain: NCHWC, version: 1 }] });
      const s = new ort.InferenceSession();
      s.loadModel(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength, { graphOptimizationLevel: 'all', intraOpNumThreads: 1 });
      const T = ort.Tensor;
      const out = s.run(
        { x: new T('float32', x, [1, c, 6, 6]), x1: new T('float32', x1, [1, 1, 6, 6]), w: new T('float32', w, [c, c, 3, 3]), w1: new T('float32', w1, [c, 1, 3, 3]) },
        { plain: null, plain1: null, blocked: null, blocked1: null },
        {},
      );
      s.dispose();
      const close = (p: Float32Array, q: Float32Array) => p.every((v, i) => Math.abs(v - q[i]!) <= 1e-4 * (1 + Math.abs(v)));
      if (close(out.plain!.data, out.blocked!.data) && close(out.plain1!.data, out.blocked1!.data)) {
        probedBlock = blk;
        break;
      }
    } catch {
      // no nchwc ops in this build: stay on plain Conv
    }
  }
  return probedBlock;
}
