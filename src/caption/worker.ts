/**
 * Captions off the frame loop's critical path: the captioner runs in a worker thread (its own ONNX
 * Runtime session), the frame loop only posts frames and gets results back later. A worker can
 * also caption a whole video, decoding it itself (`captionVideo`, used by pool.ts).
 *
 * Scheduling: one caption at a time. Event captions (a flagged event's peak frames) wait in a
 * bounded queue (`maxQueue`, oldest dropped first); a periodic caption (every K frames) is only
 * taken when the worker is idle and nothing waits, otherwise it is dropped (resolves `null`) so the
 * captioner can never fall behind the video.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

import type { FrameSpec } from '../core/frame.js';
import { loaderArgs } from '../util/loader.js';
import type { CaptionRequest, CaptionResult, Captioner } from './captioner.js';
import type { VideoCaptions } from './dataset.js';

/** Default nice value of a caption worker thread (see CaptionWorkerOptions.nice). */
export const CAPTION_NICE = 10;

/** Options of {@link CaptionWorker.start}. */
export interface CaptionWorkerOptions {
  /** captioner name (captioner.ts registry): 'detector' (default) or 'vlm' */
  captioner?: string;
  /** the captioner's model folder */
  modelDir?: string;
  /** most event captions waiting (default 8) */
  maxQueue?: number;
  /**
   * nice value of the worker thread and of the ONNX Runtime threads it starts (default 10), so
   * captions yield the CPU to the frame loop when both want it (util/priority.ts); 0 keeps the
   * loop's priority
   */
  nice?: number;
}

/** A whole video captioned inside the worker (decoded there too): see {@link CaptionWorker.captionVideo}. */
interface VideoJob {
  path: string;
  every: number;
  spec?: FrameSpec;
}

interface Pending {
  id: number;
  req?: CaptionRequest;
  video?: VideoJob;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  resolve: (r: any) => void;
  reject: (e: Error) => void;
}

/** The worker's entry: the built `.js`, or from source the `.ts` through a tiny eval'd script,
 * registering tsx's loader first: Node 20 does not apply `--import tsx` hooks inside workers. */
function workerEntry(): { entry: URL | string; eval: boolean } {
  const js = new URL('./worker-thread.js', import.meta.url);
  if (existsSync(fileURLToPath(js))) return { entry: js, eval: false };
  const ts = JSON.stringify(new URL('./worker-thread.ts', import.meta.url).href);
  return { entry: `import('tsx/esm/api').then((t) => { t.register(); return import(${ts}); })`, eval: true };
}

/** A captioner in a worker thread (see the file comment). */
export class CaptionWorker implements Captioner {
  private nextId = 1;
  /** set when the worker thread died or was closed: later requests reject at once */
  private dead: Error | null = null;
  private running: Pending | null = null;
  private readonly queue: Pending[] = [];
  /** captions done, periodic requests dropped, event requests dropped (queue full) */
  readonly counts = { done: 0, droppedPeriodic: 0, droppedEvent: 0 };

  private constructor(
    private readonly worker: Worker,
    private readonly maxQueue: number,
    /** `worker:<captioner>`, e.g. `worker:detector` */
    readonly name: string,
  ) {
    worker.on('message', (m: { id: number; result?: CaptionResult | VideoCaptions; error?: string; errorName?: string }) => {
      const p = this.running;
      if (!p || p.id !== m.id) return;
      this.running = null;
      // the error's class does not cross the thread: a RangeError (wrong frame size) is rebuilt as one
      if (m.error !== undefined) p.reject(m.errorName === 'RangeError' ? new RangeError(`captioner: ${m.error}`) : new Error(`captioner: ${m.error}`));
      else {
        this.counts.done += 1;
        p.resolve(m.result!);
      }
      this.pump();
    });
    worker.on('error', (err) => {
      this.dead = err;
      this.failAll(err);
    });
    worker.on('exit', () => {
      this.dead ??= new Error('the caption worker exited');
      this.failAll(this.dead);
    });
  }

