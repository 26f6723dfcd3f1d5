/**
 * Static int8 quantization in QDQ form (QuantizeLinear -> DequantizeLinear pairs around float ops),
 * symmetric: zero point 0, scale = t / 127 with values clamped to [-127, 127] (-128 unused, the
 * convention of TensorRT's explicit quantization). Weights per channel (a MatMul weight `[K, N]`:
 * one scale per output column, DequantizeLinear axis = 1); activations per tensor, t from
 * calibration (calibrate.ts).
 *
 * As in ONNX Runtime's quantization tools, graph rewriting is a registry from op type to an op
 * quantizer; ops without one keep float (the default quantizer does nothing). Each quantizer
 * first says which activations it needs calibrated (`plan`), then rewrites (`apply`). ONNX
 * Runtime's CPU provider fuses DQ(weight) + QDQ(activation) + MatMul into MatMulIntegerToFloat
 * (or QLinearMatMul when the output is quantized too); TensorRT reads the Q/DQ scales directly.
 * On x86 ORT rewrites the symmetric int8 activations to uint8 with zero point 128 (its u8 x s8
 * GEMMs); TensorRT keeps them int8.
 *
 * Speed on a CPU is bounded by Amdahl: on the Ped2 SFN-Lite (D = 96, 216 tokens) MatMuls are ~50%
 * of the fp32 time (1 thread, batch 8: 2.2 of 4.4 ms/frame in ORT's profile); int8 makes them
 * ~1.3x faster including the QuantizeLinear cost (K = 96 is too short for the int8 GEMM to pay
 * off more), so the whole network gains ~1.2-1.3x. The rest is Transpose, Softmax, Add, Slice,
 * LayerNorm, TopK: unchanged by quantization.
 */
import { DType, GraphIndex, decodeModel, dimsOf, encodeModel, floatData, intAttr, makeNode, makeTensor, type Node } from './onnx-graph.js';

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
   * dequantized name of a quantized activation: a dedicated Q/DQ pair per (tensor, consumer), since
   * ONNX Runtime's QDQ fusions need a Q whose only consumer is the DQ of one node (the scale is shared)
   */
  activation(name: string, consumer: Node): string;
  /** dequantized name of a per-channel int8 weight initialiser */
  weight(name: string): string;
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
export const OP_QUANTIZERS = new Map<string, OpQuantizer>([['MatMul', matMulQuantizer]]);

const defaultQuantizer: OpQuantizer = { plan: () => [], apply: () => {} };
const quantizerFor = (op: string) => OP_QUANTIZERS.get(op) ?? defaultQuantizer;

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
  activations: number;
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
  const report: Int8Report = { quantizedNodes: 0, weights: 0, activations: 0 };
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
      const scale = ix.addInit(makeTensor(`${name}/scale`, [], Float32Array.of(ulpsUp(t / QMAX, nth))));
      const q = ix.fresh(`${name}/q`);
      const d = ix.fresh(`${name}/dq`);
      const nodes = [makeNode('QuantizeLinear', ix.fresh(`${name}/quantize`), [name, scale, zp], [q]), makeNode('DequantizeLinear', ix.fresh(`${name}/dequantize`), [q, scale, zp], [d])];
      if (ix.producer.has(name)) after.set(name, [...(after.get(name) ?? []), ...nodes]);
      else pre.push(...nodes);
      dq.set(key, d);
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
      report.weights++;
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
