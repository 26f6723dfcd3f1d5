/**
 * The collector's HTTP API (JSON):
 * - `GET /api/events?device=&camera=&from=&to=&min_score=&limit=`: events, newest first; `from`/`to`
 *   are ISO times or ms since the epoch, `min_score` in z units, `limit` 1..1000 (default 100);
 * - `GET /api/events/:id`: the event's messages, its descriptions (caption) and clip; 404 if unknown;
 * - `GET /api/devices`: each device's last availability and source state.
 * A bad query parameter answers 400 with `{error}` naming it.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { log } from '../util/log.js';
import type { EventQuery, Store } from './store.js';

const time = z.string().transform((s, ctx) => {
  const ms = /^\d+$/.test(s) ? Number(s) : Date.parse(s);
  if (!Number.isFinite(ms)) {
    ctx.addIssue({ code: 'custom', message: 'not an ISO time or ms since the epoch' });
    return z.NEVER;
  }
  return ms;
});

const querySchema = z.object({
  device: z.string().min(1).max(128).optional(),
  camera: z.string().min(1).max(128).optional(),
  from: time.optional(),
  to: time.optional(),
  min_score: z.string().regex(/^-?\d+(\.\d+)?$/, 'not a number').transform(Number).optional(),
  limit: z.string().regex(/^\d+$/, 'not an integer').transform(Number).pipe(z.number().int().min(1).max(1000)).optional(),
}).strict();

/** Parses the query of `/api/events`. @throws Error naming the bad parameter */
export function parseEventQuery(params: URLSearchParams): EventQuery {
  const raw: Record<string, string> = {};
  for (const [k, v] of params) {
    if (k in raw) throw new Error(`parameter ${k} given twice`);
    raw[k] = v;
  }
  const r = querySchema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0];
    const name = i?.path.join('.') || (i && 'keys' in i ? `${(i as { keys: string[] }).keys.join(', ')}` : '');
    throw new Error(`bad query parameter ${name}: ${i?.message ?? 'invalid'}`);
  }
  const q: EventQuery = { limit: r.data.limit ?? 100 };
  if (r.data.device !== undefined) q.device = r.data.device;
  if (r.data.camera !== undefined) q.camera = r.data.camera;
  if (r.data.from !== undefined) q.from = r.data.from;
  if (r.data.to !== undefined) q.to = r.data.to;
  if (r.data.min_score !== undefined) q.min_score = r.data.min_score;
  return q;
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function handle(store: Store, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://x');
  if (req.method !== 'GET') return send(res, 405, { error: 'only GET' });
  if (url.pathname === '/api/events') {
    let q: EventQuery;
    try {
      q = parseEventQuery(url.searchParams);
    } catch (err) {
      return send(res, 400, { error: (err as Error).message });
    }
    return send(res, 200, { events: await store.events(q) });
  }
  const m = /^\/api\/events\/([^/]{1,64})$/.exec(url.pathname);
  if (m) {
    const id = decodeURIComponent(m[1]!);
    const rows = await store.event(id);
    if (rows.length === 0) return send(res, 404, { error: `no event ${id}` });
    const parse = (p: string): unknown => JSON.parse(p);
    return send(res, 200, {
      id, device: rows[0]!.device,
      messages: rows.filter((r) => r.kind === 'event').map((r) => parse(r.payload)),
      descriptions: rows.filter((r) => r.kind === 'description').map((r) => parse(r.payload)),
      clip: rows.filter((r) => r.kind === 'clip').map((r) => parse(r.payload))[0] ?? null,
    });
  }
  if (url.pathname === '/api/devices') {
    const devices = (await store.devices()).map((d) => ({ ...d, source_state: d.source_state ? (JSON.parse(d.source_state) as unknown) : null }));
    return send(res, 200, { devices });
  }
  return send(res, 404, { error: `no route ${url.pathname}` });
}

/**
 * Serves the API on `host:port` (port 0: any free one).
 * @returns the server and the bound port
 * @throws Error when the port cannot be bound
 */
export async function serveApi(store: Store, port: number, host = '127.0.0.1'): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer((req, res) => {
    handle(store, req, res).catch((err: Error) => {
      log.warn({ err: err.message }, 'collect api: request failed');
      if (!res.headersSent) send(res, 500, { error: 'internal error' });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return { server, port: (server.address() as AddressInfo).port };
}
