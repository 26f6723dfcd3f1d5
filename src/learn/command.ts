/**
 * The `learn` command: runs the pipeline (pipeline.ts) with one progress bar per stage and its time
 * left (cli-progress on a TTY; a log line per stage change and every 30 s otherwise), then prints
 * the `run` command to use and one JSON line with the result. Training's own log lines go to
 * `<out>/train.log` so they do not tear the bars.
 */
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import cliProgress from 'cli-progress';
import { log } from '../util/log.js';
import { LEARN_STAGES, runLearn, type LearnProgress, type LearnResult, type LearnStage } from './pipeline.js';

/** Options of `learn` as commander parses them. */
export interface LearnCommandOptions {
  source: string;
  out: string;
  minutes?: number;
  name?: string;
  maxSteps?: number;
  /** show bars (default: when stderr is a TTY) */
  progress?: boolean;
  /** also receives every progress report (embedding, tests) */
  onProgress?: (p: LearnProgress) => void;
}

const fmtEta = (s: number | null) => (s === null ? '--' : s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m` : s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`);

/**
 * Runs `sfn-edge learn`. The `run` hint goes to stderr with the bars; @param print receives the result as one JSON line (default: stdout).
 * @throws Error as {@link runLearn}.
 */
export async function runLearnCommand(o: LearnCommandOptions, print: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): Promise<LearnResult> {
  await fs.mkdir(path.resolve(o.out), { recursive: true });
  const trainLog = createWriteStream(path.join(path.resolve(o.out), 'train.log'));
  const showBars = o.progress ?? process.stderr.isTTY;
  const multi = showBars
    ? new cliProgress.MultiBar({ format: '{stage} |{bar}| {percentage}% | eta {eta_s} | {detail}', stream: process.stderr, hideCursor: true, clearOnComplete: false, stopOnComplete: false, etaBuffer: 50 }, cliProgress.Presets.shades_classic)
    : null;
  const bars = new Map<LearnStage, cliProgress.SingleBar>();
  let lastLog = 0;
  let lastStage: LearnStage | null = null;
  const onProgress = (p: LearnProgress) => {
    o.onProgress?.(p);
    const payload = { stage: p.stage.padEnd(9), eta_s: fmtEta(p.eta_s), detail: p.detail };
    if (multi) {
      let b = bars.get(p.stage);
      if (!b) {
        b = multi.create(100, 0, payload);
        bars.set(p.stage, b);
      }
      b.update(p.percent, payload);
    } else if (p.stage !== lastStage || p.percent >= 100 || Date.now() - lastLog > 30_000) {
      lastStage = p.stage;
      lastLog = Date.now();
      log.info({ stage: p.stage, percent: p.percent, eta_s: p.eta_s, detail: p.detail }, 'learn');
    }
  };
  try {
    const r = await runLearn({
      source: o.source, out: o.out, onProgress,
      ...(o.minutes !== undefined ? { minutes: o.minutes } : {}),
      ...(o.name !== undefined ? { name: o.name } : {}),
      ...(o.maxSteps !== undefined ? { maxSteps: o.maxSteps } : {}),
      onTrainLog: (l) => trainLog.write(`${JSON.stringify(l)}\n`),
    });
    multi?.stop();
    const stages = LEARN_STAGES.map((s) => `${s} ${r.seconds[s]} s`).join(', ');
    process.stderr.write(`\nlearnt '${r.name}' in ${stages}\nmodels: ${r.models.fp32}, ${r.models.int8}${r.models.fp16 ? `, ${r.models.fp16}` : ''}\nrun it with:\n\n  ${r.run}\n\n`);
    print(JSON.stringify(r));
    return r;
  } finally {
    multi?.stop();
    await new Promise<void>((done) => trainLog.end(() => done()));
  }
}
