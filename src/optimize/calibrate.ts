/**
 * Calibration, separate from graph rewriting (the split of ONNX Runtime's quantization tools): a
 * data reader yields batches of normal clips, the "augmented" model returns the activations to be
 * quantized as extra outputs, and a calibrator per method turns what it saw into a symmetric
 * range |x| <= t per tensor (int8 scale = t / 127, zero point 0).
 *
 * Methods: 'minmax' (t = max |x| seen) and 'percentile' (t = the p-th percentile of |x|, from a
 * histogram whose width doubles when a larger value arrives: bins merge pairwise, so no value is
 * ever re-binned inexactly).
 */
import { ort, type Ort } from '../inference/ort.js';
import { loadClips } from '../train/data.js';
import type { CaptionFile } from '../caption/dataset.js';
import { withExtraOutputs } from '../export/onnx-graph.js';

/** Calibration methods. */
export const CALIBRATION_METHODS = ['minmax', 'percentile'] as const;
/** One of {@link CALIBRATION_METHODS}. */
export type CalibrationMethod = (typeof CALIBRATION_METHODS)[number];

/** One batch of a {@link CalibrationReader}. */
export interface CalibrationBatch {
  /** `[n, 4C, H, W]` float32 in [0, 1] */
  data: Float32Array;
  n: number;
  /** semantic models: `[n, textDim]` text feature of each clip (the caption of its last past frame) */
  text?: Float32Array;
}

/** Batches of clips (and, for a semantic model, their text features); `rewind` starts over (several passes). */
export interface CalibrationReader {
  /** clip shape `[4C, H, W]` */
  readonly clipShape: [number, number, number];
  /** width of the text features of each batch (0: frames only) */
  readonly textDim: number;
  next(): CalibrationBatch | null;
  rewind(): void;
}

/**
 * A reader over clips already in memory (`[count, 4C, H, W]`, batches of `batch`), with their text
 * features `[count, textDim]` for a semantic model.
 * @throws Error when `clips.length` is not a whole number of clips of `clipShape` (calibration data
 *   of the wrong size) or holds none, or `text` does not hold one feature per clip.
 */
export function arrayReader(clips: Float32Array, clipShape: [number, number, number], batch = 8, text?: { data: Float32Array; dim: number }): CalibrationReader {
  const len = clipShape[0] * clipShape[1] * clipShape[2];
  if (clips.length === 0 || clips.length % len !== 0)
    throw new Error(`calibration data of the wrong size: ${clips.length} values is not a whole number of [${clipShape.join(', ')}] clips (${len} values each)`);
  const count = clips.length / len;
  if (text && text.data.length !== count * text.dim) throw new Error(`calibration text features: ${text.data.length} values for ${count} clips of width ${text.dim}`);
  let at = 0;
  return {
    clipShape,
    textDim: text?.dim ?? 0,
    next() {
      if (at >= count) return null;
      const n = Math.min(batch, count - at);
      const data = clips.subarray(at * len, (at + n) * len);
      const t = text?.data.subarray(at * text.dim, (at + n) * text.dim);
      at += n;
      return { data, n, ...(t ? { text: t } : {}) };
    },
    rewind() {
      at = 0;
    },
  };
}

/**
 * The feeds of one `session.run` on a calibration batch: the first input gets the clips
 * `[n, 4C, H, W]`; an input named `text` gets the batch's text features `[n, textDim]`.
 * @throws Error naming the input when the session has another input, or needs `text` and the
 *   reader has none (a semantic model calibrated without captions).
 */
export function batchFeeds(inputNames: readonly string[], b: CalibrationBatch, reader: CalibrationReader): Record<string, Ort.Tensor> {
  const feeds: Record<string, Ort.Tensor> = { [inputNames[0]!]: new ort.Tensor('float32', b.data, [b.n, ...reader.clipShape]) };
  for (const name of inputNames.slice(1)) {
    if (name !== 'text') throw new Error(`calibration: the model has an input '${name}' that calibration cannot fill (only the frames and a 'text' input)`);
    if (!b.text) throw new Error('calibration: the model has a semantic branch (input \'text\'): give the captions of the calibration videos (optimize --captions <file> from `sfn-edge caption`)');
    feeds[name] = new ort.Tensor('float32', b.text, [b.n, reader.textDim]);
  }
  return feeds;
}

/** Where the calibration clips came from (recorded in the manifest). */
export interface CalibrationSource {
  folder: string;
  videos: number;
  clips: number;
  stride: number;
}

/**
 * Loads `count` clips spread evenly over every video of `folder` (normal videos: Ped2's training
 * frames), decoded at the model grid `grid`; with `captions` (a caption file of those videos) also
 * each clip's text feature `[count, textDim]`: the caption of its last past frame, as training feeds it.
 * @throws Error when the folder has no usable video (from loadClips), fewer than `count` clips, or
 *   `captions` lacks a video or has another frame count.
 */
