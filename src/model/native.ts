/**
 * Native (C + OpenBLAS) kernels for the TensorFlow.js wasm backend, used for training when the
 * optional addon `native/build/sfn_native.node` is built (`scripts/build-native.mjs`, run by
 * `npm ci`; needs a C compiler and libopenblas-dev). They read and write the wasm heap in place:
 *
 * - `BatchMatMul` (every `mm()` / `tf.matMul`, forward and gradients, any transpose flags) is
 *   overridden for the wasm backend with `cblas_sgemm`;
 * - `SfnAttention` / `SfnAttentionGrad`: the whole multi-head attention of a batch (all samples and
 *   heads, softmax included) in one kernel each, instead of ~20 slice / concat / transpose / matMul
 *   / softmax kernels per sample and head.
 * - `Sum` over a contiguous run of axes (bias and broadcast gradients; wasm transposes first);
 * - `Identity` and same-dtype `Cast` share the input's memory (like `Reshape`) instead of copying
 *   it: tfjs tensors are immutable, and autograd clones every tensor it saves for the backward pass
 *   and casts the factors of every multiply's gradient;
 * - `SfnAdamW`: one AdamW update of a parameter per kernel (optimizer.ts) instead of ~15;
 * - `SfnLinear` / `SfnLinearGrad`: `x w + b` and its three gradients in one kernel each way;
 * - `SfnNormalise` / `SfnSilu` and their gradients: LayerNorm's normalisation and SiLU in one
 *   kernel each way (ops.ts), instead of 7 / 2 forward kernels and their gradients.
 *
 * When the addon is missing or fails to load, nothing is registered and the wasm kernels run (the
 * portable path). `SFN_NATIVE=0` forces that path, `SFN_NATIVE_PATH` loads the addon from another
 * file; `SFN_BLAS_THREADS` sets OpenBLAS's threads
 * (default 1: deterministic, and it leaves the second core to data loading).
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';

interface Addon {
  init(threads: number): string;
  gemm(heap: Float32Array, ta: number, tb: number, m: number, n: number, k: number, alpha: number, a: number, lda: number, b: number, ldb: number, beta: number, c: number, ldc: number, batch: number, sa: number, sb: number, sc: number): void;
  attnFwd(heap: Float32Array, B: number, H: number, n: number, nm: number, D: number, scale: number, q: number, kx: number, vx: number, km: number, vm: number, mask: number, out: number, p: number): void;
  attnBwd(heap: Float32Array, B: number, H: number, n: number, nm: number, D: number, scale: number, dout: number, q: number, kx: number, vx: number, km: number, vm: number, p: number, dq: number, dkx: number, dvx: number, dkm: number, dvm: number): void;
  sumMid(heap: Float32Array, x: number, outer: number, mid: number, inner: number, out: number): void;
  sumSquares(heap: Float32Array, x: number, n: number): number;
  linearFwd(heap: Float32Array, x: number, w: number, b: number, M: number, K: number, N: number, out: number): void;
  linearBwd(heap: Float32Array, dy: number, x: number, w: number, M: number, K: number, N: number, dx: number, dw: number, db: number, wantDx: number): void;
  normFwd(heap: Float32Array, x: number, rows: number, D: number, eps: number, y: number, rstd: number): void;
  normBwd(heap: Float32Array, dy: number, y: number, rstd: number, rows: number, D: number, dx: number): void;
  siluFwd(heap: Float32Array, x: number, n: number, y: number): void;
  siluBwd(heap: Float32Array, dy: number, x: number, n: number, dx: number): void;
  adamw(heap: Float32Array, n: number, p: number, m: number, v: number, g: number, pOut: number, mOut: number, vOut: number, scale: number, beta1: number, beta2: number, bc1: number, bc2: number, eps: number, lr: number, decay: number): void;
}

/** What the wasm backend exposes that the kernels need (tfjs-backend-wasm's BackendWasm). */
interface WasmBackend {
  dataIdMap: { get(id: object): { memoryOffset: number } | undefined };
  wasm: { HEAPU8: Uint8Array };
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
}

let addon: Addon | null = null;
let active = false;
/** false inside `withWasmKernels` (parity tests) */
let enabled = true;
let status = 'not initialised';

