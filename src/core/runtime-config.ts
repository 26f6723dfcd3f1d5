/**
 * The runtime configuration: one zod tree (strict objects, defaults, bounds, descriptions) from
 * which the TypeScript type (`z.infer`) and the published JSON Schema
 * (`schemas/runtime-config.schema.json`, `npm run schema:runtime` / scripts/runtime-schema.ts) derive.
 *
 * Layers (Frigate-style): defaults <- the `--config` file <- remote changes from `config/set`
 * (persisted separately, atomically). A change is a partial object deep-merged over the running
 * configuration and the result is validated as a whole, so unknown keys, wrong types and
 * out-of-range values anywhere are refused and nothing changes.
 */
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';

/** Largest accepted `config/set` payload, in bytes. */
export const MAX_CONFIG_BYTES = 64 * 1024;

const ThresholdValues = z.object({
  on: z.number().min(0.1).max(1000).default(4).describe('start an event when the smoothed score (robust z, see events/baseline.ts) reaches this'),
  off: z.number().min(0).max(1000).default(2).describe('end the event when the smoothed score falls below this (hysteresis; must be <= on)'),
  confirm: z.union([z.literal('auto'), z.literal('off'), z.number().min(0.1).max(1000)]).default('off').describe('fast confirmation: a candidate whose smoothed score reaches this is reported at once, without waiting min_duration_frames. auto: a calibrated model with fpr set takes the calibrated score at fpr/10 (10x rarer on normal video than on), otherwise on + (on - off); a number: that score (raised to on when below it); off: every event waits min_duration_frames'),
  fpr: z.number().gt(0).max(0.5).nullable().default(0.01).describe('calibrated models (manifest calibration): on = the smoothed score exceeded by this share of the calibration frames (per-frame false-alarm rate on normal video), off = the score exceeded by 10x that share; null: on/off as given, in robust SDs of the calibrated normal score. Ignored without calibration'),
}).strict();
const Thresholds = ThresholdValues.refine((t) => t.off <= t.on, { message: 'threshold.off must be <= threshold.on' });

const Clips = z.object({
  enabled: z.boolean().default(true).describe('write an MP4 clip (H.264 baseline) and a JPEG snapshot of the peak frame per event'),
  pre_roll_s: z.number().min(0).max(60).default(3).describe('seconds of video kept before the event start'),
  post_roll_s: z.number().min(0).max(60).default(2).describe('seconds of video recorded after the event end'),
  max_event_s: z.number().min(1).max(600).default(120).describe('longest stretch of event video kept in one clip (later frames are not recorded)'),
  budget_mb: z.number().min(1).max(1_000_000).default(1024).describe('disk budget of the clips folder; the oldest clips are deleted first'),
  from: z.enum(['source', 'model-grid']).default('source').describe("source: clips cut from the camera's own encoded stream (1 s MPEG-TS segments, no re-encoding; an image folder is encoded at its resolution), snapshots at the source's size; model-grid: clips and snapshots of the frames the model sees (144x96 grey). A source that cannot be segmented (V4L2, a codec MPEG-TS cannot carry, a segmenting failure) falls back to model-grid, logged once"),
  segments_mb: z.number().min(1).max(1_000_000).default(256).describe('disk budget of the source segments kept for pre-roll and open recordings (<clips>/segments/); the oldest go first'),
}).strict();

const Captions = z.object({
  enabled: z.boolean().default(true).describe('caption each event (its start frame and, when it ends, its peak frame) on the device and send the caption on events/<id>/description'),
  captioner: z.enum(['detector', 'vlm']).default('detector').describe('detector: COCO CenterNet + motion (offline, shipped); vlm: a local captioning model folder (model_dir)'),
  model_dir: z.string().min(1).max(2048).optional().describe("the captioner's model folder (required for vlm)"),
  every_frames: z.number().int().min(0).max(100_000).default(0).describe('also caption every K frames (0 = events only); models with the semantic branch use the latest caption as their text input'),
}).strict();

