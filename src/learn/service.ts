/**
 * `cmd/learn` on a running device: learns the device's own camera and swaps the new model in
 * without a restart.
 *
 * A request (`{"minutes": 10}`, JSON, minutes in (0, 1440]; `{}` = {@link DEFAULT_LEARN_MINUTES}) is
 * acknowledged on `learn/ack` (`{ok, id, error}`): refused with the reason while another learn
 * runs or for a bad payload. An accepted one runs the `learn` pipeline (pipeline.ts) in a child
 * process (learn-child.ts) on the running source, at the running pipeline's grid and colour (so
 * the model can be swapped in: the ring, clips and streams keep their frame size), and reports on
 * the retained `learn/state`:
 *
 *   {state: 'running', id, stage, percent, eta_s, detail, started}
 *   {state: 'done', id, model, previous, result: {...}}              swapped in, checks passed
 *   {state: 'failed', id, stage, error, model, rolled_back}          the model in force is `model`
 *
 * The new model is swapped in only when its checks pass (checks.ts: parity, calibration present
 * and sane), through the same path as a `config/set` of `model` (loaded and checked before it is
 * acknowledged, persisted, swapped at the next source restart). The previous model stays on disk.
 * After the swap the new model must score {@link LearnServiceOptions.checkFrames} frames with
 * finite scores within {@link LearnServiceOptions.checkTimeoutMs} (and pass any extra post-swap
 * check); otherwise the previous model is swapped back (roll-back) and the state says why.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, closeSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readManifest } from '../core/manifest.js';
import { loaderArgs } from '../util/loader.js';
import { log } from '../util/log.js';
import type { FrameSpec } from '../core/frame.js';
import { modelProblems } from './checks.js';
import { DEFAULT_LEARN_MINUTES, type LearnOptions, type LearnProgress, type LearnResult, type LearnStage } from './pipeline.js';

/** Payload of `learn/state`. */
export type LearnState =
  | { state: 'running'; id: string; stage: LearnStage | 'swap'; percent: number; eta_s: number | null; detail: string; started: string }
  | { state: 'done'; id: string; model: string; previous: string; result: LearnResult; finished: string }
  | { state: 'failed'; id: string; stage: LearnStage | 'check' | 'swap' | 'post-swap'; error: string; model: string; rolled_back: boolean; finished: string };

/** Payload of `learn/ack`. */
export interface LearnAck {
  ok: boolean;
  id: string | null;
  error: string | null;
}

/** A check run after the swap, given the learn result and the new model's first scores; returns the problem or null. */
export type PostSwapCheck = (r: { result: LearnResult; model: string; scores: number[] }) => Promise<string | null> | string | null;

/** What the service needs from the running device. */
export interface LearnServiceDeps {
  /** the source the device watches now (what is learnt) */
  source: () => string;
  /** the grid and colour of the running pipeline */
  spec: () => FrameSpec;
  /** the model file in force */
  model: () => string;
  /** swaps `file` in (config/set `model`); resolves with the refusal reason or null */
  swapModel: (file: string) => Promise<string | null>;
  /** publishes the retained `learn/state` */
  publishState: (s: LearnState) => Promise<void>;
  /** publishes `learn/ack` */
  publishAck: (a: LearnAck) => Promise<void>;
}

/** Options of {@link LearnService}. */
export interface LearnServiceOptions {
  /** folder of the runs: `<dir>/<id>/` (recording, train/, models/, learn.json, learn.log) */
  dir: string;
  /** tiny runs (tests): at most this many training steps */
  maxSteps?: number;
  /** scored frames the new model must produce after the swap (default 10) */
  checkFrames?: number;
  /** how long to wait for them (ms, default 120 s) */
  checkTimeoutMs?: number;
  /** extra checks after the swap (a failure rolls back) */
  postSwapChecks?: PostSwapCheck[];
  /** least time between two `running` states of the same stage (ms, default 1000) */
  throttleMs?: number;
}

/** Parses a `cmd/learn` payload. @returns the minutes, or the reason it is refused. */
export function parseLearnRequest(payload: Buffer | string): { minutes: number } | { error: string } {
  const text = (typeof payload === 'string' ? payload : payload.toString('utf8')).trim();
  if (!text) return { minutes: DEFAULT_LEARN_MINUTES };
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch (err) {
    return { error: `malformed JSON: ${(err as Error).message}` };
  }
  if (typeof j !== 'object' || j === null || Array.isArray(j)) return { error: 'the payload must be a JSON object such as {"minutes": 10}' };
  const unknown = Object.keys(j).filter((k) => k !== 'minutes');
  if (unknown.length) return { error: `unknown key(s) ${unknown.join(', ')}; the payload takes {"minutes": N}` };
  const m = (j as { minutes?: unknown }).minutes ?? DEFAULT_LEARN_MINUTES;
  if (typeof m !== 'number' || !(m > 0 && m <= 1440)) return { error: `minutes must be a number in (0, 1440], got ${JSON.stringify(m)}` };
  return { minutes: m };
}

