/**
 * The event state machine: raw per-frame errors in, anomaly events with a `new` / `update` / `end`
 * lifecycle out. Pure (no I/O, no clock): the caller passes each frame's index and time.
 *
 * Per sample t (frame index f_t, time T_t, raw error e_t, optional semantic error u_t):
 *   1. z_t = RunningBaseline.normalise(e_t)            robust z-score (see baseline.ts)
 *      with a semantic model: z_t += w RunningBaseline'.normalise(u_t), the semantic error
 *      `1 - cos(text, text_pred)` normalised against its own baseline (its calibrated median and
 *      scale when the calibration has them, CalibratedMode.semantic) and weighted
 *      `w = semanticWeight` (0.2 by default: the seed paper's Ped2 weight in the authors' eval.py).
 *      Added, not mixed: the thresholds stay in frame-error z units. The convex mix
 *      (1 - w) z_frame + w z_sem of the offline protocol shrank the frame term and lost events
 *      (README, "The online score of `run`").
 *   2. s_t = CausalGaussianSmoother(sigma).push(z_t)   causal half-Gaussian (scoring/smoothing.ts)
 *   3. hysteresis:
 *      idle      -> candidate when s_t >= on: the candidate starts where the score rose above `off`,
 *                             the first frame of the run of frames >= off that leads to the crossing
 *                             (at most {@link MAX_RISE} frames back), so an event spans its rising
 *                             edge as it spans its falling edge (end = last frame >= off)
 *      candidate -> idle      when s_t < off (dropped silently)
 *      candidate -> active    when f_t - f_on + 1 >= minFrames (f_on: the frame that crossed `on`),
 *                             or at once when s_t >= confirm (fast confirmation of a strong
 *                             anomaly, `confirm` >= on; unset = off)              => emit `new`
 *      active    -> active    every `updateEvery` frames          => emit `update`
 *      active    -> idle      when s_t < off                      => emit `end` (end = last frame >= off)
 *      finish()  while active                                     => emit `end` (reason `stream-end`)
 *   4. e_t (and u_t) are added to the baselines only while idle and s_t < off: frames of candidates and events,
 *      and idle frames in the hysteresis band [off, on), are kept out, so a slowly rising anomaly
 *      never becomes the new normal.
 * Durations count frame indices, so frames dropped by a realtime loop still count as elapsed time.
 */
import { randomUUID } from 'node:crypto';
import { CausalGaussianSmoother } from '../scoring/smoothing.js';
import { CalibratedBaseline, RunningBaseline, type CalibratedBaselineOptions } from './baseline.js';

/** Lifecycle stages of an event message. */
export const EVENT_TYPES = ['new', 'update', 'end'] as const;
/** `new` | `update` | `end`. */
export type EventType = (typeof EVENT_TYPES)[number];

/** A frame position: 0-based source frame index and its wall-clock time (ISO 8601, UTC). */
export interface FrameStamp {
  frame: number;
  time: string;
}

/** One event lifecycle message (JSON on `sfn/<device>/events`). Scores are smoothed z-scores. */
export interface AnomalyEvent {
  type: EventType;
  /** stable for all messages of one event (UUID v4) */
  id: string;
  /** 0 for `new`, then 1, 2, ... per message of this event */
  seq: number;
  start: FrameStamp;
  /** the last frame at or above `off` so far (`new`/`update`), or the event's end (`end`) */
  last: FrameStamp;
  /** set on `end` only */
  end: FrameStamp | null;
  peak: { score: number; frame: number; time: string };
  /** mean smoothed score over the event's scored frames */
  mean: number;
  /** scored frames in the event so far */
  frames: number;
  threshold: { on: number; off: number; min_frames: number; confirm: number | null };
  model_sha256: string;
  /** `[frame, score]` pairs of the event's scored frames (scores rounded to 1e-4), at most `maxTrace` */
  trace: [number, number][];
  /** why the event ended (`end` only) */
  reason?: 'below-threshold' | 'stream-end';
  /**
   * Set by the runtime on every message of an event that is being recorded: a clip is on its way.
   * No file is named here, since none is complete yet; `events/<id>/clip` announces the clip and
   * snapshot once both files are closed (runtime/clips.ts, README "MQTT topics").
   */
  clip?: { recording: true };
}

