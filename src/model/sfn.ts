/**
 * SFN-Lite: the edge-sized Sparse Filtering Network (docs/design.md, "SFN-Lite").
 *
 * Works in token space: the caller patchifies frames (see `patchify.ts`), so the network is made of
 * 2-D matMuls only (fast on every backend, and what the ONNX export mirrors op for op).
 *
 *   appearance  a = PatchEmbed(4 past frames) + pos                       [B*N, 4CP^2] -> [B*N, D]
 *   motion      m = Linear(SiLU(Linear(3 frame differences))) + pos       [B*N, 3CP^2] -> [B*N, D]
 *   block l     x = x + Attn(q = LN(x), k/v = [LN(x); LN_m(m)])            visual tokens attend to
 *                                                                         themselves and to motion
 *               x = x + MLP(LN(x))
 *               x = SFFM_l(x)                (no residual; `sffmResidual` adds one for ablation)
 *   head        pred = last frame + Linear(LN(x))                         [B*N, CP^2]
 *   semantics   (textDim > 0) one text token per sample, Linear(text feature) [B, textDim] -> [B, D],
 *               appended after the N visual tokens: it attends and is attended to, and passes the
 *               MLP and SFFM filters like the visual tokens; text head Linear(LN(x_text)) predicts
 *               the text feature back [B, textDim] (the seed's decoder predicts the text feature,
 *               scored with 1 - cos; authors' code model/unet.py, eval.py)
 *
 * The head predicts the change from the last input frame, zero-initialised, so training starts at
 * the copy-last predictor and learns the motion of normal content; the SFFM experts, trained on
 * normal video only, cannot pass the features of unseen content, so the error rises there.
 */
import { tf } from './backend.js';
import type { SfnConfig } from '../core/model-config.js';
import { derived } from '../core/model-config.js';
import { nativeActive, nativeAttention } from './native.js';
import { layerNorm, linear, mm, silu } from './ops.js';
import { sffm, type Routing, type SffmParams } from './sffm.js';

/** Named parameters; names are stable (checkpoints and ONNX initialisers use them). */
export type Params = Map<string, tf.Variable>;

/** Inputs in token layout (see `patchify.ts`); B*N rows, sample-major. */
export interface TokenBatch {
  /** [B*N, 4*C*P*P] past frames, oldest first, in [0, 1] */
  appearance: tf.Tensor2D;
  /** [B*N, 3*C*P*P] frame differences f[i+1]-f[i], in [-1, 1] */
  motion: tf.Tensor2D;
  /** [B*N, C*P*P] the last past frame (the base the head adds its change to) */
  last: tf.Tensor2D;
  /** batch size B */
  batch: number;
  /** [B, textDim] text features of the clips' captions (required when textDim > 0) */
  text?: tf.Tensor2D;
}

/** Deterministic PRNG (mulberry32) for parameter initialisation and data order. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function normalArray(n: number, std: number, rand: () => number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    // Box-Muller, truncated at 2 std like timm's trunc_normal_
    let z: number;
    do {
      const u = Math.max(rand(), 1e-12);
      z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
    } while (Math.abs(z) > 2);
    out[i] = z * std;
  }
  return out;
}

/**
 * Creates freshly initialised parameters for `cfg` (seeded: same seed, same weights).
 * Linear weights: truncated normal, std 0.02 (ViT init); LayerNorm gamma 1, beta 0; biases 0;
 * the output head is zero so the untrained network is the copy-last predictor.
 */
let instances = 0;

/** A fresh variable-name prefix: tfjs variable names are global, so each model instance gets its own. */
export function uniquePrefix(): string {
  instances += 1;
  return `sfn${instances}/`;
}

