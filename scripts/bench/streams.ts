/**
 * The streams bench (issue 14, "several cameras per device"): how many live cameras one device
 * carries. For each count N: N cameras (ffmpeg serving Ped2 test videos, made once into H.264 mp4s,
 * over HTTP at `--fps` in a loop, restarted when they exit since ffmpeg's HTTP server serves one
 * client), a private Mosquitto, and ONE `sfn-edge run` (the built CLI, dist/) with a `cameras`
 * list of N cameras, captions and streaming off, clips on; all on 127.0.0.1.
 *
 *   npm run build && npm run bench -- streams --counts 1,4,8,16,24 --fps 10 --seconds 60 --out bench/streams.json
 *
 * A subscriber counts, per camera, frames scored per second and frames skipped (from the `stats`
 * messages), events, and event latency (arrival minus the `last.time` of `new` / `update`: the
 * time the frame that made the message was read). Every second the run process's CPU % (utime +
 * stime from /proc, 100 % = one core; its ffmpeg decoders apart) and RSS are sampled. The window
 * opens once every camera has reported scored frames (at most `--warmup-s`) and lasts
 * `--seconds`. Prints one table row per N (or the JSON with `--json`) and saves the JSON to
 * `--out`. Every wait is bounded; every process started here is killed at the end, on error and on
 * SIGINT / SIGTERM. Pure helpers: streams-lib.ts.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { freePort } from '../../test/mqtt/brokers.js';
import { missingTools } from '../../test/tools.js';
import { keepLines } from './lines.js';
import {
  aggregateRow, formatTable, parseProcStat, parseStreamsArgs, rssMbOf, sampleOf, ticksBetween,
  type EventSample, type ProcSample, type StatsSample, type StreamsOptions, type StreamsRow,
} from './streams-lib.js';

const PED2 = path.resolve('../shared/datasets/ucsd_ped2/testing/frames');
const DEVICE = 'bench';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every process started here (each in its own process group: the run's ffmpeg decoders go with it). */
const started = new Set<ChildProcess>();

function startProc(cmd: string, args: string[], opts: { out?: string[]; env?: NodeJS.ProcessEnv } = {}): ChildProcess {
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', opts.out ? 'pipe' : 'ignore', opts.out ? 'pipe' : 'ignore'], env: opts.env ?? process.env });
  started.add(child);
  child.once('exit', () => started.delete(child));
  child.once('error', () => undefined);
  if (opts.out) keepLines(child, opts.out, 20_000);
  return child;
}

/** Signals a child's process group (the child and what it started). */
function signalGroup(c: ChildProcess, sig: NodeJS.Signals): void {
  if (c.pid === undefined || c.exitCode !== null || c.signalCode !== null) return;
  try {
    process.kill(-c.pid, sig);
  } catch {
    c.kill(sig);
  }
}

/** SIGTERM, then SIGKILL after `ms`; resolves once it has exited. */
async function stopProc(c: ChildProcess, ms: number): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const exited = new Promise<void>((r) => c.once('exit', () => r()));
  signalGroup(c, 'SIGTERM');
  const t = setTimeout(() => signalGroup(c, 'SIGKILL'), ms);
  let giveUp: NodeJS.Timeout | undefined;
  await Promise.race([exited, new Promise<void>((r) => { giveUp = setTimeout(r, ms + 2000); })]);
  clearTimeout(t);
  clearTimeout(giveUp);
  signalGroup(c, 'SIGKILL'); // what the run started and left behind
}

function killAll(): void {
  for (const c of started) signalGroup(c, 'SIGKILL');
}

async function waitForPort(port: number, ms: number): Promise<void> {
  const net = await import('node:net');
  for (let i = 0; i < ms / 100; i++) {
    const ok = await new Promise<boolean>((r) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => { s.destroy(); r(true); });
      s.once('error', () => r(false));
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`nothing listens on 127.0.0.1:${port} after ${ms} ms`);
}

/**
 * The Ped2 test videos in the order cameras get them: first those whose anomaly starts at frame 1
 * (ground truth of Ped2), so that a short run with one camera sees events, then the others.
 */
export const VIDEO_ORDER = ['03', '05', '06', '08', '09', '10', '11', '04', '07', '01', '12', '02'] as const;

/** The first n (at most 12) of {@link VIDEO_ORDER} as small H.264 mp4s at `fps`, made once into `dir`. */
async function makeVideos(dir: string, n: number, fps: number): Promise<string[]> {
  const out: string[] = [];
  for (const v of VIDEO_ORDER.slice(0, n)) {
    const file = path.join(dir, `ped2-${v}.mp4`);
    await new Promise<void>((ok, fail) => execFile('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-framerate', String(fps), '-i', path.join(PED2, v, '%03d.jpg'),
      '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', '-g', String(fps), file], { timeout: 120_000 }, (err) => (err ? fail(err) : ok())));
    out.push(file);
  }
  return out;
}

