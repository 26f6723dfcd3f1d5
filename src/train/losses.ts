/**
 * Training losses of SFN-Lite (MemoryOut / SIB-VAD, Sec. 3.4; all weights 1 in the paper):
 *   L_pred = mean((pred - I_{t+1})^2)                                   prediction MSE
 *   L_diff = mean(max(0, (pred - I_{t+1})^2 - (pred - I_t)^2))          frame-difference contrastive:
 *            the prediction must be closer to the true next frame than to the current one
 *   L_aux  = alpha * sum over SFFM layers of the sequence-level load-balancing loss
 * The semantic loss L_sim = mean(1 - cos(text_pred, text)) joins with the semantic branch.
 * All tensors in token layout `[B*N, C*P*P]`; results are scalars.
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

/** The three losses and their sum, as scalars. */
export interface Losses {
  total: tf.Scalar;
  pred: tf.Scalar;
  diff: tf.Scalar;
  aux: tf.Scalar;
}

export function totalLoss(
  pred: tf.Tensor2D,
  target: tf.Tensor2D,
  current: tf.Tensor2D,
  routing: Routing[],
  sequences: number,
  topK: number,
  alpha: number,
): Losses {
  const lp = predictionLoss(pred, target);
  const ld = differenceLoss(pred, target, current);
  const la = auxiliaryLoss(routing, sequences, topK, alpha);
  return { total: tf.addN([lp, ld, la]) as tf.Scalar, pred: lp, diff: ld, aux: la };
}
