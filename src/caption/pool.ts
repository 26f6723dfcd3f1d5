/**
 * Captions many videos at once on a pool of caption workers (worker.ts), one video per worker at a
 * time: what `sfn-edge caption` and a cold `sfn-edge eval` of a semantic model spend most of their
 * time on. A video is captioned in order inside one worker (motion needs the previous frame), so
 * the pool parallelises across videos.
 */
import os from 'node:os';

import type { FrameSpec } from '../core/frame.js';
import type { VideoCaptions } from './dataset.js';
import { CaptionWorker, type CaptionWorkerOptions } from './worker.js';

/** Default pool size: one worker per core, at most 4. */
export function defaultCaptionWorkers(): number {
  return Math.max(1, Math.min(4, os.availableParallelism()));
}

/** A fixed set of caption workers; each video goes to the worker with the least work queued. */
export class CaptionPool {
  private constructor(private readonly workers: CaptionWorker[]) {}

  /**
   * Starts `n` workers (each loads its own detector: ~50 MB and ~1 s each).
   * @throws Error when a worker's captioner cannot load (the others are stopped).
   */
  static async start(n = defaultCaptionWorkers(), opts: CaptionWorkerOptions = {}): Promise<CaptionPool> {
    if (!(Number.isInteger(n) && n >= 1)) throw new RangeError(`caption workers must be a positive integer, got ${n}`);
    const started = await Promise.allSettled(Array.from({ length: n }, () => CaptionWorker.start(opts)));
    const ok = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) {
      await Promise.all(ok.map((w) => w.close()));
      throw failed.reason as Error;
    }
    return new CaptionPool(ok);
  }

  /** Number of workers. */
  get size(): number {
    return this.workers.length;
  }

  /**
   * Captions every `every`-th frame of the video at `path` (see dataset.ts `captionVideo`).
   * @throws (rejects) with the video's error or when the worker died
   */
  captionVideo(path: string, every = 1, spec?: FrameSpec): Promise<VideoCaptions> {
    const w = this.workers.reduce((a, b) => (b.pending < a.pending ? b : a));
    return w.captionVideo(path, every, spec);
  }

  /** Stops every worker; pending videos reject. */
  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()));
  }
}
