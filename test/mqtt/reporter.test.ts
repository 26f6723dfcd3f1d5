import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FileOutboxStore, MemoryOutboxStore } from '../../src/mqtt/outbox.js';
import { BrokerPortError, startEmbeddedBroker } from '../../src/mqtt/broker.js';
import { HANDLERS, MqttReporter } from '../../src/mqtt/reporter.js';
import { ConfigController } from '../../src/runtime/controller.js';
import { defaultConfig } from '../../src/core/runtime-config.js';
import { missingTools } from '../tools.js';
import { aedesBroker, mosquittoBroker, type TestBroker } from './brokers.js';
import { Recorder } from './sub.js';

const tmpDirs: string[] = [];
async function tmp(): Promise<string> {
  const d = await fs.mkdtemp(path.join(os.tmpdir(), 'sfn-rep-'));
  tmpDirs.push(d);
  return d;
}
after(async () => {
  for (const d of tmpDirs) await fs.rm(d, { recursive: true, force: true });
});

let devN = 0;
async function reporterFor(url: string, o: { store?: FileOutboxStore | MemoryOutboxStore; controller?: ConfigController } = {}) {
  const deviceId = `dev${++devN}-${process.pid}`;
  const controller = o.controller ?? (await ConfigController.open(undefined, null)).controller;
  const commands: string[] = [];
  const r = await MqttReporter.connect({
    url, deviceId, reconnectMs: 200, store: o.store ?? new MemoryOutboxStore(),
    hooks: { configState: () => controller.state(), applyConfig: (p) => controller.apply(p), command: async (n) => void commands.push(n) },
  });
  return { r, deviceId, controller, commands, base: `sfn/${deviceId}` };
}

const KINDS: ['aedes' | 'mosquitto', () => Promise<TestBroker>, string | false][] = [
  ['aedes', aedesBroker, false],
  ['mosquitto', mosquittoBroker, missingTools('mosquitto')],
];

