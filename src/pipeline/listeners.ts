/**
 * The evidence listeners of the run loop (record.ts): the frame ring (pre-roll, snapshots, event
 * captions) and the clip recorder, which also marks the lifecycle messages of a recorded event
 * with `clip: {recording: true}`.
 */
import type { AnomalyEvent } from '../events/detector.js';
import type { ClipRecorder, FrameRing } from './clips.js';
import type { FrameListener } from './record.js';

/** Keeps every arriving frame in `ring`. */
export function ringListener(ring: FrameRing): FrameListener {
  return { frame: (f) => ring.push(f.stored()) };
}

/**
 * Feeds every arriving frame to `recorder`, starts a clip at each event's `new` (when clips are
 * enabled), marks its peak on `update` and stops it at `end`; the messages of a recorded event get
 * `clip: {recording: true}` (the clip itself is announced once written, clips.ts `onWritten`).
 */
export function recorderListener(recorder: ClipRecorder): FrameListener {
  const open = new Set<string>();
  return {
    frame: (f) => recorder.frame(f.stored()),
    scored: (r) => recorder.scored(r.index, () => r.region()),
    event: (e: AnomalyEvent) => {
      if (e.type === 'new') {
        if (!recorder.enabled) return;
        recorder.start(e.id, e.start.frame, new Date(e.start.time));
        open.add(e.id);
        e.clip = { recording: true };
      } else if (open.has(e.id)) {
        e.clip = { recording: true };
        if (e.type === 'end') {
          recorder.stop(e.id, e.end?.frame ?? e.last.frame, e.peak.frame);
          open.delete(e.id);
        } else recorder.peak(e.id, e.peak.frame);
      }
    },
  };
}
