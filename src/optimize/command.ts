/**
 * `sfn-edge optimize`: an fp32 SFN-Lite export -> its edge variants, each with a manifest.
 *
 *   models/fp16/<name>.onnx         float16 (fp16.ts)
 *   models/fp16/<name>-p<K>.onnx    K experts kept per layer (prune.ts), then float16
 *   models/int8/<name>.onnx         int8 QDQ (int8.ts), calibration method chosen by measurement
 *   models/int8/<name>-p<K>.onnx    pruned, then int8 QDQ with the chosen method
 *
 * The calibration clips (normal video, e.g. Ped2's training frames) serve the routing statistics
 * and the int8 ranges. With `dataset`, every variant's Ped2 micro AUC is measured (evaluateDataset,
 * test frames decoded once) and the int8 calibration method (and whether the router MatMuls stay
 * float) is chosen by AUC; without it, by the output error
 * against fp32 on the calibration clips. Everything is built and checked in a temporary folder
 * under `out` first: a failure leaves existing models untouched.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ort } from '../inference/ort.js';
import { evaluateDataset } from '../eval/evaluate.js';
import { semanticFeeds, testCaptions } from '../eval/command.js';
import { readManifest, sha256, writeManifest, type Manifest } from '../core/manifest.js';
import { recalibrate } from '../scoring/calibration.js';
import { OnnxPredictor } from '../inference/predictor.js';
import { log } from '../util/log.js';
import type { FrameSpec } from '../core/frame.js';
import type { Precision } from '../core/precision.js';
import { timingFeeds } from './feeds.js';
import { arrayReader, batchFeeds, calibrate, CALIBRATION_METHODS, folderClips, makeCalibrator, type CalibrationMethod, type CalibrationReader } from './calibrate.js';
import { FP16_KEEP, toFloat16, type Fp16Keep } from './fp16.js';
import { planInt8, quantizeInt8 } from './int8.js';
import { decodeModel, opsetOf } from '../export/onnx-graph.js';
import { chooseExperts, pruneExperts, routingStats, type LayerRouting } from './prune.js';


/**
 * Largest relative error accepted for unpruned variants on the calibration clips:
 * rms(variant - fp32) / rms(fp32 prediction - last input frame) (floored at MIN_CHANGE_RMS), i.e. the error as a fraction of
 * what the network adds to the last frame (the part the anomaly score measures). RMS, not max: a
 * token whose top-k flips between two near-tied experts moves one patch far more than rounding
 * does, and rarely. Measured on a Ped2 SFN-Lite: fp16 0.018, int8 0.16.
 */
export const VARIANT_TOLERANCE: Record<Exclude<Precision, 'fp32'>, number> = { fp16: 0.1, int8: 0.5 };

/** Options of {@link runOptimize} (the command's flags). */
export interface OptimizeOptions {
  /** fp32 `.onnx` with its manifest */
  model: string;
  /** folder of normal videos for calibration */
  calib: string;
  /** models root: variants go to `<out>/fp16/` and `<out>/int8/` */
  out: string;
  /** base name of the variants (default: the source manifest's name) */
  name?: string;
  /** calibration clips, spread over the folder's videos (default 64) */
  clips?: number;
  /** experts kept per layer in the pruned variants (default: 3/4 of them, at least top-k) */
  keep?: number;
  /** Ped2-layout data set root: measure micro AUC and choose the int8 method by it */
  dataset?: string;
  /** only these test videos of `dataset` (faster, for smoke runs) */
  videos?: string[];
  /** a semantic model: caption file of the `calib` videos (the text input of the calibration clips) */
  captions?: string;
  /** a semantic model with `dataset`: caption file of the test videos (default: caption them now, cached) */
  testCaptions?: string;
  /** calibration methods tried for int8 (default both) */
  methods?: CalibrationMethod[];
  /** router MatMuls left in float in int8 variants: true, false, or undefined = try both and measure */
  routerFloat?: boolean;
  /** also quantize the MatMuls of two activations (attention scores and context) in int8 variants */
  int8Attention?: boolean;
  /** nodes kept float32 in the fp16 variants (default 'none': measurement showed no need) */
  fp16Keep?: Fp16Keep;
  /** ORT intra-op threads for calibration, evaluation and timing (default 2) */
  threads?: number;
}

/** One written variant. */
export interface VariantSummary {
  name: string;
  precision: Precision;
  file: string;
  bytes: number;
  experts_kept: number;
  method: CalibrationMethod | null;
  max_abs_diff_vs_fp32: number;
  micro_auc: number | null;
  ms_per_frame: number;
}

