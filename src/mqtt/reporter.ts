/**
 * MQTT reporting and remote configuration for one device, under `sfn/<device_id>/`: it publishes
 * and subscribes to every topic of the table in topics.ts but the WebRTC and catalog ones (src/webrtc).
 *
 * Subscriptions are built from the one handler table (docs/style.md: no topic listed twice). On connect:
 * subscribe, publish the retained `config/state` and the Home Assistant discovery configs
 * (discovery.ts: anomaly score, event active, source state), then `online`, then drain the outbox.
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { log } from '../util/log.js';
import { discoveryMessages } from './discovery.js';
import { FileOutboxStore, Outbox, type AckPublisher, type OutboxStore } from './outbox.js';
import { ReporterScope, type ReportChannel, type RuntimeHooks } from './scope.js';
import { deviceBase, deviceTopic, eventClipTopic, eventDescriptionTopic, suffixOf, TOPICS, type TopicSuffix } from './topics.js';

export type { CommandName, ConfigAck, ReportChannel, RuntimeHooks } from './scope.js';

/** Connection options. */
export interface ReporterOptions {
  /** one broker URL, or several (comma-separated) nodes of one cluster: see {@link brokerServers} */
  url: string;
  deviceId: string;
  username?: string;
  password?: string;
  /** TLS: CA, client certificate and key (PEM contents) for mqtts:// */
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  rejectUnauthorized?: boolean;
  /** fail when the first connection does not succeed within the timeout (default false: go on, reconnecting) */
  requireConnection?: boolean;
  /** how long a QoS 1 event waits for its PUBACK before it is sent again (default 30 s) */
  ackTimeoutMs?: number;
  /** reconnect period in ms (default 1000) */
  reconnectMs?: number;
  store: OutboxStore;
  hooks: RuntimeHooks;
  /**
   * the device's own topics serve a camera (`--source` alone): Home Assistant discovery and all of
   * the handler table (default true); false: the cameras are scopes ({@link MqttReporter.addScope})
   * and the device takes only `config/set`
   */
  deviceIsCamera?: boolean;
}

type Handler = (r: ReportChannel, payload: Buffer) => Promise<void>;

/** What to tell the user when the broker at `url` closes connections before answering CONNECT. */
export function closedBeforeConnack(url: string): string {
  return url.startsWith('mqtt://') || url.startsWith('ws://')
    ? `mqtt: ${url} closed the connection before answering CONNECT: if that port speaks TLS, use mqtts:// (with --ca); else check that it is an MQTT listener`
    : `mqtt: ${url} closed the connection before answering CONNECT: check that it is an MQTT listener and that it accepts this client`;
}

/** One node of a broker cluster, as mqtt.js's `servers` option takes it. */
export interface BrokerNode {
  host: string;
  port: number;
  protocol: 'mqtt' | 'mqtts' | 'ws' | 'wss';
}

const DEFAULT_PORT: Record<BrokerNode['protocol'], number> = { mqtt: 1883, mqtts: 8883, ws: 80, wss: 443 };

/**
 * The nodes named by `--broker`: one URL, or several separated by commas (the flag may also be
 * repeated; cli.ts joins them). The client connects to the first and, each time its connection
 * goes, tries the next (mqtt.js `servers`, in turn). Credentials and TLS options apply to every
 * node; a WebSocket path must be the same on all of them (mqtt.js keeps one path).
 * @throws Error for a URL that does not parse, an unknown scheme, or differing WebSocket paths.
 */
export function brokerServers(url: string): BrokerNode[] {
  const urls = url.split(',').map((u) => u.trim()).filter((u) => u.length > 0);
  if (urls.length === 0) throw new Error('--broker: no URL given');
  const paths = new Set<string>();
  return urls.map((u) => {
    let p: URL;
    try {
      p = new URL(u);
    } catch {
      throw new Error(`--broker: ${u} is not a URL (e.g. mqtt://host:1883)`);
    }
    const protocol = p.protocol.replace(/:$/, '');
    if (protocol !== 'mqtt' && protocol !== 'mqtts' && protocol !== 'ws' && protocol !== 'wss') throw new Error(`--broker: ${u}: use mqtt://, mqtts://, ws:// or wss://`);
    if (protocol.startsWith('ws')) paths.add(p.pathname);
    if (paths.size > 1) throw new Error(`--broker: the WebSocket nodes must share one path (${[...paths].join(', ')})`);
    return { host: p.hostname.replace(/^\[|\]$/g, ''), port: p.port ? Number(p.port) : DEFAULT_PORT[protocol], protocol };
  });
}

