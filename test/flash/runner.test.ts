/**
 * The fallback runner (scripts/flash/sfn-edge-runner, for devices without systemd) with a fake
 * `sfn-edge`: `start` supervises it in a session of its own, `stop` ends the whole session (the
 * detector too, not only the loop), and a version that does not verify is not restarted (exit 78).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('sfn-edge-runner (no systemd)', () => {
  let root: string;
  let version: string;
  const marker = String(4000 + (process.pid % 1000)); // `sleep <marker>` is the fake detector
  const alive = () => spawnSync('pgrep', ['-f', `^sleep ${marker}$`]).status === 0;
  const runner = (cmd: string) => spawnSync(path.join(version, 'sfn-edge-runner'), [cmd], { encoding: 'utf8', timeout: 60_000 });

  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'sfn-runner-'));
    version = path.join(root, 'versions', 'v1');
    await fs.mkdir(version, { recursive: true });
    const tpl = await fs.readFile('scripts/flash/sfn-edge-runner', 'utf8');
    const values: Record<string, string> = { ROOT: `'${root}'`, SOURCE: "'/dev/video0'", BROKER: "'mqtt://127.0.0.1:1'", DEVICE_ID: "'r1'", PROFILE: 'x86-64-cpu', VARIANT: 'int8/m' };
    await fs.writeFile(path.join(version, 'sfn-edge-runner'), tpl.replace(/@([A-Z_]+)@/g, (m, k: string) => values[k] ?? m), { mode: 0o755 });
    // the fake executable: verification passes unless ./bad exists; `run` is a long sleep
    await fs.writeFile(path.join(version, 'sfn-edge'), `#!/bin/sh\ncase "$1" in\n  flash) [ -e "$(dirname "$0")/bad" ] && { echo "checksum mismatch" >&2; exit 1; }; exit 0 ;;\n  run) exec sleep ${marker} ;;\nesac\n`, { mode: 0o755 });
  });
  after(async () => {
    runner('stop');
    await fs.rm(root, { recursive: true, force: true });
  });

  it('start supervises the detector; stop ends the loop and the detector', async () => {
    assert.match(runner('start').stdout, /^running \d+/);
    for (let i = 0; i < 50 && !alive(); i++) await sleep(100);
    assert.ok(alive(), 'the detector runs');
    assert.match(runner('status').stdout, /^running/);
    const t0 = Date.now();
    assert.match(runner('stop').stdout, /stopped/);
    assert.ok(Date.now() - t0 < 10_000, `stop took ${Date.now() - t0} ms`);
    assert.ok(!alive(), 'the detector was stopped with its supervisor');
    assert.match(runner('status').stdout, /^stopped/);
  });

  it('a version that does not verify is not started, and not restarted (exit 78)', async () => {
    await fs.writeFile(path.join(version, 'bad'), '');
    const r = runner('exec');
    assert.equal(r.status, 78);
    assert.match(r.stderr, /does not verify; not starting it/);
    runner('start');
    let status = '';
    for (let i = 0; i < 100 && !status.startsWith('stopped'); i++) {
      await sleep(100);
      status = runner('status').stdout;
    }
    assert.ok(!alive());
    assert.match(status, /^stopped/, 'the supervisor gave up on exit 78');
    const log = execFileSync('cat', [path.join(root, 'log', 'sfn-edge.log')]).toString();
    assert.equal(log.match(/not starting it/g)?.length, 1, 'tried once');
    await fs.rm(path.join(version, 'bad'));
  });
});
