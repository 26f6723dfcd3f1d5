/**
 * Expert pruning of an SFN-Lite ONNX export.
 *
 * Routing statistics come from the exported graph itself: each SFFM layer's gate tensor
 * `block<l>/sffm/gate:0` `[N, T, E]` (gateScale x the renormalised top-k probabilities, 0 outside
 * the top-k) is added as a graph output and read over the calibration clips. This is the same
 * routing as `forward()` of the TensorFlow.js network (the export is parity-checked to 1e-4) and
 * needs only the ONNX model that `optimize` is given. Per layer and expert: how often it is in a
 * token's top-k, and its mean gate weight over all tokens.
 *
 * Pruning removes experts from the dense SFFM: the router's columns, each expert's block of the
 * folded W1/b1 columns (the fc1 Gemm's weight and bias), its rows of W2 and b2, and resizes the
 * per-expert Reshapes. The renormalised
 * top-k gate makes this exact for every token whose top-k contained only kept experts (softmax over
 * fewer experts scales the kept probabilities by a common factor that the renormalisation cancels).
 * The top-k stays valid because at least k experts are kept.
 */
import { ort } from '../inference/ort.js';
import { batchFeeds, type CalibrationReader } from './calibrate.js';
import { DType, GraphIndex, decodeModel, dimsOf, encodeModel, floatData, int64Data, makeTensor, withExtraOutputs } from '../export/onnx-graph.js';

/** Routing statistics of one SFFM layer. */
export interface LayerRouting {
  /** layer name in the graph, e.g. 'block0/sffm' */
  layer: string;
  /** tokens seen */
  tokens: number;
  /** per expert: fraction of tokens whose top-k contains it (sums to k) */
  selected: number[];
  /** per expert: mean gate weight over all tokens (0 where not chosen; sums to gateScale) */
  meanGate: number[];
}

/** The SFFM layers of an export, in graph order: `block<l>/sffm` names with their gate tensors. */
export function sffmLayers(bytes: Uint8Array): { layer: string; gate: string }[] {
  const m = decodeModel(bytes);
  const out: { layer: string; gate: string }[] = [];
  for (const n of m.graph!.node ?? []) {
    const hit = /^(.*\/sffm)\/gate$/.exec(n.name ?? '');
    if (hit && n.opType === 'Mul') out.push({ layer: hit[1]!, gate: n.output![0]! });
  }
  if (out.length === 0) throw new Error('the model has no SFFM gate nodes (block<l>/sffm/gate): not an sfn-edge SFN-Lite export');
  return out;
}

/**
 * Routing statistics over every clip of `reader` (CPU provider).
 * @throws Error when the model has no SFFM layers or the reader yields nothing.
 */
export async function routingStats(bytes: Uint8Array, reader: CalibrationReader, threads = 2): Promise<LayerRouting[]> {
  const layers = sffmLayers(bytes);
  const session = await ort.InferenceSession.create(withExtraOutputs(bytes, layers.map((l) => l.gate)), { intraOpNumThreads: threads, executionProviders: ['cpu'] });
  const acc = layers.map((l) => ({ layer: l.layer, tokens: 0, count: [] as number[], sum: [] as number[] }));
  try {
    reader.rewind();
    for (let b = reader.next(); b; b = reader.next()) {
      const out = await session.run(batchFeeds(session.inputNames, b, reader), layers.map((l) => l.gate));
      layers.forEach((l, i) => {
        const t = out[l.gate]!;
        const E = t.dims[t.dims.length - 1]!;
        const g = t.data as Float32Array;
        const a = acc[i]!;
        if (a.count.length === 0) {
          a.count = new Array<number>(E).fill(0);
          a.sum = new Array<number>(E).fill(0);
        }
        for (let k = 0; k < g.length; k++) {
          const v = g[k]!;
          if (v > 0) {
            a.count[k % E]! += 1;
            a.sum[k % E]! += v;
          }
        }
        a.tokens += g.length / E;
      });
      for (const v of Object.values(out)) v.dispose();
    }
  } finally {
    await session.release();
  }
  if (acc[0]!.tokens === 0) throw new Error('routing statistics: the data reader yielded no clip');
  return acc.map((a) => ({ layer: a.layer, tokens: a.tokens, selected: a.count.map((c) => c / a.tokens), meanGate: a.sum.map((s) => s / a.tokens) }));
}

/**
 * Per layer, the `keep` most used experts (by selection rate, then mean gate weight), as sorted
 * local indices.
 * @throws Error when keep < topK (the top-k would be invalid) or keep > experts.
 */
export function chooseExperts(stats: LayerRouting[], keep: number, topK: number): number[][] {
  return stats.map((s) => {
    const E = s.selected.length;
    if (!(Number.isInteger(keep) && keep >= topK && keep <= E)) throw new Error(`cannot keep ${keep} experts of ${E} in ${s.layer}: need topK (${topK}) <= keep <= ${E}`);
    const order = s.selected.map((_, e) => e).sort((a, b) => s.selected[b]! - s.selected[a]! || s.meanGate[b]! - s.meanGate[a]! || a - b);
    return order.slice(0, keep).sort((a, b) => a - b);
  });
}

