/**
 * `sfn-edge eval`: loads the predictor (ONNX model, TensorFlow.js weights or a baseline), scores the
 * data set with the evaluation protocol, prints a summary (or JSON) and optionally an HTML report.
 */
import { join } from 'node:path';

import { readManifest, writeManifest, type Manifest } from '../core/manifest.js';
import type { ProviderName } from '../inference/session.js';
import type { CalibrateOptions, SemanticStream } from '../scoring/calibration.js';
import type { ErrorMeasure } from '../scoring/error.js';
import { log } from '../util/log.js';
import { CopyLastPredictor, type Predictor } from '../core/predictor.js';
import { evaluateDataset, loadFrameLabels, testVideoNames } from './evaluate.js';
import { writeReport } from './report.js';

export interface EvalCommandOptions {
  model?: string;
  weights?: string;
  dataset: string;
  baseline?: 'copy-last';
  measure: ErrorMeasure;
  sigma: number;
  patch: number;
  stride?: number;
  videos?: string;
  size: string;
  json: boolean;
  report?: string;
  record?: boolean;
  providers?: string;
  /** caption file of the test videos (semantic models); made on the fly with the detector when absent */
  captions?: string;
  /** when captioning on the fly: caption every K-th frame and reuse it until the next (default SEMANTIC_CAPTION_EVERY, 2) */
  captionEvery?: number;
  /** when captioning on the fly: caption workers (default one per core, at most 4) */
  captionWorkers?: number;
  /** replay run's loop and detector (eval/online.ts) */
  online?: boolean;
  /** --online: runtime configuration file */
  config?: string;
  /** --online: normal videos for the false events per hour (default <dataset>/training/frames) */
  normal?: string;
  /** --online: frame rate, frames/s (default 10) */
  fps?: number;
  /** --online: ignore the calibration */
  uncalibrated?: boolean;
  /** add the object-level measure (boxes of the on-device detector; ~30-50 ms per frame more) */
  object?: boolean;
}

/** The on-device CenterNet detector (caption/detector.ts) as a box source for the object-level measure. */
async function boxSource(): Promise<{ boxes: (f: Float32Array, w: number, h: number) => Promise<[number, number, number, number][]>; close: () => Promise<void> }> {
  const { CenterNetDetector } = await import('../caption/detector.js');
  const det = await CenterNetDetector.load({});
  return { boxes: async (f, w, h) => (await det.detect(f, w, h, { minScore: 0.3 })).map((d) => d.box), close: () => det.dispose() };
}

/**
 * A semantic model's caption feed per stream, as `run --realtime=false` feeds it: every K-th frame
 * captioned (K = captions.every_frames, else 2) and awaited, so the replay is deterministic.
 */
export async function semanticFeeds(every: number): Promise<{ stream: (p: Predictor) => SemanticStream; close: () => Promise<void> }> {
  const { CaptionWorker } = await import('../caption/worker.js');
  const { SemanticFeed } = await import('../pipeline/semantic.js');
  const worker = await CaptionWorker.start();
  return {
    stream: (p) => {
      const feed = new SemanticFeed(worker, p.spec, p.textDim ?? 0, every, true);
      return { predictor: feed.wrap(p), onFrame: (f) => feed.onFrame(f), errors: () => feed.errors };
    },
    close: () => worker.close(),
  };
}

/** `eval --online` of a semantic model: each stream gets its captions as run feeds them (every K-th frame, each awaited). */
async function semanticStreams(every: number): Promise<{ wrap: NonNullable<import('./online.js').OnlineOptions['wrapStream']>; close: () => Promise<void> }> {
  const { SEMANTIC_CAPTION_EVERY } = await import('../caption/dataset.js');
  const feeds = await semanticFeeds(every || SEMANTIC_CAPTION_EVERY);
  return {
    wrap: (predictor, frames) => {
      const s = feeds.stream(predictor);
      return {
        predictor: s.predictor,
        frames: (async function* () {
          for await (const f of frames) {
            await s.onFrame(f.data);
            yield f;
          }
        })(),
        semanticErrors: s.errors,
      };
    },
    close: feeds.close,
  };
}

