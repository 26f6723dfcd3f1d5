/** The SQLite store: migrations from v1, idempotent writes, queries, retention by age and rows. */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { MIGRATIONS, LATEST_VERSION } from '../../src/collect/migrations.js';
import { SqliteStore } from '../../src/collect/sqlite.js';
import type { StoredMessage } from '../../src/collect/store.js';

function msg(id: string, seq: number, time_ms: number, over: Partial<StoredMessage> = {}): StoredMessage {
  return { device: 'd1', kind: 'event', event_id: id, seq, time_ms, camera: null, score: 5, payload: JSON.stringify({ type: seq === 0 ? 'new' : 'update' }), ...over };
}

describe('SQLite store', () => {
  let dir: string;
  before(async () => { dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sfn-sqlite-')); });
  after(async () => { await fs.rm(dir, { recursive: true, force: true }); });

  it('migrates a version-1 database to the latest, keeping its rows', async () => {
    const file = path.join(dir, 'v1.db');
    const db = new Database(file);
    db.exec('CREATE TABLE schema_version (version INTEGER NOT NULL)');
    db.exec(MIGRATIONS[0]!);
    db.prepare('INSERT INTO schema_version VALUES (1)').run();
    db.prepare("INSERT INTO messages (device, kind, event_id, seq, time_ms, score, payload) VALUES ('d', 'event', 'old', 0, 1, 4, '{}')").run();
    db.close();
    const s = new SqliteStore(file);
    assert.equal((await s.event('old')).length, 1);
    assert.equal(await s.put(msg('new', 0, 2, { camera: 'cam1' })), true);
    await s.close();
    const check = new Database(file);
    assert.deepEqual(check.prepare('SELECT version FROM schema_version ORDER BY version').all().map((r) => (r as { version: number }).version), Array.from({ length: LATEST_VERSION }, (_, i) => i + 1));
    check.close();
  });

  it('refuses a database newer than the program', async () => {
    const file = path.join(dir, 'future.db');
    const db = new Database(file);
    db.exec('CREATE TABLE schema_version (version INTEGER NOT NULL)');
    db.prepare('INSERT INTO schema_version VALUES (?)').run(LATEST_VERSION + 1);
    db.close();
    assert.throws(() => new SqliteStore(file), /newer than this program/);
  });

  it('stores (id, seq) once, filters events, retains by age and rows', async () => {
    const s = new SqliteStore(path.join(dir, 'q.db'));
    assert.equal(await s.put(msg('a', 0, 1000)), true);
    assert.equal(await s.put(msg('a', 0, 1000)), false);
    await s.put(msg('a', 1, 2000, { score: 9 }));
    await s.put(msg('b', 0, 3000, { device: 'd2', camera: 'door', score: 3 }));
    assert.deepEqual((await s.events({ limit: 10 })).map((e) => [e.id, e.seq]), [['b', 0], ['a', 1]]);
    assert.deepEqual((await s.events({ device: 'd2', limit: 10 })).map((e) => e.id), ['b']);
    assert.deepEqual((await s.events({ camera: 'door', limit: 10 })).map((e) => e.id), ['b']);
    assert.deepEqual((await s.events({ min_score: 5, limit: 10 })).map((e) => e.id), ['a']);
    assert.deepEqual((await s.events({ from: 2500, limit: 10 })).map((e) => e.id), ['b']);
    assert.deepEqual((await s.events({ to: 2500, limit: 10 })).map((e) => e.id), ['a']);
    assert.equal(await s.retain({ maxAgeMs: 1500, nowMs: 3000 }), 1);
    assert.equal(await s.retain({ maxRows: 1, nowMs: 3000 }), 1);
    assert.deepEqual((await s.events({ limit: 10 })).map((e) => e.id), ['b']);
    await s.close();
  });
});
