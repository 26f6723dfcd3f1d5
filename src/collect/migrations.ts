/**
 * Numbered schema migrations, applied in order inside one transaction each; the applied version is
 * kept in `schema_version`. Version 1 is the first schema; later versions only add.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: messages and devices
  `CREATE TABLE messages (device TEXT NOT NULL, kind TEXT NOT NULL, event_id TEXT NOT NULL, seq INTEGER NOT NULL,
     time_ms INTEGER NOT NULL, score REAL, payload TEXT NOT NULL, PRIMARY KEY (event_id, kind, seq));
   CREATE TABLE devices (device TEXT PRIMARY KEY, availability TEXT, source_state TEXT, updated_ms INTEGER NOT NULL);`,
  // 2: camera column and query indexes
  `ALTER TABLE messages ADD COLUMN camera TEXT;
   CREATE INDEX messages_time ON messages (time_ms);
   CREATE INDEX messages_device ON messages (device, time_ms);`,
  // 3: when the collector wrote the row (publish -> row latency); null for rows written before
  'ALTER TABLE messages ADD COLUMN stored_ms INTEGER;',
];

/** The newest schema version. */
export const LATEST_VERSION = MIGRATIONS.length;
