/** Output lines of a benchmark's child processes, kept for diagnosis and for waiting on a log line. */
import type { ChildProcess } from 'node:child_process';

/**
 * Appends every complete line `child` writes to stdout and stderr (both piped) to `lines`, keeping
 * at most the last `max` lines, so a long run's output cannot grow without bound.
 */
export function keepLines(child: ChildProcess, lines: string[], max: number): void {
  let rest = '';
  const take = (b: Buffer) => {
    const parts = (rest + b.toString('utf8')).split('\n');
    rest = parts.pop() ?? '';
    lines.push(...parts);
    if (lines.length > max) lines.splice(0, lines.length - max);
  };
  child.stdout!.on('data', take);
  child.stderr!.on('data', take);
}