/** Where the addon lives: $SFN_NATIVE_PATH, else native/build/ at the package root (from src/model or dist/model). */
function addonPath(): string | null {
  if (process.env.SFN_NATIVE_PATH) return process.env.SFN_NATIVE_PATH;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const p = path.join(dir, 'native', 'build', 'sfn_native.node');
    if (existsSync(p)) return p;
    dir = path.dirname(dir);
  }
  return null;
}

function loadAddon(): Addon | null {
  if (process.env.SFN_NATIVE === '0') {
    status = 'disabled by SFN_NATIVE=0';
    return null;
  }
  const p = addonPath();
  if (!p) {
    status = 'native/build/sfn_native.node not built (npm run build:native; needs libopenblas-dev)';
    return null;
  }
  try {
    let a = createRequire(import.meta.url)(p) as Addon;
    if (process.env.SFN_NATIVE_PROFILE === '1') a = profiled(a);
    const threads = Math.max(1, Number(process.env.SFN_BLAS_THREADS ?? 1) || 1);
    status = `${a.init(threads)}, ${threads} thread${threads > 1 ? 's' : ''}`;
    return a;
  } catch (e) {
    status = `sfn_native failed to load: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`;
    return null;
  }
}

/** CPU milliseconds and calls per native function (SFN_NATIVE_PROFILE=1; see `nativeProfile`). */
const cpuMs = new Map<string, { ms: number; calls: number }>();

function profiled(a: Addon): Addon {
  const out: Record<string, unknown> = {};
  for (const name of Object.getOwnPropertyNames(a)) {
    const f = (a as unknown as Record<string, (...args: unknown[]) => unknown>)[name]!;
    out[name] = (...args: unknown[]) => {
      const c0 = process.cpuUsage();
      const r = f(...args);
      const c = process.cpuUsage(c0);
      const e = cpuMs.get(name) ?? { ms: 0, calls: 0 };
      e.ms += (c.user + c.system) / 1000;
      e.calls += 1;
      cpuMs.set(name, e);
      return r;
    };
  }
  return out as unknown as Addon;
}

/** CPU time spent in each native function so far (only with SFN_NATIVE_PROFILE=1). */
export function nativeProfile(): Record<string, { ms: number; calls: number }> {
  return Object.fromEntries(cpuMs);
}

let heapBuffer: ArrayBufferLike | null = null;
let heapView: Float32Array = new Float32Array(0);

/** The wasm heap as floats (re-made when memory growth replaced the buffer). Call after allocating. */
function heap(b: WasmBackend): Float32Array {
  const buf = b.wasm.HEAPU8.buffer;
  if (buf !== heapBuffer) {
    heapBuffer = buf;
    heapView = new Float32Array(buf, 0, buf.byteLength >>> 2);
  }
  return heapView;
}

/** Element offset of a tensor's data in the wasm heap. */
function off(b: WasmBackend, t: tf.TensorInfo): number {
  const d = b.dataIdMap.get(t.dataId);
  if (!d) throw new Error('sfn_native: tensor not on the wasm backend');
  return d.memoryOffset / 4;
}

const size = (s: number[]) => s.reduce((a, x) => a * x, 1);

