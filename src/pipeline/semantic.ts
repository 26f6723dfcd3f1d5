/**
 * Running a model with the semantic branch in `run` (docs/design.md "Captioner and text encoder"): the caption worker
 * captions the current frame every K frames, off the frame loop; the latest caption's text feature
 * is fed with every clip until the next one arrives ("between caption updates the last embedding is
 * reused"), and each clip's semantic error `1 - cos(text, text_pred)` is kept for reporting.
 */
import { cosine } from '../caption/embed.js';
import type { CaptionWorker } from '../caption/worker.js';
import type { Predictor } from '../core/predictor.js';
import { log } from '../util/log.js';
import type { FrameSpec } from '../core/frame.js';

/** The latest text feature and the per-clip semantic errors of a semantic model (see the file comment). */
export class SemanticFeed {
  private text: Float32Array;
  private prev: Float32Array | undefined;
  private since = Number.POSITIVE_INFINITY;
  private first: Promise<void> | null = null;
  /** semantic error of the last scored clip, and captions used */
  last = { error: Number.NaN, captions: 0, failures: 0 };
  /** semantic error `1 - cos(text, text_pred)` of each clip of the last predict call, in order */
  errors = new Float32Array(0);

  /**
   * @param textDim the model's text-feature width
   * @param every caption every K frames (>= 1)
   * @param wait true: every K-th frame waits for its caption (a file processed as fast as possible:
   *   deterministic, no caption is skipped); false (realtime): a caption requested while the worker
   *   is busy is dropped and the last text feature stays, so the loop never waits
   * @throws RangeError when `every` < 1
   */
  constructor(
    private readonly worker: CaptionWorker,
    private readonly spec: FrameSpec,
    textDim: number,
    private readonly every: number,
    private readonly wait = false,
  ) {
    if (!(Number.isInteger(every) && every >= 1)) throw new RangeError(`a semantic model needs captions every K >= 1 frames, got ${every}`);
    this.text = new Float32Array(textDim);
  }

  /**
   * Call with every source frame `[C, H, W]` float32 at the model grid, in order. Every K-th frame
   * is sent to the caption worker (dropped when it is busy, unless `wait`); the first caption is
   * always awaited, so no clip is scored without one.
   */
  async onFrame(data: Float32Array): Promise<void> {
    let waitFor: Promise<void> | null = null;
    if (this.since >= this.every) {
      const req = { frame: data, ...(this.prev ? { prev: this.prev } : {}), width: this.spec.width, height: this.spec.height };
      const isFirst = this.first === null;
      const p = this.worker.request(req, isFirst || this.wait ? 'event' : 'periodic').then(
        (r) => {
          if (r) {
            this.text = r.embedding;
            this.last.captions += 1;
          }
        },
        (err: unknown) => {
          // a failed caption keeps the last text feature (zeros before the first one)
          this.last.failures += 1;
          log.warn({ err: (err as Error).message }, 'caption for the semantic branch failed; the last text feature stays');
        },
      );
      if (isFirst) this.first = p;
      if (this.wait) waitFor = p;
      this.since = 0;
    }
    this.since += 1;
    this.prev = data;
    if (this.first) await this.first;
    if (waitFor) await waitFor;
  }

  /**
   * The predictor the run loop uses: `predict(clips, n)` runs `predictWithText` with the latest
   * text feature for every clip and records the semantic error.
   * @throws Error when `p` has no semantic branch.
   */
  wrap(p: Predictor): Predictor {
    const K = p.textDim ?? 0;
    if (K === 0 || !p.predictWithText) throw new Error(`${p.name} has no semantic branch`);
    return {
      name: p.name,
      spec: p.spec,
      batchSize: p.batchSize,
      predict: async (clips, n) => {
        const t = new Float32Array(n * K);
        for (let i = 0; i < n; i++) t.set(this.text, i * K);
        const r = await p.predictWithText!(clips, n, t);
        this.errors = Float32Array.from({ length: n }, (_, i) => 1 - cosine(this.text, r.text.subarray(i * K, (i + 1) * K)));
        this.last.error = this.errors[n - 1]!;
        return r.pred;
      },
    };
  }
}
