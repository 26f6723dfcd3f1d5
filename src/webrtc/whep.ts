/**
 * A WHEP-style HTTP endpoint (WebRTC-HTTP Egress Protocol, draft-ietf-wish-whep) for viewers on the
 * same network: no broker needed. Non-trickle: the viewer POSTs a complete offer, the device answers
 * with every candidate in the SDP.
 *
 * - `POST /whep/clip/<event_id>` or `POST /whep/live[?overlay=1]`, `Content-Type: application/sdp`,
 *   `Authorization: Bearer <token>` -> `201 Created`, the answer SDP, `Location: /whep/session/<id>`.
 * - `DELETE /whep/session/<id>` (same token) -> `204`, the session ends.
 * - Refusals carry the reason as text: 401 wrong token, 404 unknown event id / path, 400 malformed
 *   SDP, 413 offer over 64 KiB, 415 not application/sdp, 503 too many sessions, 405 other methods
 *   (PATCH: trickle ICE is not supported).
 *
 * Sessions are the same as over MQTT (sessions.ts): same token, cap and timeout.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

import { log } from '../util/log.js';
import { SessionManager, SessionRefused, type StreamRequest } from './sessions.js';

/** Largest accepted offer, bytes. */
export const MAX_OFFER_BYTES = 64 * 1024;

/** A running WHEP endpoint. */
export interface WhepServer {
  /** `http://<host>:<port>` */
  url: string;
  port: number;
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (d: Buffer) => {
      size += d.length;
      if (size > MAX_OFFER_BYTES) {
        reject(new HttpError(413, `offer too large: over ${MAX_OFFER_BYTES} bytes`));
        req.destroy();
      } else chunks.push(d);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function bearer(req: IncomingMessage): string | undefined {
  const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
  return m?.[1]?.trim();
}

/**
 * Serves WHEP on `host:port` (port 0 = any free port) for the sessions of `manager`.
 * @throws Error when the port is in use (named, with the flag to change it).
 */
export async function startWhep(manager: SessionManager, port: number, host = '127.0.0.1'): Promise<WhepServer> {
  const mine = new Set<string>();
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://x');
    const parts = url.pathname.split('/').filter(Boolean);
    if (parts[0] !== 'whep') throw new HttpError(404, `not found: ${url.pathname} (WHEP endpoints: POST /whep/clip/<event_id>, POST /whep/live)`);
    if (req.method === 'DELETE' && parts[1] === 'session' && parts.length === 3) {
      if (!manager.tokenOk(bearer(req))) throw new HttpError(401, 'wrong token');
      const id = parts[2] as string;
      if (!mine.has(id)) throw new HttpError(404, `no session ${id}`);
      manager.end(id, 'closed by viewer (DELETE)');
      res.writeHead(204).end();
      return;
    }
    let request: StreamRequest;
    if (parts[1] === 'clip' && parts.length === 3) request = { kind: 'clip', eventId: decodeURIComponent(parts[2] as string) };
    else if (parts[1] === 'live' && parts.length === 2) request = { kind: 'live', overlay: ['1', 'true'].includes(url.searchParams.get('overlay') ?? '') };
    else throw new HttpError(404, `not found: ${url.pathname} (WHEP endpoints: POST /whep/clip/<event_id>, POST /whep/live)`);
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      throw new HttpError(405, req.method === 'PATCH' ? 'trickle ICE is not supported: send a complete offer' : `method ${req.method} not allowed: POST an SDP offer`);
    }
    if (!manager.tokenOk(bearer(req))) {
      res.setHeader('www-authenticate', 'Bearer');
      throw new HttpError(401, 'wrong token');
    }
    if (!/^application\/sdp\b/i.test(req.headers['content-type'] ?? '')) throw new HttpError(415, `the offer must be Content-Type: application/sdp, got ${req.headers['content-type'] ?? 'none'}`);
    const sdp = await readBody(req);
    const id = `whep-${randomBytes(8).toString('hex')}`;
    const answer = await manager.offer(id, { token: bearer(req), request, sdp }, { onEnd: () => mine.delete(id) });
    mine.add(id);
    res.writeHead(201, { 'content-type': 'application/sdp', location: `/whep/session/${id}` }).end(answer);
  };
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const status = err instanceof HttpError || err instanceof SessionRefused ? err.status : 500;
      const message = err instanceof Error ? err.message : String(err);
      if (status >= 500) log.warn({ err: message }, 'whep: request failed');
      if (!res.headersSent) res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`${message}\n`);
    });
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', (err: NodeJS.ErrnoException) => fail(err.code === 'EADDRINUSE' ? new Error(`cannot serve WHEP: ${host}:${port} is in use; pick another with --whep-port <n>`) : err));
    server.listen(port, host, () => ok());
  });
  const addr = server.address();
  const actual = typeof addr === 'object' && addr ? addr.port : port;
  log.info({ url: `http://${host}:${actual}/whep/live` }, 'whep endpoint ready');
  return {
    url: `http://${host}:${actual}`,
    port: actual,
    close: () => new Promise<void>((r) => {
      for (const id of [...mine]) manager.end(id, 'shutdown');
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}
