/**
 * Recording normal video for `learn`: the source's own stream written to a file by ffmpeg, so that
 * training reads the camera's pixels at their native size (the model grid is chosen from them).
 *
 * The stream is first copied as it is (`-c copy`, no re-encoding: cheap on a device) into
 * Matroska, which takes nearly any codec a camera sends (H.264/H.265, MJPEG, raw V4L2 frames).
 * When the copy fails (a codec the container refuses, a stream without timestamps), it is
 * re-encoded once as MJPEG at high quality (`-q:v 2`), an encoder every ffmpeg build has.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { ffmpegBinary } from '../video/ffmpeg.js';
import { inputArgs } from '../video/stream-source.js';

/** Options of {@link recordStream}. */
export interface RecordOptions {
  /** progress: seconds of stream recorded so far, out of the requested seconds */
  onProgress?: (recordedS: number, totalS: number) => void;
  /** stops ffmpeg; what was written so far is kept when it is a readable file */
  signal?: AbortSignal;
  /** how long to wait for the first data from the source before giving up (ms, default 20 s) */
  connectTimeoutMs?: number;
}

/** What {@link recordStream} wrote. */
export interface Recording {
  /** the recorded file (`.mkv`) */
  file: string;
  /** seconds of stream written (from ffmpeg's progress) */
  seconds: number;
  /** `copy` when the stream was copied as it is, `mjpeg` when it had to be re-encoded */
  codec: 'copy' | 'mjpeg';
  bytes: number;
}

/** Error of {@link recordStream}: the source named, with ffmpeg's last words. */
export class RecordError extends Error {
  constructor(readonly source: string, message: string) {
    super(`${source}: ${message}`);
    this.name = 'RecordError';
  }
}

/**
 * Records `seconds` of the stream `source` (a URL such as rtsp://, http://, udp://, or a V4L2
 * device /dev/videoN; a plain file works too: its first `seconds` are copied) into `file`.
 * @param file output path; its extension is replaced by `.mkv`; its folder is created.
 * @returns the recording; its `seconds` may be shorter than asked when the stream ended first.
 * @throws RecordError when the source cannot be opened or read (unreachable camera, refused
 *   connection, busy device), sends nothing within `connectTimeoutMs`, or nothing readable was
 *   written; the message carries ffmpeg's last lines.
 */
export async function recordStream(source: string, seconds: number, file: string, o: RecordOptions = {}): Promise<Recording> {
  if (!(seconds > 0 && Number.isFinite(seconds))) throw new RangeError(`recordStream: seconds must be a positive number, got ${seconds}`);
  const out = file.replace(/\.[^./]*$/, '') + '.mkv';
  await fs.mkdir(path.dirname(path.resolve(out)), { recursive: true });
  const first = await runFfmpeg(source, seconds, out, ['-c', 'copy'], o);
  if (first.ok) return { file: out, seconds: first.seconds, codec: 'copy', bytes: first.bytes };
  if (o.signal?.aborted || first.unreachable) throw new RecordError(source, first.error);
  const second = await runFfmpeg(source, seconds, out, ['-c:v', 'mjpeg', '-q:v', '2', '-pix_fmt', 'yuvj420p'], o);
  if (second.ok) return { file: out, seconds: second.seconds, codec: 'mjpeg', bytes: second.bytes };
  throw new RecordError(source, `copying the stream failed (${first.error}); re-encoding failed too: ${second.error}`);
}

type Attempt = { ok: true; seconds: number; bytes: number } | { ok: false; error: string; unreachable: boolean };

/** One ffmpeg run: `-t seconds`, video only, `-progress` on stdout. */
async function runFfmpeg(source: string, seconds: number, out: string, codec: string[], o: RecordOptions): Promise<Attempt> {
  await fs.rm(out, { force: true });
  const args = ['-hide_banner', '-nostdin', '-y', '-v', 'error', ...inputArgs(source), '-t', String(seconds), '-map', '0:v:0', '-an', '-sn', '-dn', ...codec, '-progress', 'pipe:1', '-f', 'matroska', out];
  const child = spawn(ffmpegBinary(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let recorded = 0;
  let gotData = false;
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => {
    stderr = (stderr + s).slice(-4000);
  });
  child.stdout.setEncoding('utf8');
  let pending = '';
  child.stdout.on('data', (s: string) => {
    pending += s;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const l of lines) {
      const m = /^out_time_us=(\d+)/.exec(l) ?? /^out_time_ms=(\d+)/.exec(l);
      if (m) {
        const t = Number(m[1]) / 1e6;
        if (t > 0) gotData = true;
        recorded = Math.max(recorded, Math.min(t, seconds));
        o.onProgress?.(recorded, seconds);
      }
    }
  });
  const kill = () => child.kill('SIGINT');
  o.signal?.addEventListener('abort', kill);
  let timedOut = false;
  const timer = setTimeout(() => {
    if (!gotData) {
      timedOut = true;
      child.kill('SIGKILL');
    }
  }, o.connectTimeoutMs ?? 20_000);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', (err) => reject(new RecordError(source, `cannot start ffmpeg (${ffmpegBinary()}): ${err.message}; install ffmpeg or set SFN_FFMPEG`)));
    child.once('close', (c) => resolve(c));
  }).finally(() => {
    clearTimeout(timer);
    o.signal?.removeEventListener('abort', kill);
  });
  const last = stderr.trim().split('\n').slice(-3).join(' | ') || `ffmpeg exited with status ${code}`;
  const bytes = await fs.stat(out).then((s) => s.size, () => 0);
  if (timedOut) return { ok: false, error: `no video within ${(o.connectTimeoutMs ?? 20_000) / 1000} s (is the camera reachable and streaming?)${stderr ? `: ${last}` : ''}`, unreachable: true };
  const unreachable = /Connection refused|No route to host|Name or service not known|Failed to resolve|timed out|No such file or directory|Device or resource busy|401 Unauthorized|404 Not Found|Server returned/i.test(stderr);
  if (code !== 0 && !(o.signal?.aborted && bytes > 0)) return { ok: false, error: last, unreachable };
  if (bytes === 0 || recorded === 0) return { ok: false, error: `nothing was recorded${stderr ? `: ${last}` : ''}`, unreachable };
  o.onProgress?.(recorded, seconds);
  return { ok: true, seconds: recorded, bytes };
}