const IceServer = z.object({
  urls: z.union([z.string(), z.array(z.string()).min(1).max(8)])
    .refine((u) => (Array.isArray(u) ? u : [u]).every((x) => /^(stun|stuns|turn|turns):[^\s]+$/.test(x)), { message: 'ICE server urls must start with stun:, stuns:, turn: or turns:' })
    .describe('e.g. "stun:stun.example.org:3478" or ["turn:turn.example.org:3478?transport=udp"]'),
  username: z.string().max(512).optional().describe('TURN user name'),
  credential: z.string().max(512).optional().describe('TURN password (never published in config/state)'),
}).strict();

const Streaming = z.object({
  enabled: z.boolean().default(true).describe('answer WebRTC offers (flagged clips and live view) signalled on sfn/<device>/webrtc/...'),
  token: z.string().min(8).max(256).optional().describe('secret a viewer must present with its offer; unset: a random token is made at start and logged (never published in config/state)'),
  ice_servers: z.array(IceServer).max(16).default([]).describe('STUN/TURN servers for the device side of every session (host candidates only when empty)'),
  max_sessions: z.number().int().min(0).max(64).optional().describe('concurrent sessions; never more than the device profile allows (streaming.maxSessions; 2 without a profile)'),
  session_timeout_s: z.number().min(5).max(86_400).default(600).describe('a session is closed this long after its offer'),
  live_fps: z.number().min(1).max(60).default(15).describe('most frames per second sent to live-view sessions'),
  live_max_height: z.number().int().min(2).max(4320).default(720).describe('the live view streams at the source\'s resolution, scaled down (aspect kept, even sizes) to at most this many rows; a V4L2 source stays at the model grid'),
  loop_clips: z.boolean().default(false).describe('replay a clip until the viewer closes the session (default: play it once)'),
}).strict();

/** One broker node: mqtt://, mqtts://, tcp://, ssl://, ws:// or wss:// with a host, no spaces or commas. */
const BrokerUrl = z.string().max(2048).regex(/^(mqtts?|tcp|ssl|wss?):\/\/[^\s,/]+(\/[^\s,]*)?$/, 'a broker URL such as mqtt://10.0.0.2:1883 (mqtt, mqtts, tcp, ssl, ws or wss)');

/** Configuration keys a `config/set` may not change (controller.ts refuses them), with the reason. */
export const FILE_ONLY_KEYS: Readonly<Record<string, string>> = {
  broker: 'set in the --config file only; a remote message cannot move the device to another broker',
  cameras: "set in the --config file only; change one camera's values on sfn/<device>/<camera>/config/set",
};

/**
 * The same object with every key optional and without its default (a camera's own values over the
 * device-wide ones: a key it does not set takes the device's value, not the schema's default).
 */
function overridesOf<T extends z.ZodRawShape>(o: z.ZodObject<T>, what: string) {
  const shape = Object.fromEntries(Object.entries(o.shape).map(([k, v]) => {
    const s = v as z.ZodType;
    const inner = s instanceof z.ZodDefault ? (s.unwrap() as z.ZodType) : s;
    return [k, (inner instanceof z.ZodOptional ? inner : inner.optional()).describe(s.description ?? k)];
  }));
  return z.object(shape).strict().describe(`this camera's ${what} (unset keys: the device-wide value)`);
}

/** Words that cannot be camera ids: the first level of the device's own topics (mqtt/topics.ts). */
export const RESERVED_CAMERA_IDS: readonly string[] = ['availability', 'events', 'stats', 'config', 'snapshot', 'source', 'event', 'learn', 'cmd', 'clips', 'webrtc'];

