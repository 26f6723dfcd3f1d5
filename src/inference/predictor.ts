/**
 * A `Predictor` (src/core/predictor.ts) backed by an exported ONNX model and ONNX Runtime: what
 * `sfn-edge eval --model` and deployments run. The manifest beside the model gives the frame grid
 * and colour mode, and its SHA-256 is checked before the model is loaded.
 */
import { ort, type Ort } from './ort.js';
import type { Predictor } from '../core/predictor.js';
import { readManifest, type Manifest } from '../core/manifest.js';
import { channelsOf, type FrameSpec } from '../core/frame.js';
import { createSession, type ProviderName, type SessionOptions } from './session.js';

/** Options of {@link OnnxPredictor.load}. */
export interface OnnxPredictorOptions {
  /** clips per `predict` call the evaluator should send (default 8; a fixed-batch model's batch wins) */
  batchSize?: number;
  /** execution providers to try in order (default tensorrt, cuda, cpu) */
  providers?: readonly ProviderName[];
  /** ONNX Runtime intra-op threads */
  intraOpThreads?: number;
  /** full session options (e.g. from a device profile: provider options, TensorRT engine cache);
   * when given, `providers` and `intraOpThreads` are ignored */
  session?: SessionOptions;
}

/**
 * Next-frame predictor running an exported SFN-Lite ONNX model: clips `[n, 4*C, H, W]` float32 in
 * [0, 1] -> `[n, C, H, W]` (see {@link Predictor}). Grid and colour mode come from the manifest.
 * Dynamic-N models run each chunk of up to `batchSize` clips as is; fixed-batch models pad the last
 * chunk with zero clips and drop their outputs.
 */
export class OnnxPredictor implements Predictor {
  readonly name: string;
  readonly spec: FrameSpec;
  readonly batchSize: number;

  private constructor(
    readonly modelPath: string,
    readonly manifest: Manifest,
    private readonly session: Ort.InferenceSession,
    /** the execution provider the session runs on ('cuda', 'cpu', ...) */
    readonly provider: ProviderName,
    /** batch size baked into the model, or null when N is dynamic */
    readonly fixedBatch: number | null,
    batchSize: number,
  ) {
    this.name = manifest.name;
    this.spec = { width: manifest.model.width, height: manifest.model.height, color: manifest.model.color };
    this.batchSize = batchSize;
  }

  /**
   * Loads `modelPath` (.onnx) after checking it against `<model>.manifest.json` (readManifest), and
   * opens an ONNX Runtime session on the first provider that starts (createSession). The bytes
   * that were hashed are the bytes loaded.
   * @throws Error if the model or manifest is missing/invalid, the SHA-256 does not match, ORT
   *   cannot load the model, no provider starts, or batchSize is not a positive integer.
   */
  static async load(modelPath: string, opts: OnnxPredictorOptions = {}): Promise<OnnxPredictor> {
    const { manifest, bytes } = await readManifest(modelPath);
    const n0 = manifest.inputs[0]!.shape[0];
    const fixed = typeof n0 === 'number' ? n0 : null;
    const batchSize = fixed ?? opts.batchSize ?? 8;
    if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new Error(`batchSize must be a positive integer, got ${batchSize}`);
    const { session, provider } = await createSession(
      bytes,
      opts.session ?? { ...(opts.providers ? { providers: opts.providers } : {}), ...(opts.intraOpThreads !== undefined ? { intraOpThreads: opts.intraOpThreads } : {}) },
      modelPath,
    );
    return new OnnxPredictor(modelPath, manifest, session, provider, fixed, batchSize);
  }

  /**
   * Predicts the next frame of `n` clips.
   * @param clips `[n, 4*C, H, W]` float32 in [0, 1] (may be longer; only n clips are read).
   * @param n clips, >= 1 (more than batchSize are run in chunks; a fixed-batch model pads the last chunk).
   * @returns a new `[n, C, H, W]` float32 array.
   * @throws Error if n is not a positive integer or `clips` holds fewer than n clips.
   */
  async predict(clips: Float32Array, n: number): Promise<Float32Array> {
    return (await this.run(clips, n)).pred;
  }

  /** Text-feature width of a model with the semantic branch (its `text` input), else 0. */
  get textDim(): number {
    const t = this.manifest.inputs.find((i) => i.name === 'text');
    return t ? Number(t.shape[1]) : 0;
  }

  /**
   * Semantic branch: next frames and text features of `n` clips.
   * @param text `[n, textDim]` float32, each clip's caption text feature
   * @returns pred `[n, C, H, W]` and text `[n, textDim]` (predicted text feature)
   * @throws Error as predict, or when the model has no `text` input or `text` is too short.
   */
  async predictWithText(clips: Float32Array, n: number, text: Float32Array): Promise<{ pred: Float32Array; text: Float32Array }> {
    if (this.textDim === 0) throw new Error(`${this.name}: this model has no semantic branch (no 'text' input)`);
    if (text.length < n * this.textDim) throw new Error(`${this.name}: text holds ${text.length} values, need ${n} x ${this.textDim}`);
    const r = await this.run(clips, n, text);
    return { pred: r.pred, text: r.text! };
  }

  private async run(clips: Float32Array, n: number, text?: Float32Array): Promise<{ pred: Float32Array; text?: Float32Array }> {
    const { width: W, height: H, color } = this.spec;
    const C = channelsOf(color);
    const frame = C * H * W;
    const clipLen = 4 * frame;
    if (!(Number.isInteger(n) && n >= 1)) throw new Error(`${this.name}: n must be a positive integer, got ${n}`);
    if (clips.length < n * clipLen) throw new Error(`${this.name}: clips hold ${clips.length} values, need ${n} x ${clipLen} ([n, 4*${C}, ${H}, ${W}])`);
    const inName = this.manifest.inputs[0]!.name;
    const outName = this.manifest.outputs[0]!.name;
    const out = new Float32Array(n * frame);
    const K = this.textDim;
    if (K > 0 && !text) throw new Error(`${this.name}: this model has a semantic branch; call predictWithText with the clips' text features`);
    const textOut = K > 0 ? new Float32Array(n * K) : undefined;
    const chunk = this.fixedBatch ?? this.batchSize;
    for (let at = 0; at < n; at += chunk) {
      const m = Math.min(chunk, n - at);
      const rows = this.fixedBatch ?? m;
      let x = clips.subarray(at * clipLen, (at + m) * clipLen);
      if (rows > m) {
        const padded = new Float32Array(rows * clipLen); // zero clips pad a fixed batch
        padded.set(x);
        x = padded;
      }
      const feeds: Record<string, Ort.Tensor> = { [inName]: new ort.Tensor('float32', x, [rows, 4 * C, H, W]) };
      if (K > 0) {
        const tx = new Float32Array(rows * K); // zero rows pad a fixed batch
        tx.set(text!.subarray(at * K, (at + m) * K));
        feeds.text = new ort.Tensor('float32', tx, [rows, K]);
      }
      const res = await this.session.run(feeds);
      const y = res[outName];
      if (!y) throw new Error(`${this.name}: the model returned no '${outName}' output`);
      out.set((y.data as Float32Array).subarray(0, m * frame), at * frame);
      if (textOut) textOut.set((res.text_pred!.data as Float32Array).subarray(0, m * K), at * K);
      for (const t of Object.values(res)) t.dispose();
    }
    return { pred: out, ...(textOut ? { text: textOut } : {}) };
  }

  /** Releases the ONNX Runtime session. */
  async dispose(): Promise<void> {
    await this.session.release();
  }
}
