/** The SQLite store (a file per test in a temp dir) runs the store contract. */
import { describe, after } from 'node:test';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { MIGRATIONS } from '../../src/collect/migrations.js';
import { SqliteStore } from '../../src/collect/sqlite.js';
import { storeContract } from './store-contract.js';

describe('SQLite store', () => {
  const dir = fs.mkdtemp(path.join(os.tmpdir(), 'sfn-sqlite-'));
  let n = 0;
  after(async () => { await fs.rm(await dir, { recursive: true, force: true }); });
  const withDb = <T>(file: string, f: (db: Database.Database) => T): T => {
    const db = new Database(file);
    try { return f(db); } finally { db.close(); }
  };
  storeContract({
    fresh: async () => path.join(await dir, `s${n++}.db`),
    open: async (file) => new SqliteStore(file),
    exec: async (file, sql) => withDb(file, (db) => { db.exec(sql); }),
    versions: async (file) => withDb(file, (db) => db.prepare('SELECT version FROM schema_version ORDER BY version').all().map((r) => (r as { version: number }).version)),
    migrations: MIGRATIONS,
  });
});
