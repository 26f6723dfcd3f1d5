/**
 * Evidence for events: a ring buffer of recent frames (pre-roll), per-event recordings that keep
 * pre-roll + event + post-roll frames, MP4 clips (H.264 constrained baseline, yuv420p, faststart, so
 * browsers and WebRTC can play them), a JPEG snapshot of the peak frame, and a disk budget that
 * deletes the oldest clips first.
 *
 * The ring and the recordings keep frames at the model grid (the resolution the source delivers),
 * as 8-bit interleaved pixels (gray: 1 byte/px, rgb: 3 bytes/px, HWC), about 14 KB per 144x96 gray
 * frame. The clip and snapshot files come from the recording's {@link EvidenceWriter}
 * (evidence.ts): the source's own pixels where it can, else these model-grid frames.
 */
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { log } from '../util/log.js';
import { encodeMp4 } from '../video/encode.js';
import { channelsOf, type FrameSpec } from '../core/frame.js';
import { ModelGridWriter, type EvidenceFrom, type EvidenceWriter } from './evidence.js';
import type { Box } from './region.js';

/** One stored frame: source index, capture time, 8-bit interleaved pixels (HWC). */
export interface StoredFrame {
  index: number;
  time: Date;
  pixels: Uint8Array;
}

/** `[C, H, W]` float32 in [0, 1] -> interleaved `[H, W, C]` uint8 (rounded, clamped). */
export function toInterleavedU8(data: Float32Array, spec: FrameSpec): Uint8Array {
  const C = channelsOf(spec.color);
  const hw = spec.width * spec.height;
  const out = new Uint8Array(hw * C);
  for (let c = 0; c < C; c++) {
    for (let i = 0; i < hw; i++) {
      const v = Math.round((data[c * hw + i] as number) * 255);
      out[i * C + c] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  return out;
}

/** Fixed-capacity ring of the most recent frames (oldest overwritten). */
export class FrameRing {
  private readonly items: StoredFrame[] = [];
  private cap: number;
  /** @throws RangeError if capacity < 1. */
  constructor(capacity: number) {
    this.cap = FrameRing.check(capacity);
  }
  private static check(capacity: number): number {
    if (!(Number.isInteger(capacity) && capacity >= 1)) throw new RangeError(`ring capacity must be a positive integer, got ${capacity}`);
    return capacity;
  }
  /** Frames it keeps at most. */
  get capacity(): number {
    return this.cap;
  }
  /** Changes the capacity (a longer pre-roll from a config change); the oldest frames go first. @throws RangeError if < 1. */
  resize(capacity: number): void {
    this.cap = FrameRing.check(capacity);
    while (this.items.length > this.cap) this.items.shift();
  }
  /** Adds the newest frame. */
  push(f: StoredFrame): void {
    this.items.push(f);
    if (this.items.length > this.cap) this.items.shift();
  }
  /** Frames with index >= `from`, oldest first. */
  since(from: number): StoredFrame[] {
    return this.items.filter((f) => f.index >= from);
  }
  /** Number of frames held. */
  get size(): number {
    return this.items.length;
  }
}

/**
 * Encodes frames as an H.264 constrained-baseline MP4 with ffmpeg
 * (`-c:v libx264 -profile:v baseline -pix_fmt yuv420p -movflags +faststart`); odd sizes are padded
 * to even ones (yuv420p needs them). Written as `<out>.part`, renamed when complete.
 * @param fps playback rate of the clip.
 * @throws Error if ffmpeg is missing or fails (with the end of its stderr).
 */
export async function writeMp4(frames: readonly StoredFrame[], spec: FrameSpec, fps: number, out: string): Promise<void> {
  if (frames.length === 0) throw new Error(`${out}: no frames to encode`);
  await encodeMp4(frames.map((f) => f.pixels), { width: spec.width, height: spec.height, pixFmt: spec.color === 'gray' ? 'gray' : 'rgb24' }, fps, out);
}

/** Writes one frame as a JPEG (sharp, quality 90). */
export async function writeJpeg(frame: StoredFrame, spec: FrameSpec, out: string): Promise<void> {
  await sharp(Buffer.from(frame.pixels), { raw: { width: spec.width, height: spec.height, channels: channelsOf(spec.color) as 1 | 3 } })
    .jpeg({ quality: 90 }).toFile(out);
}

/**
 * Keeps the clips folder under `budgetBytes`: groups files by stem (`<stem>.mp4`, `<stem>.jpg` and
 * the caption `<stem>.caption.json`),
 * and deletes whole groups, oldest (by modification time) first, never the `keep` stem.
 * @returns the stems deleted.
 */
export async function enforceBudget(dir: string, budgetBytes: number, keep?: string): Promise<string[]> {
  const groups = new Map<string, { bytes: number; mtime: number; files: string[] }>();
  for (const name of await readdir(dir)) {
    const m = /^(.*?)\.(mp4|jpg|caption\.json)$/.exec(name);
    if (!m?.[1]) continue;
    const s = await stat(join(dir, name)).catch(() => null);
    if (!s?.isFile()) continue;
    const g = groups.get(m[1]) ?? { bytes: 0, mtime: 0, files: [] };
    g.bytes += s.size;
    g.mtime = Math.max(g.mtime, s.mtimeMs);
    g.files.push(name);
    groups.set(m[1], g);
  }
  let total = [...groups.values()].reduce((a, g) => a + g.bytes, 0);
  const deleted: string[] = [];
  for (const [stem, g] of [...groups.entries()].sort((a, b) => a[1].mtime - b[1].mtime || a[0].localeCompare(b[0]))) {
    if (total <= budgetBytes) break;
    if (stem === keep) continue;
    for (const f of g.files) await rm(join(dir, f), { force: true });
    total -= g.bytes;
    deleted.push(stem);
  }
  return deleted;
}

/** Clip settings in frames (from the runtime config and the frame rate). */
export interface ClipSettings {
  /** record new events (open recordings finish either way) */
  enabled: boolean;
  dir: string;
  fps: number;
  preRollFrames: number;
  postRollFrames: number;
  maxFrames: number;
  budgetBytes: number;
}

interface Recording {
  id: string;
  stem: string;
  frames: StoredFrame[];
  stopAt: number | null;
  peakFrame: number;
  /** what makes its files: the writer in use when it opened */
  writer: EvidenceWriter;
}

/** How many of the clips written {@link ClipRecorder.written} lists (the newest). */
export const MAX_LISTED_CLIPS = 200;

/** Result of one written clip: both files are complete when it is reported. */
export interface WrittenClip {
  /** the event id */
  id: string;
  video: string;
  snapshot: string;
  /** frames in the clip (pre-roll and post-roll included) */
  frames: number;
  /** first and last source frame index of the clip */
  first_frame: number;
  last_frame: number;
  /** sizes of the MP4 and the JPEG, bytes */
  video_bytes: number;
  snapshot_bytes: number;
  /** snapshot (and clip) size, pixels */
  width: number;
  height: number;
  /** the anomaly region drawn on the snapshot, snapshot pixels, or null */
  region: Box | null;
  /** the source's own pixels, or the model grid */
  from: EvidenceFrom;
}

/**
 * Per-event recordings. `start` at an event's `new` (takes the pre-roll from the ring), `frame` for
 * every source frame, `stop` at its `end` (the recording goes on for the post-roll, then the clip
 * and snapshot are written), `finish` at the end of the stream (writes what is open).
 */
export class ClipRecorder {
  private readonly recs = new Map<string, Recording>();
  /** writes in progress (each removes itself when done, so a long run holds none of the finished ones) */
  private readonly writes = new Set<Promise<void>>();
  /** the most recent {@link MAX_LISTED_CLIPS} clips written (a device runs for months) */
  readonly written: WrittenClip[] = [];
  /** clips written so far, all of them */
  writtenCount = 0;
  /**
   * Called once per clip after its MP4 and then its JPEG are closed (`run` announces it on
   * `events/<id>/clip`). Errors it throws are logged, never propagated.
   */
  onWritten: ((c: WrittenClip) => void) | null = null;
  /** what makes the clips of recordings that open from now on (evidence.ts); default the model grid */
  writer: EvidenceWriter;
  /** anomaly regions (model grid) of recent scored frames while a recording is open */
  private readonly regions = new Map<number, Box>();

  constructor(private settings: ClipSettings, readonly spec: FrameSpec, private readonly ring: FrameRing) {
    this.writer = new ModelGridWriter(spec);
  }

  /** Keeps the region of a scored frame while a recording is open (computed only then). */
  scored(index: number, region: () => Box): void {
    if (this.recs.size === 0) return;
    this.regions.set(index, region());
    if (this.regions.size > this.settings.maxFrames + 16) this.regions.delete(this.regions.keys().next().value as number);
  }

  /** Whether new events are recorded. */
  get enabled(): boolean {
    return this.settings.enabled;
  }

  /** Replaces the settings (new recordings use them; open ones keep their frames). */
  configure(s: ClipSettings): void {
    this.settings = s;
  }

  /** The MP4 path of event `id`'s recording while it is open (undefined once written or unknown). */
  videoOf(id: string): string | undefined {
    const r = this.recs.get(id);
    return r ? join(this.settings.dir, `${r.stem}.mp4`) : undefined;
  }

  /** Paths the clip and snapshot of event `id` starting at `start` will have. */
  paths(id: string, start: Date): { stem: string; video: string; snapshot: string } {
    const stem = `${start.toISOString().replace(/[:.]/g, '-')}_${id}`;
    return { stem, video: join(this.settings.dir, `${stem}.mp4`), snapshot: join(this.settings.dir, `${stem}.jpg`) };
  }

  /** Starts recording event `id` whose first frame is `startFrame`. */
  start(id: string, startFrame: number, startTime: Date): { video: string; snapshot: string } {
    const p = this.paths(id, startTime);
    const frames = this.ring.since(startFrame - this.settings.preRollFrames).slice(0, this.settings.maxFrames);
    const writer = this.writer;
    writer.open(id, frames[0]?.index ?? startFrame);
    this.recs.set(id, { id, stem: p.stem, frames, stopAt: null, peakFrame: startFrame, writer });
    return { video: p.video, snapshot: p.snapshot };
  }

  /** Marks the peak frame (for the snapshot). */
  peak(id: string, frame: number): void {
    const r = this.recs.get(id);
    if (r) r.peakFrame = frame;
  }

  /** Ends event `id` at `endFrame`; the recording continues for the post-roll. */
  stop(id: string, endFrame: number, peakFrame: number): void {
    const r = this.recs.get(id);
    if (!r) return;
    r.stopAt = endFrame + this.settings.postRollFrames;
    r.peakFrame = peakFrame;
    this.flushDone(Number.NEGATIVE_INFINITY);
  }

  /** Feeds a source frame (already in the ring) to every open recording. */
  frame(f: StoredFrame): void {
    for (const r of this.recs.values()) {
      const last = r.frames.at(-1);
      if ((last === undefined || f.index > last.index) && r.frames.length < this.settings.maxFrames) r.frames.push(f);
    }
    this.flushDone(f.index);
  }

  private flushDone(now: number): void {
    for (const r of [...this.recs.values()]) {
      const last = r.frames.at(-1)?.index ?? Number.NEGATIVE_INFINITY;
      if (r.stopAt !== null && (now >= r.stopAt || last >= r.stopAt)) this.write(r);
    }
  }

  private write(r: Recording): void {
    this.recs.delete(r.id);
    const { dir, fps, budgetBytes } = this.settings;
    const video = join(dir, `${r.stem}.mp4`);
    const snapshot = join(dir, `${r.stem}.jpg`);
    const region = this.regions.get(r.peakFrame) ?? null;
    if (this.recs.size === 0) this.regions.clear();
    const job = (async () => {
      if (r.frames.length === 0) return;
      await mkdir(dir, { recursive: true });
      const first = r.frames[0]!.index;
      const last = r.frames.at(-1)!.index;
      const ev = await r.writer.write({ id: r.id, frames: r.frames, first, last, peak: r.peakFrame, region, fps }, video, snapshot);
      const [vs, ss] = await Promise.all([stat(video), stat(snapshot)]);
      const done: WrittenClip = {
        id: r.id, video, snapshot, frames: r.frames.length, first_frame: first, last_frame: last,
        video_bytes: vs.size, snapshot_bytes: ss.size, width: ev.width, height: ev.height, region: ev.region, from: ev.from,
      };
      this.written.push(done);
      this.writtenCount++;
      try {
        this.onWritten?.(done);
      } catch (err) {
        log.error({ err: (err as Error).message, video }, 'clips: announcing the clip failed');
      }
      if (this.written.length > MAX_LISTED_CLIPS) this.written.splice(0, this.written.length - MAX_LISTED_CLIPS);
      const gone = await enforceBudget(dir, budgetBytes, r.stem);
      if (gone.length) log.info({ deleted: gone }, 'clips: disk budget reached, oldest clips deleted');
    })().catch((err: unknown) => log.error({ err: (err as Error).message, video }, 'clips: writing failed'))
      .finally(() => r.writer.close(r.id));
    this.writes.add(job);
    void job.finally(() => this.writes.delete(job));
  }

  /** Writes every open recording with the frames it has and waits for all writes. */
  async finish(): Promise<WrittenClip[]> {
    for (const r of [...this.recs.values()]) this.write(r);
    await Promise.all([...this.writes]);
    return this.written;
  }
}
