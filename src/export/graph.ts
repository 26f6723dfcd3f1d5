/**
 * SFN-Lite as an ONNX graph (opset 17, IR 8): the same function as `forward()` in
 * src/model/sfn.ts, from frames to frames, with patchify/unpatchify in the graph.
 *
 *   frames [N, 4C, H, W] in [0,1], oldest first
 *     -> patchify     Reshape [N, F*C, Hp, P, Wp, P] -> Transpose(0,2,4,1,3,5) -> [N*T, F*C*P*P]
 *                     (token of frames f is indexed [f, c, py, px], patchify.ts's order)
 *     -> differences  of the token columns: frames 1..3 minus frames 0..2       [N*T, 3*C*P*P]
 *     -> embeddings, blocks (attention over [visual; motion] keys/values, MLP, SFFM), head
 *     -> unpatchify   [N*T, C*P*P] -> [N, C, H, W], + the last frame   -> pred [N, C, H, W]
 *
 * Tokens are 2-D rows `[N*T, D]` (N symbolic: Reshapes use -1), so that every linear layer with a
 * bias is one Gemm (ONNX Runtime runs Gemm with its bias in the GEMM's epilogue; it fuses MatMul +
 * Add into Gemm only for 2-D inputs, and the int8 QDQ form of a Gemm becomes one QGemm with an
 * int32 bias). Only attention reshapes to `[N, heads, tokens, dh]`, and the position embedding is
 * added in a `[N, T, D]` view (Reshapes are free in ONNX Runtime: the output aliases the input).
 * The motion tokens are the differences of the appearance tokens' columns, so one patchify
 * Transpose serves both (the same subtractions as differencing the frames first: equal bits).
 * Export-time folds (src/export/fold.ts): linear biases into the position embedding, the attention
 * scale 1/sqrt(dh) into W_q/b_q, every SFFM LayerNorm affine into its expert's W1/b1.
 */
import type { SfnConfig } from '../core/model-config.js';
import { GraphBuilder, onnx, type IoSpec } from './builder.js';
import { addRowBias, foldLayerNorm, need, scaled, sizes, type WeightArrays } from './fold.js';
import { textReadMask } from '../model/sfn.js';

/** ONNX opset of the exported model (17: the first with LayerNormalization). */
export const OPSET = 17;
/** ONNX IR version of the exported model (8: the IR of opset 17). */
export const IR_VERSION = 8;
/** Graph input name: `[N, 4C, H, W]` float32, 4 past frames oldest first, in [0, 1]. */
export const INPUT_NAME = 'frames';
/** Graph output name: `[N, C, H, W]` float32, the predicted next frame. */
export const OUTPUT_NAME = 'pred';
/** Semantic branch input (textDim > 0): `[N, textDim]` float32, the text feature of the clip's caption. */
export const TEXT_INPUT_NAME = 'text';
/** Semantic branch output (textDim > 0): `[N, textDim]` float32, the predicted text feature. */
export const TEXT_OUTPUT_NAME = 'text_pred';

/** Options of {@link buildGraph}. */
export interface GraphOptions {
  /** fixed batch size; undefined = symbolic 'N' */
  batch?: number;
  /** graph name (default 'sfn-lite') */
  name?: string;
  /** producer version written to the model (default '0.0.0') */
  producerVersion?: string;
}

/** The encoded model and its interface. */
export interface BuiltGraph {
  /** encoded ModelProto */
  bytes: Uint8Array;
  /** `frames [N|batch, 4C, H, W]` */
  input: IoSpec;
  /** `pred [N|batch, C, H, W]` */
  output: IoSpec;
  /** `text [N|batch, textDim]` and `text_pred [N|batch, textDim]` when the model has the semantic branch */
  text?: { input: IoSpec; output: IoSpec };
  /** node count, initialiser count, float parameters stored */
  stats: { nodes: number; initializers: number; parameters: number };
}

/**
 * Builds the ONNX model of SFN-Lite with weights `w` (name -> {shape, data}, as from `loadWeights`).
 * With the semantic branch (textDim > 0) the graph has a second input `text [N, textDim]` and a
 * second output `text_pred [N, textDim]`; the text token is appended after the T visual tokens.
 * @throws Error if `batch` is not a positive integer, or if a parameter is missing or has the wrong
 *   shape (names it).
 */
