/**
 * Which {@link EvidenceWriter} a camera's clips and snapshots come from, chosen per pass over the
 * source (pipeline/evidence.ts):
 *
 * - `clips.from: "model-grid"`: the model grid;
 * - an image folder: its original images;
 * - a file or a network stream: its own encoded stream, segmented by the decoding ffmpeg into
 *   `<clips>/segments/` (video/segments.ts); a stream's size and codec come from its first segment,
 *   nothing is probed up front;
 * - otherwise the model grid, logged once per source with the reason: a V4L2 device (raw frames, no
 *   encoded stream), a codec MPEG-TS cannot carry, ffmpeg failing to segment.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { FrameSource, FrameSpec } from '../core/frame.js';
import type { RuntimeConfig } from '../core/runtime-config.js';
import type { ClipRecorder } from '../pipeline/clips.js';
import { ModelGridWriter, type EvidenceWriter } from '../pipeline/evidence.js';
import { ImageFolderWriter } from '../pipeline/evidence-images.js';
import { SegmentWriter } from '../pipeline/evidence-segments.js';
import { log } from '../util/log.js';
import { FfmpegSource } from '../video/ffmpeg.js';
import { ImageFolderSource } from '../video/image-folder.js';
import { MPEGTS_CODECS, SEGMENT_SLACK_S, SegmentIndex } from '../video/segments.js';
import { StreamSource } from '../video/stream-source.js';

/** See the file comment. */
export class CameraEvidence {
  readonly grid: ModelGridWriter;
  private images: ImageFolderWriter | null = null;
  private segments: SegmentIndex | null = null;
  private readonly warned = new Set<string>();
  /** sources whose segmenting failed: they stay on the model grid */
  private readonly unsegmentable = new Set<string>();
  private passes = 0;
  private rate = 25;

  /**
   * @param clipsDir the camera's clips folder (segments go to `<clipsDir>/segments/`)
   * @param spec the model grid
   */
  constructor(private readonly clipsDir: string, private readonly spec: FrameSpec, private readonly recorder: ClipRecorder) {
    this.grid = new ModelGridWriter(spec);
  }

  /** The segments folder. */
  get segmentsDir(): string {
    return join(this.clipsDir, 'segments');
  }

  /** The writer in use (for `cmd/snapshot`). */
  get writer(): EvidenceWriter {
    return this.recorder.writer;
  }

  /**
   * Sets the recorder's writer for a pass over `source` whose first frame is `base`, and the
   * source's segment output where it has one. Call before the source's `frames()`.
   * @param fps the camera's frame rate (frames/s) when the source does not tell its own
   */
  async pass(source: FrameSource, base: number, c: RuntimeConfig, fps: number): Promise<void> {
    this.segments?.retire();
    this.segments = null;
    if (c.clips.from === 'model-grid') return this.use(this.grid);
    if (source instanceof ImageFolderSource) {
      this.images ??= new ImageFolderWriter(this.spec);
      this.images.addPass(base, await source.listFrames());
      return this.use(this.images);
    }
    if (this.unsegmentable.has(source.name)) return this.use(this.grid);
    if (source instanceof StreamSource && source.name.startsWith('/dev/')) return this.fallBack(source.name, 'a V4L2 device delivers raw frames, with no encoded stream to keep');
    let rate = fps;
    if (source instanceof FfmpegSource) {
      const codec = source.info?.codec;
      if (codec && !MPEGTS_CODECS.includes(codec)) return this.fallBack(source.name, `MPEG-TS cannot carry its codec ${codec}`);
      rate = source.info?.fps ?? fps;
    } else if (!(source instanceof StreamSource)) return this.use(this.grid);
    if (this.passes === 0) await rm(this.segmentsDir, { recursive: true, force: true }); // left by an earlier run
    const index = new SegmentIndex(this.segmentsDir, c.clips.pre_roll_s + SEGMENT_SLACK_S, c.clips.segments_mb * 2 ** 20);
    const sink = index.pass(base / rate, `p${++this.passes}-${Date.now().toString(36)}`, (reason) => {
      this.unsegmentable.add(source.name);
      this.fallBack(source.name, reason);
    });
    source.segmentInto = sink;
    this.segments = index;
    this.rate = rate;
    this.use(new SegmentWriter(index, rate, this.spec));
  }

  /** The pipeline took frame `index`: segments older than its pre-roll may go. */
  frame(index: number): void {
    this.segments?.advance(index / this.rate);
  }

  /** A configuration change: new budgets for the segments. */
  configure(c: RuntimeConfig): void {
    if (!this.segments) return;
    this.segments.keepS = c.clips.pre_roll_s + SEGMENT_SLACK_S;
    this.segments.budgetBytes = c.clips.segments_mb * 2 ** 20;
  }

  /** Deletes the segments (the run ends; the clips are written). */
  async stop(): Promise<void> {
    this.segments?.retire();
    await this.segments?.settled();
    this.segments = null;
    if (this.passes > 0) await rm(this.segmentsDir, { recursive: true, force: true });
  }

  private use(w: EvidenceWriter): void {
    this.recorder.writer = w;
  }

  private fallBack(source: string, reason: string): void {
    this.use(this.grid);
    if (this.warned.has(source)) return;
    this.warned.add(source);
    log.warn({ source, reason }, 'clips: evidence at the model grid (the source cannot be segmented)');
  }
}
