/**
 * A live `FrameSource` for what `src/video/openSource` does not open: network streams (rtsp://,
 * rtmp://, http(s)://, udp://, srt://, ...) and V4L2 cameras (/dev/videoN), decoded by ffmpeg and
 * resized to the model grid (bilinear), as `[C, H, W]` float32 in [0, 1] like every source.
 *
 * A stream that stalls (no frame for `stallMs`) or whose ffmpeg exits makes `frames()` end (after
 * an exit with status 0) or throw a `VideoInputError` with ffmpeg's last message; the run command
 * then reconnects with backoff. `close()` kills ffmpeg.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { VideoInputError } from './errors.js';
import { ffmpegBinary } from './ffmpeg.js';
import { frameBytes, interleavedToPlanar } from './pixels.js';
import { readSegmentList, segmentOutputArgs, type SegmentSink } from './segments.js';
import { channelsOf, type Frame, type FrameSource, type FrameSpec } from '../core/frame.js';

/** True for sources this class handles: a URL with a scheme, or a /dev/ device. */
export function isLiveSource(src: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(src) || src.startsWith('/dev/');
}

/**
 * How much of a network stream ffmpeg reads before it decodes (bytes, microseconds). Its defaults
 * (5 MB, 5 s) made a reconnect wait ~5.75 s before the first frame; half a second is enough to find
 * a video stream's codec and size in MPEG-TS, RTSP and MJPEG.
 */
export const PROBE_ARGS: readonly string[] = ['-probesize', '500000', '-analyzeduration', '500000'];

/** Input arguments of ffmpeg for a live source. */
export function inputArgs(src: string): string[] {
  if (src.startsWith('/dev/')) return ['-f', 'v4l2', '-i', src];
  if (/^rtsps?:\/\//i.test(src)) return [...PROBE_ARGS, '-rtsp_transport', 'tcp', '-i', src];
  return [...PROBE_ARGS, '-i', src];
}

/** ffmpeg-decoded live stream or camera (see the file comment). */
export class StreamSource implements FrameSource {
  readonly spec: FrameSpec;
  /**
   * Where the next `frames()` also writes the stream's encoded video as 1 s MPEG-TS segments
   * (segments.ts), or null. Not for a /dev/ device (raw frames: nothing to copy). When ffmpeg fails
   * before the first frame with it, the sink is told why (`fail`) and the error is thrown as usual.
   */
  segmentInto: SegmentSink | null = null;
  private child: ChildProcess | null = null;
  private closed = false;

  /**
   * @param name URL or device path.
   * @param spec model grid and colour mode.
   * @param stallMs a stream that delivers no frame for this long is treated as dropped (default 10 s).
   */
  constructor(readonly name: string, spec: FrameSpec, private readonly stallMs = 10_000) {
    this.spec = { ...spec };
  }

  /**
   * Frames until the stream ends.
   * @throws VideoInputError when ffmpeg cannot start, exits with an error, or the stream stalls.
   */
  async *frames(): AsyncGenerator<Frame> {
    if (this.closed) return;
    const { width, height, color } = this.spec;
    const bytes = frameBytes(this.spec);
    const args = ['-hide_banner', '-nostdin', '-v', 'error', ...inputArgs(this.name), '-map', '0:v:0', '-an', '-sn', '-dn',
      '-vf', `scale=${width}:${height}:flags=bilinear`, '-pix_fmt', color === 'gray' ? 'gray' : 'rgb24', '-f', 'rawvideo', '-'];
    const sink = this.name.startsWith('/dev/') ? null : this.segmentInto;
    if (sink) {
      await mkdir(sink.dir, { recursive: true });
      args.push(...segmentOutputArgs(sink));
    }
    const child = spawn(ffmpegBinary(), args, { stdio: ['ignore', 'pipe', 'pipe', sink ? 'pipe' : 'ignore'] });
    const listed = sink ? readSegmentList(child.stdio[3] as Readable, sink) : null;
    this.child = child;
    let stderr = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (s: string) => {
      stderr = (stderr + s).slice(-4000);
    });
    const exited = new Promise<number | null>((done) => child.once('close', (code) => done(code)));
    const spawnError = await new Promise<Error | null>((ok) => {
      child.once('spawn', () => ok(null));
      child.once('error', (e) => ok(e));
    });
    if (spawnError) throw new VideoInputError(this.name, `cannot run ffmpeg (${spawnError.message})`, 'Install ffmpeg or set the ffmpeg path.', { cause: spawnError });
    child.on('error', () => undefined);
    let stalled = false;
    let timer: NodeJS.Timeout | null = null;
    const arm = () => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => {
        stalled = true;
        child.kill('SIGKILL');
      }, this.stallMs);
    };
    arm();
    let index = 0;
    let buf: Buffer = Buffer.alloc(0);
    try {
      for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
        buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
        while (buf.length >= bytes) {
          const raw = buf.subarray(0, bytes);
          buf = buf.subarray(bytes);
          arm();
          yield { index: index++, data: interleavedToPlanar(raw, width, height, channelsOf(color)) };
        }
      }
      const code = await exited;
      if (stalled) throw new VideoInputError(this.name, `no frame for ${this.stallMs} ms (stream stalled)`, 'Check the camera or network; the run reconnects.');
      if (code !== 0 && !this.closed && sink && index === 0 && /segment|mpegts|muxer|write header|output file/i.test(stderr)) sink.fail(`ffmpeg could not segment the stream: ${stderr.trim().split('\n').at(-1) ?? ''}`);
      if (code !== 0 && !this.closed) {
        throw new VideoInputError(this.name, `ffmpeg exited with status ${code}: ${stderr.trim().split('\n').at(-1) ?? ''}`, 'Check the URL or device; the run reconnects.');
      }
    } finally {
      if (timer) clearTimeout(timer);
      if (child.exitCode === null) child.kill('SIGKILL');
      this.child = null;
      if (sink) {
        await listed;
        sink.end();
      }
    }
  }

  /** Kills ffmpeg. Safe to call twice. */
  async close(): Promise<void> {
    this.closed = true;
    this.child?.kill('SIGKILL');
  }
}
