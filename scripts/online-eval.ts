/**
 * How the online scorer and event detector of `sfn-edge run` do on a labelled data set (Ped2 layout):
 * for each test video, frames are scored as `run --realtime=false` would (same loop, same detector,
 * default or given configuration), then reported:
 * - online micro AUC: ROC AUC of the online smoothed score (robust z, causal smoothing) over all
 *   scored frames of all videos, next to the same model's offline protocol AUC from its manifest;
 * - coverage: the fraction of labelled anomalous frames inside an event (start..end inclusive);
 * - false events: events whose frames are all labelled normal; and per video the events (frames, peak).
 * With SFN_CARRY=1 the videos are played as one camera's stream: one detector for all of them, so
 * the running baseline learnt on earlier videos carries over (Ped2's test videos are one scene, and
 * several start with the anomaly already in view, which a per-video baseline cannot flag).
 * A model with the semantic branch is fed captions as `run --realtime=false` feeds it (every
 * `captions.every_frames` frames, default 2, waiting for each), and its semantic error enters the
 * score with `semantic_weight`.
 * Usage: [SFN_CARRY=1] node --import tsx scripts/online-eval.ts <model.onnx> [dataset root] [config.json]
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EventDetector, type AnomalyEvent } from '../src/events/detector.js';
import { OnnxPredictor } from '../src/inference/predictor.js';
import { detectorParams } from '../src/runtime/command.js';
import { defaultConfig, loadLayer } from '../src/runtime/config.js';
import { runLoop } from '../src/runtime/loop.js';
import { SemanticFeed } from '../src/runtime/semantic.js';
import { CaptionWorker } from '../src/caption/worker.js';
import { SEMANTIC_CAPTION_EVERY } from '../src/caption/dataset.js';
import type { Frame } from '../src/video/source.js';
import { rocAuc } from '../src/scoring/auc.js';
import { listVideos, openSource } from '../src/video/open.js';

const [model, root = '../shared/datasets/ucsd_ped2', cfgFile] = process.argv.slice(2);
if (!model) throw new Error('usage: online-eval.ts <model.onnx> [dataset root] [config.json]');
const cfg = cfgFile ? (await loadLayer(cfgFile, defaultConfig())).config : defaultConfig();
const labels = JSON.parse(await readFile(join(root, 'test_frame_labels.json'), 'utf8')) as Record<string, number[]>;
const p = await OnnxPredictor.load(model, { providers: ['cpu'], batchSize: 8 });
const allS: number[] = [];
const allL: number[] = [];
let anomalous = 0;
let covered = 0;
let falseEvents = 0;
const videos: unknown[] = [];
const carry = process.env.SFN_CARRY === '1';
// SFN_SEED=<n>: seed each detector with the errors of the first n normal training videos (calibration)
const seedVideos = Number(process.env.SFN_SEED ?? 0);
const seeds: number[] = [];
for (const v of (await listVideos(join(root, 'training/frames'))).slice(0, seedVideos)) {
  const src = await openSource(v, p.spec);
  await runLoop({
    frames: src.frames(), predictor: p, detector: new EventDetector(detectorParams(cfg), ''), measure: () => cfg.measure, realtime: false, fps: 10, paceByClock: false, batch: 8,
    onEvent: () => undefined, onScore: (_f, raw) => seeds.push(raw),
  });
  await src.close();
}
const worker = p.textDim > 0 ? await CaptionWorker.start() : null;
/** the predictor, frames and semantic errors for one video: a fresh caption feed per video */
function semanticRun(frames: AsyncIterable<Frame>) {
  if (!worker) return { predictor: p, frames };
  const feed = new SemanticFeed(worker, p.spec, p.textDim, cfg.captions.every_frames || SEMANTIC_CAPTION_EVERY, true);
  return {
    predictor: feed.wrap(p),
    frames: (async function* () {
      for await (const f of frames) {
        await feed.onFrame(f.data);
        yield f;
      }
    })(),
    semanticErrors: () => feed.errors,
  };
}
const shared = new EventDetector(detectorParams(cfg), p.manifest.sha256);
shared.seed(seeds.slice(-cfg.baseline_window));
for (const v of await listVideos(join(root, 'testing/frames'))) {
  const name = v.split('/').at(-1)!;
  const lab = labels[name] ?? [];
  let det = shared;
  if (!carry) {
    det = new EventDetector(detectorParams(cfg), p.manifest.sha256);
    det.seed(seeds.slice(-cfg.baseline_window));
  }
  const ends: AnomalyEvent[] = [];
  const news: number[] = [];
  const src = await openSource(v, p.spec);
  await runLoop({
    ...semanticRun(src.frames()), detector: det, measure: () => cfg.measure, realtime: false, fps: 10, paceByClock: false, batch: 8,
    onEvent: (e) => (e.type === 'end' ? ends.push(e) : e.type === 'new' ? news.push(e.last.frame) : undefined),
    onScore: (f, _raw, s) => {
      allS.push(s);
      allL.push(lab[f] ?? 0);
    },
  });
  await src.close();
  const inEvent = new Set<number>();
  for (const e of ends) {
    let anyAnomalous = false;
    for (let f = e.start.frame; f <= e.end!.frame; f++) {
      inEvent.add(f);
      if (lab[f]) anyAnomalous = true;
    }
    if (!anyAnomalous) falseEvents += 1;
  }
  const a = lab.filter((x) => x === 1).length;
  const c = lab.filter((x, i) => x === 1 && inEvent.has(i)).length;
  anomalous += a;
  covered += c;
  videos.push({ video: name, anomalous: a, covered: c, events: ends.map((e) => ({ start: e.start.frame, end: e.end!.frame, new_at: news.shift(), peak: +e.peak.score.toFixed(2), peak_frame: e.peak.frame })) });
}
await p.dispose();
await worker?.close();
process.stdout.write(`${JSON.stringify({
  model, carry, seed_videos: seedVideos, seed_frames: seeds.length, config: cfg, online_micro_auc: +rocAuc(allS, allL).toFixed(4),
  offline: (p.manifest as { evaluation?: unknown }).evaluation ?? null,
  anomalous_frames: anomalous, covered_frames: covered, coverage: +(covered / Math.max(1, anomalous)).toFixed(4), false_events: falseEvents, videos,
}, null, 1)}\n`);
