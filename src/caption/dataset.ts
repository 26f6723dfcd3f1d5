/**
 * Captions for every frame of a set of videos, saved as one JSON file: the text features the
 * semantic branch trains on (train) and is scored with (eval). A file is tied to the captioner and
 * the caption grid it was made with; `every` > 1 captions every K-th frame and repeats it until the
 * next one (what the device does, docs/design.md "Captioner and text encoder").
 *
 * File layout (`CaptionFile`): `{ version: 1, captioner, textDim, width, height, every,
 *   videos: { "<video folder or file name>": { texts: string[], embeddings: number[][] } } }`
 *   with one entry per frame (frame i's caption describes frame i, with motion from frame i-1).
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';

import { openSource } from '../video/open.js';
import type { FrameSpec } from '../core/frame.js';
import type { Captioner } from './captioner.js';
import { TEXT_DIM } from './embed.js';

/** The frame grid captions are made at (RGB, 384x256: Ped2's 360x240 rounded, 3:2). */
export const CAPTION_SPEC: FrameSpec = { width: 384, height: 256, color: 'rgb' };

/**
 * How often a semantic model gets a new caption when nothing says otherwise: every 2nd frame, on
 * the device (`run`, captions.every_frames 0) and in a cold `eval` (`--caption-every`). Between
 * captions the last text feature is reused. Per-frame captions (K = 1, as in training) cost twice
 * the captioning time for a Ped2 AUC within 0.0004 (README, "Ped2 frame-level AUC with semantics").
 */
export const SEMANTIC_CAPTION_EVERY = 2;

/** Captions of one video, one per frame. */
export interface VideoCaptions {
  texts: string[];
  /** `[frames][TEXT_DIM]` */
  embeddings: number[][];
}

/** A saved caption file (see the file comment). */
export interface CaptionFile {
  version: 1;
  captioner: string;
  textDim: number;
  width: number;
  height: number;
  every: number;
  videos: Record<string, VideoCaptions>;
}

/** Key of a video in a caption file: its folder or file name (e.g. '01', 'cam3.mp4'). */
export function videoKey(path: string): string {
  return basename(path.replace(/[/\\]+$/, ''));
}

/**
 * Captions every `every`-th frame of the video at `path` and repeats each caption for the frames up
 * to the next one. Calls `progress(done, total?)` after each caption.
 * @throws VideoInputError for unreadable video (see openSource); errors of the captioner.
 */
export async function captionVideo(captioner: Captioner, path: string, every = 1, spec: FrameSpec = CAPTION_SPEC, progress?: (frames: number) => void): Promise<VideoCaptions> {
  if (!(Number.isInteger(every) && every >= 1)) throw new RangeError(`every must be a positive integer, got ${every}`);
  const source = await openSource(path, spec);
  const out: VideoCaptions = { texts: [], embeddings: [] };
  let prev: Float32Array | undefined;
  let last: { text: string; embedding: number[] } | undefined;
  try {
    for await (const f of source.frames()) {
      if (f.index % every === 0 || !last) {
        const r = await captioner.caption({ frame: f.data, ...(prev ? { prev } : {}), width: spec.width, height: spec.height });
        last = { text: r.text, embedding: Array.from(r.embedding, (v) => Math.round(v * 1e5) / 1e5) };
      }
      out.texts.push(last.text);
      out.embeddings.push(last.embedding);
      prev = f.data;
      progress?.(out.texts.length);
    }
  } finally {
    await source.close();
  }
  return out;
}

/** Writes a caption file atomically (temp file + rename). */
export async function saveCaptionFile(path: string, file: CaptionFile): Promise<void> {
  await writeFile(`${path}.tmp`, JSON.stringify(file));
  await rename(`${path}.tmp`, path);
}

/**
 * Reads and checks a caption file.
 * @throws Error naming the file when it is missing, not JSON, of another version, or its
 *   embeddings are not `textDim` wide.
 */
export async function loadCaptionFile(path: string): Promise<CaptionFile> {
  let f: CaptionFile;
  try {
    f = JSON.parse(await readFile(path, 'utf8')) as CaptionFile;
  } catch (err) {
    throw new Error(`cannot read caption file ${path}: ${(err as Error).message}; make it with \`sfn-edge caption --data <videos> --out ${path}\``, { cause: err });
  }
  if (f.version !== 1 || typeof f.videos !== 'object') throw new Error(`${path} is not a sfn-edge caption file (version 1)`);
  if (f.textDim !== TEXT_DIM) throw new Error(`${path} has text features of width ${f.textDim}; this sfn-edge uses ${TEXT_DIM}: caption the videos again`);
  for (const [k, v] of Object.entries(f.videos))
    if (v.embeddings.some((e) => e.length !== f.textDim)) throw new Error(`${path}: video ${k} has embeddings that are not ${f.textDim} wide`);
  return f;
}
