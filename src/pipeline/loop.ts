/**
 * The run loop: frames -> sliding clip of 4 past frames -> predictor -> per-frame error -> event
 * detector -> lifecycle messages. Every frame that arrives, every scored frame (one record: index,
 * time, pixels, prediction, region, scores) and every lifecycle message go to the `listeners`
 * (record.ts): the frame ring, the clip recorder (listeners.ts), the live view, the caption
 * scheduler, the semantic feed.
 *
 * Two pacing modes:
 * - as fast as possible (`realtime: false`): every frame is scored, clips go to the predictor in
 *   batches of up to `batch`; nothing is dropped.
 * - realtime: frames are taken at the source rate (`fps`; a file or folder is paced by the wall
 *   clock, a live source paces itself); one inference runs at a time and a frame that arrives while
 *   the model is busy waits in a single "latest" slot: a newer frame replaces it and the replaced one
 *   is counted as skipped. So a slow model drops frames on purpose instead of growing a queue. Every
 *   frame still enters the context window and the clip ring; only its scoring is skipped.
 */
import { CONTEXT_FRAMES, type Predictor } from '../core/predictor.js';
import type { AnomalyEvent, EventDetector } from '../events/detector.js';
import { frameError, pickError } from '../events/score.js';
import type { ErrorMeasure } from '../scoring/error.js';
import { channelsOf, type Frame } from '../core/frame.js';
import { arrivedFrame, scoredFrame, type FrameListener } from './record.js';

/** Counters of a run (also what `stats` reports). */
export interface LoopCounters {
  /** frames read from the source */
  frames: number;
  /** frames scored by the model */
  scored: number;
  /** frames not scored because the model was busy (realtime only) */
  skipped: number;
  /** lifecycle messages emitted, and events started */
  messages: number;
  events: number;
  /** total model time in ms (predict calls), and calls */
  inferenceMs: number;
  inferenceCalls: number;
}

/** Inputs of {@link runLoop}. */
export interface LoopOptions {
  frames: AsyncIterable<Frame>;
  predictor: Predictor;
  detector: EventDetector;
  /** the error measure in force (read per frame, so config changes apply at once) */
  measure: () => ErrorMeasure;
  /**
   * The per-frame error the detector gets from a prediction `[C, H, W]` and its target: default
   * the raw measure (events/score.ts); a calibrated model passes its CalibratedScorer's z.
   */
  error?: (pred: Float32Array, target: Float32Array, measure: ErrorMeasure) => number;
  realtime: boolean;
  /** source frame rate, frames/s (pacing of files in realtime mode, clip playback) */
  fps: number;
  /** pace frames by the wall clock in realtime mode (files/folders; live sources pace themselves) */
  paceByClock: boolean;
  /** clips per predict call when not realtime (default 4) */
  batch?: number;
  /** get every frame, every scored frame's record and every lifecycle message, in list order (record.ts) */
  listeners?: readonly FrameListener[];
  /** receives every lifecycle message, in order, after the listeners (so `clip: {recording: true}` is set while a clip is recorded) */
  onEvent: (e: AnomalyEvent) => void;
  /** receives every scored frame's score (for traces, online AUC measurements) */
  onScore?: (frame: number, raw: number, score: number) => void;
  /** a semantic model's per-clip semantic errors of the last predict call (pipeline/semantic.ts), fed to the detector */
  semanticErrors?: () => ArrayLike<number>;
  /** stop early when aborted */
  signal?: AbortSignal;
  counters?: LoopCounters;
  /** wall clock (default `() => new Date()`) */
  now?: () => Date;
}

interface Job {
  frame: number;
  time: Date;
  clip: Float32Array;
  target: Float32Array;
}