function childEntry(): string {
  const js = fileURLToPath(new URL('./learn-child.js', import.meta.url));
  return existsSync(js) ? js : fileURLToPath(new URL('./learn-child.ts', import.meta.url));
}

const now = () => new Date().toISOString();

/** The `cmd/learn` service of `run` (see the file comment). */
export class LearnService {
  private job: { id: string; stage: LearnStage | 'swap'; started: string; child: ChildProcess | null; done: Promise<void> } | null = null;
  /** scores of the swapped-in model, while a post-swap check waits for them */
  private watch: { sha256: string; scores: number[]; need: number; resolve: () => void } | null = null;
  private stopped = false;

  constructor(private readonly deps: LearnServiceDeps, private readonly o: LearnServiceOptions) {}

  /** Whether a learn run is in progress. */
  get busy(): boolean {
    return this.job !== null;
  }

  /** Resolves when the run in progress (if any) has ended. */
  async idle(): Promise<void> {
    await this.job?.done;
  }

  /**
   * Handles one `cmd/learn` payload: acks, and starts a run unless refused (another run in
   * progress, a bad payload, the service stopped). Never throws.
   */
  async handle(payload: Buffer | string): Promise<LearnAck> {
    const req = parseLearnRequest(payload);
    let ack: LearnAck;
    if ('error' in req) ack = { ok: false, id: null, error: req.error };
    else if (this.stopped) ack = { ok: false, id: null, error: 'the device is shutting down' };
    else if (this.job) ack = { ok: false, id: this.job.id, error: `a learn run is in progress (id ${this.job.id}, stage ${this.job.stage}, started ${this.job.started}); wait for its result on learn/state` };
    else {
      const id = now().replace(/[:.]/g, '-');
      const job = { id, stage: 'record' as LearnStage | 'swap', started: now(), child: null as ChildProcess | null, done: Promise.resolve() };
      this.job = job;
      job.done = this.run(job, req.minutes).finally(() => {
        this.job = null;
      });
      ack = { ok: true, id, error: null };
    }
    await this.deps.publishAck(ack).catch((err: unknown) => log.warn({ err: (err as Error).message }, 'learn: cannot publish learn/ack'));
    return ack;
  }

  /** Called by the frame loop with every scored frame: feeds a waiting post-swap check. */
  onScore(modelSha256: string, score: number | null): void {
    const w = this.watch;
    if (!w || modelSha256 !== w.sha256 || score === null) return;
    w.scores.push(score);
    if (w.scores.length >= w.need) w.resolve();
  }

