/**
 * Small helpers to write ONNX graphs with the `onnx-proto` package (protobufjs code
 * generated from the official onnx.proto), so no protobuf bytes are written by hand.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
// onnx-proto is CommonJS; its `onnx` namespace holds the generated message classes.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { onnx } = require('onnx-proto') as { onnx: OnnxNamespace };

/* The subset of the generated API we use. */
interface OnnxNamespace {
  ModelProto: { create(v: object): object; encode(m: object): { finish(): Uint8Array } };
  GraphProto: { create(v: object): object };
  NodeProto: { create(v: object): object };
  ValueInfoProto: { create(v: object): object };
  TensorProto: { create(v: object): object; DataType: { FLOAT: number; INT64: number } };
  AttributeProto: { AttributeType: { INT: number; INTS: number; FLOAT: number; STRING: number; TENSOR: number } };
}

export const FLOAT = onnx.TensorProto.DataType.FLOAT;
export const INT64 = onnx.TensorProto.DataType.INT64;

export type AttrValue = number | number[] | { float: number } | { str: string };

export interface NodeSpec {
  op: string;
  inputs: string[];
  outputs: string[];
  attrs?: Record<string, AttrValue>;
  domain?: string;
}

function attribute(name: string, value: AttrValue): object {
  const T = onnx.AttributeProto.AttributeType;
  if (Array.isArray(value)) return { name, type: T.INTS, ints: value };
  if (typeof value === 'number') return { name, type: T.INT, i: value };
  if ('str' in value) return { name, type: T.STRING, s: new TextEncoder().encode(value.str) };
  return { name, type: T.FLOAT, f: value.float };
}

export function node(spec: NodeSpec): object {
  return onnx.NodeProto.create({
    opType: spec.op,
    domain: spec.domain ?? '',
    input: spec.inputs,
    output: spec.outputs,
    name: `${spec.op}_${spec.outputs[0]}`,
    attribute: Object.entries(spec.attrs ?? {}).map(([k, v]) => attribute(k, v)),
  });
}

/** A float32 graph input/output; `dims` entries that are strings are symbolic (e.g. batch). */
export function valueInfo(name: string, dims: Array<number | string>, elemType = FLOAT): object {
  return onnx.ValueInfoProto.create({
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } },
  });
}

export function floatInitializer(name: string, dims: number[], values: Float32Array): object {
  return onnx.TensorProto.create({
    name,
    dims,
    dataType: FLOAT,
    rawData: new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
  });
}

export function int64Initializer(name: string, values: number[]): object {
  return onnx.TensorProto.create({ name, dims: [values.length], dataType: INT64, int64Data: values });
}

export interface GraphSpec {
  name: string;
  nodes: object[];
  inputs: object[];
  outputs: object[];
  initializers?: object[];
  opset?: number;
  /** opsets of other domains the nodes use (e.g. ONNX Runtime's com.microsoft.nchwc) */
  domains?: Array<{ domain: string; version: number }>;
  producer?: string;
}

export function encodeModel(spec: GraphSpec): Uint8Array {
  const graph = onnx.GraphProto.create({
    name: spec.name,
    node: spec.nodes,
    input: spec.inputs,
    output: spec.outputs,
    initializer: spec.initializers ?? [],
  });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: spec.producer ?? 'digits',
    opsetImport: [{ domain: '', version: spec.opset ?? 18 }, ...(spec.domains ?? [])],
    graph,
  });
  return onnx.ModelProto.encode(model).finish();
}
