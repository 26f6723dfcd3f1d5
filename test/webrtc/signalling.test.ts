import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import mqtt, { type MqttClient } from 'mqtt';

import { startEmbeddedBroker, type EmbeddedBroker } from '../../src/mqtt/broker.js';
import { startSignalling, type Signalling } from '../../src/webrtc/signalling.js';
import { exitBeforeWrtcCleanup, inOrder, removeDir, tempDir, Viewer, writeMarkedClip } from './fixtures.js';

const DEVICE = 'cam1';
const TOKEN = 's3cret';
const BASE = `sfn/${DEVICE}/webrtc`;

let dir = '';
let clip = { path: '', width: 0, height: 0 };
let broker: EmbeddedBroker;
let deviceClient: MqttClient;
let viewerClient: MqttClient;
let signalling: Signalling;
const answers = new Map<string, (body: Record<string, unknown>) => void>();
const candidateHandlers = new Map<string, (c: Record<string, unknown>) => void>();

before(async () => {
  dir = await tempDir('stream-sig');
  clip = await writeMarkedClip(dir, 'ev-7');
  broker = await startEmbeddedBroker(0);
  deviceClient = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
  viewerClient = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
  signalling = await startSignalling({
    client: deviceClient, device: DEVICE, token: TOKEN, clipsDir: `${dir}/clips`, iceServers: [], maxSessions: 1, sessionTimeoutMs: 60_000,
  });
  viewerClient.on('message', (topic, payload) => {
    const [session, leaf, sub] = topic.slice(BASE.length + 1).split('/');
    const body = JSON.parse(payload.toString()) as Record<string, unknown>;
    if (leaf === 'answer') answers.get(session ?? '')?.(body);
    if (leaf === 'candidate' && sub === 'device') candidateHandlers.get(session ?? '')?.(body);
  });
  await viewerClient.subscribeAsync([`${BASE}/+/answer`, `${BASE}/+/candidate/device`], { qos: 1 });
});

after(async () => {
  await signalling?.close();
  await deviceClient?.endAsync();
  await viewerClient?.endAsync();
  await broker?.close();
  await removeDir(dir);
  exitBeforeWrtcCleanup();
});

