/**
 * The collector's store: an interface, implemented by SQLite (sqlite.ts, the default) and
 * PostgreSQL (postgres.ts); test/collect/store-contract.ts is the contract both run.
 */

/** What one stored message row holds. `kind` is the topic feature. */
export interface StoredMessage {
  device: string;
  kind: 'event' | 'description' | 'clip';
  event_id: string;
  /** the event message's seq; for descriptions and clips a fixed key (-1 start, -2 peak, -3 clip) */
  seq: number;
  /** message time, ms since the epoch (from the payload, else the receive time) */
  time_ms: number;
  camera: string | null;
  /** peak score (z units) for event messages, else null */
  score: number | null;
  payload: string;
}

/** Query filters of {@link Store.events}; times in ms since the epoch. */
export interface EventQuery {
  device?: string;
  camera?: string;
  from?: number;
  to?: number;
  min_score?: number;
  limit: number;
}

/** A stored event: its newest lifecycle message. */
export interface EventRow {
  id: string;
  device: string;
  camera: string | null;
  time_ms: number;
  score: number | null;
  type: string;
  seq: number;
}

/** One device's last availability and source state. */
export interface DeviceRow {
  device: string;
  availability: string | null;
  source_state: string | null;
  updated_ms: number;
}

/**
 * Bytes a message counts for in retention by size, besides its payload: keys, columns and index
 * entries (about what one row of `messages` costs on disk beyond its payload in both engines).
 */
export const ROW_OVERHEAD_BYTES = 200;

/** What {@link Store.retain} deletes; all optional, times in ms. */
export interface RetentionOptions {
  /** delete messages older than this (message time) */
  maxAgeMs?: number;
  /** keep the newest this many messages */
  maxRows?: number;
  /**
   * keep the stored size (payload bytes + {@link ROW_OVERHEAD_BYTES} per message) under this many
   * bytes, deleting whole events, those whose newest message is oldest first
   */
  maxBytes?: number;
  nowMs: number;
}

export interface Store {
  /** Stores one message; true when new, false for a duplicate (event id, kind, seq). */
  put(m: StoredMessage): Promise<boolean>;
  /**
   * Stores messages in one transaction, stamping `stored_ms` with the write time; for each, true
   * when new, false for a duplicate (also a duplicate within `ms`). Nothing is stored when it throws.
   * @throws Error from the database (unreachable, full); the caller may retry the whole batch
   */
  putMany(ms: readonly StoredMessage[]): Promise<boolean[]>;
  /** Sets a device's last availability or source state (JSON text). */
  putDevice(device: string, field: 'availability' | 'source_state', value: string, timeMs: number): Promise<void>;
  events(q: EventQuery): Promise<EventRow[]>;
  /** The messages of one event, oldest first; empty when unknown. */
  event(id: string): Promise<StoredMessage[]>;
  devices(): Promise<DeviceRow[]>;
  /** Deletes by age, then by row count, then by size ({@link RetentionOptions}); returns rows deleted. */
  retain(opts: RetentionOptions): Promise<number>;
  /** Messages stored and their size as retention by size counts it (bytes). */
  size(): Promise<{ rows: number; bytes: number }>;
  close(): Promise<void>;
}
