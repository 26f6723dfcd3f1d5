/**
 * A camera pipeline's links to the rest of the runtime (camera.ts): its lifecycle messages,
 * clip announcements and retained states over the reporter, its listeners (frame ring, clip
 * recorder, live view, caption scheduler, semantic feed, scores), its event captions, its stats,
 * its `cmd/learn` service and its commands.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { SEMANTIC_CAPTION_EVERY } from '../caption/dataset.js';
import type { CaptionWorker } from '../caption/worker.js';
import type { Predictor } from '../core/predictor.js';
import type { AnomalyEvent } from '../events/detector.js';
import type { OnnxPredictor } from '../inference/predictor.js';
import { LearnService } from '../learn/service.js';
import type { CommandName, ReportChannel } from '../mqtt/scope.js';
import { TOPICS } from '../mqtt/topics.js';
import { recorderListener, ringListener } from '../pipeline/listeners.js';
import type { FrameListener } from '../pipeline/record.js';
import { SemanticFeed } from '../pipeline/semantic.js';
import { log } from '../util/log.js';
import type { Streaming } from '../webrtc/service.js';
import type { CameraPipeline } from './camera.js';
import { captionRegionListener, liveViewListener } from './camera-listeners.js';
import { liveReaderFor, offsetReader } from '../webrtc/live-source.js';
import { EventDescriber } from './describe.js';
import type { RunMetrics } from './health.js';
import { SourceState } from './source-state.js';
import { StatsPublisher } from './stats.js';

/** The device-wide parts a camera is attached to. */
export interface CameraWiring {
  /** where the camera publishes: the device's reporter (`--source` alone) or the camera's scope */
  reporter: ReportChannel;
  /** registers the handler of `cmd/<name>` */
  onCommand(name: CommandName, fn: (payload: Buffer) => Promise<void>): void;
  streaming: Streaming;
  /** the caption worker, or null when captions are off */
  captions: CaptionWorker | null;
  metrics: RunMetrics;
}

/** See the file comment. */
export class CameraIo {
  readonly describer: EventDescriber | null;
  readonly sourceState: SourceState;
  readonly learn: LearnService;
  readonly stats: StatsPublisher;
  /** normalised anomaly box of recent scored frames (the caption's anomaly region) */
  readonly regions = new Map<number, [number, number, number, number]>();
  lastScore: number | null = null;
  /** the model host's view of each model this camera ran (one batcher membership per model) */
  private readonly views = new Map<OnnxPredictor, Predictor>();
  private eventChain: Promise<void> = Promise.resolve();

  /** @throws Error when the camera's model has a semantic branch and the captioner is off. */
  constructor(private readonly cam: CameraPipeline, private readonly w: CameraWiring) {
    const spec = cam.slot.predictor.spec;
    const r = w.reporter;
    this.describer = w.captions
      ? new EventDescriber({ worker: w.captions, spec, framesSince: (f) => cam.ring.since(f), regionAt: (f) => this.regions.get(f), publish: (id, d) => r.publishDescription(id, d), clipOf: (id) => cam.recorder.videoOf(id) })
      : null;
    this.semanticFor(cam.slot.predictor); // a semantic model without a captioner fails now, with the reason
    this.learn = this.startLearn();
    w.onCommand('learn', async (p) => {
      await this.learn.handle(p);
    });
    w.onCommand('restart-source', async () => cam.restart.abort());
    w.onCommand('snapshot', () => this.snapshot());
    this.stats = this.startStats();
    /** the retained source state (source-state.ts) */
    this.sourceState = new SourceState((m) => r.publishJson(TOPICS.sourceState, m, { qos: 1, retain: true }));
    void this.eventState(false, null);
    // a clip is announced once its MP4 and JPEG are closed, after the event's `end` (same outbox, in order)
    cam.recorder.onWritten = (c) => {
      const msg = { event_id: c.id, device_id: cam.o.deviceId, ...this.cameraField, video: c.video, snapshot: c.snapshot, width: c.width, height: c.height, region: c.region, from: c.from, frames: c.frames, first_frame: c.first_frame, last_frame: c.last_frame, video_bytes: c.video_bytes, snapshot_bytes: c.snapshot_bytes, fps: cam.fps };
      this.chain(() => r.publishClip(c.id, msg), 'outbox: cannot store a clip announcement');
    };
  }

