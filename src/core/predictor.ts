/**
 * The seam between the evaluator and a frame-prediction model.
 */
import { channelsOf, type FrameSpec } from './frame.js';

/** Number of past frames a predictor sees (the model's temporal context). */
export const CONTEXT_FRAMES = 4;

/**
 * Something that predicts the next frame from the previous {@link CONTEXT_FRAMES} frames.
 *
 * Layouts (C = channelsOf(spec.color), H = spec.height, W = spec.width, all float32 in [0, 1]):
 * - input `clips`: `[n, 4·C, H, W]`, i.e. n clips one after another; clip i is the 4 past frames
 *   oldest first, each `[C, H, W]` planar (frame j of clip i starts at `(i·4 + j)·C·H·W`);
 * - output: `[n, C, H, W]`, the predicted next frame of each clip.
 */
export interface Predictor {
  /** Short identifier used in reports (e.g. `copy-last`, a model file name). */
  readonly name: string;
  /** The grid and colour mode frames must be delivered at. */
  readonly spec: FrameSpec;
  /** Preferred number of clips per `predict` call; callers may pass fewer (last batch). */
  readonly batchSize: number;
  /**
   * Predicts the next frame of each of `n` clips.
   * @param clips `[n, 4·C, H, W]` float32; may be longer than needed (only the first n clips are read).
   * @param n number of clips, 1 ≤ n ≤ batchSize.
   * @returns a new `[n, C, H, W]` float32 array.
   */
  predict(clips: Float32Array, n: number): Promise<Float32Array>;
  /** Width of the text feature of a model with the semantic branch; 0 or absent: none. */
  readonly textDim?: number;
  /**
   * Semantic branch: predicts the next frames and the text features of `n` clips.
   * @param text `[n, textDim]` float32, the text feature of each clip's caption (embed.ts)
   * @returns `pred [n, C, H, W]` and `text [n, textDim]` (the predicted text feature)
   */
  predictWithText?(clips: Float32Array, n: number, text: Float32Array): Promise<{ pred: Float32Array; text: Float32Array }>;
}

/**
 * The `copy-last` baseline: predicts that the next frame equals the last input frame, so its
 * error is the frame difference |x_t - x_{t-1}|². A model is only useful if it beats this.
 */
export class CopyLastPredictor implements Predictor {
  readonly name = 'copy-last';
  readonly spec: FrameSpec;
  readonly batchSize: number;

  /**
   * @param spec frame grid to evaluate at.
   * @param batchSize clips per call (no effect on results; default 16).
   */
  constructor(spec: FrameSpec, batchSize = 16) {
    this.spec = { ...spec };
    this.batchSize = batchSize;
  }

  /**
   * Returns the last (4th) frame of each clip. See {@link Predictor.predict} for layouts.
   * @throws Error if `clips` is shorter than n clips.
   */
  async predict(clips: Float32Array, n: number): Promise<Float32Array> {
    const frame = channelsOf(this.spec.color) * this.spec.height * this.spec.width;
    const clipLen = CONTEXT_FRAMES * frame;
    if (clips.length < n * clipLen) {
      throw new Error(`copy-last: clips hold ${clips.length} values, need ${n} x ${clipLen}`);
    }
    const out = new Float32Array(n * frame);
    for (let i = 0; i < n; i++) {
      const start = i * clipLen + (CONTEXT_FRAMES - 1) * frame;
      out.set(clips.subarray(start, start + frame), i * frame);
    }
    return out;
  }
}
