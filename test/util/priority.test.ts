import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';

import { currentThreadId, niceThisThread } from '../../src/util/priority.js';
import { threadNices } from './threads.js';

describe('thread priority', { skip: process.platform !== 'linux' ? 'Linux only' : false }, () => {
  it('lowers only the calling thread: a worker at nice 7, the main thread unchanged', async () => {
    const main = currentThreadId()!;
    assert.equal(main, process.pid, 'the main thread id is the pid');
    const before = threadNices().get(main);
    const w = new Worker(`const { parentPort } = require('node:worker_threads'); const os = require('node:os'); const fs = require('node:fs');
      const tid = Number(fs.readlinkSync('/proc/thread-self').split('/').at(-1)); os.setPriority(tid, 7); parentPort.postMessage(tid);
      setTimeout(() => {}, 5000);`, { eval: true });
    try {
      const tid = await new Promise<number>((r) => w.once('message', r));
      const nices = threadNices();
      assert.equal(nices.get(tid), 7);
      assert.equal(nices.get(main), before);
    } finally {
      await w.terminate();
    }
  });

  it('niceThisThread refuses values outside -20..19 and reports a refused change', () => {
    assert.throws(() => niceThisThread(20), RangeError);
    assert.throws(() => niceThisThread(1.5), RangeError);
    assert.equal(typeof niceThisThread(threadNices().get(process.pid)!), 'boolean');
  });
});
