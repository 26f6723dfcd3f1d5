/**
 * The recipe's checkpoint rule, decided on normal video only (a new camera has no labels).
 *
 * The calibration part of the normal video (see `split.ts`) gives two sets of clips:
 * - normal: ordinary clips, frames t-4..t-1 -> t;
 * - pseudo-anomalous: skip-frame clips, t-4s..t-s -> t with s in `SKIP_STRIDES`, where everything
 *   moves s times faster than normal (Astrid et al., BMVC 2021, use the same kind of
 *   pseudo-anomaly to train and judge "not predicting what is not normal").
 * A checkpoint's validation separation is how far apart the prediction errors of the two sets are:
 * the gap of their mean log errors (`logGap`: log of the ratio of geometric means), averaged over
 * two error measures, whole-frame MSE and the largest token (P x P patch) MSE. A network that
 * learns to predict normal motion better, but not motion faster than normal, widens the gap; one
 * that learns to extrapolate any motion lowers both errors and does not. ROC AUCs saturate at 1
 * for copy-last already, and d' (reported too) was seen to fall while the gap and the test AUC rose
 * (the spread of normal errors widens as training fits some clips better than others). The untrained network is exactly the copy-last predictor (zero change head), so step 0
 * is copy-last's separation, and the rule "keep the checkpoint with the highest validation
 * separation" never picks a model that separates these worse than copy-last.
 */
import { tf } from '../model/backend.js';
import type { SfnConfig } from '../core/model-config.js';
import { derived } from '../core/model-config.js';
import { forward, type Params } from '../model/sfn.js';
import { rocAuc } from '../scoring/auc.js';
import { makeBatch, skipSamples, type ClipSet } from './data.js';

/** Strides of the skip-frame pseudo-anomalies (2x-4x the normal speed: jogging to running). */
export const SKIP_STRIDES = [2, 3, 4] as const;

/** A fixed validation set: picks of normal and pseudo-anomalous clips. */
export interface ValidationSet {
  normal: Array<[number, number]>;
  pseudo: Array<[number, number, number]>;
}

/** Up to `max` items, evenly spaced (deterministic). */
function spread<T>(items: T[], max: number): T[] {
  if (items.length <= max) return items;
  return Array.from({ length: max }, (_, i) => items[Math.floor((i * items.length) / max)]!);
}

/**
 * Builds the validation set from `set`'s calibration part (`set` must hold every frame: loaded with
 * part 'all' or 'train', the splits are kept). At most `max` clips of each kind.
 * Returns `null` when the calibration part has no clip (videos too short to hold frames back).
 */
export function validationSet(set: ClipSet, past: number, max = 192): ValidationSet | null {
  const normal: Array<[number, number]> = [];
  set.splits.forEach((sp, v) => {
    for (let t = sp.calibration[0] + past; t < sp.calibration[1]; t++) normal.push([v, t]);
  });
  const pseudo = skipSamples(set, 'calibration', past, SKIP_STRIDES);
  if (normal.length === 0 || pseudo.length === 0) return null;
  return { normal: spread(normal, max), pseudo: spread(pseudo, max) };
}

/** Validation figures of one checkpoint. */
export interface ValidationResult {
  /** the rule's figure: mean of `gapMse` and `gapPatch` */
  separation: number;
  /** mean log error of the pseudo-anomalous clips minus that of the normal ones: whole-frame MSE */
  gapMse: number;
  /** the same for the largest token MSE */
  gapPatch: number;
  /** d' (standardised mean difference) of log error, pseudo-anomalous vs normal: whole-frame MSE */
  dMse: number;
  /** the same for the largest token MSE */
  dPatch: number;
  aucMse: number;
  aucPatch: number;
  /** mean whole-frame MSE of the normal validation clips */
  normalMse: number;
}

/**
 * Scores the validation set with the current parameters (no gradients), in batches of `batch`.
 * Cost: `normal + pseudo` forward passes (about 20 s for 384 clips on one core with tfjs-wasm).
 */
export function validate(params: Params, cfg: SfnConfig, set: ClipSet, vs: ValidationSet, batch = 16): ValidationResult {
  const g = derived(cfg);
  const picks = [...vs.normal, ...vs.pseudo];
  const mse: number[] = [];
  const patch: number[] = [];
  for (let i = 0; i < picks.length; i += batch) {
    const part = picks.slice(i, i + batch);
    const b = makeBatch(set, cfg, part, 'future');
    const rows = part.length * g.tokens;
    const err = tf.tidy(() => {
      const app = tf.tensor2d(b.appearance, [rows, g.appearanceLen]);
      const mot = tf.tensor2d(b.motion, [rows, g.motionLen]);
      const last = tf.tensor2d(b.last, [rows, g.outLen]);
      const target = tf.tensor2d(b.target, [rows, g.outLen]);
      const text = b.text ? tf.tensor2d(b.text, [b.batch, cfg.textDim]) : undefined;
      const f = forward(params, cfg, { appearance: app, motion: mot, last, batch: b.batch, ...(text ? { text } : {}) });
      return tf.mean(tf.squaredDifference(f.pred, target), 1); // [rows] per-token MSE
    });
    const tok = err.dataSync() as Float32Array;
    err.dispose();
    for (let c = 0; c < part.length; c++) {
      let sum = 0;
      let max = 0;
      for (let n = 0; n < g.tokens; n++) {
        const e = tok[c * g.tokens + n]!;
        sum += e;
        if (e > max) max = e;
      }
      mse.push(sum / g.tokens);
      patch.push(max);
    }
  }
  const labels = picks.map((_, i) => (i < vs.normal.length ? 0 : 1));
  const aucMse = rocAuc(mse, labels);
  const aucPatch = rocAuc(patch, labels);
  const normalMse = mse.slice(0, vs.normal.length).reduce((a, b) => a + b, 0) / vs.normal.length;
  const dMse = dPrime(mse, vs.normal.length);
  const dPatch = dPrime(patch, vs.normal.length);
  const gapMse = logGap(mse, vs.normal.length);
  const gapPatch = logGap(patch, vs.normal.length);
  return { separation: (gapMse + gapPatch) / 2, gapMse, gapPatch, dMse, dPatch, aucMse, aucPatch, normalMse };
}

/**
 * Mean log error of the pseudo-anomalous clips (after the first `nNormal`) minus that of the
 * normal ones: the log of how many times larger, in geometric mean, a pseudo-anomaly's error is.
 */
export function logGap(errors: number[], nNormal: number): number {
  const l = errors.map((e) => Math.log(Math.max(e, 1e-12)));
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  return mean(l.slice(nNormal)) - mean(l.slice(0, nNormal));
}

/**
 * d' of log errors: (mean of the pseudo-anomalous - mean of the normal) / pooled standard
 * deviation, with the first `nNormal` values normal. Unlike the AUC it does not saturate when the
 * two sets are already apart (copy-last separates fast motion well), so it still tells how far.
 */
export function dPrime(errors: number[], nNormal: number): number {
  const l = errors.map((e) => Math.log(Math.max(e, 1e-12)));
  const stats = (xs: number[]) => {
    const m = xs.reduce((a, b) => a + b, 0) / xs.length;
    return { m, v: xs.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(1, xs.length - 1) };
  };
  const n = stats(l.slice(0, nNormal));
  const p = stats(l.slice(nNormal));
  return (p.m - n.m) / Math.sqrt((n.v + p.v) / 2 + 1e-12);
}
