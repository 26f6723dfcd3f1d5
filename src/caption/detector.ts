/**
 * On-device object detector for the default captioner: the COCO CenterNet (MobileNetV3 backbone,
 * 512x512 input, 80 classes) whose TensorFlow.js graph ships inside the `@vladmandic/human` npm
 * package (`models/centernet.json` + `.bin`, 4 MB), run with our own TensorFlow.js (tfjs-node when
 * installed, wasm otherwise; see src/model/backend.ts). Nothing is downloaded at run time.
 *
 * Measured on this 2-core CPU, wasm backend, one thread: about 150 ms per frame.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';

import { initBackend, tf } from '../model/backend.js';
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

/** The detector's fixed input side in pixels (the graph has a fixed 512x512 input). */
export const DETECTOR_INPUT = 512;

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
 * COCO CenterNet on TensorFlow.js. Load once with {@link CenterNetDetector.load}, then call
 * {@link detect} per frame. Not thread-safe across concurrent calls (run one at a time, e.g. in the
 * caption worker).
 */
export class CenterNetDetector {
  private constructor(private readonly model: tf.GraphModel) {}

  /**
   * Loads the graph model from `dir` (default: the one in `@vladmandic/human`).
   * @throws Error when the files are missing or the graph cannot be parsed (names the folder).
   */
  static async load(dir?: string): Promise<CenterNetDetector> {
    const folder = centerNetFolder(dir);
    await initBackend();
    try {
      const json = JSON.parse(readFileSync(join(folder, 'centernet.json'), 'utf8'));
      const bin = readFileSync(join(folder, 'centernet.bin'));
      const weightSpecs = (json.weightsManifest as { weights: tf.io.WeightsManifestEntry[] }[]).flatMap((g) => g.weights);
      const artifacts: tf.io.ModelArtifacts = {
        modelTopology: json.modelTopology,
        weightSpecs,
        weightData: bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength),
        signature: json.signature,
      };
      return new CenterNetDetector(await tf.loadGraphModel(tf.io.fromMemory(artifacts)));
    } catch (err) {
      throw new Error(`cannot load the detector model from ${folder}: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * Detects objects in one frame.
   * @param frame planar `[C, H, W]` float32 in [0, 1], C = 1 (gray, replicated to RGB) or 3 (RGB)
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
    const raw = tf.tidy(() => {
      const chw = tf.tensor3d(frame, [C, height, width]);
      let hwc = tf.transpose(chw, [1, 2, 0]) as tf.Tensor3D;
      if (C === 1) hwc = tf.tile(hwc, [1, 1, 3]);
      // the graph takes RGB in [0, 255] (as @vladmandic/human feeds it)
      const x = tf.image.resizeBilinear(hwc, [DETECTOR_INPUT, DETECTOR_INPUT]).mul(255).expandDims(0);
      return this.model.execute(x, 'tower_0/detections') as tf.Tensor; // [1, 100, 6]: x1 y1 x2 y2 score class
    });
    const rows = ((await raw.array()) as number[][][])[0]!;
    raw.dispose();
    const kept = rows.filter((r) => r[4]! >= minScore && Number.isFinite(r[5]!));
    if (kept.length === 0) return [];
    const boxes = tf.tensor2d(kept.map((r) => [r[1]!, r[0]!, r[3]!, r[2]!])); // y1 x1 y2 x2
    const scores = tf.tensor1d(kept.map((r) => r[4]!));
    const nms = await tf.image.nonMaxSuppressionAsync(boxes, scores, opts.maxDetections ?? 50, opts.iou ?? 0.5, minScore);
    const idx = Array.from(await nms.data());
    tf.dispose([boxes, scores, nms]);
    const S = DETECTOR_INPUT;
    return idx.map((i) => {
      const r = kept[i]!;
      const x1 = clamp01(r[0]! / S);
      const y1 = clamp01(r[1]! / S);
      return { label: COCO_LABELS[r[5]!] ?? `class ${r[5]}`, score: r[4]!, box: [x1, y1, clamp01(r[2]! / S) - x1, clamp01(r[3]! / S) - y1] as Box };
    });
  }

  /** Releases the model's tensors. */
  dispose(): void {
    this.model.dispose();
  }
}

function clamp01(v: number): number {
  return Math.min(1, Math.max(0, v));
}