  /** Kills a run in progress and waits for it to end (its state: failed, cancelled). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.job?.child?.kill('SIGKILL');
    this.watch?.resolve();
    await this.idle();
  }

  private async publish(s: LearnState): Promise<void> {
    await this.deps.publishState(s).catch((err: unknown) => log.warn({ err: (err as Error).message }, 'learn: cannot publish learn/state'));
  }

  private async run(job: { id: string; stage: LearnStage | 'swap'; started: string; child: ChildProcess | null }, minutes: number): Promise<void> {
    const fail = async (stage: Extract<LearnState, { state: 'failed' }>['stage'], error: string, rolledBack = false) => {
      log.error({ id: job.id, stage, error }, 'learn failed');
      await this.publish({ state: 'failed', id: job.id, stage, error, model: this.deps.model(), rolled_back: rolledBack, finished: now() });
    };
    const out = path.join(this.o.dir, job.id);
    await this.publish({ state: 'running', id: job.id, stage: 'record', percent: 0, eta_s: null, detail: 'starting', started: job.started });
    let result: LearnResult;
    try {
      result = await this.runChild(job, out, minutes);
    } catch (err) {
      await fail(job.stage === 'swap' ? 'record' : job.stage, (err as Error).message);
      return;
    }
    // checks before the swap: the variant the device runs (same precision as the model in force)
    const previous = this.deps.model();
    const precision = await readManifest(previous).then((r) => r.manifest.precision, () => 'fp32' as const);
    const file = precision === 'int8' ? result.models.int8 : precision === 'fp16' && result.models.fp16 ? result.models.fp16 : result.models.fp32;
    const problems = await modelProblems(file);
    if (problems.length) return fail('check', `${file} fails its checks, not swapped in: ${problems.join('; ')}`);
    job.stage = 'swap';
    await this.publish({ state: 'running', id: job.id, stage: 'swap', percent: 0, eta_s: null, detail: `swapping in ${file}`, started: job.started });
    const { manifest } = await readManifest(file);
    const scores: number[] = [];
    const got = new Promise<void>((resolve) => {
      this.watch = { sha256: manifest.sha256, scores, need: this.o.checkFrames ?? 10, resolve };
    });
    const refused = await this.deps.swapModel(file);
    if (refused) {
      this.watch = null;
      return fail('swap', `the device refused the new model: ${refused}`);
    }
    // after the swap: the new model scores frames, and every extra check passes; else roll back
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([got, new Promise<void>((r) => (timer = setTimeout(r, this.o.checkTimeoutMs ?? 120_000)))]);
    clearTimeout(timer);
    this.watch = null;
    let problem: string | null = null;
    const need = this.o.checkFrames ?? 10;
    if (scores.length < need) problem = `the new model scored ${scores.length} of ${need} frames within ${(this.o.checkTimeoutMs ?? 120_000) / 1000} s`;
    else if (!scores.every(Number.isFinite)) problem = `the new model gave non-finite scores (${scores.filter((s) => !Number.isFinite(s)).length} of ${scores.length})`;
    for (const c of this.o.postSwapChecks ?? []) {
      if (problem) break;
      try {
        problem = await c({ result, model: file, scores: [...scores] });
      } catch (err) {
        problem = (err as Error).message;
      }
    }
    if (problem) {
      const back = await this.deps.swapModel(previous);
      if (back) return fail('post-swap', `${problem}; rolling back to ${previous} failed: ${back}`, false);
      log.warn({ id: job.id, problem, model: previous }, 'learn: post-swap check failed, rolled back');
      return fail('post-swap', `${problem}; rolled back to ${previous}`, true);
    }
    log.info({ id: job.id, model: file, previous }, 'learn: new model swapped in');
    await this.publish({ state: 'done', id: job.id, model: file, previous, result, finished: now() });
  }

  /** Runs the pipeline in learn-child.ts, relaying its progress as `running` states. */
  private async runChild(job: { id: string; stage: LearnStage | 'swap'; started: string; child: ChildProcess | null }, out: string, minutes: number): Promise<LearnResult> {
    await fs.mkdir(out, { recursive: true });
    const logFd = openSync(path.join(out, 'learn.log'), 'a');
    const spec = this.deps.spec();
    const opts: Omit<LearnOptions, 'onProgress' | 'signal' | 'onTrainLog'> = {
      source: this.deps.source(), minutes, out, name: `learnt-${job.id}`,
      grid: { width: spec.width, height: spec.height, color: spec.color },
      ...(this.o.maxSteps !== undefined ? { maxSteps: this.o.maxSteps } : {}),
    };
    let child: ChildProcess;
    try {
      child = fork(childEntry(), [], { execArgv: loaderArgs(), stdio: ['ignore', logFd, logFd, 'ipc'] });
    } finally {
      closeSync(logFd);
    }
    job.child = child;
    if (this.stopped) child.kill('SIGKILL');
    let last = 0;
    return await new Promise<LearnResult>((resolve, reject) => {
      let answered = false;
      child.on('message', (m: { progress?: LearnProgress; result?: LearnResult; error?: string }) => {
        if (m.progress) {
          const p = m.progress;
          const changed = p.stage !== job.stage;
          job.stage = p.stage;
          if (changed || p.percent >= 100 || Date.now() - last >= (this.o.throttleMs ?? 1000)) {
            last = Date.now();
            void this.publish({ state: 'running', id: job.id, stage: p.stage, percent: p.percent, eta_s: p.eta_s, detail: p.detail, started: job.started });
          }
        } else if (m.result) {
          answered = true;
          resolve(m.result);
        } else if (m.error !== undefined) {
          answered = true;
          reject(new Error(m.error));
        }
      });
      child.once('error', (err) => reject(new Error(`cannot start the learn process: ${err.message}`)));
      child.once('exit', (code, sig) => {
        job.child = null;
        if (!answered) reject(new Error(this.stopped ? 'cancelled: the device is shutting down' : `the learn process ended (${sig ?? `status ${code}`}) without a result; see ${path.join(out, 'learn.log')}`));
      });
      child.send(opts);
    });
  }
}
