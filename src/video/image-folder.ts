/**
 * Image-sequence folder source: a folder of frames `000.jpg, 001.jpg, ...` (JPEG, PNG or BMP),
 * e.g. a UCSD Ped2 / Avenue clip, decoded with sharp.
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';

import sharp, { type Sharp } from 'sharp';

import { log } from '../util/log.js';
import { decodeBmp, isBmp } from './bmp.js';
import { VideoInputError } from './errors.js';
import { listImageFiles } from './files.js';
import { interleavedToPlanar, validateSpec } from './pixels.js';
import { channelsOf, type Frame, type FrameSource, type FrameSpec } from '../core/frame.js';

/** Options of `ImageFolderSource`. */
export interface ImageFolderOptions {
  /** Frames decoded ahead of the consumer (in flight at once). Default 4; 1 = strictly sequential. */
  concurrency?: number;
}

/** One decoded frame plus the native size of its file. */
export interface DecodedImage {
  /** `[C, H, W]` float32 in [0, 1] at the spec's size. */
  data: Float32Array;
  /** Native width of the file in pixels (before resizing). */
  nativeWidth: number;
  /** Native height of the file in pixels (before resizing). */
  nativeHeight: number;
}

const UNDECODABLE_HINT = 'Frames must be JPEG, PNG or BMP images; remove or replace this file.';

/**
 * Decodes one image file to the spec: gray (1 channel) or RGB (3 channels, alpha dropped),
 * resized to `spec.width x spec.height` with bilinear interpolation and `fit: 'fill'` (aspect
 * ratio not kept), as planar `[C, H, W]` float32 in [0, 1].
 *
 * JPEG/PNG (and whatever else sharp detects from the content) go through sharp; BMP through the
 * built-in decoder (`bmp.ts`). EXIF orientation is not applied (frames come out as stored).
 *
 * @throws VideoInputError naming `file`: unreadable file, empty file, content that is not a
 *   decodable image (e.g. a text file named `.jpg`, a truncated JPEG).
 * @throws RangeError for an invalid spec.
 */
export async function decodeImage(file: string, spec: FrameSpec): Promise<DecodedImage> {
  validateSpec(spec);
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new VideoInputError(file, `cannot read frame (${code})`, 'Check that the file exists and is readable.', { cause: err });
  }
  if (buf.length === 0) throw new VideoInputError(file, 'empty frame file (0 bytes)', UNDECODABLE_HINT);
  const channels = channelsOf(spec.color);
  try {
    let img: Sharp;
    let nativeWidth: number;
    let nativeHeight: number;
    if (isBmp(buf)) {
      const bmp = decodeBmp(buf);
      nativeWidth = bmp.width;
      nativeHeight = bmp.height;
      img = sharp(bmp.data, { raw: { width: bmp.width, height: bmp.height, channels: 3 } });
    } else {
      img = sharp(buf);
      const meta = await img.metadata();
      if (!meta.width || !meta.height) throw new Error('image has no size');
      nativeWidth = meta.width;
      nativeHeight = meta.height;
    }
    img = img.removeAlpha();
    img = spec.color === 'gray' ? img.greyscale() : img.toColourspace('srgb');
    const { data, info } = await img
      .resize(spec.width, spec.height, { fit: 'fill', kernel: 'linear' })
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== channels || info.width !== spec.width || info.height !== spec.height) {
      throw new Error(`decoder returned ${info.width}x${info.height}x${info.channels}, expected ${spec.width}x${spec.height}x${channels}`);
    }
    return { data: interleavedToPlanar(data, spec.width, spec.height, channels), nativeWidth, nativeHeight };
  } catch (err) {
    if (err instanceof VideoInputError) throw err;
    const why = err instanceof Error ? err.message : String(err);
    throw new VideoInputError(file, `not a decodable image (${why})`, UNDECODABLE_HINT, { cause: err });
  }
}

/**
 * Frames from a folder of images, in natural order of their names (`2.jpg` before `10.jpg`;
 * `000.jpg, 001.jpg, ...` as usual). Image files are those with a jpg/jpeg/png/bmp extension
 * (case-insensitive); other files and sub-folders are skipped (with one warning log listing them).
 *
 * Output: `Frame.data` is `[C, H, W]` float32 in [0, 1] at `spec` (see `decodeImage`).
 * Decoding runs up to `concurrency` frames ahead of the consumer; frames are yielded in order.
 *
 * Errors (all `VideoInputError`, naming the path):
 * - from `open()` / the first `frames()` step: folder not found, not a folder, unreadable folder,
 *   no image files in the folder;
 * - while iterating, in frame order (every earlier frame has been yielded first): a frame that
 *   cannot be read or decoded (names that file), a frame whose native size differs from the first
 *   frame's (names that frame and both sizes).
 */
