/**
 * What the run loop hands out (issue 14, part 4): every frame that arrives, and for every scored
 * frame one {@link ScoredFrame} record, go to a list of {@link FrameListener}s (the frame ring, the
 * clip recorder, the live view, the caption scheduler, the semantic feed, stats). This replaces the
 * side channel that carried predictions back out of the predictor and the recomputation of the
 * anomaly region in the runtime: the region is computed from the record, once, by the first
 * listener that asks for it.
 */
import type { AnomalyEvent } from '../events/detector.js';
import type { FrameSpec } from '../core/frame.js';
import { anomalyRegion, type Box } from './region.js';
import { toInterleavedU8, type StoredFrame } from './clips.js';

/** A frame as it arrives, before scoring (every frame, scored or skipped). */
export interface ArrivedFrame {
  index: number;
  /** wall-clock time it was taken */
  time: Date;
  /** `[C, H, W]` float32 in [0, 1] at the model grid */
  data: Float32Array;
  /** the frame as the ring and the clip recorder keep it (HWC uint8); made once, on first call */
  stored(): StoredFrame;
}

/** One scored frame. */
export interface ScoredFrame {
  index: number;
  time: Date;
  /** the frame `[C, H, W]` float32 (the prediction's target) */
  pixels: Float32Array;
  /** the model's prediction of it, `[C, H, W]` float32 (a view into the batch's output) */
  prediction: Float32Array;
  /** the per-frame error the detector got (raw measure, or a calibrated model's z) */
  raw: number;
  /** the detector's smoothed score */
  score: number;
  /** whether an event is active after this frame */
  inEvent: boolean;
  /** the window (model-grid px) where the prediction error is largest; computed on first call */
  region(): Box;
}

/**
 * A listener of the run loop. Every method is optional; `frame` may return a promise, which the
 * loop awaits before the frame is scored (the semantic feed waits for its caption that way).
 */
export interface FrameListener {
  frame?(f: ArrivedFrame): void | Promise<void>;
  scored?(r: ScoredFrame): void;
  /** each lifecycle message, in order, before the caller's `onEvent` (the recorder marks `clip` on it) */
  event?(e: AnomalyEvent): void;
}

/** An {@link ArrivedFrame} whose stored copy is made at most once. */
export function arrivedFrame(index: number, time: Date, data: Float32Array, spec: FrameSpec): ArrivedFrame {
  let s: StoredFrame | null = null;
  return { index, time, data, stored: () => (s ??= { index, time, pixels: toInterleavedU8(data, spec) }) };
}

/** A {@link ScoredFrame} whose region is computed at most once. */
export function scoredFrame(r: Omit<ScoredFrame, 'region'>, spec: FrameSpec): ScoredFrame {
  let box: Box | null = null;
  return { ...r, region: () => (box ??= anomalyRegion(r.prediction, r.pixels, spec)) };
}
