import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { Predictor } from '../../src/eval/predictor.js';
import { EventDetector, type AnomalyEvent } from '../../src/events/detector.js';
import { ClipRecorder, enforceBudget, FrameRing, toInterleavedU8 } from '../../src/runtime/clips.js';
import { runLoop } from '../../src/runtime/loop.js';
import type { Frame, FrameSpec } from '../../src/video/source.js';

const SPEC: FrameSpec = { width: 48, height: 32, color: 'gray' };
const N = SPEC.width * SPEC.height;
const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await fs.rm(d, { recursive: true, force: true });
});

/** Frames with mild noise; frames in [a, b) carry a bright 16x16 square moving 3 px per frame (the "anomaly"). */
async function* frames(count: number, a = -1, b = -1, done?: () => void): AsyncIterable<Frame> {
  for (let i = 0; i < count; i++) {
    const data = new Float32Array(N);
    for (let j = 0; j < N; j++) data[j] = 0.3 + 0.02 * (((i * 31 + j * 7) % 5) / 5);
    const x0 = ((i - a) * 3) % 32;
    if (i >= a && i < b) for (let y = 8; y < 24; y++) for (let x = x0; x < x0 + 16; x++) data[y * SPEC.width + x] = 1;
    yield { index: i, data };
  }
  done?.();
}

/** Copy-last predictor, optionally blocked until `gate` resolves (a model that cannot keep up). */
class FakePredictor implements Predictor {
  readonly name = 'fake';
  readonly spec = SPEC;
  calls = 0;
  constructor(readonly batchSize: number, private readonly gate?: Promise<void>) {}
  async predict(clips: Float32Array, n: number): Promise<Float32Array> {
    this.calls += 1;
    if (this.gate) await this.gate;
    const out = new Float32Array(n * N);
    for (let i = 0; i < n; i++) out.set(clips.subarray((i * 4 + 3) * N, (i * 4 + 4) * N), i * N);
    return out;
  }
}

const PARAMS = { on: 4, off: 2, minFrames: 3, sigma: 0, updateEvery: 5, window: 100, warmup: 10 };

describe('runLoop', () => {
  it('as fast as possible: every frame after the context is scored, in batches; lifecycle with one id', async () => {
    const events: AnomalyEvent[] = [];
    const pred = new FakePredictor(4);
    const c = await runLoop({
      frames: frames(60, 30, 40), predictor: pred, detector: new EventDetector(PARAMS, 'sha'), measure: () => 'patch-max',
      realtime: false, fps: 25, paceByClock: false, batch: 4, onEvent: (e) => events.push(e),
    });
    assert.equal(c.frames, 60);
    assert.equal(c.scored, 56);
    assert.equal(c.skipped, 0);
    assert.equal(pred.calls, 14);
    assert.ok(events.length >= 2);
    assert.equal(events[0]!.type, 'new');
    assert.equal(events.at(-1)!.type, 'end');
    assert.ok(events.every((e) => e.id === events[0]!.id));
    assert.equal(events[0]!.start.frame, 30);
    assert.equal(c.events, 1);
  });

  it('realtime: frames that arrive while the model is busy are dropped and counted, not queued', async () => {
    let open!: () => void;
    const gate = new Promise<void>((r) => {
      open = r;
    });
    const pred = new FakePredictor(1, gate);
    const c = await runLoop({
      frames: frames(40, -1, -1, () => open()), predictor: pred, detector: new EventDetector(PARAMS, 'sha'), measure: () => 'mse',
      realtime: true, fps: 1000, paceByClock: false, onEvent: () => undefined,
    });
    // frame 4 goes to the model and blocks it; frames 5..39 compete for the one "latest" slot:
    // 34 of them are replaced (skipped), frame 39 is scored after frame 4
    assert.equal(c.frames, 40);
    assert.equal(c.scored, 2);
    assert.equal(c.skipped, 34);
    assert.equal(pred.calls, 2);
  });

  it('records a clip (H.264 baseline MP4) and a JPEG snapshot per event, with pre- and post-roll', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sfn-clips-'));
    dirs.push(dir);
    const ring = new FrameRing(64);
    const rec = new ClipRecorder({ enabled: true, dir, fps: 10, preRollFrames: 5, postRollFrames: 4, maxFrames: 200, budgetBytes: 50 << 20 }, SPEC, ring);
    const events: AnomalyEvent[] = [];
    // the announcement comes only when both files are complete
    const announced: { id: string; videoSize: number; snapshotSize: number; bytes: [number, number] }[] = [];
    rec.onWritten = (c) => {
      announced.push({ id: c.id, videoSize: statSync(c.video).size, snapshotSize: statSync(c.snapshot).size, bytes: [c.video_bytes, c.snapshot_bytes] });
    };
    await runLoop({
      frames: frames(60, 30, 40), predictor: new FakePredictor(4), detector: new EventDetector(PARAMS, 'sha'), measure: () => 'patch-max',
      realtime: false, fps: 10, paceByClock: false, ring, recorder: rec, onEvent: (e) => events.push(e),
    });
    const written = await rec.finish();
    assert.equal(written.length, 1);
    const w = written[0]!;
    const end = events.at(-1)!;
    assert.equal(end.type, 'end');
    // lifecycle messages name no file: none is complete when they are sent
    for (const e of events) assert.deepEqual(e.clip, { recording: true });
    assert.ok(!JSON.stringify(events).includes('.mp4'));
    assert.equal(announced.length, 1);
    assert.equal(announced[0]!.id, end.id);
    assert.deepEqual(announced[0]!.bytes, [announced[0]!.videoSize, announced[0]!.snapshotSize]);
    assert.ok(announced[0]!.videoSize > 0 && announced[0]!.snapshotSize > 0);
    assert.equal(w.first_frame, end.start.frame - 5);
    assert.equal(w.last_frame, end.end!.frame + 4);
    // frames start-5 .. end+4
    assert.equal(w.frames, end.end!.frame + 4 - (end.start.frame - 5) + 1);
    const probe = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name,profile,pix_fmt,nb_frames', '-of', 'json', w.video], { encoding: 'utf8' }));
    const s = probe.streams[0];
    assert.equal(s.codec_name, 'h264');
    assert.match(s.profile, /Baseline/);
    assert.equal(s.pix_fmt, 'yuv420p');
    assert.equal(Number(s.nb_frames), w.frames);
    const jpg = await fs.readFile(w.snapshot);
    assert.equal(jpg[0], 0xff);
    assert.equal(jpg[1], 0xd8);

    // clips switched off (config): events carry no clip, nothing is written
    const off = new ClipRecorder({ enabled: false, dir: path.join(dir, 'off'), fps: 10, preRollFrames: 5, postRollFrames: 4, maxFrames: 200, budgetBytes: 50 << 20 }, SPEC, new FrameRing(64));
    const ev2: AnomalyEvent[] = [];
    await runLoop({
      frames: frames(60, 30, 40), predictor: new FakePredictor(4), detector: new EventDetector(PARAMS, 'sha'), measure: () => 'patch-max',
      realtime: false, fps: 10, paceByClock: false, recorder: off, onEvent: (e) => ev2.push(e),
    });
    assert.ok(ev2.length >= 2);
    assert.ok(ev2.every((e) => e.clip === undefined));
    assert.deepEqual(await off.finish(), []);
  });
});

