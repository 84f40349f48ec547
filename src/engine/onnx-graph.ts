/**
 * The one way ONNX graphs are written here: `OnnxGraph` (nodes, inputs, outputs and
 * initializers, with fresh names and shared constants), encoded with the `onnx-proto` package
 * (protobufjs code generated from the official onnx.proto), so no protobuf bytes are written by
 * hand. The ONNX export, the whole-step trainer and the per-op kernels build graphs with it; the
 * int8 quantizer, which rewrites an exported graph, decodes it here (`decodeModel`) and makes its
 * new nodes and initializers with the same constructors the builder uses (`nodeProto`,
 * `tensorProto`). This is the only module that loads onnx-proto.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
// onnx-proto is CommonJS; its `onnx` namespace holds the generated message classes.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { onnx } = require('onnx-proto') as { onnx: OnnxNamespace };

/* ---------- the decoded-message subset we read and edit ---------- */

type Long = number | { toNumber(): number };
export interface AttributeMsg {
  name: string;
  type: number;
  i?: number;
  ints?: number[];
  f?: number;
  s?: Uint8Array;
}
export interface TensorMsg {
  name: string;
  dims: Long[];
  dataType: number;
  rawData?: Uint8Array;
  floatData?: number[];
  int32Data?: number[];
}
export interface NodeMsg {
  name?: string;
  opType: string;
  domain?: string;
  input: string[];
  output: string[];
  attribute: AttributeMsg[];
}
export interface ValueInfoMsg {
  name: string;
  type?: { tensorType?: { elemType?: number; shape?: { dim?: Array<{ dimValue?: Long; dimParam?: string }> } } };
}
export interface GraphMsg {
  name?: string;
  node: NodeMsg[];
  initializer: TensorMsg[];
  input: ValueInfoMsg[];
  output: ValueInfoMsg[];
}
export interface ModelMsg {
  graph: GraphMsg;
  opsetImport: Array<{ domain?: string; version: Long }>;
  producerName?: string;
}

interface OnnxNamespace {
  ModelProto: {
    create(v: object): ModelMsg;
    encode(m: ModelMsg): { finish(): Uint8Array };
    decode(bytes: Uint8Array): ModelMsg;
    toObject(m: ModelMsg): unknown;
    fromObject(o: unknown): ModelMsg;
  };
  GraphProto: { create(v: object): GraphMsg };
  NodeProto: { create(v: object): NodeMsg };
  ValueInfoProto: { create(v: object): ValueInfoMsg };
  TensorProto: { create(v: object): TensorMsg; DataType: { FLOAT: number; UINT8: number; INT8: number; INT32: number; INT64: number } };
  AttributeProto: { AttributeType: { INT: number; INTS: number; FLOAT: number; STRING: number } };
}

export const DataType = onnx.TensorProto.DataType;
export const FLOAT = DataType.FLOAT;
export const INT64 = DataType.INT64;

/* ---------- message constructors (the builder's, also used to edit a decoded graph) ---------- */

export type AttrValue = number | number[] | { float: number } | { str: string };

export interface NodeSpec {
  op: string;
  inputs: string[];
  outputs: string[];
  attrs?: Record<string, AttrValue>;
  domain?: string;
}

function attribute(name: string, value: AttrValue): AttributeMsg {
  const T = onnx.AttributeProto.AttributeType;
  if (Array.isArray(value)) return { name, type: T.INTS, ints: value };
  if (typeof value === 'number') return { name, type: T.INT, i: value };
  if ('str' in value) return { name, type: T.STRING, s: new TextEncoder().encode(value.str) };
  return { name, type: T.FLOAT, f: value.float };
}

export function attributes(attrs: Record<string, AttrValue>): AttributeMsg[] {
  return Object.entries(attrs).map(([k, v]) => attribute(k, v));
}

/** A NodeProto named `<op>_<first output>`. */
export function nodeProto(spec: NodeSpec): NodeMsg {
  return onnx.NodeProto.create({
    opType: spec.op,
    domain: spec.domain ?? '',
    input: spec.inputs,
    output: spec.outputs,
    name: `${spec.op}_${spec.outputs[0]}`,
    attribute: attributes(spec.attrs ?? {}),
  });
}