export function buildGraph(cfg: SfnConfig, w: WeightArrays, opts: GraphOptions = {}): BuiltGraph {
  if (opts.batch !== undefined && !(Number.isInteger(opts.batch) && opts.batch >= 1))
    throw new Error(`batch must be a positive integer, got ${opts.batch}`);
  const s = sizes(cfg);
  const { C, H, W, P, D, F, tokens: T } = s;
  const g = new GraphBuilder();
  const N = opts.batch ?? 'N';
  const input: IoSpec = { name: INPUT_NAME, shape: [N, F * C, H, W] };
  const output: IoSpec = { name: OUTPUT_NAME, shape: [N, C, H, W] };
  const frames = g.input(input);
  const semantic = cfg.textDim > 0;
  const text = semantic ? { input: { name: TEXT_INPUT_NAME, shape: [N, cfg.textDim] }, output: { name: TEXT_OUTPUT_NAME, shape: [N, cfg.textDim] } } : undefined;
  const textIn = text ? g.input(text.input) : '';

  const param = (name: string, shape: number[]) => g.init(name, shape, need(w, name, shape));
  const ln = (x: string, gamma: string, beta: string | null, name: string) =>
    g.op('LayerNormalization', name, beta ? [x, gamma, beta] : [x, gamma], { axis: -1, epsilon: { float: 1e-5 } });
  const silu = (x: string, name: string) => g.op('Mul', `${name}/silu`, [x, g.op('Sigmoid', `${name}/sigmoid`, [x])]);
  // rows [R, K] x [K, M] (+ bias [M]): one Gemm with a bias, a MatMul without
  const linear = (x: string, wt: string, b: string | null, name: string) => (b ? g.op('Gemm', `${name}/gemm`, [x, wt, b]) : g.op('MatMul', `${name}/matmul`, [x, wt]));
  const rows = (x: string, width: number, name: string) => g.op('Reshape', name, [x, g.ints([-1, width])]);
  const perClip = (x: string, tokens: number, name: string) => g.op('Reshape', name, [x, g.ints([-1, tokens, D])]);
  const slice = (x: string, from: number, to: number, name: string, axis = 1) => g.op('Slice', name, [x, g.ints([from]), g.ints([to]), g.ints([axis])]);
  // rows [R, K] x [K, D] + a per-token bias [T, D] (bias + position embedding), added in the [N, T, D] view
  const embed = (x: string, wt: string, bias: string, name: string) =>
    g.op('Add', `${name}/bias`, [perClip(g.op('MatMul', `${name}/matmul`, [x, wt]), T, `${name}/per_clip`), bias]);

  // inputs: appearance token rows, motion token rows (differences of the frames' columns), last frame
  const split = g.op('Reshape', 'input/patchify/split', [frames, g.ints([0, F * C, s.hp, P, s.wp, P])]);
  const app = rows(g.op('Transpose', 'input/patchify/order', [split], { perm: [0, 2, 4, 1, 3, 5] }), F * C * P * P, 'input/patchify/rows'); // [N*T, F*C*P*P]
  const frameLen = C * P * P;
  const mot = g.op('Sub', 'input/diff', [slice(app, frameLen, F * frameLen, 'input/later'), slice(app, 0, (F - 1) * frameLen, 'input/earlier')]);
  const last = slice(frames, (F - 1) * C, F * C, 'input/last');

  // embeddings: biases folded into the position embedding
  const pos = need(w, 'embed.pos', [T, D]);
  let h3 = embed(app, param('embed.app.w', [s.appearanceLen, D]), g.init('embed.app.b+pos', [T, D], addRowBias(pos, need(w, 'embed.app.b', [D]))), 'embed/app'); // [N, T, D]
  const m0 = silu(linear(mot, param('embed.mot.w1', [s.motionLen, D]), param('embed.mot.b1', [D]), 'embed/mot1'), 'embed/mot1');
  const m = rows(embed(m0, param('embed.mot.w2', [D, D]), g.init('embed.mot.b2+pos', [T, D], addRowBias(pos, need(w, 'embed.mot.b2', [D]))), 'embed/mot2'), D, 'embed/mot2/rows');

  if (semantic) {
    const tok = linear(textIn, param('embed.text.w', [cfg.textDim, D]), param('embed.text.b', [D]), 'embed/text');
    h3 = g.op('Concat', 'embed/with_text', [h3, g.op('Unsqueeze', 'embed/text/token', [tok, g.ints([1])])], { axis: 1 }); // [N, T+1, D]
  }
  let h = rows(h3, D, 'embed/rows'); // [N*Tq, D]
  const Tq = semantic ? T + 1 : T;
  // textAttention 'read': one additive mask [T+1, 2T+1] shared by every block (sfn.ts textReadMask)
  const textMask = semantic && cfg.textAttention === 'read' ? g.init('attn.text_read_mask', [Tq, Tq + T], textReadMask(T)) : null;
  const ops: Ops = { ln, linear, param, rows, perClip };
  for (let l = 0; l < cfg.blocks; l++) {
    const b = `block${l}`;
    h = attentionBlock(g, cfg, w, b, h, m, Tq, textMask, ops);
    const h2 = ln(h, param(`${b}.ln2.g`, [D]), param(`${b}.ln2.b`, [D]), `${b}/ln2`);
    const mh = silu(linear(h2, param(`${b}.mlp.w1`, [D, s.hidden]), param(`${b}.mlp.b1`, [s.hidden]), `${b}/mlp/fc1`), `${b}/mlp`);
    h = g.op('Add', `${b}/mlp/residual`, [h, linear(mh, param(`${b}.mlp.w2`, [s.hidden, D]), param(`${b}.mlp.b2`, [D]), `${b}/mlp/fc2`)]);
    const y = sffmLayer(g, cfg, w, `${b}.sffm`, `${b}/sffm`, h, silu, linear);
    h = cfg.sffmResidual ? g.op('Add', `${b}/sffm/residual`, [h, y]) : y;
  }

  if (semantic) {
    const hc = perClip(h, Tq, 'head/per_clip'); // [N, T+1, D]
    const tt = rows(slice(hc, T, T + 1, 'head/text/slice'), D, 'head/text/token');
    const tp = linear(ln(tt, param('head.text.ln.g', [D]), param('head.text.ln.b', [D]), 'head/text/ln'), param('head.text.w', [D, cfg.textDim]), param('head.text.b', [cfg.textDim]), 'head/text/linear');
    g.output(tp, text!.output);
    h = rows(slice(hc, 0, T, 'head/visual'), D, 'head/visual/rows');
  }
  const out = linear(ln(h, param('head.ln.g', [D]), param('head.ln.b', [D]), 'head/ln'), param('head.w', [D, s.outLen]), param('head.b', [s.outLen]), 'head/linear');
  const r = g.op('Reshape', 'head/unpatchify/split', [out, g.ints([-1, s.hp, s.wp, C, P, P])]);
  const t = g.op('Transpose', 'head/unpatchify/order', [r], { perm: [0, 3, 1, 4, 2, 5] });
  const img = g.op('Reshape', 'head/unpatchify/image', [t, g.ints([-1, C, H, W])]);
  g.output(g.op('Add', 'head/plus_last', [last, img]), output);

  const bytes = g.build({
    graphName: opts.name ?? 'sfn-lite',
    opset: OPSET,
    irVersion: IR_VERSION,
    producer: 'sfn-edge',
    producerVersion: opts.producerVersion ?? '0.0.0',
    doc: 'SFN-Lite next-frame predictor: frames [N, 4C, H, W] (4 past frames, oldest first, [0,1]) -> pred [N, C, H, W]',
    metadata: { 'sfn.config': JSON.stringify(cfg) },
  });
  return { bytes, input, output, ...(text ? { text } : {}), stats: g.stats() };
}

