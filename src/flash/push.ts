/**
 * Flashing one device: preflight (architecture, free space, running version, fleet key, systemd)
 * -> bundle (built for the device's architecture unless one is given) -> local verification ->
 * upload over SSH (tar stream) into versions/.incoming-<id> -> verification on the device with the
 * trusted executable -> stop, switch `current`, start -> health wait on the broker -> on timeout,
 * rollback to `previous`. See remote.ts for the device layout and scripts.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { log } from '../util/log.js';
import { archOfUname, type Arch } from './arch.js';
import { buildBundle, checkRuntimeConfig, readBundleInfo, type BundleOptions } from './bundle.js';
import { FlashError } from './errors.js';
import { HealthWatch } from './health.js';
import { ACTIVATE, parseKv, PREFLIGHT, PREPARE, PRUNE, RECEIVE, ROLLBACK, VERIFY } from './remote.js';
import { keyId, listFiles, readPublicKey, SIG, SUMS, verifyBundle } from './sign.js';
import { classifySshError, closeShared, sshArgs, sshScript, type SshTarget } from './ssh.js';
import { createPublicKey } from 'node:crypto';

/** What to flash onto one device. */
export interface FlashOptions extends Omit<BundleOptions, 'arch' | 'outDir'> {
  ssh: SshTarget;
  /** target architecture; default: the device's (`uname -m`) */
  arch?: Arch;
  /** a built bundle folder to flash instead of building one (its device.json gives id and broker) */
  bundle?: string;
  /** where bundles are built (default .flash/bundles) */
  outDir?: string;
  /** the broker as this host reaches it (default: the device's broker) */
  watchBroker?: string;
  /** seconds to wait for availability + stats (default 90) */
  timeoutS?: number;
  /** space to leave free on the device beyond the bundle, MiB (default 64) */
  minFreeMB?: number;
  /** version folders kept on the device (default 3) */
  keep?: number;
  /** tests only: upload without verifying locally first (to show the device's own refusal) */
  skipLocalVerify?: boolean;
}

/** The outcome for one device. */
export interface FlashResult {
  host: string;
  device: string;
  arch: Arch | null;
  /** version running before, and the one running after */
  from: string | null;
  to: string | null;
  result: 'ok' | 'rolled-back' | 'refused' | 'failed';
  /** seconds: whole flash; upload; health wait; rollback (when done) */
  seconds: number;
  timings: Record<string, number>;
  bundle_mb: number | null;
  reason: string | null;
  code: string | null;
}

const since = (t0: number) => +((Date.now() - t0) / 1000).toFixed(2);

/**
 * Checks, here, the runtime configuration a flash would ship: the `runtime.json` of a given bundle
 * (one built before this check existed may hold a bad one), else the `--runtime-config` file.
 * @throws FlashError 'input' naming the file and each field `run` would refuse (see checkRuntimeConfig).
 */
export async function checkShippedConfig(o: Pick<FlashOptions, 'bundle' | 'runtimeConfig'>): Promise<void> {
  if (o.bundle) {
    const f = path.join(o.bundle, 'runtime.json');
    if (await fs.stat(f).then(() => true, () => false)) await checkRuntimeConfig(f, `bundle ${o.bundle}: runtime.json`);
  } else if (o.runtimeConfig) await checkRuntimeConfig(o.runtimeConfig, `--runtime-config ${o.runtimeConfig}`);
}

/** `<sha256>  <path>` lines -> path -> sha256. */
function parseSums(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split('\n')) if (line.length > 66) m.set(line.slice(66), line.slice(0, 64));
  return m;
}

/**
 * Uploads the bundle into versions/.incoming-<id>: files unchanged since the running version
 * (same path and sha256 in both checksum lists) are hard-linked on the device, the others travel
 * as a tar stream over SSH. Returns how many files and bytes were sent.
 */
