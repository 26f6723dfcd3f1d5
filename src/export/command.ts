/**
 * `sfn-edge export`: weights -> `<out>.onnx` + `<out>.manifest.json`, verified.
 *
 * `--from-onnx <old.onnx>` rebuilds an earlier sfn-edge export in the current graph layout from its
 * own initialisers (unfold.ts), for models whose checkpoint is gone: the reference of the parity
 * check is then the old graph under ONNX Runtime, and the manifest is the old one with the new
 * file's sha256, size, parity and time (training, evaluation and calibration describe the same
 * function, so they carry over).
 *
 * The graph (graph.ts) is written to a temporary file, run with ONNX Runtime (CPU) on seeded random
 * clips and compared with the TensorFlow.js network (TfjsPredictor) on the same clips; only when
 * the two agree within {@link PARITY_TOLERANCE} is the model renamed into place and its manifest
 * written. A failed check leaves any previous model and manifest untouched.
 */
import { listVideos, readAllFrames } from '../video/open.js';
import fs from 'node:fs/promises';
import path from 'node:path';
import { ort, type Ort } from '../inference/ort.js';
import { derived } from '../core/model-config.js';
import { TfjsPredictor } from '../model/predictor.js';
import { rng } from '../model/sfn.js';
import { loadWeights } from '../model/checkpoint.js';
import { log } from '../util/log.js';
import { createSession } from '../inference/session.js';
import { buildGraph, OPSET } from './graph.js';
import { weightsFromExport } from './unfold.js';
import { readManifest, sha256, writeManifest, type Manifest } from '../core/manifest.js';

/** Largest accepted |ONNX Runtime - TensorFlow.js| over all output values of the parity clips. */
export const PARITY_TOLERANCE = 1e-4;
/** Seed of the parity clips (uniform in [0, 1], mulberry32 from src/model/sfn.ts). */
export const PARITY_SEED = 20250601;

/** Options of {@link runExport} (the `export` command's flags). */
export interface ExportOptions {
  /** weights `<base>.json` written by `train` (a snapshot or a checkpoint); or use `fromOnnx` */
  weights?: string;
  /** an earlier sfn-edge fp32 export (manifest beside it) to rebuild in the current layout instead of `weights` */
  fromOnnx?: string;
  /** output `.onnx` path; the manifest goes beside it */
  out: string;
  /** model name in the manifest (default: the output file's base name) */
  name?: string;
  /** fixed batch size; omitted = dynamic 'N' */
  batch?: number;
  /** folder of videos whose first clips are the parity inputs instead of seeded uniform noise */
  parityData?: string;
}

/** What {@link runExport} prints (one JSON line) and returns; `bytes` of the .onnx, `model`/`manifest` absolute paths. */
export interface ExportSummary {
  model: string;
  manifest: string;
  sha256: string;
  bytes: number;
  max_abs_diff: number;
}

async function packageVersion(): Promise<string> {
  try {
    const pkg = JSON.parse(await fs.readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

function concat(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/**
 * max |a - b| over `a` and `b` (same length); NaN if either holds a NaN (so NaN fails the check).
 */
export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`parity: outputs differ in length (${a.length} vs ${b.length})`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= m)) m = d; // NaN propagates
  }
  return m;
}

/**
 * Exports `o.weights` to `o.out` (+ manifest), parity-checked; prints one summary JSON line
 * `{model, manifest, sha256, bytes, max_abs_diff}` through `print` (default: stdout).
 * @throws Error when the weights cannot be read, the configuration cannot be exported (textDim > 0),
 *   or the parity check fails (max abs diff > 1e-4, or NaN); nothing is written in those cases.
 */
