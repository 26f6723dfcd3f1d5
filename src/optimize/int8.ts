/**
 * Static int8 quantization in QDQ form (QuantizeLinear -> DequantizeLinear pairs around float ops),
 * symmetric: zero point 0, scale = t / 127 with values clamped to [-127, 127] (-128 unused, the
 * convention of TensorRT's explicit quantization). Weights per channel (a MatMul or Gemm weight
 * `[K, N]`: one scale per output column, DequantizeLinear axis = 1); activations per tensor, t from
 * calibration (calibrate.ts); a Gemm's bias `[N]` as int32 with scale s_A * s_W[j] (the form ONNX
 * Runtime's QDQ Gemm fusion takes: DQ(A), DQ(W), DQ(int32 bias) -> Gemm becomes one QGemm whose
 * bias is added inside the integer GEMM).
 *
 * As in ONNX Runtime's quantization tools, graph rewriting is a registry from op type to an op
 * quantizer; ops without one keep float (the default quantizer does nothing). Each quantizer
 * first says which activations it needs calibrated (`plan`), then rewrites (`apply`). ONNX
 * Runtime's CPU provider fuses DQ(weight) + QDQ(activation) + MatMul into MatMulIntegerToFloat
 * (or QLinearMatMul when the output is quantized too), and the Gemm form into QGemm; TensorRT reads
 * the Q/DQ scales directly. An activation read by several quantized nodes gets a Q/DQ pair per
 * reader: ONNX Runtime's s8 -> u8 rewrite on x86 (its u8 x s8 integer GEMMs) takes only a Q whose
 * one reader is its DQ (measured: with one Q shared by two DQs, those Gemms stayed s8 x s8 and a DQ
 * was left unfused).
 * On x86 ORT rewrites the symmetric int8 activations to uint8 with zero point 128 (its u8 x s8
 * GEMMs); TensorRT keeps them int8.
 *
 * Speed on a CPU: with the 2-D Gemm export (graph.ts) every quantized linear runs as one integer
 * kernel with its bias (docs/results.md, "int8 speed", has the profiles before and after).
 */
import { DType, GraphIndex, decodeModel, dimsOf, encodeModel, floatData, intAttr, makeNode, makeTensor, type Node, type Tensor } from '../export/onnx-graph.js';

/** Largest int8 magnitude used (symmetric range). */
export const QMAX = 127;

/**
 * Symmetric per-channel quantization of a row-major `[K, N]` matrix along axis 1 (columns):
 * scale_j = max_k |w[k, j]| / 127 (1 when the column is all zero), q = clamp(round(w / scale), -127, 127).
 */
export function quantizePerColumn(w: Float32Array, K: number, N: number): { q: Int8Array; scales: Float32Array } {
  if (w.length !== K * N) throw new Error(`quantizePerColumn: ${w.length} values is not [${K}, ${N}]`);
  const scales = new Float32Array(N);
  for (let k = 0; k < K; k++) for (let j = 0; j < N; j++) scales[j] = Math.max(scales[j]!, Math.abs(w[k * N + j]!));
  for (let j = 0; j < N; j++) scales[j] = scales[j]! > 0 ? scales[j]! / QMAX : 1;
  const q = new Int8Array(K * N);
  for (let k = 0; k < K; k++) for (let j = 0; j < N; j++) q[k * N + j] = quantize(w[k * N + j]!, scales[j]!);
  return { q, scales };
}

/** round-half-to-even(x / scale) clamped to [-127, 127] (QuantizeLinear's rounding, symmetric range). */
export function quantize(x: number, scale: number): number {
  const v = x / scale;
  let r = Math.round(v);
  if (Math.abs(v % 1) === 0.5 && r % 2 !== 0) r -= 1; // half to even (Math.round rounds half up)
  return Math.max(-QMAX, Math.min(QMAX, r));
}

/** q * scale (DequantizeLinear with zero point 0). */
export function dequantize(q: number, scale: number): number {
  return q * scale;
}

