/**
 * `sfn-edge flash`: the verbs of flashing devices (registered on the program by cli.ts).
 *
 *   flash [push] --host <user@device[:port]> | --hosts <file>  build, push, verify, start, watch, roll back
 *   flash build  --arch <a> --profile <p> ...                  build and sign a bundle only
 *   flash keygen --out <prefix>                                the fleet's Ed25519 key pair
 *   flash verify --dir <bundle> --key <pub>                    check a bundle (the device runs this)
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { loadProfile, ProfileError } from '../device/profile.js';
import { readManifest } from '../core/manifest.js';
import { ARCHES, parseArch, type Arch } from './arch.js';
import { buildBundle, readBundleInfo } from './bundle.js';
import { FlashError } from './errors.js';
import { readHostsFile, summaryTable, type HostEntry } from './hosts.js';
import { checkShippedConfig, flashHost, type FlashOptions, type FlashResult } from './push.js';
import { generateFleetKey, readPublicKey, verifyBundle } from './sign.js';

const DEFAULT_KEY = '.flash/fleet.key';
const DEFAULTS = { root: '/opt/sfn-edge', source: '/dev/video0', broker: 'mqtt://127.0.0.1:1883', cache: '.flash/cache', out: '.flash/bundles' };

function int(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a non-negative integer, got '${v}'`);
    return n;
  };
}
const collect = (v: string, prev: string[] = []) => [...prev, v];

/** `user@host[:port]` -> host and port. */
export function parseHost(spec: string): { host: string; port?: number } {
  const m = /^([^:\s]+)(?::(\d+))?$/.exec(spec.trim());
  if (!m?.[1]) throw new FlashError('input', `--host '${spec}' is not user@address[:port]`);
  return { host: m[1], ...(m[2] ? { port: Number(m[2]) } : {}) };
}

/** Options of `flash push` as commander parses them. */
interface PushCli {
  host?: string;
  hosts?: string;
  profile?: string;
  deviceId?: string;
  broker?: string;
  watchBroker?: string;
  source?: string;
  root: string;
  arch?: Arch;
  key: string;
  bundle?: string;
  runtimeConfig?: string;
  out: string;
  cache: string;
  timeout: number;
  minFreeMb: number;
  sshKey?: string;
  knownHosts?: string;
  sshOption?: string[];
  dryRun: boolean;
  json: boolean;
}

/** The steps a flash takes, as printed by `--dry-run`. */
export function plan(o: FlashOptions): string[] {
  const where = `${o.ssh.host}${o.ssh.port ? `:${o.ssh.port}` : ''}`;
  return [
    `host ${where}: device ${o.deviceId}, profile ${o.profile}, root ${o.root}`,
    `  1. preflight over SSH (keys only): uname -m, free space under ${o.root}, current version, fleet key, systemd`,
    o.bundle
      ? `  2. use bundle ${o.bundle} (refused unless its arch matches the device)`
      : `  2. build a bundle for linux-${o.arch ?? '<device arch>'}: single executable + native addons, model of ${o.profile}, device.json (broker ${o.broker}, source ${o.source}), unit + runner; sign with ${o.key}`,
    `  3. verify it here (signature + SHA256SUMS), check ${o.minFreeMB ?? 64} MiB reserve beyond its size, upload (tar over ssh) to ${o.root}/versions/.incoming-<id>`,
    `  4. verify it on the device with the trusted executable and ${o.root}/fleet.pub (installed now if absent); refuse and delete it if it does not verify`,
    `  5. stop the service, link ${o.root}/previous -> the running version, switch ${o.root}/current -> versions/<id>, start (systemd unit sfn-edge, else sfn-edge-runner)`,
    `  6. wait up to ${o.timeoutS ?? 90} s for sfn/${o.deviceId}/availability = online and a first sfn/${o.deviceId}/stats on ${o.watchBroker ?? o.broker}`,
    `  7. if they do not come: stop it, switch current back to previous, start that; keep versions/<id>.failed`,
  ];
}

