import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hostFacts, pickProfile, type HostFacts } from '../../src/device/detect.js';
import { listProfiles, loadProfile, parseProfile, ProfileError, PROFILES_DIR, profileJsonSchema } from '../../src/device/profile.js';
import { createProfileSession, engineCacheDir, sessionOptionsFor } from '../../src/device/session-options.js';
import { readManifest } from '../../src/core/manifest.js';
import { createSession } from '../../src/inference/session.js';
import { quietExport, TINY, tinyWeights, tmpDir } from '../export/fixtures.js';

const SHA = 'ab'.repeat(32);
const raw = (name: string) => JSON.parse(readFileSync(path.join(PROFILES_DIR, `${name}.json`), 'utf8')) as Record<string, unknown>;

describe('device profiles', () => {
  it('ships six valid profiles named after their files', async () => {
    const ps = await listProfiles();
    assert.deepEqual(ps.map((p) => p.name), ['jetson-agx-orin-64gb', 'jetson-nano-4gb', 'jetson-orin-nano-8gb', 'jetson-orin-nx-16gb', 'jetson-xavier-nx', 'x86-64-cpu']);
    for (const p of ps) assert.equal(p.providers.at(-1), 'cpu', `${p.name} ends with the cpu provider`);
  });

  it("every profile's model variant is shipped under models/ and matches its grid", async () => {
    for (const p of await listProfiles()) {
      const { manifest } = await readManifest(path.resolve('models', `${p.model.variant}.onnx`)); // sha256 checked
      assert.equal(manifest.precision, p.model.variant.split('/')[0], p.name);
      assert.deepEqual([manifest.model.width, manifest.model.height, manifest.model.color], [p.model.width, p.model.height, p.model.color], p.name);
    }
  });

  it('schema.json is generated from the zod definition (run scripts/profile-schema.ts)', () => {
    const onDisk = JSON.parse(readFileSync(path.join(PROFILES_DIR, 'schema.json'), 'utf8')) as unknown;
    assert.deepEqual(onDisk, profileJsonSchema());
  });

  it('refuses a broken profile naming the wrong field', () => {
    const bad = (patch: (p: Record<string, any>) => void) => {
      const p = structuredClone(raw('jetson-orin-nano-8gb')) as Record<string, any>;
      patch(p);
      try {
        parseProfile(p, 'bad.json');
      } catch (err) {
        assert.ok(err instanceof ProfileError);
        return err;
      }
      assert.fail('accepted a broken profile');
    };
    let e = bad((p) => (p.tensorrt.workspaceMB = 1));
    assert.deepEqual(e.fields, ['tensorrt.workspaceMB']);
    assert.match(e.message, /profile bad\.json is invalid: tensorrt\.workspaceMB: /);
    e = bad((p) => (p.providers = ['tensorrt', 'gpu']));
    assert.deepEqual(e.fields, ['providers.1']);
    e = bad((p) => (p.model.fps = 30));
    assert.match(e.message, /model: .*\(fps\)/);
    e = bad((p) => delete p.tensorrt);
    assert.deepEqual(e.fields, ['tensorrt']);
    e = bad((p) => (p.model.variant = 'sfn-lite'));
    assert.deepEqual(e.fields, ['model.variant']);
    e = bad((p) => (p.tensorrt.int8 = false));
    assert.deepEqual(e.fields, ['tensorrt.int8']);
  });

  it('the Nano caps the live view at 720 rows; profiles without the key leave the configuration alone', async () => {
    assert.equal((await loadProfile('jetson-nano-4gb')).streaming.liveMaxHeight, 720);
    assert.equal((await loadProfile('x86-64-cpu')).streaming.liveMaxHeight, undefined);
  });

  it('loads by name and reports unknown names with the known ones', async () => {
    assert.equal((await loadProfile('x86-64-cpu')).providers.join(','), 'cpu');
    await assert.rejects(loadProfile('jetson-tx2'), /device profile 'jetson-tx2' not found .*known: jetson-agx-orin-64gb, /);
  });
});

