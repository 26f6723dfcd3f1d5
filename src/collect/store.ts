/** The collector's store: an interface, implemented by SQLite (sqlite.ts, the default). */

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

export interface Store {
  /** Stores one message; true when new, false for a duplicate (event id, kind, seq). */
  put(m: StoredMessage): Promise<boolean>;
  /** Sets a device's last availability or source state (JSON text). */
  putDevice(device: string, field: 'availability' | 'source_state', value: string, timeMs: number): Promise<void>;
  events(q: EventQuery): Promise<EventRow[]>;
  /** The messages of one event, oldest first; empty when unknown. */
  event(id: string): Promise<StoredMessage[]>;
  devices(): Promise<DeviceRow[]>;
  /** Deletes messages older than `maxAgeMs` and beyond the newest `maxRows`; returns rows deleted. */
  retain(opts: { maxAgeMs?: number; maxRows?: number; nowMs: number }): Promise<number>;
  close(): Promise<void>;
}
