import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import sharp from 'sharp';

import { ImageFolderSource, decodeImage } from '../../src/video/image-folder.js';
import type { FrameSpec } from '../../src/core/frame.js';
import { drain, ffmpeg, meanAbsDiff, rejectsVideoError, assertVideoError, removeDir, tempDir, writeFrames } from './fixtures.js';

const GRAY: FrameSpec = { width: 144, height: 96, color: 'gray' };
const RGB: FrameSpec = { width: 144, height: 96, color: 'rgb' };

let root: string;
let clip: string; // 6 Ped2 frames 000..005.jpg
let files: string[];

before(async () => {
  root = await tempDir('folder');
  clip = join(root, 'clip');
  files = await writeFrames(clip, 6);
});
after(() => removeDir(root));

/** sharp's own decode of one file through the same operations, as planar float. */
async function sharpReference(file: string, spec: FrameSpec): Promise<Float32Array> {
  let img = sharp(file).removeAlpha();
  img = spec.color === 'gray' ? img.greyscale() : img.toColourspace('srgb');
  const { data, info } = await img.resize(spec.width, spec.height, { fit: 'fill', kernel: 'linear' }).raw().toBuffer({ resolveWithObject: true });
  const c = info.channels;
  const hw = info.width * info.height;
  const out = new Float32Array(c * hw);
  for (let ch = 0; ch < c; ch++) for (let i = 0; i < hw; i++) out[ch * hw + i] = (data[i * c + ch] as number) / 255;
  return out;
}

