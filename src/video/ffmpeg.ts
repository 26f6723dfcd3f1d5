/**
 * Video-file source: decodes with an `ffmpeg` child process writing raw frames to a pipe (no temp
 * files). ffmpeg does the resize (`scale=W:H:flags=bilinear`) and the colour conversion
 * (`-pix_fmt gray|rgb24`); this module cuts its stdout into frames and converts them to planar float.
 *
 * Binaries: `ffmpeg` from `SFN_FFMPEG` (default: `ffmpeg` on PATH); `ffprobe` from `SFN_FFPROBE`
 * (default: the `ffprobe` next to `SFN_FFMPEG` if there is one, else `ffprobe` on PATH). ffprobe is
 * optional: without it `open()` skips the early check and problems surface from `frames()`.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, open as openFile, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';

import { log } from '../util/log.js';
import { VideoInputError } from './errors.js';
import { frameBytes, interleavedToPlanar, validateSpec } from './pixels.js';
import { readSegmentList, segmentOutputArgs, type SegmentSink } from './segments.js';
import { channelsOf, type Frame, type FrameSource, type FrameSpec } from '../core/frame.js';

const INSTALL_HINT = 'Install ffmpeg (e.g. `apt-get install -y ffmpeg`) or set SFN_FFMPEG to the path of the ffmpeg binary.';
const DAMAGED_HINT =
  'Frames decoded before the error were delivered. Re-copy the file, or re-encode what is readable (e.g. `ffmpeg -i in.mp4 -c:v libx264 -pix_fmt yuv420p out.mp4`).';
/** How many trailing ffmpeg stderr lines go into error messages. */
const STDERR_LINES = 5;

/** Path of the ffmpeg binary: `$SFN_FFMPEG`, else `ffmpeg` (looked up on PATH). */
export function ffmpegBinary(): string {
  return process.env.SFN_FFMPEG || 'ffmpeg';
}

/**
 * Path of the ffprobe binary: `$SFN_FFPROBE`; else, when `$SFN_FFMPEG` names a file path, the
 * `ffprobe` in the same folder if it exists; else `ffprobe` (looked up on PATH).
 */
export function ffprobeBinary(): string {
  if (process.env.SFN_FFPROBE) return process.env.SFN_FFPROBE;
  const ff = process.env.SFN_FFMPEG;
  if (ff && ff.includes('/')) {
    const sibling = join(dirname(ff), basename(ff).replace(/ffmpeg/i, 'ffprobe'));
    if (sibling !== ff && existsSync(sibling)) return sibling;
  }
  return 'ffprobe';
}

/** What ffprobe says about the first video stream of a file. */
export interface VideoInfo {
  /** Native width in pixels. */
  width: number;
  /** Native height in pixels. */
  height: number;
  /** Codec name as ffmpeg spells it (e.g. `h264`). */
  codec: string;
  /** Container name(s) as ffmpeg spells them (e.g. `mov,mp4,m4a,3gp,3g2,mj2`). */
  container: string;
  /** Average frame rate in frames per second, when known. */
  fps?: number;
  /** Frame count from the container header, when it records one (not verified by decoding). */
  frameCount?: number;
  /** Duration in seconds, when known. */
  durationS?: number;
}

/** Options of `FfmpegSource`. Binary paths default to `ffmpegBinary()` / `ffprobeBinary()`. */
export interface FfmpegOptions {
  ffmpegPath?: string;
  ffprobePath?: string;
}

/** Container signatures, to tell a damaged video from a file that is not a video at all. */
function sniffContainer(head: Buffer): string | undefined {
  const ascii = (from: number, to: number) => head.subarray(from, to).toString('latin1');
  if (head.length >= 8 && ['ftyp', 'moov', 'mdat', 'free', 'wide', 'skip'].includes(ascii(4, 8))) return 'MP4/QuickTime';
  if (head.length >= 12 && ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'AVI ') return 'AVI';
  if (head.length >= 4 && head.readUInt32BE(0) === 0x1a45dfa3) return 'Matroska/WebM';
  if (head.length >= 4 && (head.readUInt32BE(0) === 0x000001ba || head.readUInt32BE(0) === 0x000001b3)) return 'MPEG';
  if (head.length >= 189 && head[0] === 0x47 && head[188] === 0x47) return 'MPEG-TS';
  if (head.length >= 3 && ascii(0, 3) === 'FLV') return 'FLV';
  if (head.length >= 4 && head.readUInt32BE(0) === 0x3026b275) return 'ASF/WMV';
  if (head.length >= 4 && ascii(0, 4) === 'OggS') return 'Ogg';
  return undefined;
}

