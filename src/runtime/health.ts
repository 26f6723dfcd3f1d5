/**
 * Device health for `stats` and `/metrics`: CPU load, memory and CPU temperature, and a Prometheus
 * registry (prom-client) with the same counters as `stats`.
 *
 * Health is read from the kernel with plain file reads (`/proc/meminfo`, `/sys/class/thermal`,
 * `/sys/class/hwmon`) and the `os` module (CPU times), never by running a program: the
 * `systeminformation` calls used before spawned 4-6 shells per sample (`sensors`, `vcgencmd`, a
 * hwmon loop, `cat`), once per camera per stats interval, 40-560 ms each and worse under load. One
 * sampler serves the whole device: the cameras' stats ticks share a sample taken within
 * {@link HEALTH_MAX_AGE_MS}.
 */
import { readdir, readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import os from 'node:os';
import { join } from 'node:path';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';

/** One health sample; a field is null when the platform does not report it. */
export interface Health {
  /** CPU load over all cores since the previous sample (the first: since boot), percent */
  cpu_pct: number | null;
  mem_used_mb: number | null;
  mem_total_mb: number | null;
  /** main CPU temperature, °C */
  temp_c: number | null;
}

/** A sample younger than this (ms) is given again instead of a new one (several cameras tick together). */
export const HEALTH_MAX_AGE_MS = 1000;

/** What a {@link HealthSampler} reads (tests give a fake tree and CPU times). */
export interface HealthSources {
  /** where `proc/meminfo` and `sys/class/...` are (default `/`) */
  root?: string;
  /** per-core CPU times (default `os.cpus()`) */
  cpus?: () => Pick<os.CpuInfo, 'times'>[];
  /** ms clock (default `Date.now`) */
  now?: () => number;
}

/** Thermal zone / hwmon names that are the CPU's (x86 package, Arm SoC, Jetson CPU-therm, AMD). */
const CPU_SENSOR = /x86_pkg_temp|coretemp|k10temp|zenpower|cpu|soc/i;

/** Samples CPU load, memory and temperature (see the file comment); never throws. */
export class HealthSampler {
  private readonly root: string;
  private readonly cpus: () => Pick<os.CpuInfo, 'times'>[];
  private readonly now: () => number;
  private prevCpu: { busy: number; total: number } | null = null;
  private last: { at: number; value: Promise<Health> } | null = null;

  constructor(o: HealthSources = {}) {
    this.root = o.root ?? '/';
    this.cpus = o.cpus ?? os.cpus;
    this.now = o.now ?? Date.now;
  }

  /** A sample: the one taken less than {@link HEALTH_MAX_AGE_MS} ago, else a new one. */
  sample(): Promise<Health> {
    const t = this.now();
    if (this.last && t - this.last.at < HEALTH_MAX_AGE_MS) return this.last.value;
    const value = this.read();
    this.last = { at: t, value };
    return value;
  }

  private async read(): Promise<Health> {
    const [mem, temp] = await Promise.all([this.memory(), this.temperature()]);
    return { cpu_pct: this.cpuPct(), mem_used_mb: mem?.used ?? null, mem_total_mb: mem?.total ?? null, temp_c: temp };
  }

  /** Busy share of all cores' time since the previous call (the first: since boot). */
  private cpuPct(): number | null {
    let busy = 0;
    let total = 0;
    for (const c of this.cpus()) {
      const { user, nice, sys, idle, irq } = c.times;
      busy += user + nice + sys + irq;
      total += user + nice + sys + idle + irq;
    }
    const prev = this.prevCpu ?? { busy: 0, total: 0 };
    this.prevCpu = { busy, total };
    const dt = total - prev.total;
    if (!(dt > 0)) return null;
    return +Math.min(100, Math.max(0, ((busy - prev.busy) / dt) * 100)).toFixed(1);
  }

  /** Used (total - available, as `free` and systeminformation count it) and total memory, MiB. */
  private async memory(): Promise<{ used: number; total: number } | null> {
    const text = await readFile(join(this.root, 'proc/meminfo'), 'utf8').catch(() => null);
    const kb = (key: string) => {
      const m = text ? new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text) : null;
      return m ? Number(m[1]) : null;
    };
    const total = kb('MemTotal');
    let available = kb('MemAvailable');
    if (total === null) {
      // not Linux: what the os module knows
      const t = os.totalmem();
      return t > 0 ? { used: Math.round((t - os.freemem()) / 2 ** 20), total: Math.round(t / 2 ** 20) } : null;
    }
    available ??= (kb('MemFree') ?? 0) + (kb('Buffers') ?? 0) + (kb('Cached') ?? 0);
    return { used: Math.round((total - available) / 1024), total: Math.round(total / 1024) };
  }

  /**
   * The CPU's temperature, °C: the hottest thermal zone or hwmon sensor whose name is the CPU's
   * ({@link CPU_SENSOR}), else the hottest thermal zone; null when there is none.
   */
  private async temperature(): Promise<number | null> {
    const read = (f: string) => readFile(f, 'utf8').then((s) => s.trim(), () => null);
    const found: { name: string; c: number }[] = [];
    const add = (name: string | null, raw: string | null) => {
      const v = raw === null ? NaN : Number(raw) / 1000;
      if (name !== null && Number.isFinite(v) && v > -40 && v < 150) found.push({ name, c: v });
    };
    const zones = join(this.root, 'sys/class/thermal');
    for (const z of (await readdir(zones).catch(() => [] as string[])).filter((n) => n.startsWith('thermal_zone'))) {
      add(await read(join(zones, z, 'type')), await read(join(zones, z, 'temp')));
    }
    const hw = join(this.root, 'sys/class/hwmon');
    for (const h of await readdir(hw).catch(() => [] as string[])) {
      const name = await read(join(hw, h, 'name'));
      if (name === null || !CPU_SENSOR.test(name)) continue;
      for (const f of (await readdir(join(hw, h)).catch(() => [] as string[])).filter((n) => /^temp\d+_input$/.test(n))) add(name, await read(join(hw, h, f)));
    }
    const cpu = found.filter((x) => CPU_SENSOR.test(x.name));
    const pick = cpu.length ? cpu : found;
    return pick.length ? +Math.max(...pick.map((x) => x.c)).toFixed(1) : null;
  }
}

