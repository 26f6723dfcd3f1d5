/**
 * A tiny ONNX graph builder over the `onnx-proto` protobuf types: initialisers, nodes with
 * attributes, graph inputs/outputs, unique readable names, and the final ModelProto bytes.
 *
 * Naming: a node is named by its scope path (e.g. `block0/sffm/router`); its outputs are the node
 * name plus `:0`, `:1`... Names are made unique by appending `_1`, `_2`... on collision.
 * Initialisers keep the caller's names (parameter names such as `block0.sffm.router`).
 */
import onnxProto from 'onnx-proto';

/** The `onnx` protobuf namespace (onnx-proto is CommonJS: its named export is reachable via default). */
export const onnx = onnxProto.onnx;

/** ONNX tensor element types used here (values of onnx.TensorProto.DataType). */
export const DT = { FLOAT: 1, INT64: 7 } as const;

/** Attribute values a node accepts: int, float, string, int list, float list, tensor. */
export type AttrValue = number | string | number[] | { int: number } | { float: number } | { floats: number[] } | { tensor: onnxProto.onnx.ITensorProto };

/** One graph input or output: name, element type and shape (a string is a symbolic dim, e.g. 'N'). */
export interface IoSpec {
  name: string;
  shape: (number | string)[];
  elemType?: number;
}

function attribute(name: string, v: AttrValue): onnxProto.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof v === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(v) };
  if (typeof v === 'number') {
    // plain numbers are ints when integral (axis, k, perm...); use { float } for float attributes
    if (!Number.isInteger(v)) throw new Error(`attribute '${name}': non-integer ${v}; pass { float: x } for float attributes`);
    return { name, type: T.INT, i: v };
  }
  if (Array.isArray(v)) return { name, type: T.INTS, ints: v };
  if ('int' in v) return { name, type: T.INT, i: v.int };
  if ('float' in v) return { name, type: T.FLOAT, f: v.float };
  if ('floats' in v) return { name, type: T.FLOATS, floats: v.floats };
  return { name, type: T.TENSOR, t: v.tensor };
}

/** A float32 or int64 tensor proto (raw little-endian data). `dims` must match the data length. */
export function tensorProto(name: string, dims: number[], data: Float32Array | BigInt64Array): onnxProto.onnx.ITensorProto {
  const n = dims.reduce((a, b) => a * b, 1);
  if (n !== data.length) throw new Error(`tensor '${name}': shape [${dims.join(', ')}] holds ${n} values, data has ${data.length}`);
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
  return { name, dims, dataType: data instanceof Float32Array ? DT.FLOAT : DT.INT64, rawData: bytes };
}

/** `base`, or `base_1`, `base_2`... when `used` has it; adds the result to `used`. */
export function reserveName(used: Set<string>, base: string): string {
  let n = base;
  for (let i = 1; used.has(n); i++) n = `${base}_${i}`;
  used.add(n);
  return n;
}

/** Collects nodes and initialisers; `build()` returns the encoded ModelProto. */
export class GraphBuilder {
  private readonly nodes: onnxProto.onnx.INodeProto[] = [];
  private readonly inits: onnxProto.onnx.ITensorProto[] = [];
  private readonly used = new Set<string>();
  private readonly inputs: IoSpec[] = [];
  private readonly outputs: IoSpec[] = [];
  private readonly constCache = new Map<string, string>();

  /** Returns `name`, or `name_1`, `name_2`... if taken; marks it taken. */
  unique(name: string): string {
    return reserveName(this.used, name);
  }

  /** Declares a graph input; returns its name. */
  input(spec: IoSpec): string {
    this.used.add(spec.name);
    this.inputs.push(spec);
    return spec.name;
  }

  /** Declares a graph output: renames the producing value by an Identity node named `spec.name`. */
  output(value: string, spec: IoSpec): void {
    this.nodes.push({ name: spec.name, opType: 'Identity', input: [value], output: [spec.name] });
    this.used.add(spec.name);
    this.outputs.push(spec);
  }

  /** Adds a float32 initialiser `[dims]`; returns its (unique) name. */
  init(name: string, dims: number[], data: Float32Array): string {
    const n = this.unique(name);
    this.inits.push(tensorProto(n, dims, data));
    return n;
  }

  /** An int64 constant initialiser (shapes, axes, starts/ends), shared between uses of equal values. */
  ints(values: number[], name = 'const/i64'): string {
    const key = `i64:${values.join(',')}`;
    const hit = this.constCache.get(key);
    if (hit) return hit;
    const n = this.unique(`${name}[${values.join(',')}]`);
    this.inits.push(tensorProto(n, [values.length], BigInt64Array.from(values.map((v) => BigInt(v)))));
    this.constCache.set(key, n);
    return n;
  }

  /** A float32 scalar-like constant `[1]` (or `[dims]` filled with v), shared between equal uses. */
  scalar(v: number, dims: number[] = [1]): string {
    const key = `f32:${v}:${dims.join(',')}`;
    const hit = this.constCache.get(key);
    if (hit) return hit;
    const n = this.init(`const/f32[${v}]`, dims, new Float32Array(dims.reduce((a, b) => a * b, 1)).fill(v));
    this.constCache.set(key, n);
    return n;
  }

  /**
   * Adds a node `opType` named `name` (made unique) and returns its output names (`<name>:i`).
   * An empty string in `inputs` marks an omitted optional input.
   */
  node(opType: string, name: string, inputs: string[], attrs: Record<string, AttrValue> = {}, outputs = 1): string[] {
    const n = this.unique(name);
    const outs = Array.from({ length: outputs }, (_, i) => this.unique(`${n}:${i}`));
    this.nodes.push({ name: n, opType, input: inputs, output: outs, attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)) });
    return outs;
  }

  /** Single-output shorthand of {@link node}. */
  op(opType: string, name: string, inputs: string[], attrs: Record<string, AttrValue> = {}): string {
    return this.node(opType, name, inputs, attrs, 1)[0]!;
  }

  /** Counts of nodes and initialiser scalars (for logs and tests). */
  stats(): { nodes: number; initializers: number; parameters: number } {
    let parameters = 0;
    for (const t of this.inits) if (t.dataType === DT.FLOAT) parameters += (t.dims as number[]).reduce((a, b) => a * b, 1);
    return { nodes: this.nodes.length, initializers: this.inits.length, parameters };
  }

  /**
   * Encodes the ModelProto (`ir_version`, one default-domain opset import) and returns its bytes.
   * `metadata` goes to `metadata_props` (string key/values).
   */
  build(o: { graphName: string; opset: number; irVersion: number; producer: string; producerVersion: string; doc?: string; metadata?: Record<string, string> }): Uint8Array {
    const vi = (s: IoSpec): onnxProto.onnx.IValueInfoProto => ({
      name: s.name,
      type: {
        tensorType: {
          elemType: s.elemType ?? DT.FLOAT,
          shape: { dim: s.shape.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
        },
      },
    });
    const model: onnxProto.onnx.IModelProto = {
      irVersion: o.irVersion,
      opsetImport: [{ domain: '', version: o.opset }],
      producerName: o.producer,
      producerVersion: o.producerVersion,
      docString: o.doc ?? '',
      metadataProps: Object.entries(o.metadata ?? {}).map(([key, value]) => ({ key, value })),
      graph: {
        name: o.graphName,
        node: this.nodes,
        initializer: this.inits,
        input: this.inputs.map(vi),
        output: this.outputs.map(vi),
      },
    };
    return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
  }
}
