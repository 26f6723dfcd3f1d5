/**
 * Evidence at the camera's resolution (issue 14, part 2), end to end through `run` with real
 * ffmpeg: a 640x360 H.264 mp4 (ffmpeg's testsrc, a key frame every second) and a folder of 640x360
 * PNGs give clips of 640x360 that hold the pre-roll, and 640x360 snapshots with the region; the
 * moment a clip message arrives both files it names are complete (no `.part` left); a codec MPEG-TS
 * cannot carry and `clips.from: "model-grid"` give model-grid evidence; `cmd/snapshot` answers at
 * the source's size. A tiny random model: its events mean nothing, they only exercise the files.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { ClipRecorder, FrameRing, type StoredFrame } from '../../src/pipeline/clips.js';
import type { EvidenceJob, EvidenceWriter } from '../../src/pipeline/evidence.js';
import { scaleBox } from '../../src/pipeline/evidence.js';
import { runCommand, type RunSummary } from '../../src/runtime/command.js';
import { quietExport, TINY, tinyWeights } from '../export/fixtures.js';
import { aedesBroker, type TestBroker } from '../mqtt/brokers.js';
import { Recorder } from '../mqtt/sub.js';
import { missingTools } from '../tools.js';

interface ClipMsg {
  event_id: string;
  video: string;
  snapshot: string;
  width: number;
  height: number;
  region: { x: number; y: number; w: number; h: number } | null;
  from: 'source' | 'model-grid';
  first_frame: number;
  last_frame: number;
  frames: number;
  video_bytes: number;
  snapshot_bytes: number;
  fps: number;
}

const FPS = 25;
const PRE_ROLL_S = 1;

function ffmpeg(args: string[]): void {
  execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args]);
}

/** ffprobe's width, height, frame count and duration (s) of a clip's video stream. */
function probe(file: string): { width: number; height: number; frames: number; duration: number } {
  const out = execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-count_packets', '-show_entries', 'stream=width,height,nb_read_packets:format=duration', '-of', 'json', file], { encoding: 'utf8' });
  const j = JSON.parse(out) as { streams: Array<{ width: number; height: number; nb_read_packets: string }>; format: { duration: string } };
  const s = j.streams[0]!;
  return { width: s.width, height: s.height, frames: Number(s.nb_read_packets), duration: Number(j.format.duration) };
}

/** ffmpeg's testsrc, every other frame negated from 3 s to 5 s (a flicker no model predicts). */
const PATTERN = `testsrc=size=640x360:rate=${FPS},negate=enable='between(t,3,5)*mod(n,2)'`;

