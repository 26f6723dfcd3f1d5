/**
 * Group commit: rows written while the store is busy wait and go together in the next
 * transaction, so the store sees one transaction per batch instead of one per message, and a lone
 * message is written at once (no timer). Up to `concurrency` transactions are in flight (PostgreSQL
 * commits them in parallel; SQLite's are synchronous, so there it is one). The collector
 * acknowledges a message only after its batch commits.
 */
import type { Store, StoredMessage } from './store.js';

/** Largest batch, rows (PostgreSQL takes at most 65535 parameters in a statement, 9 per row). */
export const MAX_BATCH_ROWS = 1000;
/** Transactions in flight by default (the PostgreSQL pool has 4 connections: one stays free). */
export const DEFAULT_CONCURRENCY = 3;

interface Waiting { row: StoredMessage; resolve: (isNew: boolean) => void; reject: (err: Error) => void }

export class BatchWriter {
  private queue: Waiting[] = [];
  private inFlight = 0;
  /** transactions committed and rows in them, since start */
  readonly stats = { batches: 0, rows: 0 };

  /** @throws Error for a batch size outside 1..{@link MAX_BATCH_ROWS} or a concurrency outside 1..3 */
  constructor(private readonly store: Store, private readonly maxRows = MAX_BATCH_ROWS, private readonly concurrency = DEFAULT_CONCURRENCY) {
    if (!Number.isInteger(maxRows) || maxRows < 1 || maxRows > MAX_BATCH_ROWS) throw new Error(`batch size must be an integer in 1..${MAX_BATCH_ROWS}, got ${maxRows}`);
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 3) throw new Error(`concurrency must be an integer in 1..3, got ${concurrency}`);
  }

  /**
   * Queues one row for the next transaction.
   * @returns true when the row was new, false for a duplicate, once its transaction committed
   * @throws (rejects) the store's error when its transaction failed; nothing of that batch is stored
   */
  write(row: StoredMessage): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.queue.push({ row, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < this.concurrency && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxRows);
      this.inFlight++;
      this.store.putMany(batch.map((w) => w.row)).then((fresh) => {
        this.stats.batches++;
        this.stats.rows += batch.length;
        batch.forEach((w, i) => w.resolve(fresh[i] ?? false));
      }, (err: Error) => {
        for (const w of batch) w.reject(err);
      }).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
  }
}
