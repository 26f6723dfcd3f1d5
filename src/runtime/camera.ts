/**
 * One camera's pipeline in `run`: source -> frame ring -> scorer -> event detector -> listeners
 * (pipeline/loop.ts, pipeline/record.ts). It is a service in two parts:
 *
 * - {@link CameraPipeline} itself (`start`): takes its model from the model host and opens a
 *   finite source, before the broker starts, so a remote configuration that fails there falls back
 *   to the last one that started before anything is published (controller.ts `fallBack`);
 * - {@link CameraPipeline.runner} (`start`): attaches it to the reporter, streaming, captions and
 *   metrics and starts its stats, learn service and commands; {@link CameraPipeline.run} then
 *   plays the source until it ends or the run stops.
 *
 * A live source (URL, /dev/video*) is reopened with a short backoff ({@link RECONNECT_MIN_MS}
 * doubling to {@link RECONNECT_MAX_MS}) when it fails or ends; its state goes out on the retained
 * `source/state`.
 */
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { FrameSource } from '../core/frame.js';
import type { RuntimeConfig } from '../core/runtime-config.js';
import type { AnomalyEvent, EventDetector } from '../events/detector.js';
import type { LearnServiceOptions } from '../learn/service.js';
import { ClipRecorder, FrameRing, type ClipSettings } from '../pipeline/clips.js';
import { newCounters, runLoop } from '../pipeline/loop.js';
import { calibrationLine, onlineScoring } from '../pipeline/scoring.js';
import type { SemanticFeed } from '../pipeline/semantic.js';
import { FfmpegSource } from '../video/ffmpeg.js';
import { openSource } from '../video/open.js';
import { isLiveSource, StreamSource } from '../video/stream-source.js';
import { log } from '../util/log.js';
import { CameraEvidence } from './camera-evidence.js';
import { CameraIo, type CameraWiring } from './camera-io.js';
import type { ConfigController } from './controller.js';
import { ModelSlot, type ModelHost } from './model-host.js';
import { checkSource } from './source-check.js';
import type { Service } from './services.js';

/** First wait before a live source is reopened (ms); it doubles on each failed reopen. */
export const RECONNECT_MIN_MS = 500;
/**
 * Longest wait between reopen attempts (ms): a camera that comes back gives frames within this
 * plus ffmpeg's probe (~0.5 s, video/stream-source.ts `PROBE_ARGS`), the kind of gap Frigate and
 * DeepStream users expect; one ffmpeg start per 2 s costs little while a camera is down.
 */
export const RECONNECT_MAX_MS = 2000;

/** Clip settings in frames from the configuration, the frame rate (frames/s) and the folder. */
export function clipSettings(c: RuntimeConfig, fps: number, dir: string): ClipSettings {
  return {
    enabled: c.clips.enabled, dir, fps, preRollFrames: Math.round(c.clips.pre_roll_s * fps), postRollFrames: Math.round(c.clips.post_roll_s * fps),
    maxFrames: Math.round((c.clips.pre_roll_s + c.clips.max_event_s + c.clips.post_roll_s) * fps), budgetBytes: c.clips.budget_mb * 1024 * 1024,
  };
}

/** What one camera is given. */
export interface CameraOptions {
  /** the camera's id (`cam0` for `--source` alone, or `--camera-id`) */
  id: string;
  /** on its own topics `sfn/<device>/<id>/` (messages then carry `camera_id`); false: the device's topics */
  scoped: boolean;
  deviceId: string;
  /** the source when the configuration names none (`--source`) */
  source: string;
  /** the model when the configuration names none */
  model: string;
  controller: ConfigController;
  realtime: boolean;
  /** a file or folder source plays again from its start when it ends, until stopped */
  loop: boolean;
  /** frames/s; default the source's rate, else 25 */
  fps?: number;
  /** clips per predict call when not realtime */
  batch?: number;
  clipsDir: string;
  stateDir: string;
  learn?: Partial<LearnServiceOptions>;
}

/** What a camera's run ended with (the summary line's part). */
export interface CameraResult {
  source: string;
  model: string;
  provider: string;
  counters: ReturnType<typeof newCounters>;
  clips: string[];
  captions?: number;
  sourceError?: string;
  reconnects: number;
  /** its last clips or messages did not finish within the wait of {@link CameraPipeline.finish} */
  unfinished?: boolean;
}

