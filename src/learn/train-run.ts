/**
 * `train()` in a child process (train-child.ts) with its progress: the step count from the
 * `history.jsonl` that train appends one line per step to, the total from train's own
 * `training SFN-Lite` log line (`totalSteps`, after the recipe has sized the run to the data).
 * Nothing about the schedule is computed here, so it follows whatever the recipe decides.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TrainOptions, TrainResult } from '../train/train.js';
import { loaderArgs } from '../util/loader.js';

/** Progress of a training run. */
export interface TrainProgress {
  step: number;
  /** null until train has logged its schedule */
  totalSteps: number | null;
}

/** Options of {@link trainInChild}. */
export interface TrainRunOptions {
  onProgress?: (p: TrainProgress) => void;
  /** kills the child */
  signal?: AbortSignal;
  /** receives train's log lines (pino JSON objects), e.g. to keep them in a file */
  onLog?: (line: Record<string, unknown>) => void;
  /** how often history.jsonl is read (ms, default 500) */
  pollMs?: number;
}

/** The child's entry: the built `.js` beside this file, else the `.ts` source (under tsx). */
function childEntry(): string {
  const js = fileURLToPath(new URL('./train-child.js', import.meta.url));
  return existsSync(js) ? js : fileURLToPath(new URL('./train-child.ts', import.meta.url));
}

/** The last complete line's `step` of a history.jsonl, or null. */
async function lastStep(file: string): Promise<number | null> {
  let h: fs.FileHandle | undefined;
  try {
    h = await fs.open(file, 'r');
    const { size } = await h.stat();
    const len = Math.min(size, 4096);
    const buf = Buffer.alloc(len);
    await h.read(buf, 0, len, size - len);
    const lines = buf.toString('utf8').split('\n').filter((l) => l.trim().endsWith('}'));
    const last = lines.at(-1);
    if (!last) return null;
    const step = (JSON.parse(last) as { step?: unknown }).step;
    return typeof step === 'number' ? step : null;
  } catch {
    return null;
  } finally {
    await h?.close();
  }
}

/**
 * Runs `train(o)` in a child process and resolves with its result. `o.out`'s history.jsonl is
 * removed first (train appends to it; learn always trains afresh).
 * @throws Error with train's own message when training fails (unreadable data, too few clips,
 *   divergence), or when the child dies (its last log lines), or `learn: training cancelled` on abort.
 */
export async function trainInChild(o: TrainOptions, r: TrainRunOptions = {}): Promise<TrainResult> {
  await fs.mkdir(o.out, { recursive: true });
  const history = path.join(o.out, 'history.jsonl');
  await fs.rm(history, { force: true });
  const child: ChildProcess = fork(childEntry(), [], { execArgv: loaderArgs(), stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  const progress: TrainProgress = { step: 0, totalSteps: null };
  let tail: string[] = [];
  let pending = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (s: string) => {
    pending += s;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const l of lines) {
      if (!l.trim()) continue;
      tail = [...tail.slice(-4), l];
      let j: Record<string, unknown>;
      try {
        j = JSON.parse(l) as Record<string, unknown>;
      } catch {
        continue;
      }
      r.onLog?.(j);
      if (typeof j.totalSteps === 'number' && j.msg === 'training SFN-Lite') progress.totalSteps = j.totalSteps;
      r.onProgress?.({ ...progress });
    }
  });
  const timer = setInterval(() => {
    void lastStep(history).then((s) => {
      if (s !== null && s !== progress.step) {
        progress.step = s;
        r.onProgress?.({ ...progress });
      }
    });
  }, r.pollMs ?? 500);
  const kill = () => child.kill('SIGKILL');
  r.signal?.addEventListener('abort', kill);
  try {
    return await new Promise<TrainResult>((resolve, reject) => {
      let answered = false;
      child.once('message', (m: { result?: TrainResult; error?: string }) => {
        answered = true;
        if (m.result) resolve(m.result);
        else reject(new Error(m.error ?? 'training failed'));
      });
      child.once('error', (err) => reject(new Error(`learn: cannot start the training process: ${err.message}`)));
      child.once('exit', (code, sig) => {
        if (answered) return;
        if (r.signal?.aborted) reject(new Error('learn: training cancelled'));
        else reject(new Error(`learn: the training process ended (${sig ?? `status ${code}`}) without a result; last log lines: ${tail.join(' | ') || '(none)'}`));
      });
      child.send(o);
    });
  } finally {
    clearInterval(timer);
    r.signal?.removeEventListener('abort', kill);
  }
}
