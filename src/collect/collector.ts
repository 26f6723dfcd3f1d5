/**
 * The central consumer: subscribes to every device's events, descriptions, clip catalog,
 * availability and source state through an MQTT 5 shared subscription (`$share/<group>/...`),
 * so several collectors split the load, and writes them to a {@link Store}. A payload that is not
 * JSON or fails its schema is logged at warn and dropped.
 *
 * Nothing is lost when a collector dies: a message is acknowledged (PUBACK) only after the
 * transaction that stores it commits, and the sessions are persistent under stable client ids, so
 * the broker keeps what was unacknowledged or queued for them and delivers it when the collector
 * comes back (docs/fleet.md, "A collector that dies"). MQTT.js hands a client's messages over one at
 * a time, so a collector opens several connections (share-group members) and one
 * {@link BatchWriter} commits what they hold together.
 */
import os from 'node:os';
import mqtt, { type MqttClient } from 'mqtt';
import { RESERVED_CAMERA_IDS } from '../core/runtime-config.js';
import { log } from '../util/log.js';
import { BatchWriter } from './batch.js';
import { clipSchema, descriptionSchema, eventSchema, sourceStateSchema } from './schemas.js';
import type { Store, StoredMessage } from './store.js';

/** How long the broker keeps a collector connection's session after it goes away, s. */
export const SESSION_EXPIRY_S = 3600;
/** Unacknowledged messages the broker may send one connection (MQTT 5 Receive Maximum). */
export const RECEIVE_MAXIMUM = 100;
/** Tries of a store write before the message is left unacknowledged, and the pause between, ms. */
export const STORE_TRIES = 30;
export const STORE_RETRY_MS = 1000;

/** Largest payload stored, bytes; larger ones are dropped. */
export const MAX_PAYLOAD_BYTES = 1 << 20;

/** What one message becomes: a stored message row, or a device's last availability / source state. */
type Parsed =
  | { row: StoredMessage }
  | { device: { field: 'availability' | 'source_state'; value: string } };

/** Parses and checks one payload. @throws Error for a payload that is not JSON or fails its schema. */
type Handler = (device: string, eventId: string | null, payload: Buffer, nowMs: number) => Parsed;

function json(payload: Buffer): unknown {
  return JSON.parse(payload.toString('utf8'));
}

function timeOf(t: string, nowMs: number): number {
  const ms = Date.parse(t);
  return Number.isFinite(ms) ? ms : nowMs;
}

/** The camera a message names: `camera_id` (a camera on its own topics) or `camera`. */
function cameraOf(o: Record<string, unknown>): string | null {
  for (const k of ['camera_id', 'camera']) if (typeof o[k] === 'string') return o[k] as string;
  return null;
}

/** Handler keys that a camera on its own topics (`sfn/<device>/<camera>/<key>`) also publishes and the collector stores per camera. */
export const CAMERA_KEYS: readonly string[] = ['events', 'events/+/description', 'events/+/clip'];
/** First words of the device's own topics: never camera ids (the runtime refuses them as ids). */
const DEVICE_WORDS = new Set(RESERVED_CAMERA_IDS);

/** The one handler table: topic pattern under `sfn/+/` -> handler. Subscriptions derive from its keys. */
export const COLLECT_HANDLERS: Readonly<Record<string, Handler>> = {
  events: (device, _id, payload, nowMs) => {
    const e = eventSchema.parse(json(payload));
    return { row: { device, kind: 'event', event_id: e.id, seq: e.seq, time_ms: timeOf(e.last.time, nowMs), camera: cameraOf(e), score: e.peak.score, payload: payload.toString('utf8') } };
  },
  'events/+/description': (device, id, payload, nowMs) => {
    const d = descriptionSchema.parse(json(payload));
    if (d.event_id !== id) throw new Error(`event_id ${d.event_id} does not match the topic's ${id}`);
    return { row: { device, kind: 'description', event_id: d.event_id, seq: d.stage === 'start' ? -1 : -2, time_ms: timeOf(d.time, nowMs), camera: cameraOf(d), score: null, payload: payload.toString('utf8') } };
  },
  'events/+/clip': (device, id, payload, nowMs) => {
    const c = clipSchema.parse(json(payload));
    if (c.event_id !== id) throw new Error(`event_id ${c.event_id} does not match the topic's ${id}`);
    return { row: { device, kind: 'clip', event_id: c.event_id, seq: -3, time_ms: nowMs, camera: cameraOf(c), score: null, payload: payload.toString('utf8') } };
  },
  availability: (_device, _id, payload) => {
    const v = payload.toString('utf8');
    if (v !== 'online' && v !== 'offline') throw new Error('availability is neither online nor offline');
    return { device: { field: 'availability', value: v } };
  },
  'source/state': (_device, _id, payload) => ({ device: { field: 'source_state', value: JSON.stringify(sourceStateSchema.parse(json(payload))) } }),
};

