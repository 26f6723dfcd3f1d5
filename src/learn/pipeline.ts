/**
 * `sfn-edge learn`: the own-camera path in one call. Stages, in order:
 *
 *   record     N minutes of the camera's own stream to `<out>/recording.mkv` (record.ts), or the
 *              file / folder as it is
 *   train      `train()` with `train`'s defaults (the recipe: time split, warm-up sized to the
 *              data, checkpoint rule on held-back normal video), in a child process (train-run.ts)
 *   export     the chosen weights -> `<out>/models/fp32/<name>.onnx`, parity-checked against tfjs
 *   optimize   fp16 and int8 QDQ variants, as `sfn-edge optimize` builds them, calibrated on the
 *              same normal video
 *   calibrate  error statistics and threshold of every variant on the held-back calibration part
 *              (scoring/calibration.ts), written into each manifest; then every variant's checks
 *              (checks.ts) must pass
 *
 * Output folder: `recording.mkv` (when recorded), `train/` (checkpoints, history, weights),
 * `models/{fp32,fp16,int8}/<name>.onnx` with manifests, `learn.json` (the {@link LearnResult}).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { SfnConfig } from '../core/model-config.js';
import { isLiveSource } from '../video/stream-source.js';
import { listVideos } from '../video/open.js';
import { modelProblems } from './checks.js';
import { recordStream, type Recording } from './record.js';
import { trainDefaults } from './train-defaults.js';
import { trainInChild } from './train-run.js';

/** The stages, in order. */
export const LEARN_STAGES = ['record', 'train', 'export', 'optimize', 'calibrate'] as const;
export type LearnStage = (typeof LEARN_STAGES)[number];

/** Minutes recorded from a live source when none are given. */
export const DEFAULT_LEARN_MINUTES = 5;

/** Options of {@link runLearn}. */
export interface LearnOptions {
  /** camera / stream URL or /dev/videoN (recorded), or a video file or folder of videos (used as it is) */
  source: string;
  /** minutes to record from a live source (default {@link DEFAULT_LEARN_MINUTES}); ignored for files and folders */
  minutes?: number;
  /** output folder */
  out: string;
  /** model name (default: the output folder's name) */
  name?: string;
  /** tiny runs (tests, smoke checks): at most this many training steps */
  maxSteps?: number;
  /** model grid and colour (a running device passes its pipeline's, so the new model can be swapped in) */
  grid?: Pick<SfnConfig, 'width' | 'height' | 'color'>;
  /** progress of each stage */
  onProgress?: (p: LearnProgress) => void;
  /** cancels: stops recording / kills training between or within stages */
  signal?: AbortSignal;
  /** receives the training child's log lines */
  onTrainLog?: (line: Record<string, unknown>) => void;
}

/** One progress report. */
export interface LearnProgress {
  stage: LearnStage;
  /** 0..100 within the stage */
  percent: number;
  /** seconds left in this stage (from its rate so far), null when not known yet */
  eta_s: number | null;
  /** what the stage is doing, e.g. `step 120/1000` */
  detail: string;
}

/** What {@link runLearn} returns and writes to `<out>/learn.json`. */
export interface LearnResult {
  name: string;
  source: string;
  /** what training read: the recording, or the given file / folder */
  data: string;
  recording: Recording | null;
  train: { weights: string; steps: number; chosen_step: number | null; /** train's validation figures of the chosen step (src/train/validate.ts), null without validation */
    validation: unknown; seconds: number; samples_per_second: number; parameters: number };
  /** the variants, each with its manifest beside it */
  models: { fp32: string; fp16: string | null; int8: string };
  /** per variant: the calibrated threshold (smoothed robust z at the stored false-alarm rate) of each measure */
  calibration: Record<string, { frames: number; fpr: number; mse_on: number; patch_max_on: number }>;
  /** seconds per stage */
  seconds: Record<LearnStage, number>;
  /** the command that runs the int8 model on the source */
  run: string;
}

/**
 * The step at which an earlier `learn` into `trainDir` stopped, when its checkpoint trained on the
 * same file or folder (`data`, not modified since), at the same grid: `learn` then continues that
 * training (train's `--resume`) instead of starting over. null when there is nothing to continue.
 * Never throws: an unreadable checkpoint means starting over.
 */