async function pushOptions(c: PushCli, h: HostEntry | null): Promise<FlashOptions> {
  const spec = parseHost(h?.host ?? c.host ?? '');
  let fromBundle: { device_id?: string; broker?: string; source?: string; root?: string; profile?: string } = {};
  if (c.bundle) fromBundle = JSON.parse(await fs.readFile(path.join(c.bundle, 'device.json'), 'utf8').catch(() => '{}')) as typeof fromBundle;
  const profile = h?.profile ?? c.profile ?? fromBundle.profile;
  if (!profile) throw new FlashError('input', `no --profile for ${spec.host}; name one of device-profiles/*.json (sfn-edge profile detect on the device tells which)`);
  const arch = h?.arch ?? c.arch;
  const sshKey = h?.ssh_key ?? c.sshKey;
  return {
    ssh: {
      host: spec.host, ...(h?.port ?? spec.port ? { port: h?.port ?? spec.port } : {}), ...(sshKey ? { identity: sshKey } : {}),
      ...(c.knownHosts ? { knownHosts: c.knownHosts } : {}), options: c.sshOption ?? [],
    },
    profile, deviceId: h?.device_id ?? c.deviceId ?? fromBundle.device_id ?? spec.host.replace(/^.*@/, '').replace(/[^A-Za-z0-9._-]/g, '-'),
    broker: h?.broker ?? c.broker ?? fromBundle.broker ?? DEFAULTS.broker, source: h?.source ?? c.source ?? fromBundle.source ?? DEFAULTS.source,
    root: h?.root ?? fromBundle.root ?? c.root, key: c.key, cacheDir: c.cache, outDir: c.out, timeoutS: c.timeout, minFreeMB: c.minFreeMb,
    ...(arch ? { arch } : {}), ...(c.bundle ? { bundle: c.bundle } : {}), ...(c.runtimeConfig ? { runtimeConfig: c.runtimeConfig } : {}),
    ...(c.watchBroker ? { watchBroker: c.watchBroker } : {}),
  };
}

/**
 * Runs `flash push`: one host or a hosts file, sequentially; prints a summary table (or JSON).
 * @throws FlashError when any host was not flashed (after printing), so that the exit status says so.
 */
export async function runPush(c: PushCli, print: (s: string) => void = (s) => process.stdout.write(`${s}\n`)): Promise<FlashResult[]> {
  if (!c.host === !c.hosts) throw new FlashError('input', 'give either --host <user@device> or --hosts <file>');
  const entries: (HostEntry | null)[] = c.hosts ? await readHostsFile(c.hosts) : [null];
  const all = await Promise.all(entries.map((h) => pushOptions(c, h)));
  for (const o of all) {
    try {
      await loadProfile(o.profile);
    } catch (err) {
      if (err instanceof ProfileError) throw new FlashError('unknown-profile', err.message);
      throw err;
    }
  }
  // before the dry run's plan and before any host: a configuration `run` would refuse is never sent
  for (const o of all) await checkShippedConfig(o);
  if (c.dryRun) {
    for (const o of all) print(plan(o).join('\n'));
    print('dry run: nothing was built, sent or changed');
    return [];
  }
  const results: FlashResult[] = [];
  for (const o of all) results.push(await flashHost(o));
  print(c.json ? JSON.stringify(results, null, 2) : summaryTable(results));
  const bad = results.filter((r) => r.result !== 'ok');
  if (bad.length) throw new FlashError(bad[0]?.code as FlashError['code'] ?? 'remote', `${bad.length} of ${results.length} device(s) not flashed: ${bad.map((r) => `${r.host}: ${r.reason}`).join('; ')}`);
  return results;
}

/**
 * `flash verify`: the device-side check before a bundle is activated and before every start.
 * @throws FlashError 'unsigned' / 'tampered' (signature, checksums, model vs manifest),
 *   'wrong-arch' (built for another architecture than the one running this).
 */
export async function runVerify(o: { dir: string; key: string }, print: (s: string) => void = (s) => process.stdout.write(`${s}\n`)): Promise<void> {
  const pub = await readPublicKey(o.key);
  const v = await verifyBundle(o.dir, pub);
  const info = await readBundleInfo(o.dir);
  if (info.arch !== process.arch) throw new FlashError('wrong-arch', `bundle ${info.id} is built for linux-${info.arch}; this device is linux-${process.arch}`);
  const model = path.join(o.dir, 'models', `${info.model.variant}.onnx`);
  const m = await readManifest(model).catch((err: unknown) => {
    throw new FlashError('tampered', `bundle ${info.id}: model ${info.model.variant} does not match its manifest: ${(err as Error).message}`);
  });
  if (m.manifest.sha256 !== info.model.sha256) throw new FlashError('tampered', `bundle ${info.id}: model ${info.model.variant} has sha256 ${m.manifest.sha256.slice(0, 12)}…, bundle.json says ${info.model.sha256.slice(0, 12)}…`);
  print(JSON.stringify({ ok: true, id: info.id, arch: info.arch, files: v.files, key: v.keyId, model: info.model }));
}

