import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { FfmpegSource } from '../../src/video/ffmpeg.js';
import { ImageFolderSource } from '../../src/video/image-folder.js';
import { listVideos, openSource, readAllFrames } from '../../src/video/open.js';
import type { FrameSpec } from '../../src/core/frame.js';
import {
  PED2_TESTING, encodeMp4, hasPed2, meanAbsDiff, rejectsVideoError, removeDir, tempDir, truncateHalf, writeFrames,
} from './fixtures.js';

const GRAY: FrameSpec = { width: 144, height: 96, color: 'gray' };

let root: string;
let clip: string;
let mp4: string;

before(async () => {
  root = await tempDir('open');
  clip = join(root, 'clip');
  await writeFrames(clip, 6);
  mp4 = join(root, 'clip.mp4');
  encodeMp4(clip, mp4);
});
after(() => removeDir(root));

describe('openSource / readAllFrames', () => {
  it('a folder opens as ImageFolderSource, a file as FfmpegSource', async () => {
    const a = await openSource(clip, GRAY);
    const b = await openSource(mp4, GRAY);
    assert.ok(a instanceof ImageFolderSource);
    assert.ok(b instanceof FfmpegSource);
    assert.equal(a.name, clip);
    assert.equal(b.name, mp4);
    assert.deepEqual(b.spec, GRAY);
    await a.close();
    await b.close();
  });

  it('readAllFrames reads folder and video alike', async () => {
    const a = await readAllFrames(clip, GRAY);
    const b = await readAllFrames(mp4, GRAY);
    assert.equal(a.length, 6);
    assert.equal(b.length, 6);
    for (let i = 0; i < 6; i++) {
      assert.equal(a[i]!.length, 144 * 96);
      assert.ok(meanAbsDiff(a[i]!, b[i]!) < 0.05);
    }
  });

  it('missing path', async () => {
    const p = join(root, 'missing');
    await rejectsVideoError(openSource(p, GRAY), p, /no such file or folder/);
    await rejectsVideoError(readAllFrames(p, GRAY), p, /no such file or folder/);
  });

  it('a single image is not a video', async () => {
    const p = join(clip, '000.jpg');
    await rejectsVideoError(openSource(p, GRAY), p, /single image/);
  });

  it('bad folder / bad video errors pass through', async () => {
    const empty = join(root, 'empty');
    await mkdir(empty);
    await rejectsVideoError(openSource(empty, GRAY), empty, /no image files/);
    const text = join(root, 'readme.avi');
    await writeFile(text, 'hello');
    await rejectsVideoError(openSource(text, GRAY), text, /not a video file/);
    const cut = join(root, 'cut.mp4');
    await truncateHalf(mp4, cut);
    await rejectsVideoError(readAllFrames(cut, GRAY), cut, /truncated or corrupt/);
  });
});

describe('listVideos', () => {
  it('lists image-sequence sub-folders and video files in natural order, skipping the rest', async () => {
    const ds = join(root, 'dataset');
    for (const name of ['10', '2', '1']) await writeFrames(join(ds, name), 1);
    await mkdir(join(ds, 'gt')); // no images: skipped
    await writeFile(join(ds, 'gt', 'labels.txt'), '0 1 0');
    await writeFile(join(ds, 'clip.MP4'), 'x'); // by extension only; not opened here
    await writeFile(join(ds, 'cam.avi'), 'x');
    await writeFile(join(ds, 'readme.txt'), 'x');
    await writeFile(join(ds, '.hidden.mp4'), 'x');
    assert.deepEqual(await listVideos(ds), ['1', '2', '10', 'cam.avi', 'clip.MP4'].map((n) => join(ds, n)));
  });

  it('a folder that holds images directly is one video', async () => {
    assert.deepEqual(await listVideos(clip), [clip]);
  });

  it('a video file is a list of one', async () => {
    assert.deepEqual(await listVideos(mp4), [mp4]);
  });

  it('errors: missing root, not a folder, nothing found', async () => {
    const missing = join(root, 'no-root');
    await rejectsVideoError(listVideos(missing), missing, /folder not found/);
    const txt = join(root, 'file.txt');
    await writeFile(txt, 'x');
    await rejectsVideoError(listVideos(txt), txt, /not a folder/);
    const none = join(root, 'none');
    await mkdir(join(none, 'gt'), { recursive: true });
    await writeFile(join(none, 'notes.txt'), 'x');
    const err = await rejectsVideoError(listVideos(none), none, /no videos found/);
    assert.match(err.message, /gt/);
  });

  it('UCSD Ped2 testing/frames has 12 videos 01..12', { skip: !hasPed2 && 'dataset not present' }, async () => {
    const vids = await listVideos(PED2_TESTING);
    assert.deepEqual(vids, Array.from({ length: 12 }, (_, i) => join(PED2_TESTING, String(i + 1).padStart(2, '0'))));
  });
});

describe('warnIfStretched', () => {
  it('warns once when the source aspect ratio differs from the grid, not when it matches', async () => {
    const { warnIfStretched } = await import('../../src/video/open.js');
    const { log } = await import('../../src/util/log.js');
    const seen: unknown[] = [];
    const orig = log.warn.bind(log);
    (log as { warn: unknown }).warn = (o: unknown) => void seen.push(o);
    try {
      warnIfStretched('a', { width: 360, height: 240 }, { width: 144, height: 96, color: 'gray' });
      assert.equal(seen.length, 0);
      warnIfStretched('b', { width: 640, height: 360 }, { width: 144, height: 96, color: 'gray' });
      warnIfStretched('c', { width: 640, height: 360 }, { width: 144, height: 96, color: 'gray' });
      assert.equal(seen.length, 1);
      assert.match(JSON.stringify(seen[0]), /640x360/);
    } finally {
      (log as { warn: unknown }).warn = orig;
    }
  });
});
