/**
 * Sparse Feature Filtering Module (SFFM): a mixture of narrow bottleneck experts that replaces the
 * token features (no residual around it), after MemoryOut / SIB-VAD (arXiv 2506.02535, Sec. 3.2;
 * authors' code qzfm/sib_vad_code, a DeepSeek-MoE-style layer).
 *
 *   expert_e(x) = W2_e SiLU(W1_e LN_e(x) + b1_e) + b2_e          LN_e: LayerNorm(D), W1_e: D->d, W2_e: d->D
 *   p = softmax(x Wr)                                             router Wr: [D, E], no bias, float32
 *   g = gateScale * (p * topk_mask) / sum(p * topk_mask)          top-k renormalised, x 2.0
 *   y = sum_e g_e expert_e(x) + shared(x)                         shared: one always-on expert
 *
 * Dense form (all experts computed, gate zero outside the top-k) with every expert packed into two
 * matrices, so the layer is two 2-D matMuls: each expert's LayerNorm affine is folded into its first
 * linear at run time (LN_e(x) W1_e = xhat (gamma_e * W1_e) + beta_e W1_e), the gated hidden units
 * `[T, E*d]` times the stacked W2 `[E*d, D]` sum the experts' outputs.
 */
import { tf } from './backend.js';
import { linear, maskedBy, mm, normalise, repeatCols, silu, topKMask } from './ops.js';

/** Parameters of one SFFM layer (E routed experts of width d, token width D). */
export interface SffmParams {
  /** router weight [D, E] (no bias) */
  router: tf.Variable;
  /** per-expert LayerNorm gamma/beta [E, D] */
  lnGamma: tf.Variable;
  lnBeta: tf.Variable;
  /** stacked first linears [D, E*d] (expert e owns columns e*d..e*d+d-1) and biases [E*d] */
  w1: tf.Variable;
  b1: tf.Variable;
  /** stacked second linears [E*d, D] and biases [E, D] */
  w2: tf.Variable;
  b2: tf.Variable;
  /** shared expert (present when sharedExperts = 1): LN [D], W1 [D, d], b1 [d], W2 [d, D], b2 [D] */
  shared?: { lnGamma: tf.Variable; lnBeta: tf.Variable; w1: tf.Variable; b1: tf.Variable; w2: tf.Variable; b2: tf.Variable };
}

/** Routing of one SFFM call, for the load-balancing loss and for routing statistics (pruning). */
export interface Routing {
  /** router softmax [T, E] (carries gradient) */
  probs: tf.Tensor2D;
  /** top-k mask [T, E], 0/1, constant */
  mask: tf.Tensor2D;
}

/**
 * Applies an SFFM layer to tokens `x [T, D]` (T = batch x tokens, row-major by sample).
 * Returns the filtered tokens `[T, D]` and the routing. E and d are read from the weight shapes.
 */
export function sffm(
  p: SffmParams,
  x: tf.Tensor2D,
  topK: number,
  gateScale: number,
): { y: tf.Tensor2D; routing: Routing } {
  const [, e] = p.router.shape as [number, number];
  const ed = p.w1.shape[1] as number;
  const d = ed / e;
  const t = x.shape[0];
  const dim = x.shape[1];

  const probs = tf.softmax(mm(x, p.router as tf.Tensor2D)) as tf.Tensor2D;
  const mask = topKMask(probs, topK);
  const chosen = maskedBy(probs, mask);
  const gate = tf.mul(tf.div(chosen, tf.sum(chosen, -1, true)), gateScale) as tf.Tensor2D; // [T, E]

  const xhat = normalise(x);
  // gamma_e folded into W1_e: gammaCols[D, E*d] repeats gamma_e[D] over the e-th d columns
  const gammaCols = repeatCols(tf.transpose(p.lnGamma) as tf.Tensor2D, d);
  const w1 = tf.mul(p.w1, gammaCols) as tf.Tensor2D;
  // beta_e W1_e for every expert: [E, d] -> [E*d]
  const w1r = tf.reshape(p.w1, [dim, e, d]);
  const betaW1 = tf.reshape(tf.sum(tf.mul(tf.reshape(tf.transpose(p.lnBeta), [dim, e, 1]), w1r), 0), [ed]);
  const h = silu(tf.add(mm(xhat, w1), tf.add(p.b1, betaW1))) as tf.Tensor2D; // [T, E*d]
  const gateCols = repeatCols(gate, d);
  let y = tf.add(mm(tf.mul(h, gateCols) as tf.Tensor2D, p.w2 as tf.Tensor2D), mm(gate, p.b2 as tf.Tensor2D)) as tf.Tensor2D;

  if (p.shared) {
    const s = p.shared;
    const hs = silu(linear(tf.add(tf.mul(xhat, s.lnGamma), s.lnBeta) as tf.Tensor2D, s.w1 as tf.Tensor2D, s.b1 as tf.Tensor1D));
    y = tf.add(y, linear(hs, s.w2 as tf.Tensor2D, s.b2 as tf.Tensor1D)) as tf.Tensor2D;
  }
  return { y, routing: { probs, mask } };
}

/**
 * DeepSeek-V2/V3 sequence-level load-balancing loss, averaged over the B sequences of a batch:
 *   f_i = E / (k T_s) * sum_t mask[t, i],   P_i = 1/T_s * sum_t probs[t, i],   L = sum_i f_i P_i
 * (T_s = tokens per sequence). Equals 1 for perfectly balanced routing; the caller multiplies by
 * alpha (paper: 0.001). `probs`, `mask`: `[B*T_s, E]`, rows grouped by sequence. Scalar result.
 */
export function loadBalancingLoss(r: Routing, sequences: number, topK: number): tf.Scalar {
  const [t, e] = r.probs.shape;
  const ts = t / sequences;
  const f = tf.mul(tf.sum(tf.reshape(r.mask, [sequences, ts, e]), 1), e / (topK * ts)); // [B, E]
  const pm = tf.mean(tf.reshape(r.probs, [sequences, ts, e]), 1); // [B, E]
  return tf.mean(tf.sum(tf.mul(f, pm), 1)) as tf.Scalar;
}
