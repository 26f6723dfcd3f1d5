/**
 * Entry points for reading video input: pick the right `FrameSource` for a path, read a whole
 * video into memory, and enumerate the videos of a dataset folder.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';

import { VideoInputError } from './errors.js';
import { FfmpegSource } from './ffmpeg.js';
import { isImageName, isVideoName, listImageFiles, naturalCompare, readFolder } from './files.js';
import { decodeImage, ImageFolderSource } from './image-folder.js';
import type { FrameSource, FrameSpec } from '../core/frame.js';
import { log } from '../util/log.js';

const NOT_FOUND_HINT = 'Check the path (it is resolved against the current directory).';

/**
 * Opens a path as a frame source: a folder is an image sequence (`ImageFolderSource`), a file is a
 * video decoded by ffmpeg (`FfmpegSource`, whatever its extension). Checks the input now, so bad
 * paths fail here rather than on the first frame. Frames come out as `[C, H, W]` float32 in [0, 1]
 * at `spec` (see `core/frame.ts`). The caller must `close()` the source.
 *
 * @throws VideoInputError path not found; a single image file (a folder of frames is needed);
 *   folder problems (not readable, no image files); video problems (not a video, no video stream,
 *   truncated or damaged container). Decode problems later surface from `frames()`.
 * @throws RangeError for an invalid spec.
 */
export async function openSource(path: string, spec: FrameSpec): Promise<FrameSource> {
  let s;
  try {
    s = await stat(path);
  } catch (err) {
    throw new VideoInputError(path, 'no such file or folder', NOT_FOUND_HINT, { cause: err });
  }
  if (isImageName(path) && !s.isDirectory()) {
    throw new VideoInputError(path, 'is a single image, not a video', 'Pass the folder that holds the frame images, or a video file.');
  }
  const source = s.isDirectory() ? await ImageFolderSource.open(path, spec) : await FfmpegSource.open(path, spec);
  const native = s.isDirectory() ? await nativeSize(path).catch(() => undefined) : source instanceof FfmpegSource && source.info ? source.info : undefined;
  warnIfStretched(path, native, spec);
  return source;
}

const warned = new Set<string>();

/**
 * Logs once per (size, grid) when frames of `native` size are resized to a grid of another aspect
 * ratio (by more than 5 %): the picture is stretched, and a model trained at another aspect ratio
 * sees shapes it did not learn. `train` matches its grid to the source (`gridFor`).
 */
export function warnIfStretched(path: string, native: { width: number; height: number } | undefined, spec: FrameSpec): void {
  if (!native || !(native.width > 0 && native.height > 0)) return;
  const ratio = native.width / native.height / (spec.width / spec.height);
  if (Math.abs(Math.log(ratio)) < Math.log(1.05)) return;
  const key = `${native.width}x${native.height}->${spec.width}x${spec.height}`;
  if (warned.has(key)) return;
  warned.add(key);
  log.warn({ source: path, native: `${native.width}x${native.height}`, grid: `${spec.width}x${spec.height}` }, 'frames are stretched to the model grid (another aspect ratio); train a model on this camera (sfn-edge learn) for a grid that matches it');
}

/**
 * Reads every frame of a video (folder or file, see `openSource`) into memory, in order.
 * Memory: `frames * C * H * W * 4` bytes (Ped2 clip of 180 frames at 144x96 gray: about 10 MB).
 *
 * @returns one `Float32Array` `[C, H, W]` in [0, 1] per frame.
 * @throws VideoInputError as `openSource` and the source's `frames()` (the source is closed either way).
 * @throws RangeError for an invalid spec.
 */
export async function readAllFrames(path: string, spec: FrameSpec): Promise<Float32Array[]> {
  const source = await openSource(path, spec);
  try {
    const out: Float32Array[] = [];
    for await (const frame of source.frames()) out.push(frame.data);
    return out;
  } finally {
    await source.close();
  }
}

/**
 * Lists the videos of a dataset folder, e.g. `ucsd_ped2/testing/frames` -> `[.../01, ..., .../12]`.
 *
 * - If `root` itself holds image files, it is one image-sequence video: returns `[root]`.
 * - Otherwise returns the children of `root` that are image-sequence folders (a sub-folder with at
 *   least one jpg/jpeg/png/bmp file directly inside) or video files (by extension: mp4, m4v, mov,
 *   avi, mkv, webm, mpg, ts, wmv, ...; see `VIDEO_EXTENSIONS`), as `join(root, name)`, in natural
 *   name order (`2` before `10`). Other children (sub-folders without images, other files, hidden
 *   entries) are skipped. Not recursive beyond one level.
 * - If `root` is a video file, returns `[root]`.
 *
 * @throws VideoInputError root not found, not a folder (and not a video file), unreadable, or no
 *   videos found in it.
 */
export async function listVideos(root: string): Promise<string[]> {
  let s;
  try {
    s = await stat(root);
  } catch (err) {
    throw new VideoInputError(root, 'folder not found', NOT_FOUND_HINT, { cause: err });
  }
  if (!s.isDirectory()) {
    if (isVideoName(root)) return [root];
    throw new VideoInputError(root, 'not a folder of videos', 'Pass a folder holding image-sequence sub-folders or video files.');
  }
  const direct = await listImageFiles(root);
  if (direct.images.length > 0) return [root];

  const entries = await readFolder(root);
  const found: string[] = [];
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const full = join(root, e.name);
    let isDir = e.isDirectory();
    let isFile = e.isFile();
    if (e.isSymbolicLink()) {
      const t = await stat(full).catch(() => undefined);
      isDir = t?.isDirectory() ?? false;
      isFile = t?.isFile() ?? false;
    }
    if (isFile && isVideoName(e.name)) {
      found.push(e.name);
    } else if (isDir) {
      const inner = await listImageFiles(full).catch(() => undefined);
      if (inner && inner.images.length > 0) found.push(e.name);
    }
  }
  if (found.length === 0) {
    const dirs = entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort(naturalCompare);
    const seen = dirs.length > 0 ? ` (sub-folders without images: ${dirs.slice(0, 4).join(', ')}${dirs.length > 4 ? ', ...' : ''})` : '';
    throw new VideoInputError(root, `no videos found: no image-sequence sub-folders or video files${seen}`,
      'Point at the folder whose children are the videos (for UCSD Ped2: .../training/frames or .../testing/frames).');
  }
  return found.sort(naturalCompare).map((n) => join(root, n));
}

/**
 * The native size (pixels) of a video: the first image of a folder (read with sharp), or what
 * ffprobe reports for a file. Returns `undefined` when it cannot be told (no ffprobe installed).
 * @throws VideoInputError as `openSource`.
 */
export async function nativeSize(path: string): Promise<{ width: number; height: number } | undefined> {
  const s = await stat(path).catch((err: unknown) => {
    throw new VideoInputError(path, 'no such file or folder', NOT_FOUND_HINT, { cause: err });
  });
  if (s.isDirectory()) {
    const { images } = await listImageFiles(path);
    if (images.length === 0) throw new VideoInputError(path, 'no image files', 'Pass a folder of frame images or a video file.');
    const d = await decodeImage(images[0]!, { width: 16, height: 16, color: 'gray' });
    return { width: d.nativeWidth, height: d.nativeHeight };
  }
  const src = await FfmpegSource.open(path, { width: 16, height: 16, color: 'gray' });
  try {
    return src.info && src.info.width > 0 && src.info.height > 0 ? { width: src.info.width, height: src.info.height } : undefined;
  } finally {
    await src.close();
  }
}