/** Registers `flash` and its subcommands on `p`. */
export function registerFlash(p: Command): void {
  const flash = p.command('flash').description('flash devices: a signed single-executable bundle per architecture, pushed over SSH, verified, rolled back');
  const common = (cmd: Command) =>
    cmd
      .option('--profile <name>', 'device profile (device-profiles/<name>.json)')
      .option('--device-id <id>', 'device id in MQTT topics (default: the host name)')
      .option('--broker <url>', `MQTT broker the device reports to (default ${DEFAULTS.broker})`)
      .option('--source <src>', `video source on the device (default ${DEFAULTS.source})`)
      .option('--root <dir>', 'install root on the device', DEFAULTS.root)
      .addOption(new Option('--arch <arch>', 'target architecture (default: the device\'s)').choices([...ARCHES]))
      .option('--key <file>', 'fleet signing key (Ed25519, PEM; `flash keygen`)', DEFAULT_KEY)
      .option('--runtime-config <file>', 'runtime configuration JSON shipped as runtime.json (run --config)')
      .option('--out <dir>', 'where bundles are built', DEFAULTS.out)
      .option('--cache <dir>', 'cache of executables, native packages, npm downloads', DEFAULTS.cache);

  common(flash.command('push', { isDefault: true }).description('build, push over SSH, verify, switch, start, wait for health, roll back on failure'))
    .option('--host <user@device[:port]>', 'the device')
    .option('--hosts <file>', 'several devices (JSON: {defaults, hosts: [{host, device_id, profile, ...}]})')
    .option('--bundle <dir>', 'flash this built bundle instead of building one')
    .option('--watch-broker <url>', 'the broker as this host reaches it (default: --broker)')
    .option('--timeout <s>', 'seconds to wait for availability + first stats', int('--timeout'), 90)
    .option('--min-free-mb <n>', 'space to leave free on the device beyond the bundle (MiB)', int('--min-free-mb'), 64)
    .option('--ssh-key <file>', 'SSH private key (keys only: password login is off)')
    .option('--known-hosts <file>', 'known_hosts file for the devices')
    .option('--ssh-option <opt>', 'extra ssh -o option, repeatable (e.g. StrictHostKeyChecking=accept-new)', collect)
    .option('--dry-run', 'print the plan and change nothing', false)
    .option('--json', 'print the results as JSON instead of the table', false)
    .action(async (o: PushCli) => {
      await runPush(o);
    });

  common(flash.command('build').description('build and sign a bundle for one device (no SSH)'))
    .action(async (o: { profile?: string; deviceId?: string; broker?: string; source?: string; root: string; arch?: string; key: string; runtimeConfig?: string; out: string; cache: string }) => {
      if (!o.profile) throw new FlashError('input', '--profile is required');
      const b = await buildBundle({
        arch: parseArch(o.arch ?? process.arch), profile: o.profile, deviceId: o.deviceId ?? 'sfn-device', broker: o.broker ?? DEFAULTS.broker,
        source: o.source ?? DEFAULTS.source, root: o.root, key: o.key, outDir: o.out, cacheDir: o.cache, ...(o.runtimeConfig ? { runtimeConfig: o.runtimeConfig } : {}),
      });
      process.stdout.write(`${JSON.stringify({ dir: b.dir, id: b.info.id, arch: b.info.arch, mb: +(b.bytes / 2 ** 20).toFixed(1), files: b.files, seconds: +b.seconds.toFixed(1) })}\n`);
    });

  flash
    .command('keygen')
    .description("create the fleet's Ed25519 signing key pair (<out>.key, <out>.pub)")
    .option('--out <prefix>', 'file prefix', DEFAULT_KEY.replace(/\.key$/, ''))
    .option('--force', 'replace an existing key', false)
    .action(async (o: { out: string; force: boolean }) => {
      const k = await generateFleetKey(o.out, o.force);
      process.stdout.write(`${JSON.stringify(k)}\n`);
    });

  flash
    .command('verify')
    .description('verify a bundle: signature with the fleet key, every checksum, architecture, model vs manifest')
    .requiredOption('--dir <bundle>', 'bundle folder')
    .requiredOption('--key <file>', 'fleet public key (PEM)')
    .action(async (o: { dir: string; key: string }) => {
      await runVerify(o);
    });
}
