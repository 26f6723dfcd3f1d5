/**
 * Training clips in memory: every video of a folder decoded once at the model's grid, then batches of
 * (4 past frames -> next frame) samples in token layout. Ped2's 16 training videos at 144x96 gray
 * take ~140 MB as float32.
 */
import type { SfnConfig } from '../core/model-config.js';
import { derived } from '../core/model-config.js';
import { patchifyClip, patchifyInto, type Grid } from '../model/patchify.js';
import { videoKey, type CaptionFile } from '../caption/dataset.js';
import { listVideos, readAllFrames } from '../video/open.js';
import { clipTargets, DEFAULT_SPLIT, splitVideo, type SplitPart, type SplitSpec, type VideoSplit } from '../core/split.js';

/** Decoded videos: `videos[v][t]` is frame t of video v, `[C, H, W]` float32 in [0, 1]. */
export interface ClipSet {
  names: string[];
  videos: Float32Array[][];
  /** (video, t) of every sample: frames t-4..t-1 predict frame t (only clips inside `part`) */
  samples: Array<[number, number]>;
  /** the time split of each video (see `split.ts`); `part` is the part the samples come from */
  splits: VideoSplit[];
  part: SplitPart;
  /** `texts[v][t]`: text feature of frame t's caption (semantic branch only) */
  texts?: number[][][];
}

/**
 * Loads every video under `root` (image-sequence folders or video files, see `listVideos`),
 * optionally only the first `limit` of them, and, for the semantic branch, each video's captions
 * from `captions` (matched by folder/file name). Throws `VideoInputError` on unreadable input, and an
 * Error when no video has more than 4 frames, or a video has no captions or a different frame count.
 */
export async function loadClips(root: string, cfg: SfnConfig, limit?: number, captions?: CaptionFile, part: SplitPart = 'all', split: SplitSpec = DEFAULT_SPLIT): Promise<ClipSet> {
  const spec = { width: cfg.width, height: cfg.height, color: cfg.color };
  let paths = await listVideos(root);
  if (limit !== undefined) paths = paths.slice(0, limit);
  const videos: Float32Array[][] = [];
  const texts: number[][][] = [];
  const samples: Array<[number, number]> = [];
  const splits: VideoSplit[] = [];
  for (const p of paths) {
    const frames = await readAllFrames(p, spec);
    if (captions) {
      const c = captions.videos[videoKey(p)];
      if (!c) throw new Error(`the caption file has no captions for video '${videoKey(p)}' (${p}); caption the training videos with \`sfn-edge caption\``);
      if (c.embeddings.length !== frames.length) throw new Error(`video '${videoKey(p)}' has ${frames.length} frames but ${c.embeddings.length} captions; caption it again`);
      texts.push(c.embeddings);
    }
    const sp = splitVideo(frames.length, split);
    for (const t of clipTargets(sp, part, cfg.pastFrames)) samples.push([videos.length, t]);
    splits.push(sp);
    videos.push(frames);
  }
  if (samples.length === 0) throw new Error(`${root}: no video has more than ${cfg.pastFrames} frames in its ${part} part; nothing to train on`);
  return { names: paths, videos, samples, splits, part, ...(captions ? { texts } : {}) };
}

/** The samples of another part of an already loaded set (the frames are shared, not copied). */
export function withPart(set: ClipSet, part: SplitPart, past: number): ClipSet {
  const samples: Array<[number, number]> = [];
  set.splits.forEach((sp, v) => {
    for (const t of clipTargets(sp, part, past)) samples.push([v, t]);
  });
  return { ...set, samples, part };
}

/**
 * Skip-frame pseudo-anomalies (Astrid et al., "Learning Not to Reconstruct Anomalies", BMVC 2021):
 * the past frames of a clip taken every `stride` frames, t-4s..t-s, so that everything in it moves
 * `stride` times faster than in the normal video. `[v, t, stride]` with all frames inside `part`.
 */
export function skipSamples(set: ClipSet, part: SplitPart, past: number, strides: readonly number[]): Array<[number, number, number]> {
  const out: Array<[number, number, number]> = [];
  set.splits.forEach((sp, v) => {
    const [a, b] = sp[part];
    for (const s of strides) for (let t = a + past * s; t < b; t++) out.push([v, t, s]);
  });
  return out;
}

/** One batch in token layout (host arrays), shapes as in `TokenBatch` plus the target. */
export interface HostBatch {
  batch: number;
  appearance: Float32Array;
  motion: Float32Array;
  last: Float32Array;
  target: Float32Array;
  /** `[B, textDim]` text feature of each clip: the caption of its last past frame (semantic branch) */
  text?: Float32Array;
}

/** Model grid of a config. */
export function gridOf(cfg: SfnConfig): Grid {
  return { channels: derived(cfg).channels, height: cfg.height, width: cfg.width, patch: cfg.patch };
}

