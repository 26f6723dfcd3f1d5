/**
 * The packages a bundle ships beside its executable (the native addons, see sea.ts `EXTERNAL`):
 * each package and the closure of its runtime dependencies, copied flat into
 * `<bundle>/node_modules`. Platform packages (those with `os` / `cpu` / `libc` fields, e.g.
 * `@img/sharp-linux-arm64`) are kept only for the target (linux, glibc, arch); the ones the host
 * lacks (another architecture's) are fetched from the npm registry (fetch.ts).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Arch } from './arch.js';
import { fetchPackage } from './fetch.js';
import { REPO_ROOT } from './sea.js';

interface PackageJson {
  name: string;
  version: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  os?: string[];
  cpu?: string[];
  libc?: string[];
}

/** Dependencies a package needs only at install time (never loaded at run time). */
const INSTALL_ONLY: Record<string, string[]> = { 'onnxruntime-node': ['adm-zip', 'global-agent'] };

/**
 * Files to leave out of a package for `arch` (paths relative to the package root), e.g. the other
 * platforms' libraries of onnxruntime-node (it carries darwin, win32 and linux x64 + arm64).
 */
function keep(name: string, rel: string, arch: Arch): boolean {
  if (name === 'onnxruntime-node') {
    if (rel === 'script' || rel.startsWith('script/')) return false;
    if (rel.startsWith('bin/')) {
      const parts = rel.split('/'); // bin/napi-v6/<platform>/<arch>/...
      if (parts.length >= 3 && parts[2] !== 'linux') return false;
      if (parts.length >= 4 && parts[3] !== arch) return false;
    }
  }
  return true;
}

/** Whether a package with platform fields fits linux/glibc/`arch`. */
function fits(pkg: PackageJson, arch: Arch): boolean {
  const ok = (list: string[] | undefined, v: string) => !list || (list.some((x) => x === v) && !list.includes(`!${v}`)) || (list.every((x) => x.startsWith('!')) && !list.includes(`!${v}`));
  return ok(pkg.os, 'linux') && ok(pkg.cpu, arch) && ok(pkg.libc, 'glibc');
}

async function readPkg(dir: string): Promise<PackageJson | null> {
  try {
    return JSON.parse(await fs.readFile(path.join(dir, 'package.json'), 'utf8')) as PackageJson;
  } catch {
    return null;
  }
}

/** The folder of `name` as Node resolves it from `fromDir` (walking up node_modules), or null. */
async function findLocal(name: string, fromDir: string): Promise<string | null> {
  for (let d = fromDir; ; d = path.dirname(d)) {
    const cand = path.join(d, 'node_modules', name);
    if (await readPkg(cand)) return cand;
    if (path.dirname(d) === d) return null;
  }
}

/** One shipped package. */
export interface ShippedPackage {
  name: string;
  version: string;
  /** where it was copied from (host node_modules or the npm cache) */
  from: string;
}

/**
 * Copies `roots` and their runtime dependency closure for linux-`arch` into `<outDir>/node_modules`.
 * @returns the shipped packages, sorted by name.
 * @throws Error when a required (non-optional) package is neither installed here nor fetchable.
 */
export async function shipPackages(roots: readonly string[], arch: Arch, outDir: string, cacheDir: string): Promise<ShippedPackage[]> {
  const done = new Map<string, ShippedPackage>();
  const visit = async (name: string, fromDir: string, spec: string | null, optional: boolean): Promise<void> => {
    if (done.has(name)) return;
    let dir = await findLocal(name, fromDir);
    let pkg = dir ? await readPkg(dir) : null;
    if (pkg && (pkg.os || pkg.cpu || pkg.libc) && !fits(pkg, arch)) return; // another platform's package
    if (!dir) {
      // not installed here: most likely the target's platform package; its version is exact in the parent's spec
      if (!spec || !/^\d+\.\d+\.\d+/.test(spec)) {
        if (optional) return;
        throw new Error(`package ${name} (needed by the bundle) is not installed; run 'ONNXRUNTIME_NODE_INSTALL=skip npm install'`);
      }
      // an optional package is fetched only when it is the target's own platform package
      if (optional && !new RegExp(`linux-${arch}(\\b|$)`).test(name)) return;
      const fetched = await fetchPackage(name, spec, cacheDir);
      pkg = await readPkg(fetched);
      if (!pkg || ((pkg.os || pkg.cpu || pkg.libc) && !fits(pkg, arch))) return;
      dir = fetched;
    }
    if (!pkg) return;
    const entry = { name, version: pkg.version, from: dir };
    done.set(name, entry);
    const dest = path.join(outDir, 'node_modules', name);
    await fs.rm(dest, { recursive: true, force: true });
    await fs.cp(dir, dest, { recursive: true, filter: (src) => keep(name, path.relative(dir, src).split(path.sep).join('/'), arch) && !src.includes(`${path.sep}node_modules${path.sep}.cache`) });
    const skip = INSTALL_ONLY[name] ?? [];
    for (const [dep, v] of Object.entries(pkg.dependencies ?? {})) if (!skip.includes(dep)) await visit(dep, dir, v, false);
    for (const [dep, v] of Object.entries(pkg.optionalDependencies ?? {})) if (!skip.includes(dep)) await visit(dep, dir, v, true);
  };
  for (const r of roots) await visit(r, REPO_ROOT, null, false);
  return [...done.values()].sort((a, b) => a.name.localeCompare(b.name));
}
