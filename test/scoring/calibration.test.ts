import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { CopyLastPredictor } from '../../src/core/predictor.js';
import {
  CALIBRATION_METHOD, CalibratedScorer, calibratePredictor, calibrationOf, quantile, robustStats, thresholdAt, MIN_SCALE, type SemanticStream,
} from '../../src/scoring/calibration.js';
import { patchErrors, patchMaxMse } from '../../src/scoring/error.js';
import { clipTargets, splitVideo } from '../../src/core/split.js';
import type { FrameSpec } from '../../src/core/frame.js';

const spec: FrameSpec = { width: 24, height: 16, color: 'gray' };
const L = 24 * 16;

/** Seeded LCG in [0, 1). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

/** A normal video: flat 0.5 with small seeded noise per frame (copy-last errors are small, nonzero). */
function normalVideo(n: number, seed: number): Float32Array[] {
  const r = rng(seed);
  return Array.from({ length: n }, () => Float32Array.from({ length: L }, () => 0.5 + (r() - 0.5) * 0.02));
}

/** Writes `<root>/<name>/000.png` placeholders so that listVideos finds the videos (frames come from readFrames). */
async function placeholders(root: string, names: string[]): Promise<void> {
  for (const n of names) {
    await mkdir(join(root, n), { recursive: true });
    await writeFile(join(root, n, '000.png'), '');
  }
}

describe('calibration statistics', () => {
  it('robustStats is median and floored 1.4826 MAD; quantile interpolates', () => {
    const s = robustStats([1, 2, 3, 4, 100]);
    assert.equal(s.loc, 3);
    assert.ok(Math.abs(s.scale - 1.4826) < 1e-12);
    assert.equal(robustStats([5, 5, 5]).scale, MIN_SCALE);
    assert.equal(quantile([0, 10], 0.25), 2.5);
    assert.equal(quantile([3, 1, 2], 1), 3);
  });

  it('thresholdAt interpolates the quantile table in log fpr and clamps at its ends', () => {
    const m = { loc: 0, scale: 1, on_at_fpr: 9, max: 5, quantiles: [[0.1, 1], [0.01, 3], [0.001, 4]] as [number, number][] };
    assert.equal(thresholdAt(m, 0.01), 3);
    assert.ok(Math.abs(thresholdAt(m, Math.sqrt(0.1 * 0.01)) - 2) < 1e-9);
    assert.equal(thresholdAt(m, 0.5), 1);
    assert.equal(thresholdAt(m, 1e-6), 4);
    assert.equal(thresholdAt({ ...m, quantiles: undefined }, 0.01), 9);
  });

  it('patchErrors holds every window; its max is patchMaxMse', () => {
    const a = normalVideo(2, 3);
    const e = patchErrors(a[0]!, a[1]!, 1, 16, 24, 8, 4);
    assert.equal(e.length, 3 * 5);
    assert.ok(Math.abs(Math.max(...e) - patchMaxMse(a[0]!, a[1]!, 1, 16, 24, 8, 4)) < 1e-15);
  });
});