for (const [kind, make, skip] of KINDS) {
  describe(`MQTT reporter against ${kind}`, { skip }, () => {
    let broker: TestBroker;
    before(async () => {
      broker = await make();
    });
    after(async () => {
      await broker?.dispose();
    });

    it('availability: retained online, last will offline when the socket dies, online again on reconnect', async () => {
      const { r, base } = await reporterFor(broker.url);
      const sub = await Recorder.open(broker.url, `${base}/#`);
      try {
        await sub.waitFor('online', (g) => g.some((m) => m.topic === `${base}/availability` && m.text === 'online'));
        await sub.waitFor('config/state', (g) => g.some((m) => m.topic === `${base}/config/state`));
        const ha = await Recorder.open(broker.url, 'homeassistant/#');
        await ha.waitFor('retained discovery configs', (g) => g.filter((m) => m.retain && m.topic.includes(`sfn_${base.slice(4)}`)).length >= 3);
        const cfgs = ha.got.filter((m) => m.topic.includes(`sfn_${base.slice(4)}`)).map((m) => JSON.parse(m.text) as { state_topic: string; availability_topic: string });
        assert.deepEqual(cfgs.map((c) => c.state_topic).sort(), [`${base}/event/state`, `${base}/source/state`, `${base}/stats`]);
        assert.ok(cfgs.every((c) => c.availability_topic === `${base}/availability`));
        await ha.close();
        r.client.stream.destroy();
        await sub.waitFor('offline (last will)', (g) => g.some((m) => m.topic === `${base}/availability` && m.text === 'offline'));
        const firstOffline = sub.got.findIndex((m) => m.topic === `${base}/availability` && m.text === 'offline');
        await sub.waitFor('online again', (g) => g.slice(firstOffline).some((m) => m.topic === `${base}/availability` && m.text === 'online'));
        const late = await Recorder.open(broker.url, `${base}/availability`);
        await late.waitFor('retained online', (g) => g.some((m) => m.retain && m.text === 'online'));
        await late.close();
      } finally {
        await r.close(5_000);
        await sub.close();
      }
    });

    it('config/set: valid applied + acked + retained state; each invalid kind refused with its reason, config unchanged', async () => {
      const dir = await tmp();
      const persist = path.join(dir, 'remote-config.json');
      const { controller } = await ConfigController.open(undefined, persist);
      const applied: number[] = [];
      controller.onChange((c) => applied.push(c.threshold.on));
      const { r, base } = await reporterFor(broker.url, { controller });
      const sub = await Recorder.open(broker.url, `${base}/config/#`);
      const acks = () => sub.on(`${base}/config/ack`).map((m) => JSON.parse(m.text) as { version: number; ok: boolean; error: string | null });
      try {
        await r.client.publishAsync(`${base}/config/set`, JSON.stringify({ threshold: { on: 7.5 }, clips: { pre_roll_s: 1 } }), { qos: 1 });
        await sub.waitFor('ack 1', () => acks().length === 1);
        assert.deepEqual(acks()[0], { version: 1, ok: true, error: null });
        assert.equal(controller.current.threshold.on, 7.5);
        assert.deepEqual(applied, [7.5]);
        const saved = JSON.parse(await fs.readFile(persist, 'utf8'));
        assert.deepEqual(saved, { version: 1, layer: { threshold: { on: 7.5 }, clips: { pre_roll_s: 1 } } });
        await sub.waitFor('state v1', (g) => g.some((m) => m.topic === `${base}/config/state` && JSON.parse(m.text).version === 1));

        const invalid: [string, RegExp][] = [
          ['{not json', /malformed JSON/],
          ['{"min_duration_frames": "8"}', /min_duration_frames/],
          ['{"colour": "red"}', /Unrecognized key/],
          ['{"smoothing_sigma": -1}', /smoothing_sigma/],
          [JSON.stringify({ x: 'y'.repeat(70_000) }), /too large/],
        ];
        for (const [i, [payload, reason]] of invalid.entries()) {
          await r.client.publishAsync(`${base}/config/set`, payload, { qos: 1 });
          await sub.waitFor(`ack ${i + 2}`, () => acks().length === i + 2);
          const a = acks()[i + 1]!;
          assert.equal(a.ok, false);
          assert.equal(a.version, 1);
          assert.match(a.error ?? '', reason);
        }
        assert.equal(controller.current.threshold.on, 7.5);
        assert.equal(controller.version, 1);
        assert.deepEqual(applied, [7.5]);
        assert.deepEqual(JSON.parse(await fs.readFile(persist, 'utf8')).version, 1);
        // a restart picks the persisted layer up
        const again = await ConfigController.open(undefined, persist);
        assert.equal(again.controller.current.threshold.on, 7.5);
        assert.equal(again.controller.version, 1);
        assert.equal(again.controller.current.clips.post_roll_s, defaultConfig().clips.post_roll_s);
      } finally {
        await r.close(5_000);
        await sub.close();
      }
    });

    it('events go out through the outbox with QoS 1, in order; commands reach the hooks', async () => {
      const { r, base, commands } = await reporterFor(broker.url, { store: await FileOutboxStore.open(await tmp()) });
      const sub = await Recorder.open(broker.url, `${base}/#`);
      try {
        for (let i = 0; i < 10; i++) await r.publishEvent({ n: i });
        assert.equal(await r.outbox.flush(20_000), true);
        await sub.waitFor('10 events', () => sub.on(`${base}/events`).length >= 10);
        assert.deepEqual(sub.on(`${base}/events`).map((m) => JSON.parse(m.text).n), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        await r.client.publishAsync(`${base}/cmd/snapshot`, '', { qos: 1 });
        await r.client.publishAsync(`${base}/cmd/unknown`, '', { qos: 1 });
        await r.client.publishAsync(`${base}/cmd/restart-source`, '', { qos: 1 });
        const deadline = Date.now() + 20_000;
        while (commands.length < 2 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
        assert.deepEqual(commands, ['snapshot', 'restart-source']);
      } finally {
        await r.close(5_000);
        await sub.close();
      }
    });
  });
}

describe('embedded broker', () => {
  it('says clearly when its port is taken', async () => {
    const b = await startEmbeddedBroker(0);
    try {
      await assert.rejects(startEmbeddedBroker(b.port), (err: unknown) => {
        assert.ok(err instanceof BrokerPortError);
        assert.match(err.message, new RegExp(`127.0.0.1:${b.port} is already in use`));
        assert.match(err.message, /--broker mqtt:\/\/127.0.0.1:\d+/);
        assert.match(err.message, /--embedded-port/);
        return true;
      });
    } finally {
      await b.close();
    }
  });

  it('subscriptions come from the one handler table', () => {
    assert.deepEqual(Object.keys(HANDLERS).sort(), ['cmd/learn', 'cmd/restart-source', 'cmd/snapshot', 'config/set']);
  });
});

describe('RepeatLimiter (connection errors while the broker is away)', () => {
  it('passes a new or changed line at once, then one per interval with the count held back', async () => {
    const { RepeatLimiter } = await import('../../src/mqtt/reporter.js');
    let t = 0;
    const r = new RepeatLimiter(60_000, () => t);
    assert.equal(r.take('ECONNREFUSED'), 0);
    for (let i = 1; i <= 34; i++) {
      t = i * 1000;
      assert.equal(r.take('ECONNREFUSED'), null, `retry ${i} held back`);
    }
    t = 60_000;
    assert.equal(r.take('ECONNREFUSED'), 34);
    t = 61_000;
    assert.equal(r.take('ECONNRESET'), 0, 'a different error is reported at once');
    r.reset();
    assert.equal(r.take('ECONNRESET'), 0, 'after a connection, the next error is reported at once');
  });
});