/** What {@link runOptimize} returns and prints. */
export interface OptimizeSummary {
  source: { name: string; sha256: string; micro_auc: number | null; ms_per_frame: number };
  routing: LayerRouting[];
  kept: number[][];
  int8_candidates: { method: CalibrationMethod; router_float: boolean; micro_auc: number | null; rms_vs_fp32: number }[];
  variants: VariantSummary[];
}

interface Built {
  name: string;
  precision: Exclude<Precision, 'fp32'>;
  bytes: Uint8Array;
  kept: number[][];
  steps: string[];
  method: CalibrationMethod | null;
  /** int8: router MatMuls kept float */
  routerFloat: boolean;
  pruned: boolean;
}

/**
 * ms per frame (median of `runs`, batch `batch`) of `bytes` on the CPU provider with `threads`;
 * every input the manifest declares is fed (feeds.ts `timingFeeds`: frames 0.5, text zeros).
 */
export async function timeModel(bytes: Uint8Array, manifest: Manifest, batch: number, threads: number, runs = 8): Promise<number> {
  const s = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], intraOpNumThreads: threads, graphOptimizationLevel: 'all' });
  try {
    const x = timingFeeds(manifest, s.inputNames, batch);
    await s.run(x);
    const t: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      await s.run(x);
      t.push((performance.now() - t0) / batch);
    }
    t.sort((a, b) => a - b);
    return t[Math.floor(t.length / 2)]!;
  } finally {
    await s.release();
  }
}

async function outputsOf(bytes: Uint8Array, reader: CalibrationReader, threads: number): Promise<Float32Array[]> {
  const s = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], intraOpNumThreads: threads });
  const out: Float32Array[] = [];
  try {
    reader.rewind();
    for (let b = reader.next(); b; b = reader.next()) {
      const r = await s.run(batchFeeds(s.inputNames, b, reader));
      // the predicted frame (a semantic model also outputs text_pred, in no fixed order)
      out.push(((r.pred ?? r[s.outputNames[0]!])!.data as Float32Array).slice());
    }
  } finally {
    await s.release();
  }
  return out;
}

/**
 * Floor of the predicted change in {@link diff}: one grey level of an 8-bit source. A network that
 * predicts (nearly) no change, e.g. the copy-last checkpoint that train's rule may choose at step 0,
 * would otherwise divide the variant's rounding error by ~0.
 */
export const MIN_CHANGE_RMS = 1 / 255;

/** max and rms of |a - ref|, and rms / max(`change`, {@link MIN_CHANGE_RMS}) (`change`: the rms of ref's predicted change). */
function diff(a: Float32Array[], ref: Float32Array[], change: number): { max: number; rms: number; rel: number } {
  let max = 0;
  let s = 0;
  let n = 0;
  a.forEach((x, i) => {
    const y = ref[i]!;
    for (let j = 0; j < x.length; j++) {
      const d = Math.abs(x[j]! - y[j]!);
      if (!(d <= max)) max = d;
      s += d * d;
    }
    n += x.length;
  });
  const rms = Math.sqrt(s / n);
  return { max, rms, rel: rms / Math.max(change, MIN_CHANGE_RMS) };
}

/** rms over the clips of (prediction - last input frame); `frame` = values per frame. */
function changeRms(ref: Float32Array[], reader: CalibrationReader): number {
  const frame = (reader.clipShape[0] / 4) * reader.clipShape[1] * reader.clipShape[2];
  let s = 0;
  let n = 0;
  reader.rewind();
  for (let b = reader.next(), k = 0; b; b = reader.next(), k++) {
    const y = ref[k]!;
    for (let i = 0; i < b.n; i++)
      for (let j = 0; j < frame; j++) {
        const d = y[i * frame + j]! - b.data[(i * 4 + 3) * frame + j]!;
        s += d * d;
      }
    n += b.n * frame;
  }
  return Math.sqrt(s / n);
}

/**
 * Builds, checks, measures and writes the variants of `o.model`; prints the summary as one JSON line.
 * @throws Error when the model or its manifest is missing, invalid or does not match (sha256), the
 *   model is not opset 17 or its input is not `[N, 4C, H, W]` of the manifest's grid, the
 *   calibration folder has too few clips, `keep` is not in [topK, experts], or an unpruned variant
 *   differs from fp32 by more than {@link VARIANT_TOLERANCE} (rms). Nothing is written then.
 */
