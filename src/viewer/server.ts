/**
 * `sfn-edge viewer`: a small HTTP server for the browser viewer (public/index.html + viewer.js).
 * The page connects to the MQTT broker over WebSocket itself; this server only hands out the page,
 * the `mqtt` package's browser bundle (from node_modules, no CDN) and `/config.json`
 * (`{broker, token, iceServers}`, the defaults the page starts with).
 *
 * Routes (GET/HEAD only): `/`, `/viewer.js`, `/history.js`, `/viewer.css`, `/mqtt.min.js`, `/config.json`; with
 * `collect` (the URL of an `sfn-edge collect` HTTP API), `/history/api/events[?...]` and
 * `/history/api/events/<id>` pass through to that API, so the page's event history needs no CORS.
 */
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { IceServer } from '../webrtc/wrtc.js';

/** Where the page's files live (`src/viewer/public`, also when running from `dist/`). */
export const PUBLIC_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../src/viewer/public');

/** Options of {@link startViewerServer}. */
export interface ViewerOptions {
  /** MQTT-over-WebSocket URL the page connects to, e.g. `ws://127.0.0.1:9001` */
  broker: string;
  /** HTTP port (0 = any free port) */
  port: number;
  /** listen address (default 127.0.0.1) */
  host?: string;
  /** streaming token filled into the page (else the page asks for it) */
  token?: string;
  /** STUN/TURN servers of the browser side */
  iceServers?: IceServer[];
  /** base URL of a collector's HTTP API (`sfn-edge collect`), e.g. `http://127.0.0.1:8090`: the page's event history */
  collect?: string;
}

/** The collector routes the viewer passes through (after `/history`). */
const HISTORY_ROUTE = /^\/history(\/api\/events(?:\/[^/]{1,64})?)$/;

/**
 * Checks the collector API URL.
 * @throws Error when it is not an http(s):// URL
 */
export function checkCollectUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`--collect ${JSON.stringify(url)} is not a URL; give the collector's API address, e.g. http://127.0.0.1:8090`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`--collect must be an http:// or https:// URL, got ${u.protocol}//`);
  return url.replace(/\/+$/, '');
}

/** A running viewer server. */
export interface ViewerServer {
  /** `http://<host>:<port>/` */
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * Checks the broker URL the page will use.
 * @throws Error saying that a ws:// or wss:// URL is needed and how to get one from Mosquitto.
 */
export function checkBrokerUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`--broker ${JSON.stringify(url)} is not a URL; give the broker's MQTT-over-WebSocket address, e.g. ws://127.0.0.1:9001`);
  }
  if (u.protocol !== 'ws:' && u.protocol !== 'wss:') {
    throw new Error(`--broker must be a ws:// or wss:// URL (the browser speaks MQTT over WebSocket), got ${u.protocol}//: `
      + 'sfn-edge run\'s embedded broker listens on ws://127.0.0.1:9001; for Mosquitto add "listener 9001" and "protocol websockets" to its configuration');
  }
  return url;
}

const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.json': 'application/json' };

/**
 * Serves the viewer until `close()`.
 * @throws Error for a broker URL that is not ws(s)://, a port in use (EADDRINUSE, with the port named), or a missing page.
 */
export async function startViewerServer(o: ViewerOptions): Promise<ViewerServer> {
  checkBrokerUrl(o.broker);
  const collect = o.collect !== undefined ? checkCollectUrl(o.collect) : null;
  const host = o.host ?? '127.0.0.1';
  const mqttDir = dirname(createRequire(import.meta.url).resolve('mqtt/package.json'));
  const files: Record<string, string> = {
    '/': join(PUBLIC_DIR, 'index.html'),
    '/index.html': join(PUBLIC_DIR, 'index.html'),
    '/viewer.js': join(PUBLIC_DIR, 'viewer.js'),
    '/history.js': join(PUBLIC_DIR, 'history.js'),
    '/viewer.css': join(PUBLIC_DIR, 'viewer.css'),
    '/mqtt.min.js': join(mqttDir, 'dist', 'mqtt.min.js'),
  };
  await readFile(files['/'] as string).catch(() => {
    throw new Error(`the viewer page is missing (${files['/']}): run from the sfn-edge package`);
  });
  const config = JSON.stringify({ broker: o.broker, token: o.token ?? '', iceServers: o.iceServers ?? [], history: collect !== null });
  const server: Server = createServer((req, res) => {
    void (async () => {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
        return;
      }
      const url = new URL(req.url ?? '/', 'http://x');
      const path = url.pathname;
      const history = collect ? HISTORY_ROUTE.exec(path) : null;
      if (collect && history) {
        try {
          const r = await fetch(`${collect}${history[1]}${url.search}`, { signal: AbortSignal.timeout(10_000) });
          const body = await r.text();
          res.writeHead(r.status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(req.method === 'HEAD' ? undefined : body);
        } catch (err) {
          res.writeHead(502, { 'content-type': 'application/json' }).end(JSON.stringify({ error: `collector ${collect} did not answer: ${(err as Error).message}` }));
        }
        return;
      }
      if (path === '/config.json') {
        res.writeHead(200, { 'content-type': TYPES['.json'], 'cache-control': 'no-store' }).end(req.method === 'HEAD' ? undefined : config);
        return;
      }
      const file = files[path];
      if (!file) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${path}\n`);
        return;
      }
      try {
        const body = await readFile(file);
        res.writeHead(200, { 'content-type': TYPES[file.slice(file.lastIndexOf('.'))] ?? 'application/octet-stream', 'cache-control': 'no-cache' });
        res.end(req.method === 'HEAD' ? undefined : body);
      } catch (err) {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`cannot read ${path}: ${(err as Error).message}\n`);
      }
    })();
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', (err: NodeJS.ErrnoException) => fail(err.code === 'EADDRINUSE' ? new Error(`cannot serve the viewer: ${host}:${o.port} is in use; pick another with --port <n>`) : err));
    server.listen(o.port, host, () => ok());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : o.port;
  return {
    url: `http://${host}:${port}/`,
    port,
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}
