#!/usr/bin/env node
// A/B of real `sfn-edge train` speed: the wasm kernels (SFN_NATIVE=0) against the native kernels,
// interleaved so that both see the same machine load, and the synthetic step of
// scripts/train-speed.ts for both. Writes bench/train-speed.json.
// Usage: node scripts/train-speed-ab.mjs [--rounds 2] [--steps 60] [--data DIR]
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const opt = (n, d) => (argv.includes(`--${n}`) ? argv[argv.indexOf(`--${n}`) + 1] : d);
const rounds = Number(opt('rounds', '2'));
const steps = opt('steps', '60');
const data = path.resolve(opt('data', path.join(root, '..', 'shared', 'datasets', 'ucsd_ped2', 'training', 'frames')));
const model = '{"sffmResidual":true}';
const entry = path.join(os.tmpdir(), `sfn-cli-${process.pid}.mjs`);
fs.writeFileSync(entry, `import { main } from ${JSON.stringify(path.join(root, 'src', 'cli.ts'))};\nawait main(process.argv);\n`);

function run(args, env) {
  const t0 = process.hrtime.bigint();
  const load = os.loadavg()[0];
  const r = spawnSync(process.execPath, ['--import', 'tsx', ...args], { cwd: root, env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 64 << 20 });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${args.join(' ')} failed:\n${r.stderr.slice(-2000)}`);
  return { out: r.stdout + r.stderr, wall, load };
}

const results = [];
for (let round = 1; round <= rounds; round++) {
  for (const kernels of ['wasm', 'native']) {
    const env = kernels === 'wasm' ? { SFN_NATIVE: '0' } : {};
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'sfn-speed-'));
    const t = run([entry, 'train', '--data', data, '--out', out, '--limit-videos', '2', '--max-steps', steps, '--model', model], env);
    fs.rmSync(out, { recursive: true, force: true });
    const final = [...t.out.matchAll(/"samples_per_second":([0-9.]+)/g)].pop();
    const s = run([path.join(root, 'scripts', 'train-speed.ts'), '--steps', kernels === 'wasm' ? '8' : '20'], env);
    const synth = JSON.parse(s.out.split('\n').filter((l) => l.includes('"samples_per_cpu_second"')).pop() ?? '{}');
    const r = { round, kernels, train_samples_per_second: final ? Number(final[1]) : null, train_wall_s: +t.wall.toFixed(1), load_before: +t.load.toFixed(2), step_samples_per_second: synth.samples_per_second, step_samples_per_cpu_second: synth.samples_per_cpu_second, step_cpu_ms: synth.cpu_ms_per_step };
    results.push(r);
    console.log(JSON.stringify(r));
  }
}
fs.rmSync(entry, { force: true });
const by = (k, f) => results.filter((r) => r.kernels === k).map(f);
const range = (a) => [Math.min(...a), Math.max(...a)];
const summary = {
  command: `sfn-edge train --data ${path.relative(root, data)} --limit-videos 2 --max-steps ${steps} --model '${model}' (batch 8), SFN_NATIVE=0 for wasm`,
  machine: `${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, shared (load average shown per run)`,
  date: new Date().toISOString(),
  range: Object.fromEntries(['wasm', 'native'].map((k) => [k, { train_samples_per_second: range(by(k, (r) => r.train_samples_per_second)), step_samples_per_cpu_second: range(by(k, (r) => r.step_samples_per_cpu_second)) }])),
  runs: results,
};
fs.mkdirSync(path.join(root, 'bench'), { recursive: true });
fs.writeFileSync(path.join(root, 'bench', 'train-speed.json'), JSON.stringify(summary, null, 2) + '\n');
console.log(JSON.stringify(summary.range));