/** One camera of the device: its id, its source, and its own values over the device-wide ones. */
export const CameraSchema = z.object({
  id: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, 'a camera id: 1-64 of a-z, A-Z, 0-9, _ and -')
    .refine((id) => !RESERVED_CAMERA_IDS.includes(id), { message: `a camera id cannot be one of ${RESERVED_CAMERA_IDS.join(', ')} (topic names of the device)` })
    .describe('the camera\'s id: its topics are sfn/<device>/<id>/..., its clips go to <clips>/<id>/'),
  source: z.string().min(1).max(2048).describe('frame source (folder, file, URL, /dev/videoN)'),
  model: z.string().min(1).max(2048).optional().describe('ONNX model file (default: the device-wide model); cameras with the same model share one ONNX Runtime session'),
  threshold: overridesOf(ThresholdValues, 'thresholds').optional(),
  clips: overridesOf(Clips, 'clip recording').optional(),
  captions: overridesOf(Captions, 'captions').optional(),
  streaming: overridesOf(Streaming, 'streaming').optional(),
}).strict();

/** One entry of `cameras`. */
export type CameraConfig = z.infer<typeof CameraSchema>;

/** The configuration schema (strict at every level). */
export const RuntimeConfigSchema = z.object({
  threshold: Thresholds.default({ on: 4, off: 2, confirm: 'off', fpr: 0.01 }).describe('hysteresis thresholds on the smoothed score'),
  min_duration_frames: z.number().int().min(1).max(10_000).default(8).describe('frames the score must stay above `off` (after reaching `on`) before an event is reported'),
  smoothing_sigma: z.number().min(0).max(50).default(3).describe('causal Gaussian smoothing of the normalised score, in frames (0 = off)'),
  measure: z.enum(['patch-max', 'mse']).default('patch-max').describe('per-frame error: the largest window MSE (a calibrated model: over its calibration grid, 16 px windows at stride 8 on 144x96; otherwise 16 px at stride 16), or the whole-frame MSE'),
  baseline_window: z.number().int().min(10).max(100_000).default(300).describe('recent normal frames in the running median/MAD baseline'),
  baseline_warmup: z.number().int().min(1).max(100_000).default(20).describe('frames needed before scores (and events) are produced'),
  update_every_frames: z.number().int().min(1).max(100_000).default(25).describe('frames between `update` messages of an active event'),
  semantic_weight: z.number().min(0).max(1).default(0.2).describe('models with the semantic branch: weight w of the semantic error (1 - cos of the caption features) in the online score, z = z_frame + w z_semantic, each a robust z-score against its calibration on normal video (`sfn-edge calibrate`), or against its own running baseline without one (0 = frame error only)'),
  clips: Clips.default({ enabled: true, pre_roll_s: 3, post_roll_s: 2, max_event_s: 120, budget_mb: 1024, from: 'source', segments_mb: 256 }).describe('clip recording'),
  stats_interval_s: z.number().min(1).max(3600).default(10).describe('seconds between `stats` messages'),
  source: z.string().min(1).max(2048).optional().describe('frame source (folder, file, URL, /dev/videoN); a change reopens the source (default: --source)'),
  captions: Captions.default({ enabled: true, captioner: 'detector', every_frames: 0 }).describe('on-device captions of events (src/caption)'),
  streaming: Streaming.default({ enabled: true, ice_servers: [], session_timeout_s: 600, live_fps: 15, live_max_height: 720, loop_clips: false }).describe('WebRTC streaming of flagged clips and the live view (src/stream)'),
  broker: z.union([BrokerUrl, z.array(BrokerUrl).min(1).max(16)]).optional().describe('MQTT broker URL, or the nodes of one broker cluster: the device connects to one and moves to the next when its node goes away. Set in the --config file only: config/set refuses it, so no remote message can move the device to another broker (default: --broker, else the embedded broker)'),
  model: z.string().min(1).max(2048).optional().describe('ONNX model file (manifest beside it) with the same grid and colour mode, e.g. the fp16 or int8 variant; loaded and checked before it is acknowledged (default: --model)'),
  cameras: z.array(CameraSchema).min(1).max(32).optional().describe('the cameras of the device, each its own pipeline in the one process, with the values above as defaults (a camera sets its own source, model, threshold, clips, captions, streaming). Set in the --config file only. Unset: one camera from --source, on the device\'s own topics'),
}).strict()
  .refine((c) => c.baseline_warmup <= c.baseline_window, { message: 'baseline_warmup must be <= baseline_window', path: ['baseline_warmup'] })
  .refine((c) => new Set((c.cameras ?? []).map((k) => k.id)).size === (c.cameras ?? []).length, { message: 'camera ids must be distinct', path: ['cameras'] })
  .describe('sfn-edge runtime configuration (sfn/<device>/config/set takes any part of it)');

