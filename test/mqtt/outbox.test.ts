import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it, mock } from 'node:test';
import { FileOutboxStore, MemoryOutboxStore, Outbox, type AckPublisher, type OutboxStore } from '../../src/mqtt/outbox.js';

const dirs: string[] = [];
async function tmp(): Promise<string> {
  const d = await fs.mkdtemp(path.join(os.tmpdir(), 'sfn-outbox-'));
  dirs.push(d);
  return d;
}
after(async () => {
  for (const d of dirs) await fs.rm(d, { recursive: true, force: true });
});

/** A publisher whose link can be cut; records what was acknowledged, in order. */
class FakePublisher implements AckPublisher {
  connected = true;
  acked: string[] = [];
  failNext = 0;
  async publish(topic: string, payload: string): Promise<void> {
    await new Promise((r) => setImmediate(r));
    if (!this.connected) throw new Error('offline');
    if (this.failNext > 0) {
      this.failNext -= 1;
      throw new Error('injected failure');
    }
    this.acked.push(`${topic}:${payload}`);
  }
}

const STORES: [string, () => Promise<OutboxStore>][] = [
  ['memory', async () => new MemoryOutboxStore()],
  ['file', async () => FileOutboxStore.open(await tmp())],
];

for (const [name, make] of STORES) {
  describe(`OutboxStore contract (${name})`, () => {
    it('append assigns increasing seqs, list is oldest first, remove forgets', async () => {
      const s = await make();
      const a = await s.append('t/a', '1');
      const b = await s.append('t/b', '2');
      const c = await s.append('t/a', '3');
      assert.ok(a.seq < b.seq && b.seq < c.seq);
      assert.deepEqual((await s.list()).map((m) => m.payload), ['1', '2', '3']);
      await s.remove(b.seq);
      await s.remove(b.seq);
      assert.deepEqual(await s.list(), [a, c]);
    });

    it('the outbox sends in order, keeps what fails, resends on kick', async () => {
      const s = await make();
      const pub = new FakePublisher();
      const box = new Outbox(s, pub);
      pub.connected = false;
      for (let i = 0; i < 5; i++) await box.enqueue('sfn/d/events', `m${i}`);
      assert.equal(await box.pending(), 5);
      assert.deepEqual(pub.acked, []);
      pub.connected = true;
      pub.failNext = 1;
      box.kick();
      assert.equal(await box.flush(20_000), true);
      assert.deepEqual(pub.acked, ['m0', 'm1', 'm2', 'm3', 'm4'].map((p) => `sfn/d/events:${p}`));
      assert.equal(await box.pending(), 0);
      assert.equal(box.sent, 5);
    });
  });
}

describe('FileOutboxStore across restarts', () => {
  it('pending messages survive a new instance, in order, and seqs continue', async () => {
    const dir = await tmp();
    const s1 = await FileOutboxStore.open(dir);
    await s1.append('a', 'x');
    const m2 = await s1.append('a', 'y');
    await s1.append('a', 'z');
    await s1.remove(m2.seq);
    const s2 = await FileOutboxStore.open(dir);
    assert.deepEqual((await s2.list()).map((m) => m.payload), ['x', 'z']);
    const m4 = await s2.append('a', 'w');
    assert.ok(m4.seq > 3);
    const pub = new FakePublisher();
    const box = new Outbox(s2, pub);
    assert.equal(await box.flush(20_000), true);
    assert.deepEqual(pub.acked, ['a:x', 'a:z', 'a:w']);
    assert.deepEqual((await fs.readdir(dir)).filter((n) => n.endsWith('.json')), []);
  });

  it('a failed send while connected is retried without a reconnect', async () => {
    const pub = new FakePublisher();
    pub.failNext = 2;
    const box = new Outbox(new MemoryOutboxStore(), pub, 10);
    await box.enqueue('a', '1');
    await box.enqueue('a', '2');
    assert.equal(await box.flush(20_000), true);
    assert.deepEqual(pub.acked, ['a:1', 'a:2']);
  });

  it('flush gives up (false) while disconnected', async () => {
    const pub = new FakePublisher();
    pub.connected = false;
    const box = new Outbox(new MemoryOutboxStore(), pub);
    await box.enqueue('a', 'b');
    assert.equal(await box.flush(300), false);
    assert.equal(await box.pending(), 1);
  });
});

describe('FileOutboxStore keeps its pending messages in memory (the folder is read once, at open)', () => {
  /** Runs `fn` with `readdir` and `readFile` of node:fs/promises counted (also for the module's named imports). */
  async function counted<T>(fn: () => Promise<T>): Promise<{ value: T; readdir: number; readFile: number }> {
    const rd = mock.method(fs, 'readdir');
    const rf = mock.method(fs, 'readFile');
    syncBuiltinESMExports();
    try {
      const value = await fn();
      return { value, readdir: rd.mock.callCount(), readFile: rf.mock.callCount() };
    } finally {
      rd.mock.restore();
      rf.mock.restore();
      syncBuiltinESMExports();
    }
  }

  it('draining 200 messages reads the folder and each message file once, at open', async () => {
    const dir = await tmp();
    const s1 = await FileOutboxStore.open(dir);
    for (let i = 0; i < 200; i++) await s1.append('sfn/d/events', `m${i}`);
    const pub = new FakePublisher();
    const r = await counted(async () => {
      const s = await FileOutboxStore.open(dir);
      const box = new Outbox(s, pub);
      const flushed = await box.flush(60_000);
      return { flushed, listed: await s.list() };
    });
    assert.equal(r.value.flushed, true);
    assert.deepEqual(r.value.listed, []);
    assert.equal(pub.acked.length, 200);
    assert.deepEqual(pub.acked.slice(0, 3), ['sfn/d/events:m0', 'sfn/d/events:m1', 'sfn/d/events:m2']);
    assert.equal(r.readdir, 1, 'one folder read, at open');
    assert.equal(r.readFile, 200, 'each message file read once, at open');
    assert.deepEqual((await fs.readdir(dir)).filter((n) => n.endsWith('.json')), []);
  });

  it('what list() returns cannot change the store', async () => {
    const s = await FileOutboxStore.open(await tmp());
    await s.append('a', 'x');
    const [m] = await s.list();
    m!.payload = 'changed';
    assert.equal((await s.list())[0]!.payload, 'x');
  });

  it('after a crash (no close, a half-written temp file, an unreadable file) a new instance finds every message not removed', async () => {
    const dir = await tmp();
    const s1 = await FileOutboxStore.open(dir);
    const kept: string[] = [];
    for (let i = 0; i < 20; i++) {
      const m = await s1.append('t', `p${i}`);
      if (i % 3 === 0) await s1.remove(m.seq);
      else kept.push(`p${i}`);
    }
    // a crash in the middle of an append leaves its temp file; another file is damaged
    await fs.writeFile(path.join(dir, '000000000999.json.tmp'), '{"topic":"t","pay');
    await fs.writeFile(path.join(dir, '000000000500.json'), 'not json');
    const s2 = await FileOutboxStore.open(dir);
    assert.deepEqual((await s2.list()).map((m) => m.payload), kept);
    const next = await s2.append('t', 'after');
    assert.ok(next.seq > 500, 'seqs continue after the largest file, readable or not');
    const s3 = await FileOutboxStore.open(dir);
    assert.deepEqual((await s3.list()).map((m) => m.payload), [...kept, 'after']);
  });
});
