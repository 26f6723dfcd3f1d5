/**
 * ffmpeg as a one-shot child process for evidence: encode raw frames to an H.264 MP4, join
 * MPEG-TS segments without re-encoding, take one frame out of a file. Every output is written as
 * `<out>.part` and renamed when ffmpeg exits with 0, so `out` is either absent or complete.
 * `spawn` only: nothing blocks the event loop beyond the spawn itself.
 */
import { spawn } from 'node:child_process';
import { rename, rm, writeFile } from 'node:fs/promises';
import { ffmpegBinary } from './ffmpeg.js';

/**
 * Runs ffmpeg with `args`, writing `input` chunks to its stdin (with backpressure).
 * @returns its stdout.
 * @throws Error when ffmpeg is missing or exits non-zero (with the end of its stderr).
 */
export async function runFfmpeg(args: string[], what: string, input?: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<Buffer> {
  // its own process group (`detached`, still tracked: not unref'd): a terminal's Ctrl-C signals the
  // whole foreground group, and must not kill an encoder mid-clip; `run` waits for it on stop, and
  // kills what is left at its bound (runtime/children.ts), its `.part` removed below
  const p = spawn(ffmpegBinary(), ['-hide_banner', '-nostdin', '-loglevel', 'error', '-y', ...args], { stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'], detached: true });
  const out: Buffer[] = [];
  let err = '';
  p.stdout!.on('data', (d: Buffer) => out.push(d));
  p.stderr!.on('data', (d: Buffer) => {
    err = (err + d.toString()).slice(-2000);
  });
  const closed = new Promise<number | null>((resolve, reject) => {
    p.on('error', (e) => reject(new Error(`${what}: cannot run ffmpeg: ${e.message}`)));
    p.on('close', (code) => resolve(code));
  });
  if (input && p.stdin) {
    p.stdin.on('error', () => undefined); // reported through 'close'
    try {
      for await (const chunk of input) {
        if (!p.stdin.write(chunk)) await new Promise<void>((r) => p.stdin!.once('drain', () => r()).once('close', () => r()));
        if (p.stdin.destroyed) break;
      }
    } finally {
      p.stdin.end();
    }
  }
  const code = await closed;
  if (code !== 0) throw new Error(`${what}: ffmpeg exited with ${code}: ${err.trim()}`);
  return Buffer.concat(out);
}

/** Runs ffmpeg writing `out` (format `format`) via `<out>.part`; the part file goes when it fails. @throws Error as {@link runFfmpeg}. */
export async function ffmpegTo(out: string, format: string, args: string[], input?: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<void> {
  const part = `${out}.part`;
  try {
    await runFfmpeg([...args, '-f', format, part], out, input);
    await rename(part, out);
  } catch (err) {
    await rm(part, { force: true });
    throw err;
  }
}

/** Raw frames' layout on ffmpeg's stdin. */
export interface RawLayout {
  width: number;
  height: number;
  /** ffmpeg pixel format: `gray` or `rgb24` */
  pixFmt: 'gray' | 'rgb24';
}

/**
 * Encodes raw frames as an H.264 constrained-baseline MP4 (yuv420p, faststart; odd sizes padded to
 * even ones, as yuv420p needs) at `fps` frames/s.
 * @throws Error as {@link runFfmpeg}.
 */
export function encodeMp4(frames: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, layout: RawLayout, fps: number, out: string): Promise<void> {
  return ffmpegTo(out, 'mp4', [
    '-f', 'rawvideo', '-pix_fmt', layout.pixFmt, '-s', `${layout.width}x${layout.height}`, '-r', String(fps), '-i', 'pipe:0',
    '-vf', 'pad=ceil(iw/2)*2:ceil(ih/2)*2', '-c:v', 'libx264', '-profile:v', 'baseline', '-pix_fmt', 'yuv420p', '-preset', 'veryfast',
    '-movflags', '+faststart',
  ], frames);
}

/**
 * Joins MPEG-TS segments into one MP4 with no re-encoding (`-f concat -c copy -movflags
 * +faststart`). The concat list goes to `<out>.concat.txt` and is removed after.
 * @throws Error as {@link runFfmpeg}, or when `files` is empty.
 */
export async function concatSegments(files: readonly string[], out: string): Promise<void> {
  if (files.length === 0) throw new Error(`${out}: no segments to join`);
  const list = `${out}.concat.txt`;
  await writeFile(list, files.map((f) => `file '${f.replace(/'/g, "'\\''")}'\n`).join(''));
  try {
    await ffmpegTo(out, 'mp4', ['-f', 'concat', '-safe', '0', '-i', list, '-map', '0:v', '-c', 'copy', '-movflags', '+faststart']);
  } finally {
    await rm(list, { force: true });
  }
}

/**
 * The first frame of `file` at or after `offsetS` seconds from its start, at its own size, as PNG
 * bytes (empty when the file holds no frame there). Decodes the file from its start (a 1 s segment).
 * @throws Error as {@link runFfmpeg}.
 */
export function frameAt(file: string, offsetS: number): Promise<Buffer> {
  // the select filter rather than -ss: a seek near a segment's end (B-frames) gives no frame at all
  return runFfmpeg(['-i', file, '-map', '0:v:0', '-vf', `select=gte(t\\,${Math.max(0, offsetS).toFixed(4)})`, '-frames:v', '1', '-c:v', 'png', '-f', 'image2pipe', 'pipe:1'], file);
}
