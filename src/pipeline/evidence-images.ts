/**
 * Evidence from an image folder (evidence.ts, `source` with no encoded stream): the clip is the
 * original image files encoded at their resolution (H.264 baseline, yuv420p, faststart), the
 * snapshot the peak frame's original image with the anomaly region (model grid) scaled to it and
 * drawn. Images of another size than the clip's first one are resized to it.
 */
import { readFile } from 'node:fs/promises';
import sharp, { type Sharp } from 'sharp';
import type { FrameSpec } from '../core/frame.js';
import { decodeBmp, isBmp } from '../video/bmp.js';
import { encodeMp4 } from '../video/encode.js';
import type { StoredFrame } from './clips.js';
import { scaleBox, writeSnapshot, type Evidence, type EvidenceJob, type EvidenceWriter } from './evidence.js';

/** An image file as sharp input (BMP through the built-in decoder). @throws Error when it cannot be read. */
export async function loadImage(file: string): Promise<Sharp> {
  const buf = await readFile(file);
  if (isBmp(buf)) {
    const b = decodeBmp(buf);
    return sharp(b.data, { raw: { width: b.width, height: b.height, channels: 3 } });
  }
  return sharp(buf);
}

/** See the file comment. */
export class ImageFolderWriter implements EvidenceWriter {
  readonly from = 'source' as const;
  private readonly passes: Array<{ base: number; files: readonly string[] }> = [];

  /** @param spec the model grid (the region's coordinates) */
  constructor(private readonly spec: FrameSpec) {}

  /** A pass over the folder whose first frame has index `base` and whose frames are `files`, in order. */
  addPass(base: number, files: readonly string[]): void {
    this.passes.push({ base, files });
    if (this.passes.length > 8) this.passes.shift();
  }

  /** The image file of frame `index`, or undefined. */
  fileOf(index: number): string | undefined {
    for (let i = this.passes.length - 1; i >= 0; i--) {
      const p = this.passes[i]!;
      if (index >= p.base) return p.files[index - p.base];
    }
    return undefined;
  }

  open(): void {}
  close(): void {}

  async write(job: EvidenceJob, video: string, snapshot: string): Promise<Evidence> {
    const files: string[] = [];
    for (let i = job.first; i <= job.last; i++) {
      const f = this.fileOf(i);
      if (f) files.push(f);
    }
    if (files.length === 0) throw new Error(`${video}: no image files for frames ${job.first}-${job.last}`);
    const first = await (await loadImage(files[0]!)).metadata();
    const width = first.width ?? 0;
    const height = first.height ?? 0;
    async function* rgb(): AsyncGenerator<Buffer> {
      for (const f of files) {
        yield (await loadImage(f)).removeAlpha().toColourspace('srgb').resize(width, height, { fit: 'fill' }).raw().toBuffer();
      }
    }
    await encodeMp4(rgb(), { width, height, pixFmt: 'rgb24' }, job.fps, video);
    const peak = this.fileOf(job.peak) ?? files[0]!;
    const img = await loadImage(peak);
    const meta = await img.metadata();
    const size = { width: meta.width ?? width, height: meta.height ?? height };
    const region = job.region ? scaleBox(job.region, this.spec, size) : null;
    await writeSnapshot(img, region, snapshot);
    return { ...size, region, from: this.from };
  }

  async still(frame: StoredFrame, out: string): Promise<{ width: number; height: number }> {
    const f = this.fileOf(frame.index);
    if (!f) throw new Error(`no image file for frame ${frame.index}`);
    return writeSnapshot(await loadImage(f), null, out);
  }
}
