/**
 * `sfn-edge run`: watch a source, score every frame with the model, report events over MQTT, keep
 * clips, take configuration changes over MQTT. The run is an assembly of services (services.ts),
 * started in this order and stopped in reverse: the model host (model-host.ts), the camera
 * pipeline's model and source (camera.ts), the broker (broker-service.ts), the reporter
 * (reporter-service.ts), streaming (streaming-service.ts), captions (captions-service.ts), metrics
 * (metrics-service.ts), the running camera (camera-io.ts) and the signal handlers. See
 * pipeline/loop.ts (pacing, dropping), pipeline/record.ts (the scored-frame record and its
 * listeners), ../events/detector.ts (scores and events), ../mqtt/topics.ts (topics).
 *
 * A finite source (image folder, video file) ends the run: the last events are published, the
 * outbox is flushed, clips are written, and one JSON summary line is printed on stdout. A live
 * source (URL, /dev/video*) is reopened with a short backoff ({@link RECONNECT_MIN_MS} doubling to
 * {@link RECONNECT_MAX_MS}) when it fails or ends; its state goes out on the retained `source/state`.
 */
import { readFile, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { defaultModel } from '../core/default-model.js';
import { brokerOf, redactLayer } from '../core/runtime-config.js';
import { loadProfile, type DeviceProfile } from '../device/profile.js';
import type { ProviderName } from '../inference/session.js';
import type { LearnServiceOptions } from '../learn/service.js';
import { log } from '../util/log.js';
import { BrokerService } from './broker-service.js';
import { CameraPipeline, type CameraResult } from './camera.js';
import { CaptionsService } from './captions-service.js';
import { ConfigController } from './controller.js';
import { MetricsService } from './metrics-service.js';
import { ModelHost } from './model-host.js';
import { ReporterService } from './reporter-service.js';
import { service, ServiceGroup, type Service } from './services.js';
import { StreamingService } from './streaming-service.js';

export { clipSettings, RECONNECT_MAX_MS, RECONNECT_MIN_MS } from './camera.js';

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


/** What `run` resolves from its options before any service starts. */
interface RunSettings {
  realtime: boolean;
  profile: DeviceProfile | null;
  /** the model when the configuration names none: --model, the profile's variant, the default */
  modelPath: string;
  providers: ProviderName[];
  stateDir: string;
  clipsDir: string;
  deviceId: string;
  controller: ConfigController;
  creds: { username?: string; password?: string };
  /** the broker named by --broker or the configuration file, if any */
  url: string | undefined;
}

/**
 * Resolves the profile, the model, the folders, the configuration (with its saved remote layer)
 * and the credentials.
 * @throws Error for an unreadable profile, configuration or password file.
 */
async function runSettings(o: RunOptions): Promise<RunSettings> {
  const realtime = o.realtime === undefined ? true : o.realtime === true || o.realtime === 'true';
  const profile = o.profile ? await loadProfile(o.profile) : null;
  const modelPath = o.model ?? (profile ? await profileModel(profile) : null) ?? (await defaultModel());
  const providers = (o.providers ?? 'tensorrt,cuda,cpu').split(',').map((s) => s.trim()).filter(Boolean) as ProviderName[];
  const stateDir = resolve(o.stateDir ?? '.sfn-edge');
  const { controller, warning } = await ConfigController.open(o.config, join(stateDir, 'remote-config.json'));
  if (warning) log.warn(warning);
  if (controller.version > 0) {
    log.info({ file: controller.file, version: controller.version, layer: redactLayer(controller.remoteLayer) },
      `re-applying the remote configuration saved by config/set (version ${controller.version}); \`sfn-edge config show|reset --state-dir ${stateDir}\` shows or clears it`);
  }
  // --broker wins over the configuration file's `broker` (a URL or a cluster's nodes)
  const url = o.broker ?? brokerOf(controller.current);
  if (!o.broker && url) log.info({ broker: url, file: o.config }, 'broker from the configuration file');
  const creds = await mqttCredentials(o);
  if (!url && creds.password !== undefined) creds.username ??= 'sfn';
  return { realtime, profile, modelPath, providers, stateDir, clipsDir: resolve(o.clips ?? 'clips'), deviceId: o.deviceId ?? hostname(), controller, creds, url };
}

/**
 * Runs `sfn-edge run` until a finite source ends (or SIGINT/SIGTERM).
 * @param print receives the summary line (default: stdout).
 * @throws Error for an unusable model, configuration, broker (e.g. the embedded port in use), or a
 *   finite source that cannot be opened.
 */
export async function runCommand(o: RunOptions, print: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): Promise<RunSummary> {
  const group = new ServiceGroup();
  try {
    return await runServices(o, print, group);
  } finally {
    await group.stop();
  }
}

/** Starts the services in order (see the file comment), plays the camera, ends the run in order. */
async function runServices(o: RunOptions, print: (line: string) => void, group: ServiceGroup): Promise<RunSummary> {
  const s = await runSettings(o);
  const { controller, stateDir, clipsDir, deviceId } = s;
  const host = await group.start(new ModelHost({ profile: s.profile, providers: s.providers, batchSize: s.realtime ? 1 : Math.max(1, o.batch ?? 4) }));
  const camera = await group.start(new CameraPipeline(host, {
    id: 'cam0', deviceId, source: o.source, model: s.modelPath, controller, realtime: s.realtime, loop: o.loop === true,
    ...(o.fps ? { fps: o.fps } : {}), ...(o.batch ? { batch: o.batch } : {}), clipsDir, stateDir, ...(o.learn ? { learn: o.learn } : {}),
  }));
  const auth = s.creds.password !== undefined ? { username: s.creds.username ?? 'sfn', password: s.creds.password } : undefined;
  const broker = await group.start(new BrokerService({
    ...(s.url ? { url: s.url } : {}), ...(o.embeddedPort !== undefined ? { embeddedPort: o.embeddedPort } : {}), ...(o.wsPort !== undefined ? { wsPort: o.wsPort } : {}), ...(auth ? { auth } : {}),
  }));
  const reporter = await group.start(new ReporterService({
    url: () => broker.url, deviceId, stateDir, controller, ...s.creds, ...(o.ca ? { ca: o.ca } : {}), ...(o.cert ? { cert: o.cert } : {}), ...(o.key ? { key: o.key } : {}),
  }));
  const streaming = await group.start(new StreamingService({
    client: () => reporter.reporter.client, deviceId, clipsDir, stateDir, config: () => controller.current.streaming,
    ...(s.profile ? { profileMaxSessions: s.profile.streaming.maxSessions } : {}), ...(o.whepPort !== undefined ? { whepPort: o.whepPort } : {}), ...(o.whepHost ? { whepHost: o.whepHost } : {}),
  }));
  controller.onChange((c) => streaming.configure(c.streaming));
  const captions = await group.start(new CaptionsService(() => controller.current.captions));
  const metrics = await group.start(new MetricsService(o.metricsPort));
  await group.start(camera.runner({
    reporter: reporter.reporter, onCommand: (n, f) => reporter.onCommand(n, f), streaming: streaming.streaming, captions: captions.worker, metrics: metrics.metrics,
  }));
  await group.start(signals(o.signal, () => camera.abort()));
  const t0 = Date.now();
  await camera.run();
  const result = await camera.finish();
  // viewers are told their sessions closed (`closed` {reason: shutdown}) before the connection ends
  await streaming.closeSessions().catch(() => undefined);
  const flushed = await reporter.close(20_000);
  const summary = summaryOf(result, flushed, (Date.now() - t0) / 1000);
  print(JSON.stringify(summary));
  return summary;
}

/** SIGINT, SIGTERM and `signal` call `stop` while the service runs. */
function signals(signal: AbortSignal | undefined, stop: () => void): Service {
  return service('signals', () => {
    signal?.addEventListener('abort', stop);
    if (signal?.aborted) stop();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  }, () => {
    signal?.removeEventListener('abort', stop);
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  });
}

/** The summary line of a camera's run that lasted `seconds`. */
function summaryOf(r: CameraResult, flushed: boolean, seconds: number): RunSummary {
  const c = r.counters;
  return {
    source: r.source, model: r.model, provider: r.provider, frames: c.frames, scored: c.scored,
    skipped: c.skipped, events: c.events, messages: c.messages, fps: +(c.scored / Math.max(seconds, 1e-3)).toFixed(2),
    inference_ms: c.inferenceCalls ? +(c.inferenceMs / c.inferenceCalls).toFixed(2) : 0,
    clips: r.clips, ...(r.captions !== undefined ? { captions: r.captions } : {}), outbox_flushed: flushed, reconnects: r.reconnects, ...(r.sourceError ? { source_error: r.sourceError } : {}),
  };
}