export async function resumableTraining(trainDir: string, data: string, grid?: Pick<SfnConfig, 'width' | 'height' | 'color'>): Promise<number | null> {
  try {
    const file = path.join(trainDir, 'checkpoint.json');
    const [ck, dataStat, ckStat] = await Promise.all([fs.readFile(file, 'utf8'), fs.stat(data), fs.stat(file)]);
    const h = JSON.parse(ck) as { config?: Partial<SfnConfig>; meta?: { data?: string; step?: number } };
    if (h.meta?.data !== path.resolve(data) || typeof h.meta.step !== 'number') return null;
    if (dataStat.mtimeMs > ckStat.mtimeMs) return null;
    if (grid && (h.config?.width !== grid.width || h.config?.height !== grid.height || h.config?.color !== grid.color)) return null;
    return h.meta.step;
  } catch {
    return null;
  }
}

/** Reports progress with an ETA from the stage's own rate. */
class StageClock {
  private t0 = performance.now();
  constructor(private readonly stage: LearnStage, private readonly cb?: (p: LearnProgress) => void) {}
  report(fraction: number, detail: string): void {
    const f = Math.min(1, Math.max(0, fraction));
    const elapsed = (performance.now() - this.t0) / 1000;
    const eta = f > 0.01 ? Math.max(0, (elapsed * (1 - f)) / f) : null;
    this.cb?.({ stage: this.stage, percent: +(100 * f).toFixed(1), eta_s: eta === null ? null : Math.round(eta), detail });
  }
  get seconds(): number {
    return +((performance.now() - this.t0) / 1000).toFixed(1);
  }
}

