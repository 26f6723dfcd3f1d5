/**
 * float16 variant: initialisers and compute in float16, the model's interface in float32.
 *
 * - Graph inputs and outputs stay float32, with a Cast at each edge: callers (the frame pipeline,
 *   the evaluator, OnnxPredictor) keep one float32 code path for every precision, and Node has no
 *   Float16Array in v20 to fill float16 input tensors with. The two casts cost one pass over 4+1
 *   frames, nothing next to the network.
 * - Ops listed in `keepFloat32` run in float32 between Casts, with their own float initialisers
 *   kept float32. Candidates are the numerically sensitive ones: the router Softmax (the top-k
 *   compares probabilities ~1/E apart) and LayerNormalization (opset 17's `stash_type` = 1 already
 *   keeps its mean/variance in float32 when the input is float16, so it rarely needs it).
 * - ONNX Runtime's CPU provider lacks float16 kernels for most ops; its InsertCastTransformer then
 *   wraps those nodes in Casts to float32 at session creation, so the model still runs on a CPU
 *   (slower than fp32: the point of fp16 is CUDA / TensorRT). Measured on the Ped2 SFN-Lite
 *   (onnxruntime-node 1.30, x86-64): the optimised graph gains 132 Casts and every Softmax is
 *   decomposed (ReduceMax/Exp/ReduceSum/Div); 4.3 ms/frame against fp32's 3.1 (1 thread, batch 8).
 * - Measured need for float32 islands (32 Ped2 training clips, 20736 tokens x 3 layers): rms output
 *   error vs fp32 is 1.93e-4 with nothing kept, 1.93e-4 with the router Softmax kept, 1.90e-4 with
 *   Softmax + LayerNorms kept; ~1.3% of tokens get a different top-4 expert set in every preset
 *   (also with the router MatMul in float32), so the flips come from float16 rounding upstream of
 *   the router, not from its Softmax. The default keeps nothing in float32.
 */
import { log } from '../util/log.js';
import { DType, GraphIndex, decodeModel, encodeModel, floatData, halfArray, intAttr, makeNode, makeTensor, type Node } from '../export/onnx-graph.js';

/** Which float inputs/outputs (by index) of an op are float tensors that need a Cast when the op is kept in float32. */
const FLOAT_PORTS: Record<string, { inputs: number[]; outputs: number[] }> = {
  Softmax: { inputs: [0], outputs: [0] },
  LayerNormalization: { inputs: [0, 1, 2], outputs: [0] },
  MatMul: { inputs: [0, 1], outputs: [0] },
  ReduceSum: { inputs: [0], outputs: [0] },
};

/** Presets of nodes kept in float32 (see the module comment; chosen by measurement in the optimize command). */
export const FP16_KEEP = {
  none: (_n: Node) => false,
  router: (n: Node) => n.opType === 'Softmax' && /\/router\/softmax$/.test(n.name ?? ''),
  'router+layernorm': (n: Node) => (n.opType === 'Softmax' && /\/router\/softmax$/.test(n.name ?? '')) || n.opType === 'LayerNormalization',
} as const;
/** A {@link FP16_KEEP} preset name. */
export type Fp16Keep = keyof typeof FP16_KEEP;

/** What {@link toFloat16} did. */
export interface Fp16Report {
  /** initialisers converted to float16 / left in float32 */
  converted: number;
  keptFloat32: number;
  /** nodes run in float32 between casts */
  float32Nodes: string[];
  /**
   * values beyond float16's range (|x| > 65504), clamped to +-65504 (as onnxconverter-common's
   * float16 converter clips), e.g. the -1e9 of an additive attention mask, which stays a mask
   */
  overflow: number;
  /** the initialisers that held them */
  clamped: string[];
}

/**
 * Converts an fp32 model (bytes) to float16 compute with float32 inputs/outputs.
 * `keep` picks the nodes that stay float32 (default: the router Softmax, {@link FP16_KEEP}).
 * @returns the new model bytes and a report.
 * Initialiser values beyond float16's range are clamped to +-65504 (see {@link Fp16Report}); the
 * parity check of `optimize` judges whether the variant still computes the same function.
 * @throws Error when a kept node's op type has no entry in FLOAT_PORTS (it cannot be wrapped).
 */
