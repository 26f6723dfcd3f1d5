/**
 * `sfn-edge collect`: the collector, its store and its HTTP API, until SIGINT/SIGTERM.
 * Retention runs at start and then every {@link RETENTION_INTERVAL_MS}.
 */
import { log } from '../util/log.js';
import { serveApi } from './api.js';
import { checkClientId, Collector } from './collector.js';
import { PostgresStore } from './postgres.js';
import { SqliteStore } from './sqlite.js';
import type { RetentionOptions, Store } from './store.js';

/** How often retention runs, ms. */
export const RETENTION_INTERVAL_MS = 60_000;

export interface CollectOptions {
  broker: string;
  group: string;
  /** SQLite file path, or postgres://... */
  db: string;
  httpPort: number;
  host: string;
  retentionDays?: number;
  retentionRows?: number;
  /** bound on the stored size, MB (10^6 bytes; see RetentionOptions.maxBytes) */
  retainMb?: number;
  /** base MQTT client id, stable across restarts (Collector's clientId) */
  clientId?: string;
  /** MQTT connections of this collector */
  connections?: number;
}

/** Opens the store named by `--db`: postgres(ql):// URLs, else a SQLite file. @throws Error when it cannot be opened or migrated */
export async function openStore(db: string): Promise<Store> {
  if (/^postgres(ql)?:\/\//.test(db)) return PostgresStore.open(db);
  return new SqliteStore(db);
}

/** Runs until SIGINT/SIGTERM, then stops the collector, the API and the store. @throws on bad options, or a broker or store failure at start */
export async function runCollect(o: CollectOptions): Promise<void> {
  if (o.retainMb !== undefined && !(o.retainMb > 0)) throw new Error(`--retain-mb must be above 0, got ${o.retainMb}`);
  if (o.clientId !== undefined) checkClientId(o.clientId);
  const store = await openStore(o.db);
  const collector = new Collector({ broker: o.broker, group: o.group, store, ...(o.clientId !== undefined ? { clientId: o.clientId } : {}), ...(o.connections !== undefined ? { connections: o.connections } : {}) });
  await collector.start();
  const api = await serveApi(store, o.httpPort, o.host);
  log.info({ broker: o.broker, group: o.group, db: o.db, port: api.port }, 'collect: running');
  const retain = async (): Promise<void> => {
    const opts: RetentionOptions = { nowMs: Date.now() };
    if (o.retentionDays !== undefined) opts.maxAgeMs = o.retentionDays * 86_400_000;
    if (o.retentionRows !== undefined) opts.maxRows = o.retentionRows;
    if (o.retainMb !== undefined) opts.maxBytes = o.retainMb * 1e6;
    if (opts.maxAgeMs === undefined && opts.maxRows === undefined && opts.maxBytes === undefined) return;
    const n = await store.retain(opts);
    if (n > 0) log.info({ deleted: n }, 'collect: retention');
  };
  await retain();
  const timer = setInterval(() => void retain().catch((err: Error) => log.warn({ err: err.message }, 'collect: retention failed')), RETENTION_INTERVAL_MS);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  clearInterval(timer);
  await collector.stop();
  await new Promise((r) => api.server.close(r));
  await store.close();
  log.info({ ...collector.stats, ...collector.batches }, 'collect: stopped');
}