  /**
   * Starts the worker and loads the captioner in it.
   * @throws Error with the captioner's own message when its model cannot be loaded (e.g. a missing
   *   VLM folder), so a bad configuration fails at start, not on the first event.
   */
  static async start(o: CaptionWorkerOptions = {}): Promise<CaptionWorker> {
    const { entry, eval: isEval } = workerEntry();
    const worker = new Worker(entry, { eval: isEval, workerData: { captioner: o.captioner ?? 'detector', modelDir: o.modelDir, nice: o.nice ?? CAPTION_NICE }, execArgv: loaderArgs() });
    await new Promise<void>((resolve, reject) => {
      const onMsg = (m: { ready?: boolean; failed?: string }) => {
        worker.off('message', onMsg);
        worker.off('error', reject);
        if (m.ready) resolve();
        else {
          void worker.terminate();
          reject(new Error(m.failed ?? 'the caption worker failed to start'));
        }
      };
      worker.on('message', onMsg);
      worker.once('error', reject);
    });
    return new CaptionWorker(worker, o.maxQueue ?? 8, `worker:${o.captioner ?? 'detector'}`);
  }

  /** True while a caption is being made. */
  get busy(): boolean {
    return this.running !== null;
  }

  /**
   * Asks for a caption. `event` requests queue (bounded); `periodic` ones are dropped (resolve
   * `null`) unless the worker is idle. Frames are copied to the worker; the caller keeps its arrays.
   * @returns the caption, or null when dropped.
   * @throws (rejects) when the captioner fails on this frame or the worker died.
   */
  request(req: CaptionRequest, kind: 'periodic' | 'event' = 'periodic'): Promise<CaptionResult | null> {
    if (this.dead) return Promise.reject(new Error(`captioner unavailable: ${this.dead.message}`));
    if (kind === 'periodic' && (this.running || this.queue.length > 0)) {
      this.counts.droppedPeriodic += 1;
      return Promise.resolve(null);
    }
    return new Promise((resolve, reject) => {
      if (this.queue.length >= this.maxQueue) {
        this.counts.droppedEvent += 1;
        this.queue.shift()!.resolve(null);
      }
      this.queue.push({ id: this.nextId++, req, resolve, reject });
      this.pump();
    });
  }

  /**
   * The {@link Captioner} call: one `event` request, awaited. Lets a worker stand wherever a
   * captioner does (the shared contract, test/caption/captioner-contract.ts).
   * @throws (rejects) RangeError on frames of the wrong size; Error when the captioner fails, the
   *   worker died or was closed, or the request was dropped from a full queue.
   */
  async caption(req: CaptionRequest): Promise<CaptionResult> {
    const r = await this.request(req, 'event');
    if (!r) throw new Error(`captioner: request dropped, ${this.maxQueue} requests already queued`);
    return r;
  }

  /**
   * Captions a whole video inside the worker: it decodes the frames itself (at `spec`, default the
   * caption grid) and captions every `every`-th frame, repeating each caption up to the next
   * (dataset.ts `captionVideo`). Queued behind other work; never dropped.
   * @throws (rejects) with the video's error (e.g. VideoInputError text) or when the worker died.
   */
  captionVideo(path: string, every = 1, spec?: FrameSpec): Promise<VideoCaptions> {
    if (this.dead) return Promise.reject(new Error(`captioner unavailable: ${this.dead.message}`));
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, video: { path, every, ...(spec ? { spec } : {}) }, resolve, reject });
      this.pump();
    });
  }

  /** Requests waiting or running. */
  get pending(): number {
    return this.queue.length + (this.running ? 1 : 0);
  }

  private pump(): void {
    if (this.running) return;
    const p = this.queue.shift();
    if (!p) return;
    this.running = p;
    this.worker.postMessage(p.video ? { id: p.id, video: p.video } : { id: p.id, req: p.req });
  }

  private failAll(err: Error): void {
    const all = [...(this.running ? [this.running] : []), ...this.queue.splice(0)];
    this.running = null;
    for (const p of all) p.reject(err);
  }

  /** Stops the worker; pending requests reject. */
  async close(): Promise<void> {
    this.worker.removeAllListeners('exit');
    this.dead = new Error('the caption worker was closed');
    this.failAll(this.dead);
    await this.worker.terminate();
  }
}