export class ImageFolderSource implements FrameSource {
  readonly name: string;
  readonly spec: FrameSpec;
  private readonly concurrency: number;
  private files: readonly string[] | undefined;
  private closed = false;

  /**
   * Creates the source without touching the disk; the folder is listed on the first `frames()`
   * or `listFrames()` call. Prefer `ImageFolderSource.open` to fail early on a bad folder.
   *
   * @param dir folder path (used as `name`).
   * @param spec output grid and colour mode.
   * @throws RangeError for an invalid spec or concurrency.
   */
  constructor(dir: string, spec: FrameSpec, options: ImageFolderOptions = {}) {
    validateSpec(spec);
    const concurrency = options.concurrency ?? 4;
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new RangeError(`concurrency must be a positive integer, got ${String(concurrency)}`);
    }
    this.name = dir;
    this.spec = { ...spec };
    this.concurrency = concurrency;
  }

  /**
   * Creates the source and lists the folder now.
   *
   * @throws VideoInputError folder not found / not a folder / unreadable / no image files.
   * @throws RangeError for an invalid spec or concurrency.
   */
  static async open(dir: string, spec: FrameSpec, options: ImageFolderOptions = {}): Promise<ImageFolderSource> {
    const source = new ImageFolderSource(dir, spec, options);
    await source.listFrames();
    return source;
  }

  /**
   * The frame files (paths `join(dir, name)`) in the order they are yielded. Listed once, then cached.
   *
   * @throws VideoInputError folder not found / not a folder / unreadable / no image files.
   */
  async listFrames(): Promise<readonly string[]> {
    if (this.files) return this.files;
    const { images, ignored } = await listImageFiles(this.name);
    const noted = ignored.filter((n) => !n.startsWith('.') && n !== 'Thumbs.db' && n !== 'desktop.ini');
    if (noted.length > 0) {
      log.warn({ folder: this.name, count: noted.length, files: noted.slice(0, 5) }, 'skipping non-image files in frame folder');
    }
    if (images.length === 0) {
      const seen = ignored.length > 0 ? ` (found only: ${ignored.slice(0, 3).join(', ')}${ignored.length > 3 ? ', ...' : ''})` : '';
      throw new VideoInputError(this.name, `no image files (.jpg, .jpeg, .png, .bmp) in folder${seen}`,
        'Point at the folder that holds the frames themselves (for UCSD Ped2: .../frames/01), or pass a video file.');
    }
    this.files = images;
    return images;
  }

  /**
   * Frames in natural file-name order, `index` 0-based. Each call starts again from the first frame.
   * Stops early (without error) once `close()` has been called.
   *
   * @throws VideoInputError see the class docs; thrown in order, after all earlier frames.
   */
  async *frames(): AsyncGenerator<Frame> {
    const files = await this.listFrames();
    const pending: Array<Promise<DecodedImage>> = [];
    let next = 0;
    const launch = () => {
      while (pending.length < this.concurrency && next < files.length) {
        const p = decodeImage(files[next] as string, this.spec);
        // Errors are re-raised when this frame's turn comes; this only stops unhandled-rejection noise
        // for frames decoded ahead and then abandoned (consumer stopped early, earlier frame failed).
        p.catch(() => undefined);
        pending.push(p);
        next++;
      }
    };
    let first: { file: string; width: number; height: number } | undefined;
    for (let index = 0; index < files.length; index++) {
      if (this.closed) return;
      launch();
      const current = pending.shift() as Promise<DecodedImage>;
      launch();
      const frame = await current;
      const file = files[index] as string;
      if (!first) {
        first = { file, width: frame.nativeWidth, height: frame.nativeHeight };
      } else if (frame.nativeWidth !== first.width || frame.nativeHeight !== first.height) {
        throw new VideoInputError(file,
          `frame size ${frame.nativeWidth}x${frame.nativeHeight} differs from the first frame ${basename(first.file)} (${first.width}x${first.height})`,
          'All frames of a sequence must have the same size; re-extract the frames or remove the odd one.');
      }
      if (this.closed) return;
      yield { index, data: frame.data };
    }
  }

  /** Stops any running `frames()` iteration at the next frame. Nothing else to release; safe to call twice. */
  async close(): Promise<void> {
    this.closed = true;
  }
}