/** Publishes an offer for `session` and resolves with the device's answer (20 s at most). */
function offer(session: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no answer for ${session}`)), 20_000);
    answers.set(session, (b) => {
      clearTimeout(t);
      answers.delete(session);
      resolve(b);
    });
    viewerClient.publish(`${BASE}/${session}/offer`, JSON.stringify(body), { qos: 1 });
  });
}

async function waitFor(cond: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
}

test('a viewer gets an answer over MQTT, connects and receives the clip; a second session is refused while it plays', async () => {
  const session = 'view-1';
  const viewer = new Viewer((c) => viewerClient.publish(`${BASE}/${session}/candidate`, JSON.stringify(c), { qos: 1 }));
  candidateHandlers.set(session, (c) => void viewer.pc.addIceCandidate(c as never).catch(() => undefined));
  try {
    const answer = await offer(session, { token: TOKEN, event_id: 'ev-7', sdp: await viewer.offer() });
    assert.equal(answer.error, undefined, String(answer.error));
    assert.equal(typeof answer.sdp, 'string');
    await viewer.pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp as string });
    const frames = await viewer.waitFrames(10);
    assert.ok(frames.length >= 10, `only ${frames.length} frames arrived`);
    for (const f of frames) assert.deepEqual([f.width, f.height], [clip.width, clip.height]);
    assert.ok(inOrder(frames), `markers out of order: ${frames.map((f) => f.marker).join(',')}`);

    const other = new Viewer(() => undefined);
    try {
      const refused = await offer('view-2', { token: TOKEN, event_id: 'ev-7', sdp: await other.offer() });
      assert.match(String(refused.error), /too many sessions \(at most 1\)/);
    } finally {
      other.close();
    }
    assert.deepEqual(signalling.sessions(), [session]);
    viewerClient.publish(`${BASE}/${session}/close`, '{}', { qos: 1 });
    await waitFor(() => signalling.sessions().length === 0);
    assert.deepEqual(signalling.sessions(), []);
  } finally {
    viewer.close();
  }
});

test('offers are refused with a clear reason: wrong token, unknown event id, malformed SDP, not JSON', async () => {
  const viewer = new Viewer(() => undefined);
  try {
    const sdp = await viewer.offer();
    const cases: Array<[string, Record<string, unknown> | string, RegExp]> = [
      ['bad-token', { token: 'nope', event_id: 'ev-7', sdp }, /^wrong token$/],
      ['bad-event', { token: TOKEN, event_id: 'ev-404', sdp }, /unknown event id: "ev-404"/],
      ['bad-sdp', { token: TOKEN, event_id: 'ev-7', sdp: 'hello' }, /malformed SDP/],
      ['bad-sdp2', { token: TOKEN, event_id: 'ev-7', sdp: 'v=0\r\nthis is not sdp\r\n' }, /malformed SDP/],
    ];
    for (const [session, body, reason] of cases) {
      const answer = await offer(session, body as Record<string, unknown>);
      assert.match(String(answer.error), reason, session);
      assert.equal(answer.sdp, undefined);
    }
    const notJson = new Promise<Record<string, unknown>>((resolve) => answers.set('bad-json', resolve));
    viewerClient.publish(`${BASE}/bad-json/offer`, 'not json', { qos: 1 });
    assert.match(String((await notJson).error), /not a JSON object/);
    await waitFor(() => signalling.sessions().length === 0);
    assert.deepEqual(signalling.sessions(), []);
  } finally {
    viewer.close();
  }
});

/** Starts a viewer session on `device` and, when `frames`, waits until frames flow; returns the viewer. */
async function connectedViewer(device: string, session: string, frames = true): Promise<Viewer> {
  const base = `sfn/${device}/webrtc`;
  const viewer = new Viewer((c) => viewerClient.publish(`${base}/${session}/candidate`, JSON.stringify(c), { qos: 1 }));
  const answer = new Promise<Record<string, unknown>>((resolve) => {
    viewerClient.on('message', (topic, payload) => {
      const body = JSON.parse(payload.toString()) as Record<string, unknown>;
      if (topic === `${base}/${session}/answer`) resolve(body);
      if (topic === `${base}/${session}/candidate/device`) void viewer.pc.addIceCandidate(body as never).catch(() => undefined);
    });
  });
  await viewerClient.subscribeAsync([`${base}/${session}/answer`, `${base}/${session}/candidate/device`], { qos: 1 });
  viewerClient.publish(`${base}/${session}/offer`, JSON.stringify({ token: TOKEN, event_id: 'ev-7', sdp: await viewer.offer() }), { qos: 1 });
  const a = await answer;
  assert.equal(typeof a.sdp, 'string', String(a.error));
  await viewer.pc.setRemoteDescription({ type: 'answer', sdp: a.sdp as string });
  if (frames) {
    await viewer.waitFrames(1);
    assert.ok(viewer.frames.length >= 1, 'no frame arrived');
  }
  return viewer;
}

test('sessions are closed at their timeout and when the peer vanishes', async () => {
  const timed = await startSignalling({ client: deviceClient, device: 'cam2', token: TOKEN, clipsDir: `${dir}/clips`, iceServers: [], maxSessions: 2, sessionTimeoutMs: 3000, loop: true });
  const vanish = await startSignalling({ client: deviceClient, device: 'cam3', token: TOKEN, clipsDir: `${dir}/clips`, iceServers: [], maxSessions: 2, sessionTimeoutMs: 120_000, loop: true });
  const viewers: Viewer[] = [];
  try {
    viewers.push(await connectedViewer('cam2', 't-1', false)); // answered; the timeout may come before any frame
    await waitFor(() => timed.sessions().length === 0);
    assert.deepEqual(timed.sessions(), [], 'timed-out session still open');

    const v = await connectedViewer('cam3', 'v-1');
    viewers.push(v);
    assert.deepEqual(vanish.sessions(), ['v-1']);
    v.close(); // no close message: the peer just goes away
    await waitFor(() => vanish.sessions().length === 0, 60_000);
    assert.deepEqual(vanish.sessions(), [], 'session of a vanished peer still open');
  } finally {
    for (const v of viewers) v.close();
    await timed.close();
    await vanish.close();
  }
});

test('12 endpoints on one client (one per camera): one message and one connect listener, no MaxListenersExceededWarning, each answers on its own topics', async () => {
  const warnings: Error[] = [];
  const onWarning = (w: Error) => warnings.push(w);
  process.on('warning', onWarning);
  const base = { message: deviceClient.listenerCount('message'), connect: deviceClient.listenerCount('connect') };
  const cams = Array.from({ length: 12 }, (_, i) => `many/cam${i}`);
  const all: Signalling[] = [];
  const answered = new Set<string>();
  let allAnswered = () => undefined as void;
  const done = new Promise<void>((r) => {
    allAnswered = r;
  });
  const onAnswer = (topic: string) => {
    if (!topic.startsWith('sfn/many/') || !topic.endsWith('/answer')) return;
    answered.add(topic.split('/').slice(1, 3).join('/'));
    if (answered.size === cams.length) allAnswered();
  };
  viewerClient.on('message', onAnswer);
  try {
    for (const device of cams) all.push(await startSignalling({ client: deviceClient, device, token: TOKEN, clipsDir: `${dir}/clips`, iceServers: [], maxSessions: 1 }));
    // at most one more (none when the suite's endpoint already put the client's one on)
    assert.ok(deviceClient.listenerCount('message') <= base.message + 1, `${deviceClient.listenerCount('message')} message listeners`);
    assert.ok(deviceClient.listenerCount('connect') <= base.connect + 1, `${deviceClient.listenerCount('connect')} connect listeners`);
    await viewerClient.subscribeAsync('sfn/many/+/webrtc/+/answer', { qos: 1 });
    // a wrong token is refused by each endpoint on its own answer topic
    for (const device of cams) await viewerClient.publishAsync(`sfn/${device}/webrtc/s1/offer`, JSON.stringify({ token: 'wrong', live: true, sdp: 'x' }), { qos: 1 });
    await done;
    assert.deepEqual([...answered].sort(), [...cams].sort());
    await new Promise((r) => setImmediate(r)); // a warning is emitted on the next tick
    assert.deepEqual(warnings.filter((w) => w.name === 'MaxListenersExceededWarning').map((w) => w.message), []);
  } finally {
    process.off('warning', onWarning);
    viewerClient.off('message', onAnswer);
    for (const s of all) await s.close();
  }
  assert.equal(deviceClient.listenerCount('message'), base.message, 'closing the endpoints leaves the listeners as they were');
  assert.equal(deviceClient.listenerCount('connect'), base.connect);
});
