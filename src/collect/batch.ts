/**
 * Group commit: rows written while a transaction is in flight wait and go together in the next
 * one, so the store sees one transaction per batch instead of one per message, and a lone message
 * is written at once (no timer). The collector acknowledges a message only after its batch commits.
 */
import type { Store, StoredMessage } from './store.js';

/** Largest batch, rows (PostgreSQL takes at most 65535 parameters in a statement, 9 per row). */
export const MAX_BATCH_ROWS = 1000;

interface Waiting { row: StoredMessage; resolve: (isNew: boolean) => void; reject: (err: Error) => void }

export class BatchWriter {
  private queue: Waiting[] = [];
  private flushing = false;
  /** transactions committed and rows in them, since start */
  readonly stats = { batches: 0, rows: 0 };

  constructor(private readonly store: Store, private readonly maxRows = MAX_BATCH_ROWS) {
    if (!Number.isInteger(maxRows) || maxRows < 1 || maxRows > MAX_BATCH_ROWS) throw new Error(`batch size must be an integer in 1..${MAX_BATCH_ROWS}, got ${maxRows}`);
  }

  /**
   * Queues one row for the next transaction.
   * @returns true when the row was new, false for a duplicate, once its transaction committed
   * @throws (rejects) the store's error when its transaction failed; nothing of that batch is stored
   */
  write(row: StoredMessage): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.queue.push({ row, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.maxRows);
        try {
          const fresh = await this.store.putMany(batch.map((w) => w.row));
          this.stats.batches++;
          this.stats.rows += batch.length;
          batch.forEach((w, i) => w.resolve(fresh[i] ?? false));
        } catch (err) {
          for (const w of batch) w.reject(err as Error);
        }
      }
    } finally {
      this.flushing = false;
    }
  }
}
