import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CalibratedBaseline } from '../../src/events/baseline.js';
import { EventDetector, type AnomalyEvent, type DetectorParams } from '../../src/events/detector.js';

const P: DetectorParams = { on: 4, off: 2, minFrames: 3, sigma: 0, updateEvery: 1000, window: 50, warmup: 10 };
const t = (i: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, 0, i * 100));

function play(det: EventDetector, zs: number[]): { events: AnomalyEvent[]; states: string[] } {
  const events: AnomalyEvent[] = [];
  const states: string[] = [];
  zs.forEach((z, i) => {
    const s = det.push(i, t(i), z);
    states.push(s.state);
    events.push(...s.events);
  });
  events.push(...det.finish());
  return { events, states };
}

describe('EventDetector, calibrated', () => {
  it('flags an anomaly in view from the first frame (no warm-up)', () => {
    const { events } = play(new EventDetector(P, 'sha', () => 'e1', {}), [6, 6, 6, 6, 6, 0, 0, 0]);
    assert.equal(events[0]!.type, 'new');
    assert.equal(events[0]!.start.frame, 0);
    assert.equal(events[0]!.last.frame, 2, 'new after minFrames = 3 frames');
    assert.equal(events.at(-1)!.type, 'end');
  });

  it('a calibrated text error counts from the first frame: z = z_frame + w (u - loc) / scale', () => {
    const det = new EventDetector({ ...P, semanticWeight: 0.2 }, 'sha', () => 'e1', { semantic: { loc: 0.1, scale: 0.02 } });
    const s = det.push(0, t(0), 1, 0.5);
    assert.ok(Math.abs(s.z - (1 + 0.2 * ((0.5 - 0.1) / 0.02))) < 1e-12, String(s.z));
    // with a running text baseline (no calibrated text statistics) the first frames use the frame error alone
    const warm = new EventDetector({ ...P, semanticWeight: 0.2 }, 'sha', () => 'e1', {});
    assert.equal(warm.push(0, t(0), 1, 0.5).z, 1);
  });

  it('the uncalibrated detector needs its warm-up and misses the same opening', () => {
    const { events } = play(new EventDetector(P, 'sha', () => 'e1'), [6, 6, 6, 6, 6, 0, 0, 0]);
    assert.equal(events.length, 0);
  });

  it('never learns a persistent anomaly as normal: one event for the whole run', () => {
    const zs = Array.from({ length: 5000 }, () => 5);
    const { events, states } = play(new EventDetector(P, 'sha', () => 'e1', { drift: { rate: 0.1 } }), zs);
    assert.deepEqual(events.filter((e) => e.type !== 'update').map((e) => e.type), ['new', 'end']);
    assert.equal(events.at(-1)!.reason, 'stream-end');
    assert.equal(states.at(-1), 'active');
  });

  it('ignores seeds (it is calibrated already)', () => {
    const det = new EventDetector(P, 'sha', () => 'e1', {});
    det.seed([100, 100, 100]);
    assert.equal(det.push(0, t(0), 6).z, 6);
  });
});

describe('CalibratedBaseline', () => {
  it('z from the first frame; drift only from frames below acceptBelow, bounded', () => {
    const b = new CalibratedBaseline({ loc: 1, scale: 2, rate: 0.5, acceptBelow: 1, bound: 0.5 });
    assert.equal(b.ready, true);
    assert.equal(b.normalise(5), 2);
    for (let i = 0; i < 100; i++) b.add(9); // z = 4: never accepted
    assert.equal(b.current().median, 1);
    for (let i = 0; i < 100; i++) b.add(2.9); // z = 0.95: accepted, but the location moves 0.5 scale at most
    assert.equal(b.current().median, 2);
    b.reset();
    assert.equal(b.current().median, 1);
    for (let i = 0; i < 100; i++) b.add(-10);
    assert.equal(b.current().median, 0);
    assert.throws(() => new CalibratedBaseline({ loc: 0, scale: 0 }), RangeError);
  });
});
