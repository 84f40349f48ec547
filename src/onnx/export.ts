/**
 * Export of a trained member (a tfjs LayersModel, as built by `buildModel` or loaded from a
 * checkpoint) to an ONNX graph that ONNX Runtime runs natively.
 *
 * - One rule per tfjs layer class (`EXPORT_RULES`); a layer without a rule is an error
 *   naming the layer and its class, never a silently wrong graph.
 * - tfjs is NHWC and ONNX `Conv`/`MaxPool` are NCHW. Values carry their layout and rules ask
 *   for the one they need, so transposes appear only where the layout changes: once after the
 *   preprocessing (a reshape when there is one channel) and once before `Flatten`, which must
 *   see NHWC so that the dense weights after it line up with tfjs's flattening order.
 * - 'same' padding is turned into explicit pads with tfjs's own arithmetic
 *   (`backend_util.computeConv2DInfo` / `computePool2DInfo`), asymmetric ones included
 *   (tfjs puts the odd pixel at the bottom/right, as TensorFlow does).
 * - Inference-form batch normalisation: folded into the weights and bias of the Conv/Dense
 *   before it when nothing but identities (dropout) sits in between and that layer has no
 *   activation; otherwise an ONNX `BatchNormalization` with the moving statistics and the
 *   layer's own epsilon (tfjs's default is 1e-3, not ONNX's 1e-5). A batch norm after a ReLU
 *   is deferred and folded into the next Conv/Dense: exactly into the weights and bias when the
 *   conv has no padding; before a padded conv the scale goes into the weights and the shift,
 *   which must not reach the padded taps, becomes a constant map added to the conv's output.
 * - The checkpoint's preprocessing (zero padding to `padTo`, scaling to [-1, 1], standardising)
 *   is part of the graph: callers feed raw pixels in [0, 1] as stored, [N, 28, 28, 1].
 *
 * `exportCheckpointToOnnx` writes `model.onnx` beside the checkpoint's files and records it in
 * a sidecar `onnx.json` (checkpoint.ts and its metadata stay untouched); an export whose source
 * hashes still match the checkpoint is reused.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import * as tf from '../engine/tf.js';
import { UserError } from '../errors.js';
import { writeFileAtomic, writeJsonAtomic } from '../atomic-file.js';
import { loadCheckpoint, readVerifiedMetadata, type CheckpointMetadata, type CheckpointPreprocessing } from '../model/checkpoint.js';
import { EXPORT_RULES, GraphBuilder, ONNX_INPUT, ONNX_OUTPUT, type GraphValue, type RuleContext, TAKES_PENDING_NORM, UnsupportedLayerError, materialize } from './export-rules.js';

export { ONNX_INPUT, ONNX_OUTPUT, UnsupportedLayerError } from './export-rules.js';

export const ONNX_FILE = 'model.onnx';
export const ONNX_SIDECAR = 'onnx.json';
export const ONNX_OPSET = 18;
/** Bumped when a rule changes what it emits, so exports made by older rules are redone. */
export const ONNX_EXPORTER_VERSION = 4;

/* ---------- preprocessing ---------- */

/** The nodes of `fromSpec` (train.ts): pad first (with 0 in [0,1] units), then scale. */
function preprocess(graph: GraphBuilder, input: GraphValue, spec: CheckpointPreprocessing): GraphValue {
  let value = input;
  const side = input.shape[0]!;
  if (spec.padTo && spec.padTo > side) {
    const total = spec.padTo - side;
    const before = Math.floor(total / 2);
    const after = total - before;
    const pads = graph.int64('preprocess/pads', [0, before, before, 0, 0, after, after, 0]);
    value = { ...value, name: graph.op('Pad', [value.name, pads], {}, 'preprocess/padded'), shape: [spec.padTo, spec.padTo, input.shape[2]!] };
  }
  const scalar = (base: string, v: number) => graph.float(base, [], new Float32Array([v]));
  if (spec.scale === '-1-1') {
    const doubled = graph.op('Mul', [value.name, scalar('preprocess/two', 2)], {}, 'preprocess/doubled');
    value = { ...value, name: graph.op('Sub', [doubled, scalar('preprocess/one', 1)], {}, 'preprocess/scaled') };
  } else if (spec.scale === 'standardize') {
    const centred = graph.op('Sub', [value.name, scalar('preprocess/mean', spec.mean ?? 0)], {}, 'preprocess/centred');
    value = { ...value, name: graph.op('Div', [centred, scalar('preprocess/std', spec.std ?? 1)], {}, 'preprocess/standardised') };
  }
  return value;
}

/* ---------- model → ONNX ---------- */

export interface OnnxExportOptions {
  /** the input pipeline the checkpoint declares; default none ('0-1') */
  preprocessing?: CheckpointPreprocessing;
  /** side of the raw images fed to the graph; default the model's input side, or 28 when preprocessing pads */
  rawSize?: number;
  /** default 18 (ONNX_OPSET) */
  opset?: number;
}

