/**
 * Frame-level evaluation of a next-frame predictor on a UCSD-Ped2-style test set.
 *
 * Dataset layout (`../shared/datasets/README.md`):
 * - `<root>/testing/frames/<NN>/<frame>.jpg`: one folder per test video;
 * - `<root>/test_frame_labels.json`: `{"<NN>": [0, 1, ...]}`, one 0/1 per frame (1 = anomalous).
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

import { frameMse, patchMaxMse, ERROR_MEASURES, type ErrorMeasure } from '../scoring/error.js';
import { CalibratedScorer, type Calibration } from '../scoring/calibration.js';
import { combineScores, evaluateProtocol } from '../scoring/protocol.js';
import { cosine } from '../caption/embed.js';
import { channelsOf, type FrameSpec } from '../core/frame.js';
import { CONTEXT_FRAMES, type Predictor } from '../core/predictor.js';

/** Thrown for an unusable dataset folder (missing frames folder or labels, label/frame count mismatch). */
export class DatasetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DatasetError';
  }
}

/** Progress report, sent after each predicted batch. */
export interface EvalProgress {
  /** Name of the video being scored (e.g. `01`). */
  video: string;
  /** 0-based index of that video among the evaluated ones. */
  videoIndex: number;
  videoCount: number;
  /** Frames scored so far over all videos. */
  framesScored: number;
  /** Frames to score in total (all frames minus the first 4 of each video). */
  framesTotal: number;
}

export interface EvaluateOptions {
  /** Temporal Gaussian sigma in frames (0 = none). Default 5. */
  sigma?: number;
  /** Which measure the headline `micro_auc` / `macro_auc` report. Default `mse`. Both are always computed. */
  measure?: ErrorMeasure;
  /** patch-max window side in pixels of the predictor's grid. Default {@link defaultPatch}. */
  patch?: number;
  /** patch-max window stride in pixels. Default max(1, floor(patch / 2)). */
  stride?: number;
  /** Only these test videos (folder names, e.g. `['01']`); default all, in natural order. */
  videos?: string[];
  /** Called after each predicted batch. */
  onProgress?: (p: EvalProgress) => void;
  /**
   * Frame reader, default `readAllFrames` from `src/video/open.ts`: all frames of one video folder
   * as `[C, H, W]` float32 in [0, 1] at `spec`. Replaceable for tests.
   */
  readFrames?: (path: string, spec: FrameSpec) => Promise<Float32Array[]>;
  /**
   * Semantic models (predictor.textDim > 0): the text feature of every frame's caption of a test
   * video, `[frames][textDim]` (e.g. from a caption file, src/caption/dataset.ts). Clip t (frames
   * t-4..t-1) gets the feature of frame t-1.
   */
  textFor?: (video: string, path: string, frames: number) => Promise<number[][]>;
  /** Weights of the combined score `frame * mse + text * (1 - cos)` (default 0.8 / 0.2, the seed paper on Ped2). */
  semanticWeights?: { frame: number; text: number };
  /**
   * The model's calibration (scoring/calibration.ts): adds the localised measure `patch-z`, the
   * largest per-window z of log window MSE against the calibrated per-window statistics.
   */
  calibration?: Calibration;
  /**
   * Object boxes of a target frame (`[C, H, W]` at the predictor grid) from the on-device detector
   * (caption/detector.ts), normalised `[x, y, w, h]`: adds the measure `object`, the largest
   * log mean squared error over the frame's boxes (the whole frame when it has none).
   */
  boxesFor?: (frame: Float32Array) => Promise<[number, number, number, number][]>;
}

/**
 * Object-level error of one frame: max over `boxes` (normalised `[x, y, w, h]`) of
 * log(mean squared error inside the box + eps); the whole frame's log MSE when no box covers a pixel.
 * @param pred, target `[C, H, W]` float32.
 */
export function objectError(pred: Float32Array, target: Float32Array, C: number, H: number, W: number, boxes: readonly (readonly number[])[], eps = 1e-6): number {
  const plane = H * W;
  let best = -Infinity;
  for (const b of boxes) {
    const x0 = Math.max(0, Math.floor(b[0]! * W));
    const y0 = Math.max(0, Math.floor(b[1]! * H));
    const x1 = Math.min(W, Math.ceil((b[0]! + b[2]!) * W));
    const y1 = Math.min(H, Math.ceil((b[1]! + b[3]!) * H));
    let acc = 0;
    let n = 0;
    for (let c = 0; c < C; c++)
      for (let y = y0; y < y1; y++)
        for (let x = x0; x < x1; x++) {
          const i = c * plane + y * W + x;
          const d = pred[i]! - target[i]!;
          acc += d * d;
          n++;
        }
    if (n > 0) best = Math.max(best, Math.log(acc / n + eps));
  }
  return Number.isFinite(best) ? best : Math.log(frameMse(pred, target) + eps);
}

