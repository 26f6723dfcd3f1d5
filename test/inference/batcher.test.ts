/**
 * The clip batcher (src/inference/batcher.ts): the clips of several cameras on one model go in one
 * predict call, results split back in order; a lone request waits at most the bounded wait; a
 * camera that stopped asking is not waited for; a failing call rejects every request in it; a
 * semantic model's text features travel with their clips.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Predictor } from '../../src/core/predictor.js';
import { ClipBatcher } from '../../src/inference/batcher.js';

const spec = { width: 2, height: 2, color: 'gray' as const };
const FRAME = 4;
const CLIP = 4 * FRAME;

/** A predictor whose prediction of a clip is its last frame plus 1, recording the batch sizes of its calls. */
function fake(calls: number[], fail = false): Predictor {
  return {
    name: 'fake', spec, batchSize: 16, textDim: 1,
    predict: async (clips, n) => {
      calls.push(n);
      if (fail) throw new Error('session failed');
      return Float32Array.from({ length: n * FRAME }, (_, i) => clips[Math.floor(i / FRAME) * CLIP + 3 * FRAME + (i % FRAME)]! + 1);
    },
    predictWithText: async (clips, n, text) => {
      calls.push(n);
      return { pred: new Float32Array(n * FRAME), text: Float32Array.from(text.subarray(0, n), (t) => t * 10) };
    },
  };
}
const clipOf = (v: number, n = 1) => new Float32Array(n * CLIP).fill(v);

describe('ClipBatcher', () => {
  it('three cameras asking together make one call; each gets its own results back', async () => {
    const calls: number[] = [];
    const b = new ClipBatcher(fake(calls), 10_000, 16);
    const [a, c, d] = [b.member(), b.member(), b.member()];
    const out = await Promise.all([a.predict(clipOf(1), 1), c.predict(clipOf(2, 2), 2), d.predict(clipOf(3), 1)]);
    assert.deepEqual(calls, [4], 'one call of 4 clips, without waiting for the timer');
    assert.deepEqual(out.map((o) => [...o]), [[2, 2, 2, 2], [3, 3, 3, 3, 3, 3, 3, 3], [4, 4, 4, 4]]);
    assert.deepEqual(b.counts, { calls: 1, clips: 4 });
  });

  it('a request waits at most the bounded wait for a camera that has not asked yet; an idle camera is not waited for', async () => {
    let now = 0;
    const calls: number[] = [];
    const b = new ClipBatcher(fake(calls), 20, 16, () => now);
    const [a, c] = [b.member(), b.member()];
    await Promise.all([a.predict(clipOf(1), 1), c.predict(clipOf(1), 1)]);
    const lone = a.predict(clipOf(1), 1); // c is recent: a waits for it, up to 20 ms
    await lone;
    assert.deepEqual(calls, [2, 1], 'the lone request went alone after the wait');
    now += 5000; // c has not asked for 5 s: a goes at once
    await a.predict(clipOf(1), 1);
    assert.deepEqual(calls, [2, 1, 1]);
  });

  it('a failing call rejects every request in it; text features travel with their clips', async () => {
    const b = new ClipBatcher(fake([], true), 10_000, 16);
    const [a, c] = [b.member(), b.member()];
    const r = await Promise.allSettled([a.predict(clipOf(1), 1), c.predict(clipOf(1), 1)]);
    assert.deepEqual(r.map((x) => x.status), ['rejected', 'rejected']);
    const calls: number[] = [];
    const t = new ClipBatcher(fake(calls), 10_000, 16);
    const [x, y] = [t.member(), t.member()];
    const out = await Promise.all([x.predictWithText!(clipOf(0), 1, Float32Array.of(1)), y.predictWithText!(clipOf(0, 2), 2, Float32Array.of(2, 3))]);
    assert.deepEqual(calls, [3]);
    assert.deepEqual(out.map((o) => [...o.text]), [[10], [20, 30]]);
  });
});
