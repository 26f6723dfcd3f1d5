/**
 * onnxruntime-node, loaded on first use instead of at start-up.
 *
 * Every command of the CLI is in one module graph (and one bundled script in the single
 * executable), so a static `import * as ort from 'onnxruntime-node'` loads ONNX Runtime's native
 * library for `--version`, `profile detect` and `flash verify` too. Those must work on a device
 * whose ONNX Runtime is broken or missing (they are how a user finds that out), and ONNX Runtime's
 * arm64 library crashes under qemu-user on some hosts while it probes the CPU (cpuinfo), which
 * took the emulated device checks down with it. {@link ort} is a stand-in for the module namespace
 * that requires the package on the first property read.
 *
 * Types stay static: `import type * as Ort from 'onnxruntime-node'` costs nothing at run time.
 */
import { createRequire } from 'node:module';
import type * as Ort from 'onnxruntime-node';

let loaded: typeof Ort | undefined;

/**
 * The onnxruntime-node module, required once.
 * @throws Error naming the package and how to install it when it cannot be loaded (not
 *   installed, or its native library fails to load), with the loader's own message.
 */
export function loadOrt(): typeof Ort {
  if (loaded) return loaded;
  try {
    loaded = createRequire(import.meta.url)('onnxruntime-node') as typeof Ort;
  } catch (err) {
    throw new Error(`cannot load onnxruntime-node (ONNX Runtime): ${(err as Error).message.split('\n')[0]}; install it with 'ONNXRUNTIME_NODE_INSTALL=skip npm install' (the npm package ships its CPU library)`);
  }
  return loaded;
}

/** onnxruntime-node's namespace (`ort.Tensor`, `ort.InferenceSession`, `ort.env`), loaded on first use. */
export const ort: typeof Ort = new Proxy({} as typeof Ort, {
  get: (_t, key) => Reflect.get(loadOrt(), key) as unknown,
  has: (_t, key) => Reflect.has(loadOrt(), key),
});

export type { Ort };
