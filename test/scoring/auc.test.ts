import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { AucInputError, rocAuc, rocCurve } from '../../src/scoring/auc.js';

/** Trapezoidal area under (fpr, tpr). */
function trapz(x: number[], y: number[]): number {
  let a = 0;
  for (let i = 1; i < x.length; i++) a += ((x[i]! - x[i - 1]!) * (y[i]! + y[i - 1]!)) / 2;
  return a;
}

describe('rocAuc', () => {
  it('is 1 for perfect separation, 0 for inverted, 0.5 for all-equal scores', () => {
    assert.equal(rocAuc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]), 1);
    assert.equal(rocAuc([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1]), 0);
    assert.equal(rocAuc([3, 3, 3, 3, 3], [0, 1, 0, 1, 1]), 0.5);
  });

  it('handles ties: [0.1,0.4,0.4,0.8] vs [0,0,1,1] = 0.875', () => {
    // Pairs (positive, negative), 1 if pos > neg, 0.5 if tied:
    //   (0.4, 0.1) = 1   (0.4, 0.4) = 0.5   (0.8, 0.1) = 1   (0.8, 0.4) = 1   -> 3.5 / 4 = 0.875.
    // Rank form: ranks 1, 2.5, 2.5, 4; R+ = 2.5 + 4 = 6.5; U = 6.5 - 2*3/2 = 3.5; AUC = 3.5 / (2*2).
    assert.equal(rocAuc([0.1, 0.4, 0.4, 0.8], [0, 0, 1, 1]), 0.875);
  });

  it('matches a hand computation with several tie groups', () => {
    // scores 1 1 2 2 2 3, labels 0 1 0 1 1 0; P = 3 (scores 1, 2, 2), N = 3 (scores 1, 2, 3).
    // pos 1: vs 1 -> .5, vs 2 -> 0, vs 3 -> 0           = 0.5
    // pos 2: vs 1 -> 1,  vs 2 -> .5, vs 3 -> 0 (x2)     = 3.0
    // total 3.5 / 9
    assert.equal(rocAuc([1, 1, 2, 2, 2, 3], [0, 1, 0, 1, 1, 0]), 3.5 / 9);
  });

  it('does not depend on input order', () => {
    assert.equal(rocAuc([0.8, 0.4, 0.1, 0.4], [1, 0, 0, 1]), 0.875);
  });

  it('equals the pairwise definition on random data with ties', () => {
    let seed = 11;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    const scores = Array.from({ length: 200 }, () => Math.floor(rnd() * 10));
    const labels = scores.map((s) => (rnd() < 0.2 + s / 15 ? 1 : 0));
    let wins = 0;
    let pairs = 0;
    for (let i = 0; i < scores.length; i++)
      for (let j = 0; j < scores.length; j++)
        if (labels[i] === 1 && labels[j] === 0) {
          pairs++;
          wins += scores[i]! > scores[j]! ? 1 : scores[i] === scores[j] ? 0.5 : 0;
        }
    assert.ok(Math.abs(rocAuc(scores, labels) - wins / pairs) < 1e-12);
  });

  it('throws on a single class, length mismatch, bad labels, NaN', () => {
    assert.throws(() => rocAuc([0.1, 0.2], [1, 1]), (e: unknown) => e instanceof AucInputError && /only one class/.test(e.message));
    assert.throws(() => rocAuc([0.1, 0.2], [0, 0]), /only one class/);
    assert.throws(() => rocAuc([0.1, 0.2, 0.3], [0, 1]), /differ in length/);
    assert.throws(() => rocAuc([0.1, 0.2], [0, 2]), /must be 0 or 1/);
    assert.throws(() => rocAuc([0.1, Number.NaN], [0, 1]), /NaN/);
  });
});

describe('rocCurve', () => {
  it('gives one point per distinct score, starting at (0,0) / +Infinity', () => {
    // Thresholds inf, 0.8, 0.4, 0.1: predicted positive = {}, {0.8}, {0.8, 0.4, 0.4}, all.
    const c = rocCurve([0.1, 0.4, 0.4, 0.8], [0, 0, 1, 1]);
    assert.deepEqual(c.thresholds, [Number.POSITIVE_INFINITY, 0.8, 0.4, 0.1]);
    assert.deepEqual(c.tpr, [0, 0.5, 1, 1]);
    assert.deepEqual(c.fpr, [0, 0, 0.5, 1]);
    assert.equal(trapz(c.fpr, c.tpr), 0.875);
  });

  it('has trapezoidal area equal to rocAuc on random data with ties', () => {
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    const scores = Array.from({ length: 300 }, () => Math.round(rnd() * 20) / 20);
    const labels = scores.map((s) => (rnd() < 0.3 + 0.5 * s ? 1 : 0));
    const c = rocCurve(scores, labels);
    assert.ok(Math.abs(trapz(c.fpr, c.tpr) - rocAuc(scores, labels)) < 1e-12);
    assert.equal(c.fpr.at(-1), 1);
    assert.equal(c.tpr.at(-1), 1);
  });

  it('throws on a single class', () => {
    assert.throws(() => rocCurve([1, 2], [0, 0]), /only one class/);
  });
});