export async function runOptimize(o: OptimizeOptions, print: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): Promise<OptimizeSummary> {
  const threads = o.threads ?? 2;
  const { manifest: src, bytes } = await readManifest(o.model);
  if (src.precision !== 'fp32') throw new Error(`${o.model} is a ${src.precision} model; optimize takes the fp32 export`);
  const m = decodeModel(bytes, o.model);
  if (opsetOf(m) !== 17) throw new Error(`${o.model}: opset ${opsetOf(m)} is not supported (the optimizer handles opset 17 exports)`);
  const inShape = src.inputs[0]!.shape;
  const C = src.normalisation.channels;
  if (inShape.length !== 4 || inShape[1] !== 4 * C || inShape[2] !== src.model.height || inShape[3] !== src.model.width)
    throw new Error(`${o.model}: input shape [${inShape.join(', ')}] is not [N, ${4 * C}, ${src.model.height}, ${src.model.width}]`);
  const name = o.name ?? src.name;
  const E = src.experts.kept[0]?.length ?? src.experts.count;
  const keep = o.keep ?? Math.max(src.experts.topK, Math.round(E * 0.75));
  const methods = o.methods ?? [...CALIBRATION_METHODS];
  const spec: FrameSpec = { width: src.model.width, height: src.model.height, color: src.model.color };

  const textDim = src.semantic?.textDim ?? 0;
  if (textDim > 0 && !o.captions)
    throw new Error(`${o.model} has a semantic branch: give the captions of the calibration videos with --captions <file> (make it with \`sfn-edge caption --data ${o.calib} --out <file>\`)`);
  const captions = textDim > 0 ? await (await import('../caption/dataset.js')).loadCaptionFile(o.captions!) : undefined;
  if (captions && captions.textDim !== textDim) throw new Error(`${o.captions}: text features of width ${captions.textDim}, the model takes ${textDim}`);
  const calib = await folderClips(o.calib, spec, o.clips ?? 64, captions);
  const reader = arrayReader(calib.clips, calib.clipShape, 8, calib.text);
  const calibInfo = { data: path.resolve(o.calib), videos: calib.source.videos, clips: calib.source.clips };
  log.info({ ...calib.source }, 'calibration clips loaded');
  const ref = await outputsOf(bytes, reader, threads);
  const change = changeRms(ref, reader);

  // routing statistics -> kept experts -> pruned fp32
  const routing = await routingStats(bytes, reader, threads);
  const local = chooseExperts(routing, keep, src.experts.topK);
  const compose = (k: number[][]) => k.map((l, i) => l.map((e) => src.experts.kept[i]![e]!));
  const keptAll = src.experts.kept;
  const keptPruned = compose(local);
  const pruned32 = pruneExperts(bytes, local);
  const pruneStep = `prune ${keep}/${E} experts per layer (most often in the top-${src.experts.topK} over ${calib.source.clips} calibration clips)`;
  const pName = `${name}-p${keep}`;

  const fp16Keep = o.fp16Keep ?? 'none';
  const fp16Step = `fp16 (float32 inputs/outputs with Casts; kept float32: ${fp16Keep})`;
  const built: Built[] = [
    { name, precision: 'fp16', bytes: toFloat16(bytes, FP16_KEEP[fp16Keep]).bytes, kept: keptAll, steps: [fp16Step], method: null, routerFloat: false, pruned: false },
    { name: pName, precision: 'fp16', bytes: toFloat16(pruned32, FP16_KEEP[fp16Keep]).bytes, kept: keptPruned, steps: [pruneStep, fp16Step], method: null, routerFloat: false, pruned: true },
  ];
  const isRouter = (n: { name?: string | null }) => /\/sffm\/router$/.test(n.name ?? '');
  const int8 = async (b: Uint8Array, method: CalibrationMethod, routerFloat: boolean) => {
    const opts = { ...(routerFloat ? { exclude: isRouter } : {}), activationMatMuls: o.int8Attention ?? false };
    const ranges = await calibrate(b, planInt8(b, opts), reader, () => makeCalibrator(method), threads);
    return quantizeInt8(b, ranges, opts).bytes;
  };
  const int8Step = (method: CalibrationMethod, routerFloat: boolean) =>
    `int8 QDQ (symmetric, per-channel MatMul weights, per-tensor activations; ${method} calibration${routerFloat ? '; router MatMuls float' : ''}${o.int8Attention ? '; attention MatMuls int8' : ''})`;
  const candidates: Built[] = [];
  for (const routerFloat of o.routerFloat === undefined ? [false, true] : [o.routerFloat])
    for (const method of methods)
      candidates.push({ name, precision: 'int8', bytes: await int8(bytes, method, routerFloat), kept: keptAll, steps: [int8Step(method, routerFloat)], method, routerFloat, pruned: false });

  // stage in a temporary folder: check parity, evaluate, time
  await fs.mkdir(path.resolve(o.out), { recursive: true });
  const stage = await fs.mkdtemp(path.join(path.resolve(o.out), '.optimize-'));
  const frameCache = new Map<string, Promise<Float32Array[]>>();
  const { readAllFrames } = await import('../video/open.js');
  const readFrames = (p: string, s: FrameSpec) => {
    const key = `${p}|${s.width}x${s.height}|${s.color}`;
    if (!frameCache.has(key)) frameCache.set(key, readAllFrames(p, s));
    return frameCache.get(key)!;
  };
  const evaluate = async (file: string): Promise<{ micro: number; macro: number | null; patchMax: number } | null> => {
    if (!o.dataset) return null;
    const p = await OnnxPredictor.load(file, { providers: ['cpu'], intraOpThreads: threads, batchSize: 8 });
    try {
      const r = await evaluateDataset(p, o.dataset, { readFrames, ...(o.videos ? { videos: o.videos } : {}), ...(sem.test ? { textFor: sem.test.textFor } : {}) });
      log.info({ model: file, micro_auc: r.micro_auc }, 'evaluated');
      return { micro: r.micro_auc, macro: r.macro_auc, patchMax: r.measures['patch-max'].micro_auc };
    } finally {
      await p.dispose();
    }
  };
  // a semantic model: captions of the test videos (evaluation) and run's caption feed (the variants' text statistics)
  const sem: { test?: Awaited<ReturnType<typeof testCaptions>>; feeds?: Awaited<ReturnType<typeof semanticFeeds>> } = {};
  const machine = `${os.cpus()[0]?.model ?? 'cpu'} (${os.cpus().length} logical cores), onnxruntime-node ${ort.env.versions.common}`;
  let srcAuc: number | null = src.evaluation?.micro_auc ?? null;
  const stageVariant = async (v: Built) => {
    const d = diff(await outputsOf(v.bytes, reader, threads), ref, change);
    log.info({ variant: `${v.precision}/${v.name}`, ...d }, 'difference to fp32 on the calibration clips');
    if (!v.pruned && !(d.rel <= VARIANT_TOLERANCE[v.precision]))
      throw new Error(
        `${v.precision}/${v.name}: rms |variant - fp32| = ${d.rms} is ${d.rel.toFixed(3)} of the predicted change (rms ${change.toFixed(5)}) on the calibration clips, over ${VARIANT_TOLERANCE[v.precision]}; nothing was written`,
      );
    const dir = path.join(stage, v.precision, `${v.method ?? ''}${v.routerFloat ? '-router-float' : ''}`);
    await fs.mkdir(dir, { recursive: true });
    const file = path.join(dir, `${v.name}.onnx`);
    await fs.writeFile(file, v.bytes);
    const ms = await timeModel(v.bytes, src, 8, threads);
    const manifest: Manifest = {
      ...src,
      name: v.name,
      file: `${v.name}.onnx`,
      sha256: sha256(v.bytes),
      bytes: v.bytes.byteLength,
      precision: v.precision,
      experts: { ...src.experts, kept: v.kept },
      parity: {
        max_abs_diff: d.max,
        tolerance: VARIANT_TOLERANCE[v.precision],
        rms_diff: d.rms,
        relative_rms: d.rel,
        check: 'relative_rms = rms_diff / rms(fp32 - last frame) <= tolerance (max_abs_diff reported only)',
        inputs: { clips: calib.source.clips, seed: 0, distribution: `calibration clips (${calibInfo.data})${v.pruned ? '; pruned: not enforced, the pruned network is a different function' : ''}` },
        reference: `fp32 ONNX model ${src.name} (sha256 ${src.sha256.slice(0, 12)})`,
        runtime: `onnxruntime-node ${ort.env.versions.common} cpu`,
      },
      optimization: { source: { name: src.name, sha256: src.sha256, micro_auc: srcAuc }, steps: v.steps, calibration: { method: v.method, ...calibInfo }, rms_vs_fp32: d.rms, relative_rms_vs_fp32: d.rel },
      benchmark: { ms_per_frame: +ms.toFixed(3), batch: 8, provider: 'cpu', threads, machine },
      created: new Date().toISOString(),
    };
    delete manifest.evaluation;
    await writeManifest(file, manifest);
    if (src.calibration) {
      // the variant's errors differ from fp32's: its own statistics on the same normal video
      manifest.calibration = await recalibrate(file, src.calibration, sem.feeds && src.calibration.semantic
        ? { stream: sem.feeds.stream, every: src.calibration.semantic.every, weight: src.calibration.semantic.weight } : undefined);
      await writeManifest(file, manifest);
    }
    const ev = await evaluate(file);
    if (ev) {
      manifest.evaluation = { dataset: path.resolve(o.dataset!), micro_auc: ev.micro, macro_auc: ev.macro, measure: textDim > 0 ? 'mse+text' : 'mse', patch_max_micro_auc: ev.patchMax, ...(o.videos ? { videos: o.videos } : {}) };
      await writeManifest(file, manifest);
    }
    return { file, manifest, ms, d, auc: ev?.micro ?? null };
  };

  try {
    if (textDim > 0) {
      if (o.dataset) sem.test = await testCaptions({ dataset: o.dataset, ...(o.testCaptions ? { captions: o.testCaptions } : {}) }, o.videos);
      if (src.calibration?.semantic) sem.feeds = await semanticFeeds(src.calibration.semantic.every);
    }
    // fp32 reference numbers
    const srcMs = await timeModel(bytes, src, 8, threads);
    if (o.dataset && !(src.evaluation && !src.evaluation.videos && !o.videos)) {
      const tmp = path.join(stage, 'fp32', path.basename(o.model));
      await fs.mkdir(path.dirname(tmp), { recursive: true });
      await fs.writeFile(tmp, bytes);
      await writeManifest(tmp, { ...src, file: path.basename(tmp) });
      srcAuc = (await evaluate(tmp))?.micro ?? null;
    }

    // int8: choose the calibration method
    const staged: Array<{ v: Built } & Awaited<ReturnType<typeof stageVariant>>> = [];
    const cand: OptimizeSummary['int8_candidates'] = [];
    for (const v of candidates) {
      const s = await stageVariant(v);
      cand.push({ method: v.method!, router_float: v.routerFloat, micro_auc: s.auc, rms_vs_fp32: s.d.rms });
      staged.push({ v, ...s });
    }
    const score = (c: (typeof cand)[number]) => (c.micro_auc ?? 0) * 1e3 - c.rms_vs_fp32; // AUC first, then error
    const best = cand.reduce((a, b) => (score(b) > score(a) ? b : a));
    const bestInt8 = staged.find((s) => s.v.method === best.method && s.v.routerFloat === best.router_float)!;
    const final = [bestInt8];
    for (const v of built) final.push({ v, ...(await stageVariant(v)) });
    const pInt8: Built = {
      name: pName,
      precision: 'int8',
      bytes: await int8(pruned32, best.method, best.router_float),
      kept: keptPruned,
      steps: [pruneStep, int8Step(best.method, best.router_float)],
      method: best.method,
      routerFloat: best.router_float,
      pruned: true,
    };
    final.push({ v: pInt8, ...(await stageVariant(pInt8)) });

    // all built and checked: move into place
    const variants: VariantSummary[] = [];
    for (const s of final) {
      const dir = path.join(path.resolve(o.out), s.v.precision);
      await fs.mkdir(dir, { recursive: true });
      const dest = path.join(dir, `${s.v.name}.onnx`);
      await fs.rename(s.file, dest);
      await writeManifest(dest, s.manifest);
      variants.push({ name: s.v.name, precision: s.v.precision, file: dest, bytes: s.v.bytes.byteLength, experts_kept: s.v.kept[0]!.length, method: s.v.method, max_abs_diff_vs_fp32: s.d.max, micro_auc: s.auc, ms_per_frame: +s.ms.toFixed(3) });
    }
    const summary: OptimizeSummary = { source: { name: src.name, sha256: src.sha256, micro_auc: srcAuc, ms_per_frame: +srcMs.toFixed(3) }, routing, kept: keptPruned, int8_candidates: cand, variants };
    print(JSON.stringify(summary));
    return summary;
  } finally {
    await sem.test?.close();
    await sem.feeds?.close();
    await fs.rm(stage, { recursive: true, force: true });
  }
}