export function initParams(cfg: SfnConfig, seed = 1): Params {
  const prefix = uniquePrefix();
  const g = derived(cfg);
  const D = cfg.dim;
  const rand = rng(seed);
  const p: Params = new Map();
  const add = (name: string, shape: number[], init: 'normal' | 'zeros' | 'ones', std = 0.02) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = init === 'normal' ? normalArray(n, std, rand) : new Float32Array(n).fill(init === 'ones' ? 1 : 0);
    p.set(name, tf.variable(tf.tensor(data, shape), true, prefix + name));
  };
  add('embed.app.w', [g.appearanceLen, D], 'normal');
  add('embed.app.b', [D], 'zeros');
  add('embed.mot.w1', [g.motionLen, D], 'normal');
  add('embed.mot.b1', [D], 'zeros');
  add('embed.mot.w2', [D, D], 'normal');
  add('embed.mot.b2', [D], 'zeros');
  add('embed.pos', [g.tokens, D], 'normal');
  for (let l = 0; l < cfg.blocks; l++) {
    const b = `block${l}`;
    add(`${b}.ln1.g`, [D], 'ones');
    add(`${b}.ln1.b`, [D], 'zeros');
    add(`${b}.lnm.g`, [D], 'ones');
    add(`${b}.lnm.b`, [D], 'zeros');
    for (const w of ['q', 'k', 'v', 'o']) {
      add(`${b}.attn.${w}.w`, [D, D], 'normal');
      add(`${b}.attn.${w}.b`, [D], 'zeros');
    }
    add(`${b}.ln2.g`, [D], 'ones');
    add(`${b}.ln2.b`, [D], 'zeros');
    add(`${b}.mlp.w1`, [D, D * cfg.mlpRatio], 'normal');
    add(`${b}.mlp.b1`, [D * cfg.mlpRatio], 'zeros');
    add(`${b}.mlp.w2`, [D * cfg.mlpRatio, D], 'normal');
    add(`${b}.mlp.b2`, [D], 'zeros');
    const s = `${b}.sffm`;
    const E = cfg.experts;
    const d = cfg.expertDim;
    add(`${s}.router`, [D, E], 'normal');
    add(`${s}.ln.g`, [E, D], 'ones');
    add(`${s}.ln.b`, [E, D], 'zeros');
    add(`${s}.w1`, [D, E * d], 'normal');
    add(`${s}.b1`, [E * d], 'zeros');
    add(`${s}.w2`, [E * d, D], 'normal');
    add(`${s}.b2`, [E, D], 'zeros');
    if (cfg.sharedExperts > 0) {
      add(`${s}.shared.ln.g`, [D], 'ones');
      add(`${s}.shared.ln.b`, [D], 'zeros');
      add(`${s}.shared.w1`, [D, d], 'normal');
      add(`${s}.shared.b1`, [d], 'zeros');
      add(`${s}.shared.w2`, [d, D], 'normal');
      add(`${s}.shared.b2`, [D], 'zeros');
    }
  }
  if (cfg.textDim > 0) {
    add('embed.text.w', [cfg.textDim, D], 'normal');
    add('embed.text.b', [D], 'zeros');
    add('head.text.ln.g', [D], 'ones');
    add('head.text.ln.b', [D], 'zeros');
    add('head.text.w', [D, cfg.textDim], 'normal');
    add('head.text.b', [cfg.textDim], 'zeros');
  }
  add('head.ln.g', [D], 'ones');
  add('head.ln.b', [D], 'zeros');
  add('head.w', [D, g.outLen], 'zeros');
  add('head.b', [g.outLen], 'zeros');
  return p;
}

/** Looks a parameter up; throws naming it when missing (a checkpoint of another config). */
export function param(p: Params, name: string): tf.Variable {
  const v = p.get(name);
  if (!v) throw new Error(`parameter '${name}' is missing: the weights do not match this model configuration`);
  return v;
}

/** The SFFM parameters of block `l`. */
export function sffmParams(p: Params, l: number): SffmParams {
  const s = `block${l}.sffm`;
  const shared = p.has(`${s}.shared.w1`)
    ? {
        lnGamma: param(p, `${s}.shared.ln.g`),
        lnBeta: param(p, `${s}.shared.ln.b`),
        w1: param(p, `${s}.shared.w1`),
        b1: param(p, `${s}.shared.b1`),
        w2: param(p, `${s}.shared.w2`),
        b2: param(p, `${s}.shared.b2`),
      }
    : undefined;
  return {
    router: param(p, `${s}.router`),
    lnGamma: param(p, `${s}.ln.g`),
    lnBeta: param(p, `${s}.ln.b`),
    w1: param(p, `${s}.w1`),
    b1: param(p, `${s}.b1`),
    w2: param(p, `${s}.w2`),
    b2: param(p, `${s}.b2`),
    ...(shared ? { shared } : {}),
  };
}

