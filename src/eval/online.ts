/**
 * `sfn-edge eval --online`: what `run` would emit on a labelled data set. Every test video is
 * played, frame by frame, through run's own loop (runtime/loop.ts, as `run --realtime=false`) and
 * event detector (events/detector.ts), with the scoring run uses for the model (runtime/scoring.ts:
 * its calibration, or the running-baseline fallback). One fresh detector per video: each video is
 * a stream of its own, as after a device restart.
 *
 * Reported:
 * - `micro_auc`: ROC AUC of the smoothed online score over all scored frames of all videos;
 * - `segments`: runs of consecutive frames labelled anomalous; `detected`: segments that overlap
 *   an event that reached `new` (its span start..end, the candidate frames included);
 * - latency: per detected segment, frames from the segment's first frame to the frame at which the
 *   first such event's `new` was emitted (0 when `new` came before the segment started), p50 / p90
 *   (nearest-rank); a segment starting in the first 4 frames counts from its start, so the model's
 *   4-frame context is part of the latency;
 * - `anomalous_frames_in_events`: share of the labelled anomalous frames inside an event's span;
 * - `false_events_per_hour`: events on held-back normal video, the `check` part
 *   (src/train/split.ts) of each normal video, per hour of that video at `fps` frames/s. The check
 *   part is never used to set anything. With a model trained on every frame of the normal videos
 *   the check part is not held back, and the figure is optimistic.
 * - `false_events_test`: events on the test videos whose span holds no anomalous frame.
 */
import { join } from 'node:path';

import { EventDetector, type AnomalyEvent, type DetectorParams } from '../events/detector.js';
import { defaultConfig, type RuntimeConfig } from '../core/runtime-config.js';
import { runLoop } from '../pipeline/loop.js';
import { calibratedParams, onlineScoring, type OnlineScoring, type OnlineScoringOptions } from '../pipeline/scoring.js';
import { rocAuc } from '../scoring/auc.js';
import { calibratePredictor, robustStats, smoothedStats, type CalibrateOptions, type ScoredModel } from '../scoring/calibration.js';
import { DEFAULT_SPLIT, clipTargets, splitVideo, type SplitSpec } from '../core/split.js';
import { channelsOf, type Frame, type FrameSpec } from '../core/frame.js';
import { loadFrameLabels, objectError, testVideoNames } from './evaluate.js';
import { CONTEXT_FRAMES, type Predictor } from '../core/predictor.js';

/** One event as `eval --online` keeps it: span, the frame `new` was emitted at, peak. */
export interface OnlineEvent {
  start: number;
  end: number;
  new_at: number;
  peak: number;
  peak_frame: number;
}

/** Per test video: the online trace and its events. */
export interface OnlineVideo {
  video: string;
  /** labels of every frame */
  labels: number[];
  /** scored frame indices, with their unsmoothed z and smoothed score */
  frames: number[];
  z: number[];
  scores: number[];
  events: OnlineEvent[];
  anomalous: number;
  covered: number;
  /** segments `[start, end]` (inclusive) and the latency of each in frames (null: missed) */
  segments: { start: number; end: number; latency: number | null }[];
}

/**
 * Exact one-sided upper confidence bound on a Poisson mean after observing `k` events: the λ at
 * which P(X <= k; λ) = 1 - conf (Garwood 1936; equal to chi2_{conf}(2k + 2) / 2). Found by
 * bisection on the Poisson CDF, to 1e-9. k = 0, conf 0.95 gives 2.9957 (= -ln 0.05).
 * @throws RangeError for k not a non-negative integer or conf not in (0, 1).
 */
