/**
 * Packages from the npm registry for another architecture (the linux-arm64 Node binary, arm64
 * native addons), fetched with npm's own client (`npm pack`) into a cache folder and unpacked with
 * `tar`. Nothing is fetched when the cache already holds the package.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { log } from '../util/log.js';

const run = promisify(execFile);

/**
 * Returns the folder of `name@version` unpacked under `<cacheDir>/npm/<name>@<version>` (the
 * tarball's `package/` folder), fetching it with `npm pack` when absent.
 * @throws Error when npm cannot fetch it (offline, unknown version), with npm's message and what to do.
 */
export async function fetchPackage(name: string, version: string, cacheDir: string): Promise<string> {
  const dest = path.join(path.resolve(cacheDir), 'npm', `${name.replace('/', '+')}@${version}`);
  const pkg = path.join(dest, 'package');
  if (await fs.stat(path.join(pkg, 'package.json')).then(() => true, () => false)) return pkg;
  const tmp = `${dest}.tmp-${process.pid}`;
  await fs.rm(tmp, { recursive: true, force: true });
  await fs.mkdir(tmp, { recursive: true });
  const t0 = Date.now();
  try {
    const { stdout } = await run('npm', ['pack', `${name}@${version}`, '--silent', '--pack-destination', tmp], { maxBuffer: 1 << 24, env: { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false' } });
    const tgz = stdout.trim().split('\n').pop() ?? '';
    await run('tar', ['-xzf', path.join(tmp, tgz), '-C', tmp, '--no-same-owner']);
    await fs.rm(path.join(tmp, tgz));
  } catch (err) {
    await fs.rm(tmp, { recursive: true, force: true });
    throw new Error(`cannot fetch ${name}@${version} from the npm registry (${(err as Error).message.split('\n').slice(-3).join(' ').trim()}); check the network/registry, or put the package under ${dest}/package by hand`);
  }
  await fs.rm(dest, { recursive: true, force: true });
  await fs.rename(tmp, dest);
  log.info({ package: `${name}@${version}`, seconds: +((Date.now() - t0) / 1000).toFixed(1) }, 'fetched from the npm registry');
  return pkg;
}
