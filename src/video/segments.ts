/**
 * The source's own encoded stream, kept as 1-second MPEG-TS segments (issue 14, part 2), as NVRs
 * do: the decoding ffmpeg gets a second output, `-map 0:v:0 -c copy -f segment -segment_time 1
 * -segment_format mpegts -segment_list pipe:3 -segment_list_type csv <dir>/<prefix>-%06d.ts`, so
 * the stream is decoded once and copied, never re-encoded. ffmpeg writes one CSV line
 * `file,start,end` (stream seconds) on fd 3 when it closes a segment; {@link SegmentIndex} keeps
 * those lines on the camera's timeline (seconds = frame index / frame rate), pins the segments of
 * open recordings, and prunes the rest to pre-roll + {@link SEGMENT_SLACK_S} within a byte budget.
 *
 * A segment starts at a key frame: with `-c copy`, segments are at least the key-frame interval
 * long (1 s or more). Frame index -> time assumes a constant frame rate (the probed rate).
 */
import { rm, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Readable } from 'node:stream';
import { log } from '../util/log.js';

/** Codecs MPEG-TS carries (ffmpeg's mpegts muxer); another codec falls back to model-grid evidence. */
export const MPEGTS_CODECS: readonly string[] = ['h264', 'hevc', 'mpeg2video', 'mpeg1video', 'mpeg4', 'av1'];

/** Seconds of segments kept beyond the pre-roll (the segment being written, key-frame slack). */
export const SEGMENT_SLACK_S = 2;

/** One closed segment on the camera's timeline. */
export interface Segment {
  /** absolute path of the `.ts` file */
  file: string;
  /** first and end time, seconds on the camera's timeline (end = the next segment's start) */
  start: number;
  end: number;
  /** size in bytes (0 until stat'ed) */
  bytes: number;
  /** the pass of the source it belongs to */
  pass: SegmentPass;
}

/** One pass of the source (one ffmpeg): where its first frame is on the camera's timeline. */
export interface SegmentPass {
  /** seconds on the camera's timeline of its first frame */
  base: number;
  /** its first segment's file ('' before it closed) */
  first: string;
}

/** Where one decoding ffmpeg writes its segments, and what it tells. */
export interface SegmentSink {
  /** folder of the segments (created by the source before ffmpeg starts) */
  dir: string;
  /** file-name prefix, distinct per pass so a new pass never overwrites a pinned segment */
  prefix: string;
  /** a closed segment, times in stream seconds as ffmpeg wrote them */
  segment(file: string, start: number, end: number): void;
  /** ffmpeg has exited: every segment it closed has been told */
  end(): void;
  /** segmenting failed and the source decodes without it (the reason, once) */
  fail(reason: string): void;
}

/** ffmpeg output arguments of the segment output into `sink` (see the file comment). */
export function segmentOutputArgs(sink: Pick<SegmentSink, 'dir' | 'prefix'>): string[] {
  return [
    '-map', '0:v:0', '-c', 'copy', '-f', 'segment', '-segment_time', '1', '-segment_format', 'mpegts',
    '-segment_list', 'pipe:3', '-segment_list_type', 'csv', '-reset_timestamps', '0', join(sink.dir, `${sink.prefix}-%06d.ts`),
  ];
}

/** One CSV line of ffmpeg's segment list -> `[file, start, end]` (file joined to `dir`), or null when it is not one. */
export function parseSegmentLine(line: string, dir: string): [string, number, number] | null {
  const m = /^"?([^",]+)"?,([-0-9.e+]+),([-0-9.e+]+)\s*$/.exec(line.trim());
  if (!m) return null;
  const start = Number(m[2]);
  const end = Number(m[3]);
  if (!Number.isFinite(start) || !Number.isFinite(end)) return null;
  return [join(dir, basename(m[1]!)), start, end];
}

/** Reads ffmpeg's segment list from `fd3` and tells `sink` each line; resolves when the pipe ends. */
export function readSegmentList(fd3: Readable, sink: SegmentSink): Promise<void> {
  let rest = '';
  fd3.setEncoding('utf8');
  fd3.on('data', (s: string) => {
    const lines = (rest + s).split('\n');
    rest = lines.pop() ?? '';
    for (const l of lines) {
      const p = parseSegmentLine(l, sink.dir);
      if (p) sink.segment(...p);
    }
  });
  return new Promise((done) => {
    fd3.once('close', () => done());
    fd3.once('error', () => done());
  });
}

/**
 * The camera's segments on its timeline (see the file comment). Times are seconds; a pass of the
 * source that starts at frame `base` maps its stream time `s` to `base / fps + (s - first)`, with
 * `first` the start of its first segment.
 */
export class SegmentIndex {
  private readonly segs: Segment[] = [];
  private readonly pins = new Map<string, number>();
  private waiters: Array<() => void> = [];
  private passes = 0;
  private ended = 0;
  private warned = false;
  private retired = false;
  /** the newest frame the pipeline took, seconds (ffmpeg segments ahead of it by its pipe buffers) */
  private taken = 0;
  /** stats and deletes in flight */
  private readonly io = new Set<Promise<unknown>>();
  /** what the current pass is writing now: file and start (null before its first segment closed or after it ended) */
  current: { file: string; start: number; pass: SegmentPass } | null = null;

