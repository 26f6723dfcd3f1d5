/**
 * `sfn-edge bench` / `npm run bench`: every model variant under a models root, measured in one run
 * on this machine (each in its own process, one after another), plus the machine's matrix-multiply
 * peak through ONNX Runtime and the model's multiply-accumulates per frame, so that the fraction of
 * peak is visible. Printed as a table (or JSON) and saved to `bench/results.json`.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ort, type Ort } from '../inference/ort.js';
import { GraphBuilder } from '../export/builder.js';
import { readManifest } from '../core/manifest.js';
import { detectProfile } from '../device/detect.js';
import { loadProfile } from '../device/profile.js';
import { formatTable, listModels } from './models.js';
import { timingFeeds } from './feeds.js';
import { defaultVariant } from '../core/default-model.js';
import { DType, decodeModel, encodeModel, makeTensor, withExtraOutputs } from '../export/onnx-graph.js';

import { loaderArgs } from '../util/loader.js';

const run = promisify(execFile);


/** One variant's row. */
export interface BenchRow {
  variant: string;
  /** sha256 of the model file measured (as its manifest records it); `sfn-edge models` matches rows to models by it */
  sha256: string;
  provider: string;
  model_mb: number;
  experts_kept: string;
  micro_auc: number | null;
  ms_b1: { p50: number; p95: number };
  batch: number;
  ms_batch: { p50: number; p95: number };
  /** with `batches`: ms per frame at each of those batch sizes (key: the batch) */
  ms_batches?: Record<string, { p50: number; p95: number }>;
  /** with `batches`: ms/frame of the row's fp32 model over this one's at each batch (p50s) */
  speedup_vs_fp32_by_batch?: Record<string, number>;
  /** with `batches` and 1 thread: process CPU ms per frame at each batch (p50; see bench-worker.ts) */
  cpu_ms_batches?: Record<string, number>;
  /** the same ratio as speedup_vs_fp32_by_batch, of CPU time */
  cpu_speedup_vs_fp32_by_batch?: Record<string, number>;
  fps: number;
  peak_rss_mb: number;
  /** ms/frame (batch p50) of the fp32 model over this one's (> 1 = faster); the fp32 model is `fp32/<name>` of the same base name (`-p<N>` dropped), else the default model (models/default.json) when it is fp32, else the first fp32 variant */
  speedup_vs_fp32: number | null;
  /** ms/frame of the unpruned variant of the same precision over this one's (pruned variants only) */
  speedup_vs_unpruned: number | null;
  auc_delta_vs_fp32: number | null;
  /** achieved MAC/s over the peak of its precision's matmul (int8 peak for int8, fp32 otherwise) */
  fraction_of_peak: number | null;
  /** achieved GFLOP/s (GOP/s for int8): 2 x the MACs per frame counted from the fp32 graph (macsPerFrame) / ms per frame at the batch p50 */
  gflops?: number | null;
}

/** The whole result (bench/results.json). */
export interface BenchResult {
  machine: { cpu: string; cores: number; memory_mb: number; onnxruntime: string; profile: string; loadavg_1min?: { start: number; end: number } };
  threads: number;
  peak: { fp32_gflops: number; int8_gops: number | null; size: number };
  /** multiply-accumulates of the MatMuls and Gemms per clip of the reference fp32 model (see {@link BenchRow.speedup_vs_fp32}: the default model's, else the first fp32 variant's) */
  macs_per_frame: number | null;
  rows: BenchRow[];
  created: string;
}

/**
 * Side of the square MatMul that measures the peak: 2048 (measured here, 2 threads: 512 gives
 * 74 GFLOP/s fp32 and 85 GOP/s int8, dominated by the per-run overhead and copies; 2048 gives
 * 358 GFLOP/s and ~1060 GOP/s, near the cores' AVX-512 FMA / VNNI limits).
 */
export const PEAK_SIZE = 2048;

/**
 * ONNX Runtime's throughput (multiply-adds counted as 2 ops) on an `n x n x n` MatMul in fp32 and
 * MatMulInteger (uint8 activations x int8 weights -> int32), `threads` intra-op threads; int8 null
 * if ORT refuses it. uint8 x int8 because that is the kernel the int8 variants run on x86: ORT's
 * QDQ transformers rewrite symmetric int8 activations to uint8 with zero point 128 there (checked
 * on the optimised graph: every activation QuantizeLinear ends up uint8), as its MLAS int8 GEMMs
 * (VPMADDUBSW / VNNI) take u8 x s8.
 */
