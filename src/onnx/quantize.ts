/**
 * Static int8 quantization of an exported member, in ONNX Runtime's QDQ form.
 *
 * The float graph of `onnx-export.ts` is at about 80% of one core's FMA peak on ONNX Runtime
 * (MLAS), so the remaining speed is in doing fewer or cheaper multiplies: 8-bit integer
 * convolutions. Each convolution gets
 *   - its input as QuantizeLinear → DequantizeLinear (uint8, one scale and zero point per
 *     tensor, calibrated on real images),
 *   - its weights as int8 with one symmetric scale per output channel (DequantizeLinear, axis 0),
 *     limited to ±63 (7 bits) so AVX2's u8×s8 pair sums (vpmaddubsw) cannot saturate,
 *   - its bias as int32 at scale s_input × s_weight,
 *   - its output (after the ReLU when one follows) as QuantizeLinear → DequantizeLinear.
 * ONNX Runtime's QDQ transformer fuses each such group into one QLinearConv (the ReLU folds into
 * a zero point of 0). A one-channel first convolution is first rewritten into one over shifted
 * copies (`widenSingleChannelConvs`), and a constant map added to a conv output (a batch norm's
 * shift before a padded conv) is quantized for a QLinearAdd; the dense head and softmax stay float.
 *
 * Calibration runs the float graph once over the calibration images with every tensor that
 * gets quantized added as an output, and takes each tensor's min/max over them (with 0 always
 * inside the range, so zero is exact). The quantized graph is a new ONNX file; the float
 * export stays the reference for parity tests.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic, writeJsonAtomic } from '../atomic-file.js';
import { attributes, copyModel, DataType as DT, decodeModel as decode, dimsOf, encodeModel, floatsOf, nodeProto, tensorProto, valueInfo, type GraphMsg, type ModelMsg, type NodeMsg, type TensorMsg } from '../engine/onnx-graph.js';
import type { OnnxRuntime } from '../engine/ort.js';

/** Weights use ±63: AVX2 int8 GEMM adds two u8×s8 products in int16, which ±127 could overflow. */
export const WEIGHT_RANGE = 63;

/** One tensor to quantize, with the range seen on calibration images. */
export interface ActivationRange {
  tensor: string;
  min: number;
  max: number;
}

export interface QuantizeReport {
  /** convolutions turned into int8 */
  convolutions: string[];
  /** quantized activations and their calibrated ranges */
  ranges: ActivationRange[];
  calibrationImages: number;
}

/** The convolutions to quantize (weights from an initializer) and the tensor each hands on: its ReLU's output when one follows alone, else its own. */
function quantizableConvs(graph: GraphMsg): Array<{ conv: NodeMsg; input: string; output: string }> {
  const inits = new Set(graph.initializer.map((t) => t.name));
  const consumers = new Map<string, NodeMsg[]>();
  for (const n of graph.node) for (const i of n.input) consumers.set(i, [...(consumers.get(i) ?? []), n]);
  const out: Array<{ conv: NodeMsg; input: string; output: string }> = [];
  for (const n of graph.node) {
    if (n.opType !== 'Conv' || (n.domain ?? '') !== '' || !inits.has(n.input[1]!)) continue;
    // Dense convolutions and depthwise ones (a deferred batch norm before a padded conv); not other groupings.
    const group = Number(n.attribute.find((a) => a.name === 'group')?.i ?? 1);
    const w = graph.initializer.find((t) => t.name === n.input[1])!;
    if (group !== 1 && !(group === dimsOf(w)[0] && dimsOf(w)[1] === 1)) continue;
    const next = consumers.get(n.output[0]!) ?? [];
    const output = next.length === 1 && next[0]!.opType === 'Relu' ? next[0]!.output[0]! : n.output[0]!;
    out.push({ conv: n, input: n.input[0]!, output });
  }
  return out;
}

const int64s = (name: string, values: number[]): TensorMsg => tensorProto(name, [values.length], DT.INT64, BigInt64Array.from(values, BigInt));
const attr = (node: NodeMsg, name: string) => node.attribute.find((a) => a.name === name);

/**
 * Rewrites each single-channel convolution (a network's first layer: weights [Co, 1, kh, kw],
 * stride 1, no padding or dilation) as a kh × 1 convolution over kw column-shifted copies of
 * its input, stacked as channels and repeated up to a multiple of 4 (the extra copies get zero
 * weights). Same sums, so the float results are unchanged; but an int8 convolution with one
 * input channel runs MLAS's u8×s8 kernel at a tenth of its speed (9 one-byte taps per output),
 * while this one reads 4-byte channel groups: seed002's first layer drops from about 12% of the
 * int8 model's time to about 6%. Returns the new tensors with the tensor whose range they share.
 */