/** One camera (see the file comment). */
export class CameraPipeline implements Service {
  readonly name: string;
  readonly counters = newCounters();
  slot!: ModelSlot;
  scoring!: ReturnType<typeof onlineScoring>;
  detector!: EventDetector;
  sourceNow = '';
  live = false;
  fps = 0;
  ring!: FrameRing;
  recorder!: ClipRecorder;
  /** which writer makes the clips and snapshots, per pass over the source */
  evidence!: CameraEvidence;
  /** aborted to reopen the source (cmd/restart-source, a source or model change) */
  restart = new AbortController();
  /** aborted to end the run */
  readonly halt = new AbortController();
  io: CameraIo | null = null;
  semantic: SemanticFeed | null = null;
  private source: FrameSource | null = null;
  private offset = 0;
  private backoff = RECONNECT_MIN_MS;
  private reconnects = 0;
  private sourceError: string | undefined;

  constructor(readonly host: ModelHost, readonly o: CameraOptions) {
    this.name = `camera ${o.id}`;
  }

  get controller(): ConfigController {
    return this.o.controller;
  }

  /** The configuration's model, else the camera's default. */
  get wantedModel(): string {
    return this.controller.current.model ?? this.o.model;
  }

  /**
   * Takes the model and opens a finite source (see the file comment); sets up the ring, the
   * recorder and the configuration checks.
   * @throws Error when the model does not load or a finite source does not open, and no earlier
   *   configuration that started is there to fall back to.
   */
  async start(): Promise<void> {
    await this.openModel();
    await this.openFirstSource();
    const c = this.controller.current;
    this.ring = new FrameRing(this.ringSize(c));
    this.recorder = new ClipRecorder(clipSettings(c, this.fps, this.o.clipsDir), this.slot.predictor.spec, this.ring);
    this.evidence = new CameraEvidence(this.o.clipsDir, this.slot.predictor.spec, this.recorder);
    this.wireConfig();
  }

  /** Closes the source and gives the model back. */
  async stop(): Promise<void> {
    await this.source?.close().catch(() => undefined);
    this.source = null;
    await this.evidence?.stop().catch(() => undefined);
    await this.slot?.close();
  }

  /** Ends the run: the loop stops at the next frame, a live stream at once. */
  abort(): void {
    this.halt.abort();
    this.restart.abort();
    // a live stream may deliver nothing for a while: end it now instead of at the next frame
    if (this.source instanceof StreamSource) void this.source.close();
  }

  /**
   * The running part of the camera as a service (see the file comment): its start attaches the
   * camera to `wiring`, its stop ends stats, the learn service and the loop.
   * @throws Error (from start) when the model has a semantic branch and the captioner is off.
   */
  runner(wiring: CameraWiring): Service {
    return {
      name: `${this.name} (running)`,
      start: async () => {
        this.io = new CameraIo(this, wiring);
      },
      stop: async () => {
        this.abort();
        await this.io?.stop();
      },
    };
  }

  /** A remote configuration that fails at start gives way to the last one that started; false when there is none. */
  private async fallBackAtStart(why: string): Promise<boolean> {
    const version = await this.controller.fallBack();
    if (version === null) return false;
    log.warn({ why, version, camera: this.o.id, source: this.controller.current.source ?? this.o.source, model: this.wantedModel }, 'the remote configuration failed at start; fell back to the last configuration that started');
    return true;
  }

  private async openModel(): Promise<void> {
    const file = this.wantedModel;
    this.slot = await ModelSlot.open(this.host, file).catch(async (err: unknown) => {
      if (!(await this.fallBackAtStart(`model ${file}: ${(err as Error).message}`))) throw err;
      return ModelSlot.open(this.host, this.wantedModel);
    });
    const p = this.slot.predictor;
    // calibrated scoring from the manifest (scores from the first frame), else the running baseline (warned)
    this.scoring = onlineScoring(p.manifest, p.spec);
    this.detector = this.scoring.detector(this.scoring.params(this.controller.current));
    if (this.scoring.calibrated) log.info(calibrationLine(p.manifest, this.controller.current.measure), 'calibrated scoring');
  }

  private async openFirstSource(): Promise<void> {
    const spec = this.slot.predictor.spec;
    this.sourceNow = this.controller.current.source ?? this.o.source;
    this.live = isLiveSource(this.sourceNow);
    this.fps = this.o.fps ?? 0;
    if (!this.live) {
      this.source = await openSource(this.sourceNow, spec).catch(async (err: unknown) => {
        if (!(await this.fallBackAtStart(`source ${this.sourceNow}: ${(err as Error).message}`))) throw err;
        this.sourceNow = this.controller.current.source ?? this.o.source;
        this.live = isLiveSource(this.sourceNow);
        return this.live ? null : openSource(this.sourceNow, spec);
      });
      if (!this.fps && this.source instanceof FfmpegSource) this.fps = this.source.info?.fps ?? 0;
    }
    this.fps ||= 25;
  }

