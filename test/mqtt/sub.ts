/** A recording MQTT subscriber for tests, with `waitFor` (generous timeouts, no timing assertions). */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';

export interface Received {
  topic: string;
  text: string;
  retain: boolean;
}

export class Recorder {
  readonly got: Received[] = [];
  private waiters: (() => void)[] = [];
  private constructor(readonly client: MqttClient) {
    client.on('message', (topic, payload, packet) => {
      this.got.push({ topic, text: payload.toString(), retain: packet.retain });
      for (const w of this.waiters.splice(0)) w();
    });
  }

  /** Connects (MQTT 3.1.1) and subscribes to `filter` with QoS 1. */
  static async open(url: string, filter: string, opts: IClientOptions = {}): Promise<Recorder> {
    const client = await mqtt.connectAsync(url, { protocolVersion: 4, reconnectPeriod: 200, ...opts });
    const r = new Recorder(client);
    await client.subscribeAsync(filter, { qos: 1 });
    return r;
  }

  /** Messages on a topic, in arrival order. */
  on(topic: string): Received[] {
    return this.got.filter((m) => m.topic === topic);
  }

  /** Resolves when `pred` holds for the messages received; rejects after `timeoutMs` with `what`. */
  async waitFor(what: string, pred: (got: Received[]) => boolean, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred(this.got)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.got.map((m) => [m.topic, m.text.slice(0, 80)]))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 500));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}
