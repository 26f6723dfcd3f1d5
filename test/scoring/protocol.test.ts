import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { minMaxNormalise } from '../../src/scoring/normalise.js';
import { evaluateProtocol } from '../../src/scoring/protocol.js';
import { gaussianSmooth } from '../../src/scoring/smoothing.js';

// drop = 2: labels cover all frames, errors start at frame 2.
const videos = [
  // A: errors [2,4,6] -> [0, .5, 1]; labels[2:] = [0,1,1] -> AUC 1
  { name: 'A', errors: [2, 4, 6], labels: [1, 1, 0, 1, 1] },
  // B: errors [10,30,20,20] -> [0, 1, .5, .5]; labels[2:] = [1,0,0,1]
  //    pos {0, .5} vs neg {1, .5}: 0 + 0 + 0 + 0.5 = 0.5 of 4 pairs -> 0.125
  { name: 'B', errors: [10, 30, 20, 20], labels: [0, 0, 1, 0, 0, 1] },
  // C: constant errors -> zeros; labels[2:] all 1 -> AUC undefined (null), excluded from macro
  { name: 'C', errors: [7, 7, 7], labels: [0, 0, 1, 1, 1] },
];

describe('evaluateProtocol', () => {
  it('drops, normalises per video, concatenates (sigma 0)', () => {
    const r = evaluateProtocol(videos, { sigma: 0, drop: 2 });
    assert.deepEqual(r.scores, [0, 0.5, 1, 0, 1, 0.5, 0.5, 0, 0, 0]);
    assert.deepEqual(r.labels, [0, 1, 1, 1, 0, 0, 1, 1, 1, 1]);
    assert.deepEqual(
      r.perVideo,
      [
        { name: 'A', auc: 1, frames: 3, offset: 0 },
        { name: 'B', auc: 0.125, frames: 4, offset: 3 },
        { name: 'C', auc: null, frames: 3, offset: 7 },
      ],
    );
    // Micro: 7 positives with scores .5, 1, 0, .5, 0, 0, 0; 3 negatives 0, 1, .5 (21 pairs).
    //   .5 -> 1 + 0 + .5 = 1.5 (twice); 1 -> 1 + .5 + 1 = 2.5; 0 -> .5 + 0 + 0 = .5 (four times)
    //   total 1.5*2 + 2.5 + .5*4 = 7.5 -> 7.5 / 21
    assert.ok(Math.abs(r.microAuc - 7.5 / 21) < 1e-15);
    assert.equal(r.macroAuc, (1 + 0.125) / 2);
  });

  it('smooths after normalising, within each video', () => {
    const r = evaluateProtocol(videos, { sigma: 1, drop: 2 });
    const b = gaussianSmooth(minMaxNormalise([10, 30, 20, 20]), 1);
    assert.deepEqual(r.scores.slice(3, 7), b);
  });

  it('rejects errors of the wrong length and single-class data', () => {
    assert.throws(
      () => evaluateProtocol([{ name: 'X', errors: [1, 2, 3, 4, 5], labels: [0, 0, 1, 1, 0] }], { sigma: 0, drop: 2 }),
      /video X has 5 labels and 5 errors; expected 3/,
    );
    assert.throws(() => evaluateProtocol([{ name: 'X', errors: [1, 2], labels: [0, 0, 1, 1] }], { sigma: 0, drop: 2 }), /only one class/);
    assert.throws(() => evaluateProtocol([], { sigma: 0, drop: 2 }), /no videos/);
  });
});
