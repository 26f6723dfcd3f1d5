/**
 * `sfn-edge run`: watch a source, score every frame with the model, report events over MQTT, keep
 * clips, take configuration changes over MQTT. See pipeline/loop.ts (pacing, dropping), pipeline/clips.ts,
 * ../events/detector.ts (scores and events), ../mqtt/reporter.ts (topics).
 *
 * A finite source (image folder, video file) ends the run: the last events are published, the
 * outbox is flushed, clips are written, and one JSON summary line is printed on stdout. A live
 * source (URL, /dev/video*) is reopened with a short backoff ({@link RECONNECT_MIN_MS} doubling to
 * {@link RECONNECT_MAX_MS}) when it fails or ends; its state goes out on the retained `source/state`.
 */
import { hostFacts } from '../device/detect.js';
import { loadProfile, type DeviceProfile } from '../device/profile.js';
import { sessionOptionsFor, tensorrtVersion } from '../device/session-options.js';
import { readManifest } from '../core/manifest.js';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { EventDetector, type AnomalyEvent, type DetectorParams } from '../events/detector.js';
import { OnnxPredictor } from '../inference/predictor.js';
import type { ProviderName } from '../inference/session.js';
import { BrokerPortError, startEmbeddedBroker, type EmbeddedBroker } from '../mqtt/broker.js';
import { FileOutboxStore } from '../mqtt/outbox.js';
import { MqttReporter } from '../mqtt/reporter.js';
import { TOPICS } from '../mqtt/topics.js';
import type { Box as CaptionBox } from '../caption/detector.js';
import { SEMANTIC_CAPTION_EVERY } from '../caption/dataset.js';
import { CaptionWorker } from '../caption/worker.js';
import { EventDescriber } from './describe.js';
import { SemanticFeed } from '../pipeline/semantic.js';
import { calibrationLine, onlineScoring } from '../pipeline/scoring.js';
import { defaultModel } from '../core/default-model.js';
import { log } from '../util/log.js';
import { LearnService, type LearnServiceOptions } from '../learn/service.js';
import { FfmpegSource } from '../video/ffmpeg.js';
import { openSource } from '../video/open.js';
import type { FrameSource } from '../core/frame.js';
import { ClipRecorder, FrameRing, writeJpeg, type ClipSettings } from '../pipeline/clips.js';
import { brokerOf, redactLayer, redactSecrets, type RuntimeConfig } from '../core/runtime-config.js';
import { ConfigController } from './controller.js';
import { RunMetrics } from './health.js';
import { StatsPublisher } from './stats.js';
import { newCounters, runLoop } from '../pipeline/loop.js';
import { isLiveSource, StreamSource } from '../video/stream-source.js';
import { checkSource } from './source-check.js';
import { SourceState } from './source-state.js';
import type { Predictor } from '../core/predictor.js';
import { anomalyRegion } from '../webrtc/live.js';
import { startStreaming, type Streaming } from '../webrtc/service.js';
import { startWhep } from '../webrtc/whep.js';
import { channelsOf } from '../core/frame.js';

/** Options of `run` as commander parses them. */
export interface RunOptions {
  source: string;
  /** a file or folder source plays again from its start when it ends, until SIGINT/SIGTERM (live sources reconnect anyway) */
  loop?: boolean;
  /** ONNX model file; default: the device profile's installed `model.variant`, else the one `models/default.json` names */
  model?: string;
  broker?: string;
  deviceId?: string;
  config?: string;
  realtime?: boolean | string;
  clips?: string;
  embeddedPort?: number;
  /** MQTT-over-WebSocket port of the embedded broker, for the browser viewer (default 9001, or a free port when 9001 is taken) */
  wsPort?: number;
  /** serve the WHEP endpoint (sessions over plain HTTP, for the local network) on this port */
  whepPort?: number;
  /** listen address of the WHEP endpoint (default 127.0.0.1; 0.0.0.0 for the local network) */
  whepHost?: string;
  /** device profile name or path (device-profiles/*.json): providers, threads, TensorRT options, model variant */
  profile?: string;
  providers?: string;
  fps?: number;
  stateDir?: string;
  username?: string;
  /** MQTT password; also from `passwordFile` or the environment (`SFN_MQTT_PASSWORD`), see {@link mqttCredentials} */
  password?: string;
  passwordFile?: string;
  ca?: string;
  cert?: string;
  key?: string;
  batch?: number;
  metricsPort?: number;
  /** stops the run like SIGINT (for embedding and tests) */
  signal?: AbortSignal;
  /** `cmd/learn` settings (for embedding and tests: a step budget, post-swap checks); runs go to `<state-dir>/learn/` */
  learn?: Partial<LearnServiceOptions>;
}

