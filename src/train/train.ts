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
import { derived, makeConfig, type SfnConfig } from '../core/model-config.js';
import { countParams, disposeParams, initParams, paramsFromArrays, rng, type Params } from '../model/sfn.js';
import { log } from '../util/log.js';
import { loadCaptionFile, type CaptionFile } from '../caption/dataset.js';
import { loadWeights, saveWeights } from '../model/checkpoint.js';
import { loadClips, makeBatch, shuffled, skipSamples, withPart } from './data.js';
import { gridFor, RECIPE_MODEL, RECIPE_PSEUDO_SHARE, scheduleFor } from './recipe.js';
import { SKIP_STRIDES, validate, validationSet, type ValidationResult } from './validate.js';
import { nativeSize } from '../video/open.js';
import { listVideos } from '../video/open.js';
import { AdamW, DEFAULT_ADAMW, lrAt } from './optimizer.js';
import { trainStep, type StepStats } from './step.js';

export interface TrainOptions {
  /** folder of normal videos (image-sequence subfolders or video files) */
  data: string;
  /** output folder: checkpoint.{json,bin}, snapshots/epoch-NNN.{json,bin} and snapshots/result-SSSSSS.{json,bin} (each validation step that became the result), history.jsonl, validation.jsonl, weights.{json,bin} */
  out: string;
  /** passes over the training clips; default: the recipe's schedule sized to the data (`recipe.ts`) */
  epochs?: number;
  batch: number;
  /** peak learning rate */
  lr: number;
  /** warm-up steps; default: 5 % of the steps (`recipe.ts`) */
  warmup?: number;
  /** share of each batch that are skip-frame pseudo-anomalies (default 0.25; 0 = off) */
  pseudoShare?: number;
  /** hold back the tail of each video for calibration and the false-alarm check (default true) */
  holdBack?: boolean;
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
  /** show a progress bar (default: when stderr is a TTY; otherwise a progress log line every ~10 s) */
  progress?: boolean;
}

/** Interval of the progress log line when stderr is not a terminal (ms). */
export const PROGRESS_EVERY_MS = 10_000;

export interface TrainResult {
  config: SfnConfig;
  /** the step whose weights are the result (the checkpoint rule's choice) and its validation AUC */
  chosenStep?: number;
  validation?: ValidationResult;
  /** the step reached (cumulative over resumed runs) */
  steps: number;
  /** steps of the whole schedule */
  totalSteps: number;
  /** true when the run stopped before the end of the schedule (--stop-after, --max-steps): the weights are the last step's */
  partial: boolean;
  /** training seconds, cumulative over resumed runs */
  seconds: number;
  /** samples/s of this run only */
  samplesPerSecond: number;
  /** this run alone: steps done, seconds, samples/s */
  thisRun: { steps: number; seconds: number; samplesPerSecond: number };
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
  // the grid follows the source's aspect ratio unless the model options or init weights fix it
  let grid: { width: number; height: number } | undefined;
  if (!initFrom && o.model.width === undefined && o.model.height === undefined) {
    const first = (await listVideos(o.data))[0]!;
    const native = await nativeSize(first);
    if (native) {
      grid = gridFor(native.width, native.height, o.model.patch ?? 8);
      log.info({ source: `${native.width}x${native.height}`, grid: `${grid.width}x${grid.height}` }, 'model grid matched to the source aspect ratio');
    }
  }
  let config = makeConfig({ ...RECIPE_MODEL, ...(grid ?? {}), ...(initFrom ? initFrom.header.config : {}), ...o.model, ...(captions ? { textDim: captions.textDim } : {}) });
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
  const holdBack = o.holdBack ?? true;
  const full = await loadClips(o.data, config, o.limitVideos, config.textDim > 0 ? captions : undefined, 'all');
  const set = holdBack ? withPart(full, 'train', config.pastFrames) : full;
  const stepsPerEpoch = Math.floor(set.samples.length / o.batch);
  if (stepsPerEpoch < 1) throw new Error(`${o.data}: ${set.samples.length} training clips is fewer than one batch of ${o.batch}; record more normal video or lower --batch`);
  const schedule = scheduleFor(set.samples.length, o.batch, o.epochs, o.warmup);
  const warmup = schedule.warmup;
  const totalSteps = Math.min(schedule.totalSteps, o.maxSteps ?? Infinity);
  const pseudoShare = o.pseudoShare ?? RECIPE_PSEUDO_SHARE;
  const pseudoPool = pseudoShare > 0 ? skipSamples(set, holdBack ? 'train' : 'all', config.pastFrames, SKIP_STRIDES) : [];
  const pseudoPerBatch = pseudoPool.length > 0 ? Math.round(pseudoShare * o.batch) : 0;
  const vs = holdBack ? validationSet(full, config.pastFrames) : null;
  if (holdBack && !vs) log.warn({ data: o.data }, 'the videos are too short to hold normal frames back: no validation, the last step is the result');
  const rowLen = { app: g.appearanceLen, mot: g.motionLen, out: g.outLen };
  log.info(
    { backend, parameters: countParams(params), videos: set.videos.length, samples: set.samples.length, stepsPerEpoch, totalSteps, warmup, pseudoPerBatch, validationClips: vs ? vs.normal.length + vs.pseudo.length : 0, config },
    'training SFN-Lite',
  );

