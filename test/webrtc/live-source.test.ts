import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { FfmpegLiveReader, ImageLiveReader, liveReaderFor, liveSize, rgbToI420 } from '../../src/webrtc/live-source.js';
import { ffmpegBinary } from '../../src/video/ffmpeg.js';

test('liveSize keeps the aspect ratio, never scales up, and gives even sizes', () => {
  assert.deepEqual(liveSize(640, 360, 720), { width: 640, height: 360 });
  assert.deepEqual(liveSize(640, 360, 240), { width: 426, height: 240 });
  assert.deepEqual(liveSize(1920, 1080, 720), { width: 1280, height: 720 });
  assert.deepEqual(liveSize(321, 241, 720), { width: 320, height: 240 });
  assert.throws(() => liveSize(0, 10, 720), RangeError);
});

test('rgbToI420 maps white to Y 255 and neutral chroma', () => {
  const f = rgbToI420(new Uint8Array(4 * 2 * 3).fill(255), 4, 2);
  assert.equal(f.data.length, 12);
  assert.equal(f.data[0], 255);
  assert.equal(f.data[8], 128);
  assert.throws(() => rgbToI420(new Uint8Array(27), 3, 3), RangeError);
});

test('the image folder reader gives each image at its own size', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sfn-live-img-'));
  try {
    for (let i = 0; i < 2; i++) {
      await sharp({ create: { width: 320, height: 240, channels: 3, background: { r: 200, g: 10 * i, b: 0 } } }).png().toFile(join(dir, `f${i}.png`));
    }
    const reader = await liveReaderFor({ source: dir, sourceFps: 10, liveFps: 10, maxHeight: 720 });
    assert.ok(reader instanceof ImageLiveReader);
    const f = await reader.read(1);
    assert.equal(f?.width, 320);
    assert.equal(f?.height, 240);
    assert.equal(f?.data.length, 320 * 240 * 1.5);
    assert.equal(await reader.read(5), null);
    await reader.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the ffmpeg reader decodes an mp4 at its size, capped to the max height, and stops its decoder', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sfn-live-mp4-'));
  try {
    const mp4 = join(dir, 'c.mp4');
    const r = spawnSync(ffmpegBinary(), ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=size=640x360:rate=10:duration=3', '-pix_fmt', 'yuv420p', '-y', mp4], { timeout: 30_000 });
    assert.equal(r.status, 0, String(r.stderr));
    for (const [cap, w, h] of [[720, 640, 360], [240, 426, 240]] as const) {
      const reader = await liveReaderFor({ source: mp4, sourceFps: 10, liveFps: 10, maxHeight: cap });
      assert.ok(reader instanceof FfmpegLiveReader);
      let f = null;
      for (let i = 0; i < 20 && !f; i++) {
        f = await reader.read(0);
        if (!f) await new Promise((res) => setTimeout(res, 100));
      }
      assert.equal(f?.width, w);
      assert.equal(f?.height, h);
      assert.equal(f?.data.length, w * h * 1.5);
      await reader.close();
      await reader.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a V4L2 device has no live reader (the live view stays at the model grid)', async () => {
  assert.equal(await liveReaderFor({ source: '/dev/video7', sourceFps: 10, liveFps: 10, maxHeight: 720 }), null);
  assert.equal(await liveReaderFor({ source: '/dev/video7', sourceFps: 10, liveFps: 10, maxHeight: 720 }), null);
});
