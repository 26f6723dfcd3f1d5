/**
 * The periodic `stats` message and the Prometheus metrics, from the run loop's counters: rates are
 * over the interval since the previous message (fps = scored frames / s, input_fps = frames read / s,
 * skipped_fps = frames dropped / s, inference_ms = mean model time per call), plus the latest score,
 * whether an event is active, the provider and model, and device health (health.ts).
 */
import type { LoopCounters } from '../pipeline/loop.js';
import { RunMetrics, sampleHealth } from './health.js';

/** What a stats message reads from the running pipeline (it can change during the run). */
export interface StatsSource {
  counters: LoopCounters;
  provider(): string;
  model(): { name: string; sha256: string };
  inEvent(): boolean;
  lastScore(): number | null;
}

/** Builds and sends stats messages; one at a time (a tick during a tick is skipped). */
export class StatsPublisher {
  private last: { t: number; frames: number; scored: number; skipped: number; ms: number; calls: number; events: number };
  private sampling: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly src: StatsSource, readonly metrics: RunMetrics, private readonly publish: (stats: Record<string, unknown>) => void) {
    this.last = { t: Date.now(), frames: 0, scored: 0, skipped: 0, ms: 0, calls: 0, events: 0 };
  }

  /** (Re)starts the timer with a period of `seconds`. */
  every(seconds: number): void {
    this.stopTimer();
    this.timer = setInterval(() => void this.tick().catch(() => undefined), seconds * 1000);
  }

  /** Stops the timer. */
  stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Waits for a tick in progress, then sends one more (the final stats of a run). */
  async final(): Promise<void> {
    await this.sampling;
    await this.tick();
  }

  /** Samples health, updates the metrics and publishes one stats message. */
  async tick(): Promise<void> {
    if (this.sampling) return;
    let done!: () => void;
    this.sampling = new Promise<void>((r) => {
      done = r;
    });
    const health = await sampleHealth().finally(() => {
      this.sampling = null;
      done();
    });
    const c = this.src.counters;
    const l = this.last;
    const t = Date.now();
    const dt = Math.max(1e-3, (t - l.t) / 1000);
    const calls = c.inferenceCalls - l.calls;
    const fps = (c.scored - l.scored) / dt;
    const ms = calls ? (c.inferenceMs - l.ms) / calls : null;
    const score = this.src.lastScore();
    const m = this.metrics;
    m.frames.inc(c.frames - l.frames);
    m.scored.inc(c.scored - l.scored);
    m.skipped.inc(c.skipped - l.skipped);
    m.events.inc(c.events - l.events);
    m.fps.set(fps);
    if (ms !== null) m.inferenceMs.set(ms);
    if (score !== null) m.score.set(score);
    m.inEvent.set(this.src.inEvent() ? 1 : 0);
    this.publish({
      time: new Date(t).toISOString(), fps: +fps.toFixed(2), input_fps: +((c.frames - l.frames) / dt).toFixed(2),
      skipped_fps: +((c.skipped - l.skipped) / dt).toFixed(2), inference_ms: ms === null ? null : +ms.toFixed(2),
      provider: this.src.provider(), model: this.src.model(), frames: c.frames, events: c.events,
      score: score === null ? null : +score.toFixed(3), in_event: this.src.inEvent(), ...health,
      rss_mb: Math.round(process.memoryUsage().rss / 2 ** 20),
    });
    this.last = { t, frames: c.frames, scored: c.scored, skipped: c.skipped, ms: c.inferenceMs, calls: c.inferenceCalls, events: c.events };
  }
}
