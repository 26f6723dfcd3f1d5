import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { evaluateDataset } from '../../src/eval/evaluate.js';
import { calibratedBaseline, evaluateOnline, labelSegments, percentile, poissonUpper } from '../../src/eval/online.js';
import { onlineTimelineSvg, writeReport } from '../../src/eval/report.js';
import { CopyLastPredictor } from '../../src/core/predictor.js';
import type { Manifest } from '../../src/core/manifest.js';
import { defaultConfig } from '../../src/core/runtime-config.js';
import { calibratePredictor } from '../../src/scoring/calibration.js';
import type { FrameSpec } from '../../src/core/frame.js';

const spec: FrameSpec = { width: 24, height: 16, color: 'gray' };
const L = 24 * 16;

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}
/** Noisy flat frames; where `labels` is 1 a bright 6x6 square jumps between two places (copy-last misses it). */
function video(labels: number[], seed: number): Float32Array[] {
  const r = rng(seed);
  return labels.map((l, t) => {
    const f = Float32Array.from({ length: L }, () => 0.5 + (r() - 0.5) * 0.02);
    if (l) for (let y = 4; y < 10; y++) for (let x = 0; x < 6; x++) f[y * 24 + x + (t % 2 ? 2 : 14)] = 0.95;
    return f;
  });
}

const LABELS: Record<string, number[]> = {
  '01': Array.from({ length: 60 }, (_, i) => (i < 20 ? 1 : 0)), // opens with the anomaly in view
  '02': Array.from({ length: 60 }, (_, i) => (i >= 30 && i < 50 ? 1 : 0)),
};

describe('eval --online helpers', () => {
  it('labelSegments finds runs of 1s; percentile is nearest-rank', () => {
    assert.deepEqual(labelSegments([1, 1, 0, 0, 1, 0, 1]), [[0, 1], [4, 4], [6, 6]]);
    assert.deepEqual(labelSegments([0, 0]), []);
    assert.equal(percentile([5, 1, 3, 2], 0.5), 2);
    assert.equal(percentile([5, 1, 3, 2], 0.9), 5);
    assert.equal(percentile([], 0.5), null);
  });
});

