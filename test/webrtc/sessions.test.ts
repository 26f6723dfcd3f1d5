/**
 * Session slots: a clip that has played to its end ends its session (`clip ended`, after
 * CLIP_END_LINGER_MS) and frees its slot for the next viewer, and an offer without a token is told
 * so (not "wrong token").
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, test } from 'node:test';
import { SessionManager, SessionRefused } from '../../src/webrtc/sessions.js';
import { CLIP_FRAMES, exitBeforeWrtcCleanup, removeDir, tempDir, Viewer, writeMarkedClip } from './fixtures.js';

after(() => exitBeforeWrtcCleanup());

test('node-to-node: a clip played to its end ends its session and frees the slot; a missing token is named', async () => {
  const dir = await tempDir('sfn-sessions-');
  const viewers: Viewer[] = [];
  const m = new SessionManager({ token: 'tok-12345', iceServers: [], maxSessions: 1, sessionTimeoutMs: 600_000, loop: false }, { clipsDir: path.join(dir, 'clips') });
  try {
    await writeMarkedClip(dir, 'ev-1');
    const ended: string[] = [];
    const play = async (id: string) => {
      const v = new Viewer((c) => void m.candidate(id, c));
      viewers.push(v);
      const sdp = await m.offer(id, { token: 'tok-12345', request: { kind: 'clip', eventId: 'ev-1' }, sdp: await v.offer() }, {
        onCandidate: (c) => void v.pc.addIceCandidate(c).catch(() => undefined), onEnd: (why) => ended.push(`${id}:${why}`),
      });
      await v.pc.setRemoteDescription({ type: 'answer', sdp });
      return v;
    };
    const first = await play('s1');
    await first.waitFrames(CLIP_FRAMES, 30_000, () => ended.length > 0);
    for (let i = 0; i < 300 && !ended.length; i++) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(ended, ['s1:clip ended']);
    assert.deepEqual(m.ids(), []);
    // the slot is free: a second viewer is answered (the profile's cap is 1)
    const second = await play('s2');
    assert.ok((await second.waitFrames(3)).length >= 3);
    await assert.rejects(m.offer('s3', { token: undefined, request: { kind: 'clip', eventId: 'ev-1' }, sdp: 'v=0\r\n' }),
      (e: unknown) => e instanceof SessionRefused && /missing token/.test(e.message) && e.status === 401);
  } finally {
    m.closeAll();
    for (const v of viewers) v.close();
    await removeDir(dir);
  }
});
