import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { ERROR_MEASURES, errorMap, frameMse, isErrorMeasure, patchMaxMse, windowStarts } from '../../src/scoring/error.js';

/** [C,H,W] zero frame with ones at the given (c, y, x). */
function frame(C: number, H: number, W: number, ones: [number, number, number][]): Float32Array {
  const f = new Float32Array(C * H * W);
  for (const [c, y, x] of ones) f[c * H * W + y * W + x] = 1;
  return f;
}

describe('error measures', () => {
  it('ERROR_MEASURES', () => {
    assert.deepEqual([...ERROR_MEASURES], ['mse', 'patch-max']);
    assert.ok(isErrorMeasure('patch-max'));
    assert.ok(!isErrorMeasure('psnr'));
  });

  it('frameMse: mean of squared differences', () => {
    // (0.5^2 + 0 + 1^2 + 0) / 4 = 1.25 / 4
    assert.equal(frameMse(new Float32Array([0.5, 0, 1, 0]), new Float32Array([0, 0, 0, 0])), 0.3125);
    assert.throws(() => frameMse(new Float32Array(2), new Float32Array(3)), /prediction has 2/);
  });

  it('errorMap averages channels', () => {
    // C = 2, 1x2: channel 0 diff (1, 0), channel 1 diff (1, 1) -> map (1, 0.5)
    const m = errorMap(new Float32Array([1, 0, 1, 1]), new Float32Array(4), 2, 1, 2);
    assert.deepEqual([...m], [1, 0.5]);
  });

  it('patchMaxMse on a 4x4 hand case', () => {
    // Error 1 at (0,0), (1,1), (3,3). patch 2, stride 2 -> windows at (0,0) (0,2) (2,0) (2,2):
    // sums 2, 0, 0, 1 -> max 2 / 4 = 0.5.  frameMse would be 3/16.
    const t = frame(1, 4, 4, [[0, 0, 0], [0, 1, 1], [0, 3, 3]]);
    const p = new Float32Array(16);
    assert.equal(patchMaxMse(p, t, 1, 4, 4, 2, 2), 0.5);
    assert.equal(frameMse(p, t), 3 / 16);
    // patch 3, stride 1: windows at 0..1 per axis; the window at (1,1) holds (1,1) and (3,3): 2/9.
    // The window at (0,0) holds (0,0), (1,1): 2/9 too. Max = 2/9.
    assert.equal(patchMaxMse(p, t, 1, 4, 4, 3, 1), 2 / 9);
    // patch >= frame: clamped, equals frameMse.
    assert.equal(patchMaxMse(p, t, 1, 4, 4, 8, 4), 3 / 16);
  });

  it('adds an edge-aligned window so every pixel is covered', () => {
    assert.deepEqual(windowStarts(5, 2, 2), [0, 2, 3]);
    assert.deepEqual(windowStarts(4, 2, 2), [0, 2]);
    assert.throws(() => windowStarts(3, 5, 1), /larger than axis/);
    // Error only in the last row/column of a 5x5 frame: regular grid (0, 2) misses it, edge window (3) finds it.
    const t = frame(1, 5, 5, [[0, 4, 4]]);
    assert.equal(patchMaxMse(new Float32Array(25), t, 1, 5, 5, 2, 2), 0.25);
  });

  it('averages over channels inside a window', () => {
    // C = 2, 2x2, patch 1: pixel (0,0) has error 1 in channel 0 only -> 1 / (2 * 1 * 1) = 0.5
    const t = frame(2, 2, 2, [[0, 0, 0]]);
    assert.equal(patchMaxMse(new Float32Array(8), t, 2, 2, 2, 1, 1), 0.5);
  });

  it('rejects bad sizes', () => {
    assert.throws(() => patchMaxMse(new Float32Array(4), new Float32Array(4), 1, 3, 3, 2, 1), /C\*H\*W = 9/);
    assert.throws(() => patchMaxMse(new Float32Array(4), new Float32Array(4), 1, 2, 2, 0, 1), /patch/);
    assert.throws(() => patchMaxMse(new Float32Array(4), new Float32Array(4), 1, 2, 2, 1, 0), /stride/);
  });
});

describe('patchMaxMse vs brute force', () => {
  it('agrees with a direct loop on random frames', () => {
    let seed = 3;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    const [C, H, W] = [2, 7, 9];
    const p = Float32Array.from({ length: C * H * W }, rnd);
    const t = Float32Array.from({ length: C * H * W }, rnd);
    for (const [patch, stride] of [[3, 2], [4, 4], [2, 1], [5, 3]] as const) {
      let best = 0;
      for (const y0 of windowStarts(H, patch, stride))
        for (const x0 of windowStarts(W, patch, stride)) {
          let s = 0;
          for (let c = 0; c < C; c++)
            for (let y = y0; y < y0 + patch; y++)
              for (let x = x0; x < x0 + patch; x++) {
                const d = p[c * H * W + y * W + x]! - t[c * H * W + y * W + x]!;
                s += d * d;
              }
          best = Math.max(best, s / (C * patch * patch));
        }
      assert.ok(Math.abs(patchMaxMse(p, t, C, H, W, patch, stride) - best) < 1e-12, `patch ${patch} stride ${stride}`);
    }
  });
});
