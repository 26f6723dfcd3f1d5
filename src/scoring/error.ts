/**
 * Per-frame prediction-error measures between a predicted frame and the actual frame.
 *
 * Frames are `Float32Array` planar `[C, H, W]` (channel-major, the layout of `src/video/source.ts`),
 * values nominally in [0, 1]; all sums are accumulated in float64.
 */

/** Names of the per-frame error measures. */
export const ERROR_MEASURES = ['mse', 'patch-max'] as const;
export type ErrorMeasure = (typeof ERROR_MEASURES)[number];

/** Type guard for {@link ErrorMeasure}. */
export function isErrorMeasure(s: string): s is ErrorMeasure {
  return (ERROR_MEASURES as readonly string[]).includes(s);
}

function checkPair(pred: Float32Array, target: Float32Array, what: string, expected?: number): void {
  if (pred.length !== target.length) {
    throw new Error(`${what}: prediction has ${pred.length} values, target ${target.length}`);
  }
  if (expected !== undefined && pred.length !== expected) {
    throw new Error(`${what}: frames have ${pred.length} values, expected C*H*W = ${expected}`);
  }
  if (pred.length === 0) throw new Error(`${what}: empty frames`);
}

/**
 * Whole-frame mean squared error `mean((pred - target)²)` over all C·H·W values: the per-frame
 * error of the future-frame-prediction protocol (Liu et al., CVPR 2018, score from PSNR =
 * 10·log10(1/MSE); min-max normalising MSE per video ranks frames like 1 - normalised PSNR up to
 * the monotone log transform).
 *
 * @param pred predicted frame, `[C, H, W]` float32 (any layout works, only the length must match).
 * @param target actual frame, same length.
 * @returns MSE in (value units)², e.g. [0, 1] for [0, 1] inputs.
 * @throws Error if the lengths differ or the frames are empty.
 */
export function frameMse(pred: Float32Array, target: Float32Array): number {
  checkPair(pred, target, 'frameMse');
  let acc = 0;
  for (let i = 0; i < pred.length; i++) {
    const d = (pred[i] as number) - (target[i] as number);
    acc += d * d;
  }
  return acc / pred.length;
}

/** Per-pixel squared error summed over the C planes of `[C, H, W]` inputs -> `[H*W]` float64. */
function squaredErrorSum(pred: Float32Array, target: Float32Array, C: number, hw: number): Float64Array {
  const acc = new Float64Array(hw);
  for (let c = 0; c < C; c++) {
    const off = c * hw;
    for (let i = 0; i < hw; i++) {
      const d = (pred[off + i] as number) - (target[off + i] as number);
      acc[i] = (acc[i] as number) + d * d;
    }
  }
  return acc;
}

/**
 * Per-pixel squared error averaged over channels: `map[y, x] = mean_c (pred[c,y,x] - target[c,y,x])²`.
 *
 * @param pred predicted frame `[C, H, W]` float32.
 * @param target actual frame `[C, H, W]` float32.
 * @returns `[H, W]` float32 (row-major), in (value units)².
 * @throws Error if the lengths differ from C·H·W.
 */
export function errorMap(
  pred: Float32Array,
  target: Float32Array,
  C: number,
  H: number,
  W: number,
): Float32Array {
  checkPair(pred, target, 'errorMap', C * H * W);
  const hw = H * W;
  const acc = squaredErrorSum(pred, target, C, hw);
  const out = new Float32Array(hw);
  for (let i = 0; i < hw; i++) out[i] = (acc[i] as number) / C;
  return out;
}

/**
 * Window start offsets along one axis: 0, stride, 2·stride, ... while the window fits, plus one
 * window aligned to the far edge when the regular grid would leave the last pixels uncovered.
 * @throws Error if patch > size.
 */
export function windowStarts(size: number, patch: number, stride: number): number[] {
  if (patch > size) throw new Error(`windowStarts: window ${patch} larger than axis ${size}`);
  const starts: number[] = [];
  for (let s = 0; s + patch <= size; s += stride) starts.push(s);
  const last = starts[starts.length - 1];
  if (last === undefined || last + patch < size) starts.push(size - patch);
  return starts;
}

/**
 * Spatial error: the mean squared error inside each `patch × patch` window (over all C channels
 * and the patch's pixels), maximised over windows. A small anomalous object (a bicycle in a crowd)
 * changes a few windows a lot but the whole-frame MSE only a little, so this is more sensitive to
 * localised anomalies than {@link frameMse}.
 *
 * Windows start at 0, stride, 2·stride, ... along each axis while they fit (like an average
 * pooling with kernel `patch` and stride `stride`, no padding); if that grid leaves pixels at the
 * right/bottom edge uncovered, one more window aligned to that edge is added, so every pixel lies
 * in at least one window. With patch ≥ max(H, W) clamped to the frame, this equals frameMse.
 * Uses a summed-area table: O(C·H·W + number of windows).
 *
 * @param pred predicted frame `[C, H, W]` float32.
 * @param target actual frame `[C, H, W]` float32.
 * @param patch window side in pixels (of the H×W grid), 1 ≤ patch; clamped to H and W per axis.
 * @param stride step between window starts in pixels, ≥ 1 (commonly patch / 2).
 * @returns max over windows of the window MSE, in (value units)².
 * @throws Error if lengths differ from C·H·W or patch/stride are not positive integers.
 */