/** AUCs of one error measure. */
export interface MeasureResult {
  micro_auc: number;
  /** Mean per-video AUC over videos holding both classes (null if none does). */
  macro_auc: number | null;
  per_video: { name: string; auc: number | null; frames: number }[];
}

export interface EvaluationResult {
  predictor: string;
  spec: FrameSpec;
  dataset: string;
  sigma: number;
  /** Frames dropped at the start of each video (the predictor's context). */
  drop: number;
  /** The measure reported by `micro_auc`, `macro_auc`, `per_video`, `scores`. */
  measure: ErrorMeasure;
  patch: number;
  stride: number;
  micro_auc: number;
  macro_auc: number | null;
  /** Per video: name, AUC (null if one class only), scored frames, offset into `scores`. */
  per_video: { name: string; auc: number | null; frames: number; offset: number }[];
  /** Both measures' AUCs (the headline measure included), from the same inference pass. */
  measures: Record<ErrorMeasure, MeasureResult>;
  /** Localised measures beyond mse / patch-max, when asked for (`calibration` -> `patch-z`, `boxesFor` -> `object`). */
  localised?: Partial<Record<'patch-z' | 'object', MeasureResult>>;
  /** Semantic models only: the text score alone (1 - cos) and the combined score, which is then
   * the headline (`micro_auc`, `macro_auc`, `per_video`, `scores`). */
  semantic?: { weights: { frame: number; text: number }; text: MeasureResult; combined: MeasureResult };
  /** Scored frames (all videos, first `drop` frames of each excluded). */
  frames: number;
  /** Wall-clock seconds of the whole evaluation (decoding, inference, scoring). */
  seconds: number;
  /** frames / seconds. */
  fps: number;
  /** Final (normalised + smoothed) scores of `measure`, videos concatenated; see per_video offsets. */
  scores: number[];
  /** Labels matching `scores`. */
  labels: number[];
}

/**
 * Default patch-max window: 1/6 of the shorter frame side, rounded (16 px at 144x96, 40 px at
 * 360x240), i.e. the same field of view whatever the grid. Not tuned: for the copy-last baseline
 * on Ped2 at 144x96 the patch-max micro AUC moves between about 0.90 and 0.94 with patch size and
 * stride (e.g. 0.919 at 16/8, 0.942 at 16/16), so compare models at one fixed patch and stride.
 */
export function defaultPatch(spec: FrameSpec): number {
  return Math.max(1, Math.round(Math.min(spec.width, spec.height) / 6));
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

/** The test video folders under `framesRoot` (`<dataset>/testing/frames`), in natural order ('2' before '10'). */
export async function testVideoNames(framesRoot: string): Promise<string[]> {
  return (await readdir(framesRoot, { withFileTypes: true }))
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
}

/**
 * Reads and validates `<root>/test_frame_labels.json`.
 * @returns map video name -> 0/1 per frame.
 * @throws DatasetError if the file is missing, not JSON, or not `{name: (0|1)[]}`.
 */
export async function loadFrameLabels(datasetRoot: string): Promise<Map<string, number[]>> {
  const file = join(datasetRoot, 'test_frame_labels.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new DatasetError(
      `${file}: cannot read frame labels (${(err as Error).message}). ` +
        'The dataset root must contain test_frame_labels.json ({"01": [0,0,1,...], ...}).',
    );
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new DatasetError(`${file}: not valid JSON (${(err as Error).message})`);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new DatasetError(`${file}: expected an object {"<video>": [0|1, ...]}`);
  }
  const out = new Map<string, number[]>();
  for (const [name, v] of Object.entries(data as Record<string, unknown>)) {
    if (!Array.isArray(v) || !v.every((x) => x === 0 || x === 1)) {
      throw new DatasetError(`${file}: labels of video ${name} must be an array of 0/1`);
    }
    out.set(name, v as number[]);
  }
  return out;
}

/**
 * Evaluates a predictor on the test set under `datasetRoot` with the frame-level protocol
 * ({@link evaluateProtocol}: drop the first 4 frames, per-video min-max, Gaussian smoothing,
 * micro and macro ROC AUC).
 *
 * For every test video: reads all frames at `predictor.spec`, forms the clips
 * `frames[t-4..t-1] -> target frames[t]` for t = 4..T-1, runs them through `predictor.predict` in
 * batches of `predictor.batchSize`, and computes both per-frame errors (whole-frame MSE and
 * patch-max MSE, see `src/scoring/error.ts`) from the same predictions; then runs the protocol on
 * each measure.
 *
 * @param predictor the model (or baseline) to evaluate.
 * @param datasetRoot folder with `testing/frames/<video>/` and `test_frame_labels.json`.
 * @param opts see {@link EvaluateOptions}.
 * @returns AUCs for the chosen measure (headline) and both measures, timings and final scores.
 * @throws DatasetError if `testing/frames` or the labels are missing, a requested video does not
 *   exist, a video has no labels, its label count differs from its frame count, or it has ≤ 4 frames;
 *   Error if the predictor returns the wrong number of values.
 */
