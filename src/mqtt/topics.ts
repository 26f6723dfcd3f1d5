/**
 * Every MQTT topic of a device, in one table: the topics under `sfn/<device_id>/` and the
 * subscription filters built from them. The reporter (reporter.ts), the WebRTC side (src/webrtc),
 * `run` (src/runtime) and `flash` health checks name topics only through this file.
 *
 * | topic            | dir | QoS | retained | payload |
 * | ---------------- | --- | --- | -------- | ------- |
 * | `availability`   | out | 1   | yes      | `online`; last will `offline`; republished on every (re)connect |
 * | `events`         | out | 1   | no       | lifecycle JSON (events/detector.ts `AnomalyEvent`), through the on-disk outbox |
 * | `events/<id>/clip` | out | 1 | no       | the clip and snapshot of an event, once both files are complete, through the outbox |
 * | `events/<id>/description` | out | 1 | no | the event's caption (enrichment), through the outbox |
 * | `stats`          | out | 0   | no       | `{fps, skipped_fps, inference_ms, provider, model, ...}` every `stats_interval_s` |
 * | `config/state`   | out | 1   | yes      | `{version, config}`: the applied configuration |
 * | `config/ack`     | out | 1   | no       | `{version, ok, error}` for each `config/set` |
 * | `snapshot`       | out | 1   | no       | `{frame, time, path}`: a JPEG of the newest frame, after `cmd/snapshot` |
 * | `source/state`   | out | 1   | yes      | `{state: up|down|reconnecting, since, reason, source}` on each change (runtime/source-state.ts) |
 * | `event/state`    | out | 1   | yes      | `{active, id, since}`: set on each event's `new` and `end` (Home Assistant's "event active") |
 * | `learn/state`    | out | 1   | yes      | progress of `cmd/learn` (`{state: running, stage, percent, eta_s}`), then its result or error (learn/service.ts) |
 * | `learn/ack`      | out | 1   | no       | `{ok, id, error}` for each `cmd/learn` (refused with the reason while one runs) |
 * | `homeassistant/…/config` | out | 1 | yes | Home Assistant discovery (discovery.ts; not under `sfn/<device>/`) |
 * | `config/set`     | in  | 1   |          | a partial configuration (JSON, <= 64 KiB) |
 * | `cmd/<name>`     | in  | 1   |          | commands from the handler table (`snapshot`, `restart-source`, `learn` with `{"minutes": N}`) |
 * | `clips`          | out | 1   | yes      | the clip catalog (webrtc/catalog.ts) |
 * | `webrtc/<session>/{offer,candidate,close}` | in | 1 | | a viewer's WebRTC signalling (webrtc/signalling.ts) |
 * | `webrtc/<session>/{answer,candidate/device,closed}` | out | 1 | no | the device's side of it |
 *
 * **Cameras.** A device with a `cameras` list (core/runtime-config.ts) runs one pipeline per
 * camera; each camera's topics are the rows above under `sfn/<device>/<camera>/` instead of
 * `sfn/<device>/` ({@link cameraScope}: the functions here take the scope `<device>/<camera>` where
 * they take a device). The device keeps `availability` (with the last will) and
 * `config/{set,state,ack}` for the device-wide values; each camera has its own `availability`
 * (`online` while its pipeline runs, `offline` when it failed to start or the run ended), its own
 * `config/*`, `cmd/*`, events, states, stats, clip catalog and WebRTC sessions, and its own Home
 * Assistant device. `--source` alone (no `cameras`, no `--camera-id`) is one camera on the
 * device's own topics, as before.
 */

/** The first level of every device topic. */
export const TOPIC_ROOT = 'sfn';

/** The topic suffixes under `sfn/<device>/` (see the table above). */
export const TOPICS = {
  availability: 'availability',
  events: 'events',
  stats: 'stats',
  configSet: 'config/set',
  configState: 'config/state',
  configAck: 'config/ack',
  snapshot: 'snapshot',
  sourceState: 'source/state',
  eventState: 'event/state',
  learnState: 'learn/state',
  learnAck: 'learn/ack',
  cmdSnapshot: 'cmd/snapshot',
  cmdRestartSource: 'cmd/restart-source',
  cmdLearn: 'cmd/learn',
  clips: 'clips',
} as const;
/** One of {@link TOPICS}. */
export type TopicSuffix = (typeof TOPICS)[keyof typeof TOPICS];

/** `sfn/<device>`, the prefix of every topic of the device. */
export function deviceBase(device: string): string {
  return `${TOPIC_ROOT}/${device}`;
}

/**
 * The topic scope of a camera: `<device>/<camera>`, so that `deviceTopic(cameraScope(d, c), s)` is
 * `sfn/<d>/<c>/<s>` (see the file comment).
 */
export function cameraScope(device: string, camera: string): string {
  return `${device}/${camera}`;
}

/** `sfn/<device>/<suffix>`. */
export function deviceTopic(device: string, suffix: TopicSuffix): string {
  return `${deviceBase(device)}/${suffix}`;
}

/** The part of `topic` after `sfn/<device>/`, or null for a topic of another device. */
export function suffixOf(device: string, topic: string): string | null {
  const base = `${deviceBase(device)}/`;
  return topic.startsWith(base) ? topic.slice(base.length) : null;
}

/** `sfn/<device>/events/<id>/clip`: an event's clip and snapshot, once both files are complete. */
export function eventClipTopic(device: string, eventId: string): string {
  return `${deviceTopic(device, TOPICS.events)}/${eventId}/clip`;
}

/** `sfn/<device>/events/<id>/description`: an event's caption. */
export function eventDescriptionTopic(device: string, eventId: string): string {
  return `${deviceTopic(device, TOPICS.events)}/${eventId}/description`;
}

/** Topic leaves of a WebRTC session: in from the viewer, out from the device. */
export const WEBRTC_LEAVES = {
  offer: 'offer',
  candidate: 'candidate',
  close: 'close',
  answer: 'answer',
  deviceCandidate: 'candidate/device',
  closed: 'closed',
} as const;
/** One of {@link WEBRTC_LEAVES}. */
export type WebrtcLeaf = (typeof WEBRTC_LEAVES)[keyof typeof WEBRTC_LEAVES];

/** `sfn/<device>/webrtc`, the prefix of the WebRTC signalling topics. */
function webrtcBase(device: string): string {
  return `${deviceBase(device)}/webrtc`;
}

/** `sfn/<device>/webrtc/<session>/<leaf>`. */
export function webrtcTopic(device: string, session: string, leaf: WebrtcLeaf): string {
  return `${webrtcBase(device)}/${session}/${leaf}`;
}

/** `sfn/<device>/webrtc/+/<leaf>`: the filter for one leaf of every session. */
export function webrtcFilter(device: string, leaf: WebrtcLeaf): string {
  return `${webrtcBase(device)}/+/${leaf}`;
}

/** The session and leaf of `sfn/<device>/webrtc/<session>/<leaf>` (one level), or null. */
export function parseWebrtcTopic(device: string, topic: string): { session: string; leaf: string } | null {
  const base = `${webrtcBase(device)}/`;
  if (!topic.startsWith(base)) return null;
  const [session, leaf, ...rest] = topic.slice(base.length).split('/');
  return session === undefined || leaf === undefined || rest.length ? null : { session, leaf };
}

/** Home Assistant discovery: `<prefix>/<component>/<object id>/<entity>/config`. */
export function discoveryTopic(prefix: string, component: 'sensor' | 'binary_sensor', objectId: string, entity: string): string {
  return `${prefix}/${component}/${objectId}/${entity}/config`;
}