type T1 = tf.Tensor1D;
type T2 = tf.Tensor2D;

/**
 * Additive attention mask `[N+1, 2N+1]` of textAttention 'read': -1e9 where a visual query (rows
 * 0..N-1) meets the text key (column N), 0 elsewhere, so the visual tokens ignore the text token.
 */
export function textReadMask(N: number): Float32Array {
  const m = new Float32Array((N + 1) * (2 * N + 1));
  for (let i = 0; i < N; i++) m[i * (2 * N + 1) + N] = -1e9;
  return m;
}

/**
 * Multi-head attention of the tokens of each sample over [tokens; motion] tokens.
 * `q, kx, vx [B*n, D]`, `km, vm [B*N, D]` -> `[B*n, D]` (n = N visual tokens, + 1 with the text
 * token). Runs sample by sample and head by head on 2-D slices (the wasm backend's batched matMul
 * is its slow path), or as one native kernel for the whole batch when the addon is loaded.
 */
function attention(q: T2, kx: T2, vx: T2, km: T2, vm: T2, batch: number, heads: number, mask?: T2): T2 {
  if (nativeActive()) return nativeAttention(q, kx, vx, km, vm, batch, heads, mask); // one fused kernel (native.ts)
  const [rows, dim] = q.shape;
  const n = rows / batch;
  const nm = km.shape[0] / batch;
  const dh = dim / heads;
  const scale = 1 / Math.sqrt(dh);
  const outs: T2[] = [];
  for (let b = 0; b < batch; b++) {
    const headsOut: T2[] = [];
    for (let h = 0; h < heads; h++) {
      const at = [b * n, h * dh];
      const sz = [n, dh];
      const atm = [b * nm, h * dh];
      const szm = [nm, dh];
      const qb = tf.slice(q, at, sz);
      const k = tf.concat([tf.slice(kx, at, sz), tf.slice(km, atm, szm)], 0); // [n + N, dh]
      const v = tf.concat([tf.slice(vx, at, sz), tf.slice(vm, atm, szm)], 0);
      const sc = tf.mul(mm(qb, tf.transpose(k)), scale) as T2; // [n, n + N]
      const w = tf.softmax(mask ? tf.add(sc, mask) : sc) as T2;
      headsOut.push(mm(w, v));
    }
    outs.push(heads === 1 ? headsOut[0]! : tf.concat(headsOut, 1));
  }
  return batch === 1 ? outs[0]! : tf.concat(outs, 0);
}

/**
 * Forward pass. Returns the predicted next frame in token layout `[B*N, C*P*P]`, the predicted
 * text feature `[B, textDim]` when the model has the semantic branch, and the routing of every
 * SFFM layer (for the load-balancing loss and routing statistics).
 * @throws Error when the model has a semantic branch and `x.text` is missing or not `[B, textDim]`.
 */
