import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { minMaxNormalise } from '../../src/scoring/normalise.js';

describe('minMaxNormalise', () => {
  it('maps min to 0 and max to 1', () => {
    assert.deepEqual(minMaxNormalise([2, 4, 6, 3]), [0, 0.5, 1, 0.25]);
    assert.deepEqual(minMaxNormalise(new Float32Array([-1, 1])), [0, 1]);
  });
  it('constant input -> zeros; empty -> empty', () => {
    assert.deepEqual(minMaxNormalise([7, 7, 7]), [0, 0, 0]);
    assert.deepEqual(minMaxNormalise([5]), [0]);
    assert.deepEqual(minMaxNormalise([]), []);
  });
  it('rejects non-finite values', () => {
    assert.throws(() => minMaxNormalise([1, Number.NaN]), /finite/);
    assert.throws(() => minMaxNormalise([1, Number.POSITIVE_INFINITY]), /finite/);
  });
});