/** Options of {@link quantizeInt8}. */
export interface Int8Options {
  /** nodes left in float whatever their op (default: none) */
  exclude?: (n: Node) => boolean;
  /** also quantize MatMuls of two activations (attention scores/context); default false */
  activationMatMuls?: boolean;
}

/** The rewriting context an op quantizer works in. */
export interface QuantContext {
  ix: GraphIndex;
  opts: Int8Options;
  /** calibrated thresholds (apply phase); empty during plan */
  ranges: Map<string, number>;
  /**
   * dequantized name of a quantized activation for `consumer`: a dedicated Q/DQ pair per (tensor,
   * consumer), since ONNX Runtime's QDQ fusions need a DQ whose only reader is the node it fuses
   * into, and its s8 -> u8 rewrite a Q whose only reader is that DQ (the scale is shared)
   */
  activation(name: string, consumer: Node): string;
  /** dequantized name of a per-channel int8 weight initialiser */
  weight(name: string): string;
  /**
   * dequantized name of a bias `[N]` as int32 with scale `aScale * wScale[j]`, where aScale is the
   * scale of the activation `a` (a name from {@link activation}) and wScale the per-column scales of
   * the weight `w` (a name from {@link weight})
   */
  bias(name: string, a: string, w: string): string;
}

/** An op quantizer: activations it needs calibrated, and the rewrite of one node. */
export interface OpQuantizer {
  plan(n: Node, ix: GraphIndex, opts: Int8Options): string[];
  apply(n: Node, ctx: QuantContext): void;
}

const isWeight2d = (ix: GraphIndex, name: string | undefined) => {
  const t = name ? ix.inits.get(name) : undefined;
  return !!t && t.dataType === DType.FLOAT && dimsOf(t).length === 2;
};

const attrOf = (n: Node, name: string, dflt: number) => {
  const a = (n.attribute ?? []).find((x) => x.name === name);
  return a ? (a.type === 1 ? a.f! : Number(a.i)) : dflt;
};

/**
 * Gemm `A [M, K] x W [K, N] + bias [N]` with a weight initialiser, no transposes and alpha = beta =
 * 1 (what the exporter writes): int8 A per tensor, int8 W per column, int32 bias. Any other Gemm
 * keeps float.
 */
const gemmQuantizer: OpQuantizer = {
  plan(n, ix) {
    return plainGemm(n, ix) ? [n.input![0]!] : [];
  },
  apply(n, ctx) {
    if (!plainGemm(n, ctx.ix)) return;
    const [a, w, b] = n.input as [string, string, string | undefined];
    const qa = ctx.activation(a, n);
    const qw = ctx.weight(w);
    n.input = b ? [qa, qw, ctx.bias(b, qa, qw)] : [qa, qw];
  },
};

function plainGemm(n: Node, ix: GraphIndex): boolean {
  const [, w, b] = n.input ?? [];
  if (!isWeight2d(ix, w) || attrOf(n, 'transA', 0) !== 0 || attrOf(n, 'transB', 0) !== 0 || attrOf(n, 'alpha', 1) !== 1 || attrOf(n, 'beta', 1) !== 1) return false;
  if (!b) return true;
  const t = ix.inits.get(b);
  return !!t && t.dataType === DType.FLOAT && dimsOf(t).length === 1 && dimsOf(t)[0] === dimsOf(ix.inits.get(w!)!)[1];
}

/** MatMul: per-channel int8 weight (input B an initialiser `[K, N]`) and per-tensor activation A. */
const matMulQuantizer: OpQuantizer = {
  plan(n, ix, opts) {
    const [a, b] = n.input as [string, string];
    if (isWeight2d(ix, b)) return [a];
    return opts.activationMatMuls ? [a, b] : [];
  },
  apply(n, ctx) {
    const [a, b] = n.input as [string, string];
    if (isWeight2d(ctx.ix, b)) n.input = [ctx.activation(a, n), ctx.weight(b)];
    else if (ctx.opts.activationMatMuls) n.input = [ctx.activation(a, n), ctx.activation(b, n)];
  },
};