/** `sfn-edge calibrate`: calibrates a model on normal video and writes it into its manifest. */
export async function runCalibrate(o: { model: string; data: string; fpr?: number; json?: boolean }): Promise<void> {
  const { calibrateAndWrite } = await import('../scoring/calibration.js');
  const t0 = performance.now();
  // a semantic model is calibrated with its text error too, captions fed as run feeds them
  const { manifest: m } = await readManifest(o.model);
  let feeds: Awaited<ReturnType<typeof semanticFeeds>> | null = null;
  let semantic: CalibrateOptions['semantic'];
  if (m.semantic) {
    const { SEMANTIC_CAPTION_EVERY } = await import('../caption/dataset.js');
    const { defaultConfig } = await import('../core/runtime-config.js');
    feeds = await semanticFeeds(SEMANTIC_CAPTION_EVERY);
    semantic = { stream: feeds.stream, every: SEMANTIC_CAPTION_EVERY, weight: defaultConfig().semantic_weight };
  }
  let r: Awaited<ReturnType<typeof calibrateAndWrite>>;
  try {
    r = await calibrateAndWrite({
      model: o.model, data: o.data, ...(o.fpr !== undefined ? { fpr: o.fpr } : {}), ...(semantic ? { semantic } : {}),
      onProgress: (d, n) => log.info({ videos: `${d}/${n}` }, 'calibrating'),
    });
  } finally {
    await feeds?.close();
  }
  const { calibration: c, manifest } = r;
  const summary = {
    manifest, data: c.data, part: c.part, videos: c.videos, frames: c.frames, fpr: c.fpr, windows: c.patch.loc.length,
    patch: c.patch.size, stride: c.patch.stride, measures: c.measures, ...(c.semantic ? { semantic: c.semantic } : {}), seconds: +((performance.now() - t0) / 1000).toFixed(1),
  };
  process.stdout.write(o.json ? `${JSON.stringify(summary)}\n` : `${manifest}: calibrated on ${c.frames} clips of ${c.videos} videos (${c.part} part); threshold at fpr ${c.fpr}: patch-max ${c.measures['patch-max'].on_at_fpr}, mse ${c.measures.mse.on_at_fpr}\n`);
}

/** Prints `eval --online`'s result: one JSON line under `online` with `--json`, else one summary line. */
function printOnline(o: EvalCommandOptions, r: import('./online.js').OnlineResult, model: string): void {
  const per = r.videos.map((v) => ({ video: v.video, anomalous: v.anomalous, in_events: v.covered, segments: v.segments, events: v.events }));
  if (o.json) {
    process.stdout.write(`${JSON.stringify({ online: { ...r.summary, model, per_video: per } })}\n`);
    return;
  }
  const s = r.summary;
  process.stdout.write(
    `${model} online (${s.calibrated ? 'calibrated' : 'running baseline'}, ${s.measure}, on ${s.threshold.on} / off ${s.threshold.off}): micro AUC ${s.micro_auc} | ` +
      `segments detected ${s.detected}/${s.segments} | latency p50 ${s.latency_frames_p50} p90 ${s.latency_frames_p90} frames | ` +
      `anomalous frames in events ${(100 * s.anomalous_frames_in_events).toFixed(1)}% | false events/hour ${s.false_events_per_hour} (${s.false_events_check} in ${s.check_frames} check frames; 95 % upper bound ${s.false_events_per_hour_upper95}/hour) | false events on test ${s.false_events_test}\n`,
  );
}