function installBatchMatMul(a: Addon): void {
  const original = tf.getKernel('BatchMatMul', 'wasm');
  if (!original) throw new Error('the wasm backend has no BatchMatMul kernel');
  const fallback = original.kernelFunc;
  const kernelFunc: tf.KernelFunc = (args) => {
    const { inputs, attrs } = args;
    const backend = args.backend as unknown as WasmBackend;
    const x = inputs.a as tf.TensorInfo;
    const y = inputs.b as tf.TensorInfo;
    const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
    const ra = x.shape.length;
    const rb = y.shape.length;
    const ba = size(x.shape.slice(0, -2));
    const bb = size(y.shape.slice(0, -2));
    // plain batches only (equal, or one side unbatched); broadcasting across ranks goes to wasm
    const sameOuter = x.shape.slice(0, -2).join() === y.shape.slice(0, -2).join();
    if (!enabled || x.dtype !== 'float32' || y.dtype !== 'float32' || ra < 2 || rb < 2 || !(sameOuter || (ra === 2 && rb >= 2) || (rb === 2 && ra >= 2)))
      return fallback(args);
    const m = transposeA ? x.shape[ra - 1]! : x.shape[ra - 2]!;
    const k = transposeA ? x.shape[ra - 2]! : x.shape[ra - 1]!;
    const k2 = transposeB ? y.shape[rb - 1]! : y.shape[rb - 2]!;
    const n = transposeB ? y.shape[rb - 2]! : y.shape[rb - 1]!;
    if (k !== k2) throw new Error(`Error in matMul: inner shapes (${k}) and (${k2}) of Tensors with shapes ${x.shape} and ${y.shape} and transposeA=${transposeA} and transposeB=${transposeB} must match.`);
    const batch = Math.max(ba, bb);
    const outer = ba >= bb ? x.shape.slice(0, -2) : y.shape.slice(0, -2);
    const out = backend.makeOutput([...outer, m, n], 'float32');
    if (m * n === 0) return out;
    const h = heap(backend);
    const lda = x.shape[ra - 1]!;
    const ldb = y.shape[rb - 1]!;
    a.gemm(h, transposeA ? 1 : 0, transposeB ? 1 : 0, m, n, k, 1, off(backend, x), lda, off(backend, y), ldb, 0, off(backend, out), n, batch, ba === 1 ? 0 : m * k, bb === 1 ? 0 : k * n, m * n);
    return out;
  };
  tf.unregisterKernel('BatchMatMul', 'wasm');
  tf.registerKernel({ kernelName: 'BatchMatMul', backendName: 'wasm', kernelFunc });
}

interface AttnAttrs {
  batch: number;
  heads: number;
  scale: number;
}

function attnDims(q: tf.TensorInfo, km: tf.TensorInfo, at: AttnAttrs) {
  const [rows, D] = q.shape as [number, number];
  return { B: at.batch, H: at.heads, n: rows / at.batch, nm: km.shape[0]! / at.batch, D };
}

function installAttention(a: Addon): void {
  tf.registerKernel({
    kernelName: 'SfnAttention',
    backendName: 'wasm',
    kernelFunc: (args) => {
      const backend = args.backend as unknown as WasmBackend;
      const { q, kx, vx, km, vm, mask } = args.inputs as Record<string, tf.TensorInfo>;
      const at = args.attrs as unknown as AttnAttrs;
      const { B, H, n, nm, D } = attnDims(q!, km!, at);
      const out = backend.makeOutput([B * n, D], 'float32');
      const p = backend.makeOutput([B * H * n, n + nm], 'float32');
      const hp = heap(backend);
      a.attnFwd(hp, B, H, n, nm, D, at.scale, off(backend, q!), off(backend, kx!), off(backend, vx!), off(backend, km!), off(backend, vm!), mask ? off(backend, mask) : -1, off(backend, out), off(backend, p));
      return [out, p];
    },
  });
  tf.registerKernel({
    kernelName: 'SfnAttentionGrad',
    backendName: 'wasm',
    kernelFunc: (args) => {
      const backend = args.backend as unknown as WasmBackend;
      const { dy, q, kx, vx, km, vm, p } = args.inputs as Record<string, tf.TensorInfo>;
      const at = args.attrs as unknown as AttnAttrs;
      const { B, H, n, nm, D } = attnDims(q!, km!, at);
      const outs = [q!, kx!, vx!, km!, vm!].map((t) => backend.makeOutput([...t.shape], 'float32'));
      const hp = heap(backend);
      const [dq, dkx, dvx, dkm, dvm] = outs.map((t) => off(backend, t)) as [number, number, number, number, number];
      a.attnBwd(hp, B, H, n, nm, D, at.scale, off(backend, dy!), off(backend, q!), off(backend, kx!), off(backend, vx!), off(backend, km!), off(backend, vm!), off(backend, p!), dq, dkx, dvx, dkm, dvm);
      return outs;
    },
  });
}

