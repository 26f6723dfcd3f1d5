/**
 * The frame-level evaluation protocol of future-frame-prediction anomaly detection on UCSD Ped2
 * (see `../shared/datasets/README.md`, "Evaluation protocol"):
 *
 * 1. the first `drop` (= 4) frames of every video have no prediction: they are dropped from the
 *    labels (the caller never has errors for them);
 * 2. per-frame errors are min-max normalised within each video ({@link minMaxNormalise});
 * 3. smoothed along time with a centred Gaussian ({@link gaussianSmooth}, scipy's
 *    `gaussian_filter1d`, mode 'reflect');
 * 4. all videos are concatenated and one ROC AUC is computed ("micro" AUC);
 * 5. the per-video AUC is averaged over the videos that contain both classes ("macro" AUC).
 */
import { rocAuc } from './auc.js';
import { minMaxNormalise } from './normalise.js';
import { gaussianSmooth } from './smoothing.js';

/**
 * One test video's input to the protocol.
 *
 * Length convention (checked): `labels` has one entry per frame of the video (all frames, as in
 * `test_frame_labels.json`), while `errors` has one entry per *scored* frame, i.e. it starts at
 * frame `drop`: `errors[k]` is the error of frame `k + drop`, so
 * `errors.length === labels.length - drop`.
 */
export interface VideoErrors {
  name: string;
  /** Prediction error of frames drop, drop+1, ..., frames-1 (higher = more anomalous). */
  errors: ArrayLike<number>;
  /** 0/1 label of every frame 0..frames-1 (1 = anomalous). */
  labels: ArrayLike<number>;
}

export interface ProtocolOptions {
  /** Gaussian smoothing sigma in frames; 0 = no smoothing. Ped2 convention: 5. */
  sigma: number;
  /** Frames at the start of each video without a prediction (the model's context length), usually 4. */
  drop: number;
  /** Min-max normalise each video's errors (default true). False for scores that are already
   * normalised and combined, e.g. 0.8 frame + 0.2 text (see {@link combineScores}). */
  normalise?: boolean;
}

/**
 * The seed paper's multi-score combination (authors' eval.py): each score min-max normalised per
 * video and Gaussian-smoothed, then weighted and summed: `sum_i w_i * smooth(norm(e_i))`.
 * @param parts per-frame errors of one video and their weights (all the same length)
 * @throws Error when the parts differ in length.
 */
export function combineScores(parts: ReadonlyArray<{ errors: ArrayLike<number>; weight: number }>, sigma: number): number[] {
  const n = parts[0]?.errors.length ?? 0;
  const out = new Array<number>(n).fill(0);
  for (const p of parts) {
    if (p.errors.length !== n) throw new Error(`combineScores: parts of length ${n} and ${p.errors.length}`);
    const s = gaussianSmooth(minMaxNormalise(p.errors), sigma);
    for (let i = 0; i < n; i++) out[i]! += p.weight * s[i]!;
  }
  return out;
}

export interface VideoProtocolResult {
  name: string;
  /** ROC AUC of this video's scored frames, or null when they hold only one class. */
  auc: number | null;
  /** Number of scored frames (= labels.length - drop). */
  frames: number;
  /** Start of this video's frames in the concatenated `scores` / `labels`. */
  offset: number;
}

export interface ProtocolResult {
  /** AUC over the concatenation of all videos. */
  microAuc: number;
  /** Mean of per-video AUCs over videos having both classes; null if no video has both. */
  macroAuc: number | null;
  perVideo: VideoProtocolResult[];
  /** Normalised + smoothed scores, all videos concatenated in input order, in [0, 1]. */
  scores: number[];
  /** Labels matching `scores` (first `drop` frames of each video removed). */
  labels: number[];
}

/**
 * Runs the protocol (drop → per-video min-max → Gaussian smoothing → micro / macro AUC) on
 * per-frame errors. See the module comment and {@link VideoErrors} for the length convention.
 *
 * @param perVideo the test videos in a fixed order (order only affects the layout of `scores`).
 * @param opts sigma (frames) and drop (frames).
 * @returns micro / macro AUC, per-video AUCs, and the final scores and labels.
 * @throws Error if a video's `errors.length !== labels.length - drop`, a video has no scored frame,
 *   the list is empty, or the concatenated labels hold a single class (micro AUC undefined).
 */
export function evaluateProtocol(perVideo: readonly VideoErrors[], opts: ProtocolOptions): ProtocolResult {
  const { sigma, drop } = opts;
  if (!Number.isInteger(drop) || drop < 0) throw new Error(`evaluateProtocol: drop must be an integer >= 0 (got ${drop})`);
  if (perVideo.length === 0) throw new Error('evaluateProtocol: no videos');
  const scores: number[] = [];
  const labels: number[] = [];
  const results: VideoProtocolResult[] = [];
  const aucs: number[] = [];
  for (const v of perVideo) {
    const expected = v.labels.length - drop;
    if (v.errors.length !== expected) {
      throw new Error(
        `evaluateProtocol: video ${v.name} has ${v.labels.length} labels and ${v.errors.length} errors; ` +
          `expected ${expected} errors (one per frame from frame ${drop} on, labels for all frames)`,
      );
    }
    if (expected <= 0) throw new Error(`evaluateProtocol: video ${v.name} has no frame after dropping ${drop}`);
    const s = opts.normalise === false ? gaussianSmooth(Array.from(v.errors), sigma) : gaussianSmooth(minMaxNormalise(v.errors), sigma);
    const l = Array.from(v.labels).slice(drop);
    let pos = 0;
    for (const x of l) if (x === 1) pos++;
    let auc: number | null = null;
    if (pos > 0 && pos < l.length) {
      auc = rocAuc(s, l);
      aucs.push(auc);
    }
    results.push({ name: v.name, auc, frames: l.length, offset: scores.length });
    for (const x of s) scores.push(x);
    for (const x of l) labels.push(x);
  }
  const microAuc = rocAuc(scores, labels);
  const macroAuc = aucs.length > 0 ? aucs.reduce((a, b) => a + b, 0) / aucs.length : null;
  return { microAuc, macroAuc, perVideo: results, scores, labels };
}
