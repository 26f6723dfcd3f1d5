/**
 * Training-step speed of SFN-Lite on synthetic batches (no data loading): samples/s of `trainStep`
 * at the default config with `sffmResidual`, batch 8. `--profile` prints the kernels by total time.
 * Usage: node --import tsx scripts/train-speed.ts [--steps 20] [--batch 8] [--profile] [--json out.json]
 * SFN_NATIVE=0 forces the wasm matMul path.
 */
import { initBackend, tf } from '../src/model/backend.js';
import { nativeProfile } from '../src/model/native.js';
import { derived, makeConfig } from '../src/core/model-config.js';
import { initParams, rng } from '../src/model/sfn.js';
import { AdamW } from '../src/train/optimizer.js';
import { trainStep } from '../src/train/step.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : dflt;
};
const steps = Number(opt('steps', '20'));
const batch = Number(opt('batch', '8'));
const profile = args.includes('--profile');

const backend = await initBackend();
const cfg = makeConfig({ sffmResidual: true });
const g = derived(cfg);
const params = initParams(cfg, 1);
const adam = new AdamW(params);
const rows = batch * g.tokens;
const r = rng(7);
const fill = (n: number, lo: number, hi: number) => Float32Array.from({ length: n }, () => lo + (hi - lo) * r());
const hb = { batch, appearance: fill(rows * g.appearanceLen, 0, 1), motion: fill(rows * g.motionLen, -0.1, 0.1), last: fill(rows * g.outLen, 0, 1), target: fill(rows * g.outLen, 0, 1) };
const rowLen = { app: g.appearanceLen, mot: g.motionLen, out: g.outLen };
const step = () => trainStep(params, cfg, adam, hb, 1e-4, rowLen);

for (let i = 0; i < 3; i++) step();
if (profile) {
  const info = await tf.profile(() => {
    step();
  });
  const by = new Map<string, { ms: number; n: number }>();
  for (const k of info.kernels) {
    const key = `${k.name} ${JSON.stringify(k.inputShapes)}`;
    const e = by.get(key) ?? { ms: 0, n: 0 };
    e.ms += Number(k.kernelTimeMs);
    e.n += 1;
    by.set(key, e);
  }
  const byName = new Map<string, { ms: number; n: number }>();
  for (const k of info.kernels) {
    const e = byName.get(k.name) ?? { ms: 0, n: 0 };
    e.ms += Number(k.kernelTimeMs);
    e.n += 1;
    byName.set(k.name, e);
  }
  const total = info.kernels.reduce((s, k) => s + Number(k.kernelTimeMs), 0);
  console.log(`kernels ${info.kernels.length}, kernel time ${total.toFixed(1)} ms`);
  for (const [k, e] of [...byName].sort((a, b) => b[1].ms - a[1].ms).slice(0, 25)) console.log(`${e.ms.toFixed(1).padStart(8)} ms ${String(e.n).padStart(5)}x ${k}`);
  console.log('--- by shape');
  for (const [k, e] of [...by].sort((a, b) => b[1].ms - a[1].ms).slice(0, 30)) console.log(`${e.ms.toFixed(1).padStart(8)} ms ${String(e.n).padStart(5)}x ${k}`);
}
const t0 = performance.now();
const c0 = process.cpuUsage();
let last = 0;
for (let i = 0; i < steps; i++) last = step().loss;
const s = (performance.now() - t0) / 1000;
const c = process.cpuUsage(c0);
const cpuS = (c.user + c.system) / 1e6;
// CPU seconds are the steadier figure on a shared machine: samples per CPU-second ~ samples/s on an idle core
const out = { backend, batch, steps, seconds: +s.toFixed(2), samples_per_second: +((steps * batch) / s).toFixed(2), ms_per_step: +((s * 1000) / steps).toFixed(1), cpu_ms_per_step: +((cpuS * 1000) / steps).toFixed(1), samples_per_cpu_second: +((steps * batch) / cpuS).toFixed(2), loss: last };
console.log(JSON.stringify(out));
if (process.env.SFN_NATIVE_PROFILE === '1') {
  const per = Object.entries(nativeProfile()).map(([k, v]) => [k, { cpu_ms_per_step: +(v.ms / (steps + 3)).toFixed(2), calls_per_step: Math.round(v.calls / (steps + 3)) }]);
  console.log(JSON.stringify(Object.fromEntries(per)));
}