function installSum(a: Addon): void {
  const original = tf.getKernel('Sum', 'wasm');
  if (!original) throw new Error('the wasm backend has no Sum kernel');
  const fallback = original.kernelFunc;
  const kernelFunc: tf.KernelFunc = (args) => {
    const backend = args.backend as unknown as WasmBackend;
    const x = args.inputs.x as tf.TensorInfo;
    const { axis, keepDims } = args.attrs as unknown as { axis: number | number[]; keepDims: boolean };
    const rank = x.shape.length;
    const axes = [...new Set((Array.isArray(axis) ? axis : [axis]).map((ax) => (ax < 0 ? ax + rank : ax)))].sort((p, q) => p - q);
    const contiguous = axes.length > 0 && axes.every((ax, i) => ax === axes[0]! + i) && axes[0]! >= 0 && axes[axes.length - 1]! < rank;
    if (!enabled || x.dtype !== 'float32' || !contiguous) return fallback(args);
    const a0 = axes[0]!;
    const a1 = axes[axes.length - 1]!;
    const outShape = keepDims ? x.shape.map((d, i) => (i >= a0 && i <= a1 ? 1 : d)) : x.shape.filter((_, i) => i < a0 || i > a1);
    const out = backend.makeOutput(outShape, 'float32');
    const outer = size(x.shape.slice(0, a0));
    const mid = size(x.shape.slice(a0, a1 + 1));
    const inner = size(x.shape.slice(a1 + 1));
    if (outer * inner === 0) return out;
    a.sumMid(heap(backend), off(backend, x), outer, mid, inner, off(backend, out));
    return out;
  };
  tf.unregisterKernel('Sum', 'wasm');
  tf.registerKernel({ kernelName: 'Sum', backendName: 'wasm', kernelFunc });
}

/** Identity, and Cast to the same dtype (autograd's multiply gradient casts), share the input's memory. */
function installSharing(name: 'Identity' | 'Cast'): void {
  const original = tf.getKernel(name, 'wasm');
  if (!original) throw new Error(`the wasm backend has no ${name} kernel`);
  const fallback = original.kernelFunc;
  const kernelFunc: tf.KernelFunc = (args) => {
    const x = args.inputs.x as tf.TensorInfo;
    const to = name === 'Cast' ? (args.attrs as unknown as { dtype: string }).dtype : x.dtype;
    if (!enabled || x.dtype === 'string' || to !== x.dtype) return fallback(args);
    (args.backend as unknown as { incRef(id: object): void }).incRef(x.dataId);
    return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
  };
  tf.unregisterKernel(name, 'wasm');
  tf.registerKernel({ kernelName: name, backendName: 'wasm', kernelFunc });
}

interface AdamAttrs {
  scale: number;
  beta1: number;
  beta2: number;
  bc1: number;
  bc2: number;
  eps: number;
  lr: number;
  /** lr * weightDecay, or 0 */
  decay: number;
}

function installAdamW(a: Addon): void {
  tf.registerKernel({
    kernelName: 'SfnAdamW',
    backendName: 'wasm',
    kernelFunc: (args) => {
      const backend = args.backend as unknown as WasmBackend;
      const { p, m, v, g } = args.inputs as Record<string, tf.TensorInfo>;
      const at = args.attrs as unknown as AdamAttrs;
      const outs = [p!, m!, v!].map((t) => backend.makeOutput([...t.shape], 'float32'));
      const n = size(p!.shape);
      if (n === 0) return outs;
      const [po, mo, vo] = outs.map((t) => off(backend, t)) as [number, number, number];
      a.adamw(heap(backend), n, off(backend, p!), off(backend, m!), off(backend, v!), off(backend, g!), po, mo, vo, at.scale, at.beta1, at.beta2, at.bc1, at.bc2, at.eps, at.lr, at.decay);
      return outs;
    },
  });
}

