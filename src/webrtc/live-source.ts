/**
 * The live view at the camera's resolution (issue 14, part 2): readers that give the live feed
 * the source's own pixels for the frame the loop is scoring, scaled down to at most
 * `streaming.live_max_height` (the device profile's cap, e.g. 720 on a Nano), as I420.
 *
 * - An image folder: the frame's own image file, read with sharp.
 * - A video file or a network stream: an ffmpeg decoder of its own, started when the first viewer
 *   asks and stopped when the last one leaves, so a device nobody watches decodes the source once
 *   (for the model). A file is decoded from the loop's position (`-ss`), at its own rate (`-re`);
 *   a stream from its live edge. The reader hands out the newest decoded frame.
 * - A V4L2 device cannot be opened twice: no reader, the live view stays at the model grid.
 *
 * Sizes are even (I420 needs even width and height) and keep the source's aspect ratio.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { loadImage } from '../pipeline/evidence-images.js';
import { ffmpegBinary, FfmpegSource } from '../video/ffmpeg.js';
import { listImageFiles } from '../video/files.js';
import { log } from '../util/log.js';
import { rgbToI420 } from './live.js';
import type { I420Frame } from './wrtc.js';

/** Gives the live feed the source's pixels of frame `index`, or null when it has none (yet). */
export interface LiveReader {
  /** Source-resolution frame for the scored frame `index` (0-based), capped to the reader's height. */
  read(index: number): Promise<I420Frame | null>;
  /** Stops any decoder; a later `read` starts again. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * The live size of a `width` x `height` source: scaled down (never up) to at most `maxHeight`
 * rows, aspect ratio kept, both rounded down to even pixels (at least 2).
 * @throws RangeError for non-positive sizes.
 */
export function liveSize(width: number, height: number, maxHeight: number): { width: number; height: number } {
  if (!(width > 0 && height > 0 && maxHeight >= 2)) throw new RangeError(`live size of ${width}x${height} capped at ${maxHeight} rows: sizes must be positive (cap >= 2)`);
  const s = Math.min(1, maxHeight / height);
  const even = (v: number): number => Math.max(2, Math.floor(v / 2) * 2);
  return { width: even(width * s), height: even(height * s) };
}

export { rgbToI420 } from './live.js';

/** The frames of an image folder, each read from its own file when the live view asks. */
export class ImageLiveReader implements LiveReader {
  /** @param files the folder's images in source order (frame i is files[i]); @param maxHeight rows at most. */
  constructor(private readonly files: readonly string[], private readonly maxHeight: number) {}

  /** @returns null when `index` is past the folder's end or its image cannot be read (logged at debug). */
  async read(index: number): Promise<I420Frame | null> {
    const file = this.files[index];
    if (!file) return null;
    try {
      const img = await loadImage(file); // read once; BMP too, as the clips read it
      const meta = await img.metadata();
      const size = liveSize(meta.width ?? 2, meta.height ?? 2, this.maxHeight);
      const data = await img.removeAlpha().toColourspace('srgb').resize(size.width, size.height, { fit: 'fill' }).raw().toBuffer();
      return rgbToI420(data, size.width, size.height);
    } catch (err) {
      log.debug({ file, err: (err as Error).message }, 'live view: cannot read the source image');
      return null;
    }
  }

  async close(): Promise<void> {}
}

/** Options of {@link FfmpegLiveReader}. */
export interface FfmpegLiveOptions {
  /** the source: a video file path or a stream URL (rtsp://, http://, ...) */
  input: string;
  /** true for a live stream (decoded from its live edge), false for a file (from the loop's position) */
  live: boolean;
  /** the source's frame rate (frames/s), to turn a frame index into a file position */
  sourceFps: number;
  /** frames per second decoded for the live view */
  liveFps: number;
  maxHeight: number;
  /** the source's size when known (else ffprobe is asked once) */
  size?: { width: number; height: number };
}

/** A video file or stream decoded by its own ffmpeg while someone watches. */
export class FfmpegLiveReader implements LiveReader {
  private child: ChildProcess | null = null;
  private latest: I420Frame | null = null;
  private size: { width: number; height: number } | null = null;
  private starting: Promise<void> | null = null;

  constructor(private readonly o: FfmpegLiveOptions) {}

  /** The newest decoded frame; starts the decoder at frame `index` on the first call. */
  async read(index: number): Promise<I420Frame | null> {
    if (!this.child && !this.starting) this.starting = this.start(index).finally(() => { this.starting = null; });
    if (this.starting) await this.starting;
    return this.latest;
  }

