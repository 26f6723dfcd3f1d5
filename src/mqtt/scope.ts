/**
 * A camera's topics on the device's one MQTT connection (topics.ts "Cameras"): the reporter's
 * publishing and handler table, scoped to `sfn/<device>/<camera>/`. Events, clip announcements and
 * captions go through the device's one outbox (so their order across cameras is the order they
 * were made). On every (re)connect the reporter subscribes each scope's `config/set` and `cmd/*`,
 * then the scope publishes its retained `config/state`, its Home Assistant discovery and its
 * `availability`.
 */
import type { MqttClient } from 'mqtt';
import { discoveryMessages } from './discovery.js';
import type { Outbox } from './outbox.js';
import { cameraScope, deviceTopic, eventClipTopic, eventDescriptionTopic, TOPICS, type TopicSuffix } from './topics.js';

/** Acknowledgement of a configuration change (`config/ack`). */
export interface ConfigAck {
  version: number;
  ok: boolean;
  error: string | null;
}

/** Commands taken on `cmd/<name>`. */
export type CommandName = 'snapshot' | 'restart-source' | 'learn';

/** What the reporter needs from the runtime, for the device or for one camera. */
export interface RuntimeHooks {
  /** the applied configuration and its version (for `config/state`) */
  configState(): { version: number; config: unknown };
  /** validates and applies a `config/set` payload (nothing changes when refused) */
  applyConfig(payload: Buffer): Promise<ConfigAck>;
  /** runs a command from `cmd/<name>`; unknown names never reach it */
  command(name: CommandName, payload: Buffer): Promise<void>;
}

/** What a camera pipeline publishes on (the device's reporter for `--source` alone, else its scope). */
export interface ReportChannel {
  /** the topic scope: the device id, or `<device>/<camera>` */
  readonly scope: string;
  readonly hooks: RuntimeHooks;
  /** publishes JSON on `sfn/<scope>/<suffix>` */
  publishJson(suffix: TopicSuffix, data: unknown, o: { qos: 0 | 1; retain: boolean }): Promise<void>;
  /** publishes the retained `config/state` */
  publishConfigState(): Promise<void>;
  /** stores a lifecycle message in the outbox for `events` */
  publishEvent(event: unknown): Promise<void>;
  /** stores a clip announcement in the outbox for `events/<id>/clip` */
  publishClip(eventId: string, clip: unknown): Promise<void>;
  /** stores a caption in the outbox for `events/<id>/description` */
  publishDescription(eventId: string, description: unknown): Promise<void>;
  /** publishes `stats` (QoS 0; dropped while offline) */
  publishStats(stats: unknown): void;
}

/** One camera's topics (see the file comment). */
export class ReporterScope implements ReportChannel {
  readonly scope: string;
  /** whether the camera runs (`availability` `online`); false: `offline` (it failed to start, or it stopped) */
  available = true;

  constructor(
    private readonly client: MqttClient,
    private readonly outbox: Outbox,
    readonly deviceId: string,
    readonly camera: string,
    readonly hooks: RuntimeHooks,
  ) {
    this.scope = cameraScope(deviceId, camera);
  }

  async publishJson(suffix: TopicSuffix, data: unknown, o: { qos: 0 | 1; retain: boolean }): Promise<void> {
    await this.client.publishAsync(deviceTopic(this.scope, suffix), JSON.stringify(data), o);
  }

  async publishConfigState(): Promise<void> {
    await this.publishJson(TOPICS.configState, this.hooks.configState(), { qos: 1, retain: true });
  }

  async publishEvent(event: unknown): Promise<void> {
    await this.outbox.enqueue(deviceTopic(this.scope, TOPICS.events), JSON.stringify(event));
  }

  async publishClip(eventId: string, clip: unknown): Promise<void> {
    await this.outbox.enqueue(eventClipTopic(this.scope, eventId), JSON.stringify(clip));
  }

  async publishDescription(eventId: string, description: unknown): Promise<void> {
    await this.outbox.enqueue(eventDescriptionTopic(this.scope, eventId), JSON.stringify(description));
  }

  publishStats(stats: unknown): void {
    if (this.client.connected) this.publishJson(TOPICS.stats, stats, { qos: 0, retain: false }).catch(() => undefined);
  }

  /** Sets and publishes the camera's retained `availability`. */
  async setAvailable(on: boolean): Promise<void> {
    this.available = on;
    if (this.client.connected) await this.client.publishAsync(deviceTopic(this.scope, TOPICS.availability), on ? 'online' : 'offline', { qos: 1, retain: true });
  }

  /** After a (re)connect: the retained `config/state`, the camera's Home Assistant discovery, its `availability`. */
  async announce(): Promise<void> {
    await this.publishConfigState();
    for (const d of discoveryMessages(this.deviceId, 'homeassistant', this.camera)) await this.client.publishAsync(d.topic, JSON.stringify(d.payload), { qos: 1, retain: true });
    await this.client.publishAsync(deviceTopic(this.scope, TOPICS.availability), this.available ? 'online' : 'offline', { qos: 1, retain: true });
  }
}
