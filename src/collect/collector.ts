/**
 * The central consumer: subscribes to every device's events, descriptions, clip catalog,
 * availability and source state through an MQTT 5 shared subscription (`$share/<group>/...`),
 * so several collectors split the load, and writes them to a {@link Store}. A payload that is not
 * JSON or fails its schema is logged at warn and dropped.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { log } from '../util/log.js';
import { clipSchema, descriptionSchema, eventSchema, sourceStateSchema } from './schemas.js';
import type { Store, StoredMessage } from './store.js';

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

function cameraOf(o: Record<string, unknown>): string | null {
  return typeof o['camera'] === 'string' ? o['camera'] : null;
}

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

/** Splits `sfn/<device>/<rest>` into the handler key and its parts, or null for other topics. */
export function route(topic: string): { key: string; device: string; eventId: string | null } | null {
  const parts = topic.split('/');
  if (parts.length < 3 || parts[0] !== 'sfn' || !parts[1]) return null;
  const device = parts[1];
  const rest = parts.slice(2);
  if (rest.length === 3 && rest[0] === 'events' && rest[1]) return { key: `events/+/${rest[2]}`, device, eventId: rest[1] };
  return { key: rest.join('/'), device, eventId: null };
}

export interface CollectorOptions {
  /** broker URL (mqtt://, mqtts://, ws://) */
  broker: string;
  /** share group name; collectors with the same group split the messages */
  group: string;
  store: Store;
  clientId?: string;
}

/** Counters since start. */
export interface CollectorStats { received: number; stored: number; duplicates: number; dropped: number }

export class Collector {
  private client: MqttClient | null = null;
  readonly stats: CollectorStats = { received: 0, stored: 0, duplicates: 0, dropped: 0 };

  constructor(private readonly opts: CollectorOptions) {}

  /** The subscription topics, one per handler. */
  topics(): string[] {
    return Object.keys(COLLECT_HANDLERS).map((k) => `$share/${this.opts.group}/sfn/+/${k}`);
  }

  /**
   * Connects (MQTT 5, persistent session) and subscribes at QoS 1.
   * @throws Error when the broker refuses the connection or the subscription
   */
  async start(): Promise<void> {
    const client = await mqtt.connectAsync(this.opts.broker, {
      protocolVersion: 5, clean: false, clientId: this.opts.clientId ?? `sfn-collect-${Math.random().toString(16).slice(2, 10)}`,
      properties: { sessionExpiryInterval: 3600 }, reconnectPeriod: 1000,
    });
    this.client = client;
    client.on('message', (topic, payload) => void this.onMessage(topic, payload));
    client.on('error', (err) => log.warn({ err: err.message }, 'collect: mqtt error'));
    const granted = await client.subscribeAsync(this.topics(), { qos: 1 });
    const bad = granted.filter((g) => g.qos > 2);
    if (bad.length > 0) throw new Error(`broker refused subscription(s): ${bad.map((g) => g.topic).join(', ')}`);
  }

  private async onMessage(topic: string, payload: Buffer): Promise<void> {
    this.stats.received++;
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
    try {
      if ('row' in parsed) {
        if (await this.opts.store.put(parsed.row)) this.stats.stored++;
        else this.stats.duplicates++;
      } else await this.opts.store.putDevice(r.device, parsed.device.field, parsed.device.value, now);
    } catch (err) {
      this.stats.dropped++;
      log.warn({ topic, err: (err as Error).message.slice(0, 500) }, 'collect: message not stored (store error)');
    }
  }

  /** Disconnects; the store stays open (the caller owns it). */
  async stop(): Promise<void> {
    const c = this.client;
    this.client = null;
    if (c) await c.endAsync();
  }
}
