/** Tiny exported models for the optimize tests, and an ORT runner. */
import fs from 'node:fs/promises';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { derived, type SfnConfig } from '../../src/core/model-config.js';
import { quietExport, randomClips, TINY, tinyWeights, tmpDir } from '../export/fixtures.js';

export { randomClips, tmpDir, TINY };

/**
 * Exports a tiny SFN-Lite (TINY, noise-perturbed weights; `zero` lists parameters set to 0) to
 * `<dir>/<name>.onnx`; returns its bytes and config.
 */
export async function tinyModel(dir: string, partial: Partial<SfnConfig> = TINY, seed = 3, zero: string[] = [], name = 'tiny'): Promise<{ file: string; bytes: Uint8Array; cfg: SfnConfig }> {
  const { base, cfg } = await tinyWeights(dir, partial, { seed, zero, name });
  const file = path.join(dir, `${name}.onnx`);
  await quietExport({ weights: base, out: file });
  return { file, bytes: new Uint8Array(await fs.readFile(file)), cfg };
}

/** Runs `bytes` on the CPU provider (1 thread) for `n` clips; `optimized` saves ORT's optimised graph there. */
export async function runModel(bytes: Uint8Array, cfg: SfnConfig, clips: Float32Array, n: number, optimized?: string): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], intraOpNumThreads: 1, graphOptimizationLevel: 'all', logSeverityLevel: 3, ...(optimized ? { optimizedModelFilePath: optimized } : {}) });
  try {
    const C = derived(cfg).channels;
    const r = await s.run({ frames: new ort.Tensor('float32', clips.subarray(0, n * 4 * C * cfg.height * cfg.width), [n, 4 * C, cfg.height, cfg.width]) });
    return (r.pred!.data as Float32Array).slice();
  } finally {
    await s.release();
  }
}

/** max |a - b| and root-mean-square difference. */
export function diffStats(a: Float32Array, b: Float32Array): { max: number; rms: number } {
  let max = 0;
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    max = Math.max(max, d);
    s += d * d;
  }
  return { max, rms: Math.sqrt(s / a.length) };
}