export interface OnnxModel {
  bytes: Uint8Array;
  opset: number;
  /** raw input per example: [size, size, channels] in [0, 1] */
  inputShape: [number, number, number];
  outputShape: number[];
  /** BatchNormalization layers folded into the Conv/Dense before or after them */
  foldedBatchNorms: string[];
  nodes: number;
}

/** A tfjs shape (or the first of a list of shapes) without its batch axis; unknown sizes are -1. */
export function shapeWithoutBatch(shape: unknown): number[] {
  const dims = (Array.isArray(shape) && Array.isArray(shape[0]) ? shape[0] : shape) as Array<number | null>;
  return dims.slice(1).map((d) => d ?? -1);
}

/** The layers of a single-input, single-output chain, in order (InputLayer excluded). */
function chainOf(model: tf.LayersModel): tf.Layer[] {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new UserError(`cannot export model "${model.name}" to ONNX: it has ${model.inputs.length} inputs and ${model.outputs.length} outputs (one of each is exported)`);
  }
  const layers = model.layers.filter((l) => l.getClassName() !== 'InputLayer');
  layers.forEach((layer, i) => {
    const inbound = (layer as unknown as { inboundNodes: Array<{ inboundLayers: tf.Layer[] }> }).inboundNodes;
    const sources = inbound.flatMap((n) => n.inboundLayers).filter((l) => l.getClassName() !== 'InputLayer');
    const expected = i === 0 ? [] : [layers[i - 1]];
    if (sources.length !== expected.length || sources.some((s, k) => s !== expected[k])) {
      throw new UnsupportedLayerError(
        { name: layer.name, className: layer.getClassName() },
        'the model is not a plain chain of layers (branches and merges are not exported)',
      );
    }
  });
  return layers;
}

/** Competition images are 28×28; a network that pads them (`padTo`) still takes them raw. */
export const RAW_IMAGE_SIZE = 28;

/**
 * The per-example shape of the raw images a model is fed (before its preprocessing): the
 * network's input, or 28×28 when the preprocessing pads up to the network's size.
 */
export function rawImageShape(modelInput: number[], preprocessing: CheckpointPreprocessing, rawSize?: number): [number, number, number] {
  const side = rawSize ?? (preprocessing.padTo ? RAW_IMAGE_SIZE : modelInput[0]!);
  return [side, side, modelInput[2] ?? 1];
}

/** Converts a tfjs layers model (a chain, as `buildModel` makes) to ONNX bytes. */
export function exportModelToOnnx(model: tf.LayersModel, options: OnnxExportOptions = {}): OnnxModel {
  const opset = options.opset ?? ONNX_OPSET;
  if (opset < 13) throw new Error(`ONNX opset ${opset} is too old: the exporter emits opset-13+ operators (Softmax over the last axis, Pad and Clip with tensor inputs)`);
  const spec = options.preprocessing ?? { scale: '0-1' };
  const modelInput = shapeWithoutBatch(model.inputs[0]!.shape);
  if (modelInput.length !== 3 || modelInput.some((d) => d <= 0)) {
    throw new UserError(`cannot export model "${model.name}" to ONNX: its input is [${modelInput.join(', ')}], not an image [H, W, C]`);
  }
  const rawShape = rawImageShape(modelInput, spec, options.rawSize);

  const graph = new GraphBuilder();
  let value = preprocess(graph, { name: ONNX_INPUT, layout: 'nhwc', shape: rawShape }, spec);
  if (value.shape.join() !== modelInput.join()) {
    throw new UserError(
      `cannot export model "${model.name}" to ONNX: its preprocessing turns ${rawShape.join('×')} images into ${value.shape.join('×')}, but the network takes ${modelInput.join('×')}`,
      { hint: 'check preprocessing.padTo in the checkpoint metadata' },
    );
  }

  for (const layer of chainOf(model)) {
    const ref = { name: layer.name, className: layer.getClassName() };
    const rule = EXPORT_RULES[ref.className];
    if (!rule) {
      throw new UnsupportedLayerError(ref, `there is no export rule for ${ref.className} (exported: ${Object.keys(EXPORT_RULES).join(', ')})`);
    }
    const ctx: RuleContext = { graph, layer, ref, config: layer.getConfig() as Record<string, unknown>, outputShape: shapeWithoutBatch(layer.outputShape) };
    if (value.pending && !TAKES_PENDING_NORM.has(ref.className)) value = materialize(graph, value);
    value = rule(value, ctx);
    if (value.shape.join() !== ctx.outputShape.join()) {
      throw new Error(`internal: the ONNX rule for ${ref.className} made [${value.shape}] but tfjs's layer "${ref.name}" outputs [${ctx.outputShape}]`);
    }
  }

  value = materialize(graph, value);
  if (value.layout === 'nchw') value = graph.toLayout(value, 'nhwc');
  // The last tensor becomes the graph output `probabilities`.
  const producer = graph.nodes.find((n) => n.outputs[0] === value.name);
  if (producer && value.name !== ONNX_INPUT) producer.outputs[0] = ONNX_OUTPUT;
  else graph.nodes.push({ op: 'Identity', inputs: [value.name], outputs: [ONNX_OUTPUT] });

  const outputShape = value.shape;
  graph.input(ONNX_INPUT, ['N', ...rawShape]);
  graph.output(ONNX_OUTPUT, ['N', ...outputShape]);
  const bytes = graph.encode({
    name: model.name,
    opset,
    producer: `digits onnx-export ${ONNX_EXPORTER_VERSION} (tfjs ${tf.version.tfjs})`,
  });
  return { bytes, opset, inputShape: rawShape, outputShape, foldedBatchNorms: graph.folded, nodes: graph.nodes.length };
}

