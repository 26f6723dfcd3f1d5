/**
 * Live view: the frames the run loop is scoring, as I420 for WebRTC, optionally with the anomaly
 * region drawn on them. The loop pushes every frame into a `LiveFeed`; it converts a frame only
 * while someone watches, and at most `maxFps` times a second, so the loop pays nothing without
 * viewers and little with them. With a {@link LiveReader} (live-source.ts) the frames are the
 * source's own pixels (capped by `streaming.live_max_height`) and the region is scaled to them;
 * without one, or until it has a frame, they are at the model grid (e.g. 144x96).
 */
import type { FrameSpec } from '../core/frame.js';
import type { Box } from '../pipeline/region.js';
import { scaleBox } from '../pipeline/evidence.js';
import type { LiveReader } from './live-source.js';
import { wrtc, type I420Frame, type MediaTrack, type VideoSource } from './wrtc.js';

export type { Box } from '../pipeline/region.js';
/** The anomaly region of a prediction: moved to pipeline/region.ts (the scored-frame record computes it); kept here for callers of the live view. */
export { anomalyRegion } from '../pipeline/region.js';

/**
 * `[C, H, W]` float32 in [0, 1] (C = 1 gray or 3 RGB) -> an I420 frame cropped to even width and
 * height. Gray maps to luma with neutral chroma; RGB uses BT.601 full-range coefficients.
 * @throws RangeError when `data` is shorter than C*H*W or the grid is smaller than 2x2.
 */
export function toI420(data: Float32Array, spec: FrameSpec): I420Frame {
  const C = spec.color === 'gray' ? 1 : 3;
  const { width: W, height: H } = spec;
  if (W < 2 || H < 2) throw new RangeError(`frame ${W}x${H} is too small for I420 (at least 2x2)`);
  if (data.length < C * W * H) throw new RangeError(`frame data has ${data.length} values, ${C}x${H}x${W} expected`);
  const w = W - (W % 2);
  const h = H - (H % 2);
  if (C === 3) return bt601(data, W, w, h, 1, W * H, 255);
  const out = new Uint8Array(w * h + 2 * (w / 2) * (h / 2));
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[y * w + x] = clamp((data[y * W + x] as number) * 255);
  out.fill(128, w * h);
  return { width: w, height: h, data: out };
}

/**
 * Interleaved 8-bit RGB (`[H, W, 3]`, sharp's `raw` output) -> I420, BT.601 full range, as
 * {@link toI420}. `width` and `height` must be even.
 * @throws RangeError when `rgb` is shorter than width*height*3 or a size is odd.
 */
export function rgbToI420(rgb: Uint8Array, width: number, height: number): I420Frame {
  if (width % 2 || height % 2) throw new RangeError(`I420 needs an even size, got ${width}x${height}`);
  if (rgb.length < width * height * 3) throw new RangeError(`RGB frame has ${rgb.length} bytes, ${width * height * 3} expected for ${width}x${height}`);
  return bt601(rgb, width, width, height, 3, 1, 1);
}

const clamp = (v: number): number => (v < 0 ? 0 : v > 255 ? 255 : Math.round(v));

/**
 * RGB -> I420 (BT.601 full range; chroma from the top-left pixel of each 2x2 block) for the even
 * `w` x `h` top-left part of a frame `W` pixels wide. Pixel i = y*W + x has red at `src[i*step]`,
 * green `plane` values later and blue `2*plane` later (planar: step 1, plane H*W; interleaved:
 * step 3, plane 1), each multiplied by `scale` to reach 0..255.
 */
function bt601(src: ArrayLike<number>, W: number, w: number, h: number, step: number, plane: number, scale: number): I420Frame {
  const out = new Uint8Array(w * h + 2 * (w / 2) * (h / 2));
  const u0 = w * h;
  const v0 = u0 + (w / 2) * (h / 2);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * W + x) * step;
      const r = (src[i] as number) * scale;
      const g = (src[i + plane] as number) * scale;
      const b = (src[i + 2 * plane] as number) * scale;
      out[y * w + x] = clamp(0.299 * r + 0.587 * g + 0.114 * b);
      if (y % 2 === 0 && x % 2 === 0) {
        const j = (y / 2) * (w / 2) + x / 2;
        out[u0 + j] = clamp(128 - 0.168736 * r - 0.331264 * g + 0.5 * b);
        out[v0 + j] = clamp(128 + 0.5 * r - 0.418688 * g - 0.081312 * b);
      }
    }
  }
  return { width: w, height: h, data: out };
}

