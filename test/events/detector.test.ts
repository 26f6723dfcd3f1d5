import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RunningBaseline, median } from '../../src/events/baseline.js';
import { EventDetector, type AnomalyEvent, type DetectorParams } from '../../src/events/detector.js';
import { frameError, pickError } from '../../src/events/score.js';

const P: DetectorParams = { on: 4, off: 2.5, minFrames: 3, sigma: 0, updateEvery: 5, window: 50, warmup: 10 };

/** Baseline noise alternating 1.0 / 1.1 (median 1.05, MAD 0.05 -> scale 0.0741), then `tail`. */
function run(det: EventDetector, tail: number[], lead = 20): { events: AnomalyEvent[]; scores: number[] } {
  const events: AnomalyEvent[] = [];
  const scores: number[] = [];
  const seq = [...Array.from({ length: lead }, (_, i) => (i % 2 ? 1.1 : 1.0)), ...tail];
  seq.forEach((e, i) => {
    const s = det.push(i, new Date(Date.UTC(2026, 0, 1, 0, 0, 0, i * 40)), e);
    scores.push(s.score);
    events.push(...s.events);
  });
  events.push(...det.finish());
  return { events, scores };
}

let n = 0;
const ids = () => `id-${++n}`;

describe('RunningBaseline', () => {
  it('median/MAD z-score, warm-up, window', () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 2, 3]), 2.5);
    const b = new RunningBaseline({ window: 4, warmup: 2 });
    assert.equal(b.normalise(5), 0);
    b.add(1);
    assert.equal(b.ready, false);
    b.add(1.2);
    assert.equal(b.ready, true);
    const s = b.current()!;
    assert.ok(Math.abs(s.median - 1.1) < 1e-12);
    assert.ok(Math.abs(s.scale - 1.4826 * 0.1) < 1e-12);
    for (const v of [7, 7, 7, 7]) b.add(v);
    assert.equal(b.size, 4);
    assert.equal(b.current()!.median, 7);
    assert.ok(Math.abs(b.current()!.scale - 0.35) < 1e-12, 'relative floor on a constant window');
    assert.throws(() => new RunningBaseline({ window: 3, warmup: 4 }), RangeError);
  });
});

