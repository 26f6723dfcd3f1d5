import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { patchifyInto, unpatchify } from '../../src/model/patchify.js';
import { topKMask } from '../../src/model/ops.js';
import { initBackend, tf } from '../../src/model/backend.js';

describe('patchify', () => {
  const g = { channels: 2, height: 4, width: 6, patch: 2 };
  const frame = (k: number) => Float32Array.from({ length: 2 * 4 * 6 }, (_, i) => k * 1000 + i);

  it('orders a token as [frame, channel, py, px], tokens row-major over the patch grid', () => {
    const frames = [frame(0), frame(1)];
    const out = new Float32Array(6 * 2 * 2 * 4);
    patchifyInto(frames, g, out, 0);
    // token 4 = patch row 1, patch col 1 -> pixels y 2..3, x 2..3; token length 2 frames x 2 ch x 4 = 16
    const tok = Array.from(out.subarray(4 * 16, 5 * 16));
    const px = (f: number, c: number, y: number, x: number) => f * 1000 + c * 24 + y * 6 + x;
    assert.deepEqual(tok, [
      px(0, 0, 2, 2), px(0, 0, 2, 3), px(0, 0, 3, 2), px(0, 0, 3, 3),
      px(0, 1, 2, 2), px(0, 1, 2, 3), px(0, 1, 3, 2), px(0, 1, 3, 3),
      px(1, 0, 2, 2), px(1, 0, 2, 3), px(1, 0, 3, 2), px(1, 0, 3, 3),
      px(1, 1, 2, 2), px(1, 1, 2, 3), px(1, 1, 3, 2), px(1, 1, 3, 3),
    ]);
  });

  it('writes frame differences f[i+1] - f[i] in diff mode', () => {
    const out = new Float32Array(6 * 2 * 4);
    patchifyInto([frame(0), frame(3)], g, out, 0, true);
    assert.ok(out.every((v) => v === 3000));
  });

  it('unpatchify inverts patchify', () => {
    const f = frame(2);
    const out = new Float32Array(6 * 2 * 4 * 3);
    patchifyInto([f], g, out, 6); // at row offset 6 (second sample)
    assert.deepEqual(unpatchify(out, g, 6), f);
  });

  it('rejects a frame of the wrong size', () => {
    assert.throws(() => patchifyInto([new Float32Array(5)], g, new Float32Array(100), 0), /frame 0 has 5 values, expected C\*H\*W/);
  });
});

describe('topKMask', () => {
  it('marks the k largest per row; ties go to the lower index', async () => {
    await initBackend();
    const m = topKMask(tf.tensor2d([[0.1, 0.5, 0.2, 0.2], [0.25, 0.25, 0.25, 0.25]]), 2).arraySync();
    assert.deepEqual(m, [[0, 1, 1, 0], [1, 1, 0, 0]]);
  });
});