/** Last `n` non-empty stderr lines, with ffmpeg's `[demuxer @ 0x55...]` pointers shortened. */
function tailLines(stderr: string, n = STDERR_LINES): string[] {
  return stderr
    .split(/\r?\n/)
    .map((l) => l.replace(/ @ 0x[0-9a-f]+\]/gi, ']').trim())
    .filter((l) => l.length > 0)
    .slice(-n);
}

function quoteLines(lines: string[]): string {
  return lines.length === 0 ? '(no stderr output)' : lines.map((l) => `"${l}"`).join(' | ');
}

/**
 * Explains why ffmpeg/ffprobe could not open `file`: missing, a folder, empty, no video stream,
 * a damaged/truncated video container, or not a video at all.
 */
async function openFailure(file: string, stderr: string, tool: string): Promise<VideoInputError> {
  const said = `${tool}: ${quoteLines(tailLines(stderr))}`;
  let size: number;
  try {
    const s = await stat(file);
    if (s.isDirectory()) {
      return new VideoInputError(file, 'is a folder, not a video file', 'Use an image-sequence folder through openSource()/ImageFolderSource, or pass a video file.');
    }
    size = s.size;
  } catch (err) {
    return new VideoInputError(file, 'file not found', 'Check the path (it is resolved against the current directory).', { cause: err });
  }
  if (size === 0) return new VideoInputError(file, 'empty file (0 bytes), not a video', 'Re-copy the video.');
  if (/matches no streams|does not contain any stream/i.test(stderr)) {
    return new VideoInputError(file, `no video stream in file (${said})`, 'Pass a file with a video track.');
  }
  const head = Buffer.alloc(512);
  let got = 0;
  try {
    const fh = await openFile(file, 'r');
    try {
      got = (await fh.read(head, 0, head.length, 0)).bytesRead;
    } finally {
      await fh.close();
    }
  } catch {
    // unreadable: fall through to "not a video"
  }
  const container = sniffContainer(head.subarray(0, got));
  if (container) {
    return new VideoInputError(file, `video is truncated or corrupt: ${tool} cannot open this ${container} file (${said})`,
      'Re-copy or re-record the file: it looks cut short or damaged (an MP4 whose index, the moov atom, is missing cannot be read at all).');
  }
  return new VideoInputError(file, `not a video file: ${tool} cannot open it (${said})`,
    'Pass a video file (mp4, avi, mkv, ...) or a folder of image frames.');
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Kills a running ffmpeg and drops its pipes: 'close' waits for the pipes to end, and a paused
 * stdout with unread data would never end. */
function stopChild(child: ChildProcess): void {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  child.stdout?.destroy();
  child.stderr?.destroy();
}

/**
 * Frames of a video file (anything ffmpeg can decode: mp4, avi, mkv, mov, webm, ...), first video
 * stream only, every decoded frame (no frame-rate conversion), resized by ffmpeg to the spec
 * (bilinear, aspect ratio not kept) and converted to gray (`-pix_fmt gray`) or RGB (`rgb24`).
 *
 * Output: `Frame.data` is `[C, H, W]` float32 in [0, 1]. ffmpeg runs as a child process per
 * `frames()` call, writing `W*H*C` bytes per frame to a pipe; it is throttled by the consumer (pipe
 * backpressure), so memory stays at a few frames.
 *
 * Errors (all `VideoInputError`, naming the file):
 * - `open()`: file not found, is a folder, empty file, not a video, no video stream, container
 *   truncated/damaged (via ffprobe; skipped when ffprobe is not installed);
 * - `frames()`, before the first frame: the same checks from ffmpeg's own failure, and ffmpeg
 *   missing (says to install it);
 * - `frames()`, after every frame ffmpeg delivered has been yielded: ffmpeg exited non-zero, printed
 *   any error (decode errors, `partial file`, ...), or stopped mid-frame. The message includes the
 *   last lines of ffmpeg's stderr.
 */
export class FfmpegSource implements FrameSource {
  readonly name: string;
  readonly spec: FrameSpec;
  /** ffprobe's description of the video; set by `open()` when ffprobe is available. */
  info: VideoInfo | undefined;
  /**
   * Where the next `frames()` also writes the source's encoded stream as 1 s MPEG-TS segments
   * (segments.ts), or null. When ffmpeg fails before the first frame with it, the sink is told why
   * (`fail`), dropped, and the frames are decoded without it.
   */
  segmentInto: SegmentSink | null = null;
  private readonly ffmpeg: string;
  private readonly ffprobe: string;
  private readonly children = new Map<ChildProcess, Promise<Exit>>();
  private closed = false;

  /**
   * Creates the source without touching the disk; prefer `FfmpegSource.open` to fail early.
   *
   * @param file video path (used as `name` and in errors).
   * @param spec output grid and colour mode.
   * @throws RangeError for an invalid spec.
   */
  constructor(file: string, spec: FrameSpec, options: FfmpegOptions = {}) {
    validateSpec(spec);
    this.name = file;
    this.spec = { ...spec };
    this.ffmpeg = options.ffmpegPath ?? ffmpegBinary();
    this.ffprobe = options.ffprobePath ?? ffprobeBinary();
  }

  /**
   * Creates the source and checks the file with ffprobe now (sets `info`).
   *
   * @throws VideoInputError file not found / is a folder / empty / not a video / no video stream /
   *   truncated or corrupt container.
   * @throws RangeError for an invalid spec.
   */
  static async open(file: string, spec: FrameSpec, options: FfmpegOptions = {}): Promise<FfmpegSource> {
    const source = new FfmpegSource(file, spec, options);
    source.info = await source.probe();
    return source;
  }

  /**
   * Runs ffprobe on the file. Returns `undefined` when ffprobe is not installed (logged at debug level).
   *
   * @throws VideoInputError as `open()`.
   */
  async probe(): Promise<VideoInfo | undefined> {
    let s;
    try {
      s = await stat(this.name);
    } catch {
      throw await openFailure(this.name, '', 'ffprobe');
    }
    if (s.isDirectory() || s.size === 0) throw await openFailure(this.name, '', 'ffprobe');
    const args = [
      '-hide_banner', '-v', 'error', '-select_streams', 'v:0',
      '-show_entries', 'stream=codec_name,width,height,avg_frame_rate,nb_frames:format=format_name,duration',
      '-of', 'json', '-i', resolve(this.name),
    ];
    const result = await new Promise<{ err: (Error & { code?: unknown }) | null; stdout: string; stderr: string }>((done) => {
      execFile(this.ffprobe, args, { maxBuffer: 4 << 20, encoding: 'utf8' }, (err, stdout, stderr) => done({ err, stdout, stderr }));
    });
    if (result.err && result.err.code === 'ENOENT') {
      log.debug({ ffprobe: this.ffprobe }, 'ffprobe not found; skipping the early video check');
      return undefined;
    }
    if (result.err) throw await openFailure(this.name, result.stderr, 'ffprobe');
    let parsed: { streams?: Array<Record<string, unknown>>; format?: Record<string, unknown> };
    try {
      parsed = JSON.parse(result.stdout) as typeof parsed;
    } catch (err) {
      throw new VideoInputError(this.name, `ffprobe printed unreadable output (${String(err)})`, INSTALL_HINT, { cause: err });
    }
    const stream = parsed.streams?.[0];
    if (!stream) throw await openFailure(this.name, 'Stream map matches no streams', 'ffprobe');
    const num = (v: unknown): number | undefined => {
      const x = typeof v === 'string' ? Number(v) : typeof v === 'number' ? v : NaN;
      return Number.isFinite(x) ? x : undefined;
    };
    const [fn, fd] = String(stream.avg_frame_rate ?? '').split('/').map(Number);
    const info: VideoInfo = {
      width: num(stream.width) ?? 0,
      height: num(stream.height) ?? 0,
      codec: String(stream.codec_name ?? 'unknown'),
      container: String(parsed.format?.format_name ?? 'unknown'),
    };
    if (fn && fd && Number.isFinite(fn / fd)) info.fps = fn / fd;
    const frameCount = num(stream.nb_frames);
    if (frameCount !== undefined) info.frameCount = frameCount;
    const durationS = num(parsed.format?.duration);
    if (durationS !== undefined) info.durationS = durationS;
    return info;
  }

  /**
   * Frames in decode order, `index` 0-based. Each call runs a fresh ffmpeg from the start of the
   * file. Stops early (without error) once `close()` has been called; breaking out of the loop
   * kills that ffmpeg.
   *
   * @throws VideoInputError see the class docs; decode problems are thrown only after every
   *   complete frame ffmpeg produced has been yielded.
   */
  async *frames(): AsyncGenerator<Frame> {
    if (this.closed) return;
    const { width, height, color } = this.spec;
    const channels = channelsOf(color);
    const bytes = frameBytes(this.spec);
    const args = [
      '-hide_banner', '-nostdin', '-v', 'error',
      '-i', resolve(this.name),
      '-map', '0:v:0', '-an', '-sn', '-dn',
      '-vf', `scale=${width}:${height}:flags=bilinear`,
      '-pix_fmt', color === 'gray' ? 'gray' : 'rgb24',
      '-f', 'rawvideo', '-',
    ];
    let sink = this.segmentInto;
    if (sink) {
      const made = await mkdir(sink.dir, { recursive: true }).then(() => null, (err: Error) => err.message);
      if (made === null) args.push(...segmentOutputArgs(sink));
      else {
        sink.fail(`cannot make the segments folder: ${made}`);
        this.segmentInto = sink = null;
      }
    }
    const child = spawn(this.ffmpeg, args, { stdio: ['ignore', 'pipe', 'pipe', sink ? 'pipe' : 'ignore'] });
    const listed = sink ? readSegmentList(child.stdio[3] as Readable, sink) : null;
    const exited = new Promise<Exit>((done) => child.once('close', (code, signal) => done({ code, signal })));
    this.children.set(child, exited);
    let stderr = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (s: string) => {
      stderr = (stderr + s).slice(-16384);
    });
    try {
      await new Promise<void>((ok, fail) => {
        child.once('spawn', ok);
        child.once('error', fail);
      });
    } catch (err) {
      this.children.delete(child);
      const code = (err as NodeJS.ErrnoException).code;
      throw new VideoInputError(this.name, `cannot run ffmpeg ('${this.ffmpeg}': ${code ?? String(err)})`, INSTALL_HINT, { cause: err });
    }
    child.on('error', () => undefined); // later errors (e.g. kill failures) are reflected in the exit status

    let index = 0;
    let partial = Buffer.allocUnsafe(bytes);
    let fill = 0;
    try {
      for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
        let off = 0;
        while (off < chunk.length) {
          let frame: Uint8Array;
          if (fill === 0 && chunk.length - off >= bytes) {
            frame = chunk.subarray(off, off + bytes);
            off += bytes;
          } else {
            const n = Math.min(bytes - fill, chunk.length - off);
            chunk.copy(partial, fill, off, off + n);
            fill += n;
            off += n;
            if (fill < bytes) break;
            frame = partial;
            fill = 0;
          }
          const data = interleavedToPlanar(frame, width, height, channels);
          yield { index, data };
          index++;
          if (this.closed) return;
        }
      }
      const exit = await exited;
      if (this.closed) return;
      const lines = tailLines(stderr);
      const failed = exit.code !== 0 || lines.length > 0 || fill > 0;
      if (!failed) return;
      // ffmpeg reports a failed open as "<input path>: <reason>"; a missing video stream as "... matches no streams".
      const openFailed = stderr.includes(`${resolve(this.name)}: `) || /matches no streams|does not contain any stream/i.test(stderr);
      if (sink && index === 0 && !openFailed) {
        // the segment output failed (e.g. a codec MPEG-TS cannot carry): decode without it
        sink.fail(`ffmpeg could not segment the source: ${quoteLines(lines)}`);
        this.segmentInto = null;
        yield* this.frames();
        return;
      }
      if (index === 0 && fill === 0 && exit.code !== 0 && openFailed) throw await openFailure(this.name, stderr, 'ffmpeg');
      const how = exit.signal ? `killed by ${exit.signal}` : `exit code ${String(exit.code)}`;
      const cut = fill > 0 ? `; last frame incomplete (${fill} of ${bytes} bytes)` : '';
      throw new VideoInputError(this.name,
        `video is truncated or corrupt: ffmpeg reported errors after ${index} complete frame${index === 1 ? '' : 's'} (${how}${cut}); ffmpeg: ${quoteLines(lines)}`,
        DAMAGED_HINT);
    } catch (err) {
      if (err instanceof VideoInputError) throw err;
      // e.g. a pipe error while reading ffmpeg's stdout
      throw new VideoInputError(this.name, `reading frames from ffmpeg failed after ${index} frames (${String(err)})`,
        'Retry; if it persists, check the video with `ffmpeg -v error -i <file> -f null -`.', { cause: err });
    } finally {
      partial = Buffer.alloc(0);
      if (child.exitCode === null && child.signalCode === null) stopChild(child);
      await exited;
      this.children.delete(child);
      if (sink) {
        await listed;
        sink.end();
      }
    }
  }

  /** Kills any running ffmpeg of this source and waits for it to exit; running `frames()` loops end. Safe to call twice. */
  async close(): Promise<void> {
    this.closed = true;
    const waits: Array<Promise<Exit>> = [];
    for (const [child, exited] of this.children) {
      stopChild(child);
      waits.push(exited);
    }
    await Promise.all(waits);
  }
}
