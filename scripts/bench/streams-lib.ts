/**
 * The pure parts of the streams bench (scripts/bench/streams.ts, issue 14 "several cameras per
 * device"): its arguments, percentiles, CPU % and RSS from /proc, and the aggregation of what the
 * subscriber and the sampler collected during one count's measuring window into a table row.
 * Nothing here starts a process or reads a file (test/bench/streams.test.ts).
 */
import { Command } from 'commander';

/** Options of `npm run bench -- streams`. */
export interface StreamsOptions {
  /** camera counts, one run of the device each, in this order */
  counts: number[];
  /** frame rate of every camera, frames/s */
  fps: number;
  /** length of each count's measuring window, s */
  seconds: number;
  /** longest wait for every camera to report scored frames before the window opens, s */
  warmupS: number;
  /** `stats_interval_s` of the run */
  statsS: number;
  /** print the JSON document instead of the table */
  json: boolean;
  /** where to save the JSON document (none: not saved) */
  out: string | undefined;
  /** `run --model` (none: the default model) */
  model: string | undefined;
}

/** The most cameras one run takes (`cameras` in src/core/runtime-config.ts: at most 32). */
export const MAX_CAMERAS = 32;

/**
 * Parses `--counts 1,4,8 --fps 10 --seconds 60 [--json] [--out f]` (the words after `streams`).
 * @throws Error naming the bad option (commander's own errors for unknown options).
 */
export function parseStreamsArgs(argv: string[]): StreamsOptions {
  const num = (name: string, min: number, max: number) => (v: string) => {
    const x = Number(v);
    if (!Number.isFinite(x) || x < min || x > max) throw new Error(`${name} must be a number in [${min}, ${max}], got '${v}'`);
    return x;
  };
  const counts = (v: string) => {
    const xs = v.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
    if (xs.length === 0 || xs.some((x) => !Number.isInteger(x) || x < 1 || x > MAX_CAMERAS)) {
      throw new Error(`--counts must be a comma-separated list of integers in [1, ${MAX_CAMERAS}], got '${v}'`);
    }
    return xs;
  };
  const o = new Command('bench streams')
    .option('--counts <list>', 'camera counts, e.g. 1,4,8,16,24', counts, [1, 4, 8, 16, 24])
    .option('--fps <x>', 'frames/s of every camera', num('--fps', 1, 60), 10)
    .option('--seconds <s>', 'measuring window per count, s', num('--seconds', 2, 3600), 60)
    .option('--warmup-s <s>', 'longest wait for every camera to report scored frames, s', num('--warmup-s', 5, 600), 90)
    .option('--stats-s <s>', 'stats_interval_s of the run', num('--stats-s', 1, 60), 5)
    .option('--json', 'print the JSON document instead of the table', false)
    .option('--out <file>', 'save the JSON document here')
    .option('--model <file>', 'run --model (default: the model models/default.json names)')
    .exitOverride()
    .configureOutput({ writeErr: () => undefined })
    .parse(argv, { from: 'user' })
    .opts<StreamsOptions>();
  return { counts: o.counts, fps: o.fps, seconds: o.seconds, warmupS: o.warmupS, statsS: o.statsS, json: o.json, out: o.out, model: o.model };
}

/**
 * The p-th percentile (0-100) with linear interpolation between closest ranks (numpy's default).
 * @returns null for no values
 */
export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const at = (Math.min(100, Math.max(0, p)) / 100) * (s.length - 1);
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return s[lo]! + (s[hi]! - s[lo]!) * (at - lo);
}

/** What the bench reads from `/proc/<pid>/stat`. */
export interface ProcStat {
  pid: number;
  ppid: number;
  /** utime + stime, clock ticks */
  ticks: number;
}

/**
 * Parses `/proc/<pid>/stat` (the command name, field 2, is in parentheses and may hold spaces).
 * @returns null for text that is not a stat line
 */
export function parseProcStat(text: string): ProcStat | null {
  const close = text.lastIndexOf(')');
  if (close < 0) return null;
  const pid = Number(text.slice(0, text.indexOf('(')).trim());
  // after ") ": state (3), ppid (4), ..., utime (14), stime (15)
  const f = text.slice(close + 2).trim().split(/\s+/);
  const ppid = Number(f[1]);
  const ticks = Number(f[11]) + Number(f[12]);
  return Number.isFinite(pid) && Number.isFinite(ppid) && Number.isFinite(ticks) ? { pid, ppid, ticks } : null;
}