/** `eval --online`: see eval/online.ts; prints `{"online": {...}}` with --json. */
async function runOnlineEval(o: EvalCommandOptions): Promise<void> {
  const { OnnxPredictor } = await import('../inference/predictor.js');
  const { evaluateOnline } = await import('./online.js');
  const { defaultModel } = await import('../core/default-model.js');
  const { defaultConfig, loadLayer } = await import('../core/runtime-config.js');
  const cfg = o.config ? (await loadLayer(o.config, defaultConfig())).config : defaultConfig();
  const providers = (o.providers ?? 'tensorrt,cuda,cpu').split(',').map((p) => p.trim()) as ProviderName[];
  if (o.baseline === 'copy-last') return runOnlineBaseline(o, cfg);
  const model = o.model ?? (await defaultModel());
  const p = await OnnxPredictor.load(model, { providers, batchSize: 8 });
  const videos = o.videos?.split(',').map((v) => v.trim());
  const objects = o.object ? await boxSource() : null;
  const sem = p.textDim > 0 ? await semanticStreams(cfg.captions.every_frames) : null;
  try {
    const r = await evaluateOnline(p, p.manifest, o.dataset, {
      ...(sem ? { wrapStream: sem.wrap } : {}),
      ...(objects ? { objectBoxes: (f: Float32Array) => objects.boxes(f, p.spec.width, p.spec.height) } : {}),
      config: cfg, fps: o.fps ?? 10, ...(o.normal ? { normal: o.normal } : {}), ...(videos ? { videos } : {}),
      scoring: { uncalibrated: o.uncalibrated ?? false }, onProgress: (what) => log.info({ model }, what),
    });
    if (o.report) {
      const offline = await evaluateDataset(p, o.dataset, { sigma: o.sigma, measure: o.measure, patch: o.patch, stride: o.stride ?? o.patch, ...(videos ? { videos } : {}) });
      const f = await writeReport(offline, o.report, r);
      log.info({ report: f.html }, 'report written');
    }
    printOnline(o, r, model);
  } finally {
    await p.dispose();
    await objects?.close();
    await sem?.close();
  }
}

/**
 * `eval --online --baseline copy-last`: the copy-last predictor at `--size`, calibrated on the
 * normal videos' calibration part (as `calibrate` does a model), replayed through run's loop and
 * detector like a model. The reference a model's online figures must beat.
 */
async function runOnlineBaseline(o: EvalCommandOptions, cfg: import('../core/runtime-config.js').RuntimeConfig): Promise<void> {
  const { evaluateOnline, calibratedBaseline } = await import('./online.js');
  const p = new CopyLastPredictor({ ...parseSize(o.size), color: 'gray' });
  const normal = o.normal ?? join(o.dataset, 'training', 'frames');
  const scored = await calibratedBaseline(p, normal);
  const videos = o.videos?.split(',').map((v) => v.trim());
  const r = await evaluateOnline(p, scored, o.dataset, {
    config: cfg, fps: o.fps ?? 10, normal, ...(videos ? { videos } : {}), onProgress: (what) => log.info({ model: p.name }, what),
  });
  printOnline(o, r, p.name);
}

function parseSize(s: string): { width: number; height: number } {
  const m = /^(\d+)x(\d+)$/.exec(s);
  if (!m) throw new Error(`--size must look like 144x96 (width x height), got '${s}'`);
  return { width: Number(m[1]), height: Number(m[2]) };
}

/**
 * Creates the predictor the options ask for: `--model`, `--weights` or `--baseline copy-last`;
 * with none of them, the model `run` would use (models/default.json), as `eval --online` does.
 * @throws Error when several are given, or no default model is configured.
 */
export async function predictorFor(o: EvalCommandOptions): Promise<Predictor> {
  const given = [o.model, o.weights, o.baseline].filter((x) => x !== undefined).length;
  if (given > 1) throw new Error('give only one of --model <file.onnx>, --weights <file.json> or --baseline copy-last');
  if (given === 0) {
    const { defaultModel } = await import('../core/default-model.js');
    o = { ...o, model: await defaultModel() };
    log.info({ model: o.model }, "no --model given: evaluating the model run would use");
  }
  if (o.baseline === 'copy-last') return new CopyLastPredictor({ ...parseSize(o.size), color: 'gray' });
  if (o.weights) {
    const { TfjsPredictor } = await import('../model/predictor.js');
    return TfjsPredictor.load(o.weights);
  }
  const { OnnxPredictor } = await import('../inference/predictor.js');
  const providers = (o.providers ?? 'tensorrt,cuda,cpu').split(',').map((p) => p.trim()) as ProviderName[];
  return OnnxPredictor.load(o.model!, { providers });
}

