import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import { anomalyRegion, drawBox, LiveFeed, toI420, type LiveFrame } from '../../src/webrtc/live.js';
import { SessionManager, SessionRefused } from '../../src/webrtc/sessions.js';
import { exitBeforeWrtcCleanup, inOrder, markerOf, Viewer } from './fixtures.js';

after(() => exitBeforeWrtcCleanup());

const GRID = { width: 144, height: 96, color: 'gray' as const };

/** A gray frame whose top-left 48x48 block encodes `i` as the clip fixtures do (16 + 8i). */
function markedFrame(i: number, spec = GRID): Float32Array {
  const f = new Float32Array(spec.width * spec.height).fill(0.5);
  for (let y = 0; y < 48; y++) for (let x = 0; x < 48; x++) f[y * spec.width + x] = (16 + 8 * i) / 255;
  return f;
}

test('toI420: gray maps to luma with neutral chroma, odd sizes are cropped to even', () => {
  const f = toI420(markedFrame(3), GRID);
  assert.deepEqual([f.width, f.height, f.data.length], [144, 96, 144 * 96 * 1.5]);
  assert.equal(markerOf(f), 3);
  assert.ok(f.data.subarray(144 * 96).every((v) => v === 128));
  const odd = toI420(new Float32Array(5 * 3).fill(1), { width: 5, height: 3, color: 'gray' });
  assert.deepEqual([odd.width, odd.height, odd.data[0]], [4, 2, 255]);
  assert.throws(() => toI420(new Float32Array(10), GRID), /frame data has 10 values, 1x96x144 expected/);
});

test('toI420: RGB red becomes BT.601 red (high V, low U)', () => {
  const spec = { width: 4, height: 2, color: 'rgb' as const };
  const d = new Float32Array(3 * 8);
  d.fill(1, 0, 8); // R plane = 1, G = B = 0
  const f = toI420(d, spec);
  assert.equal(f.data[0], 76);
  assert.ok((f.data[8] as number) < 100 && (f.data[10] as number) > 240, `U ${f.data[8]} V ${f.data[10]}`);
});

test('anomalyRegion finds the 16 px window with the largest error; drawBox outlines it in red', () => {
  const target = new Float32Array(144 * 96).fill(0.5);
  const pred = new Float32Array(target);
  for (let y = 40; y < 44; y++) for (let x = 70; x < 74; x++) pred[y * 144 + x] = 1;
  const box = anomalyRegion(pred, target, GRID);
  assert.deepEqual(box, { x: 64, y: 32, w: 16, h: 16 });
  assert.throws(() => anomalyRegion(pred.subarray(1), target, GRID), /prediction has/);
  const f = toI420(target, GRID);
  const boxed = drawBox(f, box);
  assert.equal(boxed.data[32 * 144 + 70], 82, 'top edge painted');
  assert.equal(boxed.data[40 * 144 + 70], f.data[40 * 144 + 70], 'inside untouched');
  assert.equal(f.data[32 * 144 + 70], 128, 'the input frame is not modified');
});

test('LiveFeed converts nothing without viewers and at most maxFps with them', () => {
  let now = 0;
  const feed = new LiveFeed(10, () => now);
  feed.push(markedFrame(0), GRID);
  assert.equal(feed.delivered, 0);
  const got: LiveFrame[] = [];
  const off = feed.subscribe((f) => got.push(f), true);
  assert.ok(feed.watching && feed.wantsRegion);
  for (let i = 0; i < 10; i++) {
    now = i * 50; // 20 frames/s offered
    feed.setRegion(i === 4 ? { x: 0, y: 0, w: 16, h: 16 } : null);
    feed.push(markedFrame(i), GRID);
  }
  assert.deepEqual(got.map((g) => markerOf(g.frame)), [0, 2, 4, 6, 8]);
  assert.deepEqual(got.map((g) => g.region !== null), [false, false, true, false, false]);
  off();
  assert.ok(!feed.watching);
});

test('node-to-node: a live-view session delivers the pushed frames in order at the grid size; the session cap and a missing live feed are refused', async () => {
  const feed = new LiveFeed(30);
  const m = new SessionManager({ token: 'tok-12345', iceServers: [], maxSessions: 1, sessionTimeoutMs: 60_000, loop: false }, { clipsDir: '/nonexistent', live: feed });
  const viewer = new Viewer((c) => void m.candidate('live-1', c));
  let i = 0;
  // frames 0..27, pushed once the session watches (the clip fixtures' marker range)
  const pusher = setInterval(() => {
    if (feed.watching && i < 28) feed.push(markedFrame(i++), GRID);
  }, 40);
  try {
    const sdp = await m.offer('live-1', { token: 'tok-12345', request: { kind: 'live', overlay: false }, sdp: await viewer.offer() }, {
      onCandidate: (c) => void viewer.pc.addIceCandidate(c).catch(() => undefined),
    });
    await viewer.pc.setRemoteDescription({ type: 'answer', sdp });
    const frames = await viewer.waitFrames(8);
    assert.ok(frames.length >= 8, `only ${frames.length} frames arrived`);
    for (const f of frames) assert.deepEqual([f.width, f.height], [144, 96]);
    assert.ok(inOrder(frames), `markers out of order: ${frames.map((f) => f.marker).join(',')}`);
    await assert.rejects(m.offer('live-2', { token: 'tok-12345', request: { kind: 'live', overlay: true }, sdp: 'v=0\r\n' }), (e: unknown) => e instanceof SessionRefused && /too many sessions \(at most 1\)/.test(e.message));
    const noLive = new SessionManager({ ...m.current }, { clipsDir: '/nonexistent' });
    await assert.rejects(noLive.offer('x', { token: 'tok-12345', request: { kind: 'live', overlay: false }, sdp: 'v=0\r\n' }), /no live view on this device/);
  } finally {
    clearInterval(pusher);
    m.closeAll();
    viewer.close();
  }
  assert.deepEqual(m.ids(), []);
  assert.ok(!feed.watching, 'the ended session unsubscribed from the feed');
});

test('LiveFeed with a reader: source-size frames, one read at a time (a frame due meanwhile is skipped), the region scaled, the reader closed when the last viewer leaves', async () => {
  let now = 0;
  const feed = new LiveFeed(1000, () => now);
  let reads = 0;
  let closes = 0;
  const pending: Array<() => void> = [];
  feed.setReader({
    read: async () => {
      reads++;
      await new Promise<void>((res) => pending.push(res));
      return { width: 288, height: 192, data: new Uint8Array(288 * 192 * 1.5) };
    },
    close: async () => { closes++; },
  });
  const got: LiveFrame[] = [];
  const off = feed.subscribe((f) => got.push(f), true);
  feed.setRegion({ x: 16, y: 8, w: 16, h: 16 });
  for (let i = 0; i < 5; i++) {
    now += 10;
    feed.push(markedFrame(i), GRID, i); // the slow reader has one read in flight: the rest are skipped
  }
  assert.equal(reads, 1);
  for (let i = 0; i < 10 && pending.length; i++) pending.shift()!();
  await new Promise((res) => setImmediate(res));
  assert.equal(got.length, 1);
  assert.deepEqual([got[0]!.frame.width, got[0]!.frame.height], [288, 192]);
  assert.deepEqual(got[0]!.region, { x: 32, y: 16, w: 32, h: 32 });
  off();
  assert.equal(closes, 1);
  feed.setReader(null);
});