export function patchMaxMse(
  pred: Float32Array,
  target: Float32Array,
  C: number,
  H: number,
  W: number,
  patch: number,
  stride: number,
): number {
  checkPair(pred, target, 'patchMaxMse', C * H * W);
  if (!Number.isInteger(patch) || patch < 1) {
    throw new Error(`patchMaxMse: patch must be a positive integer (got ${patch})`);
  }
  if (!Number.isInteger(stride) || stride < 1) {
    throw new Error(`patchMaxMse: stride must be a positive integer (got ${stride})`);
  }
  const ph = Math.min(patch, H);
  const pw = Math.min(patch, W);
  // Summed-area table of the channel-summed squared error, (H+1) x (W+1).
  const hw = H * W;
  const sq = squaredErrorSum(pred, target, C, hw);
  const W1 = W + 1;
  const sat = new Float64Array((H + 1) * W1);
  for (let y = 0; y < H; y++) {
    let row = 0;
    for (let x = 0; x < W; x++) {
      row += sq[y * W + x] as number;
      sat[(y + 1) * W1 + x + 1] = (sat[y * W1 + x + 1] as number) + row;
    }
  }
  const ys = windowStarts(H, ph, stride);
  const xs = windowStarts(W, pw, stride);
  let best = 0;
  for (const y0 of ys) {
    const y1 = y0 + ph;
    for (const x0 of xs) {
      const x1 = x0 + pw;
      const s =
        (sat[y1 * W1 + x1] as number) -
        (sat[y0 * W1 + x1] as number) -
        (sat[y1 * W1 + x0] as number) +
        (sat[y0 * W1 + x0] as number);
      if (s > best) best = s;
    }
  }
  return best / (C * ph * pw);
}

/** The windows of {@link patchErrors}: start rows `ys` and columns `xs` (see {@link windowStarts}), window sides `ph`, `pw`. */
export interface PatchGrid {
  ys: number[];
  xs: number[];
  ph: number;
  pw: number;
}

/**
 * The windows of a `patch × patch` grid with step `stride` over an H×W frame (patch clamped to
 * each axis), as {@link patchMaxMse} and {@link patchErrors} use them.
 * @throws Error if patch/stride are not positive integers.
 */
export function patchGrid(H: number, W: number, patch: number, stride: number): PatchGrid {
  if (!Number.isInteger(patch) || patch < 1) throw new Error(`patchGrid: patch must be a positive integer (got ${patch})`);
  if (!Number.isInteger(stride) || stride < 1) throw new Error(`patchGrid: stride must be a positive integer (got ${stride})`);
  const ph = Math.min(patch, H);
  const pw = Math.min(patch, W);
  return { ys: windowStarts(H, ph, stride), xs: windowStarts(W, pw, stride), ph, pw };
}

/**
 * The mean squared error inside every window of {@link patchGrid} (over all C channels and the
 * window's pixels): the per-location errors whose maximum is {@link patchMaxMse}.
 *
 * @param pred predicted frame `[C, H, W]` float32; @param target actual frame, same length.
 * @returns `[rows * cols]` float64, row-major (rows = grid.ys.length, cols = grid.xs.length), in
 *   (value units)².
 * @throws Error if lengths differ from C·H·W or patch/stride are not positive integers.
 */
export function patchErrors(
  pred: Float32Array,
  target: Float32Array,
  C: number,
  H: number,
  W: number,
  patch: number,
  stride: number,
): Float64Array {
  checkPair(pred, target, 'patchErrors', C * H * W);
  const g = patchGrid(H, W, patch, stride);
  const hw = H * W;
  const sq = squaredErrorSum(pred, target, C, hw);
  const W1 = W + 1;
  const sat = new Float64Array((H + 1) * W1);
  for (let y = 0; y < H; y++) {
    let row = 0;
    for (let x = 0; x < W; x++) {
      row += sq[y * W + x] as number;
      sat[(y + 1) * W1 + x + 1] = (sat[y * W1 + x + 1] as number) + row;
    }
  }
  const out = new Float64Array(g.ys.length * g.xs.length);
  const norm = C * g.ph * g.pw;
  let k = 0;
  for (const y0 of g.ys) {
    const y1 = y0 + g.ph;
    for (const x0 of g.xs) {
      const x1 = x0 + g.pw;
      out[k++] = ((sat[y1 * W1 + x1] as number) - (sat[y0 * W1 + x1] as number) - (sat[y1 * W1 + x0] as number) + (sat[y0 * W1 + x0] as number)) / norm;
    }
  }
  return out;
}
