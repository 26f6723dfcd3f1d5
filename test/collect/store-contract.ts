/**
 * The contract every collector {@link Store} runs (SQLite in sqlite.test.ts, PostgreSQL in
 * postgres.test.ts): migrations from version 1, idempotent writes on (event id, kind, seq),
 * queries, retention by age, rows and size.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import type { Store, StoredMessage } from '../../src/collect/store.js';
import { ROW_OVERHEAD_BYTES } from '../../src/collect/store.js';

/** What a store implementation gives the contract. */
export interface StoreHarness {
  /** a new empty database: a SQLite file path or a postgres:// URL */
  fresh(): Promise<string>;
  open(db: string): Promise<Store>;
  /** runs SQL (several statements) on the database outside the store */
  exec(db: string, sql: string): Promise<void>;
  /** the versions in schema_version, ascending */
  versions(db: string): Promise<number[]>;
  /** this engine's migration texts */
  migrations: readonly string[];
}

export function msg(id: string, seq: number, time_ms: number, over: Partial<StoredMessage> = {}): StoredMessage {
  return { device: 'd1', kind: 'event', event_id: id, seq, time_ms, camera: null, score: 5, payload: JSON.stringify({ type: seq === 0 ? 'new' : 'update' }), ...over };
}

/** Registers the contract's tests (call inside a `describe`). */
export function storeContract(h: StoreHarness): void {
  /** runs `f` on a store over a new empty database, then closes it */
  const withStore = async (f: (s: Store) => Promise<void>) => {
    const s = await h.open(await h.fresh());
    try {
      await f(s);
    } finally {
      await s.close();
    }
  };

  it('migrates a version-1 database to the latest, keeping its rows', async () => {
    const db = await h.fresh();
    await h.exec(db, `CREATE TABLE schema_version (version INTEGER NOT NULL); ${h.migrations[0]!}; INSERT INTO schema_version VALUES (1);
      INSERT INTO messages (device, kind, event_id, seq, time_ms, score, payload) VALUES ('d', 'event', 'old', 0, 1, 4, '{}')`);
    const s = await h.open(db);
    try {
      assert.equal((await s.event('old')).length, 1);
      assert.equal(await s.put(msg('new', 0, 2, { camera: 'cam1' })), true);
      assert.deepEqual(await h.versions(db), h.migrations.map((_, i) => i + 1));
    } finally {
      await s.close();
    }
  });

  it('refuses a database newer than the program', async () => {
    const db = await h.fresh();
    await h.exec(db, `CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (${h.migrations.length + 1})`);
    await assert.rejects(async () => (await h.open(db)).close(), /newer than this program/);
  });

  it('stores (id, kind, seq) once, also within one batch, and reports which rows were new', () => withStore(async (s) => {
    assert.equal(await s.put(msg('a', 0, 1000)), true);
    assert.equal(await s.put(msg('a', 0, 1000)), false);
    assert.deepEqual(await s.putMany([msg('a', 0, 1000), msg('a', 1, 1500), msg('a', 1, 1500), msg('a', 0, 1000, { kind: 'description', seq: -1 })]), [false, true, false, true]);
    assert.deepEqual(await s.putMany([]), []);
    assert.equal((await s.event('a')).length, 3);
    assert.equal((await s.size()).rows, 3);
  }));

  it('filters events by device, camera, score and time; lists devices', () => withStore(async (s) => {
    await s.put(msg('a', 0, 1000));
    await s.put(msg('a', 1, 2000, { score: 9 }));
    await s.put(msg('b', 0, 3000, { device: 'd2', camera: 'door', score: 3 }));
    await s.putDevice('d2', 'availability', 'online', 5);
    await s.putDevice('d2', 'source_state', '{"state":"up"}', 6);
    assert.deepEqual((await s.events({ limit: 10 })).map((e) => [e.id, e.seq, e.type]), [['b', 0, 'new'], ['a', 1, 'update']]);
    assert.deepEqual((await s.events({ device: 'd2', limit: 10 })).map((e) => e.id), ['b']);
    assert.deepEqual((await s.events({ camera: 'door', limit: 10 })).map((e) => e.id), ['b']);
    assert.deepEqual((await s.events({ min_score: 5, limit: 10 })).map((e) => e.id), ['a']);
    assert.deepEqual((await s.events({ from: 2500, limit: 10 })).map((e) => e.id), ['b']);
    assert.deepEqual((await s.events({ to: 2500, limit: 10 })).map((e) => e.id), ['a']);
    assert.deepEqual((await s.events({ limit: 1 })).map((e) => e.id), ['b']);
    assert.deepEqual((await s.devices()).map((d) => [d.device, d.availability, d.source_state, d.updated_ms]), [['d2', 'online', '{"state":"up"}', 6]]);
  }));

  it('retains by age and by row count', () => withStore(async (s) => {
    await s.put(msg('a', 0, 1000));
    await s.put(msg('a', 1, 2000));
    await s.put(msg('b', 0, 3000));
    assert.equal(await s.retain({ maxAgeMs: 1500, nowMs: 3000 }), 1);
    assert.equal(await s.retain({ maxRows: 1, nowMs: 3000 }), 1);
    assert.deepEqual((await s.events({ limit: 10 })).map((e) => e.id), ['b']);
  }));

  it('retains by size: whole events, oldest first, until the stored size fits', () => withStore(async (s) => {
    const payload = JSON.stringify({ type: 'update', pad: 'x'.repeat(800) });
    const per = Buffer.byteLength(payload) + ROW_OVERHEAD_BYTES;
    // 5 events of 3 messages; event e0 is the oldest
    for (let e = 0; e < 5; e++) await s.putMany([0, 1, 2].map((q) => msg(`e${e}`, q, 10_000 * e + q, { payload })));
    assert.deepEqual(await s.size(), { rows: 15, bytes: 15 * per });
    assert.equal(await s.retain({ maxBytes: 15 * per, nowMs: 0 }), 0);
    // room for 2.5 events: the 2 newest stay, whole
    assert.equal(await s.retain({ maxBytes: 7.5 * per, nowMs: 0 }), 9);
    assert.deepEqual((await s.events({ limit: 10 })).map((e) => e.id), ['e4', 'e3']);
    assert.ok((await s.size()).bytes <= 7.5 * per);
    assert.equal((await s.event('e3')).length, 3);
    assert.equal(await s.retain({ maxBytes: 0, nowMs: 0 }), 6);
    assert.deepEqual(await s.size(), { rows: 0, bytes: 0 });
  }));
}
