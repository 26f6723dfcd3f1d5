/**
 * The runtime as an assembly of services (issue 14, part 4): each part of `run` (broker, reporter,
 * model host, camera pipelines, streaming, captions, metrics) is a {@link Service} with `start()`
 * and `stop()`. A {@link ServiceGroup} starts them in order and stops them in reverse; a start that
 * fails stops the ones already started, in reverse, and the error goes to the caller.
 */
import { log } from '../util/log.js';

/** One part of the runtime. */
export interface Service {
  /** for logs */
  readonly name: string;
  /**
   * Acquires what the service holds (ports, connections, sessions, workers).
   * @throws whatever keeps it from starting; the group then stops the ones started before it.
   */
  start(): Promise<void>;
  /** Releases it. Called once, only after `start()` resolved; best effort (errors are logged, not thrown on). */
  stop(): Promise<void>;
}

/** Services started in order and stopped in reverse. */
export class ServiceGroup {
  private readonly started: Service[] = [];
  private stopping: Promise<void> | null = null;

  /** Names of the services started and not yet stopped, in start order. */
  get running(): string[] {
    return this.started.map((s) => s.name);
  }

  /**
   * Starts `s` after the ones already started, and returns it (so `const b = await g.start(new X())`).
   * @throws the service's own start error, after every service started before it was stopped (in reverse).
   */
  async start<S extends Service>(s: S): Promise<S> {
    if (this.stopping) throw new Error(`cannot start ${s.name}: the group is stopping`);
    try {
      await s.start();
    } catch (err) {
      // the error itself is not logged here: it is rethrown, and whoever catches it prints it once
      // (the CLI as its last line, `sfn-edge: <message>`)
      log.error({ service: s.name }, 'service failed to start; stopping the ones started before it');
      await this.stop();
      throw err;
    }
    this.started.push(s);
    return s;
  }

  /**
   * Starts `s` after the ones already started; when it fails, it is left out and the group goes on
   * (one camera's failure never stops the others).
   * @returns null, or the error its start threw (logged).
   */
  async startIsolated(s: Service): Promise<Error | null> {
    if (this.stopping) throw new Error(`cannot start ${s.name}: the group is stopping`);
    try {
      await s.start();
    } catch (err) {
      log.error({ service: s.name, err: (err as Error).message }, 'service failed to start; the others go on without it');
      return err instanceof Error ? err : new Error(String(err));
    }
    this.started.push(s);
    return null;
  }

  /** Starts each of `services` in order (see {@link start}). */
  async startAll(services: readonly Service[]): Promise<void> {
    for (const s of services) await this.start(s);
  }

  /** Stops every started service in reverse start order; a failing stop is logged and the rest go on. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      for (const s of this.started.splice(0).reverse()) {
        try {
          await s.stop();
        } catch (err) {
          log.warn({ service: s.name, err: (err as Error).message }, 'service did not stop cleanly');
        }
      }
    })();
    return this.stopping;
  }
}

/** A service from two functions (for small parts that need no class). */
export function service(name: string, start: () => Promise<void> | void, stop: () => Promise<unknown> | unknown): Service {
  return {
    name,
    start: async () => {
      await start();
    },
    stop: async () => {
      await stop();
    },
  };
}
