/**
 * `sfn-edge train`: trains SFN-Lite on a folder of normal videos with AdamW, warm-up + cosine decay
 * and gradient clipping; checkpoints (every `checkpointEvery` steps and at every epoch end, plus a
 * weights snapshot per epoch for AUC-vs-time curves), `--resume`, and a fixed seed: the same seed,
 * data and options give the same weights (data order and initialisation come from seeded PRNGs).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import cliProgress from 'cli-progress';
import { initBackend, tf } from '../model/backend.js';
import { derived, makeConfig, type SfnConfig } from '../model/config.js';
import { countParams, disposeParams, initParams, paramsFromArrays, rng, type Params } from '../model/sfn.js';
import { log } from '../util/log.js';
import { loadCaptionFile, type CaptionFile } from '../caption/dataset.js';
import { loadWeights, saveWeights } from './checkpoint.js';
import { loadClips, makeBatch, shuffled } from './data.js';
import { AdamW, DEFAULT_ADAMW, lrAt } from './optimizer.js';
import { trainStep, type StepStats } from './step.js';

export interface TrainOptions {
  /** folder of normal videos (image-sequence subfolders or video files) */
  data: string;
  /** output folder: checkpoint.{json,bin}, snapshots/epoch-NNN.{json,bin}, history.jsonl, weights.{json,bin} */
  out: string;
  epochs: number;
  batch: number;
  /** peak learning rate */
  lr: number;
  /** warm-up steps */
  warmup: number;
  seed: number;
  resume: boolean;
  /** model hyper-parameters (ignored on resume: the checkpoint's are used) */
  model: Partial<SfnConfig>;
  /** use only the first N videos (tests, quick runs) */
  limitVideos?: number;
  /** train for at most this many steps in total (shortens the schedule; tests, quick runs) */
  maxSteps?: number;
  /** stop (after checkpointing) once this step is reached, keeping the schedule of the full run: a
   * time-boxed session that a later `--resume` continues exactly */
  stopAfter?: number;
  checkpointEvery: number;
  weightDecay: number;
  clipNorm: number;
  /** caption file of the training videos (`sfn-edge caption`): trains the semantic branch, textDim from the file */
  captions?: string;
  /** weight of the semantic loss L_sim (default 1, the paper's; its gradients dwarf the frame
   * losses' here, so fine-tuning a trained frame model uses less) */
  simWeight?: number;
  /** train only the parameters whose names start with one of these prefixes (the rest are frozen),
   * e.g. ['embed.text', 'head.text']: add the semantic branch to a trained frame model without
   * changing its frame path */
  trainOnly?: string[];
  /** start from these weights (fine-tuning): parameters with the same name and shape are copied,
   * the others (e.g. a new semantic branch) keep their fresh initialisation */
  init?: string;
  /** show a progress bar (default: when stderr is a TTY; otherwise a log line every 30 s) */
  progress?: boolean;
}

export interface TrainResult {
  config: SfnConfig;
  steps: number;
  seconds: number;
  samplesPerSecond: number;
  weights: string;
  parameters: number;
}

function paramsToMap(p: Params): Map<string, tf.Tensor> {
  return new Map([...p].map(([k, v]) => [k, v as tf.Tensor]));
}

