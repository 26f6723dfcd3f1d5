/**
 * Training clips in memory: every video of a folder decoded once at the model's grid, then batches of
 * (4 past frames -> next frame) samples in token layout. Ped2's 16 training videos at 144x96 gray
 * take ~140 MB as float32.
 */
import type { SfnConfig } from '../model/config.js';
import { derived } from '../model/config.js';
import { patchifyClip, patchifyInto, type Grid } from '../model/patchify.js';
import { videoKey, type CaptionFile } from '../caption/dataset.js';
import { listVideos, readAllFrames } from '../video/open.js';

/** Decoded videos: `videos[v][t]` is frame t of video v, `[C, H, W]` float32 in [0, 1]. */
export interface ClipSet {
  names: string[];
  videos: Float32Array[][];
  /** (video, t) of every sample: frames t-4..t-1 predict frame t */
  samples: Array<[number, number]>;
  /** `texts[v][t]`: text feature of frame t's caption (semantic branch only) */
  texts?: number[][][];
}

/**
 * Loads every video under `root` (image-sequence folders or video files, see `listVideos`),
 * optionally only the first `limit` of them, and, for the semantic branch, each video's captions
 * from `captions` (matched by folder/file name). Throws `VideoInputError` on unreadable input, and an
 * Error when no video has more than 4 frames, or a video has no captions or a different frame count.
 */
export async function loadClips(root: string, cfg: SfnConfig, limit?: number, captions?: CaptionFile): Promise<ClipSet> {
  const spec = { width: cfg.width, height: cfg.height, color: cfg.color };
  let paths = await listVideos(root);
  if (limit !== undefined) paths = paths.slice(0, limit);
  const videos: Float32Array[][] = [];
  const texts: number[][][] = [];
  const samples: Array<[number, number]> = [];
  for (const p of paths) {
    const frames = await readAllFrames(p, spec);
    if (captions) {
      const c = captions.videos[videoKey(p)];
      if (!c) throw new Error(`the caption file has no captions for video '${videoKey(p)}' (${p}); caption the training videos with \`sfn-edge caption\``);
      if (c.embeddings.length !== frames.length) throw new Error(`video '${videoKey(p)}' has ${frames.length} frames but ${c.embeddings.length} captions; caption it again`);
      texts.push(c.embeddings);
    }
    for (let t = cfg.pastFrames; t < frames.length; t++) samples.push([videos.length, t]);
    videos.push(frames);
  }
  if (samples.length === 0) throw new Error(`${root}: no video has more than ${cfg.pastFrames} frames; nothing to train on`);
  return { names: paths, videos, samples, ...(captions ? { texts } : {}) };
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
 */
export function makeBatch(set: ClipSet, cfg: SfnConfig, picks: Array<[number, number]>): HostBatch {
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
  picks.forEach(([v, t], i) => {
    const frames = set.videos[v]!;
    const past = frames.slice(t - cfg.pastFrames, t);
    const row = i * g.tokens;
    patchifyClip(past, grid, out, row);
    patchifyInto([frames[t]!], grid, out.target, row);
    if (out.text) out.text.set(set.texts![v]![t - 1]!, i * cfg.textDim);
  });
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