  private async start(index: number): Promise<void> {
    const src = this.o.size ?? (await probeSize(this.o.input));
    if (!src) return;
    const out = liveSize(src.width, src.height, this.o.maxHeight);
    this.size = out;
    const seek = this.o.live ? [] : ['-re', '-ss', (index / this.o.sourceFps).toFixed(3)];
    const args = ['-hide_banner', '-loglevel', 'error', '-nostdin', ...seek, '-i', this.o.input, '-an', '-sn',
      '-vf', `fps=${this.o.liveFps},scale=${out.width}:${out.height}`, '-pix_fmt', 'yuv420p', '-f', 'rawvideo', 'pipe:1'];
    const child = spawn(ffmpegBinary(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    const bytes = out.width * out.height * 1.5;
    let buf: Buffer = Buffer.alloc(0);
    child.stdout!.on('data', (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      while (buf.length >= bytes) {
        this.latest = { width: out.width, height: out.height, data: new Uint8Array(buf.subarray(0, bytes)) };
        buf = buf.subarray(bytes);
      }
    });
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => { if (stderr.length < 4096) stderr += c.toString('utf8'); });
    child.on('error', (err) => log.warn({ source: this.o.input, err: err.message }, 'live view: cannot start ffmpeg; the live view shows the model grid'));
    child.on('close', (code) => {
      if (this.child === child) this.child = null;
      if (code && !child.killed) log.warn({ source: this.o.input, code, stderr: stderr.trim().slice(-400) }, 'live view: the source decoder stopped');
    });
    // the first frame, or give up waiting after 2 s (a slow stream: the model grid until it comes)
    await new Promise<void>((resolve) => {
      const done = (): void => { clearTimeout(t); child.stdout!.off('data', check); child.off('close', done); resolve(); };
      const check = (): void => { if (this.latest) done(); };
      const t = setTimeout(done, 2000);
      child.stdout!.on('data', check);
      child.once('close', done);
    });
  }

  /** Frame size the decoder delivers (null before it started). */
  get outputSize(): { width: number; height: number } | null {
    return this.size;
  }

  async close(): Promise<void> {
    const c = this.child;
    this.child = null;
    this.latest = null;
    if (!c || c.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => { c.kill('SIGKILL'); resolve(); }, 2000);
      c.once('close', () => { clearTimeout(t); resolve(); });
      c.kill('SIGTERM');
    });
  }
}

/** The size ffprobe reports for a file or stream, or null (logged) when it cannot tell. */
async function probeSize(input: string): Promise<{ width: number; height: number } | null> {
  try {
    const s = await FfmpegSource.open(input, { width: 16, height: 16, color: 'gray' });
    await s.close();
    if (s.info && s.info.width > 0 && s.info.height > 0) return { width: s.info.width, height: s.info.height };
  } catch (err) {
    log.warn({ source: input, err: (err as Error).message }, 'live view: cannot probe the source size; the live view shows the model grid');
  }
  return null;
}

/** V4L2 devices whose grid-only live view was logged (once each). */
const gridLogged = new Set<string>();

/** Options of {@link liveReaderFor}. */
export interface LiveReaderOptions {
  /** the camera's source as `run` takes it (folder, file, URL, /dev/videoN) */
  source: string;
  sourceFps: number;
  liveFps: number;
  maxHeight: number;
}

/**
 * The reader for a camera's source: folder -> {@link ImageLiveReader}, file or URL ->
 * {@link FfmpegLiveReader}, V4L2 device -> null (it cannot be opened twice; logged once).
 */
export async function liveReaderFor(o: LiveReaderOptions): Promise<LiveReader | null> {
  if (/^\/dev\/video\d+$/.test(o.source)) {
    if (gridLogged.has(o.source)) return null;
    gridLogged.add(o.source);
    log.info({ source: o.source }, 'live view at the model grid: a V4L2 device cannot be opened a second time');
    return null;
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(o.source)) return new FfmpegLiveReader({ input: o.source, live: true, sourceFps: o.sourceFps, liveFps: o.liveFps, maxHeight: o.maxHeight });
  const st = await stat(o.source).catch(() => null);
  if (st?.isDirectory()) return new ImageLiveReader((await listImageFiles(o.source)).images, o.maxHeight);
  if (st?.isFile()) return new FfmpegLiveReader({ input: o.source, live: false, sourceFps: o.sourceFps, liveFps: o.liveFps, maxHeight: o.maxHeight });
  return null;
}

/** `reader` for the loop's frame indices of a pass whose first frame is `base` (frame `base` is the source's 0). */
export function offsetReader(reader: LiveReader, base: number): LiveReader {
  if (base === 0) return reader;
  return { read: (index) => reader.read(index - base), close: () => reader.close() };
}