/** `protocol://host:port` of a node, for logs. */
export function nodeName(n: { host?: string; hostname?: string; port?: number; protocol?: string }): string {
  return `${n.protocol ?? 'mqtt'}://${n.hostname ?? n.host ?? '?'}:${n.port ?? '?'}`;
}

/** The one handler table: topic suffix -> handler. Subscriptions derive from its keys. */
export const HANDLERS: Readonly<Partial<Record<TopicSuffix, Handler>>> = {
  [TOPICS.configSet]: async (r, payload) => {
    const ack = await r.hooks.applyConfig(payload);
    if (ack.ok) await r.publishConfigState();
    await r.publishJson(TOPICS.configAck, ack, { qos: 1, retain: false });
  },
  [TOPICS.cmdSnapshot]: async (r, payload) => r.hooks.command('snapshot', payload),
  [TOPICS.cmdRestartSource]: async (r, payload) => r.hooks.command('restart-source', payload),
  [TOPICS.cmdLearn]: async (r, payload) => r.hooks.command('learn', payload),
};

/** The MQTT side of `run` (see the file comment for topics). */
export class MqttReporter implements AckPublisher, ReportChannel {
  readonly base: string;
  readonly outbox: Outbox;
  readonly hooks: RuntimeHooks;
  readonly deviceId: string;
  private readonly ackTimeoutMs: number;
  /** how many broker nodes `--broker` named */
  nodeCount = 1;
  /** the node of the current (or last) connection, `protocol://host:port`; null before the first */
  node: string | null = null;
  /** the topic scope of the device's own topics: its id */
  readonly scope: string;
  private readonly deviceIsCamera: boolean;
  private readonly scopes = new Map<string, ReporterScope>();
  /** the outbox folder (a file outbox), named when messages are left in it at close */
  private readonly outboxDir: string | null;
  private constructor(readonly client: MqttClient, opts: ReporterOptions) {
    this.outboxDir = opts.store instanceof FileOutboxStore ? opts.store.dir : null;
    this.deviceId = opts.deviceId;
    this.scope = opts.deviceId;
    this.deviceIsCamera = opts.deviceIsCamera ?? true;
    this.ackTimeoutMs = opts.ackTimeoutMs ?? 30_000;
    this.base = deviceBase(opts.deviceId);
    this.hooks = opts.hooks;
    this.outbox = new Outbox(opts.store, this);
  }

  /** Whether the client is connected now. */
  get connected(): boolean {
    return this.client.connected;
  }

