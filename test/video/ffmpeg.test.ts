import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { FfmpegSource, ffmpegBinary } from '../../src/video/ffmpeg.js';
import { ImageFolderSource } from '../../src/video/image-folder.js';
import { frameBytes } from '../../src/video/pixels.js';
import type { FrameSpec } from '../../src/core/frame.js';
import {
  assertVideoError, drain, encodeMp4, ffmpeg, garbleMiddle, meanAbsDiff, rejectsVideoError, removeDir, tempDir,
  truncateHalf, writeFrames,
} from './fixtures.js';

const GRAY: FrameSpec = { width: 144, height: 96, color: 'gray' };
const RGB: FrameSpec = { width: 144, height: 96, color: 'rgb' };

let root: string;
let framesDir: string; // 8 frames 000..007.jpg
let mp4: string; // index at the end (ffmpeg default)
let mp4Fast: string; // index first (+faststart)

before(async () => {
  root = await tempDir('ffmpeg');
  framesDir = join(root, 'frames');
  await writeFrames(framesDir, 8);
  mp4 = join(root, 'clip.mp4');
  mp4Fast = join(root, 'clip-faststart.mp4');
  encodeMp4(framesDir, mp4);
  encodeMp4(framesDir, mp4Fast, true);
});
after(() => removeDir(root));

/** Number of complete frames the ffmpeg CLI itself gets out of a file (the "nothing lost" reference). */
function cliFrameCount(file: string, spec: FrameSpec): number {
  const r = spawnSync('ffmpeg', [
    '-nostdin', '-v', 'error', '-i', resolve(file), '-map', '0:v:0', '-vf', `scale=${spec.width}:${spec.height}:flags=bilinear`,
    '-pix_fmt', spec.color === 'gray' ? 'gray' : 'rgb24', '-f', 'rawvideo', '-',
  ], { maxBuffer: 1 << 28 });
  return Math.floor(r.stdout.length / frameBytes(spec));
}

describe('FfmpegSource: values', () => {
  for (const spec of [GRAY, RGB]) {
    it(`${spec.color}: 8 frames, [C,H,W] in [0,1], close to the image-folder frames (lossy H.264)`, async () => {
      const video = await FfmpegSource.open(mp4, spec);
      const got = await drain(video);
      await video.close();
      assert.equal(got.error, undefined);
      const ref = await drain(new ImageFolderSource(framesDir, spec));
      assert.equal(got.frames.length, 8);
      assert.deepEqual(got.frames.map((f) => f.index), [0, 1, 2, 3, 4, 5, 6, 7]);
      for (let i = 0; i < 8; i++) {
        const a = got.frames[i]!.data;
        assert.equal(a.length, (spec.color === 'gray' ? 1 : 3) * 144 * 96);
        assert.ok(a.every((v) => v >= 0 && v <= 1));
        const d = meanAbsDiff(a, ref.frames[i]!.data);
        assert.ok(d < 0.05, `frame ${i}: mean abs diff ${d}`);
      }
    });
  }

  it('frames are not shifted: each video frame is closest to the folder frame with the same index', async () => {
    const video = await drain(new FfmpegSource(mp4, GRAY));
    const ref = await drain(new ImageFolderSource(framesDir, GRAY));
    for (let i = 0; i < 8; i++) {
      const dists = ref.frames.map((r) => meanAbsDiff(video.frames[i]!.data, r.data));
      assert.equal(dists.indexOf(Math.min(...dists)), i);
    }
  });

  it('odd frame size (37x23 rgb, 2553 bytes/frame): frames cut correctly across pipe chunks', async () => {
    const spec: FrameSpec = { width: 37, height: 23, color: 'rgb' };
    const video = await drain(new FfmpegSource(mp4, spec));
    const ref = await drain(new ImageFolderSource(framesDir, spec));
    assert.equal(video.error, undefined);
    assert.equal(video.frames.length, 8);
    for (let i = 0; i < 8; i++) assert.ok(meanAbsDiff(video.frames[i]!.data, ref.frames[i]!.data) < 0.05);
  });

  it('open() reports the stream from ffprobe', async () => {
    const video = await FfmpegSource.open(mp4, GRAY);
    assert.equal(video.info?.width, 360);
    assert.equal(video.info?.height, 240);
    assert.equal(video.info?.codec, 'h264');
    assert.equal(video.info?.fps, 10);
    await video.close();
  });

  it('breaking out of the loop and close() end the ffmpeg child', async () => {
    const video = new FfmpegSource(mp4, GRAY);
    const children = (video as unknown as { children: Map<unknown, unknown> }).children;
    let n = 0;
    for await (const _ of video.frames()) {
      assert.equal(children.size, 1);
      if (++n === 2) break;
    }
    assert.equal(n, 2);
    assert.equal(children.size, 0);

    let m = 0;
    for await (const _ of video.frames()) {
      m++;
      await video.close();
    }
    assert.equal(m, 1);
    assert.equal(children.size, 0);
    await video.close(); // twice is fine
  });
});