/** Parameters of {@link EventDetector}; all can be changed at run time with `configure`. */
export interface DetectorParams {
  /** start threshold on the smoothed score (z units) */
  on: number;
  /** stop threshold (<= on): hysteresis */
  off: number;
  /** frames from the `on` crossing before `new` is emitted (>= 1) */
  minFrames: number;
  /**
   * fast confirmation (>= on; z units): a candidate whose smoothed score reaches this becomes an
   * event at once, without waiting `minFrames`. Unset: no fast confirmation.
   */
  confirm?: number;
  /** causal smoothing sigma in frames (0 = none) */
  sigma: number;
  /** frames between `update` messages (>= 1) */
  updateEvery: number;
  /** baseline window and warm-up, in frames */
  window: number;
  warmup: number;
  /** cap on the trace length (the first `maxTrace` samples are kept); default 3000 */
  maxTrace?: number;
  /** weight w in [0, 1] of the semantic error's z-score, added to the frame error's, when `push` gets one (default 0.2) */
  semanticWeight?: number;
}

/**
 * A calibrated detector (a model whose manifest holds a calibration, scoring/calibration.ts): the
 * errors pushed are already calibrated z-scores (CalibratedScorer.z), normalised against loc 0,
 * scale 1 from the first frame, with the bounded drift of {@link CalibratedBaseline}.
 */
export interface CalibratedMode {
  /** drift options (loc and scale are 0 and 1); `rate: 0` turns the drift off */
  drift?: Omit<CalibratedBaselineOptions, 'loc' | 'scale'>;
  /**
   * A semantic model calibrated with its text error (the calibration's `semantic`): the text
   * error's median and scale on normal video. Its z then counts from the first frame, with the
   * same bounded drift, instead of against a running baseline that needs a warm-up.
   */
  semantic?: { loc: number; scale: number };
}

/** Default weight of the semantic error in the online score (the seed paper's Ped2 weight). */
export const DEFAULT_SEMANTIC_WEIGHT = 0.2;

/** What {@link EventDetector.push} returns for one sample. */
export interface DetectorStep {
  /** normalised (z) score before smoothing */
  z: number;
  /** smoothed score, compared with the thresholds */
  score: number;
  state: 'idle' | 'candidate' | 'active';
  /** lifecycle messages this sample produced (0 or 1) */
  events: AnomalyEvent[];
}

interface Open {
  id: string;
  seq: number;
  start: FrameStamp;
  last: FrameStamp;
  peak: { score: number; frame: number; time: string };
  sum: number;
  n: number;
  trace: [number, number][];
  lastUpdateFrame: number;
  /** the frame whose score crossed `on` (minFrames counts from it) */
  onFrame: number;
}

/** Most frames an event's start is back-dated to where its score rose above `off`. */
export const MAX_RISE = 300;

/** Checks detector parameters. @throws RangeError naming the bad parameter. */
export function checkParams(p: DetectorParams): void {
  if (!(Number.isFinite(p.on) && Number.isFinite(p.off) && p.off <= p.on)) throw new RangeError(`thresholds need off <= on, got on=${p.on} off=${p.off}`);
  if (!(Number.isInteger(p.minFrames) && p.minFrames >= 1)) throw new RangeError(`minFrames must be an integer >= 1, got ${p.minFrames}`);
  if (p.confirm !== undefined && !(Number.isFinite(p.confirm) && p.confirm >= p.on)) throw new RangeError(`confirm must be >= on, got confirm=${p.confirm} on=${p.on}`);
  if (!(Number.isFinite(p.sigma) && p.sigma >= 0)) throw new RangeError(`sigma must be >= 0, got ${p.sigma}`);
  if (!(Number.isInteger(p.updateEvery) && p.updateEvery >= 1)) throw new RangeError(`updateEvery must be an integer >= 1, got ${p.updateEvery}`);
  const w = p.semanticWeight ?? DEFAULT_SEMANTIC_WEIGHT;
  if (!(Number.isFinite(w) && w >= 0 && w <= 1)) throw new RangeError(`semanticWeight must be in [0, 1], got ${w}`);
}

