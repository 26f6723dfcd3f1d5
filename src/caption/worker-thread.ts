/**
 * Worker-thread side of {@link CaptionWorker} (worker.ts): loads the captioner named in
 * `workerData`, answers `ready` (or `failed` with the error message), then captions each request.
 */
import { parentPort, workerData } from 'node:worker_threads';

import type { FrameSpec } from '../core/frame.js';
import { createCaptioner, type CaptionRequest } from './captioner.js';
import { CAPTION_SPEC, captionVideo } from './dataset.js';
import { niceThisThread } from '../util/priority.js';

const port = parentPort!;
const { captioner: name, modelDir, nice } = workerData as { captioner: string; modelDir?: string; nice?: number };

try {
  // before the model loads, so that ONNX Runtime's threads, created by this one, inherit it
  if (nice) niceThisThread(nice);
  const captioner = await createCaptioner(name, modelDir ? { modelDir } : {});
  port.on('message', async (m: { id: number; req?: CaptionRequest; video?: { path: string; every: number; spec?: FrameSpec } } | 'close') => {
    if (m === 'close') {
      await captioner.close();
      port.close();
      return;
    }
    try {
      const r = m.video ? await captionVideo(captioner, m.video.path, m.video.every, m.video.spec ?? CAPTION_SPEC) : await captioner.caption(m.req!);
      port.postMessage({ id: m.id, result: r });
    } catch (err) {
      port.postMessage({ id: m.id, error: (err as Error).message, errorName: (err as Error).name });
    }
  });
  port.postMessage({ ready: true });
} catch (err) {
  port.postMessage({ failed: (err as Error).message });
}