function widenSingleChannelConvs(graph: GraphMsg): Array<{ tensor: string; sameAs: string }> {
  const inits = new Map(graph.initializer.map((t) => [t.name, t]));
  const aliases: Array<{ tensor: string; sameAs: string }> = [];
  const nodes: NodeMsg[] = [];
  for (const n of graph.node) {
    const w = n.opType === 'Conv' && (n.domain ?? '') === '' ? inits.get(n.input[1]!) : undefined;
    const dims = w ? dimsOf(w) : [];
    const ones = (name: string) => (attr(n, name)?.ints ?? []).every((v) => Number(v) === 1);
    const zeros = (attr(n, 'pads')?.ints ?? []).every((v) => Number(v) === 0);
    const autoPad = attr(n, 'auto_pad')?.s;
    const plain = !autoPad || ['NOTSET', 'VALID'].includes(new TextDecoder().decode(autoPad));
    if (!w || dims.length !== 4 || dims[1] !== 1 || dims[3]! < 2 || Number(attr(n, 'group')?.i ?? 1) !== 1 || !ones('strides') || !ones('dilations') || !zeros || !plain) {
      nodes.push(n);
      continue;
    }
    const [co, , kh, kw] = dims as [number, number, number, number];
    const channels = Math.ceil(kw / 4) * 4;
    const x = n.input[0]!;
    const base = `${n.input[1]}/columns`;
    const slices: string[] = [];
    graph.initializer.push(int64s(`${base}/axis`, [3]));
    for (let s = 0; s < kw; s++) {
      // Columns s … s + W − kw of the input; the last slice runs to the end.
      graph.initializer.push(int64s(`${base}/start${s}`, [s]), int64s(`${base}/end${s}`, [s === kw - 1 ? 2 ** 53 - 1 : s - (kw - 1)]));
      nodes.push(nodeProto({ op: 'Slice', inputs: [x, `${base}/start${s}`, `${base}/end${s}`, `${base}/axis`], outputs: [`${base}${s}`] }));
      slices.push(`${base}${s}`);
    }
    while (slices.length < channels) slices.push(slices[0]!);
    nodes.push(nodeProto({ op: 'Concat', inputs: slices, outputs: [base], attrs: { axis: 1 } }));
    const src = floatsOf(w);
    const widened = new Float32Array(co * channels * kh);
    for (let c = 0; c < co; c++) for (let ky = 0; ky < kh; ky++) for (let kx = 0; kx < kw; kx++) widened[(c * channels + kx) * kh + ky] = src[(c * kh + ky) * kw + kx]!;
    graph.initializer.push(tensorProto(`${n.input[1]}/widened`, [co, channels, kh, 1], DT.FLOAT, widened));
    n.input = [base, `${n.input[1]}/widened`, ...n.input.slice(2)];
    n.attribute = attributes({ kernel_shape: [kh, 1] });
    nodes.push(n);
    aliases.push({ tensor: base, sameAs: x });
  }
  graph.node = nodes;
  return aliases;
}

/** `floatModel` with its single-channel convolutions widened as `quantizeModel` does, still float (for tests). */
export function widenedFloatModel(floatModel: Uint8Array): { bytes: Uint8Array; widened: number } {
  const model = copyModel(decode(floatModel));
  const widened = widenSingleChannelConvs(model.graph).length;
  const used = new Set(model.graph.node.flatMap((n) => n.input));
  model.graph.initializer = model.graph.initializer.filter((t) => used.has(t.name));
  return { bytes: encodeModel(model), widened };
}

/**
 * Min/max of each named tensor over `images` ([count, ...inputShape] float32), by running the
 * float model with those tensors added as outputs, `batch` images per run.
 */