/** The validated configuration. */
export type RuntimeConfig = z.infer<typeof RuntimeConfigSchema>;

/**
 * A camera's configuration: the device-wide values (`device`, without `cameras`) with the camera's
 * own source, model, threshold, clips, captions and streaming over them, validated as a whole.
 * @throws Error `cameras.<id>: ...` when the merged values are invalid (e.g. its threshold.off above the device's on).
 */
export function cameraConfig(device: RuntimeConfig, cam: CameraConfig): RuntimeConfig {
  const { cameras: _all, ...base } = device;
  const { id, ...own } = cam;
  const r = RuntimeConfigSchema.safeParse(deepMerge(base as Record<string, unknown>, own as Record<string, unknown>));
  if (!r.success) throw new Error(`cameras.${id}: ${describeIssues(r.error)}`);
  return r.data;
}

/** The defaults. */
export function defaultConfig(): RuntimeConfig {
  return RuntimeConfigSchema.parse({});
}

/** What secrets are replaced with in published copies of the configuration. */
export const REDACTED = '(set, not shown)';

/**
 * A copy of a configuration layer (any JSON object) fit to log: the values of keys named like a
 * secret (`token`, `credential`, `password`, `secret`) are replaced by {@link REDACTED}, at any depth.
 */
export function redactLayer(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(redactLayer);
  if (v === null || typeof v !== 'object') return v;
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, /token|credential|password|secret/i.test(k) && x !== undefined ? REDACTED : redactLayer(x)]));
}

/**
 * A copy of `c` fit to publish (`config/state` is retained and readable by every client of the
 * broker): the streaming token and TURN credentials (the device's and each camera's) are replaced by {@link REDACTED}.
 */
export function redactSecrets(c: RuntimeConfig): RuntimeConfig {
  const s = c.streaming;
  return {
    ...c,
    streaming: {
      ...s,
      ...(s.token !== undefined ? { token: REDACTED } : {}),
      ice_servers: s.ice_servers.map((i) => (i.credential !== undefined ? { ...i, credential: REDACTED } : i)),
    },
    ...(c.cameras ? { cameras: redactLayer(c.cameras) as CameraConfig[] } : {}),
  };
}

/** JSON Schema of the configuration (draft 2020-12), for the repo and for remote tools. */
export function configJsonSchema(): unknown {
  return z.toJSONSchema(RuntimeConfigSchema, { io: 'input' });
}

function isPlain(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Keys refused anywhere in a configuration payload: `JSON.parse` makes `"__proto__"` an own key, and
 * merging it would set the prototype of the merged object (prototype pollution), so that
 * `{"__proto__":{"source":"/etc/passwd"}}` would change `source` past the schema.
 */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** The path of the first {@link FORBIDDEN_KEYS} key in `v` (depth first), or null. */
export function forbiddenKeyPath(v: unknown, path: string[] = []): string | null {
  if (typeof v !== 'object' || v === null) return null;
  for (const k of Object.keys(v)) {
    if (FORBIDDEN_KEYS.has(k)) return [...path, k].join('.');
    const inner = forbiddenKeyPath((v as Record<string, unknown>)[k], [...path, k]);
    if (inner) return inner;
  }
  return null;
}

/**
 * Deep merge of plain objects (`patch` wins; arrays and scalars are replaced). Inputs are not
 * modified; {@link FORBIDDEN_KEYS} in `patch` are skipped.
 */
export function deepMerge(base: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(patch)) {
    if (FORBIDDEN_KEYS.has(k)) continue;
    const b = out[k];
    out[k] = isPlain(b) && isPlain(v) ? deepMerge(b, v) : v;
  }
  return out;
}

