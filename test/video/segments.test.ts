/**
 * The source's encoded stream as 1 s MPEG-TS segments (src/video/segments.ts) with a real ffmpeg:
 * the decoding ffmpeg writes them beside the frames, the index holds them on the camera's timeline,
 * pruning keeps pre-roll + slack and what a pin holds, the byte budget bounds them, and a segment
 * output that fails leaves the frames decoded without it.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FfmpegSource } from '../../src/video/ffmpeg.js';
import { parseSegmentLine, SegmentIndex, segmentOutputArgs } from '../../src/video/segments.js';
import { missingTools } from '../tools.js';
import { removeDir, tempDir } from './fixtures.js';

const SPEC = { width: 32, height: 18, color: 'gray' } as const;
const FPS = 25;
const SECONDS = 6;

describe('segments (real ffmpeg)', { skip: missingTools('ffmpeg') }, () => {
  let dir = '';
  let video = '';
  before(async () => {
    dir = await tempDir('segments');
    video = path.join(dir, 'src.mp4');
    execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', `testsrc=size=320x180:rate=${FPS}`, '-t', String(SECONDS), '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-g', String(FPS), video]);
  });
  after(() => removeDir(dir));

  it('parses the CSV lines of the segment list', () => {
    assert.deepEqual(parseSegmentLine('p1-000003.ts,3.080000,4.080000', '/c/segments'), ['/c/segments/p1-000003.ts', 3.08, 4.08]);
    assert.equal(parseSegmentLine('garbage', '/c'), null);
    assert.ok(segmentOutputArgs({ dir: '/c', prefix: 'p' }).join(' ').includes('-c copy -f segment -segment_time 1 -segment_format mpegts -segment_list pipe:3 -segment_list_type csv'));
  });

  /** Decodes the whole file with segmenting into `index`; returns the frames and the failure told. */
  async function decode(index: SegmentIndex, base = 0, opts: { every?: (i: number) => void } = {}): Promise<{ frames: number; failed: string | null }> {
    let failed: string | null = null;
    const src = await FfmpegSource.open(video, SPEC);
    src.segmentInto = index.pass(base / FPS, `p${base}`, (r) => {
      failed = r;
    });
    let frames = 0;
    for await (const f of src.frames()) {
      frames++;
      opts.every?.(f.index + base);
    }
    await src.close();
    return { frames, failed };
  }

  it('the decoding ffmpeg writes 1 s segments that cover the stream, and the index maps them to frame times', async () => {
    const index = new SegmentIndex(path.join(dir, 'all'), 1000, 2 ** 30);
    const { frames, failed } = await decode(index);
    assert.equal(frames, SECONDS * FPS);
    assert.equal(failed, null);
    const segs = index.all;
    assert.ok(segs.length >= SECONDS && segs.length <= SECONDS + 1, `${segs.length} segments`);
    assert.equal(segs[0]!.start, 0);
    for (let i = 1; i < segs.length; i++) assert.equal(segs[i]!.start, segs[i - 1]!.end, 'segments follow each other');
    assert.ok(segs.at(-1)!.end >= SECONDS - 0.001);
    for (const s of segs) assert.ok((await fs.stat(s.file)).size > 0);
    // frame 60 (2.4 s) lies in one segment, and a clip of frames 40-90 needs 3 of them
    assert.ok(index.at(60 / FPS));
    assert.ok(index.covering(40 / FPS, 90 / FPS).length >= 3);
    assert.equal(await index.whenClosed(SECONDS - 0.1, 1000), true, 'the source ended: every segment is closed');
    // a second pass of the source (--loop) goes on the timeline after the first
    const { frames: again } = await decode(index, SECONDS * FPS);
    assert.equal(again, SECONDS * FPS);
    assert.ok(index.at((SECONDS * FPS + 10) / FPS)?.file.includes(`p${SECONDS * FPS}-`));
  });

  it('prunes to the pre-roll behind the newest frame taken, keeps what a pin holds, and keeps within the byte budget', async () => {
    const keepS = 1;
    const index = new SegmentIndex(path.join(dir, 'pruned'), keepS, 2 ** 30);
    index.pin('rec', 1.5); // a recording that opened at 1.5 s (its pre-roll included)
    await decode(index, 0, { every: (i) => index.advance(i / FPS) });
    await index.settled();
    index.prune();
    await index.settled();
    const kept = index.all;
    assert.ok(kept[0]!.start <= 1.5 && kept[0]!.end > 1.5, 'the pinned pre-roll is kept');
    const files = await fs.readdir(path.join(dir, 'pruned'));
    assert.equal(files.length, kept.length, 'the files on disk are the index');
    index.unpin('rec');
    await index.settled();
    assert.ok(index.all.every((s) => s.end >= SECONDS - keepS - 1 / FPS), 'unpinned: only pre-roll behind the newest frame');
    assert.ok(index.all.length >= 1 && index.all.length <= keepS + 2);
    // the budget: 1 byte keeps only the newest segment
    index.budgetBytes = 1;
    index.prune();
    await index.settled();
    assert.equal(index.all.length, 1);
    assert.deepEqual(await fs.readdir(path.join(dir, 'pruned')), [path.basename(index.all[0]!.file)]);
    // retired and unpinned: nothing is left
    index.retire();
    await index.settled();
    assert.equal(index.all.length, 0);
    assert.deepEqual(await fs.readdir(path.join(dir, 'pruned')), []);
  });

  it('a segment output that fails is told, and the frames are decoded without it', async () => {
    const blocked = path.join(dir, 'blocked');
    await fs.writeFile(blocked, 'a file where the segments folder should be');
    const index = new SegmentIndex(path.join(blocked, 'sub'), 10, 2 ** 30);
    let failed: string | null = null;
    const src = await FfmpegSource.open(video, SPEC);
    src.segmentInto = index.pass(0, 'p', (r) => {
      failed = r;
    });
    // the folder cannot be made: told, and the frames come without segments
    let n = 0;
    for await (const f of src.frames()) n += f ? 1 : 0;
    assert.equal(n, SECONDS * FPS);
    assert.match(String(failed), /cannot make the segments folder.*(ENOTDIR|EEXIST|not a directory)/);
    // ffmpeg itself fails to write the segments (a folder it cannot write into): frames still come
    const ro = path.join(dir, 'ro');
    await fs.mkdir(ro);
    const index2 = new SegmentIndex(ro, 10, 2 ** 30);
    const src2 = await FfmpegSource.open(video, SPEC);
    src2.segmentInto = { ...index2.pass(0, 'no/such/sub', (r) => (failed = r)) };
    let frames = 0;
    for await (const f of src2.frames()) frames += f ? 1 : 0;
    assert.equal(frames, SECONDS * FPS);
    assert.match(String(failed), /could not segment/);
    assert.equal(src2.segmentInto, null);
  });
});