export async function calibrate(ort: OnnxRuntime, floatModel: Uint8Array, tensors: string[], images: Float32Array, inputShape: number[], batch = 256): Promise<ActivationRange[]> {
  const model = copyModel(decode(floatModel));
  const have = new Set(model.graph.output.map((o) => o.name));
  for (const name of tensors) if (!have.has(name)) model.graph.output.push(valueInfo(name));
  const session = await ort.InferenceSession.create(encodeModel(model), { intraOpNumThreads: 1, graphOptimizationLevel: 'basic' });
  const per = inputShape.reduce((a, b) => a * b, 1);
  const count = images.length / per;
  const ranges = new Map(tensors.map((t) => [t, { tensor: t, min: 0, max: 0 }]));
  try {
    for (let start = 0; start < count; start += batch) {
      const n = Math.min(batch, count - start);
      const input = new ort.Tensor('float32', images.subarray(start * per, (start + n) * per), [n, ...inputShape]);
      const result = await session.run({ [session.inputNames[0]!]: input }, tensors);
      for (const t of tensors) {
        const data = result[t]!.data as Float32Array;
        const r = ranges.get(t)!;
        for (let i = 0; i < data.length; i++) {
          const v = data[i]!;
          if (v < r.min) r.min = v;
          else if (v > r.max) r.max = v;
        }
      }
    }
  } finally {
    await session.release();
  }
  return tensors.map((t) => ranges.get(t)!);
}

/** uint8 scale and zero point for a range that contains 0. */
export function activationParams(range: { min: number; max: number }): { scale: number; zeroPoint: number } {
  const min = Math.min(0, range.min);
  const max = Math.max(0, range.max);
  const scale = max > min ? (max - min) / 255 : 1;
  const zeroPoint = Math.max(0, Math.min(255, Math.round(-min / scale)));
  return { scale, zeroPoint };
}

function scalar(name: string, dataType: number, value: number): TensorMsg {
  return tensorProto(name, [], dataType, dataType === DT.FLOAT ? Float32Array.of(value) : Uint8Array.of(value));
}

/** The per-example shape of the graph's first input (its dims after the batch axis). */
function inputShapeOf(model: ModelMsg): number[] {
  const dims = model.graph.input[0]?.type?.tensorType?.shape?.dim ?? [];
  const shape = dims.slice(1).map((d) => Number(typeof d.dimValue === 'object' ? d.dimValue.toNumber() : d.dimValue));
  if (shape.length === 0 || shape.some((d) => !(d > 0))) throw new Error('internal: the float export has no fixed per-example input shape');
  return shape;
}

/** The tensors `quantizeModel` needs ranges for (inputs and outputs of the quantizable convolutions). */
export function tensorsToCalibrate(floatModel: Uint8Array): string[] {
  const convs = quantizableConvs(decode(floatModel).graph);
  return [...new Set(convs.flatMap((c) => [c.input, c.output]))];
}

