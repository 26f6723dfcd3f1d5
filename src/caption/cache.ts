/**
 * A cache of per-frame captions of a video on disk, so that evaluating a semantic model again does
 * not caption the test videos again (a caption takes ~50–70 ms a frame here). Entries live in
 * `<dir>/<sha256 of key>.json` (default dir `.sfn-edge/captions`, or `SFN_CAPTION_CACHE`); the key is
 * the video's absolute path, its files' names, sizes and modification times, the captioner and the
 * caption grid, so a changed video or captioner misses. A corrupt entry is ignored and rewritten.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rename, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

import { CAPTION_SPEC, type VideoCaptions } from './dataset.js';
import { TEXT_DIM } from './embed.js';

/** The cache key of a video (folder or file) for a captioner: changes when any frame file changes. */
export async function videoFingerprint(path: string, captioner: string): Promise<string> {
  const abs = resolve(path);
  const s = await stat(abs);
  const parts = [abs, captioner, `${CAPTION_SPEC.width}x${CAPTION_SPEC.height}${CAPTION_SPEC.color}`, String(TEXT_DIM)];
  if (s.isDirectory()) {
    for (const name of (await readdir(abs)).sort()) {
      const f = await stat(join(abs, name));
      parts.push(`${name}:${f.size}:${f.mtimeMs}`);
    }
  } else parts.push(`${s.size}:${s.mtimeMs}`);
  return createHash('sha256').update(parts.join('\n')).digest('hex');
}

/** Default cache folder: `SFN_CAPTION_CACHE`, else `.sfn-edge/captions`. */
export function captionCacheDir(): string {
  return process.env.SFN_CAPTION_CACHE ?? '.sfn-edge/captions';
}

/** The cached captions of `path` by `captioner`, or null when missing, stale or corrupt. */
export async function readCachedCaptions(path: string, captioner: string, dir = captionCacheDir()): Promise<VideoCaptions | null> {
  const file = join(dir, `${await videoFingerprint(path, captioner)}.json`);
  try {
    const c = JSON.parse(await readFile(file, 'utf8')) as VideoCaptions;
    if (Array.isArray(c.texts) && Array.isArray(c.embeddings) && c.texts.length === c.embeddings.length && c.embeddings.every((e) => e.length === TEXT_DIM)) return c;
  } catch {
    /* missing or corrupt: caption again */
  }
  return null;
}

/** Stores the captions of `path` by `captioner` (atomically: temp file + rename). */
export async function storeCachedCaptions(path: string, captioner: string, c: VideoCaptions, dir = captionCacheDir()): Promise<void> {
  const file = join(dir, `${await videoFingerprint(path, captioner)}.json`);
  await mkdir(dir, { recursive: true });
  await writeFile(`${file}.tmp`, JSON.stringify(c));
  await rename(`${file}.tmp`, file);
}