/** Fresh counters. */
export function newCounters(): LoopCounters {
  return { frames: 0, scored: 0, skipped: 0, messages: 0, events: 0, inferenceMs: 0, inferenceCalls: 0 };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Runs until the frames end (or `signal` aborts), then ends any open event (`end`, reason
 * `stream-end`) and finishes clip recordings.
 * @returns the counters.
 * @throws whatever the frame iterator or the predictor throws (the caller decides about reconnecting).
 */
export async function runLoop(o: LoopOptions): Promise<LoopCounters> {
  const c = o.counters ?? newCounters();
  const spec = o.predictor.spec;
  const frameLen = channelsOf(spec.color) * spec.width * spec.height;
  const now = o.now ?? (() => new Date());
  const ctx: Float32Array[] = [];
  const batch: Job[] = [];
  const maxBatch = o.realtime ? 1 : Math.max(1, Math.min(o.batch ?? 4, o.predictor.batchSize));
  let inflight: Promise<void> | null = null;
  let pending: Job | null = null;
  let failure: unknown = null;
  const listeners = o.listeners ?? [];
  const onFrame = listeners.filter((l) => l.frame);
  const onScored = listeners.filter((l) => l.scored);
  const onEvent = listeners.filter((l) => l.event);

  const emit = (e: AnomalyEvent): void => {
    c.messages += 1;
    if (e.type === 'new') c.events += 1;
    for (const l of onEvent) l.event!(e);
    o.onEvent(e);
  };

  const score = async (jobs: Job[]): Promise<void> => {
    const clips = new Float32Array(jobs.length * CONTEXT_FRAMES * frameLen);
    jobs.forEach((j, i) => clips.set(j.clip, i * CONTEXT_FRAMES * frameLen));
    const t0 = performance.now();
    const pred = await o.predictor.predict(clips, jobs.length);
    c.inferenceMs += performance.now() - t0;
    c.inferenceCalls += 1;
    const measure = o.measure();
    const sem = o.semanticErrors?.();
    jobs.forEach((j, i) => {
      const p = pred.subarray(i * frameLen, (i + 1) * frameLen);
      const raw = o.error ? o.error(p, j.target, measure) : pickError(frameError(p, j.target, spec), measure);
      const step = o.detector.push(j.frame, j.time, raw, sem && sem.length === jobs.length ? sem[i] : undefined);
      c.scored += 1;
      o.onScore?.(j.frame, raw, step.score);
      if (onScored.length) {
        const r = scoredFrame({ index: j.frame, time: j.time, pixels: j.target, prediction: p, raw, score: step.score, inEvent: o.detector.inEvent }, spec);
        for (const l of onScored) l.scored!(r);
      }
      for (const e of step.events) emit(e);
    });
  };

  const startRealtime = (job: Job): void => {
    inflight = (async () => {
      let next: Job | null = job;
      while (next) {
        try {
          await score([next]);
        } catch (err) {
          failure = err;
          pending = null;
          return;
        }
        next = pending;
        pending = null;
      }
    })().finally(() => {
      inflight = null;
    });
  };

  const t0 = Date.now();
  let first: number | null = null;
  for await (const f of o.frames) {
    if (o.signal?.aborted) break;
    if (failure) throw failure;
    if (o.realtime && o.paceByClock) {
      first ??= f.index;
      const due = t0 + ((f.index - first) * 1000) / o.fps;
      const wait = due - Date.now();
      if (wait > 0) await sleep(wait);
    }
    const time = now();
    c.frames += 1;
    if (onFrame.length) {
      const a = arrivedFrame(f.index, time, f.data, spec);
      for (const l of onFrame) {
        const w = l.frame!(a);
        if (w) await w;
      }
    }
    ctx.push(f.data);
    if (ctx.length > CONTEXT_FRAMES + 1) ctx.shift();
    if (ctx.length < CONTEXT_FRAMES + 1) continue;
    const clip = new Float32Array(CONTEXT_FRAMES * frameLen);
    for (let k = 0; k < CONTEXT_FRAMES; k++) clip.set(ctx[k]!, k * frameLen);
    const job: Job = { frame: f.index, time, clip, target: f.data };
    if (!o.realtime) {
      batch.push(job);
      if (batch.length >= maxBatch) await score(batch.splice(0));
    } else if (inflight) {
      if (pending) c.skipped += 1;
      pending = job;
    } else {
      startRealtime(job);
    }
  }
  if (batch.length) await score(batch.splice(0));
  while (inflight) await inflight;
  if (failure) throw failure;
  for (const e of o.detector.finish()) emit(e);
  return c;
}