export function toFloat16(bytes: Uint8Array, keep: (n: Node) => boolean = FP16_KEEP.router): { bytes: Uint8Array; report: Fp16Report } {
  const m = decodeModel(bytes);
  const g = m.graph!;
  const ix = new GraphIndex(m);
  const kept = (g.node ?? []).filter(keep);
  for (const n of kept) if (!FLOAT_PORTS[n.opType!]) throw new Error(`cannot keep ${n.opType} node '${n.name}' in float32: no port table for ${n.opType}`);
  const keptSet = new Set(kept);

  // initialisers: float16 unless every consumer is a kept float32 node
  const report: Fp16Report = { converted: 0, keptFloat32: 0, float32Nodes: kept.map((n) => n.name!), overflow: 0, clamped: [] };
  for (const t of g.initializer ?? []) {
    if (t.dataType !== DType.FLOAT) continue;
    const users = ix.consumers.get(t.name!) ?? [];
    if (users.length > 0 && users.every((u) => keptSet.has(u))) {
      report.keptFloat32++;
      continue;
    }
    let data = floatData(t);
    let over = 0;
    for (const v of data) if (Math.abs(v) > 65504) over++;
    if (over > 0) {
      data = data.map((v) => Math.max(-65504, Math.min(65504, v)));
      report.overflow += over;
      report.clamped.push(t.name!);
    }
    ix.replaceInit(t.name!, makeTensor(t.name!, (t.dims ?? []).map(Number), halfArray(data), DType.FLOAT16));
    report.converted++;
  }
  if (report.overflow > 0) log.warn({ values: report.overflow, initialisers: report.clamped }, 'fp16: initialiser values beyond float16\'s range clamped to +-65504');

  // float-valued attributes (ConstantOfShape's value)
  for (const n of g.node ?? []) {
    for (const a of n.attribute ?? []) {
      if (a.t && a.t.dataType === DType.FLOAT && !keptSet.has(n)) a.t = makeTensor(a.t.name ?? '', (a.t.dims ?? []).map(Number), halfArray(floatData(a.t)), DType.FLOAT16);
    }
  }

  const nodes: Node[] = [];
  const cast = (from: string, to: number, name: string) => {
    const out = ix.fresh(`${name}:0`);
    nodes.push(makeNode('Cast', ix.fresh(name), [from], [out], [intAttr('to', to)]));
    return out;
  };

  // graph inputs: float32 -> Cast -> float16 for every consumer
  const rename = new Map<string, string>();
  for (const inp of g.input ?? []) {
    if (inp.type?.tensorType?.elemType !== DType.FLOAT || ix.inits.has(inp.name!)) continue;
    rename.set(inp.name!, cast(inp.name!, DType.FLOAT16, `${inp.name}/to_fp16`));
  }
  for (const n of g.node ?? []) n.input = (n.input ?? []).map((i) => rename.get(i) ?? i);

  // graph outputs: producer writes <out>/fp16, a Cast writes <out> in float32
  const outCasts: Node[] = [];
  for (const o of g.output ?? []) {
    if (o.type?.tensorType?.elemType !== DType.FLOAT) continue;
    const p = ix.producer.get(o.name!);
    if (!p) continue;
    const half = ix.fresh(`${o.name}/fp16`);
    p.output = (p.output ?? []).map((x) => (x === o.name ? half : x));
    outCasts.push(makeNode('Cast', ix.fresh(`${o.name}/to_fp32`), [half], [o.name!], [intAttr('to', DType.FLOAT)]));
  }

  // kept nodes: Cast float16 inputs up, outputs down
  for (const n of g.node ?? []) {
    if (!keptSet.has(n)) {
      nodes.push(n);
      continue;
    }
    const ports = FLOAT_PORTS[n.opType!]!;
    n.input = (n.input ?? []).map((i, k) => {
      if (!i || !ports.inputs.includes(k)) return i;
      const init = ix.inits.get(i);
      if (init && init.dataType === DType.FLOAT) return i; // kept float32
      return cast(i, DType.FLOAT, `${n.name}/in${k}_to_fp32`);
    });
    const finals: Array<[string, string]> = [];
    n.output = (n.output ?? []).map((o, k) => {
      if (!ports.outputs.includes(k)) return o;
      const f = ix.fresh(`${o}/fp32`);
      finals.push([f, o]);
      return f;
    });
    nodes.push(n);
    for (const [f, o] of finals) nodes.push(makeNode('Cast', ix.fresh(`${n.name}/out_to_fp16`), [f], [o], [intAttr('to', DType.FLOAT16)]));
  }
  g.node = [...nodes, ...outCasts];
  return { bytes: encodeModel(m), report };
}
