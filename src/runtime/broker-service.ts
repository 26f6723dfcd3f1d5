/**
 * The broker of `run`: the one `--broker` (or the configuration file's `broker`) names, else the
 * embedded aedes broker on 127.0.0.1. With no `--embedded-port`, 1883 is preferred; when something
 * already listens there (a local Mosquitto, say) the embedded broker takes a free port instead and
 * says where it is. Its WebSocket listener (for the browser viewer) prefers 9001 the same way.
 */
import { BrokerPortError, startEmbeddedBroker, type EmbeddedBroker } from '../mqtt/broker.js';
import { log } from '../util/log.js';
import type { Service } from './services.js';

/** What the broker service needs. */
export interface BrokerServiceOptions {
  /** a broker URL (or comma-separated cluster nodes): no embedded broker is started */
  url?: string;
  /** the embedded broker's MQTT port (0 = a free one); default 1883, else a free one */
  embeddedPort?: number;
  /** its MQTT-over-WebSocket port; default 9001, else a free one */
  wsPort?: number;
  /** credentials the embedded broker requires (none: any local process may connect) */
  auth?: { username: string; password: string };
}

/** The broker `run` reports to (see the file comment). */
export class BrokerService implements Service {
  readonly name = 'broker';
  private broker: EmbeddedBroker | null = null;
  /** the URL clients connect to; set by `start()` */
  url = '';

  constructor(private readonly o: BrokerServiceOptions) {}

  /** The embedded broker's WebSocket URL, when it runs. */
  get wsUrl(): string | undefined {
    return this.broker?.wsUrl;
  }

  /**
   * Starts the embedded broker unless a URL was given.
   * @throws BrokerPortError when an explicitly asked port is in use; Error when the broker does not start.
   */
  async start(): Promise<void> {
    if (this.o.url) {
      this.url = this.o.url;
      return;
    }
    const b = await this.startOn(this.o.embeddedPort ?? 1883).catch(async (err: unknown) => {
      if (this.o.embeddedPort !== undefined || !(err instanceof BrokerPortError) || err.message.includes('WebSocket')) throw err;
      const free = await this.startOn(0);
      log.warn({ url: free.url }, '127.0.0.1:1883 is in use: the embedded broker listens on a free port instead (use --broker mqtt://127.0.0.1:1883 to report to the broker on 1883)');
      return free;
    });
    this.broker = b;
    this.url = b.url;
    const auth = this.o.auth;
    log.info({ url: b.url, ws: b.wsUrl, auth: auth ? `username ${auth.username} + the password` : 'none (any local process may connect: set SFN_MQTT_PASSWORD to require one)' }, 'embedded MQTT broker started (the viewer connects to the ws:// address: sfn-edge viewer --broker <ws>)');
  }

  async stop(): Promise<void> {
    await this.broker?.close();
    this.broker = null;
  }

  /** The embedded broker on `port`, its WebSocket listener on 9001 or (when taken and not asked for) a free port. */
  private async startOn(port: number): Promise<EmbeddedBroker> {
    const auth = this.o.auth;
    const start = (ws: number) => startEmbeddedBroker(port, '127.0.0.1', { wsPort: ws, ...(auth ? { auth } : {}) });
    return start(this.o.wsPort ?? 9001).catch(async (err: unknown) => {
      if (this.o.wsPort !== undefined || !(err instanceof BrokerPortError) || !err.message.includes('WebSocket')) throw err;
      const free = await start(0);
      log.warn({ ws: free.wsUrl }, '127.0.0.1:9001 is in use: the embedded broker takes MQTT over WebSocket on a free port instead');
      return free;
    });
  }
}
