/**
 * Export-time constant folding: parameter algebra done once on the host so the ONNX graph carries
 * fewer nodes. Every fold is an exact identity of real arithmetic; in float32 it changes rounding
 * only (well under the 1e-4 parity tolerance). Sums are accumulated in float64, stored as float32.
 */
import type { SfnConfig } from '../core/model-config.js';
import { derived } from '../core/model-config.js';

/** A parameter as read by `loadWeights`: row-major float32 data and its shape. */
export interface WeightArray {
  shape: number[];
  data: Float32Array;
}

/** Parameter name -> array (optimizer moments `<name>/m|v` may be present; they are ignored). */
export type WeightArrays = Map<string, WeightArray>;

/** Looks up `name` and checks its shape; throws naming the parameter when missing or mis-shaped. */
export function need(w: WeightArrays, name: string, shape: number[]): Float32Array {
  const a = w.get(name);
  if (!a) throw new Error(`parameter '${name}' is missing: the weights do not match their model configuration`);
  if (a.shape.length !== shape.length || a.shape.some((s, i) => s !== shape[i]))
    throw new Error(`parameter '${name}' has shape [${a.shape.join(', ')}], the configuration needs [${shape.join(', ')}]`);
  return a.data;
}

/** `b [D]` added to every row of `pos [T, D]` -> `[T, D]` (linear bias folded into the position embedding). */
export function addRowBias(pos: Float32Array, b: Float32Array): Float32Array {
  const d = b.length;
  const out = new Float32Array(pos.length);
  for (let i = 0; i < pos.length; i++) out[i] = pos[i]! + b[i % d]!;
  return out;
}

/** Elementwise `a * s`. Used to fold the attention scale 1/sqrt(dh) into W_q and b_q. */
export function scaled(a: Float32Array, s: number): Float32Array {
  return a.map((v) => v * s);
}

/**
 * Folds per-column-group LayerNorm affines into the linear that follows them (sffm.ts's identity):
 *   LN_e(x) W1_e + b1_e = xhat (gamma_e * W1_e) + (b1_e + beta_e W1_e)
 * `w [D, G*d]` (group e owns columns e*d..e*d+d-1), `gamma, beta [G, D]`, `b [G*d]`.
 * Returns `w' [D, G*d]` and `b' [G*d]`. G = 1 serves the shared expert (gamma, beta [D]).
 */
export function foldLayerNorm(w: Float32Array, b: Float32Array, gamma: Float32Array, beta: Float32Array, dim: number, groups: number): { w: Float32Array; b: Float32Array } {
  const cols = b.length;
  const d = cols / groups;
  const wf = new Float32Array(dim * cols);
  const acc = new Float64Array(cols);
  for (let j = 0; j < cols; j++) acc[j] = b[j]!;
  for (let i = 0; i < dim; i++)
    for (let j = 0; j < cols; j++) {
      const e = Math.floor(j / d);
      const wij = w[i * cols + j]!;
      wf[i * cols + j] = gamma[e * dim + i]! * wij;
      acc[j] = acc[j]! + beta[e * dim + i]! * wij;
    }
  return { w: wf, b: Float32Array.from(acc) };
}

/** The sizes the graph needs, from the config (C, grid, token count, patch vector lengths...). */
export function sizes(cfg: SfnConfig) {
  const g = derived(cfg);
  return {
    ...g,
    C: g.channels,
    H: cfg.height,
    W: cfg.width,
    P: cfg.patch,
    D: cfg.dim,
    F: cfg.pastFrames,
    dh: cfg.dim / cfg.heads,
    hidden: cfg.dim * cfg.mlpRatio,
    E: cfg.experts,
    d: cfg.expertDim,
  };
}