export async function runExport(o: ExportOptions, print: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): Promise<ExportSummary> {
  if (!o.weights === !o.fromOnnx) throw new Error('export: give either --weights or --from-onnx');
  const old = o.fromOnnx ? await readManifest(o.fromOnnx) : null;
  const source = old ? { header: null, ...weightsFromExport(old.bytes, o.fromOnnx) } : await loadWeights(o.weights!).then(({ header, arrays }) => ({ header, arrays, cfg: header.config }));
  const { arrays, cfg } = source;
  const out = path.resolve(o.out);
  const name = o.name ?? path.basename(out, path.extname(out));
  const g = buildGraph(cfg, arrays, { ...(o.batch !== undefined ? { batch: o.batch } : {}), name, producerVersion: await packageVersion() });
  log.info({ weights: o.weights ?? o.fromOnnx, ...g.stats, bytes: g.bytes.byteLength }, 'onnx graph built');

  // parity: the same seeded clips through TensorFlow.js and ONNX Runtime (CPU)
  const clips = o.batch ?? 2;
  const d = derived(cfg);
  const frame = d.channels * cfg.height * cfg.width;
  // Seeded uniform noise by default. Top-k routing is discontinuous: on noise far from anything the
  // network saw, two experts' router probabilities can tie to within float rounding, and the two
  // runtimes may then pick different experts for a token (measured: a no-residual Ped2 snapshot
  // differed by 1.2e-2 on 2 of 432 noise tokens, and by 1.2e-7 on real Ped2 clips). --parity-data
  // checks on real frames instead.
  let x: Float32Array;
  if (o.parityData) {
    const [first] = await listVideos(o.parityData);
    const frames = await readAllFrames(first!, { width: cfg.width, height: cfg.height, color: cfg.color });
    if (frames.length < clips + cfg.pastFrames - 1) throw new Error(`${first}: ${frames.length} frames is too few for ${clips} parity clips`);
    x = new Float32Array(clips * cfg.pastFrames * frame);
    for (let i = 0; i < clips; i++) for (let f = 0; f < cfg.pastFrames; f++) x.set(frames[i + f]!, (i * cfg.pastFrames + f) * frame);
  } else {
    const rand = rng(PARITY_SEED);
    x = Float32Array.from({ length: clips * cfg.pastFrames * frame }, () => rand());
  }
  // semantic branch: seeded text features, non-negative like real ones (embed.ts)
  const textRand = rng(PARITY_SEED + 1);
  const text = cfg.textDim > 0 ? Float32Array.from({ length: clips * cfg.textDim }, () => textRand()) : undefined;
  // both graphs take the same feeds (the input/output names are the exporter's constants)
  const runOnnx = async (bytes: Uint8Array, label: string): Promise<Float32Array> => {
    const { session } = await createSession(bytes, { providers: ['cpu'] }, label);
    try {
      const feeds: Record<string, Ort.Tensor> = { [g.input.name]: new ort.Tensor('float32', x, [clips, cfg.pastFrames * d.channels, cfg.height, cfg.width]) };
      if (text && g.text) feeds[g.text.input.name] = new ort.Tensor('float32', text, [clips, cfg.textDim]);
      const res = await session.run(feeds);
      let y: Float32Array = (res[g.output.name]!.data as Float32Array).slice();
      if (text && g.text) y = concat(y, res[g.text.output.name]!.data as Float32Array);
      return y;
    } finally {
      await session.release();
    }
  };
  let ref: Float32Array;
  if (old) ref = await runOnnx(old.bytes, `${o.fromOnnx} (the export rebuilt)`);
  else {
    const tfjs = await TfjsPredictor.load(o.weights!, clips);
    try {
      if (text) {
        const r = await tfjs.predictWithText(x, clips, text);
        ref = concat(r.pred, r.text);
      } else ref = await tfjs.predict(x, clips);
    } finally {
      tfjs.dispose();
    }
  }
  const got = await runOnnx(g.bytes, `${out} (exported graph)`);
  const diff = maxAbsDiff(got, ref);
  if (!(diff <= PARITY_TOLERANCE))
    throw new Error(
      `parity check failed for ${o.weights ?? o.fromOnnx}: max |onnx - ${old ? 'old onnx' : 'tfjs'}| = ${diff} over ${clips} seeded clips exceeds ${PARITY_TOLERANCE}; ` +
        `nothing was written. ${o.parityData ? 'This is an exporter bug: report it with the weights file' : 'On noise inputs a top-k routing near-tie can flip one expert; check on real frames with --parity-data <folder of normal videos>, and report an exporter bug if that fails too'}`,
    );

  await fs.mkdir(path.dirname(out), { recursive: true });
  const tmp = `${out}.tmp-${process.pid}`;
  await fs.writeFile(tmp, g.bytes);
  await fs.rename(tmp, out);

  const parity = {
    max_abs_diff: diff,
    tolerance: PARITY_TOLERANCE,
    inputs: { clips, seed: PARITY_SEED, distribution: o.parityData ? `first clips of ${o.parityData}` : 'uniform [0,1] per pixel (mulberry32)' },
    reference: old ? `the ONNX export it was rebuilt from (${old.manifest.name}, sha256 ${old.manifest.sha256.slice(0, 12)}, export --from-onnx)` : 'TensorFlow.js (src/model/sfn.ts forward)',
    runtime: `onnxruntime-node ${ort.env.versions.common} cpu`,
  };
  if (old) {
    const manifest: Manifest = { ...old.manifest, name, file: path.basename(out), sha256: sha256(g.bytes), bytes: g.bytes.byteLength, parity, created: new Date().toISOString() };
    const manifestPath = await writeManifest(out, manifest);
    const summary: ExportSummary = { model: out, manifest: manifestPath, sha256: manifest.sha256, bytes: manifest.bytes, max_abs_diff: diff };
    print(JSON.stringify(summary));
    return summary;
  }
  const meta = source.header!.meta;
  const steps = num(meta.step);
  const perEpoch = num(meta.samplesPerEpoch) !== null && num(meta.batch) ? num(meta.samplesPerEpoch)! / num(meta.batch)! : null;
  const manifest: Manifest = {
    format: 'sfn-edge-manifest/1',
    name,
    file: path.basename(out),
    sha256: sha256(g.bytes),
    bytes: g.bytes.byteLength,
    precision: 'fp32',
    opset: OPSET,
    inputs: [
      {
        name: g.input.name,
        shape: g.input.shape.map((v) => (typeof v === 'number' ? v : 'N')),
        dtype: 'float32',
        layout: 'NCHW: 4 past frames x C, oldest first',
        range: [0, 1],
      },
      ...(g.text
        ? [{ name: g.text.input.name, shape: g.text.input.shape.map((v) => (typeof v === 'number' ? v : 'N')), dtype: 'float32' as const, layout: `[N, ${cfg.textDim}]: text feature of the clip's caption (src/caption/embed.ts)`, range: [0, 4] as [number, number], note: 'log(1 + summed detection scores) per slot' }]
        : []),
    ],
    outputs: [
      {
        name: g.output.name,
        shape: g.output.shape.map((v) => (typeof v === 'number' ? v : 'N')),
        dtype: 'float32',
        layout: 'NCHW: the predicted next frame, C channels',
        range: [0, 1],
        note: 'nominal range; not clamped (last frame + predicted change)',
      },
      ...(g.text
        ? [{ name: g.text.output.name, shape: g.text.output.shape.map((v) => (typeof v === 'number' ? v : 'N')), dtype: 'float32' as const, layout: `[N, ${cfg.textDim}]: predicted text feature; semantic error = 1 - cos(text, text_pred)`, range: [0, 4] as [number, number], note: 'nominal range; not clamped' }]
        : []),
    ],
    normalisation: {
      range: [0, 1],
      color: cfg.color,
      channels: d.channels,
      width: cfg.width,
      height: cfg.height,
      note: `frames resized (bilinear) to ${cfg.width}x${cfg.height}, ${cfg.color === 'gray' ? 'gray (1 plane)' : 'R, G, B planes'}, value/255, no mean/std`,
    },
    model: cfg,
    experts: {
      count: cfg.experts,
      topK: cfg.topK,
      expertDim: cfg.expertDim,
      shared: cfg.sharedExperts,
      gateScale: cfg.gateScale,
      kept: Array.from({ length: cfg.blocks }, () => Array.from({ length: cfg.experts }, (_, i) => i)),
    },
    training: {
      weights: path.basename(o.weights!.replace(/\.(json|bin)$/, '')),
      data: typeof meta.data === 'string' ? meta.data : null,
      steps,
      ...(num(meta.lastStep) !== null ? { last_step: num(meta.lastStep)! } : {}),
      epochs: num(meta.epochs),
      epochs_completed: steps !== null && perEpoch ? +(steps / perEpoch).toFixed(3) : null,
      seed: num(meta.seed),
      batch: num(meta.batch),
      lr: num(meta.lr),
      seconds: num(meta.seconds),
      ...(typeof meta.init === 'string' ? { init: path.join(path.basename(path.dirname(meta.init)), path.basename(meta.init.replace(/\.(json|bin)$/, ''))) } : {}),
      ...(typeof meta.trainOnly === 'string' ? { train_only: meta.trainOnly } : {}),
      ...(typeof meta.captions === 'string' ? { captions: path.basename(meta.captions) } : {}),
    },
    parity,
    ...(cfg.textDim > 0
      ? { semantic: { textDim: cfg.textDim, captioner: typeof meta.captioner === 'string' ? meta.captioner : 'detector', weights: { frame: 0.8, text: 0.2 }, note: 'score = 0.8 * frame error + 0.2 * (1 - cos), each min-max normalised and smoothed (the seed paper, Ped2)' } }
      : {}),
    created: new Date().toISOString(),
  };
  const manifestPath = await writeManifest(out, manifest);
  const summary: ExportSummary = { model: out, manifest: manifestPath, sha256: manifest.sha256, bytes: manifest.bytes, max_abs_diff: diff };
  print(JSON.stringify(summary));
  return summary;
}
