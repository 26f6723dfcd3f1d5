/**
 * Running linux-arm64 executables here: `qemu-aarch64-static` with an arm64 glibc sysroot (`-L`).
 * The sysroot is /usr/aarch64-linux-gnu when Debian's cross packages are installed, else the same
 * packages fetched with `apt-get download` (no install, no root) and unpacked into the cache.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { MISSING_TOOL, missingTools } from '../tools.js';

export const QEMU = '/usr/bin/qemu-aarch64-static';
const PACKAGES = ['libc6-arm64-cross', 'libgcc-s1-arm64-cross', 'libstdc++6-arm64-cross'];

/**
 * The `-L` folder for qemu, or a reason why there is none (qemu missing, packages not fetchable).
 */
export async function arm64Sysroot(cacheDir: string): Promise<{ dir: string } | { reason: string }> {
  const noQemu = missingTools('qemu');
  if (noQemu) return { reason: noQemu };
  if (existsSync('/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1')) return { dir: '/usr/aarch64-linux-gnu' };
  const root = path.join(path.resolve(cacheDir), 'arm64-sysroot');
  const dir = path.join(root, 'usr', 'aarch64-linux-gnu');
  if (existsSync(path.join(dir, 'lib', 'ld-linux-aarch64.so.1'))) return { dir };
  const debs = path.join(path.resolve(cacheDir), 'arm64-sysroot-debs');
  await fs.mkdir(debs, { recursive: true });
  try {
    execFileSync('apt-get', ['download', ...PACKAGES], { cwd: debs, stdio: 'pipe' });
    for (const f of await fs.readdir(debs)) if (f.endsWith('.deb')) execFileSync('dpkg-deb', ['-x', path.join(debs, f), root]);
  } catch (err) {
    return { reason: `${MISSING_TOOL} arm64 sysroot: install ${PACKAGES.join(' ')} or let 'apt-get download' fetch them (${(err as Error).message.split('\n')[0]})` };
  }
  return existsSync(path.join(dir, 'lib', 'ld-linux-aarch64.so.1')) ? { dir } : { reason: `the downloaded ${PACKAGES.join(', ')} hold no ld-linux-aarch64.so.1` };
}
