/**
 * The captioner seam (docs/style.md: an interface, a default implementation, a registry):
 *
 * - `detector` (default): COCO CenterNet detections + block-matching motion in each box + the
 *   anomaly region, turned into a short English caption and a structured form (describe.ts), and
 *   embedded for the network's text token (embed.ts). Offline; ~70 ms per call on this CPU (the
 *   detector runs through ONNX Runtime, detector.ts).
 * - `vlm`: a local vision-language captioning model folder (vlm.ts), used when one is configured.
 */
import { CenterNetDetector, type Box } from './detector.js';
import { buildCaption, type StructuredCaption } from './describe.js';
import { embedCaption } from './embed.js';
import { boxMotion } from './motion.js';

/** What a captioner is asked to describe. Frames are planar `[C, H, W]` float32 in [0, 1]. */
export interface CaptionRequest {
  /** the frame to describe */
  frame: Float32Array;
  /** the frame before it (same size), for motion; omit when unknown */
  prev?: Float32Array;
  width: number;
  height: number;
  /** normalised `[x, y, w, h]` of the anomaly region (from the error map), if any */
  anomalyBox?: Box;
  /** frames between `prev` and `frame` (default 1) */
  gap?: number;
}

/** A caption with its structured form and text feature. */
export interface CaptionResult {
  text: string;
  structured: StructuredCaption;
  /** the text feature for the semantic branch, `TEXT_DIM` float32 (embed.ts) */
  embedding: Float32Array;
  /** wall time of the call, ms */
  ms: number;
  /** which captioner made it */
  captioner: string;
}

/** A captioner. Calls may be slow (tens to hundreds of ms): run them off the frame loop (worker.ts). */
export interface Captioner {
  readonly name: string;
  /** @throws RangeError on frames of the wrong size; Error after `close()` */
  caption(req: CaptionRequest): Promise<CaptionResult>;
  /** Releases the model. Safe to call twice. */
  close(): Promise<void>;
}

/** The default captioner: detector + motion + template (see the file comment). */
export class DetectorCaptioner implements Captioner {
  readonly name = 'detector';
  private closed = false;
  private constructor(private readonly detector: CenterNetDetector) {}

  /** Loads the detector (`modelDir`: a folder with centernet.json/.bin; default: the packaged one). */
  static async create(modelDir?: string): Promise<DetectorCaptioner> {
    return new DetectorCaptioner(await CenterNetDetector.load(modelDir ? { dir: modelDir } : {}));
  }

  /** @throws RangeError on frames of the wrong size; Error after `close()`. */
  async caption(req: CaptionRequest): Promise<CaptionResult> {
    if (this.closed) throw new Error('the detector captioner was closed');
    const t0 = performance.now();
    const { frame, prev, width, height } = req;
    if (prev && prev.length !== frame.length) throw new RangeError(`previous frame has ${prev.length} values, the frame ${frame.length}`);
    const dets = await this.detector.detect(frame, width, height);
    const objects = dets.map((d) => ({ ...d, ...(prev ? { motion: boxMotion(prev, frame, width, height, d.box, { gap: req.gap ?? 1 }) } : {}) }));
    const structured = buildCaption(objects, req.anomalyBox);
    return { text: structured.text, structured, embedding: embedCaption(objects), ms: performance.now() - t0, captioner: this.name };
  }

  /** Releases the detector's session. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.detector.dispose();
  }
}

/** Captioner factories by name. */
export const CAPTIONERS = new Map<string, (opts: { modelDir?: string }) => Promise<Captioner>>([
  ['detector', (o) => DetectorCaptioner.create(o.modelDir)],
  ['vlm', async (o) => (await import('./vlm.js')).VlmCaptioner.create(o.modelDir)],
]);

/**
 * Creates a captioner by name.
 * @throws Error for an unknown name (lists the known ones) or when its model cannot be loaded.
 */
export async function createCaptioner(name: string, opts: { modelDir?: string } = {}): Promise<Captioner> {
  const make = CAPTIONERS.get(name);
  if (!make) throw new Error(`unknown captioner '${name}'; use one of: ${[...CAPTIONERS.keys()].join(', ')}`);
  return make(opts);
}
