/**
 * The reporter of `run`: one MQTT connection (mqtt/reporter.ts) with its on-disk outbox under
 * `<state-dir>/outbox`, TLS from files, `config/set` applied through the configuration controller,
 * and `cmd/<name>` sent to the handler each part of the runtime registers ({@link ReporterService.onCommand}).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { redactLayer, redactSecrets } from '../core/runtime-config.js';
import { FileOutboxStore } from '../mqtt/outbox.js';
import { MqttReporter, type CommandName } from '../mqtt/reporter.js';
import type { RuntimeHooks } from '../mqtt/scope.js';
import { log } from '../util/log.js';
import type { ConfigController } from './controller.js';
import type { Service } from './services.js';

/** What the reporter service needs. */
export interface ReporterServiceOptions {
  /** broker URL (or cluster nodes); read at start, after the broker service started */
  url: () => string;
  deviceId: string;
  stateDir: string;
  username?: string;
  password?: string;
  /** PEM files for mqtts:// */
  ca?: string;
  cert?: string;
  key?: string;
  controller: ConfigController;
  /** the device's topics serve the one camera (`--source` alone; default true), see MqttReporter's option */
  deviceIsCamera?: boolean;
}

/** The MQTT side of `run` as a service (see the file comment). */
export class ReporterService implements Service {
  readonly name = 'reporter';
  private r: MqttReporter | null = null;
  private readonly commands = new Map<CommandName, (payload: Buffer) => Promise<void>>();

  constructor(private readonly o: ReporterServiceOptions) {}

  /** The connected reporter. @throws Error before `start()`. */
  get reporter(): MqttReporter {
    if (!this.r) throw new Error('the reporter has not started');
    return this.r;
  }

  /** Sends `cmd/<name>` to `fn` (the last registration wins). */
  onCommand(name: CommandName, fn: (payload: Buffer) => Promise<void>): void {
    this.commands.set(name, fn);
  }

  /**
   * Connects (see MqttReporter.connect: an unreachable broker does not hold the start back).
   * @throws Error when a TLS file cannot be read, or the broker refuses the credentials or the TLS handshake.
   */
  async start(): Promise<void> {
    const { controller: c, ...o } = this.o;
    this.r = await MqttReporter.connect({
      url: o.url(), deviceId: o.deviceId, ...(o.deviceIsCamera !== undefined ? { deviceIsCamera: o.deviceIsCamera } : {}), store: await FileOutboxStore.open(join(o.stateDir, 'outbox')),
      ...(o.username !== undefined ? { username: o.username } : {}),
      ...(o.password !== undefined ? { password: o.password } : {}),
      ...(o.ca ? { ca: await readFile(o.ca) } : {}),
      ...(o.cert ? { cert: await readFile(o.cert) } : {}),
      ...(o.key ? { key: await readFile(o.key) } : {}),
      hooks: configHooks(c, this.commands),
    });
  }

  /** Ends the connection at once (the run's orderly end flushes the outbox first: {@link close}). */
  async stop(): Promise<void> {
    await this.r?.client.endAsync(true);
  }

  /** Waits for the outbox to drain (up to `flushMs`), publishes `offline`, disconnects. @returns whether every event was acknowledged. */
  async close(flushMs = 20_000): Promise<boolean> {
    return this.r ? this.r.close(flushMs) : false;
  }
}

/**
 * The reporter hooks of one configuration, the device's or a camera's on its own topics:
 * `config/state` (secrets redacted), `config/set` applied and logged, `cmd/<name>` from `commands`.
 */
export function configHooks(c: ConfigController, commands: Map<CommandName, (payload: Buffer) => Promise<void>>): RuntimeHooks {
  return {
    configState: () => {
      const st = c.state();
      return { version: st.version, config: redactSecrets(st.config) };
    },
    applyConfig: async (p) => {
      const ack = await c.apply(p);
      if (ack.ok) log.info({ version: ack.version, file: c.file, layer: redactLayer(c.remoteLayer) }, `config/set applied (version ${ack.version})`);
      else log.warn({ version: ack.version, error: ack.error }, `config/set refused: ${ack.error}`);
      return ack;
    },
    command: async (name, payload) => {
      await commands.get(name)?.(payload);
    },
  };
}
