/**
 * The fallback runner (scripts/flash/sfn-edge-runner, for devices without systemd) with a fake
 * `sfn-edge`: `start` supervises it in a session of its own, `stop` ends the whole session (the
 * detector too, not only the loop), and a version that does not verify is not restarted (exit 78).
 * `exec` preloads jemalloc when the device has it, says so when it does not, and
 * SFN_ALLOCATOR=system keeps glibc's malloc.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { missingTools } from '../tools.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('sfn-edge-runner (no systemd)', () => {
  let root: string;
  let version: string;
  const marker = String(4000 + (process.pid % 1000)); // `sleep <marker>` is the fake detector
  const alive = () => spawnSync('pgrep', ['-f', `^sleep ${marker}$`]).status === 0;
  const runner = (cmd: string, env: Record<string, string> = {}) =>
    spawnSync(path.join(version, 'sfn-edge-runner'), [cmd], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, SFN_ENV_OUT: '', ...env } });
  /** renders the runner template with `values` (placeholders @NAME@) into the version folder */
  const render = async (values: Record<string, string>) => {
    const tpl = await fs.readFile('scripts/flash/sfn-edge-runner', 'utf8');
    await fs.writeFile(path.join(version, 'sfn-edge-runner'), tpl.replace(/@([A-Z_]+)@/g, (m, k: string) => values[k] ?? m), { mode: 0o755 });
  };
  const base: Record<string, string> = { SOURCE: "'/dev/video0'", BROKER: "'mqtt://127.0.0.1:1'", DEVICE_ID: "'r1'", PROFILE: 'x86-64-cpu', VARIANT: 'int8/m', TRIPLET: 'x86_64-linux-gnu' };
  /** LD_PRELOAD as the detector saw it, and the runner's stderr, after `exec` */
  const execEnv = async (env: Record<string, string> = {}) => {
    const out = path.join(root, 'env.txt');
    await fs.rm(out, { force: true });
    const r = runner('exec', { SFN_ENV_OUT: out, ...env });
    assert.equal(r.status, 0, r.stderr);
    return { preload: (await fs.readFile(out, 'utf8')).trim().replace(/^LD_PRELOAD=/, ''), stderr: r.stderr };
  };

  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'sfn-runner-'));
    version = path.join(root, 'versions', 'v1');
    await fs.mkdir(version, { recursive: true });
    base.ROOT = `'${root}'`;
    await render(base);
    // the fake executable: verification passes unless ./bad exists; `run` is a long sleep
    await fs.writeFile(path.join(version, 'sfn-edge'), `#!/bin/sh\ncase "$1" in\n  flash) [ -e "$(dirname "$0")/bad" ] && { echo "checksum mismatch" >&2; exit 1; }; exit 0 ;;\n  run) [ -n "$SFN_ENV_OUT" ] && { echo "LD_PRELOAD=\${LD_PRELOAD:-}" > "$SFN_ENV_OUT"; exit 0; }; exec sleep ${marker} ;;\nesac\n`, { mode: 0o755 });
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

  it('exec preloads jemalloc from the multiarch folder of the bundle\'s architecture', { skip: missingTools('jemalloc') }, async () => {
    const { preload, stderr } = await execEnv();
    assert.equal(preload, '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2');
    assert.doesNotMatch(stderr, /not found/);
    const kept = await execEnv({ LD_PRELOAD: '/lib/other.so' });
    assert.equal(kept.preload, '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2:/lib/other.so', 'an LD_PRELOAD already set is kept after it');
  });

  it('SFN_ALLOCATOR=system keeps glibc\'s malloc; a device without jemalloc runs and says how to get it', async () => {
    assert.equal((await execEnv({ SFN_ALLOCATOR: 'system' })).preload, '');
    await render({ ...base, TRIPLET: 'no-such-tuple' });
    try {
      const { preload, stderr } = await execEnv();
      if (!existsSync('/usr/lib/libjemalloc.so.2') && !existsSync('/usr/local/lib/libjemalloc.so.2')) {
        assert.equal(preload, '');
        assert.match(stderr, /libjemalloc\.so\.2 not found; running on glibc's malloc.*install libjemalloc2/);
      }
    } finally {
      await render(base);
    }
  });
});