describe('ImageFolderSource: values and layout', () => {
  it('gray frames: shape [1,H,W], equal to sharp decoding the same file', async () => {
    const src = await ImageFolderSource.open(clip, GRAY);
    const { frames, error } = await drain(src);
    await src.close();
    assert.equal(error, undefined);
    assert.equal(frames.length, 6);
    assert.deepEqual(frames.map((f) => f.index), [0, 1, 2, 3, 4, 5]);
    for (const f of frames) assert.equal(f.data.length, 144 * 96);
    const ref = await sharpReference(files[3] as string, GRAY);
    assert.deepEqual(frames[3]?.data, ref);
    const min = Math.min(...frames[3]!.data);
    const max = Math.max(...frames[3]!.data);
    assert.ok(min >= 0 && max <= 1 && max > min, `values in [0,1]: ${min}..${max}`);
  });

  it('native-size gray equals the plain decoded bytes / 255', async () => {
    const meta = await sharp(files[0] as string).metadata();
    const spec: FrameSpec = { width: meta.width!, height: meta.height!, color: 'gray' };
    const { data } = await decodeImage(files[0] as string, spec);
    const raw = await sharp(files[0] as string).greyscale().raw().toBuffer();
    assert.equal(data.length, raw.length);
    for (let i = 0; i < raw.length; i += 97) assert.equal(data[i], Math.fround((raw[i] as number) / 255));
  });

  it('resize is a plain bilinear-like downscale (close to a box average of the native frame)', async () => {
    const file = files[1] as string;
    const small = await decodeImage(file, { width: 120, height: 80, color: 'gray' }); // exactly 1/3 of 360x240
    const { data: raw, info } = await sharp(file).greyscale().raw().toBuffer({ resolveWithObject: true });
    const box = new Float32Array(120 * 80);
    for (let y = 0; y < 80; y++) {
      for (let x = 0; x < 120; x++) {
        let s = 0;
        for (let dy = 0; dy < 3; dy++) for (let dx = 0; dx < 3; dx++) s += raw[(y * 3 + dy) * info.width + x * 3 + dx] as number;
        box[y * 120 + x] = s / 9 / 255;
      }
    }
    assert.ok(meanAbsDiff(small.data, box) < 0.02, `mean abs diff ${meanAbsDiff(small.data, box)}`);
  });

  it('rgb frames: shape [3,H,W], planar, equal to sharp decoding the same file', async () => {
    const src = await ImageFolderSource.open(clip, RGB);
    const { frames, error } = await drain(src);
    assert.equal(error, undefined);
    assert.equal(frames.length, 6);
    assert.equal(frames[0]?.data.length, 3 * 144 * 96);
    assert.deepEqual(frames[2]?.data, await sharpReference(files[2] as string, RGB));
  });

  it('rgb planes are R, G, B in that order (synthetic colour image)', async () => {
    const dir = join(root, 'colour');
    await mkdir(dir);
    // 2x2: red, green / blue, (10, 20, 30)
    const px = Buffer.from([255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30]);
    await sharp(px, { raw: { width: 2, height: 2, channels: 3 } }).png().toFile(join(dir, '0.png'));
    const src = await ImageFolderSource.open(dir, { width: 2, height: 2, color: 'rgb' });
    const { frames } = await drain(src);
    const v = (x: number) => Math.fround(x / 255);
    assert.deepEqual(Array.from(frames[0]!.data), [
      1, 0, 0, v(10), // R plane
      0, 1, 0, v(20), // G plane
      0, 0, 1, v(30), // B plane
    ]);
  });

  it('sorts numerically (1, 2, 10), not lexically (1, 10, 2)', async () => {
    const dir = join(root, 'numeric');
    await mkdir(dir);
    for (const [name, level] of [['1.png', 10], ['10.png', 100], ['2.png', 20]] as const) {
      await sharp({ create: { width: 8, height: 4, channels: 3, background: { r: level, g: level, b: level } } }).png().toFile(join(dir, name));
    }
    const src = await ImageFolderSource.open(dir, { width: 8, height: 4, color: 'gray' });
    assert.deepEqual((await src.listFrames()).map((f) => f.slice(dir.length + 1)), ['1.png', '2.png', '10.png']);
    const { frames } = await drain(src);
    assert.deepEqual(frames.map((f) => Math.round((f.data[0] as number) * 255)), [10, 20, 100]);
  });

  it('ignores files without an image extension (notes.txt) and sub-folders', async () => {
    const dir = join(root, 'with-notes');
    await writeFrames(dir, 3);
    await writeFile(join(dir, 'notes.txt'), 'camera 1, 10 fps\n');
    await mkdir(join(dir, 'thumbs'));
    const { frames, error } = await drain(new ImageFolderSource(dir, GRAY));
    assert.equal(error, undefined);
    assert.equal(frames.length, 3);
  });

  it('concurrency 1 and 4 give identical frames in the same order', async () => {
    const a = await drain(new ImageFolderSource(clip, GRAY, { concurrency: 1 }));
    const b = await drain(new ImageFolderSource(clip, GRAY, { concurrency: 4 }));
    assert.deepEqual(a.frames, b.frames);
  });

  it('close() stops a running iteration; breaking early is fine', async () => {
    const src = await ImageFolderSource.open(clip, GRAY);
    let n = 0;
    for await (const _ of src.frames()) {
      n++;
      if (n === 2) await src.close();
    }
    assert.equal(n, 2);
    await src.close(); // twice is fine
    let m = 0;
    for await (const _ of new ImageFolderSource(clip, GRAY).frames()) {
      if (++m === 3) break;
    }
    assert.equal(m, 3);
  });

  it('decodes BMP frames (24/32/16-bit, 8-bit gray palette, 1-bit) like the same pixels as PNG', async () => {
    const dir = join(root, 'bmp');
    await mkdir(dir);
    const spec: FrameSpec = { width: 360, height: 240, color: 'rgb' };
    // 16-bit: 5/6-bit channels are widened by rounding here, by bit replication in ffmpeg (at most 1/255 apart).
    for (const [fmt, tol] of [['bgr24', 0], ['bgra', 0], ['gray', 0], ['rgb555le', 1 / 255], ['rgb565le', 1 / 255], ['monob', 0]] as const) {
      const bmp = join(dir, `${fmt}.bmp`);
      const png = join(dir, `${fmt}.png`);
      ffmpeg(['-i', files[0] as string, '-pix_fmt', fmt, bmp]);
      ffmpeg(['-i', bmp, '-pix_fmt', 'rgb24', png]); // ffmpeg's own reading of the BMP, as lossless PNG
      const a = await decodeImage(bmp, spec);
      const b = await decodeImage(png, spec);
      assert.equal(a.nativeWidth, 360);
      assert.equal(a.nativeHeight, 240);
      let worst = 0;
      for (let i = 0; i < a.data.length; i++) worst = Math.max(worst, Math.abs((a.data[i] as number) - (b.data[i] as number)));
      assert.ok(worst <= tol + 1e-6, `${fmt}: max abs diff ${worst * 255}/255`);
    }
  });
});