/** The QDQ int8 model of `floatModel`, given the calibrated ranges of `tensorsToCalibrate`. */
export function quantizeModel(floatModel: Uint8Array, ranges: ActivationRange[]): { bytes: Uint8Array; convolutions: string[] } {
  const model = copyModel(decode(floatModel));
  const { graph } = model;
  const byName = new Map(ranges.map((r) => [r.tensor, r]));
  for (const { tensor, sameAs } of widenSingleChannelConvs(graph)) {
    const range = byName.get(sameAs);
    if (range) byName.set(tensor, { ...range, tensor });
  }
  const convs = quantizableConvs(graph);
  const inits = new Map(graph.initializer.map((t) => [t.name, t]));
  const qdqOf = new Map<string, { dq: string; scale: number; zeroPoint: number }>();
  const nodes: NodeMsg[] = [];
  const pending = new Map<string, NodeMsg[]>(); // nodes to insert right after the producer of a tensor
  const before = new Map<NodeMsg, NodeMsg[]>(); // weight/bias DequantizeLinear nodes to insert before a conv
  const newInits: TensorMsg[] = [];

  const qdq = (tensor: string): { dq: string; scale: number; zeroPoint: number } => {
    const known = qdqOf.get(tensor);
    if (known) return known;
    const range = byName.get(tensor);
    if (!range) throw new Error(`internal: no calibrated range for ${tensor}`);
    const { scale, zeroPoint } = activationParams(range);
    const s = `${tensor}/q_scale`;
    const z = `${tensor}/q_zero`;
    newInits.push(scalar(s, DT.FLOAT, scale), scalar(z, DT.UINT8, zeroPoint));
    const q = `${tensor}/q`;
    const dq = `${tensor}/dq`;
    const pair = [nodeProto({ op: 'QuantizeLinear', inputs: [tensor, s, z], outputs: [q] }), nodeProto({ op: 'DequantizeLinear', inputs: [q, s, z], outputs: [dq] })];
    pending.set(tensor, [...(pending.get(tensor) ?? []), ...pair]);
    const value = { dq, scale, zeroPoint };
    qdqOf.set(tensor, value);
    return value;
  };

  // Plan: which tensors get Q/DQ, and the new weight/bias initializers of each convolution.
  const rewired = new Map<string, string>(); // tensor → its DQ, for the consumers of conv outputs
  for (const { conv, input, output } of convs) {
    const x = qdq(input);
    const weight = inits.get(conv.input[1]!)!;
    const wDims = dimsOf(weight);
    const w = floatsOf(weight);
    const channels = wDims[0]!;
    const per = w.length / channels;
    const wq = new Int8Array(w.length);
    const wScale = new Float32Array(channels);
    for (let c = 0; c < channels; c++) {
      let m = 0;
      for (let k = 0; k < per; k++) m = Math.max(m, Math.abs(w[c * per + k]!));
      const s = m > 0 ? m / WEIGHT_RANGE : 1;
      wScale[c] = s;
      for (let k = 0; k < per; k++) wq[c * per + k] = Math.round(w[c * per + k]! / s);
    }
    const base = conv.input[1]!;
    newInits.push(
      tensorProto(`${base}/int8`, wDims, DT.INT8, wq),
      tensorProto(`${base}/w_scale`, [channels], DT.FLOAT, wScale),
      tensorProto(`${base}/w_zero`, [channels], DT.INT8, new Int8Array(channels)),
    );
    const wdq = nodeProto({ op: 'DequantizeLinear', inputs: [`${base}/int8`, `${base}/w_scale`, `${base}/w_zero`], outputs: [`${base}/dq`], attrs: { axis: 0 } });
    const convInputs = [x.dq, `${base}/dq`];
    const extra: NodeMsg[] = [wdq];
    if (conv.input[2]) {
      const bias = floatsOf(inits.get(conv.input[2])!);
      const bq = new Int32Array(channels);
      const bScale = new Float32Array(channels);
      for (let c = 0; c < channels; c++) {
        bScale[c] = x.scale * wScale[c]!;
        bq[c] = Math.round(bias[c]! / bScale[c]!);
      }
      const b = conv.input[2];
      newInits.push(
        tensorProto(`${b}/int32`, [channels], DT.INT32, bq),
        tensorProto(`${b}/b_scale`, [channels], DT.FLOAT, bScale),
        tensorProto(`${b}/b_zero`, [channels], DT.INT32, new Int32Array(channels)),
      );
      extra.push(nodeProto({ op: 'DequantizeLinear', inputs: [`${b}/int32`, `${b}/b_scale`, `${b}/b_zero`], outputs: [`${b}/dq`], attrs: { axis: 0 } }));
      convInputs.push(`${b}/dq`);
    }
    (conv as { input: string[] }).input = convInputs;
    before.set(conv, extra);
    rewired.set(output, qdq(output).dq);
  }

  // A constant added to a quantized conv output (the shift map of a batch norm before a padded
  // conv, onnx-export.ts) is quantized too, so ONNX Runtime runs the Add as one QLinearAdd
  // (its ReLU folds into the output's zero point) instead of dequantize, add, quantize.
  for (const n of graph.node) {
    if (n.opType !== 'Add' || n.input.length !== 2) continue;
    const k = n.input.findIndex((i) => inits.has(i));
    const other = n.input[1 - k];
    if (k < 0 || !other || !rewired.has(other)) continue;
    const constant = inits.get(n.input[k]!)!;
    if (constant.dataType !== DT.FLOAT) continue;
    const values = floatsOf(constant);
    let min = 0;
    let max = 0;
    for (const v of values) {
      if (v < min) min = v;
      else if (v > max) max = v;
    }
    const { scale, zeroPoint } = activationParams({ min, max });
    const q = Uint8Array.from(values, (v) => Math.max(0, Math.min(255, Math.round(v / scale) + zeroPoint)));
    const base = constant.name;
    newInits.push(
      tensorProto(`${base}/uint8`, dimsOf(constant), DT.UINT8, q),
      scalar(`${base}/q_scale`, DT.FLOAT, scale),
      scalar(`${base}/q_zero`, DT.UINT8, zeroPoint),
    );
    const dq = nodeProto({ op: 'DequantizeLinear', inputs: [`${base}/uint8`, `${base}/q_scale`, `${base}/q_zero`], outputs: [`${base}/dq`] });
    before.set(n, [...(before.get(n) ?? []), dq]);
    n.input[k] = `${base}/dq`;
  }

  // Emit in order: weight DQs before their conv, activation Q/DQ right after the producer.
  const graphInputs = graph.input.map((i) => i.name);
  for (const t of graphInputs) nodes.push(...(pending.get(t) ?? []));
  for (const n of graph.node) {
    nodes.push(...(before.get(n) ?? []));
    n.input = n.input.map((i) => rewired.get(i) ?? i);
    nodes.push(n);
    for (const o of n.output) nodes.push(...(pending.get(o) ?? []));
  }
  graph.node = nodes;
  const usedAsInput = new Set(nodes.flatMap((n) => n.input));
  graph.initializer = [...graph.initializer.filter((t) => usedAsInput.has(t.name)), ...newInits];
  model.producerName = `${model.producerName ?? 'digits'} + int8 QDQ`;
  return { bytes: encodeModel(model), convolutions: convs.map((c) => c.conv.name ?? c.conv.output[0]!) };
}

