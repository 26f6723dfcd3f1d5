/**
 * Training losses of SFN-Lite (MemoryOut / SIB-VAD, Sec. 3.4; all weights 1 in the paper):
 *   L_pred = mean((pred - I_{t+1})^2)                                   prediction MSE
 *   L_diff = mean(max(0, (pred - I_{t+1})^2 - (pred - I_t)^2))          frame-difference contrastive:
 *            the prediction must be closer to the true next frame than to the current one
 *   L_aux  = alpha * sum over SFFM layers of the sequence-level load-balancing loss
 *   L_sim  = mean(1 - cos(text_pred, text))   semantic branch only (textDim > 0), text `[B, textDim]`,
 *            times `text.weight` in the total (default 1, the paper's)
 * Frame tensors in token layout `[B*N, C*P*P]`; results are scalars.
 */
import { tf } from '../model/backend.js';
import { loadBalancingLoss, type Routing } from '../model/sffm.js';

export function predictionLoss(pred: tf.Tensor2D, target: tf.Tensor2D): tf.Scalar {
  return tf.mean(tf.squaredDifference(pred, target)) as tf.Scalar;
}

export function differenceLoss(pred: tf.Tensor2D, target: tf.Tensor2D, current: tf.Tensor2D): tf.Scalar {
  return tf.mean(tf.relu(tf.sub(tf.squaredDifference(pred, target), tf.squaredDifference(pred, current)))) as tf.Scalar;
}

export function auxiliaryLoss(routing: Routing[], sequences: number, topK: number, alpha: number): tf.Scalar {
  if (routing.length === 0 || alpha === 0) return tf.scalar(0);
  return tf.mul(tf.addN(routing.map((r) => loadBalancingLoss(r, sequences, topK))), alpha) as tf.Scalar;
}

/** `mean over rows of (1 - cos(a_i, b_i))` for `[B, K]` tensors; a zero row counts as cos 0. */
export function similarityLoss(pred: tf.Tensor2D, target: tf.Tensor2D): tf.Scalar {
  const eps = 1e-8;
  const dot = tf.sum(tf.mul(pred, target), 1);
  const na = tf.sqrt(tf.add(tf.sum(tf.square(pred), 1), eps));
  const nb = tf.sqrt(tf.add(tf.sum(tf.square(target), 1), eps));
  return tf.mean(tf.sub(1, tf.div(dot, tf.mul(na, nb)))) as tf.Scalar;
}

/** The losses and their sum, as scalars (`sim` is 0 without the semantic branch). */
export interface Losses {
  total: tf.Scalar;
  pred: tf.Scalar;
  diff: tf.Scalar;
  aux: tf.Scalar;
  sim: tf.Scalar;
}

export function totalLoss(
  pred: tf.Tensor2D,
  target: tf.Tensor2D,
  current: tf.Tensor2D,
  routing: Routing[],
  sequences: number,
  topK: number,
  alpha: number,
  text?: { pred: tf.Tensor2D; target: tf.Tensor2D; weight?: number },
): Losses {
  const lp = predictionLoss(pred, target);
  const ld = differenceLoss(pred, target, current);
  const la = auxiliaryLoss(routing, sequences, topK, alpha);
  const ls = text ? similarityLoss(text.pred, text.target) : tf.scalar(0);
  const weighted = text?.weight !== undefined && text.weight !== 1 ? tf.mul(ls, text.weight) : ls;
  return { total: tf.addN([lp, ld, la, weighted]) as tf.Scalar, pred: lp, diff: ld, aux: la, sim: ls };
}
