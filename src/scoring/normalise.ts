/**
 * Per-video score normalisation.
 */

/**
 * Min-max normalisation of one video's per-frame values: `(x - min) / (max - min)`, so the
 * least anomalous frame of the video maps to 0 and the most anomalous to 1. This is the
 * per-video normalisation of the future-frame-prediction protocol (Liu et al., CVPR 2018, where it
 * is applied to PSNR; applying it to the error gives the same ranking up to sign).
 *
 * A constant input (max == min, including a single value) has no range; it maps to all zeros
 * (every frame equally "not anomalous") instead of NaN. An empty input returns an empty array.
 *
 * @param values per-frame values of one video (any unit).
 * @returns a new array, same length, values in [0, 1].
 * @throws Error if a value is NaN or infinite (it would poison the whole video).
 */
export function minMaxNormalise(values: ArrayLike<number>): number[] {
  const n = values.length;
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) {
    const v = values[i] as number;
    if (!Number.isFinite(v)) throw new Error(`minMaxNormalise: value ${i} is ${v}; values must be finite`);
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const out = new Array<number>(n);
  const range = hi - lo;
  for (let i = 0; i < n; i++) out[i] = range > 0 ? ((values[i] as number) - lo) / range : 0;
  return out;
}
