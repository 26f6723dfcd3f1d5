/**
 * The outbox: event messages are written to a store before they are sent and removed only when the
 * broker has acknowledged them (QoS 1 PUBACK), so a broker outage or a process restart loses
 * nothing. Messages are sent one at a time, oldest first, so they arrive in order (at least once: a
 * message acknowledged just before a crash, but not yet removed, is sent again after the restart).
 *
 * Seams (docs/style.md): `OutboxStore` (memory, one-file-per-message folder; a shared contract test runs
 * against both) and `AckPublisher` (the MQTT client, or a fake in tests).
 */
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { log } from '../util/log.js';

/** One stored message. `seq` orders messages (strictly increasing, also across restarts). */
export interface OutboxMessage {
  seq: number;
  topic: string;
  payload: string;
}

/** Where pending messages live. */
export interface OutboxStore {
  /** Stores a message durably and returns it with its sequence number. */
  append(topic: string, payload: string): Promise<OutboxMessage>;
  /** Pending messages, oldest first. */
  list(): Promise<OutboxMessage[]>;
  /** Forgets an acknowledged message (no error if it is gone already). */
  remove(seq: number): Promise<void>;
}

/** In-memory store (tests, or when no state folder is wanted). */
export class MemoryOutboxStore implements OutboxStore {
  private next = 1;
  private readonly items = new Map<number, OutboxMessage>();
  /** Adds a message. */
  async append(topic: string, payload: string): Promise<OutboxMessage> {
    const m = { seq: this.next++, topic, payload };
    this.items.set(m.seq, m);
    return m;
  }
  /** Pending messages, oldest first. */
  async list(): Promise<OutboxMessage[]> {
    return [...this.items.values()].sort((a, b) => a.seq - b.seq);
  }
  /** Forgets a message. */
  async remove(seq: number): Promise<void> {
    this.items.delete(seq);
  }
}

const NAME = /^(\d{12})\.json$/;

/**
 * One file per message in a folder: `<seq, 12 digits>.json` holding `{topic, payload}`, written
 * atomically (temp file + rename), so a crash leaves either the whole message or none. The next
 * sequence number continues after the largest file found, so order survives restarts.
 *
 * The folder is the durable truth; the pending messages are also kept in memory, read from the
 * folder once at {@link open} and updated by {@link append} (after its file is in place) and
 * {@link remove} (after its file is gone), so {@link list} reads no files. The outbox calls
 * `list()` once per message it sends: rereading the folder each time made draining a backlog of
 * n messages cost n folder reads and n^2/2 file reads.
 */
export class FileOutboxStore implements OutboxStore {
  private next = 0;
  /** pending messages by seq, in seq order (appends only ever add a larger seq) */
  private readonly index = new Map<number, OutboxMessage>();
  private constructor(readonly dir: string) {}

  /**
   * Opens (creating) the folder and reads every pending message (unreadable files are logged and
   * skipped, and stay on disk).
   * @throws Error if the folder cannot be created or read.
   */
  static async open(dir: string): Promise<FileOutboxStore> {
    await mkdir(dir, { recursive: true });
    const s = new FileOutboxStore(dir);
    const seqs = await s.seqs();
    for (const seq of seqs) {
      try {
        const m = JSON.parse(await readFile(s.file(seq), 'utf8')) as { topic: string; payload: string };
        s.index.set(seq, { seq, topic: m.topic, payload: m.payload });
      } catch (err) {
        log.warn({ err, seq, dir }, 'outbox: unreadable message skipped');
      }
    }
    s.next = (seqs.at(-1) ?? 0) + 1;
    return s;
  }

  private async seqs(): Promise<number[]> {
    const names = await readdir(this.dir);
    return names.flatMap((n) => {
      const m = NAME.exec(n);
      return m?.[1] ? [Number(m[1])] : [];
    }).sort((a, b) => a - b);
  }

  private file(seq: number): string {
    return join(this.dir, `${String(seq).padStart(12, '0')}.json`);
  }

  /** Writes `<seq>.json` atomically; the message is listed once its file is in place. */
  async append(topic: string, payload: string): Promise<OutboxMessage> {
    const seq = this.next++;
    const f = this.file(seq);
    const tmp = `${f}.tmp`;
    await writeFile(tmp, JSON.stringify({ topic, payload }));
    await rename(tmp, f);
    const m = { seq, topic, payload };
    this.index.set(seq, m);
    return { ...m };
  }

  /** Pending messages, oldest first (from memory; see the class comment). */
  async list(): Promise<OutboxMessage[]> {
    return [...this.index.values()].map((m) => ({ ...m }));
  }

  /** Deletes `<seq>.json`, then forgets it. */
  async remove(seq: number): Promise<void> {
    await rm(this.file(seq), { force: true });
    this.index.delete(seq);
  }
}

/** Sends one message with QoS 1; resolves on PUBACK, rejects when it cannot be sent. */
export interface AckPublisher {
  publish(topic: string, payload: string): Promise<void>;
  /** Whether a send can be attempted now. */
  readonly connected: boolean;
}

/**
 * Drains an {@link OutboxStore} through an {@link AckPublisher}, one message at a time, oldest
 * first. Call {@link kick} when the connection comes (back) up.
 */
export class Outbox {
  private draining: Promise<void> | null = null;
  private waiters: (() => void)[] = [];
  /** messages acknowledged since start */
  sent = 0;

  /**
   * @param store where pending messages live.
   * @param publisher sends with QoS 1.
   * @param retryMs delay before a failed send is retried while still connected (default 1000 ms).
   */
  constructor(private readonly store: OutboxStore, private readonly publisher: AckPublisher, private readonly retryMs = 1000) {}

  /** Stores a message, then tries to send what is pending. */
  async enqueue(topic: string, payload: string): Promise<OutboxMessage> {
    const m = await this.store.append(topic, payload);
    this.kick();
    return m;
  }

  /** Starts draining if connected and not draining already. */
  kick(): void {
    if (this.draining || !this.publisher.connected) return;
    this.draining = this.drain().finally(() => {
      this.draining = null;
    });
  }

  private async drain(): Promise<void> {
    for (;;) {
      const pending = await this.store.list();
      const m = pending[0];
      if (!m) {
        for (const w of this.waiters.splice(0)) w();
        return;
      }
      if (!this.publisher.connected) return;
      try {
        await this.publisher.publish(m.topic, m.payload);
      } catch (err) {
        log.warn({ err: (err as Error).message, seq: m.seq }, 'outbox: send failed; retrying');
        // still connected (e.g. a PUBACK that never came): retry soon; otherwise the next connect kicks
        if (this.publisher.connected) setTimeout(() => this.kick(), this.retryMs).unref();
        return;
      }
      await this.store.remove(m.seq);
      this.sent += 1;
    }
  }

  /** Number of messages not yet acknowledged. */
  async pending(): Promise<number> {
    return (await this.store.list()).length;
  }

  /**
   * Waits until every stored message is acknowledged, or `timeoutMs` passes (re-checks at least
   * every 250 ms, so no wake-up is lost).
   * @returns true when the outbox is empty.
   */
  async flush(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if ((await this.pending()) === 0) return true;
      const left = deadline - Date.now();
      if (left <= 0) return false;
      this.kick();
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(t);
          this.waiters = this.waiters.filter((w) => w !== done);
          resolve();
        };
        const t = setTimeout(done, Math.min(250, left));
        this.waiters.push(done);
      });
    }
  }
}
