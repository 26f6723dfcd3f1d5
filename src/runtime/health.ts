/**
 * Device health for `stats` and `/metrics`: CPU load, memory and CPU temperature from
 * `systeminformation`, and a Prometheus registry (prom-client) with the same counters as `stats`.
 */
import { createServer, type Server } from 'node:http';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import si from 'systeminformation';

/** One health sample; a field is null when the platform does not report it. */
export interface Health {
  /** CPU load over all cores, percent */
  cpu_pct: number | null;
  mem_used_mb: number | null;
  mem_total_mb: number | null;
  /** main CPU temperature, °C */
  temp_c: number | null;
}

/** Samples CPU load, memory and temperature (never throws; unknown values are null). */
export async function sampleHealth(): Promise<Health> {
  const [load, mem, temp] = await Promise.allSettled([si.currentLoad(), si.mem(), si.cpuTemperature()]);
  const ok = <T>(r: PromiseSettledResult<T>): T | null => (r.status === 'fulfilled' ? r.value : null);
  const l = ok(load);
  const m = ok(mem);
  const t = ok(temp);
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  return {
    cpu_pct: num(l?.currentLoad) !== null ? +(l!.currentLoad).toFixed(1) : null,
    mem_used_mb: m ? Math.round(m.active / 2 ** 20) : null,
    mem_total_mb: m ? Math.round(m.total / 2 ** 20) : null,
    temp_c: num(t?.main),
  };
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
