import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { CaptionRequest, CaptionResult } from '../../src/caption/captioner.js';
import { buildCaption } from '../../src/caption/describe.js';
import type { CaptionWorker } from '../../src/caption/worker.js';
import type { Predictor } from '../../src/core/predictor.js';
import { SemanticFeed } from '../../src/pipeline/semantic.js';

const spec = { width: 2, height: 1, color: 'gray' as const };

/** A caption worker whose calls after the first are answered normally, dropped (busy) or failed. */
function fakeWorker(afterFirst: 'ok' | 'busy' | 'fail' = 'ok') {
  const asked: Array<[number, string]> = [];
  let n = 0;
  const w = {
    request: async (req: CaptionRequest, kind: string): Promise<CaptionResult | null> => {
      asked.push([req.frame[0]!, kind]);
      n++;
      if (afterFirst === 'busy' && n > 1) return null; // dropped: the worker was busy
      if (afterFirst === 'fail' && n > 1) throw new Error('the caption worker exited');
      const structured = buildCaption([]);
      return { text: 'x', structured, embedding: Float32Array.from([req.frame[0]!, 1]), ms: 1, captioner: 'fake' };
    },
  } as unknown as CaptionWorker;
  return { w, asked };
}

const model = (): Predictor & { seen: number[][] } => {
  const seen: number[][] = [];
  return {
    name: 'sem', spec, batchSize: 4, textDim: 2, seen,
    predict: () => Promise.reject(new Error('needs text')),
    predictWithText: async (clips, n, text) => {
      for (let i = 0; i < n; i++) seen.push(Array.from(text.subarray(i * 2, i * 2 + 2)));
      return { pred: new Float32Array(n * 2), text: Float32Array.from({ length: n * 2 }, () => 1) };
    },
  };
};

/** Feeds frames `[v, 0]` in order, scoring one clip after each (what the run loop does). */
async function playFrames(feed: SemanticFeed, p: Predictor, values: number[]): Promise<void> {
  for (const v of values) {
    await feed.onFrame(new Float32Array([v, 0]));
    await p.predict(new Float32Array(8), 1);
  }
}

test('captions every K frames (the first one awaited), the latest text feature goes with every clip', async () => {
  const { w, asked } = fakeWorker();
  const feed = new SemanticFeed(w, spec, 2, 3);
  const m = model();
  const p = feed.wrap(m);
  await playFrames(feed, p, [1, 2, 3, 4, 5, 6, 7]);
  assert.deepEqual(asked, [[1, 'event'], [4, 'periodic'], [7, 'periodic']]);
  assert.deepEqual(m.seen.map((t) => t[0]), [1, 1, 1, 4, 4, 4, 7]);
  assert.equal(feed.last.captions, 3);
  assert.equal(feed.last.failures, 0);
  assert.ok(Math.abs(feed.last.error - (1 - 8 / Math.sqrt(50 * 2))) < 1e-6, String(feed.last.error));
});

test('a dropped periodic caption keeps the last text feature; bad settings are refused', async () => {
  const { w } = fakeWorker('busy');
  const feed = new SemanticFeed(w, spec, 2, 1);
  const m = model();
  const p = feed.wrap(m);
  await playFrames(feed, p, [1, 2, 3]);
  assert.deepEqual(m.seen.map((t) => t[0]), [1, 1, 1]);
  assert.throws(() => new SemanticFeed(w, spec, 2, 0), /every K >= 1/);
  assert.throws(() => feed.wrap({ ...model(), textDim: 0 }), /has no semantic branch/);
});

test('a failing caption (worker died) keeps the last text feature and the loop goes on', async () => {
  const { w } = fakeWorker('fail');
  const feed = new SemanticFeed(w, spec, 2, 1);
  const m = model();
  const p = feed.wrap(m);
  await playFrames(feed, p, [1, 2, 3]);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(m.seen.map((t) => t[0]), [1, 1, 1]);
  assert.equal(feed.last.failures, 2);
});

test('wait mode (a file run as fast as possible) asks every K-th caption as an event request and waits; per-clip semantic errors', async () => {
  const { w, asked } = fakeWorker();
  const feed = new SemanticFeed(w, spec, 2, 2, true);
  const m = model();
  const p = feed.wrap(m);
  for (const v of [1, 2, 3, 4, 5]) await feed.onFrame(new Float32Array([v, 0]));
  assert.deepEqual(asked, [[1, 'event'], [3, 'event'], [5, 'event']]);
  await p.predict(new Float32Array(24), 3);
  // text [5, 1] against text_pred [1, 1] for each of the 3 clips
  const e = 1 - 6 / Math.sqrt(26 * 2);
  assert.equal(feed.errors.length, 3);
  for (const x of feed.errors) assert.ok(Math.abs(x - e) < 1e-6, String(x));
});