/** A live camera: ffmpeg serving `video` in a loop on `url`, started again (at most 500 times) whenever it exits. */
function camera(video: string, url: string): { pid(): number | undefined; stop(): Promise<void> } {
  let stopping = false;
  let child: ChildProcess | null = null;
  let restarts = 0;
  const go = () => {
    if (stopping || restarts++ > 500) return;
    const c = startProc('ffmpeg', ['-hide_banner', '-v', 'error', '-re', '-stream_loop', '-1', '-i', video, '-c', 'copy', '-f', 'mpegts', '-listen', '1', url]);
    child = c;
    c.once('exit', () => {
      if (!stopping) setTimeout(go, 200);
    });
  };
  go();
  return {
    pid: () => (child as ChildProcess | null)?.pid,
    stop: async () => {
      stopping = true;
      if (child) await stopProc(child, 2000);
    },
  };
}

/** Ticks of each pid in `pids` that can be read. */
async function ticksOf(pids: readonly number[], file = (p: number) => `/proc/${p}/stat`): Promise<Map<number, number>> {
  const m = new Map<number, number>();
  for (const p of pids) {
    const s = parseProcStat(await readFile(file(p), 'utf8').catch(() => ''));
    if (s) m.set(p, s.ticks);
  }
  return m;
}

/**
 * utime + stime (ticks) of the run process, of its main thread (the JavaScript event loop), of each
 * of its children (the ffmpeg decoders) and of the camera servers.
 */
async function readTicks(pid: number, cameraPids: readonly number[]): Promise<{ self: number | null; main: number | null; children: Map<number, number>; cameras: Map<number, number> }> {
  const self = parseProcStat(await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => ''));
  const main = parseProcStat(await readFile(`/proc/${pid}/task/${pid}/stat`, 'utf8').catch(() => ''));
  const cameras = await ticksOf(cameraPids);
  const children = new Map<number, number>();
  const pids = (await readdir('/proc').catch(() => [] as string[])).filter((d) => /^\d+$/.test(d));
  for (const p of pids) {
    const s = parseProcStat(await readFile(`/proc/${p}/stat`, 'utf8').catch(() => ''));
    if (s && s.ppid === pid) children.set(s.pid, s.ticks);
  }
  return { self: self?.ticks ?? null, main: main?.ticks ?? null, children, cameras };
}

/** Event-loop lag of the run from its Prometheus metrics (prom-client's defaults), ms; null when unreadable. */
async function loopLag(port: number): Promise<{ mean_ms: number; p99_ms: number; max_ms: number } | null> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
    const v = (name: string) => Number(new RegExp(`^${name} ([0-9.e+-]+)$`, 'm').exec(text)?.[1]) * 1000;
    const r = { mean_ms: +v('nodejs_eventloop_lag_mean_seconds').toFixed(1), p99_ms: +v('nodejs_eventloop_lag_p99_seconds').toFixed(1), max_ms: +v('nodejs_eventloop_lag_max_seconds').toFixed(1) };
    return Number.isFinite(r.mean_ms) ? r : null;
  } catch {
    return null;
  }
}