function installElementwise(a: Addon): void {
  const reg = (kernelName: string, kernelFunc: tf.KernelFunc) => tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc });
  reg('SfnLinear', (args) => {
    const backend = args.backend as unknown as WasmBackend;
    const { x, w, b } = args.inputs as Record<string, tf.TensorInfo>;
    const [m, k] = x!.shape as [number, number];
    const n = w!.shape[1]!;
    const out = backend.makeOutput([m, n], 'float32');
    if (m * n * k > 0) a.linearFwd(heap(backend), off(backend, x!), off(backend, w!), off(backend, b!), m, k, n, off(backend, out));
    return out;
  });
  reg('SfnLinearGrad', (args) => {
    const backend = args.backend as unknown as WasmBackend;
    const { dy, x, w } = args.inputs as Record<string, tf.TensorInfo>;
    const [m, k] = x!.shape as [number, number];
    const n = w!.shape[1]!;
    const outs = [backend.makeOutput([m, k], 'float32'), backend.makeOutput([k, n], 'float32'), backend.makeOutput([n], 'float32')];
    if (m * n * k > 0) a.linearBwd(heap(backend), off(backend, dy!), off(backend, x!), off(backend, w!), m, k, n, off(backend, outs[0]!), off(backend, outs[1]!), off(backend, outs[2]!), 1);
    return outs;
  });
  reg('SfnNormalise', (args) => {
    const backend = args.backend as unknown as WasmBackend;
    const x = args.inputs.x as tf.TensorInfo;
    const { eps } = args.attrs as unknown as { eps: number };
    const [rows, d] = x.shape as [number, number];
    const y = backend.makeOutput([rows, d], 'float32');
    const rstd = backend.makeOutput([rows], 'float32');
    if (rows * d > 0) a.normFwd(heap(backend), off(backend, x), rows, d, eps, off(backend, y), off(backend, rstd));
    return [y, rstd];
  });
  reg('SfnNormaliseGrad', (args) => {
    const backend = args.backend as unknown as WasmBackend;
    const { dy, y, rstd } = args.inputs as Record<string, tf.TensorInfo>;
    const [rows, d] = y!.shape as [number, number];
    const dx = backend.makeOutput([rows, d], 'float32');
    if (rows * d > 0) a.normBwd(heap(backend), off(backend, dy!), off(backend, y!), off(backend, rstd!), rows, d, off(backend, dx));
    return dx;
  });
  reg('SfnSilu', (args) => {
    const backend = args.backend as unknown as WasmBackend;
    const x = args.inputs.x as tf.TensorInfo;
    const y = backend.makeOutput([...x.shape], 'float32');
    const n = size(x.shape);
    if (n > 0) a.siluFwd(heap(backend), off(backend, x), n, off(backend, y));
    return y;
  });
  reg('SfnSiluGrad', (args) => {
    const backend = args.backend as unknown as WasmBackend;
    const { dy, x } = args.inputs as Record<string, tf.TensorInfo>;
    const dx = backend.makeOutput([...x!.shape], 'float32');
    const n = size(x!.shape);
    if (n > 0) a.siluBwd(heap(backend), off(backend, dy!), off(backend, x!), n, off(backend, dx));
    return dx;
  });
}

/**
 * Loads the addon and registers its kernels for the wasm backend (call once the wasm backend is
 * ready). Returns whether the native kernels are in use; `nativeStatus()` says which BLAS or why not.
 */
export function installNativeKernels(): boolean {
  if (active) return true;
  addon = loadAddon();
  if (!addon) return false;
  try {
    installAttention(addon);
    installAdamW(addon);
    installElementwise(addon);
    installBatchMatMul(addon);
    installSum(addon);
    installSharing('Identity');
    installSharing('Cast');
    active = true;
  } catch (e) {
    status = `native kernels not registered: ${e instanceof Error ? e.message : String(e)}`;
    addon = null;
  }
  return active;
}

/** Whether the native kernels are registered (the wasm backend is active and the addon loaded). */
export function nativeActive(): boolean {
  return active && enabled && tf.getBackend() === 'wasm';
}

/** Runs `fn` on the wasm kernels even when the native ones are registered (for parity checks). */
export function withWasmKernels<T>(fn: () => T): T {
  const before = enabled;
  enabled = false;
  try {
    return fn();
  } finally {
    enabled = before;
  }
}

/** The BLAS build in use, or why the wasm kernels are used. */
export function nativeStatus(): string {
  return status;
}

type T2 = tf.Tensor2D;
type GradFn = Parameters<typeof tf.customGrad>[0];

function attnOp(attrs: AttnAttrs, mask?: T2) {
  return tf.customGrad(((q: tf.Tensor, kx: tf.Tensor, vx: tf.Tensor, km: tf.Tensor, vm: tf.Tensor, save: tf.GradSaveFunc) => {
    const inputs: tf.NamedTensorMap = { q, kx, vx, km, vm, ...(mask ? { mask } : {}) };
    const [out, p] = tf.engine().runKernel('SfnAttention', inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
    save([q, kx, vx, km, vm, p!]);
    return {
      value: out!,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sq, skx, svx, skm, svm, sp] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
        return tf.engine().runKernel('SfnAttentionGrad', { dy, q: sq, kx: skx, vx: svx, km: skm, vm: svm, p: sp }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
      },
    };
  }) as unknown as GradFn);
}

