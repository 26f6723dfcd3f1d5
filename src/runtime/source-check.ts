/**
 * The check a new `source` passes before a `config/set` is acknowledged: it opens and delivers a
 * first frame at the model grid. A finite source (folder, file) is opened with `openSource`; a live
 * one (URL, /dev/videoN) with a `StreamSource`, which must deliver a frame within the timeout.
 */
import { openSource } from '../video/open.js';
import type { FrameSource, FrameSpec } from '../core/frame.js';
import { isLiveSource, StreamSource } from '../video/stream-source.js';

/**
 * Opens `path`, reads one frame (`[C, H, W]` float32 in [0, 1] at `spec`) and closes it again.
 * @param timeoutMs how long a live source may take to deliver its first frame (default 15 s).
 * @throws Error starting with `source: <path>:` and the reason (not found, not a video, no frame
 *   within the timeout, ffmpeg's message), when the source cannot be used.
 */
export async function checkSource(path: string, spec: FrameSpec, timeoutMs = 15_000): Promise<void> {
  let source: FrameSource | null = null;
  let timer: NodeJS.Timeout | undefined;
  try {
    source = isLiveSource(path) ? new StreamSource(path, spec, timeoutMs) : await openSource(path, spec);
    const s = source;
    const first = s.frames()[Symbol.asyncIterator]().next();
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        void s.close();
        reject(new Error(`no frame within ${timeoutMs} ms`));
      }, timeoutMs);
    });
    const r = await Promise.race([first, late]);
    if (r.done) throw new Error('it delivered no frame');
  } catch (err) {
    const msg = (err as Error).message;
    throw new Error(msg.startsWith(path) ? `source: ${msg}` : `source: ${path}: ${msg}`, { cause: err });
  } finally {
    clearTimeout(timer);
    await source?.close().catch(() => undefined);
  }
}
