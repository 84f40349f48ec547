/**
 * Conv2D (valid/same, any stride, bias or not, relu/linear, L2 on the kernel), NCHW.
 * Forward on NCHWc when the layout probe passes (layout.ts), else plain ONNX Conv; the input
 * gradient is a ConvTranspose; the filter gradient is a convolution of xᵀ with dyᵀ, per-tap
 * GEMMs or one im2col GEMM (`filterGradient` option of the trainer).
 */
import * as tf from '../../../engine/tf.js';
import type { AttrValue, OnnxGraph } from '../../../engine/onnx-graph.js';
import { blockedConv, blockedTranspose, nchwcConv, type ConvGeometry } from '../layout.js';
import { l2Loss, l2Of, pair, paramName, reluGrad, withL2, type FilterGradient, type LayerRule } from '../rule.js';

export interface ConvPlan extends ConvGeometry {
  inHW: [number, number];
  outHW: [number, number];
  bias: boolean;
  relu: boolean;
  l2: number;
  /** parameter indices */
  kernel: number;
  biasParam: number;
}

interface ConvSaved {
  x: string;
  y: string;
}

export const conv2dRule: LayerRule<ConvPlan, ConvSaved> = {
  classes: ['Conv2D'],

  plan({ config, shape, param }) {
    if (shape.length !== 3) return { fail: 'convolution after Flatten' };
    if ((config.dataFormat ?? 'channelsLast') !== 'channelsLast') return { fail: `dataFormat ${config.dataFormat}` };
    const [dh, dw] = pair(config.dilationRate, 1);
    if (dh !== 1 || dw !== 1) return { fail: 'dilation' };
    const activation = config.activation ?? 'linear';
    if (activation !== 'relu' && activation !== 'linear') return { fail: `activation ${activation}` };
    const l2 = l2Of(config);
    if (typeof l2 !== 'number') return l2;
    const [kh, kw] = pair(config.kernelSize, 1);
    const [sh, sw] = pair(config.strides, 1);
    const [ci, h, wd] = shape as [number, number, number];
    const co = config.filters!;
    const info = tf.backend_util.computeConv2DInfo([1, h, wd, ci], [kh, kw, ci, co], [sh, sw], 1, config.padding as 'valid' | 'same');
    const kernel = param('kernel', [co, ci, kh, kw], [3, 2, 0, 1]);
    const bias = config.useBias !== false;
    const biasParam = bias ? param('bias', [co]) : -1;
    const plan: ConvPlan = {
      kh, kw, ci, co, sh, sw,
      pads: [info.padInfo.top, info.padInfo.left, info.padInfo.bottom, info.padInfo.right],
      inHW: [h, wd], outHW: [info.outHeight, info.outWidth], bias, relu: activation === 'relu', l2, kernel, biasParam,
    };
    return { plan, shape: [co, info.outHeight, info.outWidth] };
  },

  forward(g, L, x, ctx) {
    const blk = ctx.nchwcBlock;
    const bias = L.bias ? paramName(L.biasParam) : undefined;
    let y: string;
    if (blk && (L.ci === 1 || L.ci % blk === 0) && L.co % blk === 0) {
      y = nchwcConv(g, L, L.relu, x, paramName(L.kernel), bias, blk);
    } else {
      y = g.op('Conv', [x, paramName(L.kernel), ...(bias ? [bias] : [])], { strides: [L.sh, L.sw], pads: L.pads, kernel_shape: [L.kh, L.kw], dilations: [1, 1] });
      if (L.relu) y = g.op('Relu', [y]);
    }
    if (L.l2) ctx.addLoss(l2Loss(g, L.kernel, L.l2));
    return { y, saved: { x, y } };
  },

  backward(g, L, { x, y }, dy, ctx) {
    let d = dy;
    if (L.relu) d = reluGrad(g, y, d);
    if (L.bias) ctx.setGradient(L.biasParam, g.reduceSum(d, [0, 2, 3], 0));
    ctx.setGradient(L.kernel, withL2(g, filterGradient(g, L, x, d, ctx.batch, ctx.filterGradient, ctx.nchwcBlock), L.kernel, L.l2));
    return ctx.needInput ? inputGradient(g, L, d) : d;
  },
};

/** dx of a convolution: ConvTranspose with pads and output padding that give exactly H×W. */
function inputGradient(g: OnnxGraph, L: ConvPlan, dy: string): string {
  const [H, W] = L.inHW;
  const [OH, OW] = L.outHW;
  const [top, left] = L.pads;
  const endPad = (s: number, o: number, k: number, begin: number, size: number) => s * (o - 1) + k - begin - size;
  const bottom = endPad(L.sh, OH, L.kh, top, H);
  const right = endPad(L.sw, OW, L.kw, left, W);
  return g.op('ConvTranspose', [dy, paramName(L.kernel)], {
    strides: [L.sh, L.sw],
    pads: [top, left, Math.max(0, bottom), Math.max(0, right)],
    output_padding: [Math.max(0, -bottom), Math.max(0, -right)],
    kernel_shape: [L.kh, L.kw],
  });
}