/**
 * CPU % of a process between two readings of its utime + stime (100 % = one core busy).
 * @param hz clock ticks per second (`getconf CLK_TCK`, 100 on Linux)
 * @returns null when no time passed or the counter went back (another process under the same pid)
 */
export function cpuPct(prev: { ticks: number; atMs: number }, cur: { ticks: number; atMs: number }, hz: number): number | null {
  const dt = (cur.atMs - prev.atMs) / 1000;
  const d = cur.ticks - prev.ticks;
  if (!(dt > 0) || d < 0) return null;
  return (d / hz / dt) * 100;
}

/** The CPU ticks that processes spent between two snapshots `{pid: ticks}`, over the pids in both. */
export function ticksBetween(prev: ReadonlyMap<number, number>, cur: ReadonlyMap<number, number>): number {
  let d = 0;
  for (const [pid, t] of cur) {
    const p = prev.get(pid);
    if (p !== undefined && t >= p) d += t - p;
  }
  return d;
}

/** Resident memory in MiB from `/proc/<pid>/status` (`VmRSS: 123456 kB`); null when absent. */
export function rssMbOf(status: string): number | null {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  return m ? Number(m[1]) / 1024 : null;
}

/** One `stats` message of a camera (the fields the bench uses). */
export interface StatsSample {
  camera: string;
  /** the message's `time`, ms since the epoch */
  timeMs: number;
  fps: number;
  input_fps: number;
  skipped_fps: number;
}

/** One `events` message as the subscriber got it. */
export interface EventSample {
  camera: string;
  type: string;
  /** arrival at the subscriber, ms since the epoch */
  arrivedMs: number;
  /** the time of the frame whose scoring made the message (`last.time` of `new` / `update`), ms; null for `end` */
  frameMs: number | null;
}

/** One sample of the run process. */
export interface ProcSample {
  atMs: number;
  /** CPU % of the run process (node) since the previous sample */
  cpuPct: number | null;
  /** CPU % of its child processes (the ffmpeg decoders) since the previous sample */
  childrenCpuPct: number | null;
  rssMb: number | null;
}

/** One row of the table: one count of cameras. */
export interface StreamsRow {
  cameras: number;
  /** median over cameras of each camera's frames scored per second in the window */
  fps_per_camera_median: number | null;
  /** the slowest camera's frames scored per second */
  fps_per_camera_min: number | null;
  /** median over cameras of frames read from the source per second */
  input_fps_per_camera_median: number | null;
  /** frames not scored because the model was busy (realtime drop), all cameras, in the window */
  skipped_total: number;
  /** mean CPU % of the run process over the window (100 = one core) */
  cpu_pct: number | null;
  /** mean CPU % of its ffmpeg decoders together */
  decoders_cpu_pct: number | null;
  rss_mb_max: number | null;
  /** arrival at the subscriber minus the time of the frame that made the message (`new`, `update`) */
  event_latency_ms_p50: number | null;
  event_latency_ms_p95: number | null;
  /** events started (`new` messages) received in the window */
  events: number;
  /** lifecycle messages (`new`, `update`, `end`) received in the window */
  event_messages: number;
  /** whether every camera scored at least 90 % of the camera frame rate */
  keeps_up: boolean;
}

const round = (x: number | null, d = 1): number | null => (x === null ? null : +x.toFixed(d));
const mean = (xs: readonly number[]): number | null => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);

/**
 * One row from what was collected for `cameras` cameras (ids `cameraIds`) between `startMs` and
 * `endMs`. A stats message counts when its `time` is inside the window; its rates cover the time
 * since the camera's previous message (`statsS` for its first). A camera without stats in the
 * window counts as 0 frames/s. Events count by arrival time.
 */
