/** The site store: PostgreSQL through `pg` (`--db postgres://...`); same schema versions as SQLite. */
import pg from 'pg';
import { ROW_OVERHEAD_BYTES, type DeviceRow, type EventQuery, type EventRow, type RetentionOptions, type Store, type StoredMessage } from './store.js';

/** PostgreSQL's text of each numbered migration (times are BIGINT ms; payload TEXT holding JSON). */
export const PG_MIGRATIONS: readonly string[] = [
  `CREATE TABLE messages (device TEXT NOT NULL, kind TEXT NOT NULL, event_id TEXT NOT NULL, seq INTEGER NOT NULL,
     time_ms BIGINT NOT NULL, score DOUBLE PRECISION, payload TEXT NOT NULL, PRIMARY KEY (event_id, kind, seq));
   CREATE TABLE devices (device TEXT PRIMARY KEY, availability TEXT, source_state TEXT, updated_ms BIGINT NOT NULL);`,
  `ALTER TABLE messages ADD COLUMN camera TEXT;
   CREATE INDEX messages_time ON messages (time_ms);
   CREATE INDEX messages_device ON messages (device, time_ms);`,
  'ALTER TABLE messages ADD COLUMN stored_ms BIGINT;',
];

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

export class PostgresStore implements Store {
  private constructor(private readonly pool: pg.Pool) {}

