/**
 * A private PostgreSQL 15 for tests and the collect bench: initdb + pg_ctl into a temp dir, on a
 * free loopback port (unix socket in the same dir), trust authentication, run as user `nobody`
 * when started as root (PostgreSQL refuses to run as root). Callers skip with
 * `missingTools('initdb', 'pg_ctl')` when Debian's binaries are not there.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort } from '../mqtt/brokers.js';

/** Where Debian's `postgresql` package puts the server programs. */
export const PG_BIN = '/usr/lib/postgresql/15/bin';

/** A running private PostgreSQL. */
export interface TestPostgres {
  /** `postgres://postgres@127.0.0.1:<port>/postgres` */
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  /** a new empty database on this server; its URL */
  database(name: string): Promise<string>;
  /** stops the server (fast shutdown) and removes its folder */
  dispose(): Promise<void>;
}

function asUser(cmd: string, args: string[]): void {
  const root = process.getuid?.() === 0;
  execFileSync(root ? 'runuser' : cmd, root ? ['-u', 'nobody', '--', cmd, ...args] : args, { stdio: 'ignore', timeout: 60_000 });
}

/**
 * Starts one. `settings` are extra `-c name=value` server settings.
 * @throws Error when initdb or pg_ctl fails (the temp dir is removed)
 */
export async function startPostgres(settings: string[] = []): Promise<TestPostgres> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sfn-pg-'));
  await fs.chmod(dir, 0o777);
  const port = await freePort();
  const data = path.join(dir, 'data');
  try {
    asUser(`${PG_BIN}/initdb`, ['-D', data, '-U', 'postgres', '--auth=trust']);
    const opts = [`-p ${port}`, `-k ${dir}`, '-c listen_addresses=127.0.0.1', ...settings.map((s) => `-c ${s}`)].join(' ');
    asUser(`${PG_BIN}/pg_ctl`, ['-D', data, '-l', path.join(dir, 'log'), '-w', '-o', opts, 'start']);
  } catch (err) {
    await fs.rm(dir, { recursive: true, force: true });
    throw new Error(`PostgreSQL did not start in ${dir}: ${(err as Error).message}`);
  }
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  return {
    url, port, dir,
    database: async (name) => {
      if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`bad database name ${name}`);
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        await c.query(`CREATE DATABASE ${name}`);
      } finally {
        await c.end();
      }
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    },
    dispose: async () => {
      try {
        asUser(`${PG_BIN}/pg_ctl`, ['-D', data, '-m', 'fast', '-w', 'stop']);
      } finally {
        await fs.rm(dir, { recursive: true, force: true });
      }
    },
  };
}