describe('evidence at the camera\'s resolution (run, real ffmpeg)', { skip: missingTools('ffmpeg') }, () => {
  let dir = '';
  let model = '';
  let config = '';
  let broker: TestBroker;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sfn-evidence-'));
    const w = await tinyWeights(dir, TINY, { seed: 5 });
    model = path.join(dir, 'tiny.onnx');
    await quietExport({ weights: w.base, out: model });
    ffmpeg(['-f', 'lavfi', '-i', PATTERN, '-t', '7', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-g', String(FPS), path.join(dir, 'cam.mp4')]);
    ffmpeg(['-f', 'lavfi', '-i', PATTERN, '-t', '7', '-c:v', 'mjpeg', '-q:v', '5', path.join(dir, 'cam.avi')]);
    await fs.mkdir(path.join(dir, 'folder'));
    ffmpeg(['-f', 'lavfi', '-i', PATTERN, '-ss', '1', '-t', '4', path.join(dir, 'folder', '%03d.png')]);
    config = path.join(dir, 'config.json');
    // low thresholds: a random model's scores only need to cross them for the files to be made
    await fs.writeFile(config, JSON.stringify({ threshold: { on: 0.2, off: 0.1, fpr: null }, min_duration_frames: 2, smoothing_sigma: 0, baseline_window: 10, baseline_warmup: 5, update_every_frames: 5, clips: { pre_roll_s: PRE_ROLL_S, post_roll_s: 0.2 }, captions: { enabled: false } }));
    broker = await aedesBroker();
  });
  after(async () => {
    await broker?.dispose();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  /**
   * Runs `run` on `source`; at the moment each clip message arrives, checks that the files it names
   * exist with the sizes it gives and that no `.part` file is in the clips folder.
   */
  async function runOn(source: string, tag: string, extra: Record<string, unknown> = {}, during?: (device: string, sub: Recorder) => Promise<void>) {
    const device = `ev-${tag}-${process.pid}`;
    const clips = path.join(dir, `clips-${tag}`);
    const sub = await Recorder.open(broker.url, `sfn/${device}/#`);
    const checked: Array<Promise<void>> = [];
    sub.client.on('message', (topic, payload) => {
      if (!/\/events\/[^/]+\/clip$/.test(topic)) return;
      const c = JSON.parse(payload.toString()) as ClipMsg;
      checked.push((async () => {
        assert.equal((await fs.stat(c.video)).size, c.video_bytes, 'the clip is complete when it is named');
        assert.equal((await fs.stat(c.snapshot)).size, c.snapshot_bytes, 'the snapshot is complete when it is named');
        // another event's clip may still be on its way (its .part); the named files' own are gone
        const names = await fs.readdir(path.dirname(c.video));
        const own = [path.basename(c.video), path.basename(c.snapshot)].map((n) => `${n}.part`);
        assert.deepEqual(names.filter((n) => own.includes(n)), [], 'no .part file of the named clip or snapshot');
      })());
    });
    let s: RunSummary;
    try {
      const run = runCommand({
        source, model, broker: broker.url, deviceId: device, config, realtime: 'false', clips, stateDir: path.join(dir, `state-${tag}`), providers: 'cpu', ...extra,
      }, () => undefined);
      if (during) await during(device, sub);
      s = await run;
      await sub.waitFor('the clip messages', (g) => g.filter((m) => m.topic.endsWith('/clip')).length >= s.events);
      await Promise.all(checked);
    } finally {
      await sub.close();
    }
    const msgs = sub.got.filter((m) => m.topic.endsWith('/clip')).map((m) => JSON.parse(m.text) as ClipMsg);
    assert.ok(s.events >= 1, 'the low thresholds give an event');
    assert.equal(msgs.length, s.events);
    const left = await fs.readdir(clips);
    assert.deepEqual(left.filter((n) => n.endsWith('.part') || n.endsWith('.concat.txt')), []);
    assert.ok(!left.includes('segments'), 'the segments are removed when the run ends');
    return { s, msgs };
  }

  async function assertSnapshot(c: ClipMsg, width: number, height: number): Promise<void> {
    const m = await sharp(c.snapshot).metadata();
    assert.equal(m.format, 'jpeg');
    assert.deepEqual([m.width, m.height, c.width, c.height], [width, height, width, height]);
    assert.ok(c.region, 'the region is given');
    assert.ok(c.region.x >= 0 && c.region.y >= 0 && c.region.x + c.region.w <= width && c.region.y + c.region.h <= height, 'the region is inside the snapshot');
  }

  it('an mp4 source: 640x360 clips cut from its own stream, holding the pre-roll; 640x360 snapshots', async () => {
    const { msgs } = await runOn(path.join(dir, 'cam.mp4'), 'mp4');
    for (const c of msgs) {
      assert.equal(c.from, 'source');
      const p = probe(c.video);
      assert.deepEqual([p.width, p.height], [640, 360]);
      const need = (c.last_frame - c.first_frame + 1) / FPS;
      assert.ok(p.duration >= need - 1 / FPS, `the clip (${p.duration} s) covers pre-roll + event (${need} s)`);
      assert.ok(p.frames >= c.last_frame - c.first_frame + 1, `${p.frames} frames for ${c.first_frame}..${c.last_frame}`);
      assert.ok(c.first_frame === 0 || c.frames >= PRE_ROLL_S * FPS, 'the recording holds the pre-roll');
      await assertSnapshot(c, 640, 360);
    }
  });

  it('an image folder: clips encoded from the original images, 640x360', async () => {
    const { msgs } = await runOn(path.join(dir, 'folder'), 'folder', { fps: FPS });
    for (const c of msgs) {
      assert.equal(c.from, 'source');
      const p = probe(c.video);
      assert.deepEqual([p.width, p.height], [640, 360]);
      assert.equal(p.frames, c.last_frame - c.first_frame + 1);
      await assertSnapshot(c, 640, 360);
    }
  });

  it('clips.from "model-grid", and a codec MPEG-TS cannot carry (MJPEG): model-grid evidence', async () => {
    const grid = path.join(dir, 'grid.json');
    await fs.writeFile(grid, JSON.stringify({ ...JSON.parse(await fs.readFile(config, 'utf8')), clips: { pre_roll_s: PRE_ROLL_S, post_roll_s: 0.2, from: 'model-grid' } }));
    for (const [source, tag, cfg] of [[path.join(dir, 'cam.mp4'), 'grid', grid], [path.join(dir, 'cam.avi'), 'mjpeg', config]] as const) {
      const { msgs } = await runOn(source, tag, { config: cfg });
      for (const c of msgs) {
        assert.equal(c.from, 'model-grid', tag);
        const p = probe(c.video);
        assert.deepEqual([p.width, p.height], [TINY.width, TINY.height]);
        await assertSnapshot(c, TINY.width!, TINY.height!);
      }
    }
  });

  it('cmd/snapshot answers with a JPEG at the source size', async () => {
    await runOn(path.join(dir, 'cam.mp4'), 'cmd', { realtime: 'true' }, async (device, sub) => {
      await sub.waitFor('the source is up', (g) => g.some((m) => m.topic === `sfn/${device}/source/state` && m.text.includes('"up"')), 30_000);
      // the newest frame's segment is still being written: the snapshot waits for it to close
      await sub.client.publishAsync(`sfn/${device}/cmd/snapshot`, '{}', { qos: 1 });
      await sub.waitFor('the snapshot', (g) => g.some((m) => m.topic === `sfn/${device}/snapshot`), 30_000);
      const snap = JSON.parse(sub.on(`sfn/${device}/snapshot`)[0]!.text) as { path: string; width: number; height: number; from: string };
      const m = await sharp(snap.path).metadata();
      assert.deepEqual([m.width, m.height, snap.width, snap.height, snap.from], [640, 360, 640, 360, 'source']);
    });
  });
});

describe('the clip recorder and its evidence writer', () => {
  it('a recording keeps its writer\'s evidence from the moment it opens (pre-roll included), hands it the peak region, then releases it', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sfn-evidence-rec-'));
    try {
      const calls: string[] = [];
      let job: EvidenceJob | null = null;
      const writer: EvidenceWriter = {
        from: 'source',
        open: (id, first) => calls.push(`open ${id} ${first}`),
        close: (id) => calls.push(`close ${id}`),
        write: async (j, video, snapshot) => {
          job = j;
          calls.push('write');
          await fs.writeFile(video, 'mp4');
          await fs.writeFile(snapshot, 'jpg');
          return { width: 640, height: 360, region: scaleBox(j.region!, { width: 24, height: 16 }, { width: 640, height: 360 }), from: 'source' };
        },
        still: async () => ({ width: 640, height: 360 }),
      };
      const spec = { width: 24, height: 16, color: 'gray' as const };
      const ring = new FrameRing(64);
      const rec = new ClipRecorder({ enabled: true, dir, fps: 10, preRollFrames: 5, postRollFrames: 2, maxFrames: 100, budgetBytes: 2 ** 30 }, spec, ring);
      rec.writer = writer;
      const frame = (i: number): StoredFrame => ({ index: i, time: new Date(), pixels: new Uint8Array(24 * 16) });
      for (let i = 0; i < 10; i++) ring.push(frame(i));
      rec.start('e1', 8, new Date());
      assert.deepEqual(calls, ['open e1 3'], 'pinned from the first pre-roll frame, at the start');
      for (let i = 10; i < 16; i++) {
        const f = frame(i);
        ring.push(f);
        rec.frame(f);
        rec.scored(i, () => ({ x: i % 3, y: 0, w: 8, h: 8 }));
      }
      rec.stop('e1', 13, 12);
      const [c] = await rec.finish();
      assert.deepEqual(calls, ['open e1 3', 'write', 'close e1']);
      assert.deepEqual([job!.first, job!.last, job!.peak, job!.region], [3, 15, 12, { x: 0, y: 0, w: 8, h: 8 }]);
      assert.deepEqual([c!.width, c!.height, c!.from, c!.region], [640, 360, 'source', { x: 0, y: 0, w: 213, h: 180 }]);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('scaleBox: a model-grid window in source pixels, clamped inside the picture', () => {
    assert.deepEqual(scaleBox({ x: 8, y: 8, w: 16, h: 8 }, { width: 24, height: 16 }, { width: 1920, height: 1080 }), { x: 640, y: 540, w: 1280, h: 540 });
    assert.deepEqual(scaleBox({ x: 20, y: 12, w: 16, h: 16 }, { width: 24, height: 16 }, { width: 240, height: 160 }), { x: 200, y: 120, w: 40, h: 40 });
  });
});
