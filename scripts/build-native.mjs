#!/usr/bin/env node
// Builds the optional native training kernels (native/sfn_native.c -> native/build/sfn_native.node)
// against OpenBLAS (Debian: `apt-get install libopenblas-dev`). Runs from `npm install` / `npm ci`
// and as `npm run build:native`. Tolerant by design: when there is no C compiler, no Node headers or
// no OpenBLAS it says why and exits 0, and training uses the TensorFlow.js wasm kernels instead.
// SFN_NATIVE_BUILD=0 skips the build.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const src = path.join(root, 'native', 'sfn_native.c');
const outDir = path.join(root, 'native', 'build');
const out = path.join(outDir, 'sfn_native.node');
const say = (m) => process.stderr.write(`sfn-edge native kernels: ${m}\n`);

function main() {
  if (process.env.SFN_NATIVE_BUILD === '0') return say('skipped (SFN_NATIVE_BUILD=0)');
  if (process.platform !== 'linux') return say(`skipped on ${process.platform} (the build is written for Linux); training uses the wasm kernels`);
  if (!existsSync(src)) return say(`skipped: ${src} is missing`);
  const headerDirs = [
    process.env.npm_config_nodedir && path.join(process.env.npm_config_nodedir, 'include', 'node'),
    path.resolve(path.dirname(process.execPath), '..', 'include', 'node'),
    path.join(os.homedir(), '.cache', 'node-gyp', process.versions.node, 'include', 'node'),
    '/usr/include/node',
    '/usr/local/include/node',
  ].filter(Boolean);
  const inc = headerDirs.find((d) => existsSync(path.join(d, 'node_api.h')));
  if (!inc) return say(`skipped: no Node headers (node_api.h) in ${headerDirs.join(', ')}; training uses the wasm kernels`);
  const cc = process.env.CC || 'cc';
  mkdirSync(outDir, { recursive: true });
  rmSync(out, { force: true }); // never leave a stale build of older sources behind
  const tmp = path.join(outDir, `sfn_native.tmp${process.pid}.node`);
  const args = ['-O3', '-ffp-contract=off', '-fno-trapping-math', '-fPIC', '-shared', '-std=c11', '-DNODE_GYP_MODULE_NAME=sfn_native', `-I${inc}`, '-I/usr/include/x86_64-linux-gnu', src, '-o', tmp, '-lopenblas', '-lm'];
  const r = spawnSync(cc, args, { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    rmSync(tmp, { force: true });
    const why = r.error ? r.error.message : (r.stderr || '').trim().split('\n').slice(-3).join(' | ') || `${cc} exited with ${r.status}`;
    return say(`not built (${why}); install a C compiler and libopenblas-dev, then run \`npm run build:native\`. Training uses the wasm kernels meanwhile`);
  }
  // check that it loads (OpenBLAS present at run time) before putting it in place
  const check = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(tmp)}).init(1)`], { encoding: 'utf8' });
  if (check.status !== 0) {
    rmSync(tmp, { force: true });
    return say(`built but does not load (${(check.stderr || '').trim().split('\n')[0]}); training uses the wasm kernels`);
  }
  renameSync(tmp, out);
  say(`built ${path.relative(root, out)}`);
}

try {
  main();
} catch (e) {
  say(`not built (${e instanceof Error ? e.message : String(e)}); training uses the wasm kernels`);
}