/** Quotes a shell word when it needs it. */
function sh(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * Runs the stages (see the file comment) and returns the result.
 * @throws Error naming the stage: a missing file/folder or a folder without videos, an unreachable
 *   camera (record.ts RecordError), too little normal video (train: fewer clips than a batch;
 *   calibration: fewer than 20 held-back clips), a failed parity check, a variant failing its checks.
 */
export async function runLearn(o: LearnOptions): Promise<LearnResult> {
  const out = path.resolve(o.out);
  const name = o.name ?? (path.basename(out).replace(/[^\w.-]+/g, '-') || 'camera');
  const live = isLiveSource(o.source);
  const seconds = {} as Record<LearnStage, number>;
  const stageError = (stage: LearnStage, err: unknown) => new Error(`learn (${stage}): ${(err as Error).message}`, { cause: err });
  const aborted = () => {
    if (o.signal?.aborted) throw new Error('learn: cancelled');
  };
  await fs.mkdir(out, { recursive: true });

  // record (or take the file / folder as it is)
  const rec = new StageClock('record', o.onProgress);
  let recording: Recording | null = null;
  let data: string;
  if (live) {
    const minutes = o.minutes ?? DEFAULT_LEARN_MINUTES;
    if (!(minutes > 0 && minutes <= 24 * 60)) throw new Error(`learn: --minutes must be in (0, 1440], got ${minutes}`);
    rec.report(0, `recording ${minutes} min of ${o.source}`);
    try {
      recording = await recordStream(o.source, minutes * 60, path.join(out, 'recording.mkv'), {
        ...(o.signal ? { signal: o.signal } : {}),
        onProgress: (s, total) => rec.report(s / total, `recorded ${s.toFixed(0)} s of ${total} s`),
      });
    } catch (err) {
      throw stageError('record', err);
    }
    data = recording.file;
  } else {
    try {
      await listVideos(o.source); // a missing path or a folder without videos fails here, clearly
    } catch (err) {
      throw stageError('record', err);
    }
    data = path.resolve(o.source);
  }
  rec.report(1, recording ? `recorded ${recording.seconds.toFixed(0)} s (${recording.codec})` : `using ${data} as it is`);
  seconds.record = rec.seconds;
  aborted();

  // train, with train's own defaults (the recipe)
  const tr = new StageClock('train', o.onProgress);
  tr.report(0, 'loading clips');
  const trainDir = path.join(out, 'train');
  // a file or folder learned before into this folder, and interrupted: continue its training
  const resumeAt = recording ? null : await resumableTraining(trainDir, data, o.grid);
  if (resumeAt === null) await fs.rm(trainDir, { recursive: true, force: true });
  else tr.report(0, `continuing the training in ${trainDir} from step ${resumeAt} (same data); delete that folder to start over`);
  const topts = await trainDefaults(data, trainDir, { ...(o.maxSteps !== undefined ? { maxSteps: o.maxSteps } : {}), ...(resumeAt !== null ? { resume: true } : {}) });
  if (o.grid) topts.model = { ...topts.model, ...o.grid };
  let trained;
  try {
    trained = await trainInChild(topts, {
      ...(o.signal ? { signal: o.signal } : {}),
      ...(o.onTrainLog ? { onLog: o.onTrainLog } : {}),
      onProgress: (p) => {
        if (p.totalSteps) tr.report(p.step / p.totalSteps, `step ${p.step}/${p.totalSteps}`);
      },
    });
  } catch (err) {
    throw stageError('train', err);
  }
  tr.report(1, `${trained.steps} steps, chosen step ${trained.chosenStep ?? trained.steps}`);
  seconds.train = tr.seconds;
  aborted();

  // export (parity-checked on real frames of the normal video)
  const ex = new StageClock('export', o.onProgress);
  ex.report(0, 'building the ONNX graph');
  const modelsRoot = path.join(out, 'models');
  const fp32 = path.join(modelsRoot, 'fp32', `${name}.onnx`);
  try {
    const { runExport } = await import('../export/command.js');
    await runExport({ weights: trained.weights, out: fp32, name, parityData: data }, () => undefined);
  } catch (err) {
    throw stageError('export', err);
  }
  ex.report(1, 'parity checked');
  seconds.export = ex.seconds;
  aborted();

  // optimize: fp16 + int8 as `sfn-edge optimize` builds them (its defaults)
  const op = new StageClock('optimize', o.onProgress);
  op.report(0, 'fp16 and int8 variants');
  let fp16: string | null = null;
  let int8: string;
  try {
    const { runOptimize } = await import('../optimize/command.js');
    const s = await runOptimize({ model: fp32, calib: data, out: modelsRoot, name }, () => undefined);
    const v8 = s.variants.find((v) => v.precision === 'int8' && v.name === name);
    if (!v8) throw new Error('no int8 variant was built');
    int8 = v8.file;
    fp16 = s.variants.find((v) => v.precision === 'fp16' && v.name === name)?.file ?? null;
  } catch (err) {
    throw stageError('optimize', err);
  }
  op.report(1, 'int8 built');
  seconds.optimize = op.seconds;
  aborted();

  // calibrate every variant on the held-back normal video, then check them
  const ca = new StageClock('calibrate', o.onProgress);
  const { calibrateAndWrite } = await import('../scoring/calibration.js');
  const variants = [fp32, int8, ...(fp16 ? [fp16] : [])];
  const calibration: LearnResult['calibration'] = {};
  for (const [i, file] of variants.entries()) {
    const variant = path.relative(modelsRoot, file).replace(/\.onnx$/, '');
    ca.report(i / variants.length, `calibrating ${variant}`);
    try {
      const { calibration: c } = await calibrateAndWrite({ model: file, data, onProgress: (d, t) => ca.report((i + d / t) / variants.length, `calibrating ${variant}: video ${d}/${t}`) });
      calibration[variant] = { frames: c.frames, fpr: c.fpr, mse_on: c.measures.mse.on_at_fpr, patch_max_on: c.measures['patch-max'].on_at_fpr };
    } catch (err) {
      throw stageError('calibrate', err);
    }
    const problems = await modelProblems(file);
    if (problems.length) throw stageError('calibrate', new Error(`${variant} fails its checks: ${problems.join('; ')}`));
  }
  ca.report(1, `${variants.length} variants calibrated and checked`);
  seconds.calibrate = ca.seconds;

  const result: LearnResult = {
    name, source: o.source, data, recording,
    train: {
      weights: trained.weights, steps: trained.steps, chosen_step: trained.chosenStep ?? null, validation: trained.validation ?? null,
      seconds: +trained.seconds.toFixed(1), samples_per_second: +trained.samplesPerSecond.toFixed(2), parameters: trained.parameters,
    },
    models: { fp32, fp16, int8 },
    calibration,
    seconds,
    run: `npx sfn-edge run --source ${sh(o.source)} --model ${sh(int8)}`,
  };
  await fs.writeFile(path.join(out, 'learn.json'), `${JSON.stringify(result, null, 2)}\n`);
  return result;
}
