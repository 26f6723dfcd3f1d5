/**
 * The embedded MQTT broker (aedes, MQTT 3.1.1) that lets the kit work alone: started on
 * 127.0.0.1 when `run` is given no `--broker`. It can also listen for MQTT over WebSocket
 * (`ws://<host>:<wsPort>/`, subprotocol `mqtt`), which is how the browser viewer reaches it.
 */
import { timingSafeEqual } from 'node:crypto';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import { Aedes } from 'aedes';
import { createWebSocketStream, WebSocketServer } from 'ws';

/** A running embedded broker. */
export interface EmbeddedBroker {
  /** `mqtt://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** `ws://127.0.0.1:<wsPort>` when a WebSocket listener was asked for */
  wsUrl?: string;
  wsPort?: number;
  /** Stops accepting clients and closes the broker. */
  close(): Promise<void>;
}

/** Options of {@link startEmbeddedBroker}. */
export interface BrokerOptions {
  /** also serve MQTT over WebSocket on this port (0 = any free port); absent = no WebSocket listener */
  wsPort?: number;
  /** require this username and password of every client (absent: any client on the listen address is let in) */
  auth?: { username: string; password: string };
}

/** Constant-time comparison of a presented secret with the expected one. */
function sameSecret(given: Buffer | string | undefined, expected: string): boolean {
  const a = Buffer.from(given ?? '');
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The port is taken: the message says so and what to do. */
export class BrokerPortError extends Error {
  constructor(host: string, port: number, options?: { cause?: unknown; what?: string; flag?: string }) {
    const what = options?.what ?? 'MQTT';
    const hint = options?.flag
      ? `Pick a free port with ${options.flag} <n>.`
      : `Use it with --broker mqtt://${host}:${port}, or pick a free port with --embedded-port <n>.`;
    super(`cannot start the embedded ${what} broker: ${host}:${port} is already in use (another broker, e.g. Mosquitto?). ${hint}`, options);
    this.name = 'BrokerPortError';
  }
}

function listen(server: Server | HttpServer, port: number, host: string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const addr = server.address();
      resolve(typeof addr === 'object' && addr ? addr.port : port);
    });
  });
}

/** True for 127.0.0.0/8, ::1 and localhost. */
function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

function closeServer(server: Server | HttpServer): Promise<void> {
  return new Promise<void>((r) => server.close(() => r()));
}

/**
 * Starts aedes on `host:port` (port 0 = any free port), and with `opts.wsPort` a WebSocket
 * listener on `host:wsPort` too. With `opts.auth`, clients must present that username and password
 * (on both listeners); without it, the trust model is the listen address: every local process can
 * publish, including `config/set`. A host beyond loopback (not 127.0.0.0/8, `::1` or `localhost`)
 * requires `opts.auth`: a device's broker open to its network without a password lets anyone there
 * set its source and model.
 * @throws Error when `host` is beyond loopback and `opts.auth` is not given;
 *   BrokerPortError when a port is in use (the WebSocket one names `--ws-port`); other listen
 *   errors as they are.
 */
export async function startEmbeddedBroker(port: number, host = '127.0.0.1', opts: BrokerOptions = {}): Promise<EmbeddedBroker> {
  const auth = opts.auth;
  if (!auth && !isLoopback(host)) throw new Error(`the embedded broker listens on ${host} (beyond loopback) only with a username and password: set SFN_MQTT_PASSWORD or --password-file, or listen on 127.0.0.1`);
  const aedes = await Aedes.createBroker();
  if (auth) {
    aedes.authenticate = (_client, username, password, done) => {
      if (username === auth.username && sameSecret(password, auth.password)) return done(null, true);
      // CONNACK return code 4: bad user name or password
      done(Object.assign(new Error('bad user name or password'), { returnCode: 4 }) as never, false);
    };
  }
  const server: Server = createServer(aedes.handle);
  let http: HttpServer | undefined;
  let wss: WebSocketServer | undefined;
  let actual = port;
  let wsActual: number | undefined;
  try {
    actual = await listen(server, port, host).catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new BrokerPortError(host, port, { cause: err });
      throw err;
    });
    if (opts.wsPort !== undefined) {
      const wsPort = opts.wsPort;
      http = createHttpServer((_req, res) => {
        res.writeHead(426, { 'content-type': 'text/plain' }).end('MQTT over WebSocket: connect with a WebSocket client (subprotocol mqtt)\n');
      });
      wss = new WebSocketServer({ server: http });
      wss.on('error', () => undefined); // the server's listen error, re-emitted: reported by listen() below
      wss.on('connection', (ws, req) => {
        const stream = createWebSocketStream(ws);
        stream.on('error', () => ws.terminate());
        aedes.handle(stream as never, req as never);
      });
      wsActual = await listen(http, wsPort, host).catch((err: unknown) => {
        if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new BrokerPortError(host, wsPort, { cause: err, what: 'MQTT-over-WebSocket', flag: '--ws-port' });
        throw err;
      });
    }
  } catch (err) {
    for (const c of wss?.clients ?? []) c.terminate();
    if (http?.listening) await closeServer(http);
    if (server.listening) await closeServer(server);
    await new Promise<void>((r) => aedes.close(() => r()));
    throw err;
  }
  return {
    url: `mqtt://${host}:${actual}`,
    port: actual,
    ...(wsActual !== undefined ? { wsUrl: `ws://${host}:${wsActual}`, wsPort: wsActual } : {}),
    close: async () => {
      for (const c of wss?.clients ?? []) c.terminate();
      await new Promise<void>((r) => aedes.close(() => r()));
      if (http) await closeServer(http);
      await closeServer(server);
    },
  };
}
