import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { initBackend, tf } from '../../src/model/backend.js';
import { differenceLoss, predictionLoss } from '../../src/train/losses.js';
import { lrAt } from '../../src/train/optimizer.js';

describe('losses', () => {
  before(async () => {
    await initBackend();
  });

  it('prediction loss is the MSE', () => {
    const l = predictionLoss(tf.tensor2d([[0.5, 1]]), tf.tensor2d([[0, 0]])).arraySync() as number;
    assert.ok(Math.abs(l - (0.25 + 1) / 2) < 1e-7);
  });

  it('frame-difference contrastive loss: max(0, (p - next)^2 - (p - current)^2), averaged', () => {
    // pixel 1: p=.5 next=.4 cur=.9 -> .01 - .16 < 0 -> 0  (closer to the next frame: no loss)
    // pixel 2: p=.5 next=.9 cur=.4 -> .16 - .01 = .15     (closer to the current frame: penalised)
    // pixel 3: p=.2 next=.2 cur=.2 -> 0
    // pixel 4: p=0  next=1  cur=.5 -> 1 - .25 = .75
    const p = tf.tensor2d([[0.5, 0.5, 0.2, 0]]);
    const next = tf.tensor2d([[0.4, 0.9, 0.2, 1]]);
    const cur = tf.tensor2d([[0.9, 0.4, 0.2, 0.5]]);
    const l = differenceLoss(p, next, cur).arraySync() as number;
    assert.ok(Math.abs(l - (0 + 0.15 + 0 + 0.75) / 4) < 1e-6, `got ${l}`);
  });

  it('contrastive loss gradient pushes the prediction towards the next frame', () => {
    const p = tf.variable(tf.tensor2d([[0.5]]));
    const g = tf.grad((x: tf.Tensor) => differenceLoss(x as tf.Tensor2D, tf.tensor2d([[0.9]]), tf.tensor2d([[0.4]])))(p);
    assert.ok((g.arraySync() as number[][])[0]![0]! < 0, 'd loss / d p < 0: increasing p (towards .9) lowers the loss');
  });
});

describe('learning-rate schedule', () => {
  it('warms up linearly, peaks, then decays by cosine to the floor', () => {
    assert.ok(Math.abs(lrAt(0, 1000, 1e-3, 100) - 1e-5) < 1e-12);
    assert.ok(Math.abs(lrAt(99, 1000, 1e-3, 100) - 1e-3) < 1e-12);
    assert.ok(Math.abs(lrAt(100, 1000, 1e-3, 100) - 1e-3) < 1e-12);
    assert.ok(Math.abs(lrAt(1000, 1000, 1e-3, 100) - 5e-5) < 1e-12);
    assert.ok(lrAt(550, 1000, 1e-3, 100) < 1e-3 && lrAt(550, 1000, 1e-3, 100) > 5e-5);
  });
});
