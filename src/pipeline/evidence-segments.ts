/**
 * Evidence from the source's own encoded stream (evidence.ts, `source` for a stream or a file): the
 * clip is the covering MPEG-TS segments (video/segments.ts) joined with `-c copy` once the last one
 * is closed (at most {@link SEGMENT_WAIT_MS}), the snapshot the peak frame decoded from its segment
 * at the source's size, with the anomaly region (model grid) scaled to it and drawn.
 *
 * Frame index -> time: `index / fps` on the camera's timeline (segments.ts); inside a segment the
 * offset comes from the segments' own start times (ffprobe), so the MPEG-TS mux delay and a B-frame
 * delay do not shift the picked frame.
 */
import { execFile } from 'node:child_process';
import { basename } from 'node:path';
import sharp from 'sharp';
import type { FrameSpec } from '../core/frame.js';
import { concatSegments, frameAt } from '../video/encode.js';
import { ffprobeBinary } from '../video/ffmpeg.js';
import type { SegmentIndex, SegmentPass } from '../video/segments.js';
import type { StoredFrame } from './clips.js';
import { scaleBox, writeSnapshot, type Evidence, type EvidenceJob, type EvidenceWriter } from './evidence.js';

/** Longest wait for the last covering segment to close, ms. */
export const SEGMENT_WAIT_MS = 60_000;
/** Longest wait of `cmd/snapshot` for the newest frame's segment to close, ms (segments are ~1 s). */
export const STILL_WAIT_MS = 3_000;

/** The first timestamp of an MPEG-TS file, seconds (ffprobe `format=start_time`). @throws Error when ffprobe fails. */
export function startTime(file: string): Promise<number> {
  return new Promise((resolve, reject) => {
    execFile(ffprobeBinary(), ['-v', 'error', '-show_entries', 'format=start_time', '-of', 'csv=p=0', file], { encoding: 'utf8' }, (err, out) => {
      const t = Number(out.trim());
      if (err || !Number.isFinite(t)) reject(new Error(`${file}: ffprobe cannot read its start time${err ? ` (${err.message})` : ''}`));
      else resolve(t);
    });
  });
}

/** See the file comment. */
export class SegmentWriter implements EvidenceWriter {
  readonly from = 'source' as const;
  private readonly starts = new Map<string, Promise<number>>();

  /**
   * @param index the camera's segments
   * @param fps frames/s of the camera's timeline
   * @param spec the model grid (the region's coordinates)
   */
  constructor(readonly index: SegmentIndex, private readonly fps: number, private readonly spec: FrameSpec, private readonly waitMs = SEGMENT_WAIT_MS) {}

  open(id: string, first: number): void {
    this.index.pin(id, first / this.fps);
  }

  close(id: string): void {
    this.index.unpin(id);
  }

  async write(job: EvidenceJob, video: string, snapshot: string): Promise<Evidence> {
    const t0 = job.first / this.fps;
    const t1 = (job.last + 1) / this.fps;
    await this.index.whenClosed(t1, this.waitMs);
    const segs = this.index.covering(t0, t1);
    await concatSegments(segs.map((s) => s.file), video);
    const png = await this.frameAtTime(job.peak / this.fps);
    const meta = await sharp(png).metadata();
    const size = { width: meta.width ?? 0, height: meta.height ?? 0 };
    const region = job.region ? scaleBox(job.region, this.spec, size) : null;
    await writeSnapshot(sharp(png), region, snapshot);
    return { ...size, region, from: this.from };
  }

  /** The frame from its segment once that is closed (at most {@link STILL_WAIT_MS}; then from the one being written). */
  async still(frame: StoredFrame, out: string): Promise<{ width: number; height: number }> {
    const t = frame.index / this.fps;
    await this.index.whenClosed(t + 1 / this.fps, STILL_WAIT_MS);
    return writeSnapshot(sharp(await this.frameAtTime(t)), null, out);
  }

  private start(file: string): Promise<number> {
    let p = this.starts.get(file);
    if (!p) {
      p = startTime(file);
      this.starts.set(file, p);
      p.catch(() => this.starts.delete(file));
      if (this.starts.size > 64) this.starts.delete(this.starts.keys().next().value as string);
    }
    return p;
  }

  /**
   * The source frame at `t` seconds on the camera's timeline, PNG bytes: from the closed segment
   * that holds it (or the next one, when the mux delay puts it there), else the one being written.
   * @throws Error when no segment holds it.
   */
  async frameAtTime(t: number): Promise<Buffer> {
    const segs = this.index.all;
    const i = segs.findIndex((s) => s.start <= t && t < s.end);
    const tries: Array<{ file: string; pass: SegmentPass }> = [];
    if (i >= 0) tries.push(segs[i]!, ...(segs[i + 1] ? [segs[i + 1]!] : []));
    const cur = this.index.current;
    if (cur && t >= cur.start - 1) tries.push(cur);
    if (i < 0 && segs.length) tries.push(segs.at(-1)!);
    const why: string[] = [];
    for (const s of tries) {
      try {
        // half a frame early: the first frame at or after the target is the one
        const off = (await this.start(s.pass.first)) + (t - s.pass.base) - (await this.start(s.file)) - 0.5 / this.fps;
        const png = await frameAt(s.file, off);
        if (png.length > 0) return png;
        why.push(`${basename(s.file)}: no frame at ${off.toFixed(3)} s`);
      } catch (err) {
        why.push((err as Error).message);
      }
    }
    throw new Error(`no source segment holds the frame at ${t.toFixed(3)} s (${why.join('; ') || 'no segments'})`);
  }
}