/**
 * Splits `sfn/<device>/<rest>` or `sfn/<device>/<camera>/<rest>` into the handler key and its
 * parts, or null for other topics. A camera's availability and source state are not routed (the
 * store keeps those per device).
 */
export function route(topic: string): { key: string; device: string; eventId: string | null; camera: string | null } | null {
  const parts = topic.split('/');
  if (parts.length < 3 || parts[0] !== 'sfn' || !parts[1]) return null;
  const device = parts[1];
  let rest = parts.slice(2);
  let camera: string | null = null;
  if (rest.length >= 2 && !DEVICE_WORDS.has(rest[0]!)) {
    camera = rest[0]!;
    rest = rest.slice(1);
  }
  const r = rest.length === 3 && rest[0] === 'events' && rest[1] ? { key: `events/+/${rest[2]}`, device, eventId: rest[1], camera } : { key: rest.join('/'), device, eventId: null, camera };
  if (camera !== null && !CAMERA_KEYS.includes(r.key)) return null;
  return r;
}

export interface CollectorOptions {
  /** broker URL (mqtt://, mqtts://, ws://) */
  broker: string;
  /** share group name; collectors with the same group split the messages */
  group: string;
  store: Store;
  /**
   * base client id, stable across restarts (connection i is `<clientId>-<i>`), so a restarted
   * collector resumes its sessions and gets what the broker kept for them; each collector of a
   * group needs its own. Default `sfn-collect-<hostname>`.
   */
  clientId?: string;
  /** connections (share-group members) of this collector, 1..64; default {@link DEFAULT_CONNECTIONS} */
  connections?: number;
}

/** Connections a collector opens by default. */
export const DEFAULT_CONNECTIONS = 32;

/** Counters since start; `failed`: messages left unacknowledged after {@link STORE_TRIES} store errors. */
export interface CollectorStats { received: number; stored: number; duplicates: number; dropped: number; failed: number }