/** Streaming event detector (see the file comment for the state machine and formulas). */
export class EventDetector {
  private params: DetectorParams;
  private baseline: RunningBaseline | CalibratedBaseline;
  /** baseline of the semantic error (semantic models only) */
  private semBaseline: RunningBaseline | CalibratedBaseline;
  private smoother: CausalGaussianSmoother;
  private open: Open | null = null;
  private active = false;
  /** idle frames at or above `off` since the score last fell below it (the rising edge) */
  private rise: { stamp: FrameStamp; score: number }[] = [];

  /**
   * @param params thresholds, durations, smoothing and baseline sizes.
   * @param modelSha256 copied into every event.
   * @param newId id generator (default `crypto.randomUUID`), replaceable for tests.
   * @param calibrated set for a calibrated model: errors are calibrated z-scores, scored from the
   *   first frame (no warm-up; `window`/`warmup` then only apply to the semantic baseline).
   * @throws RangeError for invalid parameters.
   */
  constructor(params: DetectorParams, private readonly modelSha256: string, private readonly newId: () => string = randomUUID, readonly calibrated?: CalibratedMode) {
    checkParams(params);
    this.params = { ...params };
    this.baseline = calibrated
      ? new CalibratedBaseline({ loc: 0, scale: 1, ...calibrated.drift })
      : new RunningBaseline({ window: params.window, warmup: Math.min(params.warmup, params.window) });
    this.semBaseline = calibrated?.semantic
      ? new CalibratedBaseline({ ...calibrated.semantic, ...calibrated.drift })
      : new RunningBaseline({ window: params.window, warmup: Math.min(params.warmup, params.window) });
    this.smoother = new CausalGaussianSmoother(params.sigma);
  }

  /** The parameters in force. */
  get current(): Readonly<DetectorParams> {
    return this.params;
  }

  /** True while an event is active (after `new`, before `end`). */
  get inEvent(): boolean {
    return this.active;
  }

  /**
   * Applies new parameters without losing state: thresholds and durations take effect on the next
   * sample; a new sigma restarts the smoother; a new window/warm-up rebuilds the baseline from the
   * newest values it held. @throws RangeError for invalid parameters (nothing changes then).
   */
  configure(next: DetectorParams): void {
    checkParams(next);
    const prev = this.params;
    this.params = { ...next };
    if (next.sigma !== prev.sigma) this.smoother = new CausalGaussianSmoother(next.sigma);
    if (next.window !== prev.window || next.warmup !== prev.warmup) {
      const rebuild = (old: RunningBaseline): RunningBaseline => {
        const b = new RunningBaseline({ window: next.window, warmup: Math.min(next.warmup, next.window) });
        for (const v of old.snapshot()) b.add(v);
        return b;
      };
      if (this.baseline instanceof RunningBaseline) this.baseline = rebuild(this.baseline);
      if (this.semBaseline instanceof RunningBaseline) this.semBaseline = rebuild(this.semBaseline);
    }
  }