/** The JSON summary line printed at the end of a finite source. */
export interface RunSummary {
  source: string;
  model: string;
  provider: string;
  frames: number;
  scored: number;
  skipped: number;
  events: number;
  messages: number;
  fps: number;
  inference_ms: number;
  clips: string[];
  /** event captions sent on events/<id>/description (absent when captions are off) */
  captions?: number;
  outbox_flushed: boolean;
  source_error?: string;
  /** times a live source was reopened */
  reconnects: number;
}

/**
 * The model a device profile names (`model.variant`, e.g. `int8/sfn-lite-ped2` ->
 * `models/int8/sfn-lite-ped2.onnx`), or null with a warning when it is not installed here.
 */
export async function profileModel(profile: DeviceProfile, root = 'models'): Promise<string | null> {
  const file = join(root, `${profile.model.variant}.onnx`);
  const ok = await stat(file).then((s) => s.isFile(), () => false);
  if (!ok) log.warn({ profile: profile.name, variant: profile.model.variant, file }, 'the profile\'s model variant is not installed; using the default model');
  return ok ? file : null;
}

/** Clip settings in frames from the configuration, the frame rate and the folder. */
export function clipSettings(c: RuntimeConfig, fps: number, dir: string): ClipSettings {
  return {
    enabled: c.clips.enabled, dir, fps, preRollFrames: Math.round(c.clips.pre_roll_s * fps), postRollFrames: Math.round(c.clips.post_roll_s * fps),
    maxFrames: Math.round((c.clips.pre_roll_s + c.clips.max_event_s + c.clips.post_roll_s) * fps), budgetBytes: c.clips.budget_mb * 1024 * 1024,
  };
}

/** First wait before a live source is reopened (ms); it doubles on each failed reopen. */
export const RECONNECT_MIN_MS = 500;
/**
 * Longest wait between reopen attempts (ms): a camera that comes back gives frames within this
 * plus ffmpeg's probe (~0.5 s, video/stream-source.ts `PROBE_ARGS`), the kind of gap Frigate and
 * DeepStream users expect; one ffmpeg start per 2 s costs little while a camera is down.
 */
export const RECONNECT_MAX_MS = 2000;

/**
 * The MQTT credentials of `run`: the username from `--username` (else `SFN_MQTT_USERNAME`), the
 * password from `--password`, else `--password-file` (its first line), else `SFN_MQTT_PASSWORD`.
 * A password on the command line is warned about (other local users see it in `ps`). With the
 * embedded broker, a password makes the broker require it (username default `sfn`).
 * @throws Error naming the file when `--password-file` cannot be read or is empty.
 */
export async function mqttCredentials(o: Pick<RunOptions, 'username' | 'password' | 'passwordFile'>, env: NodeJS.ProcessEnv = process.env): Promise<{ username?: string; password?: string }> {
  let password = o.password;
  if (password !== undefined) log.warn('--password is visible to other local users in the process list; use --password-file <file> or SFN_MQTT_PASSWORD');
  if (password === undefined && o.passwordFile !== undefined) {
    const text = await readFile(o.passwordFile, 'utf8').catch((err: unknown) => {
      throw new Error(`--password-file ${o.passwordFile}: cannot read it (${(err as Error).message})`);
    });
    password = text.split(/\r?\n/)[0] ?? '';
    if (!password) throw new Error(`--password-file ${o.passwordFile}: the file is empty; put the password on its first line`);
  }
  password ??= env.SFN_MQTT_PASSWORD || undefined;
  const username = o.username ?? (env.SFN_MQTT_USERNAME || undefined);
  return { ...(username !== undefined ? { username } : {}), ...(password !== undefined ? { password } : {}) };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Runs `sfn-edge run` until a finite source ends (or SIGINT/SIGTERM).
 * @param print receives the summary line (default: stdout).
 * @throws Error for an unusable model, configuration, broker (e.g. the embedded port in use), or a
 *   finite source that cannot be opened.
 */
export async function runCommand(o: RunOptions, print: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): Promise<RunSummary> {
  const cleanups: (() => Promise<unknown> | unknown)[] = [];
  try {
    return await runInner(o, print, cleanups);
  } finally {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch {
        // best effort: the run is over
      }
    }
  }
}