  private startLearn(): LearnService {
    const cam = this.cam;
    const r = this.w.reporter;
    return new LearnService({
      source: () => cam.sourceNow, spec: () => cam.slot.predictor.spec, model: () => cam.wantedModel,
      swapModel: async (file) => {
        const ack = await cam.controller.apply(JSON.stringify({ model: file }));
        if (ack.ok) await r.publishConfigState().catch(() => undefined);
        return ack.ok ? null : (ack.error ?? 'refused');
      },
      publishState: (st) => r.publishJson(TOPICS.learnState, st, { qos: 1, retain: true }),
      publishAck: (a) => r.publishJson(TOPICS.learnAck, a, { qos: 1, retain: false }),
    }, { dir: join(cam.o.stateDir, 'learn'), ...cam.o.learn });
  }

  private startStats(): StatsPublisher {
    const cam = this.cam;
    const stats = new StatsPublisher({
      counters: cam.counters, provider: () => cam.slot.predictor.provider, model: () => ({ name: cam.slot.predictor.name, sha256: cam.slot.predictor.manifest.sha256 }),
      inEvent: () => cam.detector.inEvent, lastScore: () => this.lastScore,
    }, this.w.metrics, (m) => this.w.reporter.publishStats(m));
    stats.every(cam.controller.current.stats_interval_s);
    cam.controller.onChange((c) => stats.every(c.stats_interval_s));
    return stats;
  }

  /**
   * `cmd/snapshot`: a JPEG of the newest frame in the ring, at the source's size where the clips
   * are (camera-evidence.ts), announced on `snapshot` once the file is complete.
   */
  private async snapshot(): Promise<void> {
    const now = this.cam.ring.since(Number.NEGATIVE_INFINITY).at(-1);
    if (!now) return;
    const dir = this.cam.o.clipsDir;
    const file = join(dir, `snapshot-${now.time.toISOString().replace(/[:.]/g, '-')}.jpg`);
    await mkdir(dir, { recursive: true });
    const ev = this.cam.evidence;
    let from = ev.writer.from;
    const size = await ev.writer.still(now, file).catch((err: unknown) => {
      log.warn({ err: (err as Error).message }, 'cmd/snapshot: no frame at the source size; the model grid instead');
      from = 'model-grid';
      return ev.grid.still(now, file);
    });
    await this.w.reporter.publishJson(TOPICS.snapshot, { frame: now.index, time: now.time.toISOString(), path: file, ...size, from }, { qos: 1, retain: false });
  }

  /** Runs `fn` after every message stored before it (outbox order = event order). */
  private chain(fn: () => Promise<void>, what: string): void {
    this.eventChain = this.eventChain.then(fn).catch((err: unknown) => log.error({ err: (err as Error).message }, what));
  }

  /** The retained event state (Home Assistant's "event active"). */
  private eventState(active: boolean, e: AnomalyEvent | null): Promise<void> {
    return this.w.reporter.publishJson(TOPICS.eventState, { active, id: e?.id ?? null, since: new Date().toISOString() }, { qos: 1, retain: true }).catch(() => undefined);
  }

  /** `{camera_id}` in the messages of a camera on its own topics (none for `--source` alone, as before) */
  private get cameraField(): { camera_id?: string } {
    return this.cam.o.scoped ? { camera_id: this.cam.o.id } : {};
  }

