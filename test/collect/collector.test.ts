/**
 * The collector against a real Mosquitto (MQTT 5 shared subscriptions), with SQLite in a temp dir
 * and with a real PostgreSQL started by the test: idempotence, hostile messages, two collectors in
 * one share group.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { mosquittoBroker, type TestBroker } from '../mqtt/brokers.js';
import { missingTools } from '../tools.js';
import { Collector } from '../../src/collect/collector.js';
import { PostgresStore } from '../../src/collect/postgres.js';
import { SqliteStore } from '../../src/collect/sqlite.js';
import { eventMsg, until } from './helpers.js';
import { startPostgres, type TestPostgres } from './pg.js';

describe('collector (Mosquitto, SQLite)', { skip: missingTools('mosquitto') }, () => {
  let broker: TestBroker;
  let dir: string;
  let pub: MqttClient;
  before(async () => {
    broker = await mosquittoBroker();
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sfn-collect-'));
    pub = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
  });
  after(async () => {
    await pub.endAsync();
    await broker.dispose();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('stores the same (id, seq) once, survives hostile messages, and records devices', async () => {
    const store = new SqliteStore(path.join(dir, 'one.db'));
    const c = new Collector({ broker: broker.url, group: 'g1', store, clientId: 'one' });
    await c.start();
    try {
      const m = JSON.stringify(eventMsg('e1', 0));
      await pub.publishAsync('sfn/dev1/events', m, { qos: 1 });
      await pub.publishAsync('sfn/dev1/events', m, { qos: 1 });
      for (const bad of ['not json', '{"type":"new"}', JSON.stringify({ ...eventMsg('e2', 0), seq: -5 }), 'null', '[]'])
        await pub.publishAsync('sfn/dev1/events', bad, { qos: 1 });
      await pub.publishAsync('sfn/dev1/events/e9/description', JSON.stringify({ event_id: 'other' }), { qos: 1 });
      await pub.publishAsync('sfn/dev1/availability', 'online', { qos: 1 });
      await pub.publishAsync('sfn/dev1/events', JSON.stringify(eventMsg('e1', 1)), { qos: 1 });
      await until(() => c.stats.stored + c.stats.duplicates >= 3 && c.stats.dropped >= 6);
      await until(async () => (await store.devices()).length === 1);
      assert.equal(c.stats.duplicates, 1);
      assert.equal((await store.event('e1')).length, 2);
      assert.equal((await store.event('e2')).length, 0);
      assert.equal((await store.devices())[0]?.availability, 'online');
    } finally {
      await c.stop();
      await store.close();
    }
  });

  it("stores a camera's events from its own topics (sfn/<device>/<camera>/...), with the camera the topic names", async () => {
    const store = new SqliteStore(path.join(dir, 'cams.db'));
    const c = new Collector({ broker: broker.url, group: 'g3', store, clientId: 'cams', connections: 2 });
    await c.start();
    try {
      await pub.publishAsync('sfn/dev1/door/events', JSON.stringify({ ...eventMsg('c1', 0), camera_id: 'door' }), { qos: 1 });
      await pub.publishAsync('sfn/dev1/yard/events', JSON.stringify(eventMsg('c2', 0)), { qos: 1 });
      await pub.publishAsync('sfn/dev1/yard/events/c2/clip', JSON.stringify({ event_id: 'c2', device_id: 'dev1', video: '/x.mp4', snapshot: '/x.jpg' }), { qos: 1 });
      await pub.publishAsync('sfn/dev1/events', JSON.stringify(eventMsg('c3', 0)), { qos: 1 });
      await pub.publishAsync('sfn/dev1/yard/config/set', '{}', { qos: 1 }); // not the collector's
      await until(() => c.stats.stored >= 4);
      assert.equal((await store.event('c1'))[0]?.camera, 'door');
      assert.equal((await store.event('c2')).find((r) => r.kind === 'event')?.camera, 'yard');
      assert.equal((await store.event('c3'))[0]?.camera, null, "the device's own topic: no camera");
      assert.ok(c.topics().includes('$share/g3/sfn/+/+/events'));
    } finally {
      await c.stop();
      await store.close();
    }
  });

  it('two collectors in one share group split the messages and together store each once', async () => {
    const store = new SqliteStore(path.join(dir, 'two.db'));
    const a = new Collector({ broker: broker.url, group: 'g2', store, clientId: 'a' });
    const b = new Collector({ broker: broker.url, group: 'g2', store, clientId: 'b' });
    await a.start();
    await b.start();
    try {
      const n = 40;
      for (let i = 0; i < n; i++) await pub.publishAsync(`sfn/d${i % 4}/events`, JSON.stringify(eventMsg(`x${i}`, 0)), { qos: 1 });
      await until(() => a.stats.stored + b.stats.stored + a.stats.duplicates + b.stats.duplicates >= n);
      assert.equal(a.stats.stored + b.stats.stored, n);
      assert.equal(a.stats.duplicates + b.stats.duplicates, 0);
      assert.ok(a.stats.received > 0 && b.stats.received > 0, `both received: ${a.stats.received} / ${b.stats.received}`);
      assert.equal((await store.events({ limit: 1000 })).length, n);
    } finally {
      await a.stop();
      await b.stop();
      await store.close();
    }
  });
});

describe('collector (Mosquitto, PostgreSQL)', { skip: missingTools('mosquitto', 'initdb', 'pg_ctl') }, () => {
  let broker: TestBroker;
  let server: TestPostgres;
  let pub: MqttClient;
  before(async () => {
    broker = await mosquittoBroker();
    server = await startPostgres();
    pub = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
  });
  after(async () => {
    await pub?.endAsync();
    await broker?.dispose();
    await server?.dispose();
  });

  it('two collectors in one share group write each message to PostgreSQL once, duplicates included', async () => {
    const url = await server.database('mqtt_pg');
    const stores = [await PostgresStore.open(url), await PostgresStore.open(url)];
    const cs = stores.map((store, i) => new Collector({ broker: broker.url, group: 'pg', store, clientId: `pg${i}`, connections: 4 }));
    for (const c of cs) await c.start();
    try {
      const n = 60;
      for (let i = 0; i < n; i++) {
        const m = JSON.stringify(eventMsg(`p${i % 20}`, Math.floor(i / 20)));
        await pub.publishAsync(`sfn/d${i % 3}/events`, m, { qos: 1 });
        if (i % 5 === 0) await pub.publishAsync(`sfn/d${i % 3}/events`, m, { qos: 1 }); // an outbox resend
      }
      await pub.publishAsync('sfn/d0/events/p0/description', JSON.stringify({ event_id: 'p0', stage: 'start', frame: 1, time: '2026-12-07T07:00:00.000Z', caption: 'a cyclist', structured: {}, captioner: 't', ms: 1 }), { qos: 1 });
      const sum = (f: 'stored' | 'duplicates') => cs.reduce((a, c) => a + c.stats[f], 0);
      await until(() => sum('stored') + sum('duplicates') >= n + 12 + 1);
      assert.equal(sum('stored'), n + 1);
      assert.equal(sum('duplicates'), 12);
      assert.deepEqual(await stores[0]!.size().then((s) => s.rows), n + 1);
      assert.equal((await stores[0]!.events({ limit: 1000 })).length, 20);
      assert.deepEqual((await stores[1]!.event('p0')).map((r) => [r.kind, r.seq]), [['description', -1], ['event', 0], ['event', 1], ['event', 2]]);
    } finally {
      for (const c of cs) await c.stop();
      for (const s of stores) await s.close();
    }
  });
});
