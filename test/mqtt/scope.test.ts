/**
 * Camera scopes on the device's one MQTT connection (src/mqtt/scope.ts, topics.ts "Cameras"),
 * against the embedded aedes broker: a camera's `config/set` and `cmd/*` reach that camera's hooks
 * only; the device takes only `config/set` once its topics no longer serve a camera; each scope
 * announces its `config/state` and `availability`, publishes under `sfn/<device>/<camera>/`, and
 * goes `offline` when the reporter closes. The camera ids that would shadow a device topic are
 * refused by the configuration (RESERVED_CAMERA_IDS), checked here against the topic table.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { defaultConfig, RESERVED_CAMERA_IDS } from '../../src/core/runtime-config.js';
import { MemoryOutboxStore } from '../../src/mqtt/outbox.js';
import { MqttReporter } from '../../src/mqtt/reporter.js';
import type { RuntimeHooks } from '../../src/mqtt/scope.js';
import { cameraScope, deviceTopic, TOPICS } from '../../src/mqtt/topics.js';
import { aedesBroker, type TestBroker } from './brokers.js';
import { Recorder } from './sub.js';

function hooks(name: string, seen: string[]): RuntimeHooks {
  return {
    configState: () => ({ version: 0, config: { name } }),
    applyConfig: async (p) => {
      seen.push(`${name} config ${p.toString()}`);
      return { version: 1, ok: true, error: null };
    },
    command: async (n) => void seen.push(`${name} cmd ${n}`),
  };
}

describe('camera scopes of the reporter', () => {
  let broker: TestBroker;
  before(async () => {
    broker = await aedesBroker();
  });
  after(async () => {
    await broker?.dispose();
  });

  it('the topic table and the reserved camera ids agree: no camera id shadows a device topic', () => {
    const first = new Set([...Object.values(TOPICS).map((t) => t.split('/')[0]!), 'webrtc']);
    for (const f of first) assert.ok(RESERVED_CAMERA_IDS.includes(f), `${f} must be a reserved camera id`);
    assert.equal(deviceTopic(cameraScope('dev', 'front'), TOPICS.events), 'sfn/dev/front/events');
    assert.ok(defaultConfig());
  });

  it('routes each camera\'s config/set and commands to its hooks, publishes under its scope, and goes offline on close', async () => {
    const device = `scoped-${process.pid}`;
    const seen: string[] = [];
    const sub = await Recorder.open(broker.url, `sfn/${device}/#`);
    const r = await MqttReporter.connect({ url: broker.url, deviceId: device, reconnectMs: 200, store: new MemoryOutboxStore(), hooks: hooks('device', seen), deviceIsCamera: false });
    try {
      const front = await r.addScope('front', hooks('front', seen));
      await r.addScope('yard', hooks('yard', seen), false);
      await sub.waitFor('announced', (g) => ['front', 'yard'].every((c) => g.some((m) => m.topic === `sfn/${device}/${c}/config/state`)) && g.some((m) => m.topic === `sfn/${device}/yard/availability` && m.text === 'offline'));
      assert.equal(sub.on(`sfn/${device}/front/availability`).at(-1)?.text, 'online');
      await sub.client.publishAsync(`sfn/${device}/front/config/set`, '{"a":1}', { qos: 1 });
      await sub.client.publishAsync(`sfn/${device}/yard/cmd/snapshot`, '', { qos: 1 });
      await sub.client.publishAsync(`sfn/${device}/cmd/snapshot`, '', { qos: 1 }); // the device serves no camera: ignored
      await sub.client.publishAsync(`sfn/${device}/config/set`, '{"d":1}', { qos: 1 });
      await sub.waitFor('handled', () => seen.length >= 3);
      await sub.waitFor('front ack', (g) => g.some((m) => m.topic === `sfn/${device}/front/config/ack`));
      assert.deepEqual(seen.sort(), ['device config {"d":1}', 'front config {"a":1}', 'yard cmd snapshot']);
      await front.publishEvent({ type: 'new', id: 'e1' });
      await sub.waitFor('event under the camera', (g) => g.some((m) => m.topic === `sfn/${device}/front/events`));
      await r.close(5000);
      await sub.waitFor('front offline', (g) => g.some((m) => m.topic === `sfn/${device}/front/availability` && m.text === 'offline'));
      assert.equal(sub.on(`sfn/${device}/availability`).at(-1)?.text, 'offline');
    } finally {
      await r.client.endAsync(true).catch(() => undefined);
      await sub.close();
    }
  });
});