/**
 * Text features of the test videos for a semantic model: from `--captions <file>`, else captioned
 * now with the default detector captioner on a pool of caption workers (`--caption-workers`, one
 * per core by default), every `--caption-every` frames (default 2, as the device does). All test videos are queued at once, so the
 * workers caption ahead while the model scores the videos already done. Captions are cached on
 * disk (cache.ts), so a second run reads them back.
 */
export async function testCaptions(o: Pick<EvalCommandOptions, 'dataset' | 'captions' | 'captionEvery' | 'captionWorkers'>, videos: string[] | undefined): Promise<{ textFor: (video: string, path: string, frames: number) => Promise<number[][]>; close: () => Promise<void> }> {
  const { loadCaptionFile, SEMANTIC_CAPTION_EVERY } = await import('../caption/dataset.js');
  if (o.captions) {
    const file = await loadCaptionFile(o.captions);
    return {
      textFor: async (video) => {
        const c = file.videos[video];
        if (!c) throw new Error(`${o.captions} has no captions for test video ${video}`);
        return c.embeddings;
      },
      close: async () => {},
    };
  }
  const { CaptionPool, defaultCaptionWorkers } = await import('../caption/pool.js');
  const { readCachedCaptions, storeCachedCaptions } = await import('../caption/cache.js');
  const every = o.captionEvery ?? SEMANTIC_CAPTION_EVERY;
  const key = `detector-every${every}`;
  const root = join(o.dataset, 'testing', 'frames');
  const names = videos ?? (await testVideoNames(root));
  // cache hits first, in order; the misses then go to the pool in eval order
  const hits = await Promise.all(names.map((n) => readCachedCaptions(join(root, n), key)));
  const misses = names.filter((_, i) => !hits[i]);
  const workers = Math.min(o.captionWorkers ?? defaultCaptionWorkers(), Math.max(1, misses.length));
  const t0 = performance.now();
  const pool = misses.length > 0 ? await CaptionPool.start(workers) : null;
  if (pool) log.info({ videos: misses.length, workers, every }, 'captioning the test videos with the detector captioner (cached under .sfn-edge/captions; --captions <file> reuses a caption file)');
  const pending = new Map<string, Promise<number[][]>>();
  names.forEach((name, i) => {
    const path = join(root, name);
    const hit = hits[i];
    const p = hit
      ? Promise.resolve(hit.embeddings)
      : pool!.captionVideo(path, every).then(async (c) => {
          await storeCachedCaptions(path, key, c);
          log.info({ video: name, frames: c.texts.length, seconds: +((performance.now() - t0) / 1000).toFixed(1) }, 'captions');
          return c.embeddings;
        });
    p.catch(() => {}); // awaited in eval order by textFor; this only marks it handled meanwhile
    pending.set(name, p);
  });
  return {
    textFor: async (video, path) => pending.get(video) ?? Promise.reject(new Error(`no captions were queued for ${path}`)),
    close: async () => {
      await pool?.close();
    },
  };
}

