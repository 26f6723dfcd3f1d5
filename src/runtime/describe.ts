/**
 * Event captions on the device: when an event starts and when it ends, its frame (start) or peak
 * frame (end) is captioned by the caption worker (off the frame loop, src/caption/worker.ts) with
 * the anomaly region from the error map, and the caption goes out as a separate enrichment message
 * on `sfn/<device>/events/<id>/description` (so a slow caption never delays the event itself) and
 * is stored beside the event's clip as `<clip stem>.caption.json`.
 *
 * The peak frame may leave the frame ring before the event ends, so each time an event message
 * reports a new peak, that frame and the one before it are copied from the ring.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

import type { CaptionResult } from '../caption/captioner.js';
import type { Box } from '../caption/detector.js';
import type { StructuredCaption } from '../caption/describe.js';
import type { CaptionWorker } from '../caption/worker.js';
import type { AnomalyEvent } from '../events/detector.js';
import { log } from '../util/log.js';
import { interleavedToPlanar } from '../video/pixels.js';
import { channelsOf, type FrameSpec } from '../core/frame.js';
import type { StoredFrame } from '../pipeline/clips.js';

/** The payload of `events/<id>/description`. */
export interface EventDescription {
  event_id: string;
  /** 'start': the event's first frame; 'peak': its highest-scored frame, sent when it ends */
  stage: 'start' | 'peak';
  frame: number;
  time: string;
  caption: string;
  structured: StructuredCaption;
  captioner: string;
  /** captioning time, ms */
  ms: number;
}

/** What the describer needs from the run. */
export interface DescriberHooks {
  worker: CaptionWorker;
  /** model grid of the stored frames */
  spec: FrameSpec;
  /** the ring's frames with index >= from (FrameRing.since) */
  framesSince: (from: number) => StoredFrame[];
  /** normalised anomaly box at a frame, when known (from the error map) */
  regionAt?: (frame: number) => Box | undefined;
  /** sends the enrichment message (through the outbox) */
  publish: (eventId: string, d: EventDescription) => Promise<void>;
  /** the MP4 path event `id`'s clip will have (the caption is stored beside it), when it is recorded */
  clipOf?: (eventId: string) => string | undefined;
}

/** Frames between the captioned frame and the one its motion is measured against. */
export const MOTION_GAP = 3;

interface Kept {
  frame: StoredFrame;
  prev?: StoredFrame;
  gap?: number;
  region?: Box;
}

/** Captions events (see the file comment). */
export class EventDescriber {
  private readonly peaks = new Map<string, Kept>();
  private readonly clips = new Map<string, string>();
  private chain: Promise<void> = Promise.resolve();
  /** descriptions sent, and caption failures */
  readonly counts = { sent: 0, failed: 0 };

  constructor(private readonly h: DescriberHooks) {}

  /** The frame and the one MOTION_GAP frames before it (motion at the model grid is under a pixel
   * per frame for a walker, so the estimate looks across a few frames). */
  private keep(frame: number): Kept | undefined {
    const frames = this.h.framesSince(frame - MOTION_GAP);
    const f = frames.find((x) => x.index === frame);
    if (!f) return undefined;
    const prev = frames.find((x) => x.index < frame);
    const region = this.h.regionAt?.(frame);
    return { frame: f, ...(prev ? { prev, gap: frame - prev.index } : {}), ...(region ? { region } : {}) };
  }

  /** Feed every lifecycle message of the run, in order. Never throws; captions run in the background. */
  onEvent(e: AnomalyEvent): void {
    if (e.clip && !this.clips.has(e.id)) {
      const video = this.h.clipOf?.(e.id);
      if (video) this.clips.set(e.id, video);
    }
    const known = this.peaks.get(e.id);
    if (!known || known.frame.index !== e.peak.frame) {
      const k = this.keep(e.peak.frame);
      if (k) this.peaks.set(e.id, k);
    }
    if (e.type === 'new') {
      const k = this.keep(e.start.frame);
      if (k) this.describe(e.id, 'start', k);
    } else if (e.type === 'end') {
      const k = this.peaks.get(e.id);
      this.peaks.delete(e.id);
      if (k) this.describe(e.id, 'peak', k);
    }
  }

  private describe(id: string, stage: 'start' | 'peak', k: Kept): void {
    const { spec } = this.h;
    const req = {
      frame: interleavedToPlanar(k.frame.pixels, spec.width, spec.height, channelsOf(spec.color)),
      ...(k.prev ? { prev: interleavedToPlanar(k.prev.pixels, spec.width, spec.height, channelsOf(spec.color)), gap: k.gap ?? 1 } : {}),
      width: spec.width,
      height: spec.height,
      ...(k.region ? { anomalyBox: k.region } : {}),
    };
    const job = this.h.worker.request(req, 'event');
    job.catch(() => undefined); // handled in order below; never an unhandled rejection meanwhile
    this.chain = this.chain.then(async () => {
      let r: CaptionResult | null;
      try {
        r = await job;
      } catch (err) {
        this.counts.failed += 1;
        log.warn({ event: id, err: (err as Error).message }, 'caption failed');
        return;
      }
      if (!r) return;
      const d: EventDescription = { event_id: id, stage, frame: k.frame.index, time: k.frame.time.toISOString(), caption: r.text, structured: r.structured, captioner: r.captioner, ms: +r.ms.toFixed(1) };
      try {
        await this.h.publish(id, d);
        this.counts.sent += 1;
        log.info({ id, stage, frame: d.frame, caption: d.caption, ms: d.ms }, 'caption');
      } catch (err) {
        log.error({ event: id, err: (err as Error).message }, 'cannot store an event description');
      }
      const clip = this.clips.get(id);
      if (clip) {
        await mkdir(dirname(clip), { recursive: true }).catch(() => undefined);
        await writeFile(clip.replace(/\.mp4$/, '.caption.json'), JSON.stringify(d, null, 1)).catch((err: unknown) => log.warn({ event: id, err: (err as Error).message }, 'cannot store the caption with the clip'));
      }
      if (stage === 'peak') this.clips.delete(id);
    });
  }

  /** Resolves when every caption asked for so far was sent (or failed). */
  async idle(): Promise<void> {
    let c: Promise<void>;
    do {
      c = this.chain;
      await c;
    } while (c !== this.chain);
  }
}
