/**
 * Streaming inside `sfn-edge run` (the committed Ped2 model on Ped2 test video 01, paced at 5
 * frames/s, stopped by the test): the retained clip catalog lists a recorded clip with its
 * snapshot; config/state never shows the token; the streaming configuration pushed over MQTT
 * (token, ICE servers, session cap) applies to new offers and bad values are refused; a live-view
 * session through the run delivers frames at the model grid, and when its peer vanishes the session
 * is closed with the reason while the run goes on and ends normally.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { startEmbeddedBroker, type EmbeddedBroker } from '../../src/mqtt/broker.js';
import { REDACTED } from '../../src/core/runtime-config.js';
import { runCommand, type RunSummary } from '../../src/runtime/command.js';
import { Recorder } from '../mqtt/sub.js';
import { exitBeforeWrtcCleanup, removeDir, tempDir, Viewer, writeMarkedClip } from './fixtures.js';

const PED2 = path.resolve('../shared/datasets/ucsd_ped2/testing/frames/01');
const DEVICE = 'run-stream';
const TOKEN = 'run-token-1234';
const BASE = `sfn/${DEVICE}`;

after(() => exitBeforeWrtcCleanup());

describe('streaming wired into run', { skip: !existsSync(PED2) && 'Ped2 not available' }, () => {
  let dir = '';
  let broker: EmbeddedBroker;
  let sub: Recorder;
  const stop = new AbortController();
  let run: Promise<RunSummary>;
  let n = 0;

  /** Publishes an offer and resolves with the device's answer. */
  async function offer(body: Record<string, unknown>, session = `s${++n}`): Promise<Record<string, unknown>> {
    sub.client.publish(`${BASE}/webrtc/${session}/offer`, JSON.stringify(body), { qos: 1 });
    await sub.waitFor(`answer of ${session}`, (g) => g.some((m) => m.topic === `${BASE}/webrtc/${session}/answer`), 30_000);
    return JSON.parse(sub.on(`${BASE}/webrtc/${session}/answer`)[0]!.text) as Record<string, unknown>;
  }

  async function setConfig(patch: unknown): Promise<Record<string, unknown>> {
    const before = sub.on(`${BASE}/config/ack`).length;
    sub.client.publish(`${BASE}/config/set`, JSON.stringify(patch), { qos: 1 });
    await sub.waitFor('config/ack', (g) => g.filter((m) => m.topic === `${BASE}/config/ack`).length > before);
    return JSON.parse(sub.on(`${BASE}/config/ack`).at(-1)!.text) as Record<string, unknown>;
  }

  before(async () => {
    dir = await tempDir('stream-run');
    const clip = await writeMarkedClip(dir, 'ev-run');
    await fs.copyFile(path.join(PED2, '000.jpg'), clip.path.replace(/\.mp4$/, '.jpg'));
    await fs.writeFile(path.join(dir, 'config.json'), JSON.stringify({ streaming: { token: TOKEN, ice_servers: [{ urls: 'stun:127.0.0.1:3478', username: 'u', credential: 'turn-secret' }] } }));
    broker = await startEmbeddedBroker(0);
    sub = await Recorder.open(broker.url, `${BASE}/#`);
    run = runCommand({
      source: PED2, broker: broker.url, deviceId: DEVICE, model: 'models/fp32/sfn-lite-ped2.onnx', providers: 'cpu', realtime: true, fps: 5,
      clips: path.join(dir, 'clips'), stateDir: path.join(dir, 'state'), config: path.join(dir, 'config.json'), signal: stop.signal,
    }, () => undefined);
    await sub.waitFor('online', (g) => g.some((m) => m.topic === `${BASE}/availability` && m.text === 'online'), 60_000);
  });

  after(async () => {
    stop.abort();
    await run?.catch(() => undefined);
    await sub?.close();
    await broker?.close();
    await removeDir(dir);
  });

  it('publishes the retained clip catalog with the snapshot as a data URI', async () => {
    await sub.waitFor('catalog', (g) => g.some((m) => m.topic === `${BASE}/clips`));
    const cat = JSON.parse(sub.on(`${BASE}/clips`)[0]!.text) as { clips: Array<{ event_id: string; snapshot: string; video: string }> };
    assert.equal(cat.clips.length, 1);
    assert.equal(cat.clips[0]!.event_id, 'ev-run');
    assert.match(cat.clips[0]!.snapshot, /^data:image\/jpeg;base64,\/9j\//);
  });

  it('config/state shows neither the token nor the TURN credential', async () => {
    await sub.waitFor('config/state', (g) => g.some((m) => m.topic === `${BASE}/config/state`));
    const text = sub.on(`${BASE}/config/state`).at(-1)!.text;
    assert.ok(!text.includes(TOKEN) && !text.includes('turn-secret'), text);
    const st = JSON.parse(text) as { config: { streaming: { token: string; ice_servers: Array<{ credential: string }> } } };
    assert.equal(st.config.streaming.token, REDACTED);
    assert.equal(st.config.streaming.ice_servers[0]!.credential, REDACTED);
  });

  it('refuses bad offers through run with their reasons', async () => {
    const v = new Viewer(() => undefined);
    try {
      const sdp = await v.offer();
      assert.match(String((await offer({ token: 'wrong-token', event_id: 'ev-run', sdp })).error), /^wrong token$/);
      assert.match(String((await offer({ token: TOKEN, event_id: 'nope', sdp })).error), /unknown event id: "nope"/);
      assert.match(String((await offer({ token: TOKEN, live: true, overlay: 'yes', sdp })).error), /overlay must be true or false/);
      assert.match(String((await offer({ token: TOKEN, event_id: 'ev-run', sdp: 'v=0\r\nnot sdp\r\n' })).error), /malformed SDP/);
    } finally {
      v.close();
    }
  });

  it('applies the streaming configuration pushed over MQTT to new offers and refuses bad values', async () => {
    const bad = await setConfig({ streaming: { ice_servers: [{ urls: 'http://example.org' }] } });
    assert.equal(bad.ok, false);
    assert.match(String(bad.error), /streaming\.ice_servers\.0\.urls: ICE server urls must start with stun:/);
    assert.equal((await setConfig({ streaming: { max_sessions: 0 } })).ok, true);
    const v = new Viewer(() => undefined);
    try {
      assert.match(String((await offer({ token: TOKEN, live: true, sdp: await v.offer() })).error), /max sessions 0/);
      assert.equal((await setConfig({ streaming: { max_sessions: 1, token: 'new-token-5678' } })).ok, true);
      assert.match(String((await offer({ token: TOKEN, live: true, sdp: await v.offer() })).error), /^wrong token$/);
    } finally {
      v.close();
    }
  });

  it('a live-view session delivers frames at the source size (Ped2, 360x240); a vanished peer is closed with its reason and the run goes on', async () => {
    const session = 'live-run';
    const v = new Viewer((c) => sub.client.publish(`${BASE}/webrtc/${session}/candidate`, JSON.stringify(c), { qos: 1 }));
    sub.client.on('message', (topic, payload) => {
      if (topic === `${BASE}/webrtc/${session}/candidate/device`) void v.pc.addIceCandidate(JSON.parse(payload.toString()) as never).catch(() => undefined);
    });
    try {
      const answer = await offer({ token: 'new-token-5678', live: true, overlay: true, sdp: await v.offer() }, session);
      assert.equal(typeof answer.sdp, 'string', String(answer.error));
      await v.pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp as string });
      await v.waitFrames(3, 30_000);
      assert.ok(v.frames.length >= 3, `only ${v.frames.length} live frames arrived`);
      for (const f of v.frames) assert.deepEqual([f.width, f.height], [360, 240], 'the live view is at the source size, not the model grid');
    } finally {
      v.close(); // no close message: the peer just goes away
    }
    await sub.waitFor('closed', (g) => g.some((m) => m.topic === `${BASE}/webrtc/${session}/closed`), 60_000);
    assert.match(JSON.parse(sub.on(`${BASE}/webrtc/${session}/closed`)[0]!.text).reason as string, /^peer (disconnected|failed|closed)$/);
    stop.abort();
    const s = await run;
    assert.equal(s.source_error, undefined);
    assert.ok(s.frames > 0 && s.scored > 0, JSON.stringify(s));
  });
});
