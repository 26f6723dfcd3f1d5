/**
 * A start-up failure of `sfn-edge run` (a real process): a source that does not exist ends the run
 * with exit 1 and the reason printed once (what was wrong and what to do), as the last stderr line
 * `sfn-edge: <message>`; the log record of the failed service names the service, not the message
 * again.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../mqtt/brokers.js';
import { startCli } from '../cli-process.js';

describe('run with a source that does not exist (real process)', () => {
  let dir = '';
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sfn-startup-error-'));
  });
  after(async () => {
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it('exits 1 and prints the reason once, with what to do', { timeout: 120_000 }, async () => {
    const source = path.join(dir, 'nonexistent');
    const run = startCli(['run', '--source', source, '--providers', 'cpu', '--broker', `mqtt://127.0.0.1:${await freePort()}`,
      '--state-dir', path.join(dir, 'state'), '--clips', path.join(dir, 'clips')]);
    try {
      assert.equal(await run.exited, 1, run.stderr.slice(-10).join('\n'));
    } finally {
      run.child.kill('SIGKILL');
    }
    const all = [...run.stdout, ...run.stderr];
    const naming = all.filter((l) => l.includes(`${source}: no such file`));
    assert.equal(naming.length, 1, `the reason is printed once:\n${naming.join('\n')}`);
    const last = run.stderr.filter(Boolean).at(-1) ?? '';
    assert.equal(last, naming[0], 'the reason is the last stderr line');
    assert.match(last, /^sfn-edge: .*no such file or folder\. Check the path/);
    assert.equal(run.records('service failed to start; stopping the ones started before it').length, 1);
  });
});