export function forward(p: Params, cfg: SfnConfig, x: TokenBatch): { pred: T2; text?: T2; routing: Routing[] } {
  const P = (n: string) => param(p, n);
  // + pos on every sample: a broadcast add over [B, N, D] (same values as tiling pos B times; its
  // gradient is one sum over B, where Tile's is B slices and adds)
  const pos = P('embed.pos');
  const addPos = (t: T2) => tf.reshape(tf.add(tf.reshape(t, [x.batch, -1, cfg.dim]), pos), [-1, cfg.dim]) as T2;
  let h = addPos(linear(x.appearance, P('embed.app.w') as T2, P('embed.app.b') as T1));
  const N = h.shape[0] / x.batch;
  const semantic = cfg.textDim > 0;
  if (semantic) {
    if (!x.text || x.text.shape[0] !== x.batch || x.text.shape[1] !== cfg.textDim)
      throw new Error(`this model has a semantic branch: give text features [${x.batch}, ${cfg.textDim}], got ${x.text ? `[${x.text.shape}]` : 'none'}`);
    const t = linear(x.text, P('embed.text.w') as T2, P('embed.text.b') as T1); // [B, D]
    const seq = tf.concat([tf.reshape(h, [x.batch, N, cfg.dim]), tf.reshape(t, [x.batch, 1, cfg.dim])], 1);
    h = tf.reshape(seq, [x.batch * (N + 1), cfg.dim]) as T2;
  }
  const mask = semantic && cfg.textAttention === 'read' ? tf.tensor2d(textReadMask(N), [N + 1, 2 * N + 1]) : undefined;
  const m0 = silu(linear(x.motion, P('embed.mot.w1') as T2, P('embed.mot.b1') as T1));
  const m = addPos(linear(m0, P('embed.mot.w2') as T2, P('embed.mot.b2') as T1));
  const routing: Routing[] = [];
  for (let l = 0; l < cfg.blocks; l++) {
    const b = `block${l}`;
    const hn = layerNorm(h, P(`${b}.ln1.g`) as T1, P(`${b}.ln1.b`) as T1);
    const mn = layerNorm(m, P(`${b}.lnm.g`) as T1, P(`${b}.lnm.b`) as T1);
    const lin = (t: T2, w: string) => linear(t, P(`${b}.attn.${w}.w`) as T2, P(`${b}.attn.${w}.b`) as T1);
    const att = attention(lin(hn, 'q'), lin(hn, 'k'), lin(hn, 'v'), lin(mn, 'k'), lin(mn, 'v'), x.batch, cfg.heads, mask);
    h = tf.add(h, lin(att, 'o')) as T2;
    const h2 = layerNorm(h, P(`${b}.ln2.g`) as T1, P(`${b}.ln2.b`) as T1);
    const mlp = linear(silu(linear(h2, P(`${b}.mlp.w1`) as T2, P(`${b}.mlp.b1`) as T1)), P(`${b}.mlp.w2`) as T2, P(`${b}.mlp.b2`) as T1);
    h = tf.add(h, mlp) as T2;
    const f = sffm(sffmParams(p, l), h, cfg.topK, cfg.gateScale);
    h = cfg.sffmResidual ? (tf.add(h, f.y) as T2) : f.y;
    routing.push(f.routing);
  }
  let text: T2 | undefined;
  if (semantic) {
    const seq = tf.reshape(h, [x.batch, N + 1, cfg.dim]);
    const tt = tf.reshape(tf.slice(seq, [0, N, 0], [x.batch, 1, cfg.dim]), [x.batch, cfg.dim]) as T2;
    text = linear(layerNorm(tt, P('head.text.ln.g') as T1, P('head.text.ln.b') as T1), P('head.text.w') as T2, P('head.text.b') as T1);
    h = tf.reshape(tf.slice(seq, [0, 0, 0], [x.batch, N, cfg.dim]), [x.batch * N, cfg.dim]) as T2;
  }
  const out = linear(layerNorm(h, P('head.ln.g') as T1, P('head.ln.b') as T1), P('head.w') as T2, P('head.b') as T1);
  return { pred: tf.add(x.last, out) as T2, ...(text ? { text } : {}), routing };
}

/** Parameters from host arrays (name -> shape + data), e.g. from `loadWeights`; optimiser state
 * entries (names containing '/') are skipped. */
export function paramsFromArrays(arrays: Map<string, { shape: number[]; data: Float32Array }>, trainable = true): Params {
  const prefix = uniquePrefix();
  const p: Params = new Map();
  for (const [name, a] of arrays) if (!name.includes('/')) p.set(name, tf.variable(tf.tensor(a.data, a.shape), trainable, prefix + name));
  return p;
}

/** Disposes every parameter. */
export function disposeParams(p: Params): void {
  for (const v of p.values()) v.dispose();
}

/** Total number of trainable scalars. */
export function countParams(p: Params): number {
  let n = 0;
  for (const v of p.values()) n += v.size;
  return n;
}
