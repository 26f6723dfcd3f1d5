/**
 * A device bundle: everything one device needs, in one folder, signed.
 *
 * ```
 * sfn-edge                    single executable (sea.ts) for linux-<arch>
 * node_modules/…              native addons for linux-<arch> and their dependencies (natives.ts)
 * models/<precision>/<name>.onnx + .manifest.json   the variant the profile names
 * device-profiles/<profile>.json
 * runtime.json                runtime configuration (`run --config`)
 * device.json                 device id, broker, source, root, profile
 * bundle.json                 id, version, arch, node, model sha256, packages, build time
 * sfn-edge.service            systemd unit;  sfn-edge-runner  fallback runner (no systemd)
 * package.json                name and version (read by `export`)
 * SHA256SUMS, SHA256SUMS.sig  checksums of every file, Ed25519-signed with the fleet key
 * ```
 *
 * The executable and node_modules are built once per architecture into a cache and hard-linked
 * into each bundle: replace a bundle's file (write a new one) rather than editing it in place.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { loadProfile, ProfileError, type DeviceProfile } from '../device/profile.js';
import { readManifest } from '../core/manifest.js';
import { defaultConfig, loadLayer } from '../core/runtime-config.js';
import { type Arch, TRIPLETS } from './arch.js';
import { FlashError } from './errors.js';
import { shipPackages, type ShippedPackage } from './natives.js';
import { buildExecutable, bundleWorker, EXTERNAL, REPO_ROOT } from './sea.js';
import { listFiles, readPrivateKey, signBundle } from './sign.js';

/** `bundle.json`: what a bundle is (read by the push and by `flash verify` on the device). */
export const BundleInfoSchema = z
  .object({
    format: z.literal('sfn-edge-bundle/1'),
    id: z.string().regex(/^[A-Za-z0-9._+-]+$/).describe('version folder name on the device'),
    version: z.string().describe('sfn-edge package version'),
    arch: z.enum(['x64', 'arm64']),
    node: z.string().describe('Node version inside the executable'),
    profile: z.string(),
    model: z.object({ variant: z.string(), sha256: z.string().regex(/^[0-9a-f]{64}$/) }).strict(),
    device_id: z.string(),
    packages: z.array(z.string()).describe('shipped npm packages as name@version'),
    built: z.string(),
  })
  .strict();
/** A parsed `bundle.json`. */
export type BundleInfo = z.infer<typeof BundleInfoSchema>;

/** Options of {@link buildBundle}. */
export interface BundleOptions {
  arch: Arch;
  /** device profile name or path */
  profile: string;
  deviceId: string;
  /** MQTT broker URL the device reports to */
  broker: string;
  /** the device's video source (camera, URL, folder) */
  source: string;
  /** install root on the device (absolute), e.g. /opt/sfn-edge */
  root: string;
  /** Ed25519 private key file (PEM) of the fleet */
  key: string;
  /** folder the bundle folder is created in */
  outDir: string;
  /** cache of executables, native packages and npm downloads */
  cacheDir: string;
  /** runtime configuration JSON file to ship (default `{}`: the runtime's defaults) */
  runtimeConfig?: string;
  /** models root (default: the repository's models/) */
  modelsRoot?: string;
}

/** A built bundle. */
export interface BuiltBundle {
  dir: string;
  info: BundleInfo;
  /** total size in bytes */
  bytes: number;
  files: number;
  digest: string;
  seconds: number;
}

/** Quotes `s` for a POSIX shell. */
export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