/** Result of {@link applyPatch}. */
export type PatchResult = { ok: true; config: RuntimeConfig; patch: Record<string, unknown> } | { ok: false; error: string };

function describeIssues(err: z.ZodError): string {
  return err.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`).join('; ');
}

/**
 * Validates a `config/set` payload against the running configuration.
 * @param payload raw bytes (UTF-8 JSON object, at most {@link MAX_CONFIG_BYTES}).
 * @param current the running configuration (not modified).
 * @returns the new full configuration and the parsed patch, or the reason for refusing it
 *   (oversized, malformed JSON, not an object, a {@link FORBIDDEN_KEYS} key, unknown keys, wrong
 *   types, out of range).
 */
export function applyPatch(payload: Uint8Array | string, current: RuntimeConfig): PatchResult {
  const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.byteLength;
  if (size > MAX_CONFIG_BYTES) return { ok: false, error: `payload too large: ${size} bytes (limit ${MAX_CONFIG_BYTES})` };
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof payload === 'string' ? payload : Buffer.from(payload).toString('utf8'));
  } catch (err) {
    return { ok: false, error: `malformed JSON: ${(err as Error).message}` };
  }
  if (!isPlain(parsed)) return { ok: false, error: 'the payload must be a JSON object' };
  const bad = forbiddenKeyPath(parsed);
  if (bad) return { ok: false, error: `${bad}: the keys __proto__, constructor and prototype are refused` };
  const merged = deepMerge(current as unknown as Record<string, unknown>, parsed);
  const r = RuntimeConfigSchema.safeParse(merged);
  if (!r.success) return { ok: false, error: describeIssues(r.error) };
  return { ok: true, config: r.data, patch: parsed };
}

/** The broker URL(s) of a configuration as the reporter takes them (comma-separated), or undefined. */
export function brokerOf(c: RuntimeConfig): string | undefined {
  return c.broker === undefined ? undefined : Array.isArray(c.broker) ? c.broker.join(',') : c.broker;
}

/**
 * Loads a configuration layer file (a partial configuration, JSON), e.g. `run --config`.
 * @throws Error naming the file when it is missing (a typo must not run on the defaults unnoticed),
 *   unreadable, not JSON, or has invalid values.
 */
export async function loadLayer(file: string, base: RuntimeConfig): Promise<{ config: RuntimeConfig; layer: Record<string, unknown> }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`${file}: no such configuration file; give the path of an existing JSON file (schema: schemas/runtime-config.schema.json), or leave --config out for the defaults`, { cause: err });
    throw new Error(`${file}: cannot read the configuration: ${(err as Error).message}`, { cause: err });
  }
  const r = applyPatch(text, base);
  if (!r.ok) throw new Error(`${file}: invalid configuration: ${r.error}`);
  return { config: r.config, layer: r.patch };
}

/**
 * Writes `data` as JSON to `file` atomically (temp file in the same folder, then rename), readable by
 * its owner only (mode 0600 by default: the remote layer can hold the streaming token and TURN
 * credentials).
 */
export async function writeJsonAtomic(file: string, data: unknown, mode = 0o600): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(tmp, `${JSON.stringify(data, null, 2)}\n`, { mode });
  await chmod(tmp, mode); // the umask may have narrowed it, never widened it; make it exact
  await rename(tmp, file);
}