export async function folderClips(folder: string, grid: { width: number; height: number; color: 'gray' | 'rgb' }, count: number, captions?: CaptionFile): Promise<{ clips: Float32Array; clipShape: [number, number, number]; source: CalibrationSource; text?: { data: Float32Array; dim: number } }> {
  const C = grid.color === 'gray' ? 1 : 3;
  const cfg = { width: grid.width, height: grid.height, color: grid.color, pastFrames: 4, textDim: captions?.textDim ?? 0 } as Parameters<typeof loadClips>[1];
  const set = await loadClips(folder, cfg, undefined, captions);
  if (set.samples.length < count) throw new Error(`calibration folder ${folder} has ${set.samples.length} clips, ${count} requested`);
  const stride = set.samples.length / count;
  const frame = C * grid.height * grid.width;
  const clips = new Float32Array(count * 4 * frame);
  const dim = captions?.textDim ?? 0;
  const text = captions ? new Float32Array(count * dim) : undefined;
  for (let i = 0; i < count; i++) {
    const [v, t] = set.samples[Math.floor(i * stride)]!;
    const frames = set.videos[v]!;
    for (let f = 0; f < 4; f++) clips.set(frames[t - 4 + f]!, (i * 4 + f) * frame);
    if (text) text.set(set.texts![v]![t - 1]!, i * dim);
  }
  return { clips, clipShape: [4 * C, grid.height, grid.width], source: { folder, videos: set.videos.length, clips: count, stride: +stride.toFixed(2) }, ...(text ? { text: { data: text, dim } } : {}) };
}

/** Collects values of one tensor; `threshold()` is the symmetric range t (|x| <= t maps to +-127). */
export interface Calibrator {
  collect(values: Float32Array): void;
  threshold(): number;
}

/** t = max |x|. */
export class MinMaxCalibrator implements Calibrator {
  private max = 0;
  collect(values: Float32Array): void {
    for (const v of values) {
      const a = Math.abs(v);
      if (a > this.max) this.max = a;
    }
  }
  threshold(): number {
    return this.max;
  }
}

/** t = the `percentile`-th percentile of |x| (default 99.99), from a doubling histogram of `bins` bins. */
export class PercentileCalibrator implements Calibrator {
  private readonly hist: Float64Array;
  private width = 0; // histogram covers [0, width * bins)
  private total = 0;
  constructor(
    readonly percentile = 99.99,
    readonly bins = 4096,
  ) {
    if (!(percentile > 0 && percentile <= 100)) throw new Error(`percentile must be in (0, 100], got ${percentile}`);
    this.hist = new Float64Array(bins);
  }
  collect(values: Float32Array): void {
    let max = 0;
    for (const v of values) max = Math.max(max, Math.abs(v));
    if (max === 0 && this.width === 0) {
      this.hist[0]! += values.length;
      this.total += values.length;
      return;
    }
    if (this.width === 0) this.width = (max * 1.0001) / this.bins;
    while (max >= this.width * this.bins) {
      // double the range: merge bins pairwise
      for (let i = 0; i < this.bins / 2; i++) this.hist[i] = this.hist[2 * i]! + this.hist[2 * i + 1]!;
      this.hist.fill(0, this.bins / 2);
      this.width *= 2;
    }
    for (const v of values) this.hist[Math.min(this.bins - 1, Math.floor(Math.abs(v) / this.width))]! += 1;
    this.total += values.length;
  }
  threshold(): number {
    if (this.total === 0 || this.width === 0) return 0;
    const want = (this.percentile / 100) * this.total;
    let acc = 0;
    for (let i = 0; i < this.bins; i++) {
      acc += this.hist[i]!;
      if (acc >= want) return (i + 1) * this.width;
    }
    return this.bins * this.width;
  }
}

/** A calibrator for `method` (`percentile` = 99.99 unless given). */
export function makeCalibrator(method: CalibrationMethod, percentile?: number): Calibrator {
  return method === 'minmax' ? new MinMaxCalibrator() : new PercentileCalibrator(percentile);
}

/**
 * Runs `reader`'s clips through `modelBytes` augmented to output `tensors`, feeding every value to
 * one calibrator per tensor from `factory`. Feeds: {@link batchFeeds}.
 * @returns tensor name -> symmetric threshold t (> 0; a tensor that was all zeros gets 1e-8).
 * @throws Error when the reader yields no clip.
 */
export async function calibrate(modelBytes: Uint8Array, tensors: string[], reader: CalibrationReader, factory: () => Calibrator, threads = 2): Promise<Map<string, number>> {
  const aug = withExtraOutputs(modelBytes, tensors);
  const session = await ort.InferenceSession.create(aug, { intraOpNumThreads: threads, graphOptimizationLevel: 'basic', executionProviders: ['cpu'] });
  const cals = new Map(tensors.map((t) => [t, factory()]));
  let seen = 0;
  try {
    reader.rewind();
    for (let b = reader.next(); b; b = reader.next()) {
      const out = await session.run(batchFeeds(session.inputNames, b, reader), tensors);
      for (const t of tensors) cals.get(t)!.collect(out[t]!.data as Float32Array);
      for (const v of Object.values(out)) v.dispose();
      seen += b.n;
    }
  } finally {
    await session.release();
  }
  if (seen === 0) throw new Error('calibration: the data reader yielded no clip');
  return new Map([...cals].map(([t, c]) => [t, Math.max(c.threshold(), 1e-8)]));
}