  private ringSize(c: RuntimeConfig): number {
    return Math.max(1, clipSettings(c, this.fps, this.o.clipsDir).preRollFrames + c.min_duration_frames + 64);
  }

  /** A new source must open and deliver a frame, a new model load with the same grid, before a change is acknowledged. */
  private wireConfig(): void {
    const spec = this.slot.predictor.spec;
    this.controller.onValidate(async (next) => {
      const src = next.source ?? this.o.source;
      if (src !== this.sourceNow) await checkSource(src, spec);
    });
    this.controller.onValidate(async (next) => this.slot.stage(next.model ?? this.o.model, spec));
    this.controller.onChange((c) => {
      this.detector.configure(this.scoring.params(c));
      this.recorder.configure(clipSettings(c, this.fps, this.o.clipsDir));
      this.evidence.configure(c);
      this.ring.resize(this.ringSize(c));
      const nextSource = c.source ?? this.o.source;
      if (nextSource !== this.sourceNow || this.slot.pending) {
        this.sourceNow = nextSource;
        this.restart.abort();
      }
    });
  }

  /**
   * Plays the source until a finite one ends (or the run is aborted), reconnecting a live one.
   * @throws Error before {@link runner} started.
   */
  async run(): Promise<void> {
    if (!this.io) throw new Error(`${this.name}: run() before its runner started`);
    try {
      for (;;) {
        const delivered = await this.pass(this.io);
        if (delivered) this.backoff = RECONNECT_MIN_MS; // frames came through: the next drop starts the backoff anew
        this.io.sourceState.set('down', this.sourceNow, this.sourceError ?? 'ended');
        if (this.halt.signal.aborted) break;
        if ((await this.next(this.io, delivered)) === 'stop') break;
      }
    } finally {
      await this.source?.close().catch(() => undefined);
    }
  }

  /** One pass over the source, from (re)opening it to its end or failure. @returns whether it delivered a frame. */
  private async pass(io: CameraIo): Promise<boolean> {
    const base = this.offset;
    let maxIndex = base - 1;
    this.sourceError = undefined; // the summary reports how the last pass over the source ended
    const spec = this.slot.predictor.spec;
    try {
      await this.swapModel();
      this.live = isLiveSource(this.sourceNow);
      const source = (this.source ??= this.live ? new StreamSource(this.sourceNow, spec) : await openSource(this.sourceNow, spec));
      this.semantic = io.semanticFor(this.slot.predictor);
      await this.evidence.pass(source, base, this.controller.current, this.fps);
      await io.livePass(this.sourceNow, base, this.fps);
      const frames = (async function* (s: FrameSource, cam: CameraPipeline) {
        for await (const f of s.frames()) {
          const index = base + f.index;
          // frames flow under the configuration in force: it becomes the one to fall back to
          if (index === base) cam.started(io);
          maxIndex = index;
          cam.evidence.frame(index);
          yield { index, data: f.data };
        }
      })(source, this);
      const scoring = this.scoring;
      await runLoop({
        frames, predictor: io.predictorFor(this.slot.predictor), detector: this.detector, measure: () => this.controller.current.measure,
        ...(scoring.error ? { error: scoring.error } : {}), realtime: this.o.realtime, fps: this.fps, paceByClock: !this.live,
        listeners: io.listeners(), onEvent: (e) => io.onEvent(e), signal: this.restart.signal, counters: this.counters,
        ...(this.o.batch ? { batch: this.o.batch } : {}), semanticErrors: () => this.semantic?.errors ?? [],
      });
    } catch (err) {
      this.sourceError = (err as Error).message;
      log.error({ err: this.sourceError, camera: this.o.id, source: this.sourceNow }, 'source failed');
      for (const e of this.detector.finish()) io.onEvent(e);
    } finally {
      await this.source?.close().catch(() => undefined);
      this.source = null;
    }
    this.offset = maxIndex + 1;
    return maxIndex >= base;
  }

  /** The first frame of a pass: the source is up and the configuration in force has started. */
  private started(io: CameraIo): void {
    io.sourceState.set('up', this.sourceNow);
    this.controller.markStarted().catch((err: unknown) => log.warn({ err: (err as Error).message }, 'cannot persist the configuration that started'));
  }