describe('FfmpegSource: bad input', () => {
  it('missing path', async () => {
    const file = join(root, 'nope.mp4');
    await rejectsVideoError(FfmpegSource.open(file, GRAY), file, /file not found/);
    assertVideoError((await drain(new FfmpegSource(file, GRAY))).error, file, /file not found/);
  });

  it('a text file renamed .mp4 is "not a video" (via ffprobe and via ffmpeg alone)', async () => {
    const file = join(root, 'notes.mp4');
    await writeFile(file, 'this is a text file, not a video\n'.repeat(20));
    const err = await rejectsVideoError(FfmpegSource.open(file, GRAY), file, /not a video file/);
    assert.match(err.message, /Invalid data found/); // ffprobe's stderr is quoted
    const direct = await drain(new FfmpegSource(file, GRAY));
    assert.equal(direct.frames.length, 0);
    assertVideoError(direct.error, file, /not a video file: ffmpeg cannot open it/);
  });

  it('a file with no video stream (audio only)', async () => {
    const file = join(root, 'tone.m4a');
    ffmpeg(['-f', 'lavfi', '-i', 'sine=frequency=440:duration=0.5', '-c:a', 'aac', file]);
    await rejectsVideoError(FfmpegSource.open(file, GRAY), file, /no video stream/);
    assertVideoError((await drain(new FfmpegSource(file, GRAY))).error, file, /no video stream/);
  });

  it('truncated mp4 (index at the end, cut in half): cannot be opened, reported as truncated', async () => {
    const file = join(root, 'cut.mp4');
    await truncateHalf(mp4, file);
    const err = await rejectsVideoError(FfmpegSource.open(file, GRAY), file, /truncated or corrupt/);
    assert.match(err.message, /moov atom not found/);
    const direct = await drain(new FfmpegSource(file, GRAY));
    assert.equal(direct.frames.length, 0);
    assertVideoError(direct.error, file, /truncated or corrupt/);
  });

  it('truncated mp4 (index first, cut in half): frames before the cut are yielded, then the error with stderr', async () => {
    const file = join(root, 'cut-faststart.mp4');
    await truncateHalf(mp4Fast, file);
    const video = await FfmpegSource.open(file, GRAY); // the header is intact
    const { frames, error } = await drain(video);
    const expected = cliFrameCount(file, GRAY);
    assert.ok(expected >= 1 && expected < 8, `fixture: ffmpeg decodes ${expected} frames`);
    assert.equal(frames.length, expected, 'every frame ffmpeg produced was yielded');
    const err = assertVideoError(error, file, /truncated or corrupt: ffmpeg reported errors after \d+ complete frames?/);
    assert.match(err.message, new RegExp(`after ${expected} complete frame`));
    assert.match(err.message, /ffmpeg: ".+"/); // last stderr lines quoted
    assert.doesNotMatch(err.message, / @ 0x/);
  });

  it('corrupt mp4 (garbage in the middle): all frames ffmpeg produced are yielded, then the error with stderr', async () => {
    const file = join(root, 'garbled.mp4');
    // 4 KiB: (a smaller patch of garbage can decode "successfully": H.264 does not always detect it)
    await garbleMiddle(mp4, file, 4096);
    const cli = spawnSync('ffmpeg', ['-nostdin', '-v', 'error', '-i', file, '-f', 'null', '-'], { encoding: 'utf8' });
    assert.ok(cli.stderr.trim().length > 0, 'fixture: ffmpeg itself reports errors for this file');
    const { frames, error } = await drain(await FfmpegSource.open(file, GRAY));
    assert.equal(frames.length, cliFrameCount(file, GRAY));
    const err = assertVideoError(error, file, /truncated or corrupt/);
    assert.match(err.message, /ffmpeg: ".+"/);
  });

  it('missing ffmpeg binary (option and SFN_FFMPEG): says to install ffmpeg', async () => {
    const viaOption = await drain(new FfmpegSource(mp4, GRAY, { ffmpegPath: '/nonexistent/bin/ffmpeg' }));
    assertVideoError(viaOption.error, mp4, /cannot run ffmpeg \('\/nonexistent\/bin\/ffmpeg': ENOENT\)/);
    assert.match((viaOption.error as Error).message, /apt-get install -y ffmpeg/);

    const saved = process.env.SFN_FFMPEG;
    process.env.SFN_FFMPEG = '/nonexistent/bin/ffmpeg';
    try {
      assert.equal(ffmpegBinary(), '/nonexistent/bin/ffmpeg');
      const viaEnv = await drain(new FfmpegSource(mp4, GRAY));
      assertVideoError(viaEnv.error, mp4, /cannot run ffmpeg/);
    } finally {
      if (saved === undefined) delete process.env.SFN_FFMPEG;
      else process.env.SFN_FFMPEG = saved;
    }
  });

  it('without ffprobe, open() skips the check and frames() still reports the problem', async () => {
    const ok = await FfmpegSource.open(mp4, GRAY, { ffprobePath: '/nonexistent/bin/ffprobe' });
    assert.equal(ok.info, undefined);
    assert.equal((await drain(ok)).frames.length, 8);
    const file = join(root, 'notes2.mp4');
    await writeFile(file, 'not a video');
    const bad = await FfmpegSource.open(file, GRAY, { ffprobePath: '/nonexistent/bin/ffprobe' });
    assertVideoError((await drain(bad)).error, file, /not a video file/);
  });

  it('a folder is not a video file', async () => {
    await rejectsVideoError(FfmpegSource.open(framesDir, GRAY), framesDir, /is a folder/);
  });
});