describe('ImageFolderSource: bad input', () => {
  it('missing folder', async () => {
    const dir = join(root, 'does-not-exist');
    await rejectsVideoError(ImageFolderSource.open(dir, GRAY), dir, /folder not found/);
    // the lazy path reports the same
    const { error } = await drain(new ImageFolderSource(dir, GRAY));
    assertVideoError(error, dir, /folder not found/);
  });

  it('path is a file, not a folder', async () => {
    await rejectsVideoError(ImageFolderSource.open(files[0] as string, GRAY), files[0] as string, /not a folder/);
  });

  it('empty folder', async () => {
    const dir = join(root, 'empty');
    await mkdir(dir);
    await rejectsVideoError(ImageFolderSource.open(dir, GRAY), dir, /no image files/);
  });

  it('folder with only non-image files names what it found', async () => {
    const dir = join(root, 'only-text');
    await mkdir(dir);
    await writeFile(join(dir, 'notes.txt'), 'hello');
    const err = await rejectsVideoError(ImageFolderSource.open(dir, GRAY), dir, /no image files/);
    assert.match(err.message, /notes\.txt/);
  });

  it('a text file named 003.jpg among the frames: earlier frames delivered, then an error naming it', async () => {
    const dir = join(root, 'text-as-jpg');
    await writeFrames(dir, 6);
    const bad = join(dir, '003.jpg');
    await writeFile(bad, 'this is not a JPEG\n');
    const { frames, error } = await drain(await ImageFolderSource.open(dir, GRAY));
    assert.equal(frames.length, 3);
    assertVideoError(error, bad, /not a decodable image/);
  });

  it('a truncated JPEG among the frames', async () => {
    const dir = join(root, 'cut-jpg');
    await writeFrames(dir, 4);
    const bad = join(dir, '002.jpg');
    const buf = await readFile(bad);
    await writeFile(bad, buf.subarray(0, Math.floor(buf.length / 2)));
    const { frames, error } = await drain(await ImageFolderSource.open(dir, GRAY));
    assert.equal(frames.length, 2);
    assertVideoError(error, bad, /not a decodable image/);
  });

  it('an empty (0-byte) frame file', async () => {
    const dir = join(root, 'zero-jpg');
    await writeFrames(dir, 3);
    const bad = join(dir, '001.jpg');
    await writeFile(bad, '');
    const { frames, error } = await drain(await ImageFolderSource.open(dir, GRAY));
    assert.equal(frames.length, 1);
    assertVideoError(error, bad, /empty frame file/);
  });

  it('frames of different sizes: names the first odd frame and both sizes', async () => {
    const dir = join(root, 'sizes');
    const fs = await writeFrames(dir, 6);
    const odd = fs[4] as string;
    const resized = await sharp(await readFile(odd)).resize(320, 240, { fit: 'fill' }).jpeg().toBuffer();
    await writeFile(odd, resized);
    const { frames, error } = await drain(await ImageFolderSource.open(dir, GRAY));
    assert.equal(frames.length, 4);
    const err = assertVideoError(error, odd, /frame size 320x240 differs from the first frame 000\.jpg \(360x240\)/);
    assert.match(err.hint, /same size/);
  });

  it('invalid spec is a RangeError, not a VideoInputError', () => {
    assert.throws(() => new ImageFolderSource(clip, { width: 0, height: 96, color: 'gray' }), RangeError);
    assert.throws(() => new ImageFolderSource(clip, { width: 144, height: 96, color: 'cmyk' as never }), RangeError);
  });
});
