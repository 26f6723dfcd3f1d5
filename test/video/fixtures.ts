/**
 * Test fixtures for the video sources, made at test time in a temp dir: a few UCSD Ped2 frames
 * (or deterministic synthetic 360x240 grey frames when the dataset is not on this machine), mp4s
 * encoded from them with ffmpeg, and damaged copies.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import sharp from 'sharp';

import { VideoInputError } from '../../src/video/errors.js';
import type { Frame, FrameSource } from '../../src/core/frame.js';

export const PED2_CLIP = '/work/shared/datasets/ucsd_ped2/training/frames/01';
export const PED2_TESTING = '/work/shared/datasets/ucsd_ped2/testing/frames';
export const hasPed2 = existsSync(join(PED2_CLIP, '000.jpg'));

/** Fresh temp folder under os.tmpdir(); remove with `removeDir`. */
export function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `sfn-video-${prefix}-`));
}

export function removeDir(dir: string): Promise<void> {
  return rm(dir, { recursive: true, force: true });
}

/** Writes `n` frames `000.jpg ...` into `dir` (created): copies of Ped2 frames, or synthetic ones. */
export async function writeFrames(dir: string, n: number): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const name = `${String(i).padStart(3, '0')}.jpg`;
    const dest = join(dir, name);
    if (hasPed2) {
      await copyFile(join(PED2_CLIP, name), dest);
    } else {
      // Deterministic stand-in: grey gradient with a bright square moving right, stored as RGB JPEG.
      const w = 360;
      const h = 240;
      const px = Buffer.alloc(w * h * 3);
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const inside = x >= 40 + i * 12 && x < 80 + i * 12 && y >= 100 && y < 140;
          const v = inside ? 230 : 40 + Math.round((x / w) * 120);
          px.fill(v, (y * w + x) * 3, (y * w + x) * 3 + 3);
        }
      }
      await sharp(px, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 90 }).toFile(dest);
    }
    out.push(dest);
  }
  return out;
}

/** Runs ffmpeg synchronously and fails the test if it fails. */
export function ffmpeg(args: string[]): void {
  const r = spawnSync('ffmpeg', ['-hide_banner', '-nostdin', '-v', 'error', '-y', ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, `ffmpeg ${args.join(' ')} failed: ${r.stderr}`);
}

/** Encodes `dir/%03d.jpg` to an H.264 mp4 at 10 fps. `faststart` puts the index (moov) first. */
export function encodeMp4(dir: string, out: string, faststart = false): void {
  ffmpeg([
    '-framerate', '10', '-i', join(dir, '%03d.jpg'), '-c:v', 'libx264', '-pix_fmt', 'yuv420p',
    ...(faststart ? ['-movflags', '+faststart'] : []), out,
  ]);
}

/** Copies `src` to `dest` keeping only the first half of its bytes. */
export async function truncateHalf(src: string, dest: string): Promise<void> {
  const buf = await readFile(src);
  await writeFile(dest, buf.subarray(0, Math.floor(buf.length / 2)));
}

/** Copies `src` to `dest` with `len` bytes in the middle replaced by fixed pseudo-random garbage. */
export async function garbleMiddle(src: string, dest: string, len = 2048): Promise<void> {
  const buf = Buffer.from(await readFile(src));
  const start = Math.max(0, Math.floor(buf.length / 2) - len / 2);
  let s = 12345;
  for (let i = 0; i < len && start + i < buf.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    buf[start + i] = s >>> 24;
  }
  await writeFile(dest, buf);
}

/** Reads a source to the end, keeping the frames yielded before an error and the error. */
export async function drain(source: FrameSource): Promise<{ frames: Frame[]; error: unknown }> {
  const frames: Frame[] = [];
  try {
    for await (const f of source.frames()) frames.push(f);
    return { frames, error: undefined };
  } catch (error) {
    return { frames, error };
  }
}

/**
 * Asserts `err` is a `VideoInputError` about `file` whose message starts with the file and
 * matches `problem`.
 */
export function assertVideoError(err: unknown, file: string, problem: RegExp): VideoInputError {
  assert.ok(err instanceof VideoInputError, `expected VideoInputError, got ${String(err)}`);
  assert.equal(err.file, file);
  assert.ok(err.message.startsWith(`${file}: `), `message should start with the file: ${err.message}`);
  assert.match(err.problem, problem);
  assert.match(err.message, problem);
  assert.ok(err.hint.length > 0, 'has a hint');
  return err;
}

/** Awaits `p`, expecting a `VideoInputError` (see `assertVideoError`). */
export async function rejectsVideoError(p: Promise<unknown>, file: string, problem: RegExp): Promise<VideoInputError> {
  try {
    await p;
  } catch (err) {
    return assertVideoError(err, file, problem);
  }
  assert.fail(`expected a VideoInputError about ${file}`);
}

/** Mean absolute difference of two equal-length arrays. */
export function meanAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs((a[i] as number) - (b[i] as number));
  return s / a.length;
}