describe('calibratePredictor', () => {
  let root: string;
  const videos: Record<string, Float32Array[]> = {};
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'sfn-calib-'));
    for (const [i, n] of ['a', 'b'].entries()) videos[join(root, n)] = normalVideo(160, 10 + i);
    await placeholders(root, ['a', 'b']);
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });
  const readFrames = async (p: string) => videos[p]!;

  it('uses the calibration part only and gives per-window and per-measure statistics', async () => {
    const cal = await calibratePredictor(new CopyLastPredictor(spec, 4), root, { readFrames, patch: 8, stride: 8, fpr: 0.05 });
    const expected = clipTargets(splitVideo(160), 'calibration', 4).length * 2;
    assert.equal(cal.frames, expected);
    assert.equal(cal.part, 'calibration');
    assert.equal(cal.videos, 2);
    assert.deepEqual([cal.patch.rows, cal.patch.cols, cal.patch.loc.length], [2, 3, 6]);
    assert.ok(cal.patch.scale.every((s) => s >= MIN_SCALE));
    // copy-last on noise of ±0.01: window MSE about 6.7e-5 -> log about -9.6
    assert.ok(cal.patch.loc.every((l) => l < -8 && l > -11), String(cal.patch.loc));
    for (const m of ['mse', 'patch-max'] as const) {
      const s = cal.measures[m];
      assert.ok(s.scale > 0 && s.max >= s.on_at_fpr, JSON.stringify(s));
      assert.ok(s.quantiles!.every(([, v], i, a) => i === 0 || v >= a[i - 1]![1]), 'thresholds grow as the rate falls');
    }
  });

  it('the calibrated z of a normal frame is near 0 and an anomalous window scores high', async () => {
    const cal = await calibratePredictor(new CopyLastPredictor(spec, 4), root, { readFrames, patch: 8, stride: 8 });
    const sc = new CalibratedScorer(cal, spec);
    const v = normalVideo(3, 99);
    assert.ok(Math.abs(sc.z(v[0]!, v[1]!, 'patch-max')) < 3);
    const odd = v[2]!.slice();
    for (let y = 0; y < 8; y++) for (let x = 16; x < 24; x++) odd[y * 24 + x] = 0.9; // one window changes
    assert.ok(sc.z(v[1]!, odd, 'patch-max') > 20);
  });

  it('refuses too little normal video and a bad fpr; calibrationOf rejects a calibration of another grid', async () => {
    await assert.rejects(calibratePredictor(new CopyLastPredictor(spec, 4), root, { readFrames, fpr: 0 }), /fpr/);
    const short = async () => normalVideo(6, 1);
    await assert.rejects(calibratePredictor(new CopyLastPredictor(spec, 4), root, { readFrames: short }), /need at least/);
    const cal = await calibratePredictor(new CopyLastPredictor(spec, 4), root, { readFrames, patch: 8, stride: 8 });
    const m = { calibration: cal, model: { width: 24, height: 16, color: 'gray' } } as unknown as Parameters<typeof calibrationOf>[0];
    assert.ok(calibrationOf(m));
    assert.equal(calibrationOf({ ...m, model: { width: 48, height: 16, color: 'gray' } } as typeof m), null);
    assert.equal(calibrationOf({ ...m, calibration: { ...cal, method: 'log-median-mad' } } as typeof m), null, 'the first method\'s statistics are in other units');
  });

  it('patch-max is the largest log window error, standardised once per frame; the per-window z is patchZMax', async () => {
    const cal = await calibratePredictor(new CopyLastPredictor(spec, 4), root, { readFrames, patch: 8, stride: 8 });
    assert.equal(cal.method, CALIBRATION_METHOD);
    const sc = new CalibratedScorer(cal, spec);
    const v = normalVideo(2, 7);
    const e = patchErrors(v[0]!, v[1]!, 1, 16, 24, 8, 8);
    const raw = Math.log(Math.max(...e) + cal.eps);
    assert.ok(Math.abs(sc.raw(v[0]!, v[1]!, 'patch-max') - raw) < 1e-12);
    const s = cal.measures['patch-max'];
    assert.ok(Math.abs(sc.z(v[0]!, v[1]!, 'patch-max') - (raw - s.loc) / s.scale) < 1e-12);
    const zs = Array.from(e, (x, p) => (Math.log(x + cal.eps) - cal.patch.loc[p]!) / cal.patch.scale[p]!);
    assert.ok(Math.abs(sc.patchZMax(v[0]!, v[1]!) - Math.max(...zs)) < 1e-12);
  });

  it('a semantic model: feeds every frame from the first context on, in order, and stores the text error and the combined thresholds', async () => {
    const fed: Float32Array[] = [];
    let clips = 0;
    // a stand-in for run's SemanticFeed: the text error of a clip is the number of frames fed so far, mod 7, / 100
    const stream = (p: CopyLastPredictor): SemanticStream => {
      let last = new Float32Array(1);
      return {
        predictor: { ...p, spec: p.spec, batchSize: 1, name: p.name, predict: async (c, n) => {
          clips += n;
          last = Float32Array.of((fed.length % 7) / 100);
          return p.predict(c, n);
        } },
        onFrame: async (f) => void fed.push(f),
        errors: () => last,
      };
    };
    const plain = await calibratePredictor(new CopyLastPredictor(spec, 4), root, { readFrames, patch: 8, stride: 8 });
    const cal = await calibratePredictor(new CopyLastPredictor(spec, 4), root, { readFrames, patch: 8, stride: 8, semantic: { stream, every: 2, weight: 0.2 } });
    const [a, b] = splitVideo(160).calibration;
    const ts = clipTargets(splitVideo(160), 'calibration', 4);
    assert.equal(clips, cal.frames, 'one clip per calibration frame');
    assert.equal(fed.length, 2 * (ts.at(-1)! - ts[0]! + 5), 'each video from the first clip\'s context to its last target');
    assert.equal(fed[0], videos[join(root, 'a')]![ts[0]! - 4]);
    assert.ok(ts[0]! - 4 >= a && ts.at(-1)! < b);
    // the frame statistics are those of the plain calibration
    assert.deepEqual(cal.measures, plain.measures);
    const sem = cal.semantic!;
    assert.deepEqual([sem.every, sem.weight], [2, 0.2]);
    assert.ok(sem.loc >= 0 && sem.loc <= 0.06 && sem.scale > 0, JSON.stringify(sem));
    for (const m of ['mse', 'patch-max'] as const) {
      assert.ok(sem.measures[m].quantiles!.every(([, v], i, q) => i === 0 || v >= q[i - 1]![1]));
      assert.notEqual(sem.measures[m].on_at_fpr, cal.measures[m].on_at_fpr, 'the combined score has its own threshold');
    }
  });
});
