import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { decodeBmp } from '../../src/video/bmp.js';
import { VideoInputError } from '../../src/video/errors.js';
import { isImageName, isVideoName, naturalCompare } from '../../src/video/files.js';
import { interleavedToPlanar, validateSpec } from '../../src/video/pixels.js';

describe('naturalCompare', () => {
  it('orders digit runs by value', () => {
    assert.deepEqual(['10.jpg', '2.jpg', '1.jpg', '0.jpg'].sort(naturalCompare), ['0.jpg', '1.jpg', '2.jpg', '10.jpg']);
    assert.deepEqual(['frame_10.png', 'frame_9.png', 'frame_100.png'].sort(naturalCompare), ['frame_9.png', 'frame_10.png', 'frame_100.png']);
    assert.deepEqual(['002.jpg', '000.jpg', '001.jpg'].sort(naturalCompare), ['000.jpg', '001.jpg', '002.jpg']);
  });

  it('is total and deterministic for numeric ties and huge numbers', () => {
    assert.deepEqual(['1.jpg', '001.jpg', '01.jpg'].sort(naturalCompare), ['001.jpg', '01.jpg', '1.jpg']);
    assert.ok(naturalCompare('99999999999999999999.jpg', '100000000000000000000.jpg') < 0);
    assert.equal(naturalCompare('a1', 'a1'), 0);
    assert.ok(naturalCompare('a', 'a1') < 0);
  });

  it('extension checks are case-insensitive', () => {
    assert.ok(isImageName('000.JPG'));
    assert.ok(isImageName('x.jpeg') && isImageName('x.png') && isImageName('x.bmp'));
    assert.ok(!isImageName('notes.txt'));
    assert.ok(isVideoName('a.MKV') && isVideoName('b.mp4') && !isVideoName('c.jpg'));
  });
});

describe('pixels', () => {
  it('interleaved HWC to planar CHW', () => {
    const raw = Uint8Array.from([0, 51, 102, 153, 204, 255]); // 2 pixels x 3 channels
    assert.deepEqual(Array.from(interleavedToPlanar(raw, 2, 1, 3)), [0, 153 / 255, 51 / 255, 204 / 255, 102 / 255, 1].map(Math.fround));
    assert.deepEqual(Array.from(interleavedToPlanar(raw, 3, 2, 1)), Array.from(raw, (v) => Math.fround(v / 255)));
    assert.throws(() => interleavedToPlanar(raw, 4, 4, 1), RangeError);
  });

  it('validateSpec rejects bad sizes and colours', () => {
    validateSpec({ width: 1, height: 1, color: 'rgb' });
    assert.throws(() => validateSpec({ width: 1.5, height: 1, color: 'gray' }), RangeError);
    assert.throws(() => validateSpec({ width: 8, height: -1, color: 'gray' }), RangeError);
  });
});

describe('VideoInputError', () => {
  it('message is "file: problem. hint"', () => {
    const e = new VideoInputError('/x/y.mp4', 'not a video file', 'Pass a video.');
    assert.equal(e.message, '/x/y.mp4: not a video file. Pass a video.');
    assert.equal(e.name, 'VideoInputError');
    assert.ok(e instanceof Error);
  });
});

describe('decodeBmp', () => {
  it('reads a hand-made 2x2 24-bit bottom-up BMP', () => {
    const stride = 8; // 2 px * 3 bytes = 6, padded to 8
    const buf = Buffer.alloc(54 + stride * 2);
    buf.write('BM', 0, 'latin1');
    buf.writeUInt32LE(buf.length, 2);
    buf.writeUInt32LE(54, 10);
    buf.writeUInt32LE(40, 14);
    buf.writeInt32LE(2, 18);
    buf.writeInt32LE(2, 22); // positive: bottom-up
    buf.writeUInt16LE(1, 26);
    buf.writeUInt16LE(24, 28);
    // bottom row (y=1) first: blue, white; then top row (y=0): red, green. Pixels are B, G, R.
    Buffer.from([255, 0, 0, 255, 255, 255]).copy(buf, 54);
    Buffer.from([0, 0, 255, 0, 255, 0]).copy(buf, 54 + stride);
    const d = decodeBmp(buf);
    assert.equal(d.width, 2);
    assert.equal(d.height, 2);
    assert.deepEqual(Array.from(d.data), [255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255]);
    assert.throws(() => decodeBmp(buf.subarray(0, 60)), /truncated/);
    const rle = Buffer.from(buf);
    rle.writeUInt32LE(1, 30);
    assert.throws(() => decodeBmp(rle), /not supported/);
  });
});