/** One count: N cameras, a broker, one run; the row and the run's summary line. */
async function oneCount(n: number, o: StreamsOptions, videos: string[], tmp: string, hz: number): Promise<StreamsRow & Record<string, unknown>> {
  const dir = path.join(tmp, `n${n}`);
  await mkdir(dir, { recursive: true });
  const load0 = os.loadavg();
  const ids = Array.from({ length: n }, (_, i) => `cam${String(i + 1).padStart(2, '0')}`);
  const urls: string[] = [];
  for (let i = 0; i < n; i++) urls.push(`http://127.0.0.1:${await freePort()}/cam.ts`);
  const cams = urls.map((u, i) => camera(videos[i % videos.length]!, u));
  const brokerPort = await freePort();
  const broker = startProc('mosquitto', ['-p', String(brokerPort)]);
  const brokerUrl = `mqtt://127.0.0.1:${brokerPort}`;
  const stats: StatsSample[] = [];
  const events: EventSample[] = [];
  let sub: MqttClient | null = null;
  let run: ChildProcess | null = null;
  const lines: string[] = [];
  try {
    await waitForPort(brokerPort, 20_000);
    sub = await mqtt.connectAsync(brokerUrl, { reconnectPeriod: 0, connectTimeout: 10_000 });
    sub.on('message', (topic, payload) => {
      const s = sampleOf(DEVICE, topic, payload.toString('utf8'), Date.now());
      if (s && 'stats' in s) stats.push(s.stats);
      else if (s) events.push(s.event);
    });
    await sub.subscribeAsync([`sfn/${DEVICE}/+/stats`, `sfn/${DEVICE}/+/events`], { qos: 1 });
    const metricsPort = await freePort();
    const config = path.join(dir, 'config.json');
    await writeFile(config, JSON.stringify({
      captions: { enabled: false }, streaming: { enabled: false }, stats_interval_s: o.statsS,
      cameras: ids.map((id, i) => ({ id, source: urls[i] })),
    }));
    const args = ['bin/sfn-edge.js', 'run', '--config', config, '--broker', brokerUrl, '--device-id', DEVICE, '--state-dir', path.join(dir, 'state'),
      '--clips', path.join(dir, 'clips'), '--realtime', 'true', '--metrics-port', String(metricsPort), '--fps', String(o.fps), '--providers', 'cpu', ...(o.model ? ['--model', o.model] : [])];
    run = startProc(process.execPath, args, { out: lines, env: { ...process.env, SFN_LOG_LEVEL: 'info', SFN_LOG_FORMAT: 'json' } });
    const pid = run.pid!;
    // warm-up: every camera has scored frames
    const t0 = Date.now();
    const scoring = () => new Set(stats.filter((s) => s.fps > 0).map((s) => s.camera)).size;
    while (scoring() < n && Date.now() - t0 < o.warmupS * 1000) {
      if (run.exitCode !== null) throw new Error(`run exited (${run.exitCode}) during the warm-up:\n${lines.slice(-20).join('\n')}`);
      await sleep(250);
    }
    const warmupS = (Date.now() - t0) / 1000;
    // the window: sample the run process every second
    const proc: ProcSample[] = [];
    const startMs = Date.now();
    const camPids = () => cams.map((c) => c.pid()).filter((p): p is number => p !== undefined);
    let prev = { at: startMs, ...(await readTicks(pid, camPids())) };
    const extra: { main: number[]; cameras: number[] } = { main: [], cameras: [] };
    for (let i = 0; i < Math.ceil(o.seconds) && run.exitCode === null; i++) {
      await sleep(Math.max(0, startMs + (i + 1) * 1000 - Date.now()));
      const cur = { at: Date.now(), ...(await readTicks(pid, camPids())) };
      const dt = (cur.at - prev.at) / 1000;
      const rss = rssMbOf(await readFile(`/proc/${pid}/status`, 'utf8').catch(() => ''));
      proc.push({
        atMs: cur.at, rssMb: rss,
        cpuPct: cur.self !== null && prev.self !== null && dt > 0 ? ((cur.self - prev.self) / hz / dt) * 100 : null,
        childrenCpuPct: dt > 0 ? (ticksBetween(prev.children, cur.children) / hz / dt) * 100 : null,
      });
      if (dt > 0 && cur.main !== null && prev.main !== null) extra.main.push(((cur.main - prev.main) / hz / dt) * 100);
      if (dt > 0) extra.cameras.push((ticksBetween(prev.cameras, cur.cameras) / hz / dt) * 100);
      prev = cur;
    }
    const lag = await loopLag(metricsPort);
    const endMs = Date.now();
    if (run.exitCode !== null) throw new Error(`run exited (${run.exitCode}) during the window:\n${lines.slice(-20).join('\n')}`);
    const tStop = Date.now();
    await stopProc(run, 30_000);
    const stopS = (Date.now() - tStop) / 1000;
    await sleep(500); // what the broker still forwards to the subscriber
    const summary = lines.map((l) => { try { return JSON.parse(l) as Record<string, unknown>; } catch { return null; } })
      .find((r) => r && 'cameras' in r && 'scored' in r) ?? null;
    const batched = lines.map((l) => { try { return JSON.parse(l) as Record<string, unknown>; } catch { return null; } })
      .find((r) => r?.['msg'] === 'model host: clips of the cameras on this model, batched') ?? null;
    const row = aggregateRow({ cameraIds: ids, fps: o.fps, statsS: o.statsS, startMs, endMs, stats, events, proc });
    return {
      ...row, window_s: +((endMs - startMs) / 1000).toFixed(1), warmup_s: +warmupS.toFixed(1), stop_s: +stopS.toFixed(1),
      load_start: load0.map((x) => +x.toFixed(2)), load_end: os.loadavg().map((x) => +x.toFixed(2)),
      clips_per_predict_call: batched?.['clips_per_call'] ?? null,
      main_thread_cpu_pct: extra.main.length ? +(extra.main.reduce((a, b) => a + b, 0) / extra.main.length).toFixed(1) : null,
      camera_servers_cpu_pct: extra.cameras.length ? +(extra.cameras.reduce((a, b) => a + b, 0) / extra.cameras.length).toFixed(1) : null,
      event_loop_lag: lag,
      run_summary: summary ? { frames: summary['frames'], scored: summary['scored'], skipped: summary['skipped'], events: summary['events'], messages: summary['messages'], reconnects: summary['reconnects'], outbox_flushed: summary['outbox_flushed'], inference_ms: summary['inference_ms'] } : null,
      event_messages_run: events.length,
    };
  } finally {
    if (run) await stopProc(run, 5000);
    // SFN_BENCH_LOGS=<dir>: keep the run's last log lines (diagnosis)
    if (process.env['SFN_BENCH_LOGS']) {
      await writeFile(path.join(process.env['SFN_BENCH_LOGS'], `run-${n}.log`), `${lines.join('\n')}\n`).catch(() => undefined);
      await writeFile(path.join(process.env['SFN_BENCH_LOGS'], `samples-${n}.json`), JSON.stringify({ stats, events })).catch(() => undefined);
    }
    await sub?.endAsync(true).catch(() => undefined);
    for (const c of cams) await c.stop();
    await stopProc(broker, 5000);
  }
}