export function poissonUpper(k: number, conf = 0.95): number {
  if (!(Number.isInteger(k) && k >= 0)) throw new RangeError(`events must be a non-negative integer, got ${k}`);
  if (!(conf > 0 && conf < 1)) throw new RangeError(`confidence must be in (0, 1), got ${conf}`);
  const cdf = (lam: number) => {
    let term = Math.exp(-lam);
    let sum = term;
    for (let i = 1; i <= k; i++) sum += (term *= lam / i);
    return sum;
  };
  let lo = 0;
  let hi = k + 10 + 10 * Math.sqrt(k + 1);
  for (let it = 0; it < 200 && hi - lo > 1e-9; it++) {
    const mid = (lo + hi) / 2;
    if (cdf(mid) > 1 - conf) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** The `online` object of `eval --online --json`. */
export interface OnlineSummary {
  micro_auc: number;
  segments: number;
  detected: number;
  latency_frames_p50: number | null;
  latency_frames_p90: number | null;
  anomalous_frames_in_events: number;
  false_events_per_hour: number | null;
  /**
   * One-sided 95 % upper bound on the false-event rate per hour (exact Poisson bound for the
   * events counted in `check_hours`): what the check part can actually vouch for. 0 events in
   * 25 s of video still allows 423 per hour; showing <= 1 per hour needs >= 3 h with none.
   */
  false_events_per_hour_upper95: number | null;
  /** details */
  false_events_check: number | null;
  check_hours: number | null;
  check_frames: number | null;
  false_events_test: number;
  calibrated: boolean;
  measure: string;
  threshold: { on: number; off: number; min_frames: number; confirm: number | null; sigma: number; fpr: number | null };
}

/** Everything {@link evaluateOnline} measured. */
export interface OnlineResult {
  summary: OnlineSummary;
  videos: OnlineVideo[];
}

/** Options of {@link evaluateOnline}. */
export interface OnlineOptions {
  /** runtime configuration (thresholds, smoothing, measure; default the defaults) */
  config?: RuntimeConfig;
  /** normal videos whose `check` part gives the false events per hour (default `<dataset>/training/frames`; null: skip) */
  normal?: string | null;
  /** frame rate of the data set, frames/s (default 10, UCSD) */
  fps?: number;
  /** only these test videos */
  videos?: string[];
  split?: SplitSpec;
  scoring?: OnlineScoringOptions;
  /** frame reader for the check parts (default video/open.ts readAllFrames) */
  readFrames?: (path: string, spec: FrameSpec) => Promise<Float32Array[]>;
  /** test-video frames (default video/open.ts openSource(...).frames()) */
  openFrames?: (path: string, spec: FrameSpec) => Promise<{ frames: AsyncIterable<Frame>; close: () => Promise<void> }>;
  onProgress?: (what: string) => void;
  /**
   * Object-level scoring instead of the configured measure (eval only: the detector costs
   * ~30-50 ms per frame, more than run's budget on a small device): boxes of one frame `[C, H, W]`
   * from the on-device detector, normalised `[x, y, w, h]`. The object error (evaluate.ts
   * objectError) is calibrated here on the `calibration` part of the normal videos (median / MAD,
   * thresholds at `threshold.fpr` as for the other measures).
   */
  objectBoxes?: (frame: Float32Array) => Promise<[number, number, number, number][]>;
  /**
   * Per stream, what run does around the model (a semantic model: the caption feed of
   * runtime/semantic.ts wraps the predictor, taps the frames and gives the per-clip semantic errors).
   */
  wrapStream?: (predictor: Predictor, frames: AsyncIterable<Frame>) => StreamParts;
}

/** The predictor, frames and semantic errors one stream is played with. */
export interface StreamParts {
  predictor: Predictor;
  frames: AsyncIterable<Frame>;
  semanticErrors?: () => ArrayLike<number>;
}

/** Calibrates the object error on the calibration part of `normal` and returns run-like scoring for it. */
async function objectScoring(
  predictor: Predictor,
  manifest: ScoredModel,
  normal: string,
  boxes: NonNullable<OnlineOptions['objectBoxes']>,
  cfg: RuntimeConfig,
  o: OnlineOptions,
): Promise<{ scoring: OnlineScoring; prepare: (frames: Float32Array[]) => Promise<void> }> {
  const { listVideos, readAllFrames } = await import('../video/open.js');
  const read = o.readFrames ?? readAllFrames;
  const spec = predictor.spec;
  const C = channelsOf(spec.color);
  const L = C * spec.width * spec.height;
  const perVideo: number[][] = [];
  for (const v of await listVideos(normal)) {
    const frames = await read(v, spec);
    const ts = clipTargets(splitVideo(frames.length, o.split ?? DEFAULT_SPLIT), 'calibration', CONTEXT_FRAMES);
    const r: number[] = [];
    for (let b = 0; b < ts.length; b += 8) {
      const tt = ts.slice(b, b + 8);
      const clips = new Float32Array(tt.length * CONTEXT_FRAMES * L);
      tt.forEach((t, i) => {
        for (let j = 0; j < CONTEXT_FRAMES; j++) clips.set(frames[t - CONTEXT_FRAMES + j]!, (i * CONTEXT_FRAMES + j) * L);
      });
      const pred = await predictor.predict(clips, tt.length);
      for (const [i, t] of tt.entries()) r.push(objectError(pred.subarray(i * L, (i + 1) * L), frames[t]!, C, spec.height, spec.width, await boxes(frames[t]!)));
    }
    perVideo.push(r);
  }
  const st = robustStats(perVideo.flat());
  const stats = { ...st, ...smoothedStats(perVideo.map((v) => v.map((x) => (x - st.loc) / st.scale)), cfg.smoothing_sigma, 0.01) };
  const known = new Map<Float32Array, [number, number, number, number][]>();
  const scoring: OnlineScoring = {
    calibrated: true,
    detector: (p) => new EventDetector(p, manifest.sha256, undefined, {}),
    error: (pred, target) => (objectError(pred, target, C, spec.height, spec.width, known.get(target) ?? []) - st.loc) / st.scale,
    params: (c) => calibratedParams(c, stats),
  };
  return {
    scoring,
    prepare: async (frames) => {
      known.clear();
      for (const f of frames) known.set(f, await boxes(f));
    },
  };
}

/**
 * A scored-model description for a predictor with no manifest (the copy-last baseline), calibrated
 * as `sfn-edge calibrate` calibrates a model: on the `calibration` part of the normal videos in
 * `normal` (scoring/calibration.ts calibratePredictor), so that `evaluateOnline` scores it with the
 * same thresholds and detector as `run` would a model.
 * @throws Error as calibratePredictor (fewer than 20 calibration clips).
 */
export async function calibratedBaseline(predictor: Predictor, normal: string, o: CalibrateOptions = {}): Promise<ScoredModel> {
  const calibration = await calibratePredictor(predictor, normal, o);
  return { name: predictor.name, sha256: predictor.name, calibration, model: predictor.spec };
}

/** Runs of 1s: `[start, end]` inclusive. */
export function labelSegments(labels: readonly number[]): [number, number][] {
  const out: [number, number][] = [];
  let s = -1;
  labels.forEach((l, i) => {
    if (l === 1 && s < 0) s = i;
    if (l !== 1 && s >= 0) {
      out.push([s, i - 1]);
      s = -1;
    }
  });
  if (s >= 0) out.push([s, labels.length - 1]);
  return out;
}

/** Nearest-rank percentile (q in (0, 1]) of a non-empty list, or null. */
export function percentile(v: readonly number[], q: number): number | null {
  if (v.length === 0) return null;
  const s = [...v].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

/**
 * Plays `frames` through run's loop and a fresh detector; returns the events (with the frame of
 * their `new`) and the per-frame trace.
 */
async function playStream(
  predictor: Predictor,
  scoring: ReturnType<typeof onlineScoring>,
  params: DetectorParams,
  cfg: RuntimeConfig,
  frames: AsyncIterable<Frame>,
  wrap?: OnlineOptions['wrapStream'],
): Promise<{ events: OnlineEvent[]; frames: number[]; z: number[]; scores: number[] }> {
  const detector = scoring.detector(params);
  const parts: StreamParts = wrap ? wrap(predictor, frames) : { predictor, frames };
  const events: OnlineEvent[] = [];
  const newAt = new Map<string, number>();
  const tr = { frames: [] as number[], z: [] as number[], scores: [] as number[] };
  await runLoop({
    frames: parts.frames, predictor: parts.predictor, detector, measure: () => cfg.measure,
    ...(parts.semanticErrors ? { semanticErrors: parts.semanticErrors } : {}), ...(scoring.error ? { error: scoring.error } : {}),
    realtime: false, fps: 10, paceByClock: false, batch: 8,
    onEvent: (e: AnomalyEvent) => {
      if (e.type === 'new') newAt.set(e.id, e.last.frame);
      if (e.type === 'end') events.push({ start: e.start.frame, end: e.end!.frame, new_at: newAt.get(e.id)!, peak: +e.peak.score.toFixed(3), peak_frame: e.peak.frame });
    },
    onScore: (f, raw, s) => {
      tr.frames.push(f);
      tr.z.push(raw);
      tr.scores.push(s);
    },
  });
  return { events, ...tr };
}

/**
 * Replays `run` over the labelled test videos of `dataset` (Ped2 layout) and the check part of
 * its normal videos (see the file comment).
 * @param predictor the model (a semantic model needs `wrapStream` to get its captions, as run feeds them).
 * @param manifest its manifest (calibration, sha256).
 * @throws DatasetError as loadFrameLabels; Error when a video's frame count differs from its labels.
 */
export async function evaluateOnline(predictor: Predictor, manifest: ScoredModel, dataset: string, o: OnlineOptions = {}): Promise<OnlineResult> {
  const cfg = o.config ?? defaultConfig();
  const fps = o.fps ?? 10;
  const normal = o.normal === undefined ? join(dataset, 'training', 'frames') : o.normal;
  const obj = o.objectBoxes ? await objectScoring(predictor, manifest, normal ?? join(dataset, 'training', 'frames'), o.objectBoxes, cfg, o) : null;
  const scoring = obj ? obj.scoring : onlineScoring(manifest, predictor.spec, o.scoring);
  const params = scoring.params(cfg);
  const labels = await loadFrameLabels(dataset);
  const root = join(dataset, 'testing', 'frames');
  const names = o.videos ?? (await testVideoNames(root));
  const { openSource, readAllFrames, listVideos } = await import('../video/open.js');
  const open = o.openFrames ?? (async (p: string, s: FrameSpec) => {
    const src = await openSource(p, s);
    return { frames: src.frames(), close: () => src.close() };
  });
  const videos: OnlineVideo[] = [];
  const allS: number[] = [];
  const allL: number[] = [];
  for (const name of names) {
    const lab = labels.get(name);
    if (!lab) throw new Error(`${join(dataset, 'test_frame_labels.json')}: no labels for video ${name}`);
    const src = await open(join(root, name), predictor.spec);
    let r: Awaited<ReturnType<typeof playStream>>;
    try {
      let frames = src.frames;
      if (obj) {
        const all: Frame[] = [];
        for await (const f of src.frames) all.push(f);
        await obj.prepare(all.map((f) => f.data));
        frames = (async function* () {
          yield* all;
        })();
      }
      r = await playStream(predictor, scoring, params, cfg, frames, o.wrapStream);
    } finally {
      await src.close();
    }
    const last = r.frames.at(-1) ?? -1;
    if (last >= lab.length) throw new Error(`${join(root, name)}: frame ${last} but ${lab.length} labels`);
    r.frames.forEach((f, i) => {
      allS.push(r.scores[i]!);
      allL.push(lab[f]!);
    });
    const inEvent = new Uint8Array(lab.length);
    for (const e of r.events) for (let f = e.start; f <= e.end && f < lab.length; f++) inEvent[f] = 1;
    const segments = labelSegments(lab).map(([s, e]) => {
      const hit = r.events.filter((ev) => ev.start <= e && ev.end >= s).sort((a, b) => a.new_at - b.new_at)[0];
      return { start: s, end: e, latency: hit ? Math.max(0, hit.new_at - s) : null };
    });
    videos.push({
      video: name, labels: lab, ...r, segments,
      anomalous: lab.filter((x) => x === 1).length,
      covered: lab.filter((x, i) => x === 1 && inEvent[i]).length,
    });
    o.onProgress?.(`test video ${name}: ${r.events.length} events`);
  }

  // false events on the held-back normal video (check part)
  let check: { events: number; frames: number } | null = null;
  if (normal) {
    check = { events: 0, frames: 0 };
    const read = o.readFrames ?? readAllFrames;
    for (const v of await listVideos(normal)) {
      const frames = await read(v, predictor.spec);
      const [a, b] = splitVideo(frames.length, o.split ?? DEFAULT_SPLIT).check;
      if (b - a <= 4) continue;
      check.frames += b - a;
      await obj?.prepare(frames.slice(a, b));
      const stream = (async function* () {
        for (let f = a; f < b; f++) yield { index: f, data: frames[f]! };
      })();
      const r = await playStream(predictor, scoring, params, cfg, stream, o.wrapStream);
      check.events += r.events.length;
    }
    o.onProgress?.(`check part of ${normal}: ${check.events} events in ${check.frames} frames`);
  }

  const segs = videos.flatMap((v) => v.segments);
  const lat = segs.flatMap((s) => (s.latency === null ? [] : [s.latency]));
  const anomalous = videos.reduce((a, v) => a + v.anomalous, 0);
  const covered = videos.reduce((a, v) => a + v.covered, 0);
  const hours = check ? check.frames / fps / 3600 : null;
  const r4 = (x: number) => +x.toFixed(4);
  const summary: OnlineSummary = {
    micro_auc: r4(rocAuc(allS, allL)),
    segments: segs.length,
    detected: lat.length,
    latency_frames_p50: percentile(lat, 0.5),
    latency_frames_p90: percentile(lat, 0.9),
    anomalous_frames_in_events: r4(covered / Math.max(1, anomalous)),
    false_events_per_hour: check && hours ? +(check.events / hours).toFixed(2) : null,
    false_events_per_hour_upper95: check && hours ? +(poissonUpper(check.events, 0.95) / hours).toFixed(2) : null,
    false_events_check: check?.events ?? null,
    check_hours: hours === null ? null : r4(hours),
    check_frames: check?.frames ?? null,
    false_events_test: videos.reduce((a, v) => a + v.events.filter((e) => !v.labels.slice(e.start, e.end + 1).includes(1)).length, 0),
    calibrated: scoring.calibrated,
    measure: obj ? 'object' : cfg.measure,
    threshold: { on: params.on, off: params.off, min_frames: params.minFrames, confirm: params.confirm ?? null, sigma: params.sigma, fpr: scoring.calibrated ? cfg.threshold.fpr : null },
  };
  return { summary, videos };
}