/**
 * Multi-head attention of each sample's tokens over [tokens; motion tokens] in one native kernel
 * (same maths as `attention` in sfn.ts): `q, kx, vx [B*n, D]`, `km, vm [B*N, D]`, optional additive
 * mask `[n, n + N]` -> `[B*n, D]`. Only valid while `nativeActive()`.
 */
export function nativeAttention(q: T2, kx: T2, vx: T2, km: T2, vm: T2, batch: number, heads: number, mask?: T2): T2 {
  const dh = q.shape[1] / heads;
  const op = attnOp({ batch, heads, scale: 1 / Math.sqrt(dh) }, mask);
  return op(q, kx, vx, km, vm) as T2;
}

/**
 * One AdamW update (same float32 operations as `AdamW.apply`'s tfjs path): returns the new
 * parameter, first and second moments. Only valid while `nativeActive()`.
 */
export function nativeAdamW(p: tf.Tensor, m: tf.Tensor, v: tf.Tensor, g: tf.Tensor, attrs: AdamAttrs): [tf.Tensor, tf.Tensor, tf.Tensor] {
  return tf.engine().runKernel('SfnAdamW', { p, m, v, g }, attrs as unknown as tf.NamedAttrMap) as [tf.Tensor, tf.Tensor, tf.Tensor];
}

/** Sum of squares of every element of `tensors` (double accumulation, in order). Only valid while `nativeActive()`. */
export function nativeSumSquares(tensors: tf.Tensor[]): number {
  const backend = tf.backend() as unknown as WasmBackend;
  const h = heap(backend);
  let s = 0;
  for (const t of tensors) s += addon!.sumSquares(h, off(backend, t), t.size);
  return s;
}

const normaliseOps = new Map<number, (x: tf.Tensor) => tf.Tensor>();

/**
 * `(x - mean) / sqrt(var + eps)` over the last axis of `x [M, D]` in one native kernel (and one for
 * its gradient). Only valid while `nativeActive()`.
 */
export function nativeNormalise(x: T2, eps: number): T2 {
  let op = normaliseOps.get(eps);
  if (!op) {
    op = tf.customGrad(((xx: tf.Tensor, save: tf.GradSaveFunc) => {
      const [y, rstd] = tf.engine().runKernel('SfnNormalise', { x: xx }, { eps }) as [tf.Tensor, tf.Tensor];
      save([y, rstd]);
      return {
        value: y,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.engine().runKernel('SfnNormaliseGrad', { dy, y: saved[0]!, rstd: saved[1]! }) as tf.Tensor,
      };
    }) as unknown as GradFn) as unknown as (x: tf.Tensor) => tf.Tensor;
    normaliseOps.set(eps, op);
  }
  return op(x) as T2;
}

const siluOp = tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => {
  save([x]);
  return {
    value: tf.engine().runKernel('SfnSilu', { x }) as tf.Tensor,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.engine().runKernel('SfnSiluGrad', { dy, x: saved[0]! }) as tf.Tensor,
  };
}) as unknown as GradFn);

/** SiLU `x sigmoid(x)` (float32, any shape) in one native kernel each way. Only valid while `nativeActive()`. */
export function nativeSilu<T extends tf.Tensor>(x: T): T {
  return siluOp(x) as T;
}

const linearOp = tf.customGrad(((x: tf.Tensor, w: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
  save([x, w]);
  return {
    value: tf.engine().runKernel('SfnLinear', { x, w, b }) as tf.Tensor,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.engine().runKernel('SfnLinearGrad', { dy, x: saved[0]!, w: saved[1]! }) as tf.Tensor[],
  };
}) as unknown as GradFn);

/** `x [M, K] w [K, N] + b [N]` in one native kernel, its gradients in one more. Only valid while `nativeActive()`. */
export function nativeLinear(x: T2, w: T2, b: tf.Tensor1D): T2 {
  return linearOp(x, w, b) as T2;
}