/** Op type -> quantizer. Ops not listed keep float (the default quantizer). */
export const OP_QUANTIZERS = new Map<string, OpQuantizer>([
  ['MatMul', matMulQuantizer],
  ['Gemm', gemmQuantizer],
]);

const defaultQuantizer: OpQuantizer = { plan: () => [], apply: () => {} };
const quantizerFor = (op: string) => OP_QUANTIZERS.get(op) ?? defaultQuantizer;

/** Symmetric int32 quantization of a bias with per-column scales (zero point 0, round half to even). */
export function quantizeBias(b: Float32Array, scales: Float32Array): Int32Array {
  if (b.length !== scales.length) throw new Error(`quantizeBias: ${b.length} values, ${scales.length} scales`);
  const q = new Int32Array(b.length);
  for (let j = 0; j < b.length; j++) {
    const v = b[j]! / scales[j]!;
    let r = Math.round(v);
    if (Math.abs(v % 1) === 0.5 && r % 2 !== 0) r -= 1;
    q[j] = Math.max(-(2 ** 31), Math.min(2 ** 31 - 1, r));
  }
  return q;
}

/**
 * `x` moved up by `n` float32 units in the last place (relative change ~6e-8 each). The second and
 * later Q/DQ pairs of a shared activation get a scale a few ulps apart, so that ONNX Runtime's
 * common-subexpression elimination does not merge the dedicated pairs back into one shared Q (its
 * QDQ MatMul fusion then leaves those MatMuls in float: measured on SFN-Lite, 12 of 40 unfused).
 */
export function ulpsUp(x: number, n: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer);
  u[0] = u[0]! + n; // positive finite x: the next representable values
  return f[0]!;
}

/** The activations {@link quantizeInt8} needs thresholds for (calibrate these first). */
export function planInt8(bytes: Uint8Array, opts: Int8Options = {}): string[] {
  const m = decodeModel(bytes);
  const ix = new GraphIndex(m);
  const out = new Set<string>();
  for (const n of m.graph!.node ?? []) if (!opts.exclude?.(n)) for (const t of quantizerFor(n.opType!).plan(n, ix, opts)) out.add(t);
  return [...out];
}

/** What {@link quantizeInt8} did. */
export interface Int8Report {
  quantizedNodes: number;
  weights: number;
  /** DequantizeLinear nodes of activations (one per quantized reader) */
  activations: number;
  /** int32 Gemm biases */
  biases: number;
}

/**
 * Rewrites an fp32 model into QDQ int8 with the calibrated `ranges` (tensor -> symmetric threshold).
 * @throws Error naming the tensor when a planned activation has no range (calibrate with
 *   {@link planInt8}'s list).
 */