describe('EventDetector', () => {
  it('no events on baseline noise; nothing before warm-up', () => {
    const det = new EventDetector(P, 'sha', ids);
    const r = run(det, [], 40);
    assert.equal(r.events.length, 0);
    const early = new EventDetector(P, 'sha', ids);
    assert.equal(early.push(0, new Date(), 100).events.length, 0);
  });

  it('new -> update -> end with a stable id, hysteresis keeps the event between off and on', () => {
    const det = new EventDetector(P, 'abc123', ids);
    // z ≈ (e - 1.05) / 0.0741: 2.0 -> 12.8 (on), 1.25 -> 2.7 (between off and on), 1.0 -> -0.7 (off)
    const tail = [2, 2, 2, 2, 1.25, 1.25, 1.25, 2, 2, 2, 2, 3, 1.0, 1.0];
    const { events } = run(det, tail);
    // new at frame 22 (start 20 + minFrames 3 - 1), update 5 frames later (27), end when 32 drops below off
    assert.deepEqual(events.map((e) => e.type), ['new', 'update', 'end']);
    const id = events[0]!.id;
    assert.ok(events.every((e) => e.id === id));
    assert.deepEqual(events.map((e) => e.seq), [0, 1, 2]);
    assert.equal(events[1]!.last.frame, 27);
    const end = events.at(-1)!;
    assert.equal(end.start.frame, 20);
    assert.equal(end.end!.frame, 31, 'end is the last frame at or above off');
    assert.equal(end.reason, 'below-threshold');
    assert.equal(end.peak.frame, 31);
    assert.equal(end.frames, 12);
    assert.equal(end.trace.length, 12);
    assert.equal(end.model_sha256, 'abc123');
    assert.deepEqual(end.threshold, { on: 4, off: 2.5, min_frames: 3, confirm: null });
    assert.equal(events[0]!.end, null);
    assert.equal(end.start.time, new Date(Date.UTC(2026, 0, 1, 0, 0, 0, 800)).toISOString());
    assert.ok(end.mean > 2 && end.mean < end.peak.score);
  });

  it('minimum duration: a short spike is not an event', () => {
    const det = new EventDetector(P, 'sha', ids);
    const { events } = run(det, [2, 2, 1.0, 1.1, 1.0]);
    assert.equal(events.length, 0);
    const det1 = new EventDetector({ ...P, minFrames: 1 }, 'sha', ids);
    const r1 = run(det1, [2, 1.0]);
    assert.deepEqual(r1.events.map((e) => e.type), ['new', 'end']);
    assert.equal(r1.events[0]!.start.frame, r1.events[1]!.end!.frame);
  });

  it('an event starts where its score rose above off: its rising edge is part of it, minFrames counts from on', () => {
    const det = new EventDetector(P, 'sha', ids);
    // 1.25 -> z 2.7 (between off and on) at frames 20-21, then 2.0 (on) at 22-24; a lone rise at 27 that never reaches on
    const { events } = run(det, [1.25, 1.25, 2, 2, 2, 1.0, 1.0, 1.25, 1.0, 1.0]);
    assert.deepEqual(events.map((e) => e.type), ['new', 'end']);
    const [nw, end] = events as [AnomalyEvent, AnomalyEvent];
    assert.equal(nw.start.frame, 20, 'start back-dated to the first frame >= off');
    assert.equal(nw.last.frame, 24, 'new waits minFrames from the on crossing at 22, not from the start');
    assert.equal(end.end!.frame, 24);
    assert.equal(end.frames, 5);
    assert.deepEqual(end.trace.map(([f]) => f), [20, 21, 22, 23, 24]);
    assert.equal(end.peak.frame, 22);
    // a rise that fell back below off is forgotten: the next event starts at its own rise
    const det2 = new EventDetector(P, 'sha', ids);
    const r2 = run(det2, [1.25, 1.0, 1.25, 2, 2, 2, 1.0]);
    assert.equal(r2.events[0]!.start.frame, 22);
  });

  it('fast confirmation: a score at or above confirm is reported at once; below it waits minFrames', () => {
    const fast = new EventDetector({ ...P, confirm: 10 }, 'sha', ids);
    const r = run(fast, [2, 1.0]); // z 12.8 >= 10 for one frame
    assert.deepEqual(r.events.map((e) => e.type), ['new', 'end']);
    assert.equal(r.events[0]!.last.frame, 20);
    assert.deepEqual(r.events[0]!.threshold, { on: 4, off: 2.5, min_frames: 3, confirm: 10 });
    const slow = new EventDetector({ ...P, confirm: 20 }, 'sha', ids);
    assert.equal(run(slow, [2, 1.0]).events.length, 0, '12.8 < 20: the one-frame spike is dropped');
    assert.throws(() => new EventDetector({ ...P, confirm: 3 }, 'sha', ids), /confirm must be >= on/);
  });

  it('an event still open at the end of the stream gets end (stream-end); two events get two ids', () => {
    const det = new EventDetector(P, 'sha', ids);
    const { events } = run(det, [2, 2, 2, 1.0, 1.0, 2, 2, 2, 2]);
    assert.deepEqual(events.map((e) => e.type), ['new', 'end', 'new', 'end']);
    assert.notEqual(events[0]!.id, events[2]!.id);
    assert.equal(events[3]!.reason, 'stream-end');
    assert.equal(events[3]!.end!.frame, 28);
    assert.deepEqual(det.finish(), []);
  });

  it('frames inside an event stay out of the baseline', () => {
    const det = new EventDetector(P, 'sha', ids);
    const { events } = run(det, Array.from({ length: 200 }, () => 2));
    assert.deepEqual(events.map((e) => e.type).filter((t) => t !== 'update'), ['new', 'end']);
    assert.equal(events.at(-1)!.reason, 'stream-end');
  });

  it('smoothing delays the start; configure applies new thresholds without losing state', () => {
    const det = new EventDetector({ ...P, off: 2, sigma: 2 }, 'sha', ids);
    // z(1.4) ≈ 4.7; the causal half-Gaussian (sigma 2) reaches on = 4 only on the third frame (22),
    // so `new` comes minFrames later (24); the event starts where the smoothed score rose above off
    const { events } = run(det, [1.4, 1.4, 1.4, 1.4, 1.4, 1.4, 1.4, 1.4]);
    assert.equal(events[0]!.type, 'new');
    assert.equal(events[0]!.last.frame, 24);
    assert.equal(events[0]!.start.frame, 20);
    const det0 = new EventDetector(P, 'sha', ids);
    const e0 = run(det0, [1.4, 1.4, 1.4, 1.4, 1.4, 1.4]).events[0]!;
    assert.equal(e0.last.frame, 22, 'unsmoothed: on at 20, new at 22');
    assert.equal(e0.start.frame, 20);
    const det2 = new EventDetector(P, 'sha', ids);
    run(det2, [], 20);
    det2.configure({ ...P, on: 100, off: 50 });
    assert.equal(det2.push(100, new Date(), 2).events.length, 0);
    assert.equal(det2.current.on, 100);
    assert.throws(() => det2.configure({ ...P, on: 1, off: 2 }), RangeError);
    assert.equal(det2.current.on, 100, 'unchanged after a refused configure');
  });
});

