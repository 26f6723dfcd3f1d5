/**
 * Listeners of a camera's run loop (pipeline/record.ts) that feed the outputs of the runtime: the
 * live view (every frame, and the anomaly region while an event is active, for viewers that want
 * it drawn) and the caption scheduler's anomaly regions (normalised boxes of recent scored frames).
 */
import type { Box as CaptionBox } from '../caption/detector.js';
import type { FrameSpec } from '../core/frame.js';
import type { FrameListener } from '../pipeline/record.js';
import type { LiveFeed } from '../webrtc/live.js';

/** Scored frames whose region the caption scheduler keeps (older ones are dropped). */
export const KEPT_REGIONS = 256;

/** Pushes every frame to the live view; sets its region from each scored frame while a viewer wants it drawn. */
export function liveViewListener(live: LiveFeed, spec: FrameSpec): FrameListener {
  return {
    frame: (f) => live.push(f.data, spec, f.index),
    scored: (r) => {
      if (live.wantsRegion) live.setRegion(r.inEvent ? r.region() : null);
    },
  };
}

/** Keeps the normalised anomaly box (x, y, w, h in [0, 1]) of the last {@link KEPT_REGIONS} scored frames in `regions`, by frame index. */
export function captionRegionListener(regions: Map<number, CaptionBox>, spec: FrameSpec): FrameListener {
  return {
    scored: (r) => {
      const b = r.region();
      regions.set(r.index, [b.x / spec.width, b.y / spec.height, b.w / spec.width, b.h / spec.height]);
      regions.delete(r.index - KEPT_REGIONS);
    },
  };
}