describe('session options from a profile', () => {
  it('maps TensorRT options, an engine cache keyed by sha256 + TensorRT + GPU, cuda and threads', async () => {
    const p = await loadProfile('jetson-orin-nano-8gb');
    const o = sessionOptionsFor(p, { modelSha256: SHA, tensorrtVersion: '8.6.2', gpuName: 'NVIDIA Jetson Orin Nano (8GB)' });
    assert.deepEqual(o.providers, ['tensorrt', 'cuda', 'cpu']);
    assert.equal(o.intraOpThreads, 6);
    const t = o.providerOptions?.tensorrt;
    assert.ok(t);
    assert.equal(t.trt_fp16_enable, true);
    assert.equal(t.trt_int8_enable, true);
    assert.equal(t.trt_max_workspace_size, 1024 * 2 ** 20);
    assert.equal(t.trt_engine_cache_enable, true);
    assert.equal(t.trt_engine_cache_path, '/var/cache/sfn-edge/trt/abababababababab-trt8.6.2-nvidia-jetson-orin-nano-8gb');
    assert.equal(t.trt_timing_cache_enable, true);
    assert.equal(t.trt_timing_cache_path, '/var/cache/sfn-edge/trt');
    assert.deepEqual(o.providerOptions?.cuda, { deviceId: 0 });
    // a different model, TensorRT or GPU never shares an engine folder
    const k = { modelSha256: SHA, tensorrtVersion: '8.6.2', gpuName: 'Orin' };
    assert.notEqual(engineCacheDir('/c', k), engineCacheDir('/c', { ...k, modelSha256: 'cd'.repeat(32) }));
    assert.notEqual(engineCacheDir('/c', k), engineCacheDir('/c', { ...k, tensorrtVersion: '10.3.0' }));
    assert.notEqual(engineCacheDir('/c', k), engineCacheDir('/c', { ...k, gpuName: 'Xavier' }));
    assert.throws(() => engineCacheDir('/c', { ...k, modelSha256: 'xyz' }), /64 lowercase hex/);
  });

  it('the cpu profile has only the cpu provider and ORT default threads', async () => {
    const o = sessionOptionsFor(await loadProfile('x86-64-cpu'), { modelSha256: SHA, tensorrtVersion: 'unknown', gpuName: 'none' });
    assert.deepEqual(o.providers, ['cpu']);
    assert.equal(o.intraOpThreads, undefined);
    assert.deepEqual(o.providerOptions, {});
  });

  describe('on this host', () => {
    let dir: string;
    let model: string;
    const root = path.dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json'));
    const cpuOnly = !existsSync(path.join(root, 'bin', 'napi-v6', process.platform, process.arch, 'libonnxruntime_providers_cuda.so'));
    before(async () => {
      dir = await tmpDir('profile');
      const { base } = await tinyWeights(dir, TINY);
      model = path.join(dir, 'm.onnx');
      await quietExport({ weights: base, out: model });
    });
    after(async () => fs.rm(dir, { recursive: true, force: true }));

    it('a Jetson profile falls back tensorrt -> cuda -> cpu with its options', { skip: cpuOnly ? false : 'CUDA provider installed' }, async () => {
      const p = await loadProfile('jetson-orin-nx-16gb');
      const s = await createSession(model, { ...sessionOptionsFor(p, { modelSha256: SHA, tensorrtVersion: 'unknown', gpuName: 'none' }), intraOpThreads: 1 });
      assert.equal(s.provider, 'cpu');
      assert.deepEqual(s.skipped.map((x) => x.provider), ['tensorrt', 'cuda']);
      await s.session.release();
    });

    it('createProfileSession checks the manifest and reports the active provider', { skip: cpuOnly ? false : 'CUDA provider installed' }, async () => {
      const p = await loadProfile('jetson-agx-orin-64gb');
      const s = await createProfileSession(model, { ...p, threads: { intraOp: 1, interOp: 1 } }, 'test-gpu');
      assert.equal(s.provider, 'cpu');
      assert.deepEqual(s.skipped.map((x) => x.provider), ['tensorrt', 'cuda']);
      await s.session.release();
      await fs.appendFile(model, 'x');
      await assert.rejects(createProfileSession(model, p, 'test-gpu'), /does not match its manifest/);
    });
  });
});

describe('profile detect', () => {
  const facts = (o: Partial<HostFacts>): HostFacts => ({ arch: 'arm64', deviceTreeModel: null, tegraRelease: null, cpu: 'ARMv8', cores: 6, memoryMB: 7620, gpus: [], ...o });
  let profiles: Awaited<ReturnType<typeof listProfiles>>;
  before(async () => (profiles = await listProfiles()));

  it('recognises each Jetson by its device-tree model', () => {
    const cases: Array<[string, number, string]> = [
      ['NVIDIA Jetson Nano Developer Kit', 3956, 'jetson-nano-4gb'],
      ['NVIDIA Jetson Xavier NX Developer Kit', 7765, 'jetson-xavier-nx'],
      ['NVIDIA Jetson Orin Nano Developer Kit', 7620, 'jetson-orin-nano-8gb'],
      ['NVIDIA Jetson Orin NX Engineering Reference Developer Kit', 15656, 'jetson-orin-nx-16gb'],
      ['Jetson AGX Orin', 62841, 'jetson-agx-orin-64gb'],
    ];
    for (const [model, mem, want] of cases)
      assert.equal(pickProfile(facts({ deviceTreeModel: model, tegraRelease: '# R36 (release), REVISION: 3.0', memoryMB: mem }), profiles).profile?.name, want, model);
    assert.equal(pickProfile(facts({ deviceTreeModel: 'NVIDIA Jetson TX2' }), profiles).profile, null);
  });

  it('an x86-64 host gets the CPU profile; hostFacts tolerates missing Jetson files', async () => {
    assert.equal(pickProfile(facts({ arch: 'x64' }), profiles).profile?.name, 'x86-64-cpu');
    const f = await hostFacts({ deviceTreeModel: '/nonexistent/model', tegraRelease: '/nonexistent/release' });
    assert.equal(f.deviceTreeModel, null);
    assert.ok(f.memoryMB > 0 && f.cores > 0);
  });
});
