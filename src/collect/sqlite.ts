/** The embedded default store: SQLite through better-sqlite3 (one file, WAL). */
import Database from 'better-sqlite3';
import { MIGRATIONS } from './migrations.js';
import { ROW_OVERHEAD_BYTES, type DeviceRow, type EventQuery, type EventRow, type RetentionOptions, type Store, type StoredMessage } from './store.js';

/**
 * Applies the migrations this database lacks, each in a transaction.
 * @returns the schema version after migrating
 * @throws Error when the database is newer than this program knows
 */
export function migrateSqlite(db: Database.Database): number {
  db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
  const row = db.prepare('SELECT MAX(version) AS v FROM schema_version').get() as { v: number | null };
  const have = row.v ?? 0;
  if (have > MIGRATIONS.length) throw new Error(`database schema version ${have} is newer than this program (${MIGRATIONS.length})`);
  for (let v = have + 1; v <= MIGRATIONS.length; v++) {
    const sql = MIGRATIONS[v - 1]!;
    db.transaction(() => {
      db.exec(sql);
      db.prepare('INSERT INTO schema_version (version) VALUES (?)').run(v);
    })();
  }
  return MIGRATIONS.length;
}

export class SqliteStore implements Store {
  private readonly db: Database.Database;

  /** Opens (creates) the file and migrates it. @throws on an unreadable file or a newer schema */
  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    migrateSqlite(this.db);
  }

  async put(m: StoredMessage): Promise<boolean> {
    return (await this.putMany([m]))[0]!;
  }

  async putMany(ms: readonly StoredMessage[]): Promise<boolean[]> {
    const insert = this.db.prepare(`INSERT INTO messages (device, kind, event_id, seq, time_ms, camera, score, payload, stored_ms)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`);
    const now = Date.now();
    return this.db.transaction(() => ms.map((m) => insert.run(m.device, m.kind, m.event_id, m.seq, m.time_ms, m.camera, m.score, m.payload, now).changes === 1))();
  }

  async putDevice(device: string, field: 'availability' | 'source_state', value: string, timeMs: number): Promise<void> {
    const col = field === 'availability' ? 'availability' : 'source_state';
    this.db.prepare(`INSERT INTO devices (device, ${col}, updated_ms) VALUES (?, ?, ?)
      ON CONFLICT (device) DO UPDATE SET ${col} = excluded.${col}, updated_ms = excluded.updated_ms`).run(device, value, timeMs);
  }

  async events(q: EventQuery): Promise<EventRow[]> {
    const where: string[] = ["kind = 'event'"];
    const args: (string | number)[] = [];
    if (q.device !== undefined) { where.push('device = ?'); args.push(q.device); }
    if (q.camera !== undefined) { where.push('camera = ?'); args.push(q.camera); }
    // newest message per event
    const sql = `SELECT m.event_id AS id, m.device, m.camera, m.time_ms, m.score, json_extract(m.payload, '$.type') AS type, m.seq
      FROM messages m JOIN (SELECT event_id, MAX(seq) AS seq FROM messages WHERE ${where.join(' AND ')} GROUP BY event_id) l
      ON m.event_id = l.event_id AND m.seq = l.seq AND m.kind = 'event'
      WHERE 1 = 1 ${q.from !== undefined ? 'AND m.time_ms >= ?' : ''} ${q.to !== undefined ? 'AND m.time_ms <= ?' : ''}
      ${q.min_score !== undefined ? 'AND m.score >= ?' : ''} ORDER BY m.time_ms DESC LIMIT ?`;
    for (const v of [q.from, q.to, q.min_score]) if (v !== undefined) args.push(v);
    args.push(q.limit);
    return this.db.prepare(sql).all(...args) as EventRow[];
  }

  async event(id: string): Promise<StoredMessage[]> {
    return this.db.prepare('SELECT device, kind, event_id, seq, time_ms, camera, score, payload FROM messages WHERE event_id = ? ORDER BY kind, seq').all(id) as StoredMessage[];
  }

  async devices(): Promise<DeviceRow[]> {
    return this.db.prepare('SELECT device, availability, source_state, updated_ms FROM devices ORDER BY device').all() as DeviceRow[];
  }

  async retain(opts: RetentionOptions): Promise<number> {
    let n = 0;
    if (opts.maxAgeMs !== undefined) n += this.db.prepare('DELETE FROM messages WHERE time_ms < ?').run(opts.nowMs - opts.maxAgeMs).changes;
    if (opts.maxRows !== undefined) {
      n += this.db.prepare(`DELETE FROM messages WHERE rowid IN (SELECT rowid FROM messages ORDER BY time_ms DESC LIMIT -1 OFFSET ?)`).run(opts.maxRows).changes;
    }
    if (opts.maxBytes !== undefined) {
      n += this.db.prepare(`WITH e AS (SELECT event_id, MAX(time_ms) AS t, SUM(length(CAST(payload AS BLOB)) + ?) AS b FROM messages GROUP BY event_id),
        c AS (SELECT event_id, SUM(b) OVER (ORDER BY t DESC, event_id) AS cum FROM e)
        DELETE FROM messages WHERE event_id IN (SELECT event_id FROM c WHERE cum > ?)`).run(ROW_OVERHEAD_BYTES, opts.maxBytes).changes;
    }
    return n;
  }

  async size(): Promise<{ rows: number; bytes: number }> {
    const r = this.db.prepare('SELECT COUNT(*) AS rows, COALESCE(SUM(length(CAST(payload AS BLOB)) + ?), 0) AS bytes FROM messages').get(ROW_OVERHEAD_BYTES) as { rows: number; bytes: number };
    return { rows: r.rows, bytes: r.bytes };
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