  /**
   * Connects (MQTT 3.1.1, so aedes and Mosquitto both work), with the last will `offline`, and
   * keeps reconnecting. Resolves after the first connection; when the broker is unreachable (the
   * first attempt fails or closes) or silent for `timeoutMs`, it resolves at once with a warning and
   * keeps reconnecting (events wait in the outbox); with `requireConnection` it rejects after
   * `timeoutMs` instead.
   * @throws Error at once when the broker refuses the credentials or the TLS handshake fails.
   */
  static async connect(opts: ReporterOptions, timeoutMs = 20_000): Promise<MqttReporter> {
    const co: IClientOptions = {
      protocolVersion: 4,
      clientId: `sfn-edge-${opts.deviceId}-${process.pid}`,
      clean: true,
      reconnectPeriod: opts.reconnectMs ?? 1000,
      connectTimeout: 10_000,
      will: { topic: deviceTopic(opts.deviceId, TOPICS.availability), payload: Buffer.from('offline'), qos: 1, retain: true },
      ...(opts.username !== undefined ? { username: opts.username } : {}),
      ...(opts.password !== undefined ? { password: opts.password } : {}),
      ...(opts.ca ? { ca: opts.ca } : {}),
      ...(opts.cert ? { cert: opts.cert } : {}),
      ...(opts.key ? { key: opts.key } : {}),
      ...(opts.rejectUnauthorized !== undefined ? { rejectUnauthorized: opts.rejectUnauthorized } : {}),
    };
    const nodes = brokerServers(opts.url);
    const first = nodes[0] as BrokerNode; // brokerServers returns at least one
    // several nodes: mqtt.js rotates through `servers` at every (re)connect; one node: as before
    const client = nodes.length > 1 ? mqtt.connect({ ...co, servers: nodes, host: first.host, port: first.port, protocol: first.protocol }) : mqtt.connect(opts.url, co);
    if (nodes.length > 1) {
      // mqtt.js's TLS builder sets `servername` (SNI and the certificate's host check) from the
      // first host it dials and keeps it: clear it before each reconnect so every node is checked
      // against its own name
      client.on('reconnect', () => {
        delete (client.options as { servername?: string }).servername;
      });
    }
    const r = new MqttReporter(client, opts);
    r.nodeCount = nodes.length;
    client.on('connect', () => {
      void r.onConnect();
    });
    client.on('message', (topic, payload) => {
      void r.onMessage(topic, payload);
    });
    // the same error on every retry (once a second while the broker is away) is logged when it
    // first appears or changes, then at most once a minute with how often it repeated
    const errorLog = new RepeatLimiter(60_000);
    client.on('error', (err) => {
      const url = nodes.length > 1 ? nodeName(client.options) : opts.url;
      const repeated = errorLog.take(`${url} ${err.message}`);
      if (repeated !== null) log.warn({ err: err.message, url, ...(repeated > 0 ? { repeated } : {}) }, repeated > 0 ? `mqtt: connection error (${repeated} more since the last report)` : 'mqtt: connection error');
    });
    client.on('connect', () => errorLog.reset());
    client.on('offline', () => log.warn({ url: opts.url }, 'mqtt: offline, reconnecting'));
    // A TCP connection that the broker closes or resets before its CONNACK is most often a plain
    // mqtt:// client on a TLS listener (Mosquitto resets it), or a port that is not MQTT: say so
    // instead of mqtt.js's bare "Connection closed" / ECONNRESET. (Nothing listening is ECONNREFUSED.)
    let lastCode: unknown = null;
    let everConnected = false;
    let closedEarly = 0;
    client.on('error', (err: Error & { code?: unknown }) => {
      lastCode = err.code ?? err.message;
    });
    client.on('connect', () => {
      everConnected = true;
      closedEarly = 0;
    });
    client.on('close', () => {
      const early = lastCode === null || lastCode === 'ECONNRESET' || lastCode === 'EPIPE';
      // several nodes: name the one that was dialled (a cluster node still starting also closes early)
      const at = nodes.length > 1 ? nodeName(client.options) : opts.url;
      if (!everConnected && early && ++closedEarly % 10 === 1) log.error({ url: at }, closedBeforeConnack(at));
      lastCode = null;
    });
    await new Promise<void>((resolve, reject) => {
      const done = () => {
        clearTimeout(t);
        client.off('connect', onConnect);
        client.off('error', onError);
        client.off('close', onClose);
      };
      // an unreachable broker (refused, closed) does not hold the run back: it starts scoring at
      // once, events wait in the outbox, and the client connects whenever the broker comes
      const onClose = () => {
        if (opts.requireConnection) return;
        done();
        log.warn({ url: opts.url }, 'mqtt: broker not reachable yet; events wait in the outbox, reconnecting');
        resolve();
      };
      const t = setTimeout(() => {
        done();
        if (opts.requireConnection) {
          client.end(true);
          reject(new Error(`cannot connect to the MQTT broker at ${opts.url} within ${timeoutMs} ms`));
        } else {
          log.warn({ url: opts.url }, 'mqtt: broker not reachable yet; events wait in the outbox, reconnecting');
          resolve();
        }
      }, timeoutMs);
      const onConnect = () => {
        done();
        resolve();
      };
      // refused credentials or TLS trust are configuration errors: fail now instead of retrying forever
      const onError = (err: Error & { code?: unknown }) => {
        const auth = err.code === 4 || err.code === 5 || /not authori[sz]ed|bad user ?name or password/i.test(err.message);
        const tls = /certificate|self[- ]signed|SSL|TLS|ERR_TLS/i.test(`${err.message} ${String(err.code ?? '')}`);
        if (!auth && !tls) return;
        done();
        client.end(true);
        reject(new Error(`MQTT broker at ${opts.url} refused the connection: ${err.message}${auth ? ' (check --username / --password)' : ' (check --ca / --cert / --key)'}`));
      };
      client.on('connect', onConnect);
      client.on('error', onError);
      client.on('close', onClose);
    });
    return r;
  }