/**
 * dW [Co,Ci,KH,KW] of a convolution from its input x [B,Ci,H,W] and output gradient dy [B,Co,OH,OW].
 * 'auto': a convolution on NCHWc where the batch and Co are multiples of the block, else per-tap GEMMs.
 */
function filterGradient(g: OnnxGraph, L: ConvPlan, x: string, dy: string, B: number, requested: FilterGradient, blk: number): string {
  const [top, left, bottom, right] = L.pads;
  const [H, W] = L.inHW;
  const [OH, OW] = L.outHW;
  const blockable = blk > 0 && B % blk === 0 && L.co % blk === 0;
  const how = requested === 'auto' ? (blockable ? 'conv' : 'taps') : requested;
  if (how === 'conv') {
    // dW[co,ci,i,j] = Σ_b,oh,ow x[b,ci,oh·s+i−top, ow·s+j−left]·dy[b,co,oh,ow]: a convolution of
    // xᵀ [Ci,B,H,W] (batch ↔ channels) with dyᵀ [Co,B,OH,OW] as the filter, dilated by the stride.
    const xt = L.ci === 1 ? g.reshape(x, [1, B, H, W]) : g.transpose(x, [1, 0, 2, 3]);
    const dyt = blockable ? blockedTranspose(g, dy, B, L.co, OH, OW, blk) : g.transpose(dy, [1, 0, 2, 3]);
    // Rows the forward never reached (bottom padding beyond the last window, or valid leftovers) are cropped.
    const kh = H + top + bottom - L.sh * (OH - 1);
    const kw = W + left + right - L.sw * (OW - 1);
    const attrs: Record<string, AttrValue> = { strides: [1, 1], dilations: [L.sh, L.sw], pads: [top, left, bottom, right], kernel_shape: [OH, OW] };
    let r = blockable ? blockedConv(g, xt, dyt, L.co, B, OH, OW, attrs, blk, true) : g.op('Conv', [xt, dyt], attrs);
    if (kh !== L.kh || kw !== L.kw) r = g.op('Slice', [r, g.ints([0, 0]), g.ints([L.kh, L.kw]), g.ints([2, 3])]);
    return L.ci === 1 ? g.reshape(r, [L.co, 1, L.kh, L.kw]) : g.transpose(r, [1, 0, 2, 3]);
  }
  let src = g.transpose(x, [0, 2, 3, 1]);
  if (top || bottom || left || right) src = g.op('Pad', [src, g.ints([0, top, left, 0, 0, bottom, right, 0])]);
  const tap = (i: number, j: number) => g.op('Slice', [src, g.ints([i, j]), g.ints([i + (OH - 1) * L.sh + 1, j + (OW - 1) * L.sw + 1]), g.ints([1, 2]), g.ints([L.sh, L.sw])]);
  const d2 = () => g.reshape(g.transpose(dy, [0, 2, 3, 1]), [B * OH * OW, L.co]);
  if (how === 'taps') {
    // One GEMM per filter tap over the strided NHWC slice: no im2col buffer is ever built.
    const dy2 = d2();
    const taps: string[] = [];
    for (let i = 0; i < L.kh; i++) {
      for (let j = 0; j < L.kw; j++) {
        const gt = g.op('Gemm', [dy2, g.reshape(tap(i, j), [B * OH * OW, L.ci])], { transA: 1 });
        taps.push(g.reshape(gt, [L.co, L.ci, 1]));
      }
    }
    return g.reshape(g.op('Concat', taps, { axis: 2 }), [L.co, L.ci, L.kh, L.kw]);
  }
  // im2col in NHWC by strided slices, then one GEMM over (b, oh, ow).
  const slices: string[] = [];
  for (let i = 0; i < L.kh; i++) for (let j = 0; j < L.kw; j++) slices.push(tap(i, j));
  const patches = g.reshape(g.op('Concat', slices, { axis: 3 }), [B * OH * OW, L.kh * L.kw * L.ci]);
  // [co, (kh,kw,ci)] → [Co, KH, KW, Ci] → [Co, Ci, KH, KW]
  const gw = g.op('Gemm', [d2(), patches], { transA: 1 });
  return g.transpose(g.reshape(gw, [L.co, L.kh, L.kw, L.ci]), [0, 3, 1, 2]);
}
