/**
 * TensorFlow.js backend selection for training: `@tensorflow/tfjs-node` when it is installed (native
 * TensorFlow), otherwise the WebAssembly backend (`@tensorflow/tfjs-backend-wasm`, SIMD build).
 *
 * Threads: tfjs disables wasm threads under Node (tfjs issue 3830, its pthread workers load from
 * `blob:` URLs that Node's Worker rejects). We made them work by serving the worker from a file and
 * measured SFN-Lite training at 2 threads vs 1 on this 2-core machine: 12.4 vs 12.7 samples/s, no
 * gain (the step is many small ops), so the single-threaded SIMD build is used and the second core
 * stays free for data loading or a second run.
 *
 * On wasm, `native.ts` overrides the matMul kernel and adds a fused attention kernel with C +
 * OpenBLAS code when the optional addon is built (`npm run build:native`), and logs which is used.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { log } from '../util/log.js';
import { installNativeKernels, nativeActive, nativeStatus } from './native.js';

export { tf };
export { nativeActive, nativeStatus };

let ready: Promise<string> | null = null;

/**
 * Initialises the fastest available backend once and returns its name ('tensorflow', 'wasm', or
 * 'wasm+blas' when the native kernels are registered).
 * Errors: throws if neither tfjs-node nor the wasm backend can start.
 */
export function initBackend(): Promise<string> {
  ready ??= (async () => {
    try {
      await import(/* optional */ '@tensorflow/tfjs-node' as string);
      if (await tf.setBackend('tensorflow')) {
        await tf.ready();
        return 'tensorflow';
      }
    } catch {
      /* not installed: fall back to wasm */
    }
    const ok = await tf.setBackend('wasm');
    if (!ok) throw new Error('could not start the TensorFlow.js wasm backend; reinstall @tensorflow/tfjs-backend-wasm');
    await tf.ready();
    const native = installNativeKernels();
    log.info({ backend: 'wasm', kernels: native ? 'native' : 'wasm', blas: nativeStatus() }, native ? 'tfjs wasm backend with native OpenBLAS kernels (matMul, attention)' : 'tfjs wasm backend, wasm kernels');
    return native ? 'wasm+blas' : 'wasm';
  })();
  return ready;
}
