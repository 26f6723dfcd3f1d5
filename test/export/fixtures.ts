/**
 * Test fixtures for the ONNX export and inference tests: tiny SFN-Lite configurations, perturbed
 * random weights written with `saveWeights`, seeded clips, and a quiet `runExport`.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runExport, type ExportOptions, type ExportSummary } from '../../src/export/command.js';
import { initBackend, tf } from '../../src/model/backend.js';
import { derived, makeConfig, type SfnConfig } from '../../src/core/model-config.js';
import { initParams, rng } from '../../src/model/sfn.js';
import { saveWeights } from '../../src/model/checkpoint.js';

/** 16x24 gray, patch 8 (6 tokens), D 16, 2 blocks, 2 heads, 4 experts top-2 of width 4, shared expert. */
export const TINY: Partial<SfnConfig> = { height: 16, width: 24, patch: 8, dim: 16, blocks: 2, heads: 2, experts: 4, topK: 2, expertDim: 4 };
/** The same in RGB, without the shared expert, with the SFFM residual. */
export const TINY_RGB: Partial<SfnConfig> = { ...TINY, color: 'rgb', sharedExperts: 0, sffmResidual: true };

export async function tmpDir(tag: string): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), `sfn-${tag}-`));
}

/**
 * Writes `<dir>/<name>.json/.bin`: initParams(cfg, seed) with every parameter perturbed by uniform
 * noise in [-noise, noise] (initParams zeroes the head and biases and sets LN to identity, which
 * would hide the body, the biases and the LN folds from a parity test). `zero` lists parameters
 * set to 0 afterwards (e.g. a router, to force ties in the top-k).
 */
export async function tinyWeights(
  dir: string,
  partial: Partial<SfnConfig>,
  o: { name?: string; seed?: number; noise?: number; zero?: string[]; meta?: Record<string, unknown> } = {},
): Promise<{ base: string; cfg: SfnConfig }> {
  await initBackend();
  const cfg = makeConfig(partial);
  const params = initParams(cfg, o.seed ?? 1);
  const rand = rng((o.seed ?? 1) * 7919);
  const noise = o.noise ?? 0.2;
  const tensors = new Map<string, tf.Tensor>();
  for (const [name, v] of params) {
    const data = (v.dataSync() as Float32Array).slice();
    for (let i = 0; i < data.length; i++) data[i] = o.zero?.includes(name) ? 0 : data[i]! + (rand() * 2 - 1) * noise;
    tensors.set(name, tf.tensor(data, v.shape));
    v.dispose();
  }
  const base = path.join(dir, o.name ?? 'tiny');
  await saveWeights(base, cfg, tensors, o.meta ?? { seed: o.seed ?? 1, batch: 4, lr: 1e-3, epochs: 2, step: 30, seconds: 12.5, data: '/data/normal', samplesPerEpoch: 60 });
  for (const t of tensors.values()) t.dispose();
  return { base, cfg };
}

/** `n` seeded clips `[n, 4*C, H, W]`, uniform in [0, 1]. */
export function randomClips(cfg: SfnConfig, n: number, seed: number): Float32Array {
  const rand = rng(seed);
  return Float32Array.from({ length: n * 4 * derived(cfg).channels * cfg.height * cfg.width }, () => rand());
}

/** runExport with the summary line captured instead of printed. */
export async function quietExport(o: ExportOptions): Promise<{ summary: ExportSummary; lines: string[] }> {
  const lines: string[] = [];
  const summary = await runExport(o, (l) => lines.push(l));
  return { summary, lines };
}

/** max |a - b|. */
export function maxDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