  /** Puts a model staged by `config/set` (or a roll-back) in use, with its scoring. */
  private async swapModel(): Promise<void> {
    if (!(await this.slot.swap())) return;
    const p = this.slot.predictor;
    this.scoring = onlineScoring(p.manifest, p.spec);
    this.detector = this.scoring.detector(this.scoring.params(this.controller.current));
    log.info({ camera: this.o.id, model: this.slot.file, sha256: p.manifest.sha256 }, 'model swapped (config/set)');
  }

  /** What follows a pass: another one (roll-back, restart, --loop, reconnect) or the end. */
  private async next(io: CameraIo, delivered: boolean): Promise<'again' | 'stop'> {
    // a remote change that passed its checks but delivered no frame is rolled back
    if (this.sourceError !== undefined && !delivered && this.controller.unproven && (await this.rollBack(io))) return 'again';
    if (this.restart.signal.aborted) {
      this.restart = new AbortController();
      log.info({ camera: this.o.id, source: this.sourceNow }, 'restarting the source (cmd/restart-source or config/set)');
      return 'again';
    }
    // --loop: a file or folder that was read to its end plays again from its first frame
    // (frame indices keep counting up, so events and clips stay distinct) until stopped
    if (!this.live && this.o.loop && this.sourceError === undefined && delivered) {
      log.info({ camera: this.o.id, source: this.sourceNow, frames_so_far: this.offset }, 'end of the source: playing it again (--loop)');
      return 'again';
    }
    if (!this.live) return 'stop';
    this.reconnects += 1;
    log.warn({ camera: this.o.id, source: this.sourceNow, retry_ms: this.backoff, ...(this.sourceError ? { err: this.sourceError } : {}) }, 'source ended; reconnecting');
    const stop = this.halt.signal;
    // the timer takes its abort listener off the signal when it fires (one racing promise per
    // reconnect left one listener each: MaxListenersExceededWarning after 11 reconnects)
    await delay(this.backoff, undefined, { signal: stop }).catch(() => undefined);
    this.backoff = Math.min(RECONNECT_MAX_MS, this.backoff * 2);
    if (stop.aborted) return 'stop';
    io.sourceState.set('reconnecting', this.sourceNow, this.sourceError ?? 'ended');
    return 'again';
  }

  /** Rolls back to the last configuration that started; false when there is none. */
  private async rollBack(io: CameraIo): Promise<boolean> {
    const failed = { source: this.sourceNow, model: this.slot.file };
    const version = await this.controller.fallBack();
    if (version === null) return false;
    const want = this.wantedModel;
    await this.slot.stageBack(want);
    this.sourceNow = this.controller.current.source ?? this.o.source;
    const error = `the change failed to start (${this.sourceError}); rolled back to the last configuration that started`;
    log.warn({ failed, version, camera: this.o.id, source: this.sourceNow, model: want }, error);
    await io.rolledBack(version, error);
    this.sourceError = undefined;
    this.restart = new AbortController();
    return true;
  }

  /**
   * Waits for clips, events, captions and the last stats of the run, at most `waitMs`; its part of
   * the summary. Past the bound it goes on with the clips written so far (logged, `unfinished`):
   * the clips still being written are not announced (`run` then kills their encoders).
   */
  async finish(waitMs = Number.POSITIVE_INFINITY): Promise<CameraResult> {
    const io = this.io;
    const done = (async () => {
      const c = await this.recorder.finish();
      await this.evidence.stop();
      await io?.drain();
      return c;
    })();
    let timer: NodeJS.Timeout | undefined;
    const late = Number.isFinite(waitMs) ? new Promise<null>((r) => { timer = setTimeout(() => r(null), waitMs); }) : null;
    const clips = await (late ? Promise.race([done, late]) : done).finally(() => clearTimeout(timer));
    if (clips === null) log.warn({ camera: this.o.id, wait_ms: waitMs }, 'the camera\'s last clips and messages did not finish in time; ending without them');
    return {
      source: this.sourceNow, model: this.slot.file, provider: this.slot.predictor.provider, counters: this.counters,
      clips: (clips ?? this.recorder.written).map((c) => c.video), ...(io?.describer ? { captions: io.describer.counts.sent } : {}), reconnects: this.reconnects,
      ...(this.sourceError ? { sourceError: this.sourceError } : {}), ...(clips === null ? { unfinished: true } : {}),
    };
  }
}
