/**
 * 1-D temporal smoothing of per-frame anomaly scores.
 *
 * - {@link gaussianSmooth}: centred (non-causal) Gaussian, numerically the same as
 *   `scipy.ndimage.gaussian_filter1d(x, sigma, mode='reflect', truncate=4.0)` in float64. This is
 *   the offline protocol's smoothing.
 * - {@link causalGaussianSmooth} / {@link CausalGaussianSmoother}: one-sided (past-only) half-Gaussian,
 *   for streaming, where future frames are not available.
 */

/** scipy's default `truncate`: the kernel extends to `round(truncate * sigma)` samples either side. */
export const GAUSSIAN_TRUNCATE = 4.0;

function checkSigma(sigma: number, what: string): void {
  if (!Number.isFinite(sigma) || sigma < 0) {
    throw new Error(`${what}: sigma must be a finite number >= 0 (got ${sigma})`);
  }
}

/**
 * Kernel radius as scipy computes it: `int(truncate * sigma + 0.5)`.
 * @param sigma standard deviation in samples (frames), >= 0.
 */
export function gaussianRadius(sigma: number, truncate = GAUSSIAN_TRUNCATE): number {
  return Math.floor(truncate * sigma + 0.5);
}

/**
 * The normalised symmetric Gaussian kernel of scipy's `_gaussian_kernel1d` (order 0):
 * `w[k] = exp(-k² / (2σ²))` for k = -r..r, r = {@link gaussianRadius}, divided by its sum.
 * Index 0 of the returned array is offset -r. For sigma = 0 returns `[1]`.
 */
export function gaussianKernel(sigma: number, truncate = GAUSSIAN_TRUNCATE): number[] {
  checkSigma(sigma, 'gaussianKernel');
  const r = gaussianRadius(sigma, truncate);
  if (sigma === 0 || r === 0) return [1];
  const w: number[] = [];
  let sum = 0;
  for (let k = -r; k <= r; k++) {
    const v = Math.exp((-0.5 * k * k) / (sigma * sigma));
    w.push(v);
    sum += v;
  }
  return w.map((v) => v / sum);
}

/**
 * Maps an out-of-range index into [0, n) with scipy's 'reflect' boundary mode (half-sample
 * symmetric: `d c b a | a b c d | d c b a`), repeating with period 2n for indices far outside.
 */
function reflectIndex(i: number, n: number): number {
  const period = 2 * n;
  let m = i % period;
  if (m < 0) m += period;
  return m < n ? m : period - 1 - m;
}

/**
 * Centred Gaussian smoothing of a 1-D signal, matching
 * `scipy.ndimage.gaussian_filter1d(x, sigma, mode='reflect', truncate=4.0)` (float64):
 * `y[t] = Σ_{k=-r..r} w[k] · x[reflect(t + k)]` with `w` from {@link gaussianKernel}.
 * sigma = 0 is the identity (returns a copy). Output sample t depends on r = round(4σ) future
 * samples, so this is for offline evaluation; see {@link causalGaussianSmooth} for streaming.
 *
 * @param values the signal (e.g. one video's normalised per-frame scores).
 * @param sigma standard deviation in samples (frames), >= 0.
 * @returns a new array of the same length.
 * @throws Error if sigma is negative or not finite.
 */
export function gaussianSmooth(values: ArrayLike<number>, sigma: number): number[] {
  checkSigma(sigma, 'gaussianSmooth');
  const n = values.length;
  const w = gaussianKernel(sigma);
  const r = (w.length - 1) / 2;
  const out = new Array<number>(n);
  if (r === 0) {
    for (let t = 0; t < n; t++) out[t] = values[t] as number;
    return out;
  }
  for (let t = 0; t < n; t++) {
    let acc = 0;
    for (let k = -r; k <= r; k++) {
      let j = t + k;
      if (j < 0 || j >= n) j = reflectIndex(j, n);
      acc += (w[k + r] as number) * (values[j] as number);
    }
    out[t] = acc;
  }
  return out;
}

/**
 * One-sided (causal) half-Gaussian weights for lags 0..r, r = {@link gaussianRadius}:
 * `c[k] = exp(-k² / (2σ²))`, not normalised (normalisation happens over the lags actually
 * available). For sigma = 0 returns `[1]`.
 */
export function causalGaussianWeights(sigma: number, truncate = GAUSSIAN_TRUNCATE): number[] {
  checkSigma(sigma, 'causalGaussianWeights');
  const r = gaussianRadius(sigma, truncate);
  if (sigma === 0 || r === 0) return [1];
  const c: number[] = [];
  for (let k = 0; k <= r; k++) c.push(Math.exp((-0.5 * k * k) / (sigma * sigma)));
  return c;
}

/**
 * Streaming (causal) Gaussian smoother: each `push(x_t)` returns
 *
 *   y_t = Σ_{k=0..min(r,t)} c[k] · x_{t-k}  /  Σ_{k=0..min(r,t)} c[k]
 *
 * with `c` from {@link causalGaussianWeights} — the right half of the centred kernel, applied to
 * the current and past samples only, renormalised over the samples seen so far (so the first
 * outputs are not pulled towards 0). It needs no future frames, so a live scorer can emit a
 * smoothed score as soon as each frame is scored, at the price of a lag: a step in the input
 * shows up delayed by about σ·√(2/π) ≈ 0.8σ samples and a peak is shifted later, compared with
 * the centred {@link gaussianSmooth}. sigma = 0 is the identity.
 */
export class CausalGaussianSmoother {
  private readonly weights: number[];
  private readonly history: number[] = [];

  /** @param sigma standard deviation in samples (frames), >= 0. */
  constructor(sigma: number) {
    this.weights = causalGaussianWeights(sigma);
  }

  /** Feeds the next sample and returns its smoothed value. */
  push(x: number): number {
    this.history.unshift(x);
    if (this.history.length > this.weights.length) this.history.pop();
    let acc = 0;
    let norm = 0;
    for (let k = 0; k < this.history.length; k++) {
      const c = this.weights[k] as number;
      acc += c * (this.history[k] as number);
      norm += c;
    }
    return acc / norm;
  }

  /** Forgets all past samples (e.g. at a scene cut or a new stream). */
  reset(): void {
    this.history.length = 0;
  }
}

/**
 * Causal (one-sided) Gaussian smoothing of a whole signal: the outputs a
 * {@link CausalGaussianSmoother} would produce when fed `values` in order (see there for the
 * formula, edge handling and lag).
 *
 * @param values the signal.
 * @param sigma standard deviation in samples (frames), >= 0.
 * @returns a new array of the same length.
 */
export function causalGaussianSmooth(values: ArrayLike<number>, sigma: number): number[] {
  checkSigma(sigma, 'causalGaussianSmooth');
  const s = new CausalGaussianSmoother(sigma);
  const out = new Array<number>(values.length);
  for (let t = 0; t < values.length; t++) out[t] = s.push(values[t] as number);
  return out;
}