  /** The handler-table suffixes the device's own topics take (see {@link ReporterOptions.deviceIsCamera}). */
  private get deviceSuffixes(): string[] {
    return this.deviceIsCamera ? Object.keys(HANDLERS) : [TOPICS.configSet];
  }

  /**
   * Adds camera `camera`'s topics (`sfn/<device>/<camera>/`, scope.ts); subscribed and announced at
   * once when connected, and on every reconnect.
   * @throws Error when the camera has a scope already.
   */
  async addScope(camera: string, hooks: RuntimeHooks, available = true): Promise<ReporterScope> {
    if (this.scopes.has(camera)) throw new Error(`camera ${camera} has a scope already`);
    const s = new ReporterScope(this.client, this.outbox, this.deviceId, camera, hooks);
    s.available = available;
    this.scopes.set(camera, s);
    if (this.connected) await this.subscribeScope(s).catch((err: unknown) => log.warn({ err: (err as Error).message, camera }, 'mqtt: camera subscribe failed'));
    return s;
  }

  private async subscribeScope(s: ReporterScope): Promise<void> {
    await this.client.subscribeAsync(Object.keys(HANDLERS).map((k) => deviceTopic(s.scope, k as TopicSuffix)), { qos: 1 });
    await s.announce();
  }

  private async onConnect(): Promise<void> {
    const now = nodeName(this.client.options);
    if (this.node !== null && this.node !== now) log.warn({ from: this.node, to: now }, 'mqtt: moved to another broker node');
    log.info({ node: now, nodes: this.nodeCount }, 'mqtt: connected to broker node');
    this.node = now;
    try {
      await this.client.subscribeAsync(this.deviceSuffixes.map((k) => deviceTopic(this.deviceId, k as TopicSuffix)), { qos: 1 });
      await this.publishConfigState();
      if (this.deviceIsCamera) for (const d of discoveryMessages(this.deviceId)) await this.client.publishAsync(d.topic, JSON.stringify(d.payload), { qos: 1, retain: true });
      await this.client.publishAsync(deviceTopic(this.deviceId, TOPICS.availability), 'online', { qos: 1, retain: true });
      for (const s of this.scopes.values()) await this.subscribeScope(s);
      log.info({ base: this.base, node: this.node }, 'mqtt: connected, online');
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'mqtt: on-connect publishing failed');
    }
    this.outbox.kick();
  }

  private async onMessage(topic: string, payload: Buffer): Promise<void> {
    const suffix = suffixOf(this.deviceId, topic);
    if (suffix === null) return;
    const slash = suffix.indexOf('/');
    const scope = slash > 0 ? this.scopes.get(suffix.slice(0, slash)) : undefined;
    const rest = scope ? suffix.slice(slash + 1) : suffix;
    if (!scope && !this.deviceSuffixes.includes(rest)) return;
    const handler = HANDLERS[rest as TopicSuffix];
    if (!handler) return;
    try {
      await handler(scope ?? this, payload);
    } catch (err) {
      log.error({ err: (err as Error).message, topic }, 'mqtt: handler failed');
    }
  }

  /**
   * QoS 1 publish resolving on PUBACK (the outbox's {@link AckPublisher}). Rejects when no PUBACK
   * comes within `ackTimeoutMs` (default 30 s), so the outbox never waits forever; the message then
   * stays in the outbox and is sent again (at least once).
   */
  async publish(topic: string, payload: string): Promise<void> {
    let t: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.client.publishAsync(topic, payload, { qos: 1 }),
        new Promise<never>((_, reject) => {
          t = setTimeout(() => reject(new Error(`no PUBACK for ${topic} within ${this.ackTimeoutMs} ms`)), this.ackTimeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(t);
    }
  }

  /** Publishes JSON on `sfn/<device>/<suffix>`. */
  async publishJson(suffix: TopicSuffix, data: unknown, o: { qos: 0 | 1; retain: boolean }): Promise<void> {
    await this.client.publishAsync(deviceTopic(this.deviceId, suffix), JSON.stringify(data), o);
  }

  /** Publishes the retained `config/state`. */
  async publishConfigState(): Promise<void> {
    await this.publishJson(TOPICS.configState, this.hooks.configState(), { qos: 1, retain: true });
  }

  /** Stores an event message in the outbox and sends it when the broker is reachable. */
  async publishEvent(event: unknown): Promise<void> {
    await this.outbox.enqueue(deviceTopic(this.deviceId, TOPICS.events), JSON.stringify(event));
  }

  /**
   * Stores the announcement of an event's clip in the outbox for `events/<id>/clip`: sent only
   * once the MP4 and JPEG it names are complete, so a consumer can fetch them on receipt.
   */
  async publishClip(eventId: string, clip: unknown): Promise<void> {
    await this.outbox.enqueue(eventClipTopic(this.deviceId, eventId), JSON.stringify(clip));
  }

  /** Stores an event's enrichment message (its caption) in the outbox for `events/<id>/description`. */
  async publishDescription(eventId: string, description: unknown): Promise<void> {
    await this.outbox.enqueue(eventDescriptionTopic(this.deviceId, eventId), JSON.stringify(description));
  }

  /** Publishes a `stats` message (QoS 0; dropped while offline). */
  publishStats(stats: unknown): void {
    if (this.connected) this.publishJson(TOPICS.stats, stats, { qos: 0, retain: false }).catch(() => undefined);
  }

  /**
   * Waits for the outbox to drain (up to `flushMs`), publishes retained `offline`, and disconnects.
   * @returns whether every event was acknowledged.
   */
  async close(flushMs = 20_000): Promise<boolean> {
    const flushed = await this.outbox.flush(flushMs);
    if (!flushed) {
      // nothing is lost: say where the messages wait and when they go
      const pending = await this.outbox.pending().catch(() => null);
      const dir = this.outboxDir;
      log.warn({ pending, ...(this.node ? { broker: this.node } : {}), ...(dir ? { outbox: dir } : {}) },
        dir ? `${pending ?? 'some'} messages were not delivered (the broker did not take them within ${flushMs / 1000} s); they are kept in ${dir} and sent by the next run with the same --state-dir`
          : `${pending ?? 'some'} messages were not delivered (the broker did not take them within ${flushMs / 1000} s) and the outbox is in memory: they are lost when this process ends`);
    }
    await Promise.all([...this.scopes.values()].map((s) => s.setAvailable(false).catch(() => undefined)));
    if (this.connected) {
      await this.client.publishAsync(deviceTopic(this.deviceId, TOPICS.availability), 'offline', { qos: 1, retain: true }).catch(() => undefined);
    }
    await this.client.endAsync(!this.connected);
    return flushed;
  }
}

/**
 * Lets a repeating log line through when it first appears or changes, then at most once per
 * `everyMs` (ms), counting the repeats it held back. Pure apart from the clock (`now`, ms).
 */
export class RepeatLimiter {
  private key: string | null = null;
  private last = 0;
  private held = 0;
  constructor(private readonly everyMs: number, private readonly now: () => number = Date.now) {}

  /** @returns null to hold this line back, else how many repeats were held back before it (0 for a new line). */
  take(key: string): number | null {
    const t = this.now();
    if (key !== this.key) {
      this.key = key;
      this.last = t;
      this.held = 0;
      return 0;
    }
    if (t - this.last < this.everyMs) {
      this.held += 1;
      return null;
    }
    const n = this.held;
    this.last = t;
    this.held = 0;
    return n;
  }

  /** Forgets the last line (e.g. once connected), so the next error is reported at once. */
  reset(): void {
    this.key = null;
    this.held = 0;
  }
}