describe('evaluateOnline', () => {
  let root: string;
  const frames = new Map<string, Float32Array[]>();
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'sfn-online-'));
    for (const [name, lab] of Object.entries(LABELS)) {
      const dir = join(root, 'testing', 'frames', name);
      await mkdir(dir, { recursive: true });
      frames.set(dir, video(lab, Number(name)));
    }
    for (const [i, name] of ['a', 'b'].entries()) {
      const dir = join(root, 'training', 'frames', name);
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, '000.png'), '');
      frames.set(dir, video(new Array(160).fill(0), 100 + i));
    }
    await writeFile(join(root, 'test_frame_labels.json'), JSON.stringify(LABELS));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });
  const readFrames = async (p: string) => frames.get(p)!;
  const openFrames = async (p: string) => ({
    frames: (async function* () {
      for (const [index, data] of frames.get(p)!.entries()) yield { index, data };
    })(),
    close: async () => {},
  });

  async function manifest(calibrated: boolean): Promise<Manifest> {
    const m = { name: 'copy-last', sha256: '0'.repeat(64), model: { ...spec } } as unknown as Manifest;
    if (calibrated) m.calibration = await calibratePredictor(new CopyLastPredictor(spec, 4), join(root, 'training', 'frames'), { readFrames, patch: 6, stride: 6 });
    return m;
  }

  it('replays run with the calibration: every segment, the opening one too, and no false event on normal video', async () => {
    const p = new CopyLastPredictor(spec, 8);
    const r = await evaluateOnline(p, await manifest(true), root, { readFrames, openFrames });
    const s = r.summary;
    assert.equal(s.calibrated, true);
    assert.equal(s.segments, 2);
    assert.equal(s.detected, 2);
    // new comes after min_duration_frames (8) scored frames; the first scored frame is 4 (the context)
    assert.ok(s.latency_frames_p90! <= 4 + 8 + 3, JSON.stringify(r.videos.map((v) => v.segments)));
    assert.ok(s.anomalous_frames_in_events > 0.5);
    assert.ok(s.micro_auc > 0.9);
    assert.equal(s.false_events_check, 0);
    assert.equal(s.false_events_per_hour, 0);
    assert.equal(s.check_frames, 2 * 16);
    // 0 events in 32 frames at 10 fps: the 95 % bound is -ln(0.05) events over 3.2 s
    assert.ok(Math.abs(s.false_events_per_hour_upper95! - (2.9957 * 3600) / 3.2) < 1, String(s.false_events_per_hour_upper95));
    assert.equal(s.threshold.fpr, 0.01);
    assert.equal(s.threshold.confirm, null, 'fast confirmation is off by default');
    assert.equal(r.videos[0]!.frames[0], 4, 'scores from the first full clip');
    // threshold.confirm auto: the calibrated score at fpr / 10; a strong segment is reported before min_duration_frames
    const cfg = defaultConfig();
    const fast = await evaluateOnline(p, await manifest(true), root, { readFrames, openFrames, config: { ...cfg, threshold: { ...cfg.threshold, confirm: 'auto' } } });
    assert.ok(fast.summary.threshold.confirm !== null && fast.summary.threshold.confirm >= fast.summary.threshold.on);
    assert.equal(fast.summary.detected, 2);
    assert.ok(fast.summary.latency_frames_p50! < s.latency_frames_p50!, `${fast.summary.latency_frames_p50} < ${s.latency_frames_p50}`);
  });

  it('poissonUpper: the exact one-sided Poisson bound (chi-square table values)', () => {
    assert.ok(Math.abs(poissonUpper(0) - 2.9957) < 1e-4);
    assert.ok(Math.abs(poissonUpper(1) - 4.7439) < 1e-4);
    assert.ok(Math.abs(poissonUpper(5) - 10.5130) < 1e-4);
    assert.ok(Math.abs(poissonUpper(0, 0.99) - 4.6052) < 1e-4);
    assert.throws(() => poissonUpper(-1), RangeError);
    assert.throws(() => poissonUpper(1, 1), RangeError);
  });

  it('calibratedBaseline calibrates a predictor with no manifest (copy-last) as calibrate would a model', async () => {
    const p = new CopyLastPredictor(spec, 8);
    const scored = await calibratedBaseline(p, join(root, 'training', 'frames'), { readFrames, patch: 6, stride: 6 });
    assert.equal(scored.name, 'copy-last');
    assert.deepEqual(scored.model, spec);
    assert.deepEqual(scored.calibration, { ...(await manifest(true)).calibration!, created: scored.calibration!.created });
    const r = await evaluateOnline(p, scored, root, { readFrames, openFrames });
    assert.equal(r.summary.calibrated, true);
    assert.equal(r.summary.detected, 2);
  });

  it('without a calibration it falls back to the running baseline, which misses the opening anomaly', async () => {
    const p = new CopyLastPredictor(spec, 8);
    const r = await evaluateOnline(p, await manifest(false), root, { readFrames, openFrames, config: defaultConfig(), scoring: { warn: false } });
    assert.equal(r.summary.calibrated, false);
    assert.equal(r.summary.threshold.fpr, null);
    assert.equal(r.videos[0]!.segments[0]!.latency, null);
  });

  it('object-level scoring calibrates the box error on the normal videos and detects both segments', async () => {
    const p = new CopyLastPredictor(spec, 8);
    const boxes = async (): Promise<[number, number, number, number][]> => [[0, 0.25, 1, 0.4]]; // rows 4..10, the square's band
    const r = await evaluateOnline(p, await manifest(false), root, { readFrames, openFrames, objectBoxes: boxes });
    assert.equal(r.summary.measure, 'object');
    assert.equal(r.summary.calibrated, true);
    assert.equal(r.summary.detected, 2);
    assert.equal(r.summary.false_events_check, 0);
  });

  it('the HTML report plots the online score, thresholds and events beside the offline score', async () => {
    const p = new CopyLastPredictor(spec, 8);
    const online = await evaluateOnline(p, await manifest(true), root, { readFrames, openFrames });
    const offline = await evaluateDataset(p, root, { readFrames });
    const dir = join(root, 'report');
    const files = await writeReport(offline, dir, online);
    assert.ok(files.timelines.some((f) => f.endsWith('online-01.png')));
    const html = await readFile(files.html, 'utf8');
    assert.match(html, /Online \(what run emits\)/);
    assert.match(html, /segments detected<\/td><td>2 of 2/);
    const svg = onlineTimelineSvg(online.videos[0]!, online.summary.threshold.on, online.summary.threshold.off, 'v');
    assert.match(svg, /on \d/);
    assert.match(svg, /fill="#2a8a2a"/, 'event bars');
  });
});
