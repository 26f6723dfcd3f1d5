/**
 * The PostgreSQL store against a real PostgreSQL 15 started by the test (initdb + pg_ctl into a
 * temp dir, a free loopback port, as user nobody when run as root): migrations, idempotent
 * writes, filters, retention.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort } from '../mqtt/brokers.js';
import { missingTools } from '../tools.js';
import { PostgresStore, PG_MIGRATIONS } from '../../src/collect/postgres.js';
import type { StoredMessage } from '../../src/collect/store.js';

const BIN = '/usr/lib/postgresql/15/bin';

function asUser(cmd: string, args: string[]): void {
  const root = process.getuid?.() === 0;
  execFileSync(root ? 'runuser' : cmd, root ? ['-u', 'nobody', '--', cmd, ...args] : args, { stdio: 'ignore', timeout: 60_000 });
}

function msg(id: string, seq: number, time_ms: number, over: Partial<StoredMessage> = {}): StoredMessage {
  return { device: 'd1', kind: 'event', event_id: id, seq, time_ms, camera: null, score: 5, payload: JSON.stringify({ type: seq === 0 ? 'new' : 'update' }), ...over };
}

describe('PostgreSQL store', { skip: missingTools('initdb', 'pg_ctl') }, () => {
  let dir: string;
  let url: string;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sfn-pg-'));
    await fs.chmod(dir, 0o777);
    const port = await freePort();
    asUser(`${BIN}/initdb`, ['-D', `${dir}/data`, '-U', 'postgres', '--auth=trust']);
    asUser(`${BIN}/pg_ctl`, ['-D', `${dir}/data`, '-l', `${dir}/log`, '-w', '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1`, 'start']);
    url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  });
  after(async () => {
    try { asUser(`${BIN}/pg_ctl`, ['-D', `${dir}/data`, '-m', 'fast', '-w', 'stop']); } finally { await fs.rm(dir, { recursive: true, force: true }); }
  });

  it('migrates a version-1 database to the latest, keeping its rows', async () => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query('CREATE TABLE schema_version (version INTEGER NOT NULL)');
    await c.query(PG_MIGRATIONS[0]!);
    await c.query("INSERT INTO schema_version VALUES (1); INSERT INTO messages (device, kind, event_id, seq, time_ms, score, payload) VALUES ('d', 'event', 'old', 0, 1, 4, '{}')");
    const s = await PostgresStore.open(url);
    assert.equal((await s.event('old')).length, 1);
    assert.deepEqual((await c.query('SELECT version FROM schema_version ORDER BY version')).rows.map((r: { version: number }) => r.version), PG_MIGRATIONS.map((_, i) => i + 1));
    await c.end();
    await s.close();
  });

  it('stores (id, seq) once, filters events, retains by age and rows', async () => {
    const s = await PostgresStore.open(url);
    try {
      await s.retain({ maxRows: 0, nowMs: 0 }); // the migration test's row
      assert.equal(await s.put(msg('a', 0, 1000)), true);
      assert.equal(await s.put(msg('a', 0, 1000)), false);
      await s.put(msg('a', 1, 2000, { score: 9 }));
      await s.put(msg('b', 0, 3000, { device: 'd2', camera: 'door', score: 3 }));
      await s.putDevice('d2', 'availability', 'online', 5);
      assert.deepEqual((await s.events({ limit: 10 })).map((e) => [e.id, e.seq]), [['b', 0], ['a', 1]]);
      assert.deepEqual((await s.events({ device: 'd2', limit: 10 })).map((e) => e.id), ['b']);
      assert.deepEqual((await s.events({ camera: 'door', limit: 10 })).map((e) => e.id), ['b']);
      assert.deepEqual((await s.events({ min_score: 5, limit: 10 })).map((e) => e.id), ['a']);
      assert.deepEqual((await s.events({ from: 2500, limit: 10 })).map((e) => e.id), ['b']);
      assert.deepEqual((await s.devices()).map((d) => [d.device, d.availability, d.updated_ms]), [['d2', 'online', 5]]);
      assert.equal(await s.retain({ maxAgeMs: 1500, nowMs: 3000 }), 1);
      assert.equal(await s.retain({ maxRows: 1, nowMs: 3000 }), 1);
      assert.deepEqual((await s.events({ limit: 10 })).map((e) => e.id), ['b']);
    } finally {
      await s.close();
    }
  });
});
