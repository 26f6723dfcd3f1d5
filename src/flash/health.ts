/**
 * The health wait after a flash: the device is up when its `sfn/<id>/availability` turns `online`
 * and a first `stats` message arrives, both published live after the switch (messages the broker
 * replays as retained at subscription time, e.g. the old version's `online`, do not count).
 * A `stats` message counts only after that `online` (the old version may still publish stats until
 * it is stopped), and, when the bundle's model sha256 is known, only when it names that model.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { deviceTopic, TOPICS } from '../mqtt/topics.js';

/** When the device came up, in seconds after {@link HealthWatch.arm}. */
export interface Health {
  online_s: number;
  stats_s: number;
  provider: string | null;
}

/** A subscription to one device's availability and stats, opened before the switch. */
export class HealthWatch {
  private armed = 0;
  private online: number | null = null;
  private stats: { t: number; provider: string | null } | null = null;
  private wake: (() => void) | null = null;

  private constructor(
    readonly client: MqttClient,
    readonly deviceId: string,
    private modelSha256: string | null,
  ) {
    client.on('message', (topic, payload, packet) => {
      if (!this.armed || packet.retain) return;
      const now = Date.now();
      if (topic.endsWith('/availability')) {
        if (payload.toString() === 'online') this.online ??= now;
        else {
          // offline (the old version stopping, or a crash loop): wait for the next online and its stats
          this.online = null;
          this.stats = null;
        }
      } else if (topic.endsWith('/stats') && this.stats === null && this.online !== null) {
        // only stats after a live `online` count: the old version may still publish until it stops
        let s: { model?: { sha256?: string }; provider?: string } = {};
        try {
          s = JSON.parse(payload.toString()) as typeof s;
        } catch {
          return;
        }
        if (this.modelSha256 && s.model?.sha256 && s.model.sha256 !== this.modelSha256) return;
        this.stats = { t: now, provider: s.provider ?? null };
      }
      this.wake?.();
    });
  }

  /**
   * Connects to `url` and subscribes to the device's availability and stats.
   * @throws Error when the broker does not accept the connection within 10 s (says which broker).
   */
  static async open(url: string, deviceId: string, modelSha256: string | null = null): Promise<HealthWatch> {
    const client = await mqtt.connectAsync(url, { connectTimeout: 10_000, reconnectPeriod: 1000, clientId: `sfn-flash-${process.pid}-${Date.now().toString(36)}` }).catch((err: unknown) => {
      throw new Error(`cannot watch the device's health: MQTT broker ${url} does not answer (${(err as Error).message}); pass --watch-broker <url> as this host reaches the broker`);
    });
    const w = new HealthWatch(client, deviceId, modelSha256);
    await client.subscribeAsync([deviceTopic(deviceId, TOPICS.availability), deviceTopic(deviceId, TOPICS.stats)], { qos: 1 });
    return w;
  }

  /**
   * Starts counting: messages from now on count. Call right before the new version starts.
   * `modelSha256` (when given) replaces the model the stats must name (null: any model).
   */
  arm(modelSha256?: string | null): void {
    if (modelSha256 !== undefined) this.modelSha256 = modelSha256;
    this.armed = Date.now();
    this.online = null;
    this.stats = null;
  }

  /**
   * Waits until the device is online and has sent stats (after {@link arm}), or `timeoutMs` passes.
   * @returns the times, or null on timeout.
   */
  async wait(timeoutMs: number): Promise<Health | null> {
    const deadline = Date.now() + timeoutMs;
    while (!(this.online !== null && this.stats !== null)) {
      const left = deadline - Date.now();
      if (left <= 0) return null;
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.wake = () => {
          clearTimeout(t);
          r();
        };
      });
    }
    return { online_s: (this.online - this.armed) / 1000, stats_s: (this.stats.t - this.armed) / 1000, provider: this.stats.provider };
  }

  /** What was seen so far, for the error message of a timeout. */
  seen(): string {
    return `availability online: ${this.online !== null ? 'yes' : 'no'}, stats: ${this.stats !== null ? 'yes' : 'no'}`;
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}