/** A graph input/output; `dims` entries that are strings are symbolic (e.g. batch); no dims: untyped (an extra output ORT infers). */
export function valueInfo(name: string, dims?: Array<number | string>, elemType = FLOAT): ValueInfoMsg {
  if (!dims) return onnx.ValueInfoProto.create({ name });
  return onnx.ValueInfoProto.create({
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } },
  });
}

export type TensorValues = Float32Array | Int32Array | Int8Array | Uint8Array | BigInt64Array;

/** An initializer holding `values` as raw little-endian bytes of `dataType`. */
export function tensorProto(name: string, dims: number[], dataType: number, values: TensorValues): TensorMsg {
  return onnx.TensorProto.create({ name, dims, dataType, rawData: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) });
}

/** The float32 values of an initializer (a copy). */
export function floatsOf(t: TensorMsg): Float32Array {
  if (t.dataType !== FLOAT) throw new Error(`internal: initializer ${t.name} is not float32`);
  if (t.rawData && t.rawData.length > 0) {
    const copy = new Uint8Array(t.rawData);
    return new Float32Array(copy.buffer, 0, copy.length / 4);
  }
  return Float32Array.from(t.floatData ?? []);
}

export const dimsOf = (t: TensorMsg): number[] => t.dims.map((d) => (typeof d === 'number' ? d : d.toNumber()));

/* ---------- whole models ---------- */

export interface ModelMeta {
  name: string;
  /** default 18 */
  opset?: number;
  /** opsets of other domains the nodes use (e.g. ONNX Runtime's com.microsoft.nchwc) */
  domains?: Array<{ domain: string; version: number }>;
  producer?: string;
}

export const decodeModel = (bytes: Uint8Array): ModelMsg => onnx.ModelProto.decode(bytes);
export const encodeModel = (model: ModelMsg): Uint8Array => onnx.ModelProto.encode(model).finish();
/** A deep copy of a decoded model, safe to edit. */
export const copyModel = (model: ModelMsg): ModelMsg => onnx.ModelProto.fromObject(onnx.ModelProto.toObject(model));

/* ---------- the builder ---------- */

interface Initializer {
  dims: number[];
  dataType: number;
  values: TensorValues;
}

/**
 * A graph under construction. Nodes stay editable `NodeSpec`s until `encode` (the exporter folds
 * batch norms into a Conv already emitted and renames the last output). Every name it hands out
 * is fresh: `fresh('conv_0/W')` gives `conv_0/W`, then `conv_0/W_1`, …
 */
export class OnnxGraph {
  readonly nodes: NodeSpec[] = [];
  readonly inputs: ValueInfoMsg[] = [];
  readonly outputs: ValueInfoMsg[] = [];
  private readonly tensors = new Map<string, Initializer>();
  private readonly used = new Set<string>();
  private readonly nextIndex = new Map<string, number>();
  /** shared constants (scalars, int64 lists, zeros) by value */
  private readonly constants = new Map<string, string>();

  /** A name not used yet, readable in Netron. */
  fresh(base: string): string {
    let name = base;
    let i = this.nextIndex.get(base) ?? 1;
    while (this.used.has(name)) name = `${base}_${i++}`;
    if (name !== base) this.nextIndex.set(base, i);
    this.used.add(name);
    return name;
  }

  /** Names given out elsewhere (e.g. the graph output a node is renamed to later). */
  reserve(...names: string[]): void {
    for (const name of names) this.used.add(name);
  }

  input(name: string, dims: Array<number | string>, elemType = FLOAT): string {
    this.used.add(name);
    this.inputs.push(valueInfo(name, dims, elemType));
    return name;
  }

  output(name: string, dims: Array<number | string>, elemType = FLOAT): void {
    this.outputs.push(valueInfo(name, dims, elemType));
  }

  /** Adds a node with a fresh output named after `base` (default: the op in lower case). */
  node(op: string, inputs: string[], attrs?: Record<string, AttrValue>, base = op.toLowerCase(), domain?: string): NodeSpec {
    const spec: NodeSpec = { op, inputs, outputs: [this.fresh(base)], attrs, domain };
    this.nodes.push(spec);
    return spec;
  }

