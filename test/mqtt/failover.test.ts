/**
 * Broker failover: a real 3-node NATS cluster (JetStream + its MQTT listener, streams replicated
 * on all 3 nodes) on loopback. The device's reporter is given the three nodes; the node it is on
 * is killed (SIGKILL) in the middle of a stream of events; it must move to another node and every
 * event message it stored must reach a subscriber on a third node (by event id + seq; duplicates
 * allowed, none missing). Prints the time from the kill to the connection on the new node.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FileOutboxStore } from '../../src/mqtt/outbox.js';
import { brokerServers, MqttReporter } from '../../src/mqtt/reporter.js';
import { missingTools } from '../tools.js';
import { Recorder } from './sub.js';

const NATS = '/usr/sbin/nats-server';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

async function until(what: string, cond: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

interface Node {
  name: string;
  mqttPort: number;
  proc: ChildProcess;
  log: string;
}

/** Starts 3 clustered nats-server processes in `dir`; resolves once JetStream's MQTT answers on all. */
async function startCluster(dir: string): Promise<Node[]> {
  const ports = await Promise.all(Array.from({ length: 9 }, () => freePort()));
  const routes = [0, 1, 2].map((i) => `nats-route://127.0.0.1:${ports[3 + i]}`).join(', ');
  const nodes: Node[] = [];
  for (let i = 0; i < 3; i++) {
    const name = `n${i + 1}`;
    const conf = path.join(dir, `${name}.conf`);
    await fs.writeFile(conf, [
      `server_name: ${name}`,
      `listen: 127.0.0.1:${ports[i]}`,
      `jetstream { store_dir: "${path.join(dir, `js-${name}`)}" }`,
      `cluster { name: sfn, listen: 127.0.0.1:${ports[3 + i]}, routes: [${routes}] }`,
      // MQTT sessions and QoS 1 messages live in JetStream streams: 3 replicas survive a node's loss
      `mqtt { listen: 127.0.0.1:${ports[6 + i]}, stream_replicas: 3 }`,
      '',
    ].join('\n'));
    const log = path.join(dir, `${name}.log`);
    const fh = await fs.open(log, 'w');
    const proc = spawn(NATS, ['-c', conf], { stdio: ['ignore', fh.fd, fh.fd] });
    await fh.close();
    nodes.push({ name, mqttPort: ports[6 + i]!, proc, log });
  }
  const deadline = Date.now() + 30_000;
  for (const n of nodes) {
    while (!(await answers(n.mqttPort))) {
      if (Date.now() > deadline) throw new Error(`nats-server ${n.name} did not open its MQTT port; see ${n.log}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return nodes;
}

const hooks = {
  configState: () => ({ version: 0, config: {} }),
  applyConfig: async () => ({ version: 0, ok: false, error: 'not in this test' }),
  command: async () => undefined,
};

describe('broker failover (3-node NATS cluster, MQTT)', { skip: missingTools('nats-server'), timeout: 180_000 }, () => {
  let dir: string;
  let nodes: Node[] = [];
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sfn-failover-'));
    nodes = await startCluster(dir);
  });
  after(async () => {
    for (const n of nodes) if (n.proc.exitCode === null && n.proc.signalCode === null) n.proc.kill('SIGKILL');
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('parses several URLs, comma-separated', () => {
    assert.deepEqual(brokerServers('mqtt://a:1, mqtts://b,ws://c:9/mqtt'), [
      { host: 'a', port: 1, protocol: 'mqtt' },
      { host: 'b', port: 8883, protocol: 'mqtts' },
      { host: 'c', port: 9, protocol: 'ws' },
    ]);
    assert.throws(() => brokerServers('ws://a/x,ws://b/y'), /share one path/);
    assert.throws(() => brokerServers('http://a'), /mqtt:\/\//);
  });

  it('moves to another node when its node is killed, and every event arrives', async () => {
    const deviceId = `failover-${process.pid}`;
    const url = nodes.map((n) => `mqtt://127.0.0.1:${n.mqttPort}`).join(',');
    const r = await MqttReporter.connect({ url, deviceId, reconnectMs: 200, ackTimeoutMs: 5_000, requireConnection: true, store: await FileOutboxStore.open(path.join(dir, 'outbox')), hooks });
    await until('the first connection', () => r.node !== null);
    const first = nodes.find((n) => r.node === `mqtt://127.0.0.1:${n.mqttPort}`);
    assert.ok(first, `connected to one of the nodes (${r.node})`);
    // the subscriber sits on a node the device is not on, and is never killed
    const watcher = nodes.find((n) => n !== first)!;
    const sub = await Recorder.open(`mqtt://127.0.0.1:${watcher.mqttPort}`, `sfn/${deviceId}/events`, { clientId: `sub-${process.pid}`, clean: false });
    const sent: string[] = [];
    let killedAt = 0;
    let movedAt = 0;
    try {
      const id = `ev-${process.pid}`;
      for (let seq = 0; seq < 60; seq++) {
        if (seq === 20) {
          killedAt = performance.now();
          first.proc.kill('SIGKILL');
          void until('the move', () => r.connected && r.node !== null && r.node !== `mqtt://127.0.0.1:${first.mqttPort}`, 60_000)
            .then(() => { movedAt = performance.now(); })
            .catch(() => undefined);
        }
        await r.publishEvent({ id, seq, type: seq === 0 ? 'new' : 'update' });
        sent.push(`${id}/${seq}`);
        await new Promise((res) => setTimeout(res, 25));
      }
      await until('the reconnection on another node', () => movedAt > 0, 60_000);
      assert.notEqual(r.node, `mqtt://127.0.0.1:${first.mqttPort}`);
      assert.equal(await r.outbox.flush(60_000), true, 'the outbox drains on the new node');
      const key = (t: string) => {
        const m = JSON.parse(t) as { id: string; seq: number };
        return `${m.id}/${m.seq}`;
      };
      await sub.waitFor('every event', (g) => new Set(g.map((m) => key(m.text))).size >= sent.length, 60_000);
      const got = new Set(sub.got.map((m) => key(m.text)));
      const missing = sent.filter((k) => !got.has(k));
      assert.deepEqual(missing, [], 'no event message missing');
      const ms = Math.round(movedAt - killedAt);
      console.log(`failover: killed ${first.name}, reconnected on ${r.node} in ${ms} ms; ${sent.length} events sent, ${sub.got.length} received (${sub.got.length - got.size} duplicates)`);
    } finally {
      await r.close(5_000);
      await sub.close();
    }
  });
});
