/**
 * How an event's clip and snapshot are made (issue 14, part 2): the {@link EvidenceWriter} seam
 * with three implementations:
 *
 * - `source` from a stream or file: the covering MPEG-TS segments of the source's own encoded
 *   stream joined with `-c copy` (evidence-segments.ts);
 * - `source` from an image folder: the original images encoded at their resolution
 *   (evidence-images.ts);
 * - `model-grid` ({@link ModelGridWriter}): the frames the model sees, encoded as before (the
 *   fallback, and `clips.from: "model-grid"`).
 *
 * Every file is written as `<name>.part` and renamed when complete, so a path a message names is
 * either absent or whole. The anomaly region comes in model-grid pixels and goes out in snapshot
 * pixels.
 */
import { rename, rm, writeFile } from 'node:fs/promises';
import sharp, { type Sharp } from 'sharp';
import { channelsOf, type FrameSpec } from '../core/frame.js';
import { writeMp4, type StoredFrame } from './clips.js';
import type { Box } from './region.js';

/** Where a clip's pixels come from. */
export const EVIDENCE_FROM = ['source', 'model-grid'] as const;
export type EvidenceFrom = (typeof EVIDENCE_FROM)[number];

/** One clip to write: the recording's frames (model grid), its frame range and peak. */
export interface EvidenceJob {
  id: string;
  /** the recorded frames at the model grid (what the model-grid writer encodes) */
  frames: readonly StoredFrame[];
  /** first and last frame index of the clip (pre-roll and post-roll included) */
  first: number;
  last: number;
  /** frame index of the snapshot */
  peak: number;
  /** the anomaly region of the peak frame, model-grid pixels, or null */
  region: Box | null;
  /** clip playback rate, frames/s */
  fps: number;
}

/** What a written clip and snapshot are. */
export interface Evidence {
  /** snapshot size in pixels (the clip's too) */
  width: number;
  height: number;
  /** the region drawn on the snapshot, in snapshot pixels, or null */
  region: Box | null;
  from: EvidenceFrom;
}

/** Makes clips and snapshots (see the file comment). */
export interface EvidenceWriter {
  readonly from: EvidenceFrom;
  /** A recording opens with its first frame (pre-roll included): what it needs is kept from now on. */
  open(id: string, first: number): void;
  /** Releases what {@link open} kept. */
  close(id: string): void;
  /**
   * Writes the clip to `video` and the snapshot to `snapshot`, each complete when it appears.
   * @throws Error when ffmpeg or sharp fails, or there is nothing to cut.
   */
  write(job: EvidenceJob, video: string, snapshot: string): Promise<Evidence>;
  /**
   * A JPEG of frame `frame` (the newest one, for `cmd/snapshot`); `grid` is its model-grid copy.
   * @throws Error when it cannot be decoded.
   */
  still(frame: StoredFrame, out: string): Promise<{ width: number; height: number }>;
}

/** `box` on a `from`-sized picture scaled to a `to`-sized one (rounded, clamped inside it). */
export function scaleBox(box: Box, from: { width: number; height: number }, to: { width: number; height: number }): Box {
  const sx = to.width / from.width;
  const sy = to.height / from.height;
  const x = Math.max(0, Math.min(to.width - 1, Math.round(box.x * sx)));
  const y = Math.max(0, Math.min(to.height - 1, Math.round(box.y * sy)));
  return { x, y, w: Math.max(1, Math.min(to.width - x, Math.round(box.w * sx))), h: Math.max(1, Math.min(to.height - y, Math.round(box.h * sy))) };
}

/**
 * Writes `image` (an encoded image or raw pixels sharp reads) as a JPEG (quality 90) at `out`, with
 * `region` (its pixels) drawn as a red rectangle (an SVG composite); via `<out>.part` and a rename.
 * @returns its size in pixels.
 * @throws Error from sharp.
 */
export async function writeSnapshot(image: Sharp, region: Box | null, out: string): Promise<{ width: number; height: number }> {
  const { data, info } = await image.removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  const { width, height } = info;
  let img = sharp(data, { raw: { width, height, channels: info.channels } });
  if (region) {
    const stroke = Math.max(2, Math.round(Math.min(width, height) / 180));
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect x="${region.x + stroke / 2}" y="${region.y + stroke / 2}" width="${Math.max(1, region.w - stroke)}" height="${Math.max(1, region.h - stroke)}" fill="none" stroke="#ff2020" stroke-width="${stroke}"/></svg>`;
    img = img.composite([{ input: Buffer.from(svg), left: 0, top: 0 }]);
  }
  await writeFile(`${out}.part`, await img.jpeg({ quality: 90 }).toBuffer());
  await rename(`${out}.part`, out);
  return { width, height };
}

/** Removes `<file>.part` (a write that failed). */
export async function dropPart(file: string): Promise<void> {
  await rm(`${file}.part`, { force: true });
}

/** Sharp input of a model-grid frame. */
function gridImage(f: StoredFrame, spec: FrameSpec): Sharp {
  return sharp(Buffer.from(f.pixels), { raw: { width: spec.width, height: spec.height, channels: channelsOf(spec.color) as 1 | 3 } });
}

/** The frame of `frames` nearest to index `at`. @throws Error when there is none. */
export function nearest(frames: readonly StoredFrame[], at: number): StoredFrame {
  let best = frames[0];
  if (!best) throw new Error('no frames');
  for (const f of frames) if (Math.abs(f.index - at) < Math.abs(best.index - at)) best = f;
  return best;
}

/** Clips and snapshots of the frames the model sees (see the file comment). */
export class ModelGridWriter implements EvidenceWriter {
  readonly from = 'model-grid' as const;
  constructor(private readonly spec: FrameSpec) {}
  open(): void {}
  close(): void {}
  async write(job: EvidenceJob, video: string, snapshot: string): Promise<Evidence> {
    await writeMp4(job.frames, this.spec, job.fps, video);
    const size = await writeSnapshot(gridImage(nearest(job.frames, job.peak), this.spec), job.region, snapshot);
    return { ...size, region: job.region, from: this.from };
  }
  still(frame: StoredFrame, out: string): Promise<{ width: number; height: number }> {
    return writeSnapshot(gridImage(frame, this.spec), null, out);
  }
}