export async function runEval(o: EvalCommandOptions): Promise<void> {
  await loadFrameLabels(o.dataset); // a wrong --dataset fails before the model is loaded
  if (o.online) {
    if (o.weights || (o.baseline && o.model)) throw new Error('--online replays run, which runs ONNX models: give --model <file.onnx> (or none for run\'s default), or --baseline copy-last alone');
    return runOnlineEval(o);
  }
  const predictor = await predictorFor(o);
  const videos = o.videos?.split(',').map((v) => v.trim());
  const text = (predictor.textDim ?? 0) > 0 ? await testCaptions(o, videos) : undefined;
  let result: Awaited<ReturnType<typeof evaluateDataset>>;
  const { calibrationOf } = await import('../scoring/calibration.js');
  const manifest = (predictor as { manifest?: Manifest }).manifest;
  const calibration = manifest ? calibrationOf(manifest) : null;
  const objects = o.object ? await boxSource() : null;
  try {
    result = await evaluateDataset(predictor, o.dataset, {
      ...(calibration ? { calibration } : {}),
      ...(objects ? { boxesFor: (f: Float32Array) => objects.boxes(f, predictor.spec.width, predictor.spec.height) } : {}),
      ...(text ? { textFor: text.textFor } : {}),
      sigma: o.sigma,
      measure: o.measure,
      patch: o.patch,
      stride: o.stride ?? o.patch,
      ...(videos ? { videos } : {}),
    });
  } finally {
    await text?.close();
    await objects?.close();
  }
  if (o.report) {
    const r = await writeReport(result, o.report);
    log.info({ report: r.html }, 'report written');
  }
  const other = result.measures;
  const summary = {
    micro_auc: +result.micro_auc.toFixed(4),
    macro_auc: result.macro_auc === null ? null : +result.macro_auc.toFixed(4),
    frames: result.frames,
    fps: +result.fps.toFixed(1),
    measure: result.semantic ? `${result.measure}+text` : result.measure,
    predictor: result.predictor,
    mse: { micro_auc: +other.mse.micro_auc.toFixed(4), macro_auc: other.mse.macro_auc === null ? null : +other.mse.macro_auc.toFixed(4) },
    patch_max: {
      micro_auc: +other['patch-max'].micro_auc.toFixed(4),
      macro_auc: other['patch-max'].macro_auc === null ? null : +other['patch-max'].macro_auc.toFixed(4),
      patch: result.patch,
      stride: result.stride,
    },
    ...(result.localised
      ? {
          localised: Object.fromEntries(
            Object.entries(result.localised).map(([k, v]) => [k, { micro_auc: +v.micro_auc.toFixed(4), macro_auc: v.macro_auc === null ? null : +v.macro_auc.toFixed(4) }]),
          ),
        }
      : {}),
    ...(result.semantic
      ? {
          semantic: {
            weights: result.semantic.weights,
            text: { micro_auc: +result.semantic.text.micro_auc.toFixed(4), macro_auc: result.semantic.text.macro_auc === null ? null : +result.semantic.text.macro_auc.toFixed(4) },
            combined: { micro_auc: +result.semantic.combined.micro_auc.toFixed(4), macro_auc: result.semantic.combined.macro_auc === null ? null : +result.semantic.combined.macro_auc.toFixed(4) },
          },
        }
      : {}),
    // an array, not an object: JSON objects put integer-like keys ("10") before "01"
    per_video: result.per_video.map((v) => ({ video: v.name, auc: v.auc === null ? null : +v.auc.toFixed(4), frames: v.frames })),
  };
  if (o.record) {
    if (!o.model) throw new Error('--record needs --model (the manifest of an ONNX model is where the result goes)');
    const { manifest } = await readManifest(o.model);
    manifest.evaluation = {
      dataset: o.dataset,
      micro_auc: summary.micro_auc,
      macro_auc: summary.macro_auc,
      measure: summary.measure,
      sigma: o.sigma,
      mse: summary.mse,
      patch_max: summary.patch_max,
      per_video: summary.per_video,
      ...(summary.semantic ? { semantic: summary.semantic } : {}),
      fps: summary.fps,
      frames: summary.frames,
      command: `sfn-edge eval --model ${o.model} --dataset ${o.dataset}${o.captions ? ` --captions <captions of ${o.dataset}/testing/frames from sfn-edge caption>` : ''}`,
      at: new Date().toISOString(),
    };
    await writeManifest(o.model, manifest);
  }
  if (o.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else {
    process.stdout.write(
      `${result.predictor}: micro AUC ${summary.micro_auc} | macro AUC ${summary.macro_auc} (${result.measure}) | ` +
        `mse ${summary.mse.micro_auc}/${summary.mse.macro_auc} | patch-max ${summary.patch_max.micro_auc}/${summary.patch_max.macro_auc} | ` +
        Object.entries(summary.localised ?? {}).map(([k, v]) => `${k} ${v.micro_auc}/${v.macro_auc} | `).join('') +
        `${result.frames} frames, ${summary.fps} frames/s\n`,
    );
  }
}
