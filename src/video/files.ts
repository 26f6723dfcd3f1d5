/**
 * File-name helpers shared by the video sources: which extensions count as images / videos, the
 * natural ("numeric") sort order of frame names, and listing the frames of an image-sequence folder.
 */
import { readdir, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';

import { VideoInputError } from './errors.js';

/** Image extensions read as frames (lower case, without the dot). */
export const IMAGE_EXTENSIONS: readonly string[] = ['jpg', 'jpeg', 'png', 'bmp'];

/** Extensions treated as video files by `listVideos` (lower case, without the dot). */
export const VIDEO_EXTENSIONS: readonly string[] = [
  'mp4', 'm4v', 'mov', 'avi', 'mkv', 'webm', 'mpg', 'mpeg', 'ts', 'm2ts', 'mts', 'wmv', 'flv',
  '3gp', 'ogv', 'mjpeg', 'mjpg', 'h264', '264', 'hevc', 'h265',
];

/** Lower-case extension of a file name without the dot (`''` when there is none). */
export function extensionOf(name: string): string {
  return extname(name).slice(1).toLowerCase();
}

/** True when the name has one of `IMAGE_EXTENSIONS` (case-insensitive). */
export function isImageName(name: string): boolean {
  return IMAGE_EXTENSIONS.includes(extensionOf(name));
}

/** True when the name has one of `VIDEO_EXTENSIONS` (case-insensitive). */
export function isVideoName(name: string): boolean {
  return VIDEO_EXTENSIONS.includes(extensionOf(name));
}

const CHUNK = /(\d+)|(\D+)/g;

/**
 * Natural order of names: runs of digits compare by numeric value (`2.jpg` < `10.jpg`,
 * `frame_9` < `frame_10`), other runs compare by code unit. Names that tie numerically
 * (`1.jpg` vs `001.jpg`) fall back to plain code-unit order, so the order is total and
 * deterministic. Returns <0, 0 or >0 like `Array.prototype.sort` expects.
 */
export function naturalCompare(a: string, b: string): number {
  const ta = a.match(CHUNK) ?? [];
  const tb = b.match(CHUNK) ?? [];
  const n = Math.min(ta.length, tb.length);
  for (let i = 0; i < n; i++) {
    const x = ta[i] as string;
    const y = tb[i] as string;
    const xd = x.charCodeAt(0) >= 48 && x.charCodeAt(0) <= 57;
    const yd = y.charCodeAt(0) >= 48 && y.charCodeAt(0) <= 57;
    if (xd && yd) {
      // Compare arbitrarily long digit runs without overflow: strip leading zeros, then length, then text.
      const xs = x.replace(/^0+(?=\d)/, '');
      const ys = y.replace(/^0+(?=\d)/, '');
      if (xs.length !== ys.length) return xs.length - ys.length;
      if (xs !== ys) return xs < ys ? -1 : 1;
    } else if (x !== y) {
      // A digit run sorts before a non-digit run at the same position (like plain ASCII order).
      if (xd !== yd) return xd ? -1 : 1;
      return x < y ? -1 : 1;
    }
  }
  if (ta.length !== tb.length) return ta.length - tb.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Result of `listImageFiles`. */
export interface ImageListing {
  /** Absolute-or-as-given paths (`join(dir, name)`) of image files, in natural order. */
  images: string[];
  /** Names of regular files that were skipped because their extension is not an image one. */
  ignored: string[];
}

/**
 * Lists the image frames of a folder (non-recursive), in natural order of their names.
 * Sub-folders are skipped; symbolic links are followed.
 *
 * @throws VideoInputError when `dir` does not exist, is not a folder, or cannot be read.
 *   An empty result is NOT an error here (callers decide).
 */
export async function listImageFiles(dir: string): Promise<ImageListing> {
  const entries = await readFolder(dir);
  const images: string[] = [];
  const ignored: string[] = [];
  for (const e of entries) {
    let isFile = e.isFile();
    if (e.isSymbolicLink()) {
      isFile = await stat(join(dir, e.name)).then((s) => s.isFile(), () => false);
    }
    if (!isFile) continue;
    if (isImageName(e.name)) images.push(e.name);
    else ignored.push(e.name);
  }
  images.sort(naturalCompare);
  ignored.sort(naturalCompare);
  return { images: images.map((n) => join(dir, n)), ignored };
}

/**
 * `readdir(dir, { withFileTypes: true })` with the fs error codes mapped to `VideoInputError`.
 *
 * @throws VideoInputError `folder not found` (ENOENT), `not a folder` (ENOTDIR),
 *   `cannot read folder` (anything else, e.g. EACCES).
 */
export async function readFolder(dir: string) {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new VideoInputError(dir, 'folder not found', 'Check the path (it is resolved against the current directory).', { cause: err });
    }
    if (code === 'ENOTDIR') {
      throw new VideoInputError(dir, 'not a folder', 'Pass a folder of image frames (e.g. 000.jpg, 001.jpg, ...) or a video file.', { cause: err });
    }
    throw new VideoInputError(dir, `cannot read folder (${code ?? String(err)})`, 'Check its permissions.', { cause: err });
  }
}
