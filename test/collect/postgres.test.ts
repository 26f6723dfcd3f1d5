/**
 * The PostgreSQL store against a real PostgreSQL 15 started by the test (test/collect/pg.ts: a temp
 * dir, a free loopback port, as user nobody when run as root) runs the store contract, one new
 * database per test.
 */
import { describe, before, after } from 'node:test';
import pg from 'pg';
import { missingTools } from '../tools.js';
import { PostgresStore, PG_MIGRATIONS } from '../../src/collect/postgres.js';
import { startPostgres, type TestPostgres } from './pg.js';
import { storeContract } from './store-contract.js';

describe('PostgreSQL store', { skip: missingTools('initdb', 'pg_ctl') }, () => {
  let server: TestPostgres;
  let n = 0;
  before(async () => { server = await startPostgres(); });
  after(async () => { await server?.dispose(); });
  const withClient = async <T>(url: string, f: (c: pg.Client) => Promise<T>): Promise<T> => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try { return await f(c); } finally { await c.end(); }
  };
  storeContract({
    fresh: () => server.database(`t${n++}`),
    open: (url) => PostgresStore.open(url),
    exec: (url, sql) => withClient(url, async (c) => { await c.query(sql); }),
    versions: (url) => withClient(url, async (c) => (await c.query('SELECT version FROM schema_version ORDER BY version')).rows.map((r: { version: number }) => r.version)),
    migrations: PG_MIGRATIONS,
  });
});
