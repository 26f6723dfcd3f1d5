import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { ClipPlayer, findClip, probeClip, UnknownEventError } from '../../src/webrtc/clip-source.js';
import { wrtc, type PeerConnection } from '../../src/webrtc/wrtc.js';
import { CLIP_FRAMES, exitBeforeWrtcCleanup, inOrder, removeDir, tempDir, Viewer, writeMarkedClip } from './fixtures.js';

let dir = '';
let clip = { path: '', width: 0, height: 0 };

before(async () => {
  dir = await tempDir('stream-clip');
  clip = await writeMarkedClip(dir, 'ev-1');
});
after(async () => {
  await removeDir(dir);
  exitBeforeWrtcCleanup();
});

test('findClip finds a clip by event id and refuses unknown or unsafe ids clearly', async () => {
  assert.equal(await findClip(`${dir}/clips`, 'ev-1'), clip.path);
  await assert.rejects(findClip(`${dir}/clips`, 'nope'), (e: unknown) => e instanceof UnknownEventError && /unknown event id: "nope"/.test(e.message));
  await assert.rejects(findClip(`${dir}/clips`, '../x'), UnknownEventError);
  await assert.rejects(findClip(`${dir}/missing`, 'ev-1'), UnknownEventError);
});

test('probeClip reads the even size and frame rate', async () => {
  const info = await probeClip(clip.path);
  assert.deepEqual(info, { width: clip.width, height: clip.height, fps: 10 });
});

test('node-to-node: a clip streamed over WebRTC arrives in order at the right size', async () => {
  let ended = false;
  const player = await ClipPlayer.open(clip.path, { onEnd: () => (ended = true) });
  const sender: PeerConnection = new (wrtc().RTCPeerConnection)({ iceServers: [] });
  const viewer = new Viewer((c) => void sender.addIceCandidate(c));
  try {
    sender.addTrack(player.track);
    sender.onicecandidate = (ev) => {
      if (ev.candidate) void viewer.pc.addIceCandidate({ candidate: ev.candidate.candidate, sdpMid: ev.candidate.sdpMid ?? null, sdpMLineIndex: ev.candidate.sdpMLineIndex ?? null });
    };
    sender.onconnectionstatechange = () => {
      if (sender.connectionState === 'connected') player.start();
    };
    await sender.setRemoteDescription({ type: 'offer', sdp: await viewer.offer() });
    const answer = await sender.createAnswer();
    await sender.setLocalDescription(answer);
    await viewer.pc.setRemoteDescription(answer);
    await viewer.waitFrames(CLIP_FRAMES, 20_000, () => ended);
    const frames = viewer.frames;
    assert.ok(frames.length >= 10, `only ${frames.length} frames arrived`);
    for (const f of frames) assert.deepEqual([f.width, f.height], [clip.width, clip.height]);
    assert.ok(inOrder(frames), `markers out of order: ${frames.map((f) => f.marker).join(',')}`);
  } finally {
    player.stop();
    viewer.close();
    sender.close();
  }
});
