/**
 * The run's own ffmpeg processes, for the end of a run: once the bounded wait for the cameras'
 * last clips is over (command.ts `FINISH_WAIT_MS`), the clip encoders still running are killed so
 * that none outlives the process. Read from `/proc` (Linux; elsewhere nothing is found): the
 * direct children of this process whose program is {@link ffmpegBinary}.
 */
import { readdir, readFile, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { ffmpegBinary } from '../video/ffmpeg.js';

/** Pids of this process's children running ffmpeg (its binary as argv[0], or as the script a shell runs). */
export async function ffmpegChildren(): Promise<number[]> {
  const bin = ffmpegBinary();
  const name = basename(bin);
  const out: number[] = [];
  for (const d of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(d)) continue;
    const stat = await readFile(`/proc/${d}/stat`, 'utf8').catch(() => '');
    // "<pid> (<comm>) <state> <ppid> ...": the name may hold spaces and parentheses
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid !== process.pid) continue;
    const argv = (await readFile(`/proc/${d}/cmdline`, 'utf8').catch(() => '')).split('\0');
    if (argv.slice(0, 2).some((a) => a === bin || basename(a) === name)) out.push(Number(d));
  }
  return out;
}

/** SIGKILLs this process's ffmpeg children (see {@link ffmpegChildren}). @returns their pids. */
export async function killFfmpegChildren(): Promise<number[]> {
  const pids = await ffmpegChildren();
  for (const p of pids) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  return pids;
}

/**
 * Removes the `<name>.part` files left in `dirs` (not their subfolders) by writers killed at the
 * end of the run, so that no partial output outlives it (docs/mqtt.md, the file contract).
 * @returns the files removed.
 */
export async function removePartFiles(dirs: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const dir of new Set(dirs)) {
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      if (!name.endsWith('.part')) continue;
      await rm(join(dir, name), { force: true });
      out.push(join(dir, name));
    }
  }
  return out;
}
