/**
 * The run loop's listeners (src/pipeline/record.ts): every arriving frame reaches `frame`, every
 * scored frame makes one record (index, time, pixels, prediction, scores, region) that reaches
 * `scored`, every lifecycle message reaches `event` before the caller's `onEvent`; the region is
 * computed once, from the record, on first call. A copy-last predictor and a frame that jumps make
 * an event.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CopyLastPredictor } from '../../src/core/predictor.js';
import { defaultConfig } from '../../src/core/runtime-config.js';
import type { AnomalyEvent } from '../../src/events/detector.js';
import { runLoop } from '../../src/pipeline/loop.js';
import type { ArrivedFrame, ScoredFrame } from '../../src/pipeline/record.js';
import { anomalyRegion } from '../../src/pipeline/region.js';
import { onlineScoring } from '../../src/pipeline/scoring.js';

const spec = { width: 32, height: 32, color: 'gray' as const };

/** 60 flat frames with a little noise; frames 40-52 have a bright 8x8 square that moves. */
async function* frames() {
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let i = 0; i < 60; i++) {
    const data = Float32Array.from({ length: 32 * 32 }, () => 0.5 + (rnd() - 0.5) * 0.02);
    if (i >= 40 && i < 52) for (let y = 8; y < 16; y++) for (let x = 0; x < 8; x++) data[y * 32 + x + (i - 40) * 2] = 1;
    yield { index: i, data };
  }
}

describe('the run loop\'s listeners', () => {
  it('one record per scored frame, to every listener, with the region computed once from the record', async () => {
    const scoring = onlineScoring({ name: 'copy-last', sha256: 'none', model: spec } as never, spec, { uncalibrated: true });
    const cfg = { ...defaultConfig(), baseline_warmup: 10, min_duration_frames: 2 };
    const arrived: ArrivedFrame[] = [];
    const records: ScoredFrame[] = [];
    const order: string[] = [];
    const onScore: number[] = [];
    await runLoop({
      frames: frames(), predictor: new CopyLastPredictor(spec, 4), detector: scoring.detector(scoring.params(cfg)), measure: () => cfg.measure,
      realtime: false, fps: 10, paceByClock: false, batch: 4,
      listeners: [
        { frame: (f) => void arrived.push(f) },
        { scored: (r) => void records.push(r), event: (e: AnomalyEvent) => void order.push(`listener ${e.type}`) },
      ],
      onEvent: (e) => order.push(`onEvent ${e.type}`),
      onScore: (f) => onScore.push(f),
    });
    assert.equal(arrived.length, 60);
    assert.deepEqual(arrived.map((f) => f.index), [...Array(60).keys()]);
    assert.equal(arrived[5]!.stored(), arrived[5]!.stored(), 'the stored copy is made once');
    assert.deepEqual(records.map((r) => r.index), onScore, 'one record per scored frame, in order');
    assert.equal(records.length, 60 - 4);
    const r = records.find((x) => x.index === 45)!;
    assert.deepEqual(r.region(), anomalyRegion(r.prediction, r.pixels, spec));
    assert.equal(r.region(), r.region(), 'the region is computed once');
    assert.ok(order.length >= 2 && order[0] === 'listener new' && order[1] === 'onEvent new', order.join(', '));
    assert.ok(records.some((x) => x.inEvent));
  });
});