type Ln = (x: string, gamma: string, beta: string | null, name: string) => string;
type Linear = (x: string, w: string, b: string | null, name: string) => string;
type Silu = (x: string, name: string) => string;
/** The graph helpers of {@link buildGraph} that the blocks use. */
interface Ops {
  ln: Ln;
  linear: Linear;
  param: (name: string, shape: number[]) => string;
  /** any view -> rows `[-1, width]` */
  rows: (x: string, width: number, name: string) => string;
  /** rows `[N*tokens, D]` -> `[N, tokens, D]` */
  perClip: (x: string, tokens: number, name: string) => string;
}

/**
 * `h + Wo Attn(q = LN1(h), k/v = [LN1(h); LNm(m)]) + bo` (sfn.ts `attention()`) on token rows `h
 * [N*Tq, D]`, `m [N*T, D]`: keys and values of the concatenated Tq + T tokens of each clip (Tq = T,
 * or T + 1 with the text token); heads as `[N, heads, tokens, dh]` tensors and batched MatMul.
 */
function attentionBlock(g: GraphBuilder, cfg: SfnConfig, w: WeightArrays, b: string, h: string, m: string, Tq: number, textMask: string | null, o: Ops): string {
  const { D, tokens: T, dh } = sizes(cfg);
  const heads = cfg.heads;
  const { ln, linear, param } = o;
  const hn = ln(h, param(`${b}.ln1.g`, [D]), param(`${b}.ln1.b`, [D]), `${b}/ln1`);
  const mn = ln(m, param(`${b}.lnm.g`, [D]), param(`${b}.lnm.b`, [D]), `${b}/lnm`);
  const scale = 1 / Math.sqrt(dh);
  const wq = g.init(`${b}.attn.q.w*scale`, [D, D], scaled(need(w, `${b}.attn.q.w`, [D, D]), scale));
  const bq = g.init(`${b}.attn.q.b*scale`, [D], scaled(need(w, `${b}.attn.q.b`, [D]), scale));
  const q = linear(hn, wq, bq, `${b}/attn/q`);
  const kvTokens = g.op('Concat', `${b}/attn/kv_tokens`, [o.perClip(hn, Tq, `${b}/attn/kv_tokens/visual`), o.perClip(mn, T, `${b}/attn/kv_tokens/motion`)], { axis: 1 }); // [N, Tq+T, D]
  const kvIn = o.rows(kvTokens, D, `${b}/attn/kv_tokens/rows`);
  const k = linear(kvIn, param(`${b}.attn.k.w`, [D, D]), param(`${b}.attn.k.b`, [D]), `${b}/attn/k`);
  const v = linear(kvIn, param(`${b}.attn.v.w`, [D, D]), param(`${b}.attn.v.b`, [D]), `${b}/attn/v`);
  const split = (x: string, rows: number, perm: number[], name: string) =>
    g.op('Transpose', `${name}/heads`, [g.op('Reshape', `${name}/split`, [x, g.ints([-1, rows, heads, dh])])], { perm });
  const qh = split(q, Tq, [0, 2, 1, 3], `${b}/attn/q`); // [N, heads, Tq, dh]
  const kt = split(k, Tq + T, [0, 2, 3, 1], `${b}/attn/k`); // [N, heads, dh, Tq+T]
  const vh = split(v, Tq + T, [0, 2, 1, 3], `${b}/attn/v`); // [N, heads, Tq+T, dh]
  let scores = g.op('MatMul', `${b}/attn/scores`, [qh, kt]);
  if (textMask) scores = g.op('Add', `${b}/attn/text_mask`, [scores, textMask]);
  const weights = g.op('Softmax', `${b}/attn/softmax`, [scores], { axis: -1 });
  const ctx = g.op('MatMul', `${b}/attn/context`, [weights, vh]); // [N, heads, Tq, dh]
  const merged = o.rows(g.op('Transpose', `${b}/attn/merge_order`, [ctx], { perm: [0, 2, 1, 3] }), D, `${b}/attn/merge`); // [N*Tq, D]
  return g.op('Add', `${b}/attn/residual`, [h, linear(merged, param(`${b}.attn.o.w`, [D, D]), param(`${b}.attn.o.b`, [D]), `${b}/attn/o`)]);
}

