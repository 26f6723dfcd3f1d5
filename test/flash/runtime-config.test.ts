/**
 * The runtime configuration a flash ships is checked on the host with `run`'s own schema
 * (src/core/runtime-config.ts) before anything is built, signed or sent: `flash build` and `flash push`
 * with a configuration `run --config` refuses (e.g. `threshold.on: 0.01`) fail at once, naming the
 * file and the field, with no bundle written and no SSH started. The SSH client is a fake `ssh` on
 * PATH that records every call, so "no SSH" is observed, not assumed.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildBundle, checkRuntimeConfig } from '../../src/flash/bundle.js';
import { runPush } from '../../src/flash/command.js';
import { FlashError } from '../../src/flash/errors.js';
import { flashHost, type FlashOptions } from '../../src/flash/push.js';
import { generateFleetKey } from '../../src/flash/sign.js';
import { startCli } from '../cli-process.js';

/** What the message must say: the file, the field and its bound, and what to do. */
const REFUSED = /--runtime-config .*bad\.json would be refused by the device \(sfn-edge run --config\): invalid configuration: threshold\.on: .*0\.1.*Fix it \(schema: schemas\/runtime-config\.schema\.json\).*nothing was built or sent/;

describe('flash checks the runtime configuration before building or sending', () => {
  let tmp: string;
  let bad: string;
  let good: string;
  let key: string;
  let sshLog: string;
  let base: FlashOptions;
  const oldPath = process.env.PATH;
  const sshCalls = async () => (await fs.readFile(sshLog, 'utf8').catch(() => '')).split('\n').filter(Boolean).length;

  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'sfn-flash-rc-'));
    bad = path.join(tmp, 'bad.json');
    good = path.join(tmp, 'good.json');
    await fs.writeFile(bad, JSON.stringify({ threshold: { on: 0.01 } }));
    await fs.writeFile(good, JSON.stringify({ threshold: { on: 5, off: 2 }, stats_interval_s: 1 }));
    await generateFleetKey(path.join(tmp, 'fleet'));
    key = path.join(tmp, 'fleet.key');
    // a fake ssh first on PATH: records its arguments, answers as an unreachable host would
    sshLog = path.join(tmp, 'ssh-calls.log');
    const bin = path.join(tmp, 'bin');
    await fs.mkdir(bin);
    await fs.writeFile(path.join(bin, 'ssh'), `#!/bin/sh\necho "$*" >> '${sshLog}'\necho "ssh: connect to host 192.0.2.1 port 22: Connection refused" >&2\nexit 255\n`, { mode: 0o755 });
    process.env.PATH = `${bin}:${oldPath}`;
    base = {
      ssh: { host: 'nvidia@192.0.2.1' }, profile: 'x86-64-cpu', deviceId: 'rc-1', broker: 'mqtt://127.0.0.1:1', source: '/dev/video0', root: '/opt/sfn-edge',
      key, cacheDir: path.join(tmp, 'cache'), outDir: path.join(tmp, 'bundles'), runtimeConfig: bad, timeoutS: 5,
    };
  });
  after(async () => {
    process.env.PATH = oldPath;
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('names the file and the bad field with the schema run uses; a good configuration passes', async () => {
    await assert.rejects(checkRuntimeConfig(bad, `--runtime-config ${bad}`), (e: unknown) => e instanceof FlashError && e.code === 'input' && REFUSED.test(e.message));
    await checkRuntimeConfig(good);
    // the cross-field rule and unknown keys too, as run refuses them
    const f = path.join(tmp, 'other.json');
    await fs.writeFile(f, JSON.stringify({ threshold: { on: 3, off: 5 } }));
    await assert.rejects(checkRuntimeConfig(f), /threshold\.off must be <= threshold\.on/);
    await fs.writeFile(f, JSON.stringify({ thresold: { on: 5 } }));
    await assert.rejects(checkRuntimeConfig(f), /other\.json would be refused .*Unrecognized key.*thresold/);
    await fs.writeFile(f, '{"threshold": ');
    await assert.rejects(checkRuntimeConfig(f), /other\.json would be refused .*malformed JSON/);
    await assert.rejects(checkRuntimeConfig(path.join(tmp, 'none.json'), '--runtime-config none.json'), /--runtime-config none\.json: no such file; nothing was built or sent/);
  });

  it('buildBundle refuses it before writing anything (no bundle folder, no cache)', async () => {
    await assert.rejects(buildBundle({ ...base, arch: 'x64' }), (e: unknown) => e instanceof FlashError && e.code === 'input' && REFUSED.test(e.message));
    assert.ok(!existsSync(base.outDir!), 'no bundle folder');
    assert.ok(!existsSync(base.cacheDir), 'nothing built into the cache');
  });

  it('a good configuration gets past the check (to the next step: here the missing signing key)', async () => {
    await assert.rejects(buildBundle({ ...base, arch: 'x64', runtimeConfig: good, key: path.join(tmp, 'no.key') }), (e: unknown) => e instanceof FlashError && e.code === 'key');
  });

  it('flashHost fails before any SSH; with a good configuration it goes on to SSH', async () => {
    const r = await flashHost(base);
    assert.equal(r.result, 'failed');
    assert.equal(r.code, 'input');
    assert.match(r.reason ?? '', REFUSED);
    assert.equal(await sshCalls(), 0, 'no ssh was started');
    assert.ok(!existsSync(base.outDir!));
    const ok = await flashHost({ ...base, runtimeConfig: good });
    assert.equal(ok.code, 'unreachable', ok.reason ?? '');
    assert.ok(await sshCalls() > 0, 'the fake ssh was reached');
    await fs.rm(sshLog, { force: true });
  });

  it('a given bundle whose runtime.json run would refuse is not sent', async () => {
    const dir = path.join(tmp, 'old-bundle');
    await fs.mkdir(dir);
    await fs.writeFile(path.join(dir, 'runtime.json'), JSON.stringify({ threshold: { on: 0.01 } }));
    const r = await flashHost({ ...base, bundle: dir });
    assert.equal(r.code, 'input');
    assert.match(r.reason ?? '', /bundle .*old-bundle: runtime\.json would be refused by the device .*threshold\.on/);
    assert.equal(await sshCalls(), 0);
  });

  it('runPush refuses it for every host of a hosts file, dry run included, before any SSH', async () => {
    const hosts = path.join(tmp, 'hosts.json');
    await fs.writeFile(hosts, JSON.stringify({ defaults: { profile: 'x86-64-cpu' }, hosts: [{ host: 'nvidia@192.0.2.1', device_id: 'a' }, { host: 'nvidia@192.0.2.2', device_id: 'b' }] }));
    const cli = { hosts, root: '/opt/sfn-edge', key, out: base.outDir!, cache: base.cacheDir, timeout: 5, minFreeMb: 64, runtimeConfig: bad, json: false };
    const printed: string[] = [];
    for (const dryRun of [true, false])
      await assert.rejects(runPush({ ...cli, dryRun }, (s) => printed.push(s)), (e: unknown) => e instanceof FlashError && REFUSED.test(e.message));
    assert.deepEqual(printed, [], 'no plan, no table');
    assert.equal(await sshCalls(), 0);
  });

  it('the CLI: flash build and flash push exit 1 with the message, no bundle, no SSH', async () => {
    const common = ['--profile', 'x86-64-cpu', '--runtime-config', bad, '--key', key, '--out', base.outDir!, '--cache', base.cacheDir];
    const env = { PATH: process.env.PATH };
    const b = startCli(['flash', 'build', ...common], { env });
    assert.equal(await b.exited, 1, b.stderr.join('\n'));
    assert.match(b.stderr.join('\n'), new RegExp(`^sfn-edge: ${REFUSED.source}`, 'm'));
    const p = startCli(['flash', 'push', '--host', 'nvidia@192.0.2.1', ...common], { env });
    assert.equal(await p.exited, 1, p.stderr.join('\n'));
    assert.match(p.stderr.join('\n'), new RegExp(`^sfn-edge: ${REFUSED.source}`, 'm'));
    assert.equal(await sshCalls(), 0, 'no ssh was started');
    assert.ok(!existsSync(base.outDir!), 'no bundle folder');
    assert.ok(!existsSync(base.cacheDir), 'nothing built into the cache');
  });
});