  const history = await fs.open(path.join(o.out, 'history.jsonl'), 'a');
  const meta = () => ({ ...(o.init ? { init: path.resolve(o.init) } : {}), ...(o.captions ? { captions: path.resolve(o.captions), captioner: captions?.captioner } : {}), seed: o.seed, ...(o.captions ? { simWeight: o.simWeight ?? 1 } : {}), ...(o.trainOnly ? { trainOnly: o.trainOnly.join(',') } : {}), batch: o.batch, lr: o.lr, warmup, totalSteps, pseudoShare, holdBack, ...(o.epochs !== undefined ? { epochs: o.epochs } : {}), data: path.resolve(o.data), videos: set.videos.length, samplesPerEpoch: stepsPerEpoch * o.batch });
  const save = async (step: number, seconds: number) => {
    const all = paramsToMap(params);
    for (const [k, v] of opt.m) all.set(`${k}/m`, v);
    for (const [k, v] of opt.v) all.set(`${k}/v`, v);
    await saveWeights(ckpt, config, all, { ...meta(), step, seconds, ...(best ? { bestStep: best.step, bestValidation: best.v } : {}) });
  };

  const showBar = o.progress ?? process.stderr.isTTY;
  const bar = new cliProgress.SingleBar(
    { format: 'train |{bar}| {value}/{total} steps | epoch {epoch} | loss {loss} | {sps} samples/s | eta {eta_formatted}', noTTYOutput: false, stream: process.stderr, hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  if (showBar) bar.start(totalSteps, startStep, { epoch: 0, loss: '-', sps: '-' });

  // the checkpoint rule: the largest validation separation so far, the later step on ties (step 0 = the copy-last predictor)
  const bestFile = path.join(o.out, 'best');
  let best: { step: number; v: ValidationResult } | null = null;
  if (resumeFrom) {
    const m = (await loadWeights(ckpt)).header.meta as Record<string, unknown>;
    if (typeof m.bestStep === 'number' && m.bestValidation) best = { step: m.bestStep, v: m.bestValidation as ValidationResult };
  }
  const validation = await fs.open(path.join(o.out, 'validation.jsonl'), 'a');
  const runValidation = async (atStep: number, seconds: number) => {
    if (!vs) return;
    const v = validate(params, config, full, vs);
    await validation.write(JSON.stringify({ step: atStep, ...v }) + '\n');
    // ties go to the later step: they happen when validation cannot see the change (a frozen frame
    // path, e.g. `--train-only embed.text,head.text`), and the later step has trained the rest longer
    const better = !best || v.separation >= best.v.separation;
    log.info({ step: atStep, separation: +v.separation.toFixed(4), gapMse: +v.gapMse.toFixed(3), gapPatch: +v.gapPatch.toFixed(3), aucMse: +v.aucMse.toFixed(4), aucPatch: +v.aucPatch.toFixed(4), normalMse: +v.normalMse.toExponential(3), best: better }, 'validation on held-back normal video (normal vs skip-frame clips)');
    if (better) {
      best = { step: atStep, v };
      await saveWeights(bestFile, config, paramsToMap(params), { ...meta(), step: atStep, validation: v });
      // what `train` would return if stopped here: kept for the AUC-against-training-time curve of
      // the recipe's result (scripts/auc-curve.sh ... result); step 0 is copy-last and needs no file
      if (atStep > 0) await saveWeights(path.join(o.out, 'snapshots', `result-${String(atStep).padStart(6, '0')}`), config, paramsToMap(params), { ...meta(), step: atStep, seconds, validation: v });
    }
  };
  if (startStep === 0) await runValidation(0, priorSeconds);

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
      const picks: Array<readonly [number, number] | readonly [number, number, number]> = order.slice(i * o.batch, (i + 1) * o.batch - pseudoPerBatch);
      if (pseudoPerBatch > 0) {
        const r = rng(o.seed * 7919 + step);
        for (let k = 0; k < pseudoPerBatch; k++) picks.push(pseudoPool[Math.floor(r() * pseudoPool.length)]!);
      }
      const batch = makeBatch(set, config, picks, 'last');
      const lr = lrAt(step, totalSteps, o.lr, warmup);
      const s = trainStep(params, config, opt, batch, lr, rowLen, o.simWeight ?? 1);
      step += 1;
      ema = ema ? (Object.fromEntries(Object.entries(s).map(([k, v]) => [k, 0.95 * ema![k as keyof StepStats] + 0.05 * v])) as unknown as StepStats) : s;
      const seconds = priorSeconds + (performance.now() - t0) / 1000;
      const sps = ((step - startStep) * o.batch) / ((performance.now() - t0) / 1000);
      await history.write(JSON.stringify({ step, epoch, lr, ...s, seconds: +seconds.toFixed(2) }) + '\n');
      if (showBar) bar.update(step, { epoch, loss: ema.loss.toFixed(5), sps: sps.toFixed(1) });
      else if (performance.now() - lastLog > PROGRESS_EVERY_MS) {
        lastLog = performance.now();
        const eta = sps > 0 ? ((stopAt - step) * o.batch) / sps : null;
        const pct = (100 * step) / totalSteps;
        log.info({ stage: 'train', step, totalSteps, percent: +pct.toFixed(1), epoch, loss: +ema.loss.toFixed(6), pred: +ema.pred.toFixed(6), sim: +ema.sim.toFixed(5), aux: +ema.aux.toFixed(5), lr: +lr.toExponential(3), samplesPerSecond: +sps.toFixed(2), eta_s: eta === null ? null : Math.round(eta) },
          `train: step ${step} of ${totalSteps} (${pct.toFixed(1)} %), ${sps.toFixed(1)} samples/s, ${eta === null ? 'ETA -' : `ETA ${Math.round(eta)} s`}`);
      }
      const epochEnd = step % stepsPerEpoch === 0;
      if (step % schedule.validateEvery === 0 || step === totalSteps) await runValidation(step, seconds);
      if (epochEnd || step % o.checkpointEvery === 0 || step === stopAt) await save(step, seconds);
      if (epochEnd) {
        const ep = String(step / stepsPerEpoch).padStart(3, '0');
        await saveWeights(path.join(o.out, 'snapshots', `epoch-${ep}`), config, paramsToMap(params), { ...meta(), step, seconds });
      }
    }
  } finally {
    if (showBar) bar.stop();
    await history.close();
    await validation.close();
  }
  const seconds = (performance.now() - t0) / 1000;
  const weights = path.join(o.out, 'weights');
  await saveWeights(path.join(o.out, 'last'), config, paramsToMap(params), { ...meta(), step, seconds: priorSeconds + seconds });
  const chosen = best as { step: number; v: ValidationResult } | null;
  if (chosen && step === totalSteps) {
    // the recipe's result is the checkpoint the rule chose, not the last step
    const b = await loadWeights(bestFile);
    await saveWeights(weights, config, new Map([...b.arrays].map(([k, a]) => [k, tf.tensor(a.data, a.shape)])), { ...meta(), step: chosen.step, seconds: priorSeconds + seconds, validation: chosen.v, lastStep: step });
    log.info({ chosenStep: chosen.step, separation: +chosen.v.separation.toFixed(4), lastStep: step }, 'weights: the checkpoint with the best validation separation');
  } else {
    if (step < totalSteps) log.warn({ step, totalSteps }, 'stopped before the end of the schedule: weights are the last step (partial); continue with --resume');
    await saveWeights(weights, config, paramsToMap(params), { ...meta(), step, seconds: priorSeconds + seconds, ...(step < totalSteps ? { partial: true, totalSteps } : {}) });
  }
  const parameters = countParams(params);
  disposeParams(params);
  opt.dispose();
  const thisSps = ((step - startStep) * o.batch) / Math.max(seconds, 1e-9);
  return {
    config,
    ...(chosen ? { chosenStep: chosen.step, validation: chosen.v } : {}),
    steps: step,
    totalSteps,
    partial: step < totalSteps,
    seconds: priorSeconds + seconds,
    samplesPerSecond: thisSps,
    thisRun: { steps: step - startStep, seconds, samplesPerSecond: thisSps },
    weights: `${weights}.json`,
    parameters,
  };
}
