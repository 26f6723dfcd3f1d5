/**
 * A real Mosquitto restarted in the middle of a run: events produced while it is down wait in the
 * on-disk outbox and arrive, all of them and in order, once it is back; the outbox also survives a
 * restart of the reporting process.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FileOutboxStore } from '../../src/mqtt/outbox.js';
import { MqttReporter } from '../../src/mqtt/reporter.js';
import { missingTools } from '../tools.js';
import { mosquittoBroker, type TestBroker } from './brokers.js';
import { Recorder } from './sub.js';

/**
 * QoS 1 is at-least-once on both hops: a message in flight to the subscriber when the broker stops
 * is delivered again after the restart. So: every message, first occurrences in order, and the raw
 * sequence never goes back (a redelivery repeats the last message, it does not reorder).
 */
function assertAllInOrder(got: number[], expected: number[]): void {
  const firsts = got.filter((n, i) => got.indexOf(n) === i);
  assert.deepEqual(firsts, expected);
  for (let i = 1; i < got.length; i++) assert.ok(got[i]! >= got[i - 1]!, `order broken at ${i}: ${got.join(',')}`);
}

const distinct = (g: { text: string }[]) => new Set(g.map((m) => m.text)).size;

async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const hooks = {
  configState: () => ({ version: 0, config: {} }),
  applyConfig: async () => ({ version: 0, ok: false, error: 'not in this test' }),
  command: async () => undefined,
};

describe('broker restarted mid-run (Mosquitto)', { skip: missingTools('mosquitto') }, () => {
  let broker: TestBroker;
  let dir: string;
  before(async () => {
    broker = await mosquittoBroker();
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sfn-restart-'));
  });
  after(async () => {
    await broker?.dispose();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('every event is delivered in order after the broker comes back', async () => {
    const deviceId = `restart-${process.pid}`;
    const topic = `sfn/${deviceId}/events`;
    // a persistent subscriber session (clean: false), which Mosquitto keeps across its restart
    const sub = await Recorder.open(broker.url, topic, { clientId: `sub-${process.pid}`, clean: false });
    const r = await MqttReporter.connect({ url: broker.url, deviceId, reconnectMs: 200, store: await FileOutboxStore.open(path.join(dir, 'a')), hooks });
    try {
      for (let i = 0; i < 3; i++) await r.publishEvent({ n: i });
      await sub.waitFor('3 events', (g) => g.length >= 3);
      await broker.stop();
      await until('the reporter to notice', () => !r.connected);
      for (let i = 3; i < 10; i++) await r.publishEvent({ n: i });
      assert.equal(await r.outbox.pending(), 7, 'kept on disk while the broker is down');
      await broker.start();
      assert.equal(await r.outbox.flush(30_000), true);
      await sub.waitFor('10 events', (g) => distinct(g) >= 10, 30_000);
      assertAllInOrder(sub.got.map((m) => JSON.parse(m.text).n as number), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    } finally {
      await r.close(5_000);
      await sub.close();
    }
  });

  it('pending events survive a restart of the reporting process', async () => {
    const deviceId = `proc-${process.pid}`;
    const topic = `sfn/${deviceId}/events`;
    const outbox = path.join(dir, 'b');
    const sub = await Recorder.open(broker.url, topic, { clientId: `sub2-${process.pid}`, clean: false });
    try {
      const r1 = await MqttReporter.connect({ url: broker.url, deviceId, reconnectMs: 200, store: await FileOutboxStore.open(outbox), hooks });
      await r1.publishEvent({ n: -1 });
      await sub.waitFor('the first event', (g) => g.length >= 1);
      await broker.stop();
      await until('the reporter to notice', () => !r1.connected);
      for (let i = 0; i < 5; i++) await r1.publishEvent({ n: i });
      assert.equal(await r1.close(200), false, 'cannot flush while the broker is down');
      await broker.start();
      const r2 = await MqttReporter.connect({ url: broker.url, deviceId, reconnectMs: 200, store: await FileOutboxStore.open(outbox), hooks });
      try {
        await r2.publishEvent({ n: 5 });
        assert.equal(await r2.outbox.flush(30_000), true);
        await sub.waitFor('7 events', (g) => distinct(g) >= 7, 30_000);
        assertAllInOrder(sub.got.map((m) => JSON.parse(m.text).n as number), [-1, 0, 1, 2, 3, 4, 5]);
      } finally {
        await r2.close(5_000);
      }
    } finally {
      await sub.close();
    }
  });
});
