/**
 * Thread priority on Linux: lets work that must not slow the frame loop (captions in their worker
 * thread, and the ONNX Runtime threads that worker creates) run at a lower CPU priority than the
 * loop. A thread's nice value is its own on Linux (setpriority(2) with a thread id), and threads
 * created later inherit it, so a worker that lowers itself before it loads its model lowers the
 * model's thread pool too.
 */
import { readlinkSync } from 'node:fs';
import os from 'node:os';

/** The calling thread's kernel thread id (TID), from /proc/thread-self; null where there is none. */
export function currentThreadId(): number | null {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').at(-1));
    return Number.isInteger(tid) && tid > 0 ? tid : null;
  } catch {
    return null;
  }
}

/**
 * Sets the calling thread's nice value (-20 .. 19; higher = less CPU under contention).
 * Raising it needs no privilege; lowering it below the current value does.
 * @returns true when it was set, false where the platform has no thread ids (not Linux) or the
 *   kernel refused (the thread then keeps its priority).
 * @throws RangeError for a nice value outside -20 .. 19 or not an integer.
 */
export function niceThisThread(nice: number): boolean {
  if (!(Number.isInteger(nice) && nice >= -20 && nice <= 19)) throw new RangeError(`nice must be an integer in -20..19, got ${nice}`);
  const tid = currentThreadId();
  if (tid === null) return false;
  try {
    os.setPriority(tid, nice);
    return true;
  } catch {
    return false;
  }
}
