/**
 * On-device object detector for the default captioner: the COCO CenterNet (MobileNetV3 backbone,
 * 512x512 input, 80 classes) whose TensorFlow.js graph ships inside the `@vladmandic/human` npm
 * package (`models/centernet.json` + `.bin`, 4 MB). At load it is converted to ONNX in memory
 * (centernet-onnx.ts) and run through ONNX Runtime, on the same execution providers as the anomaly
 * model (TensorRT / CUDA on a Jetson, the CPU here). Nothing is downloaded at run time.
 *
 * Measured on this 2-core CPU, one ORT thread: about 55 ms per 512x512 inference, against 150–190 ms
 * for the same graph on TensorFlow.js wasm (`node --import tsx scripts/caption-bench.ts`).
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { ort, type Ort } from '../inference/ort.js';

import { createSession, type ProviderName } from '../inference/session.js';
import { CENTERNET_ONNX_INPUT, CENTERNET_PEAK_OUTPUTS, centerNetToOnnx, decodePeaks, nonMaxSuppression, readGraphWeights } from './centernet-onnx.js';
import { COCO_LABELS } from './coco.js';

/** A box in normalised image coordinates: `[x, y, w, h]`, top-left origin, each in [0, 1]. */
export type Box = [number, number, number, number];

/** One detected object. */
export interface Detection {
  /** COCO label, e.g. 'person', 'bicycle' */
  label: string;
  /** confidence in [0, 1] */
  score: number;
  /** normalised box `[x, y, w, h]` */
  box: Box;
}

/** Options of {@link CenterNetDetector.detect}. */
export interface DetectOptions {
  /** minimum confidence kept (default 0.2) */
  minScore?: number;
  /** IoU above which a lower-scored box of any class is suppressed (default 0.5) */
  iou?: number;
  /** at most this many detections (default 50) */
  maxDetections?: number;
}

/** The detector's network input side in pixels (the graph was trained at 512x512; frames are
 * stretched to it, which finds Ped2's small bicycles far more often than the frame's own 3:2 size). */
export const DETECTOR_INPUT = 512;

/** Options of {@link CenterNetDetector.load}. */
export interface DetectorLoadOptions {
  /** folder holding centernet.json and centernet.bin (default: the one in `@vladmandic/human`) */
  dir?: string;
  /** execution providers to try, in order (default ['cpu']: the caption worker should not take the GPU from the anomaly model unless a profile says so) */
  providers?: readonly ProviderName[];
  /** ORT intra-op threads (default 1: captions run beside the frame loop) */
  threads?: number;
}
/**
 * Finds the CenterNet model folder: `dir` when given, else the `models/` folder of the installed
 * `@vladmandic/human` package.
 * @throws Error naming the folder and what to do when `centernet.json` or `centernet.bin` is missing.
 */
export function centerNetFolder(dir?: string): string {
  let folder = dir ? resolve(dir) : '';
  if (!folder) {
    try {
      const entry = createRequire(import.meta.url).resolve('@vladmandic/human');
      folder = join(dirname(entry), '..', 'models');
    } catch (err) {
      throw new Error('the detector model package @vladmandic/human is not installed; run `npm install` in the sfn-edge folder', { cause: err });
    }
  }
  for (const f of ['centernet.json', 'centernet.bin'])
    if (!existsSync(join(folder, f))) throw new Error(`detector model file ${join(folder, f)} is missing; reinstall @vladmandic/human or pass the folder that holds centernet.json and centernet.bin`);
  return folder;
}

/**
 * COCO CenterNet through ONNX Runtime. Load once with {@link CenterNetDetector.load}, then call
 * {@link detect} per frame, one call at a time (e.g. in the caption worker).
 */
export class CenterNetDetector {
  private constructor(
    private readonly session: Ort.InferenceSession,
    /** the execution provider the session runs on */
    readonly provider: ProviderName,
  ) {}

  /**
   * Reads the tfjs graph, converts it to ONNX and opens an ORT session.
   * @throws Error naming the folder when the files are missing, truncated or cannot be converted.
   */
  static async load(o: DetectorLoadOptions = {}): Promise<CenterNetDetector> {
    const folder = centerNetFolder(o.dir);
    let bytes: Uint8Array;
    try {
      const json = JSON.parse(readFileSync(join(folder, 'centernet.json'), 'utf8'));
      const weights = readGraphWeights(json.weightsManifest, readFileSync(join(folder, 'centernet.bin')));
      bytes = centerNetToOnnx(json.modelTopology.node, weights, DETECTOR_INPUT, DETECTOR_INPUT);
    } catch (err) {
      throw new Error(`cannot load the detector model from ${folder}: ${(err as Error).message}`, { cause: err });
    }
    const { session, provider } = await createSession(bytes, { providers: o.providers ?? ['cpu'], intraOpThreads: o.threads ?? 1 }, join(folder, 'centernet.json'));
    return new CenterNetDetector(session, provider);
  }

  /**
   * Detects objects in one frame.
   * @param frame planar `[C, H, W]` float32 in [0, 1], C = 1 (gray, replicated to RGB) or 3 (RGB);
   *   any size (stretched to 512x512 inside the model)
   * @param width W in pixels
   * @param height H in pixels
   * @returns detections sorted by score, after class-agnostic non-maximum suppression
   * @throws RangeError when `frame.length` is not `C * H * W` for C in {1, 3}
   */
  async detect(frame: Float32Array, width: number, height: number, opts: DetectOptions = {}): Promise<Detection[]> {
    const plane = width * height;
    const C = frame.length / plane;
    if (C !== 1 && C !== 3) throw new RangeError(`frame has ${frame.length} values, expected 1 or 3 planes of ${width}x${height}`);
    const minScore = opts.minScore ?? 0.2;
    let rgb = frame;
    if (C === 1) {
      rgb = new Float32Array(3 * plane);
      for (let c = 0; c < 3; c++) rgb.set(frame, c * plane);
    }
    // only the peaks the graph picked: fetching the heatmap would copy 5.5 MB into a new
    // ArrayBuffer per call, garbage that piles up in the idle worker and fragments its malloc arena
    const out = await this.session.run({ [CENTERNET_ONNX_INPUT]: new ort.Tensor('float32', rgb, [1, 3, height, width]) }, [...CENTERNET_PEAK_OUTPUTS]);
    const S4 = DETECTOR_INPUT / 4;
    const raw = decodePeaks(out.peak_scores!.data as Float32Array, out.peak_index!.data as BigInt64Array, out.peak_wh!.data as Float32Array, S4, S4, minScore);
    const kept = nonMaxSuppression(raw, opts.iou ?? 0.5, opts.maxDetections ?? 50);
    const S = DETECTOR_INPUT;
    return kept.map((r) => {
      const x1 = clamp01(r.x1 / S);
      const y1 = clamp01(r.y1 / S);
      return { label: COCO_LABELS[r.cls] ?? `class ${r.cls}`, score: r.score, box: [x1, y1, clamp01(r.x2 / S) - x1, clamp01(r.y2 / S) - y1] as Box };
    });
  }

  /** Releases the ORT session. */
  async dispose(): Promise<void> {
    await this.session.release();
  }
}

function clamp01(v: number): number {
  return Math.min(1, Math.max(0, v));
}