/** The device's sampler (every camera's stats share it). */
const deviceHealth = new HealthSampler();

/** Samples CPU load, memory and temperature for the device (never throws; unknown values are null). */
export function sampleHealth(): Promise<Health> {
  return deviceHealth.sample();
}

/**
 * The Prometheus metrics of a run: its own (names prefixed `sfn_`) and prom-client's process and
 * Node.js metrics (`process_resident_memory_bytes`, `nodejs_heap_size_used_bytes`, event-loop lag,
 * GC), which tell a leak in JavaScript from one in native memory (scripts/soak.ts reads both).
 */
export class RunMetrics {
  readonly registry = new Registry();
  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }
  readonly frames = new Counter({ name: 'sfn_frames_total', help: 'frames read from the source', registers: [this.registry] });
  readonly scored = new Counter({ name: 'sfn_frames_scored_total', help: 'frames scored by the model', registers: [this.registry] });
  readonly skipped = new Counter({ name: 'sfn_frames_skipped_total', help: 'frames dropped because the model was busy', registers: [this.registry] });
  readonly events = new Counter({ name: 'sfn_events_total', help: 'anomaly events started', registers: [this.registry] });
  readonly inferenceMs = new Gauge({ name: 'sfn_inference_ms', help: 'mean model time per call over the last stats interval, ms', registers: [this.registry] });
  readonly fps = new Gauge({ name: 'sfn_fps', help: 'scored frames per second over the last stats interval', registers: [this.registry] });
  readonly score = new Gauge({ name: 'sfn_anomaly_score', help: 'latest smoothed anomaly score (robust z)', registers: [this.registry] });
  readonly inEvent = new Gauge({ name: 'sfn_event_active', help: '1 while an event is active', registers: [this.registry] });

  /**
   * Serves `GET /metrics` on `host:port` (port 0 = any free port).
   * @returns the server and the port it listens on.
   */
  async serve(port: number, host = '127.0.0.1'): Promise<{ server: Server; port: number }> {
    const server = createServer((req, res) => {
      if (req.url !== '/metrics') {
        res.writeHead(404).end();
        return;
      }
      this.registry.metrics().then((text) => {
        res.writeHead(200, { 'content-type': this.registry.contentType }).end(text);
      }, (err: unknown) => res.writeHead(500).end(String(err)));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    const a = server.address();
    return { server, port: typeof a === 'object' && a ? a.port : port };
  }
}