/** Checks a base client id. @throws Error unless it is 1..60 of A-Z a-z 0-9 . _ - */
export function checkClientId(id: string): string {
  if (!/^[A-Za-z0-9._-]{1,60}$/.test(id)) throw new Error(`client id must be 1..60 of A-Z a-z 0-9 . _ -, got ${JSON.stringify(id)}`);
  return id;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Collector {
  private clients: MqttClient[] = [];
  private readonly writer: BatchWriter;
  private active = 0;
  private lastMessageMs = 0;
  private stopping = false;
  readonly stats: CollectorStats = { received: 0, stored: 0, duplicates: 0, dropped: 0, failed: 0 };

  /** @throws Error for a connection count outside 1..64 or an empty client id */
  constructor(private readonly opts: CollectorOptions) {
    const n = opts.connections ?? DEFAULT_CONNECTIONS;
    if (!Number.isInteger(n) || n < 1 || n > 64) throw new Error(`connections must be an integer in 1..64, got ${n}`);
    if (opts.clientId !== undefined) checkClientId(opts.clientId);
    this.writer = new BatchWriter(opts.store);
  }

  /** The subscription topics: one per handler, and the camera-scoped ones (`sfn/+/+/<key>`) of {@link CAMERA_KEYS}. */
  topics(): string[] {
    return [...Object.keys(COLLECT_HANDLERS).map((k) => `$share/${this.opts.group}/sfn/+/${k}`), ...CAMERA_KEYS.map((k) => `$share/${this.opts.group}/sfn/+/+/${k}`)];
  }

  /** Transactions committed and the rows they held. */
  get batches(): { batches: number; rows: number } {
    return { ...this.writer.stats };
  }

  /**
   * Connects every connection (MQTT 5, persistent session) and subscribes at QoS 1.
   * @throws Error when the broker refuses a connection or the subscription
   */
  async start(): Promise<void> {
    const base = this.opts.clientId ?? `sfn-collect-${os.hostname().replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 40)}`;
    const n = this.opts.connections ?? DEFAULT_CONNECTIONS;
    for (let i = 0; i < n; i++) this.clients.push(await this.connect(`${base}-${i}`));
  }

  private async connect(clientId: string): Promise<MqttClient> {
    const client = mqtt.connect(this.opts.broker, {
      protocolVersion: 5, clean: false, clientId, reconnectPeriod: 1000,
      properties: { sessionExpiryInterval: SESSION_EXPIRY_S, receiveMaximum: RECEIVE_MAXIMUM },
    });
    // set before the first packet: a resumed session's messages arrive right after CONNACK
    client.handleMessage = (packet, done) => {
      this.onMessage(packet.topic, packet.payload as Buffer).then(() => done(), (err: Error) => done(err));
    };
    try {
      await new Promise<void>((resolve, reject) => {
        client.once('connect', () => resolve());
        client.once('error', reject);
      });
    } catch (err) {
      client.end(true);
      throw new Error(`collect: broker ${this.opts.broker} refused ${clientId}: ${(err as Error).message}`);
    }
    client.on('error', (err) => log.warn({ err: err.message, clientId }, 'collect: mqtt error'));
    const granted = await client.subscribeAsync(this.topics(), { qos: 1 });
    const bad = granted.filter((g) => g.qos > 2);
    if (bad.length > 0) {
      client.end(true);
      throw new Error(`broker refused subscription(s): ${bad.map((g) => g.topic).join(', ')}`);
    }
    return client;
  }

  /** Stores one message; resolves when it may be acknowledged. @throws when it must not be (store down) */
  private async onMessage(topic: string, payload: Buffer): Promise<void> {
    this.stats.received++;
    this.lastMessageMs = Date.now();
    const r = route(topic);
    const handler = r ? COLLECT_HANDLERS[r.key] : undefined;
    if (!r || !handler) return;
    if (payload.length > MAX_PAYLOAD_BYTES) {
      this.stats.dropped++;
      log.warn({ topic, bytes: payload.length }, 'collect: payload too large, dropped');
      return;
    }
    const now = Date.now();
    let parsed: Parsed;
    try {
      parsed = handler(r.device, r.eventId, payload, now);
    } catch (err) {
      this.stats.dropped++;
      log.warn({ topic, err: (err as Error).message.slice(0, 500) }, 'collect: malformed message dropped');
      return;
    }
    this.active++;
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          if ('row' in parsed) {
            if (r.camera !== null) parsed.row.camera = r.camera; // the topic names the camera
            if (await this.writer.write(parsed.row)) this.stats.stored++;
            else this.stats.duplicates++;
          } else await this.opts.store.putDevice(r.device, parsed.device.field, parsed.device.value, now);
          return;
        } catch (err) {
          const msg = (err as Error).message.slice(0, 500);
          if (attempt >= STORE_TRIES || this.stopping) {
            this.stats.failed++;
            log.error({ topic, err: msg, attempt }, 'collect: message not stored, left unacknowledged (the broker redelivers it on reconnect)');
            throw err;
          }
          log.warn({ topic, err: msg, attempt }, 'collect: store error, retrying');
          await sleep(STORE_RETRY_MS);
        }
      }
    } finally {
      this.active--;
    }
  }

  /**
   * Leaves the share group and ends the sessions: unsubscribes (the broker sends this collector
   * nothing new), stores what it already holds (until 300 ms pass without a message, at most
   * `drainMs`), then disconnects with session expiry 0. The store stays open (the caller owns it).
   */
  async stop(drainMs = 5000): Promise<void> {
    const clients = this.clients;
    this.clients = [];
    // bounded: a connection that is down at this moment answers nothing
    await Promise.race([Promise.all(clients.map((c) => c.unsubscribeAsync(this.topics()).catch(() => undefined))), sleep(drainMs)]);
    const until = Date.now() + drainMs;
    while (Date.now() < until && (this.active > 0 || Date.now() - this.lastMessageMs < 300)) await sleep(50);
    this.stopping = true;
    await Promise.race([Promise.all(clients.map((c) => c.endAsync(false, { properties: { sessionExpiryInterval: 0 } }))), sleep(drainMs)]);
    for (const c of clients) if (!c.disconnected) c.end(true);
  }
}
