import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { test } from 'node:test';

import mqtt from 'mqtt';

import { BrokerPortError, startEmbeddedBroker } from '../../src/mqtt/broker.js';
import { parseIce } from '../../src/viewer/command.js';
import { checkBrokerUrl, startViewerServer } from '../../src/viewer/server.js';

test('the viewer serves its page, the MQTT browser bundle and its config; other paths and methods are refused', async () => {
  const v = await startViewerServer({ broker: 'ws://127.0.0.1:9001', port: 0, token: 'tok-1', iceServers: [{ urls: 'stun:s.example' }] });
  try {
    const page = await fetch(v.url);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);
    const html = await page.text();
    assert.match(html, /<script src="mqtt.min.js"><\/script>/);
    assert.match(html, /<video id="player"/);
    const js = await fetch(new URL('viewer.js', v.url));
    assert.match(await js.text(), /webrtc/);
    const bundle = await fetch(new URL('mqtt.min.js', v.url));
    assert.equal(bundle.status, 200);
    assert.ok((await bundle.text()).length > 100_000, 'the mqtt browser bundle');
    assert.deepEqual(await (await fetch(new URL('config.json', v.url))).json(), { broker: 'ws://127.0.0.1:9001', token: 'tok-1', iceServers: [{ urls: 'stun:s.example' }], history: false });
    assert.equal((await fetch(new URL('../package.json', v.url))).status, 404);
    assert.equal((await fetch(new URL('nope', v.url))).status, 404);
    assert.equal((await fetch(v.url, { method: 'POST', body: 'x' })).status, 405);
  } finally {
    await v.close();
  }
});

test('the viewer refuses a broker URL that is not ws(s):// and says how to get one; bad --ice is named', async () => {
  assert.equal(checkBrokerUrl('wss://broker.example:443/mqtt'), 'wss://broker.example:443/mqtt');
  assert.throws(() => checkBrokerUrl('mqtt://127.0.0.1:1883'), /must be a ws:\/\/ or wss:\/\/ URL.*listener 9001.*protocol websockets/);
  assert.throws(() => checkBrokerUrl('not a url'), /is not a URL/);
  await assert.rejects(startViewerServer({ broker: 'tcp://x', port: 0 }), /ws:\/\//);
  assert.deepEqual(parseIce('[{"urls":"stun:a"}]'), [{ urls: 'stun:a' }]);
  assert.throws(() => parseIce('{'), /--ice is not valid JSON/);
  assert.throws(() => parseIce('[{"url":"stun:a"}]'), /--ice must be a list of \{urls/);
});

test('the embedded broker takes MQTT over WebSocket: retained messages reach a WebSocket client; a taken port is named', async () => {
  const b = await startEmbeddedBroker(0, '127.0.0.1', { wsPort: 0 });
  try {
    assert.match(String(b.wsUrl), /^ws:\/\/127\.0\.0\.1:\d+$/);
    const tcp = await mqtt.connectAsync(b.url, { reconnectPeriod: 0 });
    await tcp.publishAsync('sfn/d1/availability', 'online', { qos: 1, retain: true });
    const ws = await mqtt.connectAsync(b.wsUrl as string, { reconnectPeriod: 0, protocolVersion: 4 });
    const got = new Promise<string>((r) => ws.on('message', (t, p) => r(`${t}=${p.toString()}`)));
    await ws.subscribeAsync('sfn/+/availability');
    assert.equal(await got, 'sfn/d1/availability=online');
    await ws.endAsync();
    await tcp.endAsync();
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    try {
      await assert.rejects(startEmbeddedBroker(0, '127.0.0.1', { wsPort: port }), (e: unknown) => e instanceof BrokerPortError && new RegExp(`MQTT-over-WebSocket broker: 127.0.0.1:${port} is already in use.*--ws-port`).test(e.message));
    } finally {
      blocker.close();
    }
  } finally {
    await b.close();
  }
});
