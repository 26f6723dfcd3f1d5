/**
 * Reading and rewriting encoded ONNX models (the graph passes of src/optimize/ work on these):
 * decoding with clear errors, float32/float16/int8 initialisers, consumers, unique names, extra
 * graph outputs (for calibration and routing statistics).
 */
import onnxProto from 'onnx-proto';
import { onnx, reserveName } from './builder.js';

/** A decoded ModelProto. */
export type Model = onnxProto.onnx.ModelProto;
/** A node. */
export type Node = onnxProto.onnx.INodeProto;
/** A tensor (initialiser or attribute value). */
export type Tensor = onnxProto.onnx.ITensorProto;

/** ONNX TensorProto.DataType values used here. */
export const DType = { FLOAT: 1, INT8: 3, INT32: 6, INT64: 7, FLOAT16: 10 } as const;

/** Error for bytes that are not a usable ONNX model (not protobuf, truncated, no graph). */
export class NotOnnxError extends Error {
  override name = 'NotOnnxError';
}

/**
 * Decodes `bytes` as a ModelProto.
 * @throws NotOnnxError when the bytes do not parse (not ONNX, truncated) or hold no graph/opset;
 *   `label` names the file.
 */
export function decodeModel(bytes: Uint8Array, label = '<model>'): Model {
  let m: Model;
  try {
    m = onnx.ModelProto.decode(bytes);
  } catch (err) {
    throw new NotOnnxError(`${label} is not an ONNX model, or it is truncated (${(err as Error).message})`);
  }
  if (!m.graph || !m.graph.node || m.graph.node.length === 0 || !m.opsetImport?.length) throw new NotOnnxError(`${label} is not an ONNX model (no graph or no opset import)`);
  return m;
}

/** Encodes a model to bytes. */
export function encodeModel(m: Model): Uint8Array {
  return onnx.ModelProto.encode(m).finish();
}

/** The default-domain opset of `m` (0 when absent). */
export function opsetOf(m: Model): number {
  return toNum(m.opsetImport?.find((o) => !o.domain)?.version ?? 0);
}

/** int64 proto fields decode as numbers or Long objects; this gives a number. */
export function toNum(v: number | { toNumber(): number } | null | undefined): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'number' ? v : v.toNumber();
}

/** Dimensions of a tensor as numbers. */
export function dimsOf(t: Tensor): number[] {
  return (t.dims ?? []).map((d) => toNum(d as number));
}

/** Float32 values of a FLOAT tensor (raw_data or float_data). @throws Error for other types. */
export function floatData(t: Tensor): Float32Array {
  if (t.dataType !== DType.FLOAT) throw new Error(`tensor '${t.name}' is not float32 (data type ${t.dataType})`);
  if (t.rawData && t.rawData.length > 0) {
    const b = t.rawData;
    return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  }
  return Float32Array.from(t.floatData ?? []);
}

/** int64 values of an INT64 tensor (raw_data or int64_data) as numbers. */
export function int64Data(t: Tensor): number[] {
  if (t.dataType !== DType.INT64) throw new Error(`tensor '${t.name}' is not int64 (data type ${t.dataType})`);
  if (t.rawData && t.rawData.length > 0) {
    const b = t.rawData;
    return Array.from(new BigInt64Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)), Number);
  }
  return (t.int64Data ?? []).map((v) => toNum(v as number));
}

const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength).slice();

