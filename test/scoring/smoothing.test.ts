import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  CausalGaussianSmoother,
  causalGaussianSmooth,
  gaussianKernel,
  gaussianRadius,
  gaussianSmooth,
} from '../../src/scoring/smoothing.js';

function close(actual: number[], expected: number[], tol = 1e-12): void {
  assert.equal(actual.length, expected.length);
  actual.forEach((a, i) => assert.ok(Math.abs(a - expected[i]!) <= tol, `index ${i}: ${a} vs ${expected[i]}`));
}

describe('gaussianKernel', () => {
  it('uses scipy radius int(4*sigma + 0.5) and sums to 1', () => {
    assert.equal(gaussianRadius(1), 4);
    assert.equal(gaussianRadius(5), 20);
    assert.equal(gaussianRadius(0.1), 0);
    const w = gaussianKernel(1);
    assert.equal(w.length, 9);
    close([w.reduce((a, b) => a + b, 0)], [1]);
    // w[k] = exp(-k^2/2) / (1 + 2(e^-0.5 + e^-2 + e^-4.5 + e^-8))
    const z = 1 + 2 * (Math.exp(-0.5) + Math.exp(-2) + Math.exp(-4.5) + Math.exp(-8));
    close(w, [-4, -3, -2, -1, 0, 1, 2, 3, 4].map((k) => Math.exp((-k * k) / 2) / z));
    close([w[4]!], [0.39894346935609776]);
  });
});

describe('gaussianSmooth (= scipy gaussian_filter1d, mode reflect, truncate 4)', () => {
  it('sigma 0 is the identity', () => {
    assert.deepEqual(gaussianSmooth([3, 1, 2], 0), [3, 1, 2]);
  });

  it('impulse response with a reflected copy at the left edge', () => {
    // x = impulse at index 3, n = 10, sigma 1 (radius 4). Away from the edges y[t] = w[t - 3].
    // 'reflect' extends x as x[-1-j] = x[j], so the impulse also sits at index -4; it reaches t = 0
    // only (distance 4): y[0] = w(3) + w(-4) = 4.4318616200312655e-3 + 1.3383062461474175e-4.
    const x = [0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    close(gaussianSmooth(x, 1), [
      4.5656922446460071e-3, 5.3991127420704409e-2, 2.4197144565660073e-1, 3.9894346935609776e-1,
      2.4197144565660073e-1, 5.3991127420704409e-2, 4.4318616200312655e-3, 1.3383062461474175e-4, 0, 0,
    ]);
  });

  it('ramp with sigma 5 (kernel longer than the signal: repeated reflection)', () => {
    // Reference values from the same formula evaluated in float64 with numpy
    // (np.pad(..., mode='symmetric') == scipy mode 'reflect').
    close(gaussianSmooth([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 5), [
      3.3392056283650287, 3.4528377661850316, 3.66896932912761, 3.9664467681146762, 4.316150406450567,
      4.683849593549434, 5.033553231885323, 5.331030670872392, 5.547162233814969, 5.660794371634972,
    ], 1e-12);
    close(gaussianSmooth([1, 2, 3], 2), [1.8884272507536546, 2.0000000000000004, 2.1115727492463456], 1e-12);
  });

  it('keeps constants constant and rejects bad sigma', () => {
    close(gaussianSmooth([2, 2, 2, 2], 3), [2, 2, 2, 2]);
    assert.throws(() => gaussianSmooth([1], -1), /sigma/);
  });
});

describe('causal Gaussian', () => {
  it('uses only past samples, renormalised at the start', () => {
    // sigma 1: c = [1, e^-0.5, e^-2, e^-4.5, e^-8].
    const c = [0, 1, 2, 3, 4].map((k) => Math.exp((-k * k) / 2));
    const y = causalGaussianSmooth([0, 0, 0, 1, 0, 0, 0, 0, 0], 1);
    // Before the impulse: 0. At t = 3: c0 / (c0 + c1 + c2 + c3). At t = 8: c[5] would be needed -> 0.
    close(y.slice(0, 3), [0, 0, 0]);
    close([y[3]!], [c[0]! / (c[0]! + c[1]! + c[2]! + c[3]!)]);
    close([y[4]!], [c[1]! / (c[0]! + c[1]! + c[2]! + c[3]! + c[4]!)]);
    close([y[8]!], [0]);
    close(causalGaussianSmooth([5, 5, 5], 2), [5, 5, 5]);
    assert.deepEqual(causalGaussianSmooth([1, 4], 0), [1, 4]);
  });

  it('the streaming smoother equals the array version and can be reset', () => {
    const x = [0.3, 0.1, 0.9, 0.4, 0.5, 0.2];
    const s = new CausalGaussianSmoother(1.5);
    close(x.map((v) => s.push(v)), causalGaussianSmooth(x, 1.5));
    s.reset();
    assert.equal(s.push(7), 7);
  });
});