describe('clips helpers', () => {
  it('ring keeps the newest frames; u8 conversion clamps', () => {
    const ring = new FrameRing(3);
    for (let i = 0; i < 5; i++) ring.push({ index: i, time: new Date(), pixels: new Uint8Array(1) });
    assert.deepEqual(ring.since(0).map((f) => f.index), [2, 3, 4]);
    assert.deepEqual(ring.since(4).map((f) => f.index), [4]);
    ring.resize(2);
    assert.deepEqual(ring.since(0).map((f) => f.index), [3, 4]);
    ring.resize(4);
    ring.push({ index: 5, time: new Date(), pixels: new Uint8Array(1) });
    ring.push({ index: 6, time: new Date(), pixels: new Uint8Array(1) });
    assert.deepEqual(ring.since(0).map((f) => f.index), [3, 4, 5, 6]);
    assert.equal(ring.capacity, 4);
    const u = toInterleavedU8(Float32Array.from([-1, 0.5, 2, 0, 1, 0]), { width: 2, height: 1, color: 'rgb' });
    // planar R=[-1, 0.5], G=[2, 0], B=[1, 0] -> pixels (0, 255, 255), (128, 0, 0)
    assert.deepEqual([...u], [0, 255, 255, 128, 0, 0]);
  });

  it('disk budget deletes the oldest clips (video + snapshot) first, never the newest', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sfn-budget-'));
    dirs.push(dir);
    const stems = ['a', 'b', 'c'];
    for (const [i, s] of stems.entries()) {
      await fs.writeFile(path.join(dir, `${s}.mp4`), Buffer.alloc(1000));
      await fs.writeFile(path.join(dir, `${s}.jpg`), Buffer.alloc(100));
      const t = new Date(Date.UTC(2026, 0, 1, 0, i));
      await fs.utimes(path.join(dir, `${s}.mp4`), t, t);
      await fs.utimes(path.join(dir, `${s}.jpg`), t, t);
      await fs.writeFile(path.join(dir, `${s}.caption.json`), '{}');
      await fs.utimes(path.join(dir, `${s}.caption.json`), t, t);
    }
    await fs.writeFile(path.join(dir, 'notes.txt'), 'kept');
    assert.deepEqual(await enforceBudget(dir, 2306, 'c'), ['a']);
    assert.deepEqual(await enforceBudget(dir, 10, 'c'), ['b']);
    assert.deepEqual((await fs.readdir(dir)).sort(), ['c.caption.json', 'c.jpg', 'c.mp4', 'notes.txt'], 'captions go with their clip');
  });
});
