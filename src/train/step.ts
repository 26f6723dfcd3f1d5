/**
 * One optimisation step of SFN-Lite: forward, losses, gradients of every parameter, AdamW update.
 */
import { tf } from '../model/backend.js';
import type { SfnConfig } from '../core/model-config.js';
import { forward, type Params } from '../model/sfn.js';
import type { HostBatch } from './data.js';
import { totalLoss } from './losses.js';
import type { AdamW } from './optimizer.js';

/** Scalars of one step (losses are batch means; gradNorm before clipping). */
export interface StepStats {
  loss: number;
  pred: number;
  diff: number;
  aux: number;
  /** semantic loss (0 without the semantic branch) */
  sim: number;
  gradNorm: number;
}

/**
 * Runs one training step on `batch` with learning rate `lr`; updates `params` in place.
 * Throws if the loss is not finite (divergence), leaving the parameters untouched.
 */
export function trainStep(params: Params, cfg: SfnConfig, opt: AdamW, batch: HostBatch, lr: number, rowLen: { app: number; mot: number; out: number }, simWeight = 1): StepStats {
  const rows = batch.last.length / rowLen.out;
  const out = tf.tidy(() => {
    const app = tf.tensor2d(batch.appearance, [rows, rowLen.app]);
    const mot = tf.tensor2d(batch.motion, [rows, rowLen.mot]);
    const last = tf.tensor2d(batch.last, [rows, rowLen.out]);
    const target = tf.tensor2d(batch.target, [rows, rowLen.out]);
    const text = batch.text ? tf.tensor2d(batch.text, [batch.batch, cfg.textDim]) : undefined;
    const parts: { pred?: tf.Scalar; diff?: tf.Scalar; aux?: tf.Scalar; sim?: tf.Scalar } = {};
    const { value, grads } = tf.variableGrads(() => {
      const f = forward(params, cfg, { appearance: app, motion: mot, last, batch: batch.batch, ...(text ? { text } : {}) });
      const l = totalLoss(f.pred, target, last, f.routing, batch.batch, cfg.topK, cfg.auxAlpha, f.text && text ? { pred: f.text, target: text, weight: simWeight } : undefined);
      parts.pred = tf.keep(l.pred);
      parts.diff = tf.keep(l.diff);
      parts.aux = tf.keep(l.aux);
      parts.sim = tf.keep(l.sim);
      return l.total;
    });
    const loss = value.dataSync()[0]!;
    const s = { loss, pred: parts.pred!.dataSync()[0]!, diff: parts.diff!.dataSync()[0]!, aux: parts.aux!.dataSync()[0]!, sim: parts.sim!.dataSync()[0]! };
    tf.dispose([parts.pred!, parts.diff!, parts.aux!, parts.sim!]);
    if (!Number.isFinite(loss)) return { s, gradNorm: NaN };
    const gradNorm = opt.apply(grads, lr);
    return { s, gradNorm };
  });
  if (!Number.isFinite(out.s.loss)) throw new Error(`training diverged: loss is ${out.s.loss} at step ${opt.step + 1}; lower the learning rate or resume from an earlier checkpoint`);
  return { ...out.s, gradNorm: out.gradNorm };
}
