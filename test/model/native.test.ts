/**
 * The native (OpenBLAS) kernels against the wasm kernels: matMul in every transpose / batch form,
 * and a whole SFN-Lite training gradient (frame-only and semantic with the 'read' mask) must agree
 * within float32 tolerance. Skipped when the addon is not built (the wasm path is then the only one).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { initBackend, nativeActive, nativeStatus, tf } from '../../src/model/backend.js';
import { makeConfig, derived, type SfnConfig } from '../../src/core/model-config.js';
import { withWasmKernels } from '../../src/model/native.js';
import { disposeParams, forward, initParams, rng } from '../../src/model/sfn.js';
import { totalLoss } from '../../src/train/losses.js';

await initBackend();
const skip = !nativeActive() && `native kernels not in use: ${nativeStatus()}`;

function rand(n: number, r: () => number, lo = -1, hi = 1): Float32Array {
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * r());
}

/** max |a - b| <= atol + rtol * max |b| over the whole array */
function close(a: Float32Array | Int32Array | Uint8Array, b: Float32Array | Int32Array | Uint8Array, what: string, rtol = 2e-4, atol = 1e-6) {
  assert.equal(a.length, b.length, `${what}: length`);
  let maxRef = 0;
  let maxDiff = 0;
  for (let i = 0; i < a.length; i++) {
    maxRef = Math.max(maxRef, Math.abs(b[i]!));
    maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i]!));
  }
  assert.ok(Number.isFinite(maxDiff) && maxDiff <= atol + rtol * maxRef, `${what}: max difference ${maxDiff} vs max magnitude ${maxRef}`);
}

describe('native kernels match the wasm kernels', { skip }, () => {
  before(() => assert.equal(tf.getBackend(), 'wasm'));

  it('matMul: plain, transposed, batched, broadcast', () => {
    const r = rng(11);
    const cases: [number[], number[], boolean, boolean][] = [
      [[37, 19], [19, 23], false, false],
      [[19, 37], [19, 23], true, false],
      [[37, 19], [23, 19], false, true],
      [[19, 37], [23, 19], true, true],
      [[3, 5, 7], [3, 7, 4], false, false],
      [[3, 7, 5], [3, 4, 7], true, true],
      [[3, 5, 7], [7, 4], false, false],
      [[1, 1], [1, 1], false, false],
    ];
    for (const [sa, sb, ta, tb] of cases) {
      const a = tf.tensor(rand(sa.reduce((x, y) => x * y), r), sa);
      const b = tf.tensor(rand(sb.reduce((x, y) => x * y), r), sb);
      const got = tf.matMul(a, b, ta, tb);
      const want = withWasmKernels(() => tf.matMul(a, b, ta, tb));
      assert.deepEqual(got.shape, want.shape);
      close(got.dataSync(), want.dataSync(), `matMul ${sa} x ${sb} ${ta} ${tb}`, 1e-5);
      tf.dispose([a, b, got, want]);
    }
  });

  const gradsOf = (cfg: SfnConfig, seed: number) => {
    const g = derived(cfg);
    const B = 3;
    const rows = B * g.tokens;
    const r = rng(seed);
    const app = tf.tensor2d(rand(rows * g.appearanceLen, r, 0, 1), [rows, g.appearanceLen]);
    const mot = tf.tensor2d(rand(rows * g.motionLen, r, -0.2, 0.2), [rows, g.motionLen]);
    const last = tf.tensor2d(rand(rows * g.outLen, r, 0, 1), [rows, g.outLen]);
    const target = tf.tensor2d(rand(rows * g.outLen, r, 0, 1), [rows, g.outLen]);
    const text = cfg.textDim > 0 ? tf.tensor2d(rand(B * cfg.textDim, r), [B, cfg.textDim]) : undefined;
    const params = initParams(cfg, seed);
    // a non-zero head so that every parameter gets a gradient
    const head = params.get('head.w')!;
    head.assign(tf.randomNormal(head.shape, 0, 0.02, 'float32', seed));
    const run = () =>
      tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => {
          const f = forward(params, cfg, { appearance: app, motion: mot, last, batch: B, ...(text ? { text } : {}) });
          return totalLoss(f.pred, target, last, f.routing, B, cfg.topK, cfg.auxAlpha, f.text && text ? { pred: f.text, target: text } : undefined).total;
        });
        const out = new Map<string, Float32Array>([['loss', value.dataSync() as Float32Array]]);
        for (const [name, v] of params) out.set(name, grads[v.name]!.dataSync() as Float32Array);
        return out;
      });
    const native = run();
    const wasm = withWasmKernels(run);
    disposeParams(params);
    tf.dispose([app, mot, last, target, ...(text ? [text] : [])]);
    return { native, wasm };
  };

  for (const [label, partial] of [
    ['frame-only, residual SFFM', { height: 32, width: 48, dim: 32, blocks: 2, heads: 2, experts: 4, topK: 2, expertDim: 4, sffmResidual: true }],
    ['semantic, read mask', { height: 32, width: 48, dim: 32, blocks: 1, heads: 4, experts: 4, topK: 2, expertDim: 4, textDim: 12, textAttention: 'read' }],
  ] as const) {
    it(`SFN-Lite loss and every parameter gradient (${label})`, () => {
      const cfg = makeConfig(partial as Partial<SfnConfig>);
      const { native, wasm } = gradsOf(cfg, 5);
      assert.equal(native.size, wasm.size);
      // measured: <= 1e-6 of the largest entry, except the key bias, whose gradient is 0 in exact
      // arithmetic (softmax ignores a constant per query) and ~1e-10 of float32 noise on both paths
      for (const [name, w] of wasm) close(native.get(name)!, w, name, 1e-4, 1e-8);
    });
  }
});

describe('without a usable addon the wasm kernels run', () => {
  const probe = `import { initBackend, nativeActive, nativeStatus } from ${JSON.stringify(path.resolve('src/model/backend.ts'))};
const name = await initBackend();
console.log(JSON.stringify({ name, active: nativeActive(), status: nativeStatus() }));`;
  const run = (env: Record<string, string>) => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', probe], { env: { ...process.env, ...env }, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout.trim().split('\n').filter((l) => l.startsWith('{"name"')).pop()!) as { name: string; active: boolean; status: string };
  };

  it('SFN_NATIVE=0', () => {
    const r = run({ SFN_NATIVE: '0' });
    assert.deepEqual([r.name, r.active], ['wasm', false]);
    assert.match(r.status, /SFN_NATIVE=0/);
  });

  it('an addon file that does not load (a broken build)', () => {
    const bad = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sfn-native-')), 'sfn_native.node');
    fs.writeFileSync(bad, 'not a shared object');
    try {
      const r = run({ SFN_NATIVE_PATH: bad });
      assert.deepEqual([r.name, r.active], ['wasm', false]);
      assert.match(r.status, /failed to load/);
    } finally {
      fs.rmSync(path.dirname(bad), { recursive: true, force: true });
    }
  });
});
