/** The HTTP API over a SQLite store in a temp dir: filters, 400 on bad input, 404 on unknown id. */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type http from 'node:http';
import { serveApi } from '../../src/collect/api.js';
import { SqliteStore } from '../../src/collect/sqlite.js';

describe('collect HTTP API', () => {
  let dir: string;
  let store: SqliteStore;
  let server: http.Server;
  let base: string;
  const get = async (p: string): Promise<{ status: number; body: Record<string, unknown> }> => {
    const r = await fetch(base + p);
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  };
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sfn-api-'));
    store = new SqliteStore(path.join(dir, 'a.db'));
    const t0 = Date.parse('2026-12-07T07:00:00Z');
    await store.put({ device: 'd1', kind: 'event', event_id: 'e1', seq: 0, time_ms: t0, camera: 'door', score: 4.5, payload: '{"type":"new","seq":0}' });
    await store.put({ device: 'd1', kind: 'event', event_id: 'e1', seq: 1, time_ms: t0 + 1000, camera: 'door', score: 6, payload: '{"type":"end","seq":1}' });
    await store.put({ device: 'd1', kind: 'description', event_id: 'e1', seq: -2, time_ms: t0, camera: null, score: null, payload: '{"caption":"a cyclist"}' });
    await store.put({ device: 'd2', kind: 'event', event_id: 'e2', seq: 0, time_ms: t0 + 60_000, camera: 'yard', score: 4.1, payload: '{"type":"new","seq":0}' });
    await store.putDevice('d1', 'availability', 'online', t0);
    await store.putDevice('d1', 'source_state', '{"state":"up"}', t0);
    const s = await serveApi(store, 0);
    server = s.server;
    base = `http://127.0.0.1:${s.port}`;
  });
  after(async () => {
    await new Promise((r) => server.close(r));
    await store.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('lists events with filters', async () => {
    const ids = async (q: string) => ((await get(`/api/events${q}`)).body['events'] as { id: string }[]).map((e) => e.id);
    assert.deepEqual(await ids(''), ['e2', 'e1']);
    assert.deepEqual(await ids('?device=d1'), ['e1']);
    assert.deepEqual(await ids('?camera=yard'), ['e2']);
    assert.deepEqual(await ids('?min_score=5'), ['e1']);
    assert.deepEqual(await ids('?from=2026-12-07T07:00:30Z'), ['e2']);
    assert.deepEqual(await ids(`?to=${Date.parse('2026-12-07T07:00:30Z')}`), ['e1']);
    assert.deepEqual(await ids('?limit=1'), ['e2']);
  });

  it('answers 400 naming the bad parameter', async () => {
    for (const [q, name] of [['limit=0', 'limit'], ['limit=x', 'limit'], ['from=yesterday', 'from'], ['min_score=high', 'min_score'], ['colour=red', 'colour'], ['device=a&device=b', 'device']] as const) {
      const r = await get(`/api/events?${q}`);
      assert.equal(r.status, 400, q);
      assert.match(String(r.body['error']), new RegExp(name), q);
    }
  });

  it('returns one event with its messages and caption, 404 for an unknown id', async () => {
    const r = await get('/api/events/e1');
    assert.equal(r.status, 200);
    assert.equal((r.body['messages'] as unknown[]).length, 2);
    assert.deepEqual(r.body['descriptions'], [{ caption: 'a cyclist' }]);
    assert.equal((await get('/api/events/nope')).status, 404);
  });

  it('lists devices with their last state', async () => {
    const r = await get('/api/devices');
    assert.deepEqual(r.body['devices'], [{ device: 'd1', availability: 'online', source_state: { state: 'up' }, updated_ms: Date.parse('2026-12-07T07:00:00Z') }]);
  });
});