/** Trains and returns where the final weights are. Throws on unreadable data or divergence. */
export async function train(o: TrainOptions): Promise<TrainResult> {
  const backend = await initBackend();
  await fs.mkdir(o.out, { recursive: true });
  const ckpt = path.join(o.out, 'checkpoint');
  const captions: CaptionFile | undefined = o.captions ? await loadCaptionFile(o.captions) : undefined;
  let initFrom: Awaited<ReturnType<typeof loadWeights>> | undefined;
  if (o.init) initFrom = await loadWeights(o.init.replace(/\.(json|bin)$/, ''));
  let config = makeConfig({ ...(initFrom ? initFrom.header.config : {}), ...o.model, ...(captions ? { textDim: captions.textDim } : {}) });
  let params: Params;
  let opt: AdamW;
  let startStep = 0;
  let priorSeconds = 0;
  const resumeFrom = o.resume ? await fs.stat(`${ckpt}.json`).then(() => true, () => false) : false;
  if (o.resume && !resumeFrom) log.warn({ out: o.out }, 'no checkpoint to resume from; starting fresh');
  if (resumeFrom) {
    const { header, arrays } = await loadWeights(ckpt);
    config = header.config;
    params = paramsFromArrays(arrays);
    opt = new AdamW(params, { ...DEFAULT_ADAMW, weightDecay: o.weightDecay, clipNorm: o.clipNorm });
    for (const [name, a] of arrays) {
      const [pn, kind] = name.split('/');
      const target = kind === 'm' ? opt.m.get(pn!) : kind === 'v' ? opt.v.get(pn!) : undefined;
      target?.assign(tf.tensor(a.data, a.shape));
    }
    startStep = Number(header.meta.step ?? 0);
    priorSeconds = Number(header.meta.seconds ?? 0);
    opt.step = startStep;
    log.info({ step: startStep }, 'resumed from checkpoint');
  } else {
    params = initParams(config, o.seed);
    if (initFrom) {
      let copied = 0;
      for (const [name, a] of initFrom.arrays) {
        const v = params.get(name);
        if (v && v.shape.join() === a.shape.join()) {
          v.assign(tf.tensor(a.data, a.shape));
          copied++;
        }
      }
      log.info({ init: o.init, copied, fresh: params.size - copied }, 'initialised from weights');
    }
    opt = new AdamW(params, { ...DEFAULT_ADAMW, weightDecay: o.weightDecay, clipNorm: o.clipNorm });
  }
  if (o.trainOnly?.length) {
    const only = o.trainOnly;
    let frozen = 0;
    for (const [name, v] of params)
      if (!only.some((pre) => name.startsWith(pre))) {
        v.trainable = false;
        frozen++;
      }
    if (frozen === params.size) throw new Error(`--train-only ${only.join(',')} matches no parameter; names look like embed.text.w, head.text.w, block0.sffm.router`);
    log.info({ trainOnly: only, frozen, trained: params.size - frozen }, 'training a subset of the parameters');
  }
  const g = derived(config);
  if (config.textDim > 0 && !captions) throw new Error(`this model has a semantic branch (textDim ${config.textDim}): give --captions <file> made by \`sfn-edge caption\``);
  const set = await loadClips(o.data, config, o.limitVideos, config.textDim > 0 ? captions : undefined);
  const stepsPerEpoch = Math.floor(set.samples.length / o.batch);
  if (stepsPerEpoch < 1) throw new Error(`${o.data}: ${set.samples.length} samples is fewer than one batch of ${o.batch}; lower --batch`);
  const totalSteps = Math.min(o.epochs * stepsPerEpoch, o.maxSteps ?? Infinity);
  const rowLen = { app: g.appearanceLen, mot: g.motionLen, out: g.outLen };
  log.info(
    { backend, parameters: countParams(params), videos: set.videos.length, samples: set.samples.length, stepsPerEpoch, totalSteps, config },
    'training SFN-Lite',
  );

  const history = await fs.open(path.join(o.out, 'history.jsonl'), 'a');
  const meta = () => ({ ...(o.init ? { init: path.resolve(o.init) } : {}), ...(o.captions ? { captions: path.resolve(o.captions), captioner: captions?.captioner } : {}), seed: o.seed, ...(o.captions ? { simWeight: o.simWeight ?? 1 } : {}), ...(o.trainOnly ? { trainOnly: o.trainOnly.join(',') } : {}), batch: o.batch, lr: o.lr, warmup: o.warmup, epochs: o.epochs, data: path.resolve(o.data), videos: set.videos.length, samplesPerEpoch: stepsPerEpoch * o.batch });
  const save = async (step: number, seconds: number) => {
    const all = paramsToMap(params);
    for (const [k, v] of opt.m) all.set(`${k}/m`, v);
    for (const [k, v] of opt.v) all.set(`${k}/v`, v);
    await saveWeights(ckpt, config, all, { ...meta(), step, seconds });
  };

  const showBar = o.progress ?? process.stderr.isTTY;
  const bar = new cliProgress.SingleBar(
    { format: 'train |{bar}| {value}/{total} steps | epoch {epoch} | loss {loss} | {sps} samples/s | eta {eta_formatted}', noTTYOutput: false, stream: process.stderr, hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  if (showBar) bar.start(totalSteps, startStep, { epoch: 0, loss: '-', sps: '-' });

  const t0 = performance.now();
  let lastLog = t0;
  let ema: StepStats | null = null;
  let order: Array<[number, number]> = [];
  let orderEpoch = -1;
  let step = startStep;
  try {
    const stopAt = Math.min(totalSteps, o.stopAfter ?? Infinity);
    while (step < stopAt) {
      const epoch = Math.floor(step / stepsPerEpoch);
      if (epoch !== orderEpoch) {
        order = shuffled(set.samples, rng(o.seed * 1000 + epoch));
        orderEpoch = epoch;
      }
      const i = step % stepsPerEpoch;
      const batch = makeBatch(set, config, order.slice(i * o.batch, (i + 1) * o.batch));
      const lr = lrAt(step, totalSteps, o.lr, o.warmup);
      const s = trainStep(params, config, opt, batch, lr, rowLen, o.simWeight ?? 1);
      step += 1;
      ema = ema ? (Object.fromEntries(Object.entries(s).map(([k, v]) => [k, 0.95 * ema![k as keyof StepStats] + 0.05 * v])) as unknown as StepStats) : s;
      const seconds = priorSeconds + (performance.now() - t0) / 1000;
      const sps = ((step - startStep) * o.batch) / ((performance.now() - t0) / 1000);
      await history.write(JSON.stringify({ step, epoch, lr, ...s, seconds: +seconds.toFixed(2) }) + '\n');
      if (showBar) bar.update(step, { epoch, loss: ema.loss.toFixed(5), sps: sps.toFixed(1) });
      else if (performance.now() - lastLog > 30_000) {
        lastLog = performance.now();
        log.info({ step, totalSteps, epoch, loss: +ema.loss.toFixed(6), pred: +ema.pred.toFixed(6), sim: +ema.sim.toFixed(5), aux: +ema.aux.toFixed(5), lr: +lr.toExponential(3), samplesPerSecond: +sps.toFixed(2) }, 'train');
      }
      const epochEnd = step % stepsPerEpoch === 0;
      if (epochEnd || step % o.checkpointEvery === 0 || step === stopAt) await save(step, seconds);
      if (epochEnd) {
        const ep = String(step / stepsPerEpoch).padStart(3, '0');
        await saveWeights(path.join(o.out, 'snapshots', `epoch-${ep}`), config, paramsToMap(params), { ...meta(), step, seconds });
      }
    }
  } finally {
    if (showBar) bar.stop();
    await history.close();
  }
  const seconds = (performance.now() - t0) / 1000;
  const weights = path.join(o.out, 'weights');
  await saveWeights(weights, config, paramsToMap(params), { ...meta(), step, seconds: priorSeconds + seconds });
  const parameters = countParams(params);
  disposeParams(params);
  opt.dispose();
  return {
    config,
    steps: step,
    seconds: priorSeconds + seconds,
    samplesPerSecond: ((step - startStep) * o.batch) / Math.max(seconds, 1e-9),
    weights: `${weights}.json`,
    parameters,
  };
}