/**
 * Runs the bench with these command-line arguments (after `streams`).
 * @throws Error when a tool is missing, dist/ is not built or older than src/, or a process fails
 */
export async function run(argv: string[]): Promise<void> {
  const o = parseStreamsArgs(argv);
  const missing = missingTools('ffmpeg', 'mosquitto');
  if (missing) throw new Error(missing);
  const built = statSync('dist/runtime/command.js', { throwIfNoEntry: false });
  if (!built || built.mtimeMs < statSync('src/runtime/command.ts').mtimeMs) throw new Error('dist/runtime/command.js is missing or older than src/: run npm run build');
  const hz = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'sfn-streams-'));
  const onSignal = (sig: NodeJS.Signals) => {
    killAll();
    void rm(tmp, { recursive: true, force: true }).finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('exit', killAll);
  const log = (s: string) => (o.json ? process.stderr : process.stdout).write(`${s}\n`);
  try {
    const load0 = os.loadavg();
    const tv = Date.now();
    const videos = await makeVideos(tmp, Math.max(...o.counts), o.fps);
    log(`streams bench: ${videos.length} video(s) made in ${((Date.now() - tv) / 1000).toFixed(1)} s`);
    const rows: (StreamsRow & Record<string, unknown>)[] = [];
    for (const n of o.counts) {
      log(`streams bench: ${n} camera(s) at ${o.fps} fps, ${o.seconds} s ...`);
      rows.push(await oneCount(n, o, videos, tmp, hz));
      log(formatTable([rows.at(-1)!]).split('\n')[1]!);
    }
    const doc = {
      command: `npm run bench -- streams ${argv.join(' ')}`.trim(),
      date: new Date().toISOString(),
      machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? '', memory_gb: +(os.totalmem() / 2 ** 30).toFixed(1), node: process.version, note: 'shared machine: other jobs ran beside the bench (see load)' },
      load: { start: load0.map((x) => +x.toFixed(2)), end: os.loadavg().map((x) => +x.toFixed(2)) },
      setup: {
        fps: o.fps, seconds: o.seconds, stats_interval_s: o.statsS, model: o.model ?? 'default (models/default.json)', providers: 'cpu', realtime: true,
        captions: false, streaming: false, clips: true, broker: 'mosquitto -p <port> (loopback)',
        cameras: `Ped2 test videos ${VIDEO_ORDER.join(',')} (camera i gets the i-th, cycled), H.264 mp4 served by ffmpeg over HTTP (mpegts, -re, looped)`,
        latency: 'arrival at the subscriber minus last.time of new/update messages (the read time of the frame that made the message)',
        keeps_up: 'every camera scored >= 90 % of --fps in the window',
      },
      rows,
    };
    if (o.out) {
      await mkdir(path.dirname(o.out), { recursive: true });
      await writeFile(o.out, `${JSON.stringify(doc, null, 2)}\n`);
    }
    if (o.json) process.stdout.write(`${JSON.stringify(doc)}\n`);
    else {
      process.stdout.write(`\n${formatTable(rows)}\nload average (1, 5, 15 min): start ${doc.load.start.join(' ')}, end ${doc.load.end.join(' ')}\n`);
      if (o.out) process.stdout.write(`streams bench: saved ${o.out}\n`);
    }
  } finally {
    killAll();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('exit', killAll);
    await rm(tmp, { recursive: true, force: true });
  }
}