async function packageVersion(): Promise<string> {
  return (JSON.parse(await fs.readFile(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

/** Bases built by this process, per cache folder and arch (the executable is built once per run). */
const bases = new Map<string, Promise<{ dir: string; packages: ShippedPackage[] }>>();

/** The executable and node_modules of `arch`, built once into `<cacheDir>/base/<arch>`. */
function base(arch: Arch, cacheDir: string, version: string): Promise<{ dir: string; packages: ShippedPackage[] }> {
  const k = `${path.resolve(cacheDir)}:${arch}`;
  let p = bases.get(k);
  if (!p) {
    p = buildBase(arch, cacheDir, version);
    p.catch(() => bases.delete(k));
    bases.set(k, p);
  }
  return p;
}

async function buildBase(arch: Arch, cacheDir: string, version: string): Promise<{ dir: string; packages: ShippedPackage[] }> {
  const dir = path.join(path.resolve(cacheDir), 'base', arch);
  await fs.mkdir(dir, { recursive: true });
  await buildExecutable(arch, path.join(dir, 'sfn-edge'), cacheDir, version);
  await bundleWorker(dir);
  const stamp = path.join(dir, 'packages.json');
  const cached = await fs.readFile(stamp, 'utf8').then((s) => JSON.parse(s) as ShippedPackage[], () => null);
  if (cached) return { dir, packages: cached };
  const packages = await shipPackages(EXTERNAL, arch, dir, cacheDir);
  await fs.writeFile(stamp, JSON.stringify(packages));
  return { dir, packages };
}

async function linkTree(src: string, dest: string): Promise<void> {
  for (const f of await listFiles(src)) {
    const to = path.join(dest, f);
    await fs.mkdir(path.dirname(to), { recursive: true });
    await fs.link(path.join(src, f), to).catch(() => fs.copyFile(path.join(src, f), to));
  }
}

function render(template: string, values: Record<string, string>): string {
  return template.replace(/@([A-Z_]+)@/g, (m, k: string) => values[k] ?? m);
}

/**
 * Checks a runtime configuration file here, on the host, the way `sfn-edge run --config` checks it
 * on the device (the same schema and layering: `loadLayer` over the defaults, src/core/runtime-config.ts),
 * so that a configuration the device would refuse at start is never built, signed or shipped.
 * @param what how the file is named in the message (e.g. `--runtime-config bad.json`)
 * @throws FlashError 'input' naming the file and each bad field, or saying that the file is missing.
 */
export async function checkRuntimeConfig(file: string, what = `runtime configuration ${file}`): Promise<void> {
  const st = await fs.stat(file).catch(() => null);
  if (!st?.isFile()) throw new FlashError('input', `${what}: no such file; nothing was built or sent`);
  try {
    await loadLayer(file, defaultConfig());
  } catch (err) {
    const why = (err as Error).message.replace(`${file}: `, '');
    throw new FlashError('input', `${what} would be refused by the device (sfn-edge run --config): ${why}. Fix it (schema: schemas/runtime-config.schema.json) and run again; nothing was built or sent`, { cause: err });
  }
}

/**
 * Builds and signs a bundle for one device.
 * @throws FlashError 'unknown-profile' (no such profile, or invalid), 'input' (the runtime
 *   configuration is missing or invalid (checked before anything is written), the profile's model
 *   variant is not in the models root, or its manifest does not match), 'key' (no signing key);
 *   Error from building the executable or fetching packages.
 */
export async function buildBundle(o: BundleOptions): Promise<BuiltBundle> {
  const t0 = Date.now();
  if (!/^\/[A-Za-z0-9._/-]+$/.test(o.root)) throw new FlashError('input', `--root must be an absolute path on the device made of letters, digits and . _ - /, got '${o.root}'`);
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(o.deviceId)) throw new FlashError('input', `device id '${o.deviceId}' may hold only letters, digits, '.', '_' and '-' (it is an MQTT topic level)`);
  if (o.runtimeConfig) await checkRuntimeConfig(o.runtimeConfig, `--runtime-config ${o.runtimeConfig}`);
  let profile: DeviceProfile;
  try {
    profile = await loadProfile(o.profile);
  } catch (err) {
    if (err instanceof ProfileError) throw new FlashError('unknown-profile', err.message, { cause: err });
    throw err;
  }
  const key = await readPrivateKey(o.key);
  const modelsRoot = o.modelsRoot ?? path.join(REPO_ROOT, 'models');
  const modelFile = path.join(modelsRoot, `${profile.model.variant}.onnx`);
  const manifest = await readManifest(modelFile).catch((err: unknown) => {
    throw new FlashError('input', `profile ${profile.name} names model ${profile.model.variant}, which cannot be shipped: ${(err as Error).message}`);
  });
  const version = await packageVersion();
  const b = await base(o.arch, o.cacheDir, version);
  const built = new Date().toISOString();
  const id = `${version}-${built.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${randomBytes(2).toString('hex')}`;
  const dir = path.join(path.resolve(o.outDir), `${o.deviceId}-${o.arch}-${id}`);
  await fs.mkdir(dir, { recursive: true });
  await linkTree(b.dir, dir);
  await fs.rm(path.join(dir, 'packages.json'), { force: true });

  const modelDest = path.join(dir, 'models', `${profile.model.variant}.onnx`);
  await fs.mkdir(path.dirname(modelDest), { recursive: true });
  await fs.writeFile(modelDest, manifest.bytes);
  await fs.copyFile(manifest.path, path.join(path.dirname(modelDest), path.basename(manifest.path)));
  await fs.mkdir(path.join(dir, 'device-profiles'), { recursive: true });
  await fs.writeFile(path.join(dir, 'device-profiles', `${profile.name}.json`), `${JSON.stringify(profile, null, 2)}\n`);
  const runtime = o.runtimeConfig ? await fs.readFile(o.runtimeConfig, 'utf8') : '{}\n';
  await fs.writeFile(path.join(dir, 'runtime.json'), runtime);
  await fs.writeFile(path.join(dir, 'device.json'), `${JSON.stringify({ device_id: o.deviceId, broker: o.broker, source: o.source, root: o.root, profile: profile.name }, null, 2)}\n`);
  await fs.writeFile(path.join(dir, 'package.json'), `${JSON.stringify({ name: 'sfn-edge', version, private: true })}\n`);
  const info: BundleInfo = {
    format: 'sfn-edge-bundle/1', id, version, arch: o.arch, node: process.version, profile: profile.name,
    model: { variant: profile.model.variant, sha256: manifest.manifest.sha256 }, device_id: o.deviceId,
    packages: b.packages.map((p) => `${p.name}@${p.version}`), built,
  };
  await fs.writeFile(path.join(dir, 'bundle.json'), `${JSON.stringify(info, null, 2)}\n`);
  const values = {
    ROOT: shQuote(o.root), SOURCE: shQuote(o.source), BROKER: shQuote(o.broker), DEVICE_ID: shQuote(o.deviceId),
    PROFILE: profile.name, VARIANT: profile.model.variant, TRIPLET: TRIPLETS[o.arch],
  };
  const tpl = path.join(REPO_ROOT, 'scripts', 'flash');
  await fs.writeFile(path.join(dir, 'sfn-edge-runner'), render(await fs.readFile(path.join(tpl, 'sfn-edge-runner'), 'utf8'), values), { mode: 0o755 });
  await fs.writeFile(path.join(dir, 'sfn-edge.service'), render(await fs.readFile(path.join(tpl, 'sfn-edge.service'), 'utf8'), { ...values, ROOT: o.root, DEVICE_ID: o.deviceId }));
  const signed = await signBundle(dir, key);
  let bytes = 0;
  for (const f of await listFiles(dir)) bytes += (await fs.stat(path.join(dir, f))).size;
  return { dir, info, bytes, files: signed.files, digest: signed.digest, seconds: (Date.now() - t0) / 1000 };
}

/**
 * Reads and validates `<dir>/bundle.json`.
 * @throws FlashError 'unsigned' when absent (not a bundle), 'tampered' when invalid.
 */
export async function readBundleInfo(dir: string): Promise<BundleInfo> {
  const raw = await fs.readFile(path.join(dir, 'bundle.json'), 'utf8').catch(() => null);
  if (raw === null) throw new FlashError('unsigned', `${dir} is not a bundle (no bundle.json); build one with 'sfn-edge flash build'`);
  const r = BundleInfoSchema.safeParse(JSON.parse(raw));
  if (!r.success) throw new FlashError('tampered', `${dir}/bundle.json is invalid: ${z.prettifyError(r.error)}`);
  return r.data;
}