/** A tensor of `dims` with raw data of the given type. */
export function makeTensor(name: string, dims: number[], data: Float32Array | Uint16Array | Int8Array | BigInt64Array, dataType?: number): Tensor {
  const type = dataType ?? (data instanceof Float32Array ? DType.FLOAT : data instanceof Int8Array ? DType.INT8 : data instanceof BigInt64Array ? DType.INT64 : DType.FLOAT16);
  const n = dims.reduce((a, b) => a * b, 1);
  if (n !== data.length) throw new Error(`tensor '${name}': shape [${dims.join(', ')}] holds ${n} values, data has ${data.length}`);
  return { name, dims, dataType: type, rawData: bytesOf(data) };
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * IEEE 754 binary32 -> binary16 bits, round to nearest even; overflow -> +-Inf, NaN kept, values
 * below the smallest subnormal (2^-24) -> +-0 (the bit manipulation of the IEEE formats; no library).
 */
export function toHalf(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000; // implicit bit
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1))) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++; // may carry into the exponent: still correct
  return sign | h;
}

/** binary16 bits -> number. */
export function fromHalf(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 0x1f) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** Float32Array -> float16 bits. */
export function halfArray(a: Float32Array): Uint16Array {
  const out = new Uint16Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = toHalf(a[i]!);
  return out;
}

/** Node lookups over a graph: producer of each value, consumers, initialisers; and fresh names. */
export class GraphIndex {
  readonly inits = new Map<string, Tensor>();
  readonly consumers = new Map<string, Node[]>();
  readonly producer = new Map<string, Node>();
  private readonly names = new Set<string>();

  constructor(readonly model: Model) {
    const g = model.graph!;
    for (const t of g.initializer ?? []) {
      this.inits.set(t.name!, t);
      this.names.add(t.name!);
    }
    for (const v of [...(g.input ?? []), ...(g.output ?? [])]) this.names.add(v.name!);
    for (const n of g.node ?? []) {
      this.names.add(n.name ?? '');
      for (const o of n.output ?? []) {
        this.producer.set(o, n);
        this.names.add(o);
      }
      for (const i of n.input ?? []) {
        if (!i) continue;
        const list = this.consumers.get(i) ?? [];
        list.push(n);
        this.consumers.set(i, list);
      }
    }
  }

  /** `base`, or `base_1`, `base_2`... when taken; reserves it. */
  fresh(base: string): string {
    return reserveName(this.names, base);
  }

  /** Adds an initialiser (name made fresh); returns its name. */
  addInit(t: Tensor): string {
    const name = this.fresh(t.name!);
    const withName = { ...t, name };
    this.model.graph!.initializer!.push(withName);
    this.inits.set(name, withName);
    return name;
  }

  /** Replaces an initialiser's tensor in place (same name). */
  replaceInit(name: string, t: Tensor): void {
    const list = this.model.graph!.initializer!;
    const i = list.findIndex((x) => x.name === name);
    if (i < 0) throw new Error(`no initialiser '${name}'`);
    const withName = { ...t, name };
    list[i] = withName;
    this.inits.set(name, withName);
  }

  /** The node named `name`. @throws Error naming it when absent (the graph is not an SFN-Lite export). */
  node(name: string): Node {
    const n = this.model.graph!.node!.find((x) => x.name === name);
    if (!n) throw new Error(`node '${name}' not found: the model is not an sfn-edge SFN-Lite export`);
    return n;
  }
}

/** A node proto (attributes already built). */
export function makeNode(opType: string, name: string, input: string[], output: string[], attribute: onnxProto.onnx.IAttributeProto[] = []): Node {
  return onnx.NodeProto.create({ opType, name, input, output, attribute });
}

/** An INT attribute. */
export function intAttr(name: string, i: number): onnxProto.onnx.IAttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.INT, i };
}

/**
 * A copy of `bytes` whose graph also outputs `names` (intermediate values, float32, shape left
 * open), so that ONNX Runtime returns them: the "augmented model" of calibration.
 */
export function withExtraOutputs(bytes: Uint8Array, names: string[], elemType: number = DType.FLOAT): Uint8Array {
  const m = decodeModel(bytes);
  const g = m.graph!;
  const have = new Set((g.output ?? []).map((o) => o.name));
  for (const n of names) if (!have.has(n)) g.output!.push({ name: n, type: { tensorType: { elemType } } });
  return encodeModel(m);
}