/**
 * SFFM layer in dense form (sffm.ts) on token rows `x [R, D]`: p = Softmax(x Wr); top-k of p by TopK, the chosen
 * probabilities scattered back (ScatterElements: exactly k per token, ties to the lower expert
 * index as in `topKMask` and torch.topk); gate = gateScale * chosen / sum(chosen);
 * y = (SiLU(xhat W1' + b1') * gate repeated per expert) W2 + gate b2 [+ shared expert].
 * W1'/b1' carry each expert's LayerNorm affine (folded here), so one LayerNormalization without
 * affine (xhat) feeds every expert.
 */
function sffmLayer(g: GraphBuilder, cfg: SfnConfig, w: WeightArrays, p: string, name: string, x: string, silu: Silu, linear: Linear): string {
  const { D, E, d } = sizes(cfg);
  const probs = g.op('Softmax', `${name}/router/softmax`, [g.op('MatMul', `${name}/router`, [x, g.init(`${p}.router`, [D, E], need(w, `${p}.router`, [D, E]))])], { axis: -1 });
  const [topVals, topIdx] = g.node('TopK', `${name}/router/topk`, [probs, g.ints([cfg.topK])], { axis: -1, largest: 1, sorted: 1 }, 2) as [string, string];
  const zeros = g.op('ConstantOfShape', `${name}/router/zeros`, [g.op('Shape', `${name}/router/shape`, [probs])], {
    value: { tensor: { dims: [1], dataType: onnx.TensorProto.DataType.FLOAT, floatData: [0] } },
  });
  const chosen = g.op('ScatterElements', `${name}/router/chosen`, [zeros, topIdx, topVals], { axis: -1 }); // p * mask
  const total = g.op('ReduceSum', `${name}/gate/sum`, [chosen, g.ints([-1])], { keepdims: 1 });
  const gate = g.op('Mul', `${name}/gate`, [g.op('Div', `${name}/gate/renorm`, [chosen, total]), g.scalar(cfg.gateScale)]); // [R, E]

  const xhat = g.op('LayerNormalization', `${name}/xhat`, [x, g.scalar(1, [D])], { axis: -1, epsilon: { float: 1e-5 } });
  const f = foldLayerNorm(need(w, `${p}.w1`, [D, E * d]), need(w, `${p}.b1`, [E * d]), need(w, `${p}.ln.g`, [E, D]), need(w, `${p}.ln.b`, [E, D]), D, E);
  const hid = silu(linear(xhat, g.init(`${p}.w1*ln`, [D, E * d], f.w), g.init(`${p}.b1+ln`, [E * d], f.b), `${name}/experts/fc1`), `${name}/experts`);
  const perExpert = g.op('Reshape', `${name}/experts/split`, [hid, g.ints([-1, E, d])]);
  const gate4 = g.op('Unsqueeze', `${name}/gate/per_unit`, [gate, g.ints([-1])]);
  const gated = g.op('Reshape', `${name}/experts/merge`, [g.op('Mul', `${name}/experts/gated`, [perExpert, gate4]), g.ints([-1, E * d])]);
  const routed = g.op('MatMul', `${name}/experts/fc2`, [gated, g.init(`${p}.w2`, [E * d, D], need(w, `${p}.w2`, [E * d, D]))]);
  const gb2 = g.op('MatMul', `${name}/experts/gate_b2`, [gate, g.init(`${p}.b2`, [E, D], need(w, `${p}.b2`, [E, D]))]);
  let y = g.op('Add', `${name}/experts/sum`, [routed, gb2]);

  if (cfg.sharedExperts > 0) {
    const sf = foldLayerNorm(need(w, `${p}.shared.w1`, [D, d]), need(w, `${p}.shared.b1`, [d]), need(w, `${p}.shared.ln.g`, [D]), need(w, `${p}.shared.ln.b`, [D]), D, 1);
    const hs = silu(linear(xhat, g.init(`${p}.shared.w1*ln`, [D, d], sf.w), g.init(`${p}.shared.b1+ln`, [d], sf.b), `${name}/shared/fc1`), `${name}/shared`);
    const ys = linear(hs, g.init(`${p}.shared.w2`, [d, D], need(w, `${p}.shared.w2`, [d, D])), g.init(`${p}.shared.b2`, [D], need(w, `${p}.shared.b2`, [D])), `${name}/shared/fc2`);
    y = g.op('Add', `${name}/plus_shared`, [y, ys]);
  }
  return y;
}
