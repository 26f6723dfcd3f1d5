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
import { brokerOf, redactLayer, type RuntimeConfig } from '../core/runtime-config.js';
import { loadProfile, type DeviceProfile } from '../device/profile.js';
import type { ProviderName } from '../inference/session.js';
import type { LearnServiceOptions } from '../learn/service.js';
import { log } from '../util/log.js';
import { BrokerService } from './broker-service.js';
import { ReporterScope, type CommandName, type ReportChannel } from '../mqtt/scope.js';
import { CameraPipeline, type CameraOptions, type CameraResult } from './camera.js';
import { cameraPlans, followDevice, reportFailed, type CameraPlan, type FailedCamera } from './cameras.js';
import { CaptionsService } from './captions-service.js';
import { killFfmpegChildren, removePartFiles } from './children.js';
import { ConfigController } from './controller.js';
import { MetricsService } from './metrics-service.js';
import { ModelHost, type ModelHostOptions } from './model-host.js';
import { configHooks, ReporterService } from './reporter-service.js';
import { service, ServiceGroup, type Service } from './services.js';
import { StreamingService } from './streaming-service.js';

export { clipSettings, RECONNECT_MAX_MS, RECONNECT_MIN_MS } from './camera.js';

/** Options of `run` as commander parses them. */
export interface RunOptions {
  /** the one camera's source (`--source`); required unless the configuration has a `cameras` list */
  source?: string;
  /** `--camera-id`: the one camera of `--source` on its own topics `sfn/<device>/<id>/` (default: `cam0` on the device's topics) */
  cameraId?: string;
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
  /** with a `cameras` list (or `--camera-id`): each camera's own summary, by id (the fields above are totals) */
  cameras?: Record<string, RunSummary>;
  /** cameras that did not start, and why */
  failed_cameras?: { id: string; error: string }[];
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

/** A started camera and where it publishes. */
interface Running {
  plan: CameraPlan;
  camera: CameraPipeline;
  channel: ReportChannel;
  onCommand: (name: CommandName, fn: (payload: Buffer) => Promise<void>) => void;
  streaming?: StreamingService;
}

/** Starts the services in order (see the file comment), plays the cameras, ends the run in order. */
async function runServices(o: RunOptions, print: (line: string) => void, group: ServiceGroup): Promise<RunSummary> {
  const s = await runSettings(o);
  const plans = await cameraPlans({ ...(o.source !== undefined ? { source: o.source } : {}), ...(o.cameraId !== undefined ? { cameraId: o.cameraId } : {}), device: s.controller, clipsDir: s.clipsDir, stateDir: s.stateDir });
  const host = await group.start(new ModelHost(hostOptions(o, s, plans.length)));
  const failed: FailedCamera[] = [];
  const cameras = await startCameras(group, plans, (p) => new CameraPipeline(host, cameraOptions(o, s, p)), failed);
  const auth = s.creds.password !== undefined ? { username: s.creds.username ?? 'sfn', password: s.creds.password } : undefined;
  const broker = await group.start(new BrokerService({
    ...(s.url ? { url: s.url } : {}), ...(o.embeddedPort !== undefined ? { embeddedPort: o.embeddedPort } : {}), ...(o.wsPort !== undefined ? { wsPort: o.wsPort } : {}), ...(auth ? { auth } : {}),
  }));
  const reporter = await group.start(new ReporterService({
    url: () => broker.url, deviceId: s.deviceId, stateDir: s.stateDir, controller: s.controller, deviceIsCamera: !plans[0]!.scoped,
    ...s.creds, ...(o.ca ? { ca: o.ca } : {}), ...(o.cert ? { cert: o.cert } : {}), ...(o.key ? { key: o.key } : {}),
  }));
  const running = await openChannels(reporter, plans, cameras, failed);
  if (s.controller.current.cameras) followDevice(s.controller, plans, (id) => void running.find((r) => r.plan.id === id)?.channel.publishConfigState().catch(() => undefined));
  for (const [i, r] of running.entries()) r.streaming = await group.start(streamingFor(o, s, reporter, r, i === 0));
  const captions = await group.start(new CaptionsService(() => captionsOf(plans)));
  const metrics = await group.start(new MetricsService(o.metricsPort));
  const live: Running[] = [];
  for (const r of running) {
    const wiring = { reporter: r.channel, onCommand: r.onCommand, streaming: r.streaming!.streaming, captions: r.plan.controller.current.captions.enabled ? captions.worker : null, metrics: metrics.metrics };
    const err = running.length > 1 ? await group.startIsolated(r.camera.runner(wiring)) : await group.start(r.camera.runner(wiring)).then(() => null);
    if (err) await failCamera(r, err, failed);
    else live.push(r);
  }
  let stopped = false;
  await group.start(signals(o.signal, () => {
    stopped = true;
    live.forEach((r) => r.camera.abort());
  }));
  return finishRun(live, failed, reporter, print, () => stopped);
}

/**
 * How the model host loads: one camera, `--batch` clips per call (1 in realtime); several cameras,
 * their clips in one call, up to 16, each waiting at most one frame interval (inference/batcher.ts).
 */
function hostOptions(o: RunOptions, s: RunSettings, cameras: number): ModelHostOptions {
  const perCamera = s.realtime ? 1 : Math.max(1, o.batch ?? 4);
  if (cameras === 1) return { profile: s.profile, providers: s.providers, batchSize: perCamera };
  return { profile: s.profile, providers: s.providers, batchSize: Math.min(16, perCamera * cameras), batchWaitMs: 1000 / (o.fps || 25) };
}

/**
 * Starts each camera's model and source; with several cameras, one that fails is left out (its
 * error in `failed`) and the others go on; the one camera of `--source` alone fails the run.
 * @throws the camera's error with one camera, or Error when no camera of several started.
 */
async function startCameras(group: ServiceGroup, plans: readonly CameraPlan[], make: (p: CameraPlan) => CameraPipeline, failed: FailedCamera[]): Promise<CameraPipeline[]> {
  if (plans.length === 1) return [await group.start(make(plans[0]!))];
  const out: CameraPipeline[] = [];
  for (const p of plans) {
    const cam = make(p);
    const err = await group.startIsolated(cam);
    if (err) failed.push({ id: p.id, error: err.message });
    else out.push(cam);
  }
  if (out.length === 0) throw new Error(`no camera started: ${failed.map((f) => `${f.id}: ${f.error}`).join('; ')}`);
  return out;
}

/** The camera options of plan `p`. */
function cameraOptions(o: RunOptions, s: RunSettings, p: CameraPlan): CameraOptions {
  return {
    id: p.id, scoped: p.scoped, deviceId: s.deviceId, source: p.source, model: s.modelPath, controller: p.controller, realtime: s.realtime, loop: o.loop === true,
    ...(o.fps ? { fps: o.fps } : {}), ...(o.batch ? { batch: o.batch } : {}), clipsDir: p.clipsDir, stateDir: p.stateDir, ...(o.learn ? { learn: o.learn } : {}),
  };
}

/** Where each camera publishes (the device's topics, or its own scope); failed cameras are announced offline. */
async function openChannels(reporter: ReporterService, plans: readonly CameraPlan[], cameras: readonly CameraPipeline[], failed: readonly FailedCamera[]): Promise<Running[]> {
  const out: Running[] = [];
  for (const plan of plans) {
    const camera = cameras.find((c) => c.o.id === plan.id);
    if (!plan.scoped) {
      if (camera) out.push({ plan, camera, channel: reporter.reporter, onCommand: (n, f) => reporter.onCommand(n, f) });
      continue;
    }
    const commands = new Map<CommandName, (payload: Buffer) => Promise<void>>();
    const scope = await reporter.reporter.addScope(plan.id, configHooks(plan.controller, commands), camera !== undefined);
    const f = failed.find((x) => x.id === plan.id);
    if (f) await reportFailed(scope, f, plan.controller.current.source ?? plan.source);
    if (camera) out.push({ plan, camera, channel: scope, onCommand: (n, fn) => commands.set(n, fn) });
  }
  return out;
}

/** A camera that failed after its model and source opened (its runner): left out, reported offline. */
async function failCamera(r: Running, err: Error, failed: FailedCamera[]): Promise<void> {
  const f = { id: r.plan.id, error: err.message };
  failed.push(f);
  if (r.channel instanceof ReporterScope) await reportFailed(r.channel, f, r.camera.sourceNow);
}

/** The streaming service of one camera, on its topics, clips folder and token file; the WHEP endpoint (one per process) goes with the first camera. */
function streamingFor(o: RunOptions, s: RunSettings, reporter: ReporterService, r: Running, first: boolean): StreamingService {
  const c = r.plan.controller;
  const svc = new StreamingService({
    name: r.plan.scoped ? `streaming ${r.plan.id}` : 'streaming', client: () => reporter.reporter.client, deviceId: r.channel.scope, clipsDir: r.plan.clipsDir, stateDir: r.plan.stateDir,
    config: () => c.current.streaming, ...(s.profile ? { profileMaxSessions: s.profile.streaming.maxSessions } : {}),
    ...(s.profile?.streaming.liveMaxHeight !== undefined ? { profileLiveMaxHeight: s.profile.streaming.liveMaxHeight } : {}),
    ...(o.whepPort !== undefined && first ? { whepPort: o.whepPort } : {}), ...(o.whepHost ? { whepHost: o.whepHost } : {}),
  });
  c.onChange((next) => svc.configure(next.streaming));
  return svc;
}

/** The captioner settings of the device's one caption worker: the first camera with captions on (else the first camera's). */
function captionsOf(plans: readonly CameraPlan[]): RuntimeConfig['captions'] {
  const on = plans.find((p) => p.controller.current.captions.enabled) ?? plans[0]!;
  return on.controller.current.captions;
}

/**
 * Longest wait, after SIGINT / SIGTERM / `signal`, for the cameras' last clips, messages and stats
 * (ms): the cameras are waited for together, so the bound is the same for 1 or 32 cameras; the
 * clip encoders still running after it are killed (children.ts). A systemd stop (90 s by default)
 * leaves room for it and the outbox flush. A finite source that ends by itself waits for all.
 */
export const FINISH_WAIT_MS = 10_000;

/**
 * Plays every camera to its end, then waits for clips and messages (every camera at once, bounded
 * by {@link FINISH_WAIT_MS} once `stopped()`), flushes the outbox and prints the summary line.
 */
async function finishRun(live: readonly Running[], failed: readonly FailedCamera[], reporter: ReporterService, print: (line: string) => void, stopped: () => boolean): Promise<RunSummary> {
  const t0 = Date.now();
  await Promise.all(live.map((r) => r.camera.run().catch((err: unknown) => {
    // a camera's run only throws on a bug (sources fail inside it): the others go on
    log.error({ camera: r.plan.id, err: (err as Error).message }, 'camera pipeline stopped');
  })));
  // every camera at once (one after another, 16 cameras took 15 s: each waits for its clip encoders and last stats)
  const wait = stopped() ? FINISH_WAIT_MS : Number.POSITIVE_INFINITY;
  const results: CameraResult[] = await Promise.all(live.map((r) => r.camera.finish(wait)));
  if (results.some((r) => r.unfinished)) {
    // past the bound: the clip encoders still running are killed, so none outlives the run
    const killed = await killFfmpegChildren();
    if (killed.length) log.warn({ pids: killed }, 'killed the clip encoders still running at the end of the run');
    // and their partial output goes: a file is either whole or absent
    const removed = await removePartFiles(live.map((r) => r.plan.clipsDir));
    if (removed.length) log.warn({ files: removed }, 'removed the partial clips of the killed encoders');
  }
  // viewers are told their sessions closed (`closed` {reason: shutdown}) before the connection ends
  await Promise.all(live.map((r) => r.streaming?.closeSessions().catch(() => undefined)));
  const flushed = await reporter.close(20_000);
  const seconds = (Date.now() - t0) / 1000;
  const summary = live.length === 1 && failed.length === 0 && !live[0]!.plan.scoped
    ? summaryOf(results[0]!, flushed, seconds)
    : camerasSummary(live.map((r, i) => [r.plan.id, summaryOf(results[i]!, flushed, seconds)]), failed, flushed);
  print(JSON.stringify(summary));
  return summary;
}

/** The summary line of several cameras: totals, each camera's own summary, and the cameras that failed. */
function camerasSummary(each: [string, RunSummary][], failed: readonly FailedCamera[], flushed: boolean): RunSummary {
  const first = each[0]?.[1];
  const sum = (k: 'frames' | 'scored' | 'skipped' | 'events' | 'messages' | 'fps' | 'reconnects') => +each.reduce((a, [, x]) => a + x[k], 0).toFixed(2);
  return {
    source: each.map(([, x]) => x.source).join(','), model: first?.model ?? '', provider: first?.provider ?? '', frames: sum('frames'), scored: sum('scored'), skipped: sum('skipped'),
    events: sum('events'), messages: sum('messages'), fps: sum('fps'), inference_ms: first?.inference_ms ?? 0, clips: each.flatMap(([, x]) => x.clips),
    outbox_flushed: flushed, reconnects: sum('reconnects'), cameras: Object.fromEntries(each), ...(failed.length ? { failed_cameras: [...failed] } : {}),
    // one camera (`--camera-id`): its source error is the run's (cli.ts fails a file read short)
    ...(each.length === 1 && first?.source_error !== undefined ? { source_error: first.source_error } : {}),
  };
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