/** Returns a copy of `f` with a red rectangle outline (2 px) around `box` (clipped to the frame). */
export function drawBox(f: I420Frame, box: Box): I420Frame {
  const out = new Uint8Array(f.data);
  const { width: w, height: h } = f;
  const u0 = w * h;
  const v0 = u0 + (w / 2) * (h / 2);
  const x0 = Math.max(0, box.x - 1);
  const y0 = Math.max(0, box.y - 1);
  const x1 = Math.min(w - 1, box.x + box.w);
  const y1 = Math.min(h - 1, box.y + box.h);
  const paint = (x: number, y: number): void => {
    out[y * w + x] = 82; // red in BT.601: Y 82, U 90, V 240
    const j = (y >> 1) * (w / 2) + (x >> 1);
    out[u0 + j] = 90;
    out[v0 + j] = 240;
  };
  for (let x = x0; x <= x1; x++) for (const y of [y0, y0 + 1, y1 - 1, y1]) if (y >= 0 && y < h) paint(x, y);
  for (let y = y0; y <= y1; y++) for (const x of [x0, x0 + 1, x1 - 1, x1]) if (x >= 0 && x < w) paint(x, y);
  return { width: w, height: h, data: out };
}

/** A live frame as subscribers get it. */
export interface LiveFrame {
  frame: I420Frame;
  /** the anomaly region while an event is active, else null */
  region: Box | null;
}

/** Fans the run loop's frames out to live-view players. */
export class LiveFeed {
  private readonly subs = new Set<{ fn: (f: LiveFrame) => void; overlay: boolean }>();
  private last = Number.NEGATIVE_INFINITY;
  private region: Box | null = null;
  private reader: LiveReader | null = null;
  private reading = false;
  /** frames converted and delivered so far */
  delivered = 0;

  /** @param maxFps most frames per second delivered (the loop may run faster when not realtime). */
  constructor(private maxFps = 15, private readonly clock: () => number = () => performance.now()) {}

  /** Changes the delivery rate limit (frames/s). */
  setMaxFps(fps: number): void {
    this.maxFps = fps;
  }

  /** Whether anyone watches (the loop skips all work otherwise). */
  get watching(): boolean {
    return this.subs.size > 0;
  }

  /** Whether a subscriber wants the anomaly region drawn (the loop computes it only then). */
  get wantsRegion(): boolean {
    for (const s of this.subs) if (s.overlay) return true;
    return false;
  }

  /** Sets the region shown on overlay subscribers' frames (null: none). */
  setRegion(box: Box | null): void {
    this.region = box;
  }

  /**
   * Sets where source-resolution frames come from (null: the model grid). The previous reader is
   * closed. The reader is also closed whenever the last viewer leaves, and restarts on demand.
   */
  setReader(reader: LiveReader | null): void {
    const old = this.reader;
    this.reader = reader;
    if (old && old !== reader) void old.close();
  }

  /**
   * Offers the newest frame (`[C, H, W]` float32 in [0, 1] at grid `spec`, source frame `index`);
   * converted only when watched and due. With a reader, frame `index` is read from the source
   * (one read at a time; a frame due while one is in flight is skipped), and the grid frame is the
   * stand-in while the reader has none.
   */
  push(data: Float32Array, spec: FrameSpec, index?: number): void {
    if (this.subs.size === 0) return;
    const now = this.clock();
    if (now - this.last < 1000 / this.maxFps) return;
    const reader = this.reader;
    if (reader && index !== undefined) {
      if (this.reading) return;
      this.last = now;
      this.reading = true;
      void reader.read(index).catch(() => null).then((f) => {
        this.reading = false;
        if (this.subs.size > 0) this.deliver(f ?? toI420(data, spec), spec);
      });
      return;
    }
    this.last = now;
    this.deliver(toI420(data, spec), spec);
  }

  private deliver(frame: I420Frame, spec: FrameSpec): void {
    this.delivered++;
    const grid = frame.width === spec.width - (spec.width % 2) && frame.height === spec.height - (spec.height % 2);
    const region = this.region && !grid ? scaleBox(this.region, spec, frame) : this.region;
    for (const s of this.subs) s.fn({ frame, region });
  }

  /** Adds a subscriber; returns its removal (the last one out closes the reader's decoder). */
  subscribe(fn: (f: LiveFrame) => void, overlay = false): () => void {
    const s = { fn, overlay };
    this.subs.add(s);
    return () => {
      this.subs.delete(s);
      if (this.subs.size === 0) void this.reader?.close();
    };
  }
}

/** Plays the live feed into its own WebRTC track (same start/stop contract as `ClipPlayer`). */
export class LivePlayer {
  readonly track: MediaTrack;
  private readonly source: VideoSource;
  private unsubscribe: (() => void) | undefined;
  private stopped = false;
  private sent = 0;

  /** @throws Error when WebRTC cannot be loaded. */
  constructor(private readonly feed: LiveFeed, private readonly overlay = false) {
    this.source = new (wrtc().nonstandard.RTCVideoSource)();
    this.track = this.source.createTrack();
  }

  /** Frames pushed to the track so far. */
  get framesSent(): number {
    return this.sent;
  }

  /** Starts forwarding live frames. Idempotent. */
  start(): void {
    if (this.unsubscribe || this.stopped) return;
    this.unsubscribe = this.feed.subscribe(({ frame, region }) => {
      this.source.onFrame(this.overlay && region ? drawBox(frame, region) : frame);
      this.sent++;
    }, this.overlay);
  }

  /** Stops forwarding and ends the track. Idempotent. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.track.stop();
  }
}