  /** Adds a node and returns its output name. */
  op(op: string, inputs: string[], attrs?: Record<string, AttrValue>, base?: string, domain?: string): string {
    return this.node(op, inputs, attrs, base, domain).outputs[0]!;
  }

  /** A node whose output gets exactly `name` (a graph output, or a name a fixed-layout graph uses). */
  named(name: string, op: string, inputs: string[], attrs?: Record<string, AttrValue>, domain?: string): string {
    if (this.used.has(name)) throw new Error(`internal: ONNX name ${name} is already used in this graph`);
    this.used.add(name);
    this.nodes.push({ op, inputs, outputs: [name], attrs, domain });
    return name;
  }

  /** An initializer with a fresh name after `base`. */
  initializer(base: string, dims: number[], dataType: number, values: TensorValues): string {
    const name = this.fresh(base);
    this.tensors.set(name, { dims, dataType, values });
    return name;
  }

  float(base: string, dims: number[], values: Float32Array): string {
    return this.initializer(base, dims, FLOAT, values);
  }

  int64(base: string, values: number[]): string {
    return this.initializer(base, [values.length], INT64, BigInt64Array.from(values, BigInt));
  }

  /** The values of a float initializer of this graph (editable in place until `encode`). */
  floatValues(name: string): Float32Array {
    const t = this.tensors.get(name);
    if (!t || t.dataType !== FLOAT) throw new Error(`internal: ${name} is not a float initializer of this graph`);
    return t.values as Float32Array;
  }

  private shared(key: string, make: () => string): string {
    let name = this.constants.get(key);
    if (!name) {
      name = make();
      this.constants.set(key, name);
    }
    return name;
  }

  /** A float scalar constant (one initializer per value). */
  scalar(value: number): string {
    return this.shared(`f${Math.fround(value)}`, () => this.float('c', [], new Float32Array([value])));
  }

  /** An int64 list constant (one initializer per list), e.g. shapes and axes. */
  ints(values: number[]): string {
    return this.shared(`i${values.join(',')}`, () => this.int64('c', values));
  }

  zeros(n: number): string {
    return this.shared(`z${n}`, () => this.float('c', [n], new Float32Array(n)));
  }

  constant(values: Float32Array, dims: number[]): string {
    return this.float('c', dims, values);
  }

  add = (a: string, b: string) => this.op('Add', [a, b]);
  sub = (a: string, b: string) => this.op('Sub', [a, b]);
  mul = (a: string, b: string) => this.op('Mul', [a, b]);
  div = (a: string, b: string) => this.op('Div', [a, b]);
  reduceSum = (x: string, axes: number[], keepdims: 0 | 1) => this.op('ReduceSum', [x, this.ints(axes)], { keepdims });
  reduceMean = (x: string, axes: number[], keepdims: 0 | 1) => this.op('ReduceMean', [x, this.ints(axes)], { keepdims });
  reshape = (x: string, dims: number[]) => this.op('Reshape', [x, this.ints(dims)]);
  transpose = (x: string, perm: number[]) => this.op('Transpose', [x], { perm });

  nodeProtos(): NodeMsg[] {
    return this.nodes.map(nodeProto);
  }

  initializerProtos(): TensorMsg[] {
    return [...this.tensors].map(([name, t]) => tensorProto(name, t.dims, t.dataType, t.values));
  }

  /** The model's bytes (IR 8, opset 18 unless `meta.opset` says otherwise). */
  encode(meta: ModelMeta): Uint8Array {
    const graph = onnx.GraphProto.create({
      name: meta.name,
      node: this.nodeProtos(),
      input: this.inputs,
      output: this.outputs,
      initializer: this.initializerProtos(),
    });
    const model = onnx.ModelProto.create({
      irVersion: 8,
      producerName: meta.producer ?? 'digits',
      opsetImport: [{ domain: '', version: meta.opset ?? 18 }, ...(meta.domains ?? [])],
      graph,
    });
    return encodeModel(model);
  }
}