/**
 * Builds the token-layout batch of the given samples: appearance `[B*N, 4CP^2]`, motion `[B*N, 3CP^2]`,
 * last `[B*N, CP^2]`, target `[B*N, CP^2]`, and with captions text `[B, textDim]` (the caption of
 * frame t-1, i.e. of the 4 past frames; the authors' code loads the text feature of t-1 too).
 *
 * A pick `[v, t, s]` with stride s > 1 is a local skip-frame pseudo-anomaly: the normal clip
 * t-4..t-1 -> t, except in a window of 3 x 3 tokens around the largest motion, which comes from
 * the skip-frame clip t-4s, ..., t-s, so that one object there moves s times faster than anything
 * around it (anomalies are local: one cyclist among walkers). In that window the target is the
 * true frame t when `skipTarget` is 'future' (validation: the pseudo-anomaly as a camera would show
 * it), or the last skip frame t-s when 'last' (training: the network is taught not to extrapolate
 * motion faster than any it saw in normal video, so its change head outputs zero there and the
 * error of such motion stays at copy-last's).
 */
export function makeBatch(set: ClipSet, cfg: SfnConfig, picks: ReadonlyArray<readonly [number, number] | readonly [number, number, number]>, skipTarget: 'future' | 'last' = 'last'): HostBatch {
  const g = derived(cfg);
  const grid = gridOf(cfg);
  const B = picks.length;
  const out: HostBatch = {
    batch: B,
    appearance: new Float32Array(B * g.tokens * g.appearanceLen),
    motion: new Float32Array(B * g.tokens * g.motionLen),
    last: new Float32Array(B * g.tokens * g.outLen),
    target: new Float32Array(B * g.tokens * g.outLen),
    ...(set.texts && cfg.textDim > 0 ? { text: new Float32Array(B * cfg.textDim) } : {}),
  };
  picks.forEach((pick, i) => {
    const [v, t] = pick;
    const s = pick[2] ?? 1;
    const frames = set.videos[v]!;
    const past: Float32Array[] = [];
    for (let k = cfg.pastFrames; k >= 1; k--) past.push(frames[t - k]!);
    let target = frames[t]!;
    if (s > 1) {
      const skip: Float32Array[] = [];
      for (let k = cfg.pastFrames; k >= 1; k--) skip.push(frames[t - k * s]!);
      const win = motionWindow(frames[t - s]!, frames[t]!, grid);
      for (let k = 0; k < past.length; k++) past[k] = pasteWindow(past[k]!, skip[k]!, grid, win);
      target = pasteWindow(target, skipTarget === 'last' ? frames[t - s]! : frames[t]!, grid, win);
    }
    const row = i * g.tokens;
    patchifyClip(past, grid, out, row);
    patchifyInto([target], grid, out.target, row);
    if (out.text) out.text.set(set.texts![v]![t - 1]!, i * cfg.textDim);
  });
  return out;
}

/** Side of the pseudo-anomaly window, in tokens (3 x 3 tokens = 24 x 24 px at patch 8). */
export const PSEUDO_WINDOW_TOKENS = 3;

/** Token-aligned window `[y0, x0, y1, x1)` in pixels, centred on the token where `a` and `b` differ most. */
function motionWindow(a: Float32Array, b: Float32Array, g: Grid): [number, number, number, number] {
  const P = g.patch;
  const hp = g.height / P;
  const wp = g.width / P;
  const plane = g.height * g.width;
  let best = -1;
  let by = 0;
  let bx = 0;
  for (let ty = 0; ty < hp; ty++)
    for (let tx = 0; tx < wp; tx++) {
      let e = 0;
      for (let c = 0; c < g.channels; c++)
        for (let y = ty * P; y < (ty + 1) * P; y++)
          for (let x = tx * P, o = c * plane + y * g.width + x; x < (tx + 1) * P; x++, o++) e += Math.abs(a[o]! - b[o]!);
      if (e > best) [best, by, bx] = [e, ty, tx];
    }
  const n = Math.min(PSEUDO_WINDOW_TOKENS, hp, wp);
  const y0 = Math.min(Math.max(0, by - (n >> 1)), hp - n);
  const x0 = Math.min(Math.max(0, bx - (n >> 1)), wp - n);
  return [y0 * P, x0 * P, (y0 + n) * P, (x0 + n) * P];
}

/** A copy of `base` `[C, H, W]` with the window's pixels taken from `from`. */
function pasteWindow(base: Float32Array, from: Float32Array, g: Grid, [y0, x0, y1, x1]: [number, number, number, number]): Float32Array {
  const out = base.slice();
  const plane = g.height * g.width;
  for (let c = 0; c < g.channels; c++)
    for (let y = y0; y < y1; y++) {
      const o = c * plane + y * g.width;
      out.set(from.subarray(o + x0, o + x1), o + x0);
    }
  return out;
}

/** Fisher-Yates shuffle with the given PRNG (deterministic for a seed). */
export function shuffled<T>(items: readonly T[], rand: () => number): T[] {
  const a = items.slice();
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}