export async function matmulPeak(n = 2048, threads = 2): Promise<{ fp32_gflops: number; int8_gops: number | null }> {
  const model = (elem: number, op: string, b: ReturnType<typeof makeTensor>) => {
    const g = new GraphBuilder();
    const a = g.input({ name: 'a', shape: [n, n], elemType: elem });
    const y = g.op(op, 'mm', [a, 'b']);
    g.output(y, { name: 'y', shape: [n, n], elemType: op === 'MatMul' ? DType.FLOAT : 6 });
    const m = decodeModel(g.build({ graphName: 'peak', opset: 17, irVersion: 8, producer: 'sfn-edge', producerVersion: '0' }));
    m.graph!.initializer!.push(b);
    return encodeModel(m);
  };
  const time = async (bytes: Uint8Array, x: Ort.Tensor) => {
    const s = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], intraOpNumThreads: threads });
    try {
      await s.run({ a: x });
      const t: number[] = [];
      for (let i = 0; i < 10; i++) {
        const t0 = performance.now();
        await s.run({ a: x });
        t.push(performance.now() - t0);
      }
      t.sort((p, q) => p - q);
      return (2 * n ** 3) / (t[0]! / 1000) / 1e9; // best of 10: the machine is shared
    } finally {
      await s.release();
    }
  };
  const f = Float32Array.from({ length: n * n }, (_, i) => (i % 7) / 7);
  const fp32 = await time(model(DType.FLOAT, 'MatMul', makeTensor('b', [n, n], f)), new ort.Tensor('float32', f, [n, n]));
  let int8: number | null = null;
  try {
    const q = Int8Array.from({ length: n * n }, (_, i) => (i % 13) - 6);
    const u = Uint8Array.from({ length: n * n }, (_, i) => (i % 251));
    int8 = await time(model(2 /* UINT8 */, 'MatMulInteger', makeTensor('b', [n, n], q)), new ort.Tensor('uint8', u, [n, n]));
  } catch {
    int8 = null;
  }
  return { fp32_gflops: fp32, int8_gops: int8 };
}

/**
 * Multiply-accumulates of every MatMul and Gemm for one clip of an fp32 model: runs it on one clip (frames 0.5;
 * a semantic model's text feature zeros, see feeds.ts) with each MatMul's first input and output as
 * graph outputs, and sums prod(output dims) x last dim of input A.
 * @throws Error when the model or manifest cannot be read or the model has an input feeds.ts cannot fill.
 */
export async function macsPerFrame(modelPath: string): Promise<number> {
  const { manifest, bytes } = await readManifest(modelPath);
  const m = decodeModel(bytes);
  const mms = (m.graph!.node ?? []).filter((n) => n.opType === 'MatMul' || n.opType === 'Gemm');
  const names = mms.flatMap((n) => [n.input![0]!, n.output![0]!]);
  const s = await ort.InferenceSession.create(withExtraOutputs(bytes, names), { executionProviders: ['cpu'], intraOpNumThreads: 1 });
  try {
    const out = await s.run(timingFeeds(manifest, s.inputNames, 1));
    let macs = 0;
    for (const n of mms) {
      const a = out[n.input![0]!]!.dims;
      const y = out[n.output![0]!]!.dims;
      macs += y.reduce((p, q) => p * q, 1) * a[a.length - 1]!;
    }
    return macs;
  } finally {
    await s.release();
  }
}

/** Options of {@link runBench}. */
export interface BenchOptions {
  root: string;
  json?: boolean;
  /** device profile for providers and batch (default: detected) */
  profile?: string;
  /** ORT intra-op threads (default: the profile's, or 2) */
  threads?: number;
  runs?: number;
  /** where the JSON goes (default bench/results.json) */
  save?: string;
  /** side of the peak-measuring MatMul (default {@link PEAK_SIZE}; tests use less) */
  peakSize?: number;
  /** the batch of the headline column and `speedup_vs_fp32` (default: the profile's) */
  batch?: number;
  /** also time these batch sizes (ms_batches, speedup_vs_fp32_by_batch) */
  batches?: number[];
  /** only variants whose name (e.g. `int8/sfn-lite-ped2`) matches this regular expression */
  only?: string;
}

/**
 * Benchmarks every variant under `o.root` (see the module comment); prints the table or JSON.
 * @throws Error when there is no model, or a model fails its manifest check or its run.
 */
