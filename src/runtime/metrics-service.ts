/**
 * Prometheus metrics of `run` (health.ts `RunMetrics`), served on `GET /metrics` when a port is
 * given. The stats publishers of the camera pipelines feed the same registry.
 */
import type { Server } from 'node:http';
import { log } from '../util/log.js';
import { RunMetrics } from './health.js';
import type { Service } from './services.js';

/** The metrics registry and its HTTP endpoint as a service. */
export class MetricsService implements Service {
  readonly name = 'metrics';
  readonly metrics = new RunMetrics();
  private server: Server | null = null;

  /** @param port serve on 127.0.0.1:port (0 = a free port); undefined: not served */
  constructor(private readonly port: number | undefined) {}

  /** @throws Error when the port cannot be bound. */
  async start(): Promise<void> {
    if (this.port === undefined) return;
    const s = await this.metrics.serve(this.port);
    this.server = s.server;
    log.info({ url: `http://127.0.0.1:${s.port}/metrics` }, 'Prometheus metrics');
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }
}
