import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { SessionManager } from '../../src/webrtc/sessions.js';
import { startWhep, type WhepServer } from '../../src/webrtc/whep.js';
import { CLIP_FRAMES, exitBeforeWrtcCleanup, inOrder, removeDir, tempDir, Viewer, writeMarkedClip } from './fixtures.js';

const TOKEN = 'whep-token-99';
let dir = '';
let clip = { path: '', width: 0, height: 0 };
let manager: SessionManager;
let whep: WhepServer;

before(async () => {
  dir = await tempDir('stream-whep');
  clip = await writeMarkedClip(dir, 'ev-w');
  manager = new SessionManager({ token: TOKEN, iceServers: [], maxSessions: 1, sessionTimeoutMs: 60_000, loop: false }, { clipsDir: `${dir}/clips` });
  whep = await startWhep(manager, 0);
});
after(async () => {
  await whep.close();
  await removeDir(dir);
  exitBeforeWrtcCleanup();
});

/** A complete (non-trickle) offer: waits for ICE gathering to finish. */
async function completeOffer(v: Viewer): Promise<string> {
  await v.offer();
  for (let i = 0; i < 100 && v.pc.iceGatheringState !== 'complete'; i++) await new Promise((r) => setTimeout(r, 50));
  return v.pc.localDescription?.sdp as string;
}

function post(path: string, body: string, token = TOKEN, type = 'application/sdp'): Promise<Response> {
  return fetch(`${whep.url}${path}`, { method: 'POST', body, headers: { 'content-type': type, authorization: `Bearer ${token}` } });
}

test('WHEP: a POSTed offer gets 201 with the answer and a Location; the clip arrives in order at its size; DELETE ends the session', async () => {
  const v = new Viewer(() => undefined);
  try {
    const res = await post('/whep/clip/ev-w', await completeOffer(v));
    assert.equal(res.status, 201, await res.clone().text());
    assert.equal(res.headers.get('content-type'), 'application/sdp');
    const location = res.headers.get('location') as string;
    assert.match(location, /^\/whep\/session\/whep-[0-9a-f]{16}$/);
    const answer = await res.text();
    assert.match(answer, /a=candidate/, 'non-trickle: the answer carries the candidates');
    await v.pc.setRemoteDescription({ type: 'answer', sdp: answer });
    // the first 10 of the clip's CLIP_FRAMES: the session is still playing (a clip that has played
    // to its end ends its session, sessions.test.ts)
    const frames = await v.waitFrames(10, 20_000);
    assert.ok(frames.length >= 10 && frames.length < CLIP_FRAMES, `${frames.length} frames arrived`);
    for (const f of frames) assert.deepEqual([f.width, f.height], [clip.width, clip.height]);
    assert.ok(inOrder(frames));
    assert.equal(manager.ids().length, 1);
    const busy = await post('/whep/live', 'v=0\r\n');
    assert.equal(busy.status, 503);
    assert.match(await busy.text(), /too many sessions \(at most 1\)/);
    assert.equal((await fetch(`${whep.url}${location}`, { method: 'DELETE', headers: { authorization: 'Bearer nope' } })).status, 401);
    assert.equal((await fetch(`${whep.url}${location}`, { method: 'DELETE', headers: { authorization: `Bearer ${TOKEN}` } })).status, 204);
    assert.deepEqual(manager.ids(), []);
  } finally {
    v.close();
  }
});

test('WHEP refusals carry status and reason: wrong token, unknown event, malformed SDP, wrong type, trickle, unknown path', async () => {
  const v = new Viewer(() => undefined);
  try {
    const sdp = await v.offer();
    const cases: Array<[() => Promise<Response>, number, RegExp]> = [
      [() => post('/whep/clip/ev-w', sdp, 'bad-token'), 401, /^wrong token$/],
      [() => post('/whep/clip/ev-404', sdp), 404, /unknown event id: "ev-404"/],
      [() => post('/whep/clip/ev-w', 'v=0\r\nnot sdp\r\n'), 400, /malformed SDP/],
      [() => post('/whep/clip/ev-w', sdp, TOKEN, 'application/json'), 415, /Content-Type: application\/sdp/],
      [() => post('/whep/live', sdp), 404, /no live view on this device/],
      [() => fetch(`${whep.url}/whep/clip/ev-w`, { method: 'PATCH' }), 405, /trickle ICE is not supported/],
      [() => post('/elsewhere', sdp), 404, /not found: \/elsewhere/],
    ];
    for (const [send, status, reason] of cases) {
      const r = await send(); // one at a time: the cap is 1
      const text = (await r.text()).trim();
      assert.equal(r.status, status, text);
      assert.match(text, reason);
    }
    assert.deepEqual(manager.ids(), []);
  } finally {
    v.close();
  }
});