/* ---------- the int8 export of a checkpoint ---------- */

export const INT8_FILE = 'model.int8.onnx';
export const INT8_SIDECAR = 'int8.json';
/** Bumped when the quantizer emits something different, so older int8 exports are redone. */
export const QUANTIZER_VERSION = 3;
/** Images calibration runs over (ranges settle well before this on MNIST-like data). */
export const CALIBRATION_IMAGES = 1024;

/** Real images the member was trained on: raw pixels in [0,1], `count` × the graph's input. */
export interface CalibrationSet {
  images: Float32Array;
  count: number;
  /** where they came from, recorded in int8.json (e.g. "runs/x: 1,024 training rows of member-1") */
  source: string;
}

/** `int8.json` beside `model.int8.onnx`: which float export it was made from, and on what. */
export interface Int8Sidecar {
  file: string;
  sha256: string;
  /** sha256 of the float model.onnx it quantizes */
  sourceSha256: string;
  quantizerVersion: number;
  weightRange: number;
  calibration: { source: string; images: number };
  convolutions: string[];
  ranges: ActivationRange[];
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

async function readJsonFile<T>(file: string): Promise<T | null> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch {
    return null;
  }
}

/** The int8 export in `dir` when it was made from exactly this float export by this quantizer, else null. */
export async function existingInt8(dir: string, floatSha256: string): Promise<{ bytes: Uint8Array; sidecar: Int8Sidecar } | null> {
  const sidecar = await readJsonFile<Int8Sidecar>(join(dir, INT8_SIDECAR));
  if (!sidecar || sidecar.sourceSha256 !== floatSha256 || sidecar.quantizerVersion !== QUANTIZER_VERSION || typeof sidecar.file !== 'string') return null;
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(join(dir, sidecar.file)));
  } catch {
    return null;
  }
  return sha256(bytes) === sidecar.sha256 ? { bytes, sidecar } : null;
}

/**
 * Quantizes the float export `floatBytes` of the checkpoint in `dir` on `calibration` and writes
 * `model.int8.onnx` + `int8.json` (each atomically, the sidecar last). A read-only folder keeps
 * the result in memory only (`written` false).
 */
export async function writeInt8Export(ort: OnnxRuntime, dir: string, floatBytes: Uint8Array, calibration: CalibrationSet): Promise<{ bytes: Uint8Array; sidecar: Int8Sidecar; written: boolean }> {
  const inputShape = inputShapeOf(decode(floatBytes));
  const per = inputShape.reduce((a, b) => a * b, 1);
  if (calibration.count < 1 || calibration.images.length < calibration.count * per) {
    throw new Error(`calibration needs at least one image of ${per} pixels, got ${calibration.count} (${calibration.images.length} values)`);
  }
  const count = Math.min(calibration.count, CALIBRATION_IMAGES);
  const ranges = await calibrate(ort, floatBytes, tensorsToCalibrate(floatBytes), calibration.images.subarray(0, count * per), inputShape);
  const { bytes, convolutions } = quantizeModel(floatBytes, ranges);
  const sidecar: Int8Sidecar = {
    file: INT8_FILE,
    sha256: sha256(bytes),
    sourceSha256: sha256(floatBytes),
    quantizerVersion: QUANTIZER_VERSION,
    weightRange: WEIGHT_RANGE,
    calibration: { source: calibration.source, images: count },
    convolutions,
    ranges,
  };
  try {
    await writeFileAtomic(join(dir, INT8_FILE), bytes);
    await writeJsonAtomic(join(dir, INT8_SIDECAR), sidecar);
    return { bytes, sidecar, written: true };
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') return { bytes, sidecar, written: false };
    throw error;
  }
}
