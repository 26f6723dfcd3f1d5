/**
 * A `Predictor` (see src/core/predictor.ts) that runs the TensorFlow.js network from a weights file:
 * used to score training snapshots (AUC-vs-training-time curves) and as the reference side of the
 * ONNX parity test. Deployed inference goes through ONNX Runtime (src/inference/).
 */
import type { Predictor } from '../core/predictor.js';
import { loadWeights } from './checkpoint.js';
import type { FrameSpec } from '../core/frame.js';
import { initBackend, tf } from './backend.js';
import { derived, type SfnConfig } from '../core/model-config.js';
import { patchifyClip, unpatchify, type Grid } from './patchify.js';
import { disposeParams, forward, paramsFromArrays, type Params } from './sfn.js';

/** Token-layout inputs of n clips given as `[n, 4*C, H, W]` float32 in [0, 1]. */
export function clipsToTokens(cfg: SfnConfig, clips: Float32Array, n: number) {
  const g = derived(cfg);
  const frame = g.channels * cfg.height * cfg.width;
  const grid: Grid = { channels: g.channels, height: cfg.height, width: cfg.width, patch: cfg.patch };
  const rows = {
    appearance: new Float32Array(n * g.tokens * g.appearanceLen),
    motion: new Float32Array(n * g.tokens * g.motionLen),
    last: new Float32Array(n * g.tokens * g.outLen),
  };
  for (let i = 0; i < n; i++) {
    const frames = Array.from({ length: cfg.pastFrames }, (_, f) => clips.subarray((i * cfg.pastFrames + f) * frame, (i * cfg.pastFrames + f + 1) * frame));
    patchifyClip(frames, grid, rows, i * g.tokens);
  }
  return { app: rows.appearance, mot: rows.motion, last: rows.last, grid, g };
}

export class TfjsPredictor implements Predictor {
  readonly name: string;
  readonly spec: FrameSpec;

  private constructor(
    name: string,
    readonly config: SfnConfig,
    private readonly params: Params,
    readonly batchSize: number,
  ) {
    this.name = name;
    this.spec = { width: config.width, height: config.height, color: config.color };
  }

  /** Loads `<base>.json/.bin` weights. Throws on a missing or corrupt file (see loadWeights). */
  static async load(weights: string, batchSize = 8): Promise<TfjsPredictor> {
    await initBackend();
    const { header, arrays } = await loadWeights(weights);
    const params = paramsFromArrays(arrays, false);
    return new TfjsPredictor(weights, header.config, params, batchSize);
  }

  /** Text-feature width (0 without the semantic branch). */
  get textDim(): number {
    return this.config.textDim;
  }

  /**
   * `[n, 4*C, H, W]` -> predicted next frames `[n, C, H, W]`, float32.
   * @throws Error for a model with the semantic branch (use predictWithText).
   */
  async predict(clips: Float32Array, n: number): Promise<Float32Array> {
    return (await this.run(clips, n)).pred;
  }

  /** Semantic branch: clips `[n, 4*C, H, W]` and text `[n, textDim]` -> pred `[n, C, H, W]`, text `[n, textDim]`. */
  async predictWithText(clips: Float32Array, n: number, text: Float32Array): Promise<{ pred: Float32Array; text: Float32Array }> {
    const r = await this.run(clips, n, text);
    return { pred: r.pred, text: r.text! };
  }

  private async run(clips: Float32Array, n: number, text?: Float32Array): Promise<{ pred: Float32Array; text?: Float32Array }> {
    const { app, mot, last, grid, g } = clipsToTokens(this.config, clips, n);
    const rows = n * g.tokens;
    const res = tf.tidy(() => {
      const f = forward(this.params, this.config, {
        appearance: tf.tensor2d(app, [rows, g.appearanceLen]),
        motion: tf.tensor2d(mot, [rows, g.motionLen]),
        last: tf.tensor2d(last, [rows, g.outLen]),
        batch: n,
        ...(text ? { text: tf.tensor2d(text.subarray(0, n * this.config.textDim), [n, this.config.textDim]) } : {}),
      });
      return { pred: f.pred.dataSync() as Float32Array, text: f.text ? (f.text.dataSync() as Float32Array) : undefined };
    });
    const frame = g.channels * this.config.height * this.config.width;
    const out = new Float32Array(n * frame);
    for (let i = 0; i < n; i++) out.set(unpatchify(res.pred, grid, i * g.tokens), i * frame);
    return { pred: out, ...(res.text ? { text: res.text } : {}) };
  }

  /** Releases the weights. */
  dispose(): void {
    disposeParams(this.params);
  }
}
