/**
 * Building blocks written for the tfjs wasm backend's fast paths (docs/design.md, "Training speed"):
 * its BatchMatMul runs XNNPack only for untransposed 2-D products, ~5-20x faster than its
 * transposed / batched loop, and autograd's matMul gradient uses the transposed forms. `mm` is a
 * 2-D matMul whose gradient transposes explicitly so that forward and backward stay on the fast
 * path. There is no LayerNorm or SiLU op in tfjs: they are composed here.
 */
import { nativeActive, tf } from './backend.js';
import { nativeLinear, nativeNormalise, nativeSilu } from './native.js';

type T2 = tf.Tensor2D;
/** tfjs types customGrad's function as variadic over tensors and the save function. */
type GradFn = Parameters<typeof tf.customGrad>[0];

const mmOp = tf.customGrad(((a: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
  save([a, b]);
  return {
    value: tf.matMul(a as T2, b as T2),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sa, sb] = saved as [T2, T2];
      // the native (BLAS) matMul takes transpose flags at no cost; wasm's fast path needs them explicit
      if (nativeActive()) return [tf.matMul(dy as T2, sb, false, true), tf.matMul(sa, dy as T2, true, false)];
      return [tf.matMul(dy as T2, tf.transpose(sb)), tf.matMul(tf.transpose(sa), dy as T2)];
    },
  };
}) as unknown as GradFn);

/**
 * `[M, K] x [K, N] -> [M, N]` float32; gradients via explicit transposes (wasm fast path), or
 * transposed BLAS calls when the native kernels are in use (`native.ts`).
 */
export function mm(a: T2, b: T2): T2 {
  return mmOp(a, b) as T2;
}

/** Linear layer on rows: `x [M, in] @ w [in, out] + b [out] -> [M, out]`. */
export function linear(x: T2, w: T2, b?: tf.Tensor1D): T2 {
  if (b && nativeActive()) return nativeLinear(x, w, b); // one kernel each way (native.ts)
  const y = mm(x, w);
  return b ? tf.add(y, b) : y;
}

/**
 * Repeats every column of `x [R, C]` d times: `[R, C*d]`, column c*d + j = x[:, c] (what
 * `reshape(tile(reshape(x, [R, C, 1]), [1, 1, d]))` gives). Written as a broadcast multiply by ones:
 * the same values (x * 1 is exact), but its gradient is one sum over d instead of tfjs' Tile
 * gradient (d slices and adds), and wasm's broadcast multiply is ~20x faster than its Tile.
 */
export function repeatCols(x: T2, d: number): T2 {
  const [r, c] = x.shape;
  if (d === 1) return x;
  return tf.reshape(tf.mul(tf.reshape(x, [r, c, 1]), tf.ones([1, 1, d])), [r, c * d]);
}

/** SiLU (swish): x * sigmoid(x), elementwise. */
export function silu<T extends tf.Tensor>(x: T): T {
  if (nativeActive() && x.dtype === 'float32') return nativeSilu(x);
  return tf.mul(x, tf.sigmoid(x));
}

const rowMeanOp = tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => {
  save([]);
  const d = x.shape[1]!;
  return {
    value: tf.mean(x, -1, true),
    // (dy / D) broadcast over the row: the values of tfjs' Mean gradient, (dy * ones) / D, without
    // materialising a [M, D] ones tensor in JavaScript on every call
    gradFunc: (dy: tf.Tensor) => tf.mul(tf.div(dy, d), tf.ones([1, d])),
  };
}) as unknown as GradFn);

/** Mean over the last axis of `x [M, D]`, kept: `[M, 1]` (tf.mean(x, -1, true) with a cheaper gradient). */
export function rowMean(x: T2): T2 {
  return rowMeanOp(x) as T2;
}

/**
 * Normalisation part of LayerNorm over the last axis: (x - mean) / sqrt(var + eps), no affine.
 * `x [M, D] -> [M, D]`. eps = 1e-5 (PyTorch's default, and ONNX LayerNormalization's).
 */
export function normalise(x: T2, eps = 1e-5): T2 {
  if (nativeActive()) return nativeNormalise(x, eps);
  const mean = rowMean(x);
  const centred = tf.sub(x, mean);
  const variance = rowMean(tf.square(centred) as T2);
  return tf.mul(centred, tf.rsqrt(tf.add(variance, eps)));
}

/** LayerNorm over the last axis with affine gamma/beta `[D]`: `x [M, D] -> [M, D]`. */
export function layerNorm(x: T2, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps = 1e-5): T2 {
  return tf.add(tf.mul(normalise(x, eps), gamma), beta);
}

const noGrad = tf.customGrad(((x: tf.Tensor, mask: tf.Tensor, save: tf.GradSaveFunc) => {
  save([mask]);
  return {
    value: tf.mul(x, mask),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const m = saved[0]!;
      return [tf.mul(dy, m), tf.zerosLike(m)];
    },
  };
}) as unknown as GradFn);

/**
 * Top-k mask of the rows of `probs [M, E]`: 1 where the entry is among the row's k largest, else 0
 * (ties at the k-th value: the lower expert index wins, like torch.topk). The mask is computed from
 * the values on the host, so it is a constant for autograd (tfjs has no TopK gradient); apply it
 * with `maskedBy`.
 */
export function topKMask(probs: T2, k: number): T2 {
  const [m, e] = probs.shape;
  const p = probs.dataSync();
  const mask = new Float32Array(m * e);
  const idx = new Int32Array(e);
  for (let r = 0; r < m; r++) {
    const o = r * e;
    for (let j = 0; j < e; j++) idx[j] = j;
    // partial selection sort of the k largest (E is small: 4..64)
    for (let s = 0; s < k; s++) {
      let best = s;
      for (let j = s + 1; j < e; j++) if (p[o + idx[j]!]! > p[o + idx[best]!]!) best = j;
      const t = idx[s]!;
      idx[s] = idx[best]!;
      idx[best] = t;
      mask[o + idx[s]!] = 1;
    }
  }
  return tf.tensor2d(mask, [m, e]);
}

/** `x * mask` with the gradient flowing to x only (mask treated as a constant). */
export function maskedBy(x: T2, mask: T2): T2 {
  return noGrad(x, mask) as T2;
}