export function aggregateRow(o: {
  cameraIds: readonly string[];
  fps: number;
  statsS: number;
  startMs: number;
  endMs: number;
  stats: readonly StatsSample[];
  events: readonly EventSample[];
  proc: readonly ProcSample[];
}): StreamsRow {
  const inWindow = (t: number) => t > o.startMs && t <= o.endMs;
  const perCamera = o.cameraIds.map((id) => {
    const mine = o.stats.filter((s) => s.camera === id).sort((a, b) => a.timeMs - b.timeMs);
    let scored = 0;
    let read = 0;
    let skipped = 0;
    let span = 0;
    mine.forEach((s, i) => {
      if (!inWindow(s.timeMs)) return;
      const dt = i > 0 ? (s.timeMs - mine[i - 1]!.timeMs) / 1000 : o.statsS;
      scored += s.fps * dt;
      read += s.input_fps * dt;
      skipped += s.skipped_fps * dt;
      span += dt;
    });
    return { fps: span > 0 ? scored / span : 0, inputFps: span > 0 ? read / span : 0, skipped };
  });
  const fpsList = perCamera.map((c) => c.fps);
  const lifecycle = o.events.filter((e) => inWindow(e.arrivedMs));
  const latencies = lifecycle.filter((e) => e.frameMs !== null).map((e) => e.arrivedMs - e.frameMs!);
  const cpu = o.proc.map((p) => p.cpuPct).filter((x): x is number => x !== null);
  const children = o.proc.map((p) => p.childrenCpuPct).filter((x): x is number => x !== null);
  const rss = o.proc.map((p) => p.rssMb).filter((x): x is number => x !== null);
  const slowest = fpsList.length ? Math.min(...fpsList) : null;
  return {
    cameras: o.cameraIds.length,
    fps_per_camera_median: round(percentile(fpsList, 50), 2),
    fps_per_camera_min: round(slowest, 2),
    input_fps_per_camera_median: round(percentile(perCamera.map((c) => c.inputFps), 50), 2),
    skipped_total: Math.round(perCamera.reduce((a, c) => a + c.skipped, 0)),
    cpu_pct: round(mean(cpu)),
    decoders_cpu_pct: round(mean(children)),
    rss_mb_max: rss.length ? round(Math.max(...rss)) : null,
    event_latency_ms_p50: round(percentile(latencies, 50), 0),
    event_latency_ms_p95: round(percentile(latencies, 95), 0),
    events: lifecycle.filter((e) => e.type === 'new').length,
    event_messages: lifecycle.length,
    keeps_up: slowest !== null && slowest >= 0.9 * o.fps,
  };
}

/** The table: a header and one line per row. */
export function formatTable(rows: readonly StreamsRow[]): string {
  const cols: [string, (r: StreamsRow) => string][] = [
    ['cameras', (r) => String(r.cameras)],
    ['fps/cam p50', (r) => String(r.fps_per_camera_median ?? '-')],
    ['fps/cam min', (r) => String(r.fps_per_camera_min ?? '-')],
    ['skipped', (r) => String(r.skipped_total)],
    ['cpu %', (r) => String(r.cpu_pct ?? '-')],
    ['ffmpeg cpu %', (r) => String(r.decoders_cpu_pct ?? '-')],
    ['rss MB max', (r) => String(r.rss_mb_max ?? '-')],
    ['latency p50 ms', (r) => String(r.event_latency_ms_p50 ?? '-')],
    ['latency p95 ms', (r) => String(r.event_latency_ms_p95 ?? '-')],
    ['events', (r) => String(r.events)],
    ['keeps up', (r) => (r.keeps_up ? 'yes' : 'no')],
  ];
  const cells = [cols.map(([h]) => h), ...rows.map((r) => cols.map(([, f]) => f(r)))];
  const widths = cols.map((_, i) => Math.max(...cells.map((c) => c[i]!.length)));
  return cells.map((c) => c.map((v, i) => v.padStart(widths[i]!)).join('  ')).join('\n');
}

/**
 * A message on `sfn/<device>/<camera>/stats` or `sfn/<device>/<camera>/events` as a sample; null
 * for other topics and for payloads that are not such a message.
 */
export function sampleOf(device: string, topic: string, payload: string, arrivedMs: number):
  { stats: StatsSample } | { event: EventSample } | null {
  const parts = topic.split('/');
  if (parts.length !== 4 || parts[0] !== 'sfn' || parts[1] !== device) return null;
  const camera = parts[2]!;
  let m: Record<string, unknown>;
  try {
    m = JSON.parse(payload) as Record<string, unknown>;
  } catch {
    return null;
  }
  if (typeof m !== 'object' || m === null) return null;
  const n = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
  if (parts[3] === 'stats') {
    const timeMs = Date.parse(String(m['time']));
    if (!Number.isFinite(timeMs)) return null;
    return { stats: { camera, timeMs, fps: n(m['fps']), input_fps: n(m['input_fps']), skipped_fps: n(m['skipped_fps']) } };
  }
  if (parts[3] === 'events') {
    const type = String(m['type']);
    const last = m['last'] as { time?: unknown } | undefined;
    const t = type === 'end' ? NaN : Date.parse(String(last?.time));
    return { event: { camera, type, arrivedMs, frameMs: Number.isFinite(t) ? t : null } };
  }
  return null;
}