export function quantizeInt8(bytes: Uint8Array, ranges: Map<string, number>, opts: Int8Options = {}): { bytes: Uint8Array; report: Int8Report } {
  const m = decodeModel(bytes);
  const g = m.graph!;
  const ix = new GraphIndex(m);
  const zp = ix.addInit(makeTensor('qdq/zero_point', [], new Int8Array(1)));
  const pre: Node[] = []; // Q/DQ of graph inputs and weights: before everything
  const after = new Map<string, Node[]>(); // value -> Q/DQ nodes placed right after its producer
  const dq = new Map<string, string>();
  const scales = new Map<string, number>();
  const report: Int8Report = { quantizedNodes: 0, weights: 0, activations: 0, biases: 0 };
  const scaleOf = new Map<string, number | Float32Array>(); // DQ output -> its scale(s)
  const place = (name: string, nodes: Node[]) => {
    if (ix.producer.has(name)) after.set(name, [...(after.get(name) ?? []), ...nodes]);
    else pre.push(...nodes);
  };
  const ctx: QuantContext = {
    ix,
    opts,
    ranges,
    activation(name, consumer) {
      const key = `${name}\u0000${consumer.name}`;
      const hit = dq.get(key);
      if (hit) return hit;
      const t = ranges.get(name);
      if (!(t !== undefined && t > 0)) throw new Error(`int8: no calibrated range for '${name}'; calibrate the tensors planInt8() lists`);
      const nth = scales.get(name) ?? 0;
      scales.set(name, nth + 1);
      const scale = ulpsUp(new Float32Array([t / QMAX])[0]!, nth);
      const sn = ix.addInit(makeTensor(`${name}/scale`, [], Float32Array.of(scale)));
      const q = ix.fresh(`${name}/q`);
      const d = ix.fresh(`${name}/dq`);
      place(name, [makeNode('QuantizeLinear', ix.fresh(`${name}/quantize`), [name, sn, zp], [q]), makeNode('DequantizeLinear', ix.fresh(`${name}/dequantize`), [q, sn, zp], [d])]);
      dq.set(key, d);
      scaleOf.set(d, scale);
      report.activations++;
      return d;
    },
    weight(name) {
      const hit = dq.get(name);
      if (hit) return hit;
      const t = ix.inits.get(name)!;
      const [K, N] = dimsOf(t) as [number, number];
      const { q, scales } = quantizePerColumn(floatData(t), K, N);
      const qn = ix.addInit(makeTensor(`${name}/int8`, [K, N], q));
      const sn = ix.addInit(makeTensor(`${name}/scales`, [N], scales));
      const zn = ix.addInit(makeTensor(`${name}/zero_points`, [N], new Int8Array(N)));
      const d = ix.fresh(`${name}/dq`);
      pre.push(makeNode('DequantizeLinear', ix.fresh(`${name}/dequantize`), [qn, sn, zn], [d], [intAttr('axis', 1)]));
      dq.set(name, d);
      scaleOf.set(d, scales);
      report.weights++;
      return d;
    },
    bias(name, a, w) {
      const sa = scaleOf.get(a);
      const sw = scaleOf.get(w);
      if (typeof sa !== 'number' || !(sw instanceof Float32Array)) throw new Error(`int8: bias '${name}' needs a quantized activation and weight`);
      const bs = Float32Array.from(sw, (v) => sa * v);
      const qb = quantizeBias(floatData(ix.inits.get(name)!), bs);
      const qn = ix.addInit(int32Tensor(`${name}/int32`, qb));
      const sn = ix.addInit(makeTensor(`${name}/scales`, [bs.length], bs));
      const zn = ix.addInit(int32Tensor(`${name}/zero_points`, new Int32Array(bs.length)));
      const d = ix.fresh(`${name}/dq`);
      pre.push(makeNode('DequantizeLinear', ix.fresh(`${name}/dequantize`), [qn, sn, zn], [d], [intAttr('axis', 0)]));
      report.biases++;
      return d;
    },
  };
  const original = [...(g.node ?? [])];
  for (const n of original) {
    if (opts.exclude?.(n)) continue;
    const before = (n.input ?? []).join('|');
    quantizerFor(n.opType!).apply(n, ctx);
    if ((n.input ?? []).join('|') !== before) report.quantizedNodes++;
  }
  // drop float weights no node reads any more
  const used = new Set([...original, ...pre, ...[...after.values()].flat()].flatMap((n) => n.input ?? []));
  g.initializer = (g.initializer ?? []).filter((t) => used.has(t.name!));
  const nodes: Node[] = [...pre];
  for (const n of original) {
    nodes.push(n);
    for (const o of n.output ?? []) nodes.push(...(after.get(o) ?? []));
  }
  g.node = nodes;
  return { bytes: encodeModel(m), report };
}

/** An INT32 `[n]` tensor (raw little-endian). */
function int32Tensor(name: string, data: Int32Array): Tensor {
  return { name, dims: [data.length], dataType: DType.INT32, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice() };
}