  /**
   * @param dir the segments folder
   * @param keepS seconds kept behind the newest segment (pre-roll + slack)
   * @param budgetBytes the most bytes the segments may hold (pins included)
   */
  constructor(readonly dir: string, public keepS: number, public budgetBytes: number) {}

  /** A sink for one pass of the source whose first frame is at `baseS` seconds on the camera's timeline. */
  pass(baseS: number, prefix: string, onFail: (reason: string) => void): SegmentSink {
    this.passes++;
    let first: number | null = null;
    let n = 0;
    const pass: SegmentPass = { base: baseS, first: join(this.dir, `${prefix}-000000.ts`) };
    const at = (s: number) => baseS + s - (first ?? s);
    this.current = { file: pass.first, start: baseS, pass };
    const sink: SegmentSink = {
      dir: this.dir, prefix,
      segment: (file, start, end) => {
        first ??= start;
        if (n === 0) pass.first = file;
        this.add({ file, start: at(start), end: at(end), bytes: 0, pass });
        n++;
        this.current = { file: join(this.dir, `${prefix}-${String(n).padStart(6, '0')}.ts`), start: at(end), pass };
      },
      end: () => {
        this.ended++;
        this.current = null;
        this.wake();
      },
      fail: (reason) => onFail(reason),
    };
    return sink;
  }

  /** Adds a closed segment, prunes, and wakes waiters. */
  add(s: Segment): void {
    this.segs.push(s);
    this.segs.sort((a, b) => a.start - b.start);
    this.track(stat(s.file).then((st) => {
      s.bytes = st.size;
      this.prune();
    }, () => undefined));
    this.wake();
  }

  /** Closed segments, oldest first. */
  get all(): readonly Segment[] {
    return this.segs;
  }

  /** Bytes of the closed segments. */
  get bytes(): number {
    return this.segs.reduce((a, s) => a + s.bytes, 0);
  }

  /** Closed segments that overlap `[t0, t1]` seconds, oldest first. */
  covering(t0: number, t1: number): Segment[] {
    return this.segs.filter((s) => s.end > t0 && s.start <= t1);
  }

  /** The closed segment holding time `t` (seconds), or undefined. */
  at(t: number): Segment | undefined {
    return this.segs.find((s) => s.start <= t && t < s.end);
  }

  /** True when time `t` is inside a closed segment, or every pass so far has ended. */
  covers(t: number): boolean {
    return this.segs.some((s) => s.end > t) || this.ended >= this.passes;
  }

  /**
   * Waits until the segment holding `t` seconds is closed (the next one started, or the source
   * ended), at most `timeoutMs`. @returns whether it is.
   */
  async whenClosed(t: number, timeoutMs = 60_000): Promise<boolean> {
    if (this.covers(t)) return true;
    return new Promise((done) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check);
        done(false);
      }, timeoutMs);
      const check = () => {
        if (!this.covers(t)) return;
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
        done(true);
      };
      this.waiters.push(check);
    });
  }

  /** Keeps every segment from `t0` seconds on for recording `id` (pre-roll included) until {@link unpin}. */
  pin(id: string, t0: number): void {
    this.pins.set(id, t0);
  }

  /** Releases the segments of recording `id`. */
  unpin(id: string): void {
    this.pins.delete(id);
    this.prune();
  }

  /** The pipeline took the frame at `t` seconds: what lies `keepS` before it may go. */
  advance(t: number): void {
    if (t <= this.taken) return;
    const before = Math.floor(this.taken);
    this.taken = t;
    if (Math.floor(t) !== before) this.prune(); // once a second is enough
  }

  /** No pass will add to it any more: once no pin holds them, its segments are deleted. */
  retire(): void {
    this.retired = true;
    this.prune();
  }

  /**
   * Deletes segments that end more than `keepS` before the newest frame the pipeline took
   * ({@link advance}) and that no pin needs, then the
   * oldest ones (pinned too, warned once) while the segments hold more than the budget (the newest
   * one always stays).
   */
  prune(): void {
    let keepFrom = this.taken - this.keepS;
    for (const t of this.pins.values()) keepFrom = Math.min(keepFrom, t);
    const drop = (s: Segment) => {
      this.segs.splice(this.segs.indexOf(s), 1);
      this.track(rm(s.file, { force: true }).catch(() => undefined));
    };
    if (this.retired && this.pins.size === 0) keepFrom = Number.POSITIVE_INFINITY;
    for (const s of this.segs.filter((x) => x.end < keepFrom)) drop(s);
    let total = this.bytes;
    while (total > this.budgetBytes && this.segs.length > 1) {
      // the newest segment always stays
      const s = this.segs[0]!;
      if (!this.warned && s.end >= keepFrom) {
        this.warned = true;
        log.warn({ segments_mb: this.budgetBytes / 2 ** 20, dir: this.dir }, 'clips: the segment budget (clips.segments_mb) is smaller than pre-roll and open recordings need; the oldest segments go first');
      }
      total -= s.bytes;
      drop(s);
    }
  }

  /** Resolves once the stats and deletes started so far are done (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.io.size) await Promise.all([...this.io]);
  }

  private track(p: Promise<unknown>): void {
    this.io.add(p);
    void p.finally(() => this.io.delete(p));
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }
}
