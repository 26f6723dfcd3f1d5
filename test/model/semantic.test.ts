import assert from 'node:assert/strict';
import { before, test } from 'node:test';

import { initBackend, tf } from '../../src/model/backend.js';
import { derived, makeConfig } from '../../src/core/model-config.js';
import { disposeParams, forward, initParams } from '../../src/model/sfn.js';
import { similarityLoss, totalLoss } from '../../src/train/losses.js';

const cfg = makeConfig({ height: 16, width: 24, patch: 8, dim: 16, blocks: 2, heads: 2, experts: 4, topK: 2, expertDim: 4, textDim: 6 });

before(async () => {
  await initBackend();
});

function batch(B: number, withText = true) {
  const g = derived(cfg);
  const rows = B * g.tokens;
  const u = (n: number, k: number) => tf.tensor2d(Float32Array.from({ length: n * k }, (_, i) => ((i * 37) % 101) / 101), [n, k]);
  return { appearance: u(rows, g.appearanceLen), motion: u(rows, g.motionLen), last: u(rows, g.outLen), batch: B, ...(withText ? { text: u(B, 6) } : {}) };
}

test('similarityLoss = mean(1 - cos) by hand, a zero row counts as cos 0', () => {
  const a = tf.tensor2d([[1, 0], [1, 1], [0, 0]]);
  const b = tf.tensor2d([[1, 0], [1, 0], [1, 0]]);
  const v = similarityLoss(a, b).dataSync()[0]!;
  assert.ok(Math.abs(v - (0 + (1 - 1 / Math.SQRT2) + 1) / 3) < 1e-5, String(v));
});

test('with textDim > 0 the network takes [B, textDim] text and predicts [B, textDim]; frames keep their shape', () => {
  const p = initParams(cfg, 1);
  const x = batch(3);
  const f = forward(p, cfg, x);
  assert.deepEqual(f.text?.shape, [3, 6]);
  assert.deepEqual(f.pred.shape, [3 * derived(cfg).tokens, derived(cfg).outLen]);
  // the load-balancing statistics see T + 1 tokens per sequence
  assert.equal(f.routing[0]!.probs.shape[0], 3 * (derived(cfg).tokens + 1));
  assert.throws(() => forward(p, cfg, batch(3, false)), /semantic branch: give text features \[3, 6\], got none/);
  disposeParams(p);
});

test('gradients of the total loss reach the text embedding and the text head, and the visual path', () => {
  const p = initParams(cfg, 2);
  const x = batch(2);
  const target = tf.add(x.last, 0.05) as tf.Tensor2D;
  const { grads } = tf.variableGrads(() => {
    const f = forward(p, cfg, x);
    return totalLoss(f.pred, target, x.last, f.routing, 2, cfg.topK, cfg.auxAlpha, { pred: f.text!, target: x.text! }).total;
  });
  const norm = (n: string) => tf.norm(grads[[...p.entries()].find(([k]) => k === n)![1].name]!).dataSync()[0]!;
  for (const n of ['embed.text.w', 'head.text.w', 'head.text.ln.g', 'embed.app.w', 'block0.sffm.router']) assert.ok(norm(n) > 0, `no gradient reaches ${n}`);
  disposeParams(p);
});
