/**
 * `sfn-edge` as a child process (test/cli-main.ts under tsx): its exit code, stdout and stderr
 * lines, and a bounded wait for a line. For tests of what a real process does: exit codes,
 * signals, a broker that is not there.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

const MAIN = path.resolve('test/cli-main.ts');

/** A running `sfn-edge` process. */
export interface CliProcess {
  readonly child: ChildProcess;
  readonly stdout: string[];
  readonly stderr: string[];
  /** exit code (null when killed by a signal) */
  readonly exited: Promise<number | null>;
  /** resolves with the first stderr line matching `re`; rejects after `timeoutMs` or when the process exits first */
  waitForLog(re: RegExp, timeoutMs?: number): Promise<string>;
  /** the stderr lines that are JSON log records with this `msg` */
  records(msg: string): Record<string, unknown>[];
}

/** Starts `sfn-edge <args>` in `cwd` (default: the repository) with `SFN_LOG_LEVEL` info. */
export function startCli(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; group?: boolean } = {}): CliProcess {
  // group: in a process group of its own (as a terminal's foreground job), to signal the whole group
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    cwd: opts.cwd ?? process.cwd(), env: { ...process.env, SFN_LOG_LEVEL: 'info', ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'], detached: opts.group ?? false,
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  const waiters = new Set<() => void>();
  const lines = (into: string[]) => {
    let rest = '';
    return (chunk: Buffer) => {
      const parts = (rest + chunk.toString('utf8')).split('\n');
      rest = parts.pop() ?? '';
      into.push(...parts);
      for (const w of [...waiters]) w();
    };
  };
  child.stdout!.on('data', lines(stdout));
  child.stderr!.on('data', lines(stderr));
  let done = false;
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => {
    done = true;
    for (const w of [...waiters]) w();
    resolve(code);
  }));
  const waitForLog = (re: RegExp, timeoutMs = 60_000) => new Promise<string>((resolve, reject) => {
    const check = () => {
      const hit = stderr.find((l) => re.test(l));
      if (hit !== undefined) return finish(() => resolve(hit));
      if (done) finish(() => reject(new Error(`sfn-edge exited before logging ${re}; stderr:\n${stderr.slice(-15).join('\n')}`)));
    };
    const t = setTimeout(() => finish(() => reject(new Error(`no log line ${re} within ${timeoutMs} ms; stderr:\n${stderr.slice(-15).join('\n')}`))), timeoutMs);
    const finish = (f: () => void) => {
      clearTimeout(t);
      waiters.delete(check);
      f();
    };
    waiters.add(check);
    check();
  });
  const records = (msg: string) => stderr.flatMap((l) => {
    try {
      const r = JSON.parse(l) as Record<string, unknown>;
      return r.msg === msg ? [r] : [];
    } catch {
      return [];
    }
  });
  return { child, stdout, stderr, exited, waitForLog, records };
}
