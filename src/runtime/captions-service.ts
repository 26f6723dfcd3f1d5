/**
 * On-device captions (src/caption): one caption worker thread for the device, shared by the event
 * describer and the semantic feed of every camera. Captions are an enrichment: when the captioner
 * cannot start, detection and events go on without them (logged).
 */
import type { RuntimeConfig } from '../core/runtime-config.js';
import { CaptionWorker } from '../caption/worker.js';
import { log } from '../util/log.js';
import type { Service } from './services.js';

/** The caption worker as a service (see the file comment). */
export class CaptionsService implements Service {
  readonly name = 'captions';
  /** the worker, or null when captions are off or the captioner did not start */
  worker: CaptionWorker | null = null;

  /** @param config the `captions` part of the configuration at start */
  constructor(private readonly config: () => RuntimeConfig['captions']) {}

  /** Starts the worker when captions are on; never throws (a captioner that fails is logged, and captions are off). */
  async start(): Promise<void> {
    const cap = this.config();
    if (!cap.enabled) return;
    this.worker = await CaptionWorker.start({ captioner: cap.captioner, ...(cap.model_dir ? { modelDir: cap.model_dir } : {}) }).catch((err: unknown) => {
      log.error({ err: (err as Error).message, captioner: cap.captioner }, 'captions are off: the captioner did not start (fix captions.model_dir, or set captions.enabled false)');
      return null;
    });
  }

  async stop(): Promise<void> {
    await this.worker?.close();
    this.worker = null;
  }
}