describe('EventDetector.seed', () => {
  it('a seeded baseline scores from the first frame, so a stream that starts anomalous is flagged', () => {
    const det = new EventDetector(P, 'sha', ids);
    det.seed(Array.from({ length: 20 }, (_, i) => (i % 2 ? 1.1 : 1.0)));
    const events = [0, 1, 2, 3].flatMap((i) => det.push(i, new Date(0), 2).events);
    assert.equal(events[0]?.type, 'new');
    assert.equal(events[0]?.start.frame, 0);
    const cold = new EventDetector(P, 'sha', ids);
    assert.deepEqual([0, 1, 2, 3].flatMap((i) => cold.push(i, new Date(0), 2).events), []);
  });
});

describe('frameError', () => {
  it('patch-max >= mse, localised change', () => {
    const spec = { width: 48, height: 32, color: 'gray' as const };
    const a = new Float32Array(48 * 32);
    const b = a.slice();
    for (let y = 0; y < 16; y++) for (let x = 0; x < 16; x++) b[y * 48 + x] = 1;
    const e = frameError(a, b, spec, 16, 16);
    assert.ok(Math.abs(e.patchMax - 1) < 1e-9);
    assert.ok(Math.abs(e.mse - 256 / 1536) < 1e-9);
    assert.equal(pickError(e, 'mse'), e.mse);
    assert.equal(pickError(e, 'patch-max'), e.patchMax);
  });
});

describe('EventDetector with a semantic error', () => {
  /** frame error 1.0 and semantic error 0.1 (constant: MAD 0, so the scales are the 5% floors,
   * 0.05 and 0.005), then the semantic error jumps to `semTail` and the frame error to `frameTail` */
  function runSem(det: EventDetector, semTail: number, frameTail = 1.0, lead = 20, tail = 10) {
    const events: AnomalyEvent[] = [];
    const steps: { z: number; score: number }[] = [];
    for (let i = 0; i < lead + tail; i++) {
      const s = det.push(i, new Date(Date.UTC(2026, 0, 1, 0, 0, 0, i * 40)), i < lead ? 1.0 : frameTail, i < lead ? 0.1 : semTail);
      steps.push(s);
      events.push(...s.events);
    }
    events.push(...det.finish());
    return { events, steps };
  }

  it('adds the z-scores as z_frame + w z_semantic, each against its own baseline', () => {
    const det = new EventDetector({ ...P, semanticWeight: 0.25 }, 'sha', ids);
    const { steps } = runSem(det, 0.5, 1.1);
    assert.ok(steps.slice(0, 20).every((s) => s.z === 0));
    // z_frame = (1.1 - 1.0) / 0.05 = 2; z_semantic = (0.5 - 0.1) / 0.005 = 80
    assert.ok(Math.abs(steps[20]!.z - (2 + 0.25 * 80)) < 1e-9, `z ${steps[20]!.z}`);
  });

  it('a semantic-only anomaly raises an event; with weight 0 it does not', () => {
    const withSem = runSem(new EventDetector({ ...P, semanticWeight: 0.2 }, 'sha', ids), 0.5);
    assert.equal(withSem.events.filter((e) => e.type === 'new').length, 1);
    const off = runSem(new EventDetector({ ...P, semanticWeight: 0 }, 'sha', ids), 0.5);
    assert.equal(off.events.length, 0);
    assert.ok(off.steps.every((s) => s.z === 0));
    assert.throws(() => new EventDetector({ ...P, semanticWeight: 1.5 }, 'sha', ids), /semanticWeight must be in \[0, 1\]/);
  });

  it('before the semantic baseline has warmed up the frame error alone is scored', () => {
    const det = new EventDetector({ ...P, warmup: 10 }, 'sha', ids);
    det.seed(Array.from({ length: 20 }, (_, i) => (i % 2 ? 1.1 : 1.0))); // frame baseline ready, semantic not
    const s = det.push(0, new Date(0), 1.0, 5);
    assert.ok(Math.abs(s.z - (1.0 - 1.05) / (1.4826 * 0.05)) < 1e-9);
  });
});