  /**
   * Feeds one scored frame.
   * @param frame 0-based source frame index (increasing; gaps allowed).
   * @param time wall-clock time of the frame.
   * @param error raw per-frame error (any unit; e.g. patch-max MSE), or for a calibrated detector
   *   the calibrated z (CalibratedScorer.z).
   * @param semantic a semantic model's error `1 - cos(text, text_pred)` of the same clip, in [0, 2]
   *   (omit for frame-only models): its z-score is added with weight `semanticWeight`.
   */
  push(frame: number, time: Date, error: number, semantic?: number): DetectorStep {
    const p = this.params;
    const w = p.semanticWeight ?? DEFAULT_SEMANTIC_WEIGHT;
    const withSem = semantic !== undefined && Number.isFinite(semantic) && w > 0;
    const zFrame = this.baseline.normalise(error);
    // until the semantic baseline has warmed up, the frame error alone
    const z = withSem && this.semBaseline.ready ? zFrame + w * this.semBaseline.normalise(semantic) : zFrame;
    const addNormal = (): void => {
      this.baseline.add(error);
      if (withSem) this.semBaseline.add(semantic);
    };
    const score = this.smoother.push(z);
    const stamp: FrameStamp = { frame, time: time.toISOString() };
    const events: AnomalyEvent[] = [];
    const o = this.open;
    if (!o) {
      if (this.baseline.ready && score >= p.on) {
        const first = this.rise[0]?.stamp ?? stamp;
        const n: Open = { id: '', seq: 0, start: first, last: first, peak: { score: -Infinity, frame, time: stamp.time }, sum: 0, n: 0, trace: [], lastUpdateFrame: frame, onFrame: frame };
        for (const r of this.rise) this.accumulate(n, r.stamp, r.score);
        this.rise = [];
        this.open = n;
        this.accumulate(n, stamp, score);
        this.promoteIfReady(n, frame, score, events);
      } else if (score < p.off || !this.baseline.ready) {
        this.rise = [];
        addNormal();
      } else {
        this.rise.push({ stamp, score });
        if (this.rise.length > MAX_RISE) this.rise.shift();
      }
    } else if (score < p.off) {
      if (this.active) events.push(this.message(o, 'end', o.last, 'below-threshold'));
      addNormal();
      this.open = null;
      this.active = false;
    } else {
      this.accumulate(o, stamp, score);
      if (!this.active) this.promoteIfReady(o, frame, score, events);
      else if (frame - o.lastUpdateFrame >= p.updateEvery) {
        o.lastUpdateFrame = frame;
        events.push(this.message(o, 'update'));
      }
    }
    return { z, score, state: this.open ? (this.active ? 'active' : 'candidate') : 'idle', events };
  }

  /**
   * Seeds the baseline with raw errors of known-normal frames (e.g. from the camera's normal
   * training video), so that scores are produced from the first frame and a
   * stream that starts with an anomaly is still compared with normal. Later normal frames push the
   * seeds out of the window as usual. A calibrated detector ignores seeds (it is calibrated already).
   */
  seed(errors: readonly number[]): void {
    if (this.calibrated) return;
    for (const e of errors) this.baseline.add(e);
  }

  /** Ends the stream: an active event gets its `end` (reason `stream-end`); a candidate is dropped. */
  finish(): AnomalyEvent[] {
    const o = this.open;
    const out = o && this.active ? [this.message(o, 'end', o.last, 'stream-end')] : [];
    this.open = null;
    this.active = false;
    this.rise = [];
    return out;
  }

  private accumulate(o: Open, stamp: FrameStamp, score: number): void {
    o.last = stamp;
    o.sum += score;
    o.n += 1;
    if (o.trace.length < (this.params.maxTrace ?? 3000)) o.trace.push([stamp.frame, Math.round(score * 1e4) / 1e4]);
    if (score > o.peak.score) o.peak = { score, frame: stamp.frame, time: stamp.time };
  }

  private promoteIfReady(o: Open, frame: number, score: number, events: AnomalyEvent[]): void {
    const p = this.params;
    if (frame - o.onFrame + 1 < p.minFrames && !(p.confirm !== undefined && score >= p.confirm)) return;
    this.active = true;
    o.id = this.newId();
    o.lastUpdateFrame = frame;
    events.push(this.message(o, 'new'));
  }

  private message(o: Open, type: EventType, end?: FrameStamp, reason?: AnomalyEvent['reason']): AnomalyEvent {
    const p = this.params;
    const m: AnomalyEvent = {
      type, id: o.id, seq: o.seq++, start: o.start, last: o.last, end: end ?? null,
      peak: { ...o.peak }, mean: o.n > 0 ? o.sum / o.n : 0, frames: o.n,
      threshold: { on: p.on, off: p.off, min_frames: p.minFrames, confirm: p.confirm ?? null }, model_sha256: this.modelSha256,
      trace: o.trace.slice(),
    };
    if (reason) m.reason = reason;
    return m;
  }
}