export async function runBench(o: BenchOptions, print: (s: string) => void = (s) => process.stdout.write(`${s}\n`)): Promise<BenchResult> {
  const profile = o.profile ? await loadProfile(o.profile) : (await detectProfile()).profile;
  const threads = o.threads ?? (profile?.threads.intraOp || 2);
  const batch = o.batch ?? profile?.model.batch ?? 8;
  const load0 = os.loadavg()[0]!;
  const providers = profile ? `profile:${o.profile ?? profile.name}` : 'cpu';
  const only = o.only ? new RegExp(o.only) : null;
  const entries = (await listModels(o.root)).filter((e) => !only || only.test(e.variant));
  if (entries.length === 0) throw new Error(`no models under ${o.root}/{fp32,fp16,int8}${only ? ` matching ${o.only}` : ''}`);
  const bad = entries.filter((e) => e.error);
  if (bad.length) throw new Error(`cannot benchmark: ${bad.map((e) => `${e.variant}: ${e.error}`).join('; ')}`);
  const here = fileURLToPath(import.meta.url);
  const worker = path.join(path.dirname(here), `bench-worker${path.extname(here)}`);
  const rows: BenchRow[] = [];
  for (const e of entries) {
    const { stdout } = await run(process.execPath, [...loaderArgs(), worker, e.file, String(batch), String(threads), String(o.runs ?? 20), providers, ...(o.batches?.length ? [o.batches.join(',')] : [])], { maxBuffer: 1 << 20 }).catch((err: unknown) => {
      // the worker's own error line, not its stack trace
      const lines = String((err as { stderr?: unknown }).stderr ?? '').split('\n').map((l) => l.trim());
      const why = lines.find((l) => /^[A-Za-z]*Error\b/.test(l)) ?? lines.filter(Boolean).at(-1) ?? (err as Error).message;
      throw new Error(`bench ${e.variant} (${e.file}): ${why}`);
    });
    const r = JSON.parse(stdout.trim().split('\n').at(-1)!) as Pick<BenchRow, 'provider' | 'ms_b1' | 'ms_batch' | 'ms_batches' | 'cpu_ms_batches' | 'fps' | 'peak_rss_mb' | 'batch'>;
    const m = e.manifest!;
    rows.push({
      variant: e.variant,
      sha256: m.sha256,
      provider: r.provider,
      model_mb: m.bytes / 1e6,
      experts_kept: `${Math.min(...m.experts.kept.map((k) => k.length))}/${m.experts.count}`,
      micro_auc: m.evaluation?.micro_auc ?? null,
      ms_b1: r.ms_b1,
      batch: r.batch,
      ms_batch: r.ms_batch,
      ...(r.ms_batches ? { ms_batches: r.ms_batches } : {}),
      ...(r.cpu_ms_batches ? { cpu_ms_batches: r.cpu_ms_batches } : {}),
      fps: r.fps,
      peak_rss_mb: r.peak_rss_mb,
      speedup_vs_fp32: null,
      speedup_vs_unpruned: null,
      auc_delta_vs_fp32: null,
      fraction_of_peak: null,
    });
  }
  // the fp32 AUC may live in the variants' manifests (measured by `optimize --dataset`) rather than its own
  for (const r of rows.filter((x) => x.variant.startsWith('fp32/') && x.micro_auc === null)) {
    const sha = entries.find((e) => e.variant === r.variant)!.manifest!.sha256;
    const src = entries.map((e) => e.manifest?.optimization?.source as { sha256: string; micro_auc?: number | null } | undefined).find((s) => s?.sha256 === sha && typeof s.micro_auc === 'number');
    if (src) r.micro_auc = src.micro_auc!;
  }
  const peak = await matmulPeak(o.peakSize ?? PEAK_SIZE, threads);
  // each variant against the fp32 model it was built from (same base name), so that the semantic
  // model and any other fp32 model are not compared with the wrong one
  const baseOf = (variant: string) => variant.slice(variant.indexOf('/') + 1).replace(/-p\d+$/, '');
  const dflt = await defaultVariant(o.root);
  const fp32Rows = rows.filter((r) => r.variant.startsWith('fp32/'));
  const refFp32 = fp32Rows.find((r) => r.variant === dflt) ?? fp32Rows[0];
  const macsOf = new Map<string, number>();
  for (const r of fp32Rows) macsOf.set(r.variant, await macsPerFrame(entries.find((e) => e.variant === r.variant)!.file));
  const macs = refFp32 ? macsOf.get(refFp32.variant)! : null;
  for (const r of rows) {
    const fp32 = fp32Rows.find((x) => x.variant === `fp32/${baseOf(r.variant)}`) ?? refFp32;
    const rowMacs = fp32 ? macsOf.get(fp32.variant)! : null;
    if (fp32) {
      r.speedup_vs_fp32 = fp32.ms_batch.p50 / r.ms_batch.p50;
      if (r.ms_batches && fp32.ms_batches) r.speedup_vs_fp32_by_batch = Object.fromEntries(Object.entries(r.ms_batches).map(([b, t]) => [b, fp32.ms_batches![b]!.p50 / t.p50]));
      if (r.cpu_ms_batches && fp32.cpu_ms_batches) r.cpu_speedup_vs_fp32_by_batch = Object.fromEntries(Object.entries(r.cpu_ms_batches).map(([b, t]) => [b, fp32.cpu_ms_batches![b]! / t]));
      if (fp32.micro_auc !== null && r.micro_auc !== null) r.auc_delta_vs_fp32 = r.micro_auc - fp32.micro_auc;
    }
    const base = /^(.*)-p\d+$/.exec(r.variant)?.[1];
    const unpruned = base ? rows.find((x) => x.variant === base) : undefined;
    if (unpruned) r.speedup_vs_unpruned = unpruned.ms_batch.p50 / r.ms_batch.p50;
    const p = r.variant.startsWith('int8/') ? peak.int8_gops : peak.fp32_gflops;
    if (rowMacs !== null) r.gflops = (2 * rowMacs) / (r.ms_batch.p50 / 1000) / 1e9;
    if (rowMacs !== null && p) r.fraction_of_peak = r.gflops! / p;
  }
  const result: BenchResult = {
    machine: { cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, memory_mb: Math.round(os.totalmem() / 2 ** 20), onnxruntime: ort.env.versions.common, profile: profile?.name ?? 'none', loadavg_1min: { start: +load0.toFixed(2), end: +os.loadavg()[0]!.toFixed(2) } },
    threads,
    peak: { ...peak, size: o.peakSize ?? PEAK_SIZE },
    macs_per_frame: macs,
    rows,
    created: new Date().toISOString(),
  };
  const save = o.save ?? 'bench/results.json';
  await fs.mkdir(path.dirname(save), { recursive: true });
  await fs.writeFile(save, `${JSON.stringify(result, null, 2)}\n`);
  if (o.json) print(JSON.stringify(result));
  else {
    const f = (v: number | null, d: number) => (v === null ? '-' : v.toFixed(d));
    print(
      formatTable([
        ['variant', 'provider', 'MB', 'experts', 'micro_auc', 'dAUC', 'ms b1 p50/p95', `ms b${batch} p50/p95`, 'fps', 'RSS MB', 'x fp32', 'x unpruned', 'GFLOP/s (peak)', '% peak'],
        ...rows.map((r) => [
          r.variant, r.provider, f(r.model_mb, 2), r.experts_kept, f(r.micro_auc, 4), f(r.auc_delta_vs_fp32, 4),
          `${r.ms_b1.p50.toFixed(2)}/${r.ms_b1.p95.toFixed(2)}`, `${r.ms_batch.p50.toFixed(2)}/${r.ms_batch.p95.toFixed(2)}`,
          f(r.fps, 0), f(r.peak_rss_mb, 0), f(r.speedup_vs_fp32, 2), f(r.speedup_vs_unpruned, 2),
          r.gflops == null ? '-' : `${r.gflops.toFixed(1)} (${(r.variant.startsWith('int8/') ? peak.int8_gops : peak.fp32_gflops)?.toFixed(0) ?? '-'})`, r.fraction_of_peak === null ? '-' : (100 * r.fraction_of_peak).toFixed(1),
        ]),
      ]),
    );
    if (o.batches?.length)
      print(
        formatTable([
          ['variant', ...o.batches.map((b) => `ms b${b} p50/p95`), ...o.batches.map((b) => `x fp32 b${b}`)],
          ...rows.map((r) => [r.variant, ...o.batches!.map((b) => { const t = r.ms_batches?.[b]; return t ? `${t.p50.toFixed(2)}/${t.p95.toFixed(2)}` : '-'; }), ...o.batches!.map((b) => f(r.speedup_vs_fp32_by_batch?.[b] ?? null, 2))]),
        ]),
      );
    if (o.batches?.length && rows.some((r) => r.cpu_ms_batches))
      print(
        formatTable([
          ['variant', ...o.batches.map((b) => `CPU ms b${b}`), ...o.batches.map((b) => `x fp32 CPU b${b}`)],
          ...rows.map((r) => [r.variant, ...o.batches!.map((b) => f(r.cpu_ms_batches?.[b] ?? null, 3)), ...o.batches!.map((b) => f(r.cpu_speedup_vs_fp32_by_batch?.[b] ?? null, 2))]),
        ]),
      );
    print(`load average (1 min) ${result.machine.loadavg_1min!.start} at the start, ${result.machine.loadavg_1min!.end} at the end`);
    print(`peak (ORT ${result.peak.size}^3 MatMul, ${threads} threads): fp32 ${peak.fp32_gflops.toFixed(1)} GFLOP/s, int8 ${peak.int8_gops === null ? 'n/a' : `${peak.int8_gops.toFixed(1)} GOP/s`}; MACs per frame ${macs === null ? 'n/a' : (macs / 1e6).toFixed(1) + 'M'}; saved ${save}`);
  }
  return result;
}