/** The body of {@link runCommand}; every resource it opens registers its release in `cleanups`. */
async function runInner(o: RunOptions, print: (line: string) => void, cleanups: (() => Promise<unknown> | unknown)[]): Promise<RunSummary> {
  const realtime = o.realtime === undefined ? true : o.realtime === true || o.realtime === 'true';
  const profile = o.profile ? await loadProfile(o.profile) : null;
  const modelPath = o.model ?? (profile ? await profileModel(profile) : null) ?? (await defaultModel());
  const providers = (o.providers ?? 'tensorrt,cuda,cpu').split(',').map((s) => s.trim()).filter(Boolean) as ProviderName[];
  const stateDir = resolve(o.stateDir ?? '.sfn-edge');
  const clipsDir = resolve(o.clips ?? 'clips');
  const deviceId = o.deviceId ?? hostname();

  const { controller, warning } = await ConfigController.open(o.config, join(stateDir, 'remote-config.json'));
  if (warning) log.warn(warning);
  if (controller.version > 0) {
    log.info({ file: controller.file, version: controller.version, layer: redactLayer(controller.remoteLayer) },
      `re-applying the remote configuration saved by config/set (version ${controller.version}); \`sfn-edge config show|reset --state-dir ${stateDir}\` shows or clears it`);
  }
  const batchSize = realtime ? 1 : Math.max(1, o.batch ?? 4);
  const loadModel = async (file: string) => {
    if (!profile) return OnnxPredictor.load(file, { providers, batchSize });
    // the device profile decides providers, threads and TensorRT options (engine cache keyed by
    // the model's sha256 + TensorRT version + GPU)
    const { manifest } = await readManifest(file);
    const facts = await hostFacts();
    const session = sessionOptionsFor(profile, { modelSha256: manifest.sha256, tensorrtVersion: await tensorrtVersion(), gpuName: facts.deviceTreeModel ?? facts.gpus[0] ?? 'cpu' });
    return OnnxPredictor.load(file, { session, batchSize });
  };
  /**
   * A remote configuration that fails at start (its model does not load, its file source does not
   * open) gives way to the last one that started (controller.ts `fallBack`), with the reason logged;
   * so no `config/set` can keep the device from starting. Returns false when there is none.
   */
  const fallBackAtStart = async (why: string): Promise<boolean> => {
    const version = await controller.fallBack();
    if (version === null) return false;
    log.warn({ why, version, source: controller.current.source ?? o.source, model: controller.current.model ?? modelPath }, 'the remote configuration failed at start; fell back to the last configuration that started');
    return true;
  };
  let modelNow = controller.current.model ?? modelPath;
  let predictor = await loadModel(modelNow).catch(async (err: unknown) => {
    if (!(await fallBackAtStart(`model ${modelNow}: ${(err as Error).message}`))) throw err;
    modelNow = controller.current.model ?? modelPath;
    return loadModel(modelNow);
  });
  cleanups.push(() => predictor.dispose(), () => swap.staged?.predictor.dispose());
  const spec = predictor.spec;
  // calibrated scoring from the manifest (scores from the first frame), else the running baseline (warned)
  let scoring = onlineScoring(predictor.manifest, spec);
  let detector = scoring.detector(scoring.params(controller.current));
  if (scoring.calibrated) log.info(calibrationLine(predictor.manifest, controller.current.measure), 'calibrated scoring');
  let sourceNow = controller.current.source ?? o.source;
  /** a model loaded by a `config/set`, swapped in at the next source (re)start */
  const swap: { staged: { file: string; predictor: OnnxPredictor } | null } = { staged: null };

  let live = isLiveSource(sourceNow);
  let fps = o.fps ?? 0;
  let source: FrameSource | null = null;
  cleanups.push(() => source?.close());
  if (!live) {
    source = await openSource(sourceNow, spec).catch(async (err: unknown) => {
      if (!(await fallBackAtStart(`source ${sourceNow}: ${(err as Error).message}`))) throw err;
      sourceNow = controller.current.source ?? o.source;
      live = isLiveSource(sourceNow);
      return live ? null : openSource(sourceNow, spec);
    });
    if (!fps && source instanceof FfmpegSource) fps = source.info?.fps ?? 0;
  }
  fps ||= 25;

  const cs = () => clipSettings(controller.current, fps, clipsDir);
  const ringSize = (c: RuntimeConfig) => Math.max(1, clipSettings(c, fps, clipsDir).preRollFrames + c.min_duration_frames + 64);
  const ring = new FrameRing(ringSize(controller.current));
  const recorder = new ClipRecorder(cs(), spec, ring);
  // a new source must open and deliver a frame before the change is acknowledged
  controller.onValidate(async (next) => {
    const src = next.source ?? o.source;
    if (src !== sourceNow) await checkSource(src, spec);
  });
  controller.onValidate(async (next) => {
    const file = next.model ?? modelPath;
    if (file === modelNow && !swap.staged) return;
    const p = await loadModel(file).catch((err: unknown) => {
      throw new Error(`model: cannot load ${file}: ${(err as Error).message}`);
    });
    const a = p.spec;
    if (a.width !== spec.width || a.height !== spec.height || a.color !== spec.color) {
      await p.dispose();
      throw new Error(`model: ${file} takes ${a.width}x${a.height} ${a.color}, the running model ${spec.width}x${spec.height} ${spec.color}; only variants with the same grid can be swapped at run time`);
    }
    await swap.staged?.predictor.dispose();
    swap.staged = { file, predictor: p };
  });
  controller.onChange((c) => {
    detector.configure(scoring.params(c));
    recorder?.configure(clipSettings(c, fps, clipsDir));
    ring.resize(ringSize(c));
    const nextSource = c.source ?? o.source;
    if (nextSource !== sourceNow || swap.staged) {
      sourceNow = nextSource;
      restart.abort();
    }
  });

  let broker: EmbeddedBroker | null = null;
  // --broker wins over the configuration file's `broker` (a URL or a cluster's nodes)
  let url = o.broker ?? brokerOf(controller.current);
  if (!o.broker && url) log.info({ broker: url, file: o.config }, 'broker from the configuration file');
  const creds = await mqttCredentials(o);
  if (!url && creds.password !== undefined) creds.username ??= 'sfn';
  if (!url) {
    // With no --embedded-port, 1883 is preferred; when something already listens there (a local
    // Mosquitto, say) the embedded broker takes a free port instead and says where it is.
    // The WebSocket listener (for the browser viewer) prefers 9001 the same way.
    const auth = creds.password !== undefined ? { username: creds.username ?? 'sfn', password: creds.password } : undefined;
    const start = (port: number, wsPort: number) => startEmbeddedBroker(port, '127.0.0.1', { wsPort, ...(auth ? { auth } : {}) });
    const startWs = (port: number) => start(port, o.wsPort ?? 9001).catch(async (err: unknown) => {
      if (o.wsPort !== undefined || !(err instanceof BrokerPortError) || !err.message.includes('WebSocket')) throw err;
      const free = await start(port, 0);
      log.warn({ ws: free.wsUrl }, '127.0.0.1:9001 is in use: the embedded broker takes MQTT over WebSocket on a free port instead');
      return free;
    });
    const b = await startWs(o.embeddedPort ?? 1883).catch(async (err: unknown) => {
      if (o.embeddedPort !== undefined || !(err instanceof BrokerPortError) || err.message.includes('WebSocket')) throw err;
      const free = await startWs(0);
      log.warn({ url: free.url }, '127.0.0.1:1883 is in use: the embedded broker listens on a free port instead (use --broker mqtt://127.0.0.1:1883 to report to the broker on 1883)');
      return free;
    });
    broker = b;
    cleanups.push(() => b.close());
    url = broker.url;
    log.info({ url, ws: broker.wsUrl, auth: auth ? `username ${auth.username} + the password` : 'none (any local process may connect: set SFN_MQTT_PASSWORD to require one)' }, 'embedded MQTT broker started (the viewer connects to the ws:// address: sfn-edge viewer --broker <ws>)');
  }
  let restart: AbortController = new AbortController();
  const counters = newCounters();
  /** `cmd/learn`: learns this camera in a child process and swaps the model in (learn/service.ts) */
  let learn: LearnService | null = null;
  const reporter = await MqttReporter.connect({
    url, deviceId, store: await FileOutboxStore.open(join(stateDir, 'outbox')),
    ...creds,
    ...(o.ca ? { ca: await readFile(o.ca) } : {}),
    ...(o.cert ? { cert: await readFile(o.cert) } : {}),
    ...(o.key ? { key: await readFile(o.key) } : {}),
    hooks: {
      configState: () => {
        const st = controller.state();
        return { version: st.version, config: redactSecrets(st.config) };
      },
      applyConfig: async (p) => {
        const ack = await controller.apply(p);
        if (ack.ok) log.info({ version: ack.version, file: controller.file, layer: redactLayer(controller.remoteLayer) }, `config/set applied (version ${ack.version})`);
        else log.warn({ version: ack.version, error: ack.error }, `config/set refused: ${ack.error}`);
        return ack;
      },
      command: async (name, payload) => {
        if (name === 'learn') await learn?.handle(payload);
        else if (name === 'restart-source') restart.abort();
        else {
          const ringNow = ring.since(Number.NEGATIVE_INFINITY).at(-1);
          if (!ringNow) return;
          const file = join(clipsDir, `snapshot-${ringNow.time.toISOString().replace(/[:.]/g, '-')}.jpg`);
          await mkdir(clipsDir, { recursive: true });
          await writeJpeg(ringNow, spec, file);
          await reporter.publishJson(TOPICS.snapshot, { frame: ringNow.index, time: ringNow.time.toISOString(), path: file }, { qos: 1, retain: false });
        }
      },
    },
  });
  cleanups.push(() => reporter.client.endAsync(true));
  const learnService = new LearnService({
    source: () => sourceNow, spec: () => spec, model: () => controller.current.model ?? modelPath,
    swapModel: async (file) => {
      const ack = await controller.apply(JSON.stringify({ model: file }));
      if (ack.ok) await reporter.publishConfigState().catch(() => undefined);
      return ack.ok ? null : (ack.error ?? 'refused');
    },
    publishState: (st) => reporter.publishJson(TOPICS.learnState, st, { qos: 1, retain: true }),
    publishAck: (a) => reporter.publishJson(TOPICS.learnAck, a, { qos: 1, retain: false }),
  }, { dir: join(stateDir, 'learn'), ...o.learn });
  learn = learnService;
  cleanups.push(() => learnService.stop());

  // WebRTC streaming of flagged clips and the live view, signalled over the same MQTT connection
  const streaming: Streaming = await startStreaming({
    client: reporter.client, device: deviceId, clipsDir, config: controller.current.streaming, tokenFile: join(stateDir, 'streaming-token'),
    ...(profile ? { profileMaxSessions: profile.streaming.maxSessions } : {}),
  });
  cleanups.push(() => streaming.close());
  controller.onChange((c) => streaming.configure(c.streaming));
  if (o.whepPort !== undefined) {
    const whep = await startWhep(streaming.manager, o.whepPort, o.whepHost ?? '127.0.0.1');
    cleanups.push(() => whep.close());
  }

  // On-device captions of events, made in a worker thread and sent as enrichment messages
  const cap = controller.current.captions;
  // captions are an enrichment: when the captioner cannot start, detection and events go on without them
  const captionWorker = cap.enabled
    ? await CaptionWorker.start({ captioner: cap.captioner, ...(cap.model_dir ? { modelDir: cap.model_dir } : {}) }).catch((err: unknown) => {
        log.error({ err: (err as Error).message, captioner: cap.captioner }, 'captions are off: the captioner did not start (fix captions.model_dir, or set captions.enabled false)');
        return null;
      })
    : null;
  if (captionWorker) cleanups.push(() => captionWorker.close());
  /** normalised anomaly box of recent scored frames (the caption's anomaly region) */
  const regions = new Map<number, CaptionBox>();
  const describer = captionWorker
    ? new EventDescriber({ worker: captionWorker, spec, framesSince: (f) => ring.since(f), regionAt: (f) => regions.get(f), publish: (id, d) => reporter.publishDescription(id, d), clipOf: (id) => recorder?.videoOf(id) })
    : null;
  /** recent frames by index (the live view's anomaly region compares them with the predictions) */
  const recent = new Map<number, Float32Array>();
  const frameLen = channelsOf(spec.color) * spec.width * spec.height;
  const tap = { pred: null as Float32Array | null, pos: 0 };
  /** the predictor as the loop sees it: keeps the last predictions while a live view wants the region */
  /** a model with the semantic branch gets the latest caption's text feature with every clip */
  let semantic: SemanticFeed | null = null;
  const semanticFor = (p: OnnxPredictor): SemanticFeed | null => {
    if (p.textDim === 0) return null;
    if (!captionWorker)
      throw new Error(`${p.modelPath} has a semantic branch and needs the captioner, which is off or did not start (see the log); set captions.enabled true, or use a frame-only model`);
    return new SemanticFeed(captionWorker, spec, p.textDim, controller.current.captions.every_frames || SEMANTIC_CAPTION_EVERY, !realtime);
  };
  semanticFor(predictor); // a semantic model without a captioner fails now, with the reason
  /** called after `semantic` is set for the loop it feeds */
  const tapped = (p: OnnxPredictor): Predictor => {
    const inner = semantic ? semantic.wrap(p) : p;
    return {
      name: p.name, spec: p.spec, batchSize: p.batchSize,
      predict: async (clips, n) => {
        const out = await inner.predict(clips, n);
        tap.pred = streaming.live.wantsRegion || describer ? out : null;
        tap.pos = 0;
        return out;
      },
    };
  };
  const onLiveScore = (frame: number): void => {
    const i = tap.pos++;
    if (!tap.pred) return;
    const target = recent.get(frame);
    // one region per frame serves both the event captions and the live view's overlay
    const b = target && (describer || detector.inEvent) ? anomalyRegion(tap.pred.subarray(i * frameLen, (i + 1) * frameLen), target, spec) : null;
    if (describer && b) {
      regions.set(frame, [b.x / spec.width, b.y / spec.height, b.w / spec.width, b.h / spec.height]);
      regions.delete(frame - 256);
    }
    streaming.live.setRegion(detector.inEvent ? b : null);
  };

  let eventChain: Promise<void> = Promise.resolve();
  /** the retained source state (source-state.ts) and the retained event state (Home Assistant's "event active") */
  const sourceState = new SourceState((m) => reporter.publishJson(TOPICS.sourceState, m, { qos: 1, retain: true }));
  const eventState = (active: boolean, e: AnomalyEvent | null) =>
    reporter.publishJson(TOPICS.eventState, { active, id: e?.id ?? null, since: new Date().toISOString() }, { qos: 1, retain: true }).catch(() => undefined);
  void eventState(false, null);
  const onEvent = (e: AnomalyEvent): void => {
    if (e.type === 'new') void eventState(true, e);
    else if (e.type === 'end') void eventState(false, e);
    const msg = { ...e, device_id: deviceId, source: sourceNow };
    log.info({ type: e.type, id: e.id, start: e.start.frame, last: e.last.frame, peak: +e.peak.score.toFixed(2) }, 'event');
    eventChain = eventChain.then(() => reporter.publishEvent(msg)).catch((err: unknown) => log.error({ err: (err as Error).message }, 'outbox: cannot store an event'));
    describer?.onEvent(e);
  };
  // a clip is announced once its MP4 and JPEG are closed, after the event's `end` (same outbox, in order)
  recorder.onWritten = (c) => {
    const msg = { event_id: c.id, device_id: deviceId, video: c.video, snapshot: c.snapshot, frames: c.frames, first_frame: c.first_frame, last_frame: c.last_frame, video_bytes: c.video_bytes, snapshot_bytes: c.snapshot_bytes, fps };
    eventChain = eventChain.then(() => reporter.publishClip(c.id, msg)).catch((err: unknown) => log.error({ err: (err as Error).message }, 'outbox: cannot store a clip announcement'));
  };

  const metrics = new RunMetrics();
  const metricsServer = o.metricsPort !== undefined ? await metrics.serve(o.metricsPort) : null;
  if (metricsServer) cleanups.push(() => new Promise<void>((r) => metricsServer.server.close(() => r())));
  if (metricsServer) log.info({ url: `http://127.0.0.1:${metricsServer.port}/metrics` }, 'Prometheus metrics');
  let lastScore: number | null = null;
  const stats = new StatsPublisher({
    counters, provider: () => predictor.provider, model: () => ({ name: predictor.name, sha256: predictor.manifest.sha256 }),
    inEvent: () => detector.inEvent, lastScore: () => lastScore,
  }, metrics, (m) => reporter.publishStats(m));
  stats.every(controller.current.stats_interval_s);
  cleanups.push(() => stats.stopTimer());
  controller.onChange((c) => stats.every(c.stats_interval_s));

  const stop = new AbortController();
  const onSignal = () => {
    stop.abort();
    restart.abort();
    // a live stream may deliver nothing for a while: end it now instead of at the next frame
    if (source instanceof StreamSource) void source.close();
  };
  o.signal?.addEventListener('abort', onSignal);
  if (o.signal?.aborted) onSignal();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  cleanups.push(() => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  });

  const t0 = Date.now();
  let sourceError: string | undefined;
  let backoff = RECONNECT_MIN_MS;
  let reconnects = 0;
  let offset = 0;
  try {
    for (;;) {
      let maxIndex = offset - 1;
      sourceError = undefined; // the summary reports how the last pass over the source ended
      try {
        if (swap.staged) {
          await predictor.dispose();
          predictor = swap.staged.predictor;
          modelNow = swap.staged.file;
          swap.staged = null;
          scoring = onlineScoring(predictor.manifest, spec);
          detector = scoring.detector(scoring.params(controller.current));
          log.info({ model: modelNow, sha256: predictor.manifest.sha256 }, 'model swapped (config/set)');
        }
        live = isLiveSource(sourceNow);
        source ??= live ? new StreamSource(sourceNow, spec) : await openSource(sourceNow, spec);
        const base = offset;
        const frames = (async function* (s: FrameSource) {
          for await (const f of s.frames()) yield { index: base + f.index, data: f.data };
        })(source);
        semantic = semanticFor(predictor);
        const feed = semantic;
        await runLoop({
          frames: (async function* () {
            for await (const f of frames) {
              // frames flow under the configuration in force: it becomes the one to fall back to
              if (f.index === base) sourceState.set('up', sourceNow);
              if (f.index === base) controller.markStarted().catch((err: unknown) => log.warn({ err: (err as Error).message }, 'cannot persist the configuration that started'));
              maxIndex = f.index;
              if (feed) await feed.onFrame(f.data);
              if (streaming.live.wantsRegion || describer) {
                recent.set(f.index, f.data);
                recent.delete(f.index - 16);
              } else if (recent.size) recent.clear();
              streaming.live.push(f.data, spec);
              yield f;
            }
          })(),
          predictor: tapped(predictor), detector, measure: () => controller.current.measure, ...(scoring.error ? { error: scoring.error } : {}), realtime, fps, paceByClock: !live,
          ring, ...(recorder ? { recorder } : {}), onEvent, onScore: (f, _raw, sc) => {
            lastScore = sc;
            learnService.onScore(predictor.manifest.sha256, sc);
            onLiveScore(f);
          }, signal: restart.signal, counters, ...(o.batch ? { batch: o.batch } : {}),
          semanticErrors: () => semantic?.errors ?? [],
        });
      } catch (err) {
        sourceError = (err as Error).message;
        log.error({ err: sourceError, source: sourceNow }, 'source failed');
        for (const e of detector.finish()) onEvent(e);
      } finally {
        await source?.close().catch(() => undefined);
        source = null;
      }
      const delivered = maxIndex >= offset;
      if (delivered) backoff = RECONNECT_MIN_MS; // frames came through: the next drop starts the backoff anew
      sourceState.set('down', sourceNow, sourceError ?? 'ended');
      offset = maxIndex + 1;
      if (stop.signal.aborted) break;
      // a remote change that passed its checks but delivered no frame is rolled back
      if (sourceError !== undefined && !delivered && controller.unproven) {
        const failed = { source: sourceNow, model: modelNow };
        const version = await controller.fallBack();
        if (version !== null) {
          const want = controller.current.model ?? modelPath;
          if (want !== modelNow && !swap.staged) swap.staged = { file: want, predictor: await loadModel(want) };
          sourceNow = controller.current.source ?? o.source;
          const error = `the change failed to start (${sourceError}); rolled back to the last configuration that started`;
          log.warn({ failed, version, source: sourceNow, model: want }, error);
          await reporter.publishConfigState().catch(() => undefined);
          await reporter.publishJson(TOPICS.configAck, { version, ok: false, error }, { qos: 1, retain: false }).catch(() => undefined);
          sourceError = undefined;
          restart = new AbortController();
          continue;
        }
      }
      if (restart.signal.aborted) {
        restart = new AbortController();
        log.info({ source: sourceNow }, 'restarting the source (cmd/restart-source or config/set)');
        continue;
      }
      // --loop: a file or folder that was read to its end plays again from its first frame
      // (frame indices keep counting up, so events and clips stay distinct) until stopped
      if (!live && o.loop && sourceError === undefined && delivered) {
        log.info({ source: sourceNow, frames_so_far: maxIndex + 1 }, 'end of the source: playing it again (--loop)');
        continue;
      }
      if (!live) break;
      reconnects += 1;
      log.warn({ source: sourceNow, retry_ms: backoff, ...(sourceError ? { err: sourceError } : {}) }, 'source ended; reconnecting');
      await Promise.race([sleep(backoff), new Promise((r) => stop.signal.addEventListener('abort', r))]);
      backoff = Math.min(RECONNECT_MAX_MS, backoff * 2);
      if (!stop.signal.aborted) sourceState.set('reconnecting', sourceNow, sourceError ?? 'ended');
      if (stop.signal.aborted) break;
    }
    const clips = recorder ? await recorder.finish() : [];
    await eventChain;
    await describer?.idle();
    await stats.final();
    // viewers are told their sessions closed (`closed` {reason: shutdown}) before the connection ends
    await streaming.close().catch(() => undefined);
    const flushed = await reporter.close(20_000);
    const seconds = (Date.now() - t0) / 1000;
    const summary: RunSummary = {
      source: sourceNow, model: modelNow, provider: predictor.provider, frames: counters.frames, scored: counters.scored,
      skipped: counters.skipped, events: counters.events, messages: counters.messages, fps: +(counters.scored / Math.max(seconds, 1e-3)).toFixed(2),
      inference_ms: counters.inferenceCalls ? +(counters.inferenceMs / counters.inferenceCalls).toFixed(2) : 0,
      clips: clips.map((c) => c.video), ...(describer ? { captions: describer.counts.sent } : {}), outbox_flushed: flushed, reconnects, ...(sourceError ? { source_error: sourceError } : {}),
    };
    print(JSON.stringify(summary));
    return summary;
  } finally {
    await source?.close().catch(() => undefined);
  }
}
