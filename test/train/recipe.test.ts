import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeConfig } from '../../src/core/model-config.js';
import { makeBatch, skipSamples, withPart, type ClipSet } from '../../src/train/data.js';
import { gridFor, scheduleFor } from '../../src/train/recipe.js';
import { clipTargets, splitVideo } from '../../src/core/split.js';
import { dPrime } from '../../src/train/validate.js';

describe('split', () => {
  it('splits each video in time into disjoint train / calibration / check parts covering it', () => {
    for (const n of [0, 4, 9, 24, 120, 180, 2000]) {
      const s = splitVideo(n);
      assert.equal(s.train[0], 0);
      assert.equal(s.train[1], s.calibration[0]);
      assert.equal(s.calibration[1], s.check[0]);
      assert.equal(s.check[1], n);
    }
    const s = splitVideo(180);
    assert.deepEqual(s.calibration, [135, 162]);
    assert.deepEqual(s.check, [162, 180]);
    // a video too short to hold back keeps every frame for training
    assert.deepEqual(splitVideo(12).train, [0, 12]);
  });
  it('yields clips whose five frames lie inside one part', () => {
    const s = splitVideo(100);
    for (const part of ['train', 'calibration', 'check'] as const) {
      const [a, b] = s[part];
      for (const t of clipTargets(s, part, 4)) assert.ok(t - 4 >= a && t < b);
    }
  });
  it('rejects bad fractions', () => assert.throws(() => splitVideo(10, { calibration: 0.6, check: 0.5 }), /below 0.9/));
});

describe('recipe', () => {
  it('sizes the schedule to the clips, within bounds', () => {
    assert.deepEqual(scheduleFor(300, 8), { totalSteps: 1000, warmup: 50, validateEvery: 100 });
    assert.equal(scheduleFor(1000, 8).totalSteps, 2000);
    assert.equal(scheduleFor(5000, 8).totalSteps, 2500);
    assert.equal(scheduleFor(300, 8, 2).totalSteps, 74);
    assert.throws(() => scheduleFor(5, 8), /fewer than one batch/);
  });
  it('matches the grid to the source aspect ratio, multiples of the patch', () => {
    assert.deepEqual(gridFor(360, 240), { width: 144, height: 96 });
    assert.deepEqual(gridFor(640, 360), { width: 160, height: 88 });
    const g = gridFor(1920, 1080);
    assert.equal(g.width % 8, 0);
    assert.ok(Math.abs(g.width / g.height - 16 / 9) < 0.1);
    const p = gridFor(480, 640);
    assert.ok(p.height > p.width, 'portrait stays portrait');
  });
  it("d' grows with the gap between normal and pseudo-anomalous errors", () => {
    const near = dPrime([1, 1.1, 0.9, 1.2, 1.3, 1.1], 3);
    const far = dPrime([1, 1.1, 0.9, 4, 4.4, 3.6], 3);
    assert.ok(far > near && near > 0);
  });
});

describe('skip-frame pseudo-anomalies', () => {
  const cfg = makeConfig({ height: 16, width: 32, patch: 8, dim: 16, heads: 2, experts: 4, topK: 2, expertDim: 4 });
  // one video: a bright 8x8 square moving 1 px a frame to the right over a dark background
  const frames = Array.from({ length: 40 }, (_, t) => {
    const f = new Float32Array(16 * 32);
    for (let y = 4; y < 12; y++) for (let x = 0; x < 8; x++) f[y * 32 + ((t + x) % 32)] = 1;
    return f;
  });
  const set: ClipSet = withPart({ names: ['v'], videos: [frames], samples: [], splits: [splitVideo(40)], part: 'all' }, 'train', 4);

  it('come from the part, with every frame of the skip clip inside it', () => {
    const picks = skipSamples(set, 'train', 4, [2, 3]);
    assert.ok(picks.length > 0);
    for (const [, t, s] of picks) assert.ok(t - 4 * s >= 0 && t < set.splits[0]!.train[1]);
  });
  it("train on 'no change' inside the window and show the true future for validation", () => {
    const last = makeBatch(set, cfg, [[0, 20, 3]], 'last');
    const future = makeBatch(set, cfg, [[0, 20, 3]], 'future');
    const normal = makeBatch(set, cfg, [[0, 20]]);
    assert.notDeepEqual(last.last, normal.last, 'the window holds the skip clip');
    // 'last': where the window is, the target equals the last past frame; elsewhere the true frame
    const diff = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + Math.abs(v - b[i]!), 0);
    assert.ok(diff(last.target, last.last) < diff(future.target, future.last));
    assert.deepEqual(future.appearance, last.appearance);
  });
});

describe('logGap', () => {
  it('is the log ratio of the geometric means, pseudo over normal', async () => {
    const { logGap } = await import('../../src/train/validate.js');
    assert.ok(Math.abs(logGap([1, 4, 8, 32], 2) - Math.log(8)) < 1e-9);
  });
});