export async function evaluateDataset(
  predictor: Predictor,
  datasetRoot: string,
  opts: EvaluateOptions = {},
): Promise<EvaluationResult> {
  const t0 = performance.now();
  const sigma = opts.sigma ?? 5;
  const measure = opts.measure ?? 'mse';
  if (!(ERROR_MEASURES as readonly string[]).includes(measure)) {
    throw new Error(`unknown error measure ${String(measure)}; expected one of ${ERROR_MEASURES.join(', ')}`);
  }
  const spec = predictor.spec;
  const patch = opts.patch ?? defaultPatch(spec);
  const stride = opts.stride ?? Math.max(1, Math.floor(patch / 2));
  const drop = CONTEXT_FRAMES;

  const framesRoot = join(datasetRoot, 'testing', 'frames');
  if (!(await isDir(framesRoot))) {
    throw new DatasetError(
      `${framesRoot}: folder not found. The dataset root must contain testing/frames/<video>/ (UCSD Ped2 layout).`,
    );
  }
  const labelsByVideo = await loadFrameLabels(datasetRoot);
  const available = await testVideoNames(framesRoot);
  let names: string[];
  if (opts.videos !== undefined) {
    for (const v of opts.videos) {
      if (!available.includes(v)) {
        throw new DatasetError(`${join(framesRoot, v)}: test video not found (available: ${available.join(', ')})`);
      }
    }
    names = [...opts.videos];
  } else {
    names = available;
  }
  if (names.length === 0) throw new DatasetError(`${framesRoot}: no test video folders`);
  let framesTotal = 0;
  for (const name of names) {
    const l = labelsByVideo.get(name);
    if (l === undefined) throw new DatasetError(`${join(datasetRoot, 'test_frame_labels.json')}: no labels for video ${name}`);
    framesTotal += Math.max(0, l.length - drop);
  }

  // Loaded lazily so that callers injecting `readFrames` (tests) never load the decoders.
  const readFrames = opts.readFrames ?? (await import('../video/open.js')).readAllFrames;

  const C = channelsOf(spec.color);
  const H = spec.height;
  const W = spec.width;
  const frameLen = C * H * W;
  const batch = Math.max(1, Math.floor(predictor.batchSize));
  const clipLen = CONTEXT_FRAMES * frameLen;
  const clipBuf = new Float32Array(batch * clipLen);

  const errs: Record<ErrorMeasure, number[][]> = { mse: [], 'patch-max': [] };
  const K = predictor.textDim ?? 0;
  if (K > 0 && (!opts.textFor || !predictor.predictWithText))
    throw new Error(`${predictor.name} has a semantic branch: it needs the captions of the test videos (eval --captions <file> from \`sfn-edge caption\`)`);
  const textBuf = new Float32Array(batch * Math.max(K, 1));
  const semErrs: number[][] = [];
  const videoLabels: number[][] = [];
  const scorer = opts.calibration ? new CalibratedScorer(opts.calibration, spec) : null;
  const loc: Record<'patch-z' | 'object', number[][]> = { 'patch-z': [], object: [] };
  let framesScored = 0;

  for (let vi = 0; vi < names.length; vi++) {
    const name = names[vi] as string;
    const labels = labelsByVideo.get(name) as number[];
    const frames = await readFrames(join(framesRoot, name), spec);
    if (frames.length !== labels.length) {
      throw new DatasetError(
        `${join(framesRoot, name)}: ${frames.length} frames but ${labels.length} labels in test_frame_labels.json`,
      );
    }
    if (frames.length <= drop) {
      throw new DatasetError(`${join(framesRoot, name)}: ${frames.length} frames; need more than ${drop}`);
    }
    for (const f of frames) {
      if (f.length !== frameLen) {
        throw new Error(`${join(framesRoot, name)}: frame reader returned ${f.length} values, expected ${C}x${H}x${W}`);
      }
    }
    const mse: number[] = [];
    const pmax: number[] = [];
    const sem: number[] = [];
    const pz: number[] = [];
    const ob: number[] = [];
    const texts = K > 0 ? await opts.textFor!(name, join(framesRoot, name), frames.length) : [];
    if (K > 0 && (texts.length !== frames.length || texts.some((t) => t.length !== K)))
      throw new Error(`${join(framesRoot, name)}: captions give ${texts.length} text features (of width ${texts[0]?.length}) for ${frames.length} frames; need one of width ${K} per frame`);
    for (let t0b = drop; t0b < frames.length; t0b += batch) {
      const n = Math.min(batch, frames.length - t0b);
      for (let i = 0; i < n; i++) {
        const t = t0b + i;
        for (let j = 0; j < CONTEXT_FRAMES; j++) {
          clipBuf.set(frames[t - CONTEXT_FRAMES + j] as Float32Array, (i * CONTEXT_FRAMES + j) * frameLen);
        }
      }
      let pred: Float32Array;
      if (K > 0) {
        for (let i = 0; i < n; i++) textBuf.set(texts[t0b + i - 1]!, i * K);
        const r = await predictor.predictWithText!(clipBuf, n, textBuf);
        pred = r.pred;
        for (let i = 0; i < n; i++) sem.push(1 - cosine(textBuf.subarray(i * K, (i + 1) * K), r.text.subarray(i * K, (i + 1) * K)));
      } else pred = await predictor.predict(clipBuf, n);
      if (pred.length !== n * frameLen) {
        throw new Error(`predictor ${predictor.name} returned ${pred.length} values for ${n} clips, expected ${n * frameLen}`);
      }
      for (let i = 0; i < n; i++) {
        const p = pred.subarray(i * frameLen, (i + 1) * frameLen);
        const target = frames[t0b + i] as Float32Array;
        mse.push(frameMse(p, target));
        pmax.push(patchMaxMse(p, target, C, H, W, patch, stride));
        if (scorer) pz.push(scorer.patchZMax(p, target));
        if (opts.boxesFor) ob.push(objectError(p, target, C, H, W, await opts.boxesFor(target)));
      }
      framesScored += n;
      opts.onProgress?.({ video: name, videoIndex: vi, videoCount: names.length, framesScored, framesTotal });
    }
    errs.mse.push(mse);
    errs['patch-max'].push(pmax);
    semErrs.push(sem);
    loc['patch-z'].push(pz);
    loc.object.push(ob);
    videoLabels.push(labels);
  }
  let localised: EvaluationResult['localised'];
  for (const m of ['patch-z', 'object'] as const) {
    if (m === 'patch-z' ? !scorer : !opts.boxesFor) continue;
    const r = evaluateProtocol(names.map((name, i) => ({ name, errors: loc[m][i]!, labels: videoLabels[i]! })), { sigma, drop });
    (localised ??= {})[m] = { micro_auc: r.microAuc, macro_auc: r.macroAuc, per_video: r.perVideo.map((v) => ({ name: v.name, auc: v.auc, frames: v.frames })) };
  }

  const measures = {} as Record<ErrorMeasure, MeasureResult>;
  let headline: ReturnType<typeof evaluateProtocol> | undefined;
  for (const m of ERROR_MEASURES) {
    const r = evaluateProtocol(
      names.map((name, i) => ({ name, errors: errs[m][i] as number[], labels: videoLabels[i] as number[] })),
      { sigma, drop },
    );
    measures[m] = {
      micro_auc: r.microAuc,
      macro_auc: r.macroAuc,
      per_video: r.perVideo.map((v) => ({ name: v.name, auc: v.auc, frames: v.frames })),
    };
    if (m === measure) headline = r;
  }
  let h = headline as ReturnType<typeof evaluateProtocol>;
  let semantic: EvaluationResult['semantic'];
  if (K > 0) {
    const weights = opts.semanticWeights ?? { frame: 0.8, text: 0.2 };
    const asMeasure = (r: ReturnType<typeof evaluateProtocol>): MeasureResult => ({ micro_auc: r.microAuc, macro_auc: r.macroAuc, per_video: r.perVideo.map((v) => ({ name: v.name, auc: v.auc, frames: v.frames })) });
    const text = evaluateProtocol(names.map((name, i) => ({ name, errors: semErrs[i]!, labels: videoLabels[i]! })), { sigma, drop });
    const combined = evaluateProtocol(
      names.map((name, i) => ({
        name,
        errors: combineScores([{ errors: errs[measure][i]!, weight: weights.frame }, { errors: semErrs[i]!, weight: weights.text }], sigma),
        labels: videoLabels[i]!,
      })),
      { sigma: 0, drop, normalise: false },
    );
    semantic = { weights, text: asMeasure(text), combined: asMeasure(combined) };
    h = combined;
  }
  const seconds = (performance.now() - t0) / 1000;
  return {
    predictor: predictor.name,
    spec: { ...spec },
    dataset: datasetRoot,
    sigma,
    drop,
    measure,
    patch,
    stride,
    micro_auc: h.microAuc,
    macro_auc: h.macroAuc,
    per_video: h.perVideo,
    measures,
    ...(localised ? { localised } : {}),
    ...(semantic ? { semantic } : {}),
    frames: framesScored,
    seconds,
    fps: seconds > 0 ? framesScored / seconds : 0,
    scores: h.scores,
    labels: h.labels,
  };
}
