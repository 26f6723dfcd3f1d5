/**
 * The small parts of flashing: architecture names, host specs, the SSH error classes, the hosts
 * file, the dry-run plan and the summary table.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { archOfUname, parseArch } from '../../src/flash/arch.js';
import { parseHost, plan } from '../../src/flash/command.js';
import { readHostsFile, summaryTable } from '../../src/flash/hosts.js';
import type { FlashResult } from '../../src/flash/push.js';
import { parseKv } from '../../src/flash/remote.js';
import { classifySshError } from '../../src/flash/ssh.js';

describe('flash units', () => {
  it('maps uname -m to bundle architectures', () => {
    assert.equal(archOfUname('aarch64\n'), 'arm64');
    assert.equal(archOfUname('x86_64'), 'x64');
    assert.equal(archOfUname('armv7l'), null);
    assert.equal(parseArch('aarch64'), 'arm64');
    assert.throws(() => parseArch('mips'), /unknown architecture 'mips'; use one of: x64, arm64/);
  });

  it('parses user@host[:port]', () => {
    assert.deepEqual(parseHost('nvidia@10.0.0.21'), { host: 'nvidia@10.0.0.21' });
    assert.deepEqual(parseHost('nvidia@10.0.0.21:2222'), { host: 'nvidia@10.0.0.21', port: 2222 });
    assert.throws(() => parseHost('a b'), /not user@address\[:port\]/);
  });

  it('classifies ssh failures by exit status 255 and stderr', () => {
    const t = { host: 'u@h', port: 22, identity: '/k' };
    const c = (code: number, stderr: string) => classifySshError(t, { code, stdout: '', stderr })?.code ?? null;
    assert.equal(c(255, 'u@h: Permission denied (publickey).'), 'key-refused');
    assert.equal(c(255, 'ssh: connect to host h port 22: Connection refused'), 'unreachable');
    assert.equal(c(255, 'ssh: connect to host h port 22: Connection timed out'), 'unreachable');
    assert.equal(c(255, 'ssh: Could not resolve hostname h: Name or service not known'), 'unreachable');
    assert.equal(c(255, 'Host key verification failed.'), 'host-key');
    assert.equal(c(2, 'tar: ./sfn-edge: Cannot write: No space left on device'), 'disk-full');
    assert.equal(c(1, 'some remote failure'), null);
  });

  it('parses key=value lines', () => {
    assert.deepEqual(parseKv('arch=aarch64\nfree_kb=123\nnoise\nfleet_pub=YQ==\n'), { arch: 'aarch64', free_kb: '123', fleet_pub: 'YQ==' });
  });

  it('reads a hosts file with defaults, and names wrong fields', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sfn-hosts-'));
    const f = path.join(dir, 'hosts.json');
    await fs.writeFile(f, JSON.stringify({ defaults: { profile: 'jetson-orin-nano-8gb', broker: 'mqtt://10.0.0.2:1883' }, hosts: [{ host: 'nvidia@a', device_id: 'a' }, { host: 'nvidia@b', profile: 'jetson-nano-4gb' }] }));
    const h = await readHostsFile(f);
    assert.equal(h[0]?.profile, 'jetson-orin-nano-8gb');
    assert.equal(h[1]?.profile, 'jetson-nano-4gb');
    assert.equal(h[1]?.broker, 'mqtt://10.0.0.2:1883');
    await fs.writeFile(f, JSON.stringify({ hosts: [{ host: 'x', device_id: 'has space', colour: 1 }] }));
    await assert.rejects(readHostsFile(f), /hosts file .* is invalid: hosts\.0\.device_id: .*; hosts\.0: Unrecognized key: "colour"/);
    await assert.rejects(readHostsFile(path.join(dir, 'none.json')), /hosts file .* not found/);
    await fs.rm(dir, { recursive: true });
  });

  it('prints the dry-run plan with every step', () => {
    const p = plan({ ssh: { host: 'nvidia@10.0.0.21' }, profile: 'jetson-orin-nano-8gb', deviceId: 'gate-1', broker: 'mqtt://b:1883', source: '/dev/video0', root: '/opt/sfn-edge', key: 'fleet.key', cacheDir: 'c' }).join('\n');
    for (const step of ['1. preflight', '2. build a bundle for linux-<device arch>', '4. verify it on the device', '5. stop the service', '6. wait up to 90 s for sfn/gate-1/availability', '7. if they do not come'])
      assert.ok(p.includes(step), step);
  });

  it('formats the summary table', () => {
    const row = (host: string, result: FlashResult['result'], reason: string | null): FlashResult => ({
      host, device: host.split('@')[1] ?? host, arch: 'arm64', from: null, to: result === 'ok' ? '0.1.0-x' : null, result, seconds: 41.26, timings: {}, bundle_mb: 160, reason, code: null,
    });
    const t = summaryTable([row('nvidia@gate-1', 'ok', null), row('nvidia@gate-2', 'failed', 'unreachable')]);
    assert.match(t, /^host {11}device {2}arch {3}result {2}version {2}time {4}reason$/m);
    assert.match(t, /nvidia@gate-2 +gate-2 +arm64 +failed +- +41\.3 s +unreachable/);
    assert.match(t, /1\/2 flashed$/);
  });
});