/* ---------- checkpoint export with a sidecar ---------- */

/** `onnx.json` beside `model.onnx`: what was exported from which checkpoint files. */
export interface OnnxSidecar {
  file: string;
  sha256: string;
  /** `metadata.files` of the checkpoint the export was made from */
  sourceHashes: CheckpointMetadata['files'];
  opset: number;
  exporterVersion: number;
}

export interface OnnxExportResult {
  path: string;
  bytes: number;
  sha256: string;
  opset: number;
  /** false when an up-to-date export was already there */
  exported: boolean;
  sidecar: OnnxSidecar;
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

async function readSidecar(dir: string): Promise<OnnxSidecar | null> {
  try {
    const value = JSON.parse(await readFile(join(dir, ONNX_SIDECAR), 'utf8')) as Partial<OnnxSidecar>;
    if (typeof value.file !== 'string' || typeof value.sha256 !== 'string' || typeof value.sourceHashes !== 'object' || value.sourceHashes == null) return null;
    return value as OnnxSidecar;
  } catch {
    return null;
  }
}

/** The existing export when it was made from exactly these checkpoint files by these rules, else null. */
async function upToDate(dir: string, metadata: CheckpointMetadata, opset: number): Promise<{ result: OnnxExportResult; data: Buffer } | null> {
  const sidecar = await readSidecar(dir);
  if (
    !sidecar ||
    sidecar.opset !== opset ||
    sidecar.exporterVersion !== ONNX_EXPORTER_VERSION ||
    sidecar.sourceHashes['model.json'] !== metadata.files['model.json'] ||
    sidecar.sourceHashes['weights.bin'] !== metadata.files['weights.bin']
  ) {
    return null;
  }
  const path = join(dir, sidecar.file);
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch {
    return null;
  }
  if (sha256(bytes) !== sidecar.sha256) return null;
  return { result: { path, bytes: bytes.length, sha256: sidecar.sha256, opset, exported: false, sidecar }, data: bytes };
}

export interface CheckpointExportOptions {
  /** export even when `onnx.json` says the existing `model.onnx` is up to date */
  force?: boolean;
  opset?: number;
}

/** Builds the ONNX model of a checkpoint in memory (with its preprocessing), without writing anything. */
export async function checkpointToOnnx(dir: string, opset = ONNX_OPSET): Promise<{ model: OnnxModel; metadata: CheckpointMetadata }> {
  await tf.ready();
  const { model, metadata } = await loadCheckpoint(dir);
  try {
    return { model: exportModelToOnnx(model, { preprocessing: metadata.preprocessing, opset }), metadata };
  } finally {
    model.dispose();
  }
}

/**
 * Writes `model.onnx` and `onnx.json` into the checkpoint folder `dir` (each atomically,
 * the sidecar last), unless the sidecar shows an export of the same model.json/weights.bin.
 */
export async function exportCheckpointToOnnx(checkpointDir: string, options: CheckpointExportOptions = {}): Promise<OnnxExportResult> {
  const dir = resolve(checkpointDir);
  const opset = options.opset ?? ONNX_OPSET;
  if (!options.force) {
    // The checkpoint's files are checked against their recorded hashes first: an export made
    // before they were damaged must not stand in for them.
    const existing = await upToDate(dir, await readVerifiedMetadata(dir), opset);
    if (existing) return existing.result;
  }
  const { model, metadata } = await checkpointToOnnx(dir, opset);
  const path = join(dir, ONNX_FILE);
  const sidecar: OnnxSidecar = { file: ONNX_FILE, sha256: sha256(model.bytes), sourceHashes: { ...metadata.files }, opset, exporterVersion: ONNX_EXPORTER_VERSION };
  await writeFileAtomic(path, model.bytes);
  await writeJsonAtomic(join(dir, ONNX_SIDECAR), sidecar);
  return { path, bytes: model.bytes.length, sha256: sidecar.sha256, opset, exported: true, sidecar };
}
