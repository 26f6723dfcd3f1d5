/**
 * How `run` (and `eval --online`, which replays it) scores a model's frames online: with the
 * model's calibration when its manifest has one (scoring/calibration.ts; calibrated z from the
 * first frame, bounded drift), otherwise the running median/MAD baseline of the stream with a
 * warm-up, and a logged warning.
 */
import { EventDetector, type CalibratedMode, type DetectorParams } from '../events/detector.js';
import { CALIBRATION_METHOD, CalibratedScorer, calibrationOf, thresholdAt, type Calibration, type ScoredModel } from '../scoring/calibration.js';
import type { RuntimeConfig } from '../core/runtime-config.js';
import type { ErrorMeasure } from '../scoring/error.js';
import { log } from '../util/log.js';
import type { FrameSpec } from '../core/frame.js';

/**
 * Detector parameters from the runtime configuration, thresholds as given: on, off, and confirm
 * (`threshold.confirm`: a number, raised to `on` when below it; `auto`: on + (on - off), one
 * hysteresis step above `on`; `off`: none).
 */
export function detectorParams(c: RuntimeConfig): DetectorParams {
  const t = c.threshold;
  const confirm = t.confirm === 'off' ? undefined : t.confirm === 'auto' ? t.on + (t.on - t.off) : Math.max(t.on, t.confirm);
  return {
    on: t.on, off: t.off, minFrames: c.min_duration_frames, sigma: c.smoothing_sigma,
    updateEvery: c.update_every_frames, window: c.baseline_window, warmup: Math.min(c.baseline_warmup, c.baseline_window),
    semanticWeight: c.semantic_weight,
    ...(confirm !== undefined ? { confirm } : {}),
  };
}

/**
 * Detector parameters with the thresholds of a calibration's quantile table, when `threshold.fpr`
 * is set (else those of {@link detectorParams}): on = the smoothed score that a share `fpr` of the
 * calibration frames reach, off = that of 10 fpr (at most 0.5; off <= on), and with
 * `confirm: auto` confirm = that of fpr / 10 (at least on). `stats`: the measure's calibration
 * (scoring/calibration.ts `thresholdAt`).
 */
export function calibratedParams(c: RuntimeConfig, stats: Calibration['measures']['mse']): DetectorParams {
  const p = detectorParams(c);
  const fpr = c.threshold.fpr;
  if (fpr === null || fpr === undefined) return p;
  const on = +thresholdAt(stats, fpr).toFixed(4);
  const off = Math.min(on, +thresholdAt(stats, Math.min(0.5, 10 * fpr)).toFixed(4));
  const t = c.threshold.confirm;
  const confirm = t === 'off' ? undefined : t === 'auto' ? Math.max(on, +thresholdAt(stats, fpr / 10).toFixed(4)) : Math.max(on, t);
  const { confirm: _given, ...rest } = p;
  return { ...rest, on, off, ...(confirm !== undefined ? { confirm } : {}) };
}

/** The scoring of one model: a detector factory and the per-frame error the loop feeds it. */
export interface OnlineScoring {
  /** true when the manifest's calibration is used */
  calibrated: boolean;
  /** a new detector (one per stream) with `params` */
  detector(params: DetectorParams): EventDetector;
  /**
   * Detector parameters from the configuration: events/detector params of
   * {@link detectorParams}, with on/off/confirm from the calibration when it is used and
   * `threshold.fpr` is set ({@link calibratedParams}).
   */
  params(c: RuntimeConfig): DetectorParams;
  /** the loop's per-frame error (pipeline/loop.ts `error`): the calibrated z, or undefined for the raw measure */
  error?: (pred: Float32Array, target: Float32Array, measure: ErrorMeasure) => number;
}

/** Options of {@link onlineScoring}. */
export interface OnlineScoringOptions {
  /** ignore the calibration (the running baseline, as before calibration existed) */
  uncalibrated?: boolean;
  /** drift of the calibrated location (events/baseline.ts CalibratedBaseline; `rate: 0` = none) */
  drift?: CalibratedMode['drift'];
  /** log the fallback warning (default true) */
  warn?: boolean;
}

/**
 * The online scoring of the model described by `manifest` at grid `spec`.
 * Without a (fitting) calibration it warns once: 'model has no calibration ...'.
 */
export function onlineScoring(manifest: ScoredModel, spec: FrameSpec, o: OnlineScoringOptions = {}): OnlineScoring {
  const cal = o.uncalibrated ? null : calibrationOf(manifest);
  if (!cal) {
    if (!o.uncalibrated && (o.warn ?? true))
      log.warn(
        { model: manifest.name },
        `model has no calibration${!manifest.calibration ? '' : manifest.calibration.method !== CALIBRATION_METHOD ? ` of the method this version reads (${manifest.calibration.method}, not ${CALIBRATION_METHOD})` : ' that fits its grid'}: scoring against a running baseline of the stream (needs a warm-up, and a stream that opens with an anomaly learns it as normal); run 'sfn-edge calibrate --model <m.onnx> --data <normal videos>'`,
      );
    return { calibrated: false, detector: (p) => new EventDetector(p, manifest.sha256), params: detectorParams };
  }
  const scorer = new CalibratedScorer(cal, spec);
  const sem = cal.semantic;
  const mode: CalibratedMode = { ...(o.drift ? { drift: o.drift } : {}), ...(sem ? { semantic: { loc: sem.loc, scale: sem.scale } } : {}) };
  return {
    calibrated: true,
    detector: (p) => new EventDetector(p, manifest.sha256, undefined, mode),
    error: (pred, target, measure) => scorer.z(pred, target, measure),
    // a semantic calibration's thresholds are those of z_frame + w z_text, for the w it was made with
    params: (c) => calibratedParams(c, sem && sem.weight === c.semantic_weight ? sem.measures[c.measure] : cal.measures[c.measure]),
  };
}

/** What run logs about a calibrated model: where the calibration came from and its threshold at the false-alarm rate. */
export function calibrationLine(m: ScoredModel, measure: ErrorMeasure): Record<string, unknown> {
  const c = m.calibration;
  if (!c) return {};
  const s = c.measures[measure];
  return { model: m.name, data: c.data, part: c.part, frames: c.frames, measure, fpr: c.fpr, on_at_fpr: s.on_at_fpr, max_on_calibration: s.max };
}