async function upload(t: SshTarget, dir: string, root: string, id: string, currentSums: Map<string, string>): Promise<{ files: number; bytes: number; reused: number }> {
  const mine = parseSums(await fs.readFile(path.join(dir, 'SHA256SUMS'), 'utf8'));
  const reuse = [...mine].filter(([f, h]) => currentSums.get(f) === h).map(([f]) => f);
  const drop = [SUMS, SIG, ...[...currentSums.keys()].filter((f) => mine.get(f) !== currentSums.get(f))];
  const prep = await sshScript(t, PREPARE, [root, id], `${drop.join('\n')}\n`);
  if (prep.code !== 0) throw new FlashError('remote', `${t.host}: preparing versions/.incoming-${id} failed (exit ${prep.code}): ${prep.stderr.trim().slice(0, 300)}`);
  const reused = new Set(reuse);
  const send = (await listFiles(dir)).filter((f) => !reused.has(f));
  let bytes = 0;
  for (const f of send) bytes += (await fs.stat(path.join(dir, f))).size;
  const tar = spawn('tar', ['-C', dir, '-cf', '-', '--null', '-T', '-'], { stdio: ['pipe', 'pipe', 'pipe'] });
  tar.stdin.end(send.map((f) => `${f}\0`).join(''));
  const q = [root, id].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const sshp = spawn('ssh', [...sshArgs(t), `sh -c '${RECEIVE.replace(/'/g, `'\\''`)}' sh ${q}`], { stdio: ['pipe', 'pipe', 'pipe'] });
  tar.stdout.pipe(sshp.stdin);
  sshp.stdin.on('error', () => undefined);
  const err: Buffer[] = [];
  sshp.stderr.on('data', (b: Buffer) => err.push(b));
  sshp.stdout.resume();
  const [tc, sc] = await Promise.all([
    new Promise<number>((r) => tar.once('close', (c) => r(c ?? 1))),
    new Promise<number>((r) => sshp.once('close', (c) => r(c ?? 255))),
  ]);
  const r = { code: sc, stdout: '', stderr: Buffer.concat(err).toString('utf8') };
  const e = classifySshError(t, r);
  if (e) throw e;
  if (sc !== 0) throw new FlashError('remote', `${t.host}: receiving the bundle failed (exit ${sc}): ${r.stderr.trim().slice(0, 300)}`);
  if (tc !== 0) throw new FlashError('input', `tar of ${dir} failed (exit ${tc})`);
  return { files: send.length, bytes, reused: reuse.length };
}

/**
 * Flashes one device (see the file comment for the steps). Never throws: failures come back as a
 * result with `code` and `reason` (FlashError codes), and the device keeps the version it had —
 * except a new version that verified and started but did not come up, which is rolled back.
 */
export async function flashHost(o: FlashOptions): Promise<FlashResult> {
  const t0 = Date.now();
  const timings: Record<string, number> = {};
  const res: FlashResult = { host: o.ssh.host, device: o.deviceId, arch: null, from: null, to: null, result: 'failed', seconds: 0, timings, bundle_mb: null, reason: null, code: null };
  try {
    // 0. the runtime configuration it would ship, before any SSH (not even the shared connection's
    // setup): one that `run` refuses would leave the device dark until the rollback
    await checkShippedConfig(o);
  } catch (err) {
    const fe = err instanceof FlashError ? err : new FlashError('input', (err as Error).message, { cause: err });
    return { ...res, reason: fe.message, code: fe.code, seconds: since(t0) };
  }
  let watch: HealthWatch | null = null;
  const control = await fs.mkdtemp(path.join(os.tmpdir(), 'sfn-ssh-'));
  o = { ...o, ssh: { controlPath: path.join(control, 'cm'), ...o.ssh } };
  try {
    // 1. preflight
    let t = Date.now();
    const pf = await sshScript(o.ssh, PREFLIGHT, [o.root]);
    const facts = parseKv(pf.stdout);
    const devArch = archOfUname(facts.arch ?? '');
    res.arch = devArch;
    res.from = facts.current ?? null;
    res.to = res.from;
    timings.preflight_s = since(t);
    if (!devArch) throw new FlashError('wrong-arch', `${o.ssh.host} is a '${facts.arch ?? '?'}' machine; bundles exist for x86_64 (x64) and aarch64 (arm64) only`);
    if (facts.writable !== 'yes') throw new FlashError('remote', `${o.ssh.host}: ${o.root} (or its nearest existing parent) is not writable by this SSH user; create it and chown it to that user, or flash as root`);

    // 2. bundle
    t = Date.now();
    let dir: string;
    if (o.bundle) dir = path.resolve(o.bundle);
    else {
      const built = await buildBundle({ ...o, arch: o.arch ?? devArch, outDir: o.outDir ?? '.flash/bundles' });
      dir = built.dir;
      timings.build_s = since(t);
    }
    const info = await readBundleInfo(dir);
    const device = JSON.parse(await fs.readFile(path.join(dir, 'device.json'), 'utf8')) as { device_id: string; broker: string; root: string };
    res.device = device.device_id;
    if (info.arch !== devArch)
      throw new FlashError('wrong-arch', `bundle ${info.id} is built for linux-${info.arch}, but ${o.ssh.host} is ${facts.arch} (linux-${devArch}); build it with --arch ${devArch}`);
    if (device.root !== o.root) throw new FlashError('input', `bundle ${info.id} was built for install root ${device.root}, not ${o.root}; rebuild it with --root ${o.root}`);
    const pub = await readPublicKey(o.key);
    if (facts.fleet_pub) {
      const devKey = createPublicKey(Buffer.from(facts.fleet_pub, 'base64').toString('utf8'));
      if (keyId(devKey) !== keyId(pub))
        throw new FlashError('tampered', `${o.ssh.host} trusts fleet key ${keyId(devKey)}, not ${keyId(pub)} (the key this bundle is signed with); flash with the fleet's key`);
    }
    if (!o.skipLocalVerify) await verifyBundle(dir, pub);
    let bytes = 0;
    for (const line of (await fs.readFile(path.join(dir, 'SHA256SUMS'), 'utf8').catch(() => '')).split('\n')) {
      const f = line.slice(66);
      if (f) bytes += (await fs.stat(path.join(dir, f)).catch(() => ({ size: 0 }))).size;
    }
    res.bundle_mb = +(bytes / 2 ** 20).toFixed(1);
    const needKb = Math.ceil(bytes / 1024) + (o.minFreeMB ?? 64) * 1024;
    const freeKb = Number(facts.free_kb ?? 0);
    if (freeKb < needKb)
      throw new FlashError('disk-full', `${o.ssh.host}: not enough space under ${o.root}: the bundle needs ${(bytes / 2 ** 20).toFixed(0)} MiB + ${o.minFreeMB ?? 64} MiB reserve, ${(freeKb / 1024).toFixed(0)} MiB free; remove old files (or versions/*.failed) and flash again`);

    // the broker must answer before anything is sent: the health wait needs it
    watch = await HealthWatch.open(o.watchBroker ?? device.broker, device.device_id, info.model.sha256);

    // 3. upload + verify on the device
    t = Date.now();
    const sent = await upload(o.ssh, dir, o.root, info.id, parseSums(Buffer.from(facts.current_sums ?? '', 'base64').toString('utf8')));
    timings.upload_s = since(t);
    timings.sent_mb = +(sent.bytes / 2 ** 20).toFixed(1);
    timings.reused_files = sent.reused;
    t = Date.now();
    const pubPem = pub.export({ type: 'spki', format: 'pem' }).toString();
    const v = await sshScript(o.ssh, VERIFY, [o.root, info.id, pubPem.trim()]);
    timings.verify_s = since(t);
    if (v.code === 20) {
      const why = v.stdout.split('\n').filter((l) => l && !l.includes('=')).join(' ').replace(/^sfn-edge: /, '');
      const code = /unsigned/.test(why) ? 'unsigned' : 'tampered';
      throw new FlashError(code, `${o.ssh.host} refused bundle ${info.id}: ${why || v.stderr.trim()}; it keeps ${res.from ?? 'no version'}`);
    }
    if (v.code !== 0) throw new FlashError('remote', `${o.ssh.host}: verification step failed (exit ${v.code}): ${(v.stderr || v.stdout).trim().slice(0, 300)}`);

    // 4. switch + start, watching the broker
    watch.arm();
    t = Date.now();
    const systemd = facts.systemd === 'yes' ? 'yes' : 'no';
    const a = await sshScript(o.ssh, ACTIVATE, [o.root, info.id, systemd]);
    timings.activate_s = since(t);
    if (a.code !== 0) throw new FlashError('remote', `${o.ssh.host}: activating ${info.id} failed (exit ${a.code}): ${(a.stderr || a.stdout).trim().slice(0, 300)}`);
    res.to = info.id;
    t = Date.now();
    const h = await watch.wait((o.timeoutS ?? 90) * 1000);
    timings.health_s = since(t);
    if (h) {
      timings.online_s = h.online_s;
      timings.first_stats_s = h.stats_s;
      res.result = 'ok';
      await sshScript(o.ssh, PRUNE, [o.root, String(o.keep ?? 3)]).catch(() => undefined);
      return res;
    }

    // 5. rollback
    const reason = `${info.id} did not come up within ${o.timeoutS ?? 90} s (${watch.seen()})`;
    log.warn({ host: o.ssh.host, reason }, 'rolling back');
    t = Date.now();
    watch.arm(null);
    const rb = await sshScript(o.ssh, ROLLBACK, [o.root, info.id, systemd]);
    const logTail = rb.stdout.split('\n').filter((l) => l.startsWith('log: ')).map((l) => l.slice(5)).slice(-2).join(' | ');
    if (rb.code === 23) {
      res.to = null;
      throw new FlashError('unhealthy', `${reason}; there is no previous version to roll back to, so it was stopped${logTail ? `; its log: ${logTail}` : ''}`);
    }
    if (rb.code !== 0) throw new FlashError('remote', `${reason}; the rollback failed too (exit ${rb.code}): ${(rb.stderr || rb.stdout).trim().slice(0, 300)}`);
    res.to = parseKv(rb.stdout).current ?? res.from;
    const back = await watch.wait((o.timeoutS ?? 90) * 1000);
    timings.rollback_s = since(t);
    res.result = 'rolled-back';
    res.code = 'unhealthy';
    res.reason = `${reason}; rolled back to ${res.to}${back ? ` (online again after ${back.stats_s.toFixed(1)} s)` : ' (which has not reported yet either)'}${logTail ? `; its log: ${logTail}` : ''}`;
    return res;
  } catch (err) {
    const fe = err instanceof FlashError ? err : new FlashError('remote', (err as Error).message, { cause: err });
    res.result = ['unsigned', 'tampered', 'wrong-arch', 'disk-full', 'unknown-profile'].includes(fe.code) ? 'refused' : 'failed';
    res.reason = fe.message;
    res.code = fe.code;
    return res;
  } finally {
    await watch?.close().catch(() => undefined);
    await closeShared(o.ssh);
    await fs.rm(control, { recursive: true, force: true });
    res.seconds = since(t0);
  }
}