/** Rows `keep` (each `width` long) of a row-major matrix. */
function rows(data: Float32Array, width: number, keep: number[]): Float32Array {
  const out = new Float32Array(keep.length * width);
  keep.forEach((r, i) => out.set(data.subarray(r * width, (r + 1) * width), i * width));
  return out;
}

/** Column groups `keep` (each `group` columns) of a row-major `[R, cols]` matrix. */
function columnGroups(data: Float32Array, cols: number, group: number, keep: number[]): Float32Array {
  const R = data.length / cols;
  const w = keep.length * group;
  const out = new Float32Array(R * w);
  for (let r = 0; r < R; r++) keep.forEach((e, i) => out.set(data.subarray(r * cols + e * group, r * cols + (e + 1) * group), r * w + i * group));
  return out;
}

/**
 * Removes from each SFFM layer `l` every expert not in `kept[l]` (local indices of the model's
 * current experts). Returns the new model bytes.
 * @throws Error when `kept` has the wrong number of layers, an index is out of range or repeated,
 *   or a layer would keep fewer experts than its TopK's k.
 */
export function pruneExperts(bytes: Uint8Array, kept: number[][]): Uint8Array {
  const layers = sffmLayers(bytes);
  if (kept.length !== layers.length) throw new Error(`kept lists ${kept.length} layers, the model has ${layers.length} SFFM layers`);
  const m = decodeModel(bytes);
  const ix = new GraphIndex(m);
  const init = (node: string, input: number) => {
    const name = ix.node(node).input![input]!;
    const t = ix.inits.get(name);
    if (!t) throw new Error(`input ${input} of '${node}' is not an initialiser`);
    return { name, t };
  };
  layers.forEach(({ layer: L }, l) => {
    const keep = kept[l]!;
    const router = init(`${L}/router`, 1);
    const [D, E] = dimsOf(router.t) as [number, number];
    if (new Set(keep).size !== keep.length || keep.some((e) => !(Number.isInteger(e) && e >= 0 && e < E))) throw new Error(`${L}: kept experts [${keep.join(', ')}] must be distinct indices in [0, ${E})`);
    const k = int64Data(init(`${L}/router/topk`, 1).t)[0]!;
    if (keep.length < k) throw new Error(`${L}: keeping ${keep.length} experts leaves fewer than top-k = ${k}`);
    const split = init(`${L}/experts/split`, 1);
    const splitShape = int64Data(split.t); // [..., E, d]: [0, 0, E, d] (3-D tokens) or [-1, E, d] (token rows)
    const d = splitShape.at(-1)!;
    const Ek = keep.length;
    ix.replaceInit(router.name, makeTensor(router.name, [D, Ek], columnGroups(floatData(router.t), E, 1, keep)));
    // fc1: one Gemm (W1, b1), or MatMul + Add in exports before the token-row layout
    const gemm = ix.model.graph!.node!.some((n) => n.name === `${L}/experts/fc1/gemm`);
    const w1 = gemm ? init(`${L}/experts/fc1/gemm`, 1) : init(`${L}/experts/fc1/matmul`, 1);
    ix.replaceInit(w1.name, makeTensor(w1.name, [D, Ek * d], columnGroups(floatData(w1.t), E * d, d, keep)));
    const b1 = gemm ? init(`${L}/experts/fc1/gemm`, 2) : init(`${L}/experts/fc1/bias`, 1);
    ix.replaceInit(b1.name, makeTensor(b1.name, [Ek * d], columnGroups(floatData(b1.t), E * d, d, keep)));
    const w2 = init(`${L}/experts/fc2`, 1);
    ix.replaceInit(w2.name, makeTensor(w2.name, [Ek * d, D], rows(floatData(w2.t), D, keep.flatMap((e) => Array.from({ length: d }, (_, j) => e * d + j)))));
    const b2 = init(`${L}/experts/gate_b2`, 1);
    ix.replaceInit(b2.name, makeTensor(b2.name, [Ek, D], rows(floatData(b2.t), D, keep)));
    // per-layer shape constants (the originals may be shared with other layers)
    const reshape = (node: string, tail: number[]) => {
      const shape = int64Data(init(node, 1).t);
      const v = [...shape.slice(0, shape.length - tail.length), ...tail];
      ix.node(node).input![1] = ix.addInit(makeTensor(`${node}/shape`, [v.length], BigInt64Array.from(v.map(BigInt)), DType.INT64));
    };
    reshape(`${L}/experts/split`, [Ek, d]);
    reshape(`${L}/experts/merge`, [Ek * d]);
  });
  const used = new Set((m.graph!.node ?? []).flatMap((n) => n.input ?? []));
  m.graph!.initializer = (m.graph!.initializer ?? []).filter((t) => used.has(t.name!));
  return encodeModel(m);
}