  /** A lifecycle message: the event state, the message through the outbox, the describer. */
  onEvent(e: AnomalyEvent): void {
    if (e.type === 'new') void this.eventState(true, e);
    else if (e.type === 'end') void this.eventState(false, e);
    const msg = { ...e, device_id: this.cam.o.deviceId, ...this.cameraField, source: this.cam.sourceNow };
    log.info({ type: e.type, id: e.id, start: e.start.frame, last: e.last.frame, peak: +e.peak.score.toFixed(2) }, 'event');
    this.chain(() => this.w.reporter.publishEvent(msg), 'outbox: cannot store an event');
    this.describer?.onEvent(e);
  }

  /**
   * The semantic feed of a model with the semantic branch (the latest caption's text feature with
   * every clip), or null for a frame-only model.
   * @throws Error when the model has a semantic branch and the captioner is off.
   */
  semanticFor(p: OnnxPredictor): SemanticFeed | null {
    if (p.textDim === 0) return null;
    if (!this.w.captions)
      throw new Error(`${p.modelPath} has a semantic branch and needs the captioner, which is off or did not start (see the log); set captions.enabled true, or use a frame-only model`);
    const every = this.cam.controller.current.captions.every_frames || SEMANTIC_CAPTION_EVERY;
    return new SemanticFeed(this.w.captions, p.spec, p.textDim, every, !this.cam.o.realtime);
  }

  /** The predictor the loop uses: the model host's view of `p` (batched with other cameras on it), wrapped by the camera's semantic feed for a semantic model. */
  predictorFor(p: OnnxPredictor): Predictor {
    let view = this.views.get(p);
    if (!view) {
      view = this.cam.host.viewOf(p);
      this.views.set(p, view);
    }
    return this.cam.semantic ? this.cam.semantic.wrap(view) : view;
  }

  /** The loop's listeners, in order: semantic feed, live view, ring, recorder, caption scheduler, scores. */
  listeners(): FrameListener[] {
    const cam = this.cam;
    const spec = cam.slot.predictor.spec;
    const feed = cam.semantic;
    return [
      ...(feed ? [{ frame: (f) => feed.onFrame(f.data) } satisfies FrameListener] : []),
      liveViewListener(this.w.streaming.live, spec),
      ringListener(cam.ring),
      recorderListener(cam.recorder),
      ...(this.describer ? [captionRegionListener(this.regions, spec)] : []),
      {
        scored: (r) => {
          this.lastScore = r.score;
          this.learn.onScore(cam.slot.predictor.manifest.sha256, r.score);
        },
      },
    ];
  }

  /** Publishes the roll-back of a change that failed to start (`config/state`, then `config/ack` with the error). */
  async rolledBack(version: number, error: string): Promise<void> {
    const r = this.w.reporter;
    await r.publishConfigState().catch(() => undefined);
    await r.publishJson(TOPICS.configAck, { version, ok: false, error }, { qos: 1, retain: false }).catch(() => undefined);
  }

  /** Waits for the messages stored so far, the captions in progress and the last stats message. */
  async drain(): Promise<void> {
    await this.eventChain;
    await this.describer?.idle();
    await this.stats.final();
  }

  /**
   * Gives the live view the source's pixels for a pass over `source` whose first frame is `base`
   * (live-source.ts; null for a V4L2 device: the model grid). The decoder starts on demand.
   */
  async livePass(source: string, base: number, fps: number): Promise<void> {
    const c = this.cam.controller.current.streaming;
    const reader = await liveReaderFor({ source, sourceFps: fps, liveFps: c.live_fps, maxHeight: this.w.streaming.liveMaxHeight(c) });
    this.w.streaming.live.setReader(reader ? offsetReader(reader, base) : null);
  }

  /** Stops the stats timer, the learn service and the live view's decoder. */
  async stop(): Promise<void> {
    this.w.streaming.live.setReader(null);
    this.stats.stopTimer();
    await this.learn.stop();
  }
}