  /**
   * Connects and applies the missing migrations, each in a transaction (under an advisory lock, so
   * two collectors starting together do not both migrate).
   * @throws Error when the server is unreachable or its schema is newer than this program
   */
  static async open(url: string): Promise<PostgresStore> {
    const pool = new pg.Pool({ connectionString: url, max: 4 });
    const c = await pool.connect();
    try {
      await c.query('SELECT pg_advisory_lock(5150016)');
      await c.query('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
      const have = Number((await c.query('SELECT COALESCE(MAX(version), 0) AS v FROM schema_version')).rows[0].v);
      if (have > PG_MIGRATIONS.length) throw new Error(`database schema version ${have} is newer than this program (${PG_MIGRATIONS.length})`);
      for (let v = have + 1; v <= PG_MIGRATIONS.length; v++) {
        await c.query('BEGIN');
        try {
          await c.query(PG_MIGRATIONS[v - 1]!);
          await c.query('INSERT INTO schema_version (version) VALUES ($1)', [v]);
          await c.query('COMMIT');
        } catch (err) {
          await c.query('ROLLBACK');
          throw err;
        }
      }
      await c.query('SELECT pg_advisory_unlock(5150016)');
    } catch (err) {
      c.release();
      await pool.end();
      throw err;
    }
    c.release();
    return new PostgresStore(pool);
  }

  async put(m: StoredMessage): Promise<boolean> {
    return (await this.putMany([m]))[0]!;
  }

  /** One multi-row INSERT (one statement, so one transaction); the new rows come back with RETURNING. */
  async putMany(ms: readonly StoredMessage[]): Promise<boolean[]> {
    if (ms.length === 0) return [];
    const now = Date.now();
    const args: unknown[] = [];
    const rows = ms.map((m, i) => {
      args.push(i, m.device, m.kind, m.event_id, m.seq, m.time_ms, m.camera, m.score, m.payload);
      const b = i * 9;
      return `($${b + 1}::int, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5}::int, $${b + 6}::bigint, $${b + 7}, $${b + 8}::float8, $${b + 9})`;
    });
    args.push(now);
    const r = await this.pool.query(`INSERT INTO messages (device, kind, event_id, seq, time_ms, camera, score, payload, stored_ms)
      SELECT device, kind, event_id, seq, time_ms, camera, score, payload, $${args.length}::bigint
      FROM (VALUES ${rows.join(', ')}) v (i, device, kind, event_id, seq, time_ms, camera, score, payload) ORDER BY i
      ON CONFLICT DO NOTHING RETURNING event_id, kind, seq`, args);
    const fresh = new Set(r.rows.map((x: { event_id: string; kind: string; seq: number }) => `${x.event_id}\0${x.kind}\0${x.seq}`));
    // a key repeated within the batch is new once: its first occurrence
    return ms.map((m) => fresh.delete(`${m.event_id}\0${m.kind}\0${m.seq}`));
  }

  async putDevice(device: string, field: 'availability' | 'source_state', value: string, timeMs: number): Promise<void> {
    const col = field === 'availability' ? 'availability' : 'source_state';
    await this.pool.query(`INSERT INTO devices (device, ${col}, updated_ms) VALUES ($1, $2, $3)
      ON CONFLICT (device) DO UPDATE SET ${col} = excluded.${col}, updated_ms = excluded.updated_ms`, [device, value, timeMs]);
  }

  async events(q: EventQuery): Promise<EventRow[]> {
    const args: (string | number)[] = [];
    const p = (v: string | number): string => { args.push(v); return `$${args.length}`; };
    const inner = ["kind = 'event'"];
    if (q.device !== undefined) inner.push(`device = ${p(q.device)}`);
    if (q.camera !== undefined) inner.push(`camera = ${p(q.camera)}`);
    const outer: string[] = [];
    if (q.from !== undefined) outer.push(`time_ms >= ${p(q.from)}`);
    if (q.to !== undefined) outer.push(`time_ms <= ${p(q.to)}`);
    if (q.min_score !== undefined) outer.push(`score >= ${p(q.min_score)}`);
    const sql = `SELECT * FROM (SELECT DISTINCT ON (event_id) event_id AS id, device, camera, time_ms, score, payload::json->>'type' AS type, seq
      FROM messages WHERE ${inner.join(' AND ')} ORDER BY event_id, seq DESC) l
      ${outer.length ? `WHERE ${outer.join(' AND ')}` : ''} ORDER BY time_ms DESC LIMIT ${p(q.limit)}`;
    const r = await this.pool.query(sql, args);
    return r.rows.map((x: Record<string, unknown>) => ({ id: String(x['id']), device: String(x['device']), camera: (x['camera'] as string | null) ?? null, time_ms: Number(x['time_ms']), score: num(x['score']), type: String(x['type']), seq: Number(x['seq']) }));
  }

  async event(id: string): Promise<StoredMessage[]> {
    const r = await this.pool.query('SELECT device, kind, event_id, seq, time_ms, camera, score, payload FROM messages WHERE event_id = $1 ORDER BY kind, seq', [id]);
    return r.rows.map((x: Record<string, unknown>) => ({ ...(x as unknown as StoredMessage), time_ms: Number(x['time_ms']), score: num(x['score']) }));
  }

  async devices(): Promise<DeviceRow[]> {
    const r = await this.pool.query('SELECT device, availability, source_state, updated_ms FROM devices ORDER BY device');
    return r.rows.map((x: Record<string, unknown>) => ({ ...(x as unknown as DeviceRow), updated_ms: Number(x['updated_ms']) }));
  }

  async retain(opts: RetentionOptions): Promise<number> {
    let n = 0;
    if (opts.maxAgeMs !== undefined) n += (await this.pool.query('DELETE FROM messages WHERE time_ms < $1', [opts.nowMs - opts.maxAgeMs])).rowCount ?? 0;
    if (opts.maxRows !== undefined) {
      n += (await this.pool.query('DELETE FROM messages WHERE ctid IN (SELECT ctid FROM messages ORDER BY time_ms DESC OFFSET $1)', [opts.maxRows])).rowCount ?? 0;
    }
    if (opts.maxBytes !== undefined) {
      n += (await this.pool.query(`WITH e AS (SELECT event_id, MAX(time_ms) AS t, SUM(octet_length(payload) + $1) AS b FROM messages GROUP BY event_id),
        c AS (SELECT event_id, SUM(b) OVER (ORDER BY t DESC, event_id) AS cum FROM e)
        DELETE FROM messages WHERE event_id IN (SELECT event_id FROM c WHERE cum > $2)`, [ROW_OVERHEAD_BYTES, opts.maxBytes])).rowCount ?? 0;
    }
    return n;
  }

  async size(): Promise<{ rows: number; bytes: number }> {
    const r = await this.pool.query('SELECT COUNT(*) AS rows, COALESCE(SUM(octet_length(payload) + $1), 0) AS bytes FROM messages', [ROW_OVERHEAD_BYTES]);
    return { rows: Number(r.rows[0].rows), bytes: Number(r.rows[0].bytes) };
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
