/**
 * `profile detect`: which device profile fits the machine this runs on.
 *
 * Jetsons are recognised by `/proc/device-tree/model` (e.g. "NVIDIA Jetson Orin Nano Developer Kit",
 * NUL-terminated) with `/etc/nv_tegra_release` (the L4T release line) as confirmation; the profile
 * whose `match.jetsonModel` matches and whose `minMemoryMB` fits the total memory wins. Anything
 * else on x86-64 gets the x86-64 profile. CPU, memory and GPU come from `systeminformation`.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import si from 'systeminformation';
import { listProfiles, PROFILES_DIR, type DeviceProfile } from './profile.js';

/** What was found about the host. */
export interface HostFacts {
  arch: string;
  /** /proc/device-tree/model without the trailing NUL, or null */
  deviceTreeModel: string | null;
  /** first line of /etc/nv_tegra_release, or null */
  tegraRelease: string | null;
  cpu: string;
  cores: number;
  memoryMB: number;
  gpus: string[];
}

/** Where {@link hostFacts} reads the Jetson files (tests point these at fixtures). */
export interface FactPaths {
  deviceTreeModel?: string;
  tegraRelease?: string;
}

const readText = (p: string) => fs.readFile(p, 'utf8').then((s) => s.replace(/\0/g, '').trim() || null, () => null);

/** Gathers {@link HostFacts}; never throws (missing files give nulls, systeminformation failures empty values). */
export async function hostFacts(paths: FactPaths = {}): Promise<HostFacts> {
  const [dt, tegra, cpu, mem, gfx] = await Promise.all([
    readText(paths.deviceTreeModel ?? '/proc/device-tree/model'),
    readText(paths.tegraRelease ?? '/etc/nv_tegra_release'),
    si.cpu().catch(() => null),
    si.mem().catch(() => null),
    si.graphics().catch(() => null),
  ]);
  return {
    arch: os.arch(),
    deviceTreeModel: dt,
    tegraRelease: tegra?.split('\n')[0] ?? null,
    cpu: cpu ? `${cpu.manufacturer} ${cpu.brand}`.trim() : os.cpus()[0]?.model ?? 'unknown',
    cores: cpu?.physicalCores || os.cpus().length,
    memoryMB: Math.round((mem?.total ?? os.totalmem()) / 2 ** 20),
    gpus: (gfx?.controllers ?? []).map((c) => `${c.vendor} ${c.model}`.trim()).filter((s) => s.length > 0),
  };
}

/** The detection result: the profile (or null) and why. */
export interface Detection {
  profile: DeviceProfile | null;
  reason: string;
  facts: HostFacts;
}

/**
 * Picks the profile for `facts` among `profiles`: a Jetson (device-tree model present, or a tegra
 * release file) matches `match.jetsonModel` (case-insensitive) and needs `memoryMB >= minMemoryMB`,
 * the largest `minMemoryMB` winning; an x86-64 host gets the x86-64 profile. Pure (for tests).
 */
export function pickProfile(facts: HostFacts, profiles: DeviceProfile[]): Omit<Detection, 'facts'> {
  const fits = (p: DeviceProfile) => facts.memoryMB >= p.match.minMemoryMB;
  const byMem = (a: DeviceProfile, b: DeviceProfile) => b.match.minMemoryMB - a.match.minMemoryMB;
  if (facts.deviceTreeModel?.match(/jetson/i) || facts.tegraRelease) {
    const model = facts.deviceTreeModel ?? '';
    const hit = profiles
      .filter((p) => p.match.kind === 'jetson' && p.match.jetsonModel && new RegExp(p.match.jetsonModel, 'i').test(model) && fits(p))
      .sort(byMem)[0];
    return hit
      ? { profile: hit, reason: `Jetson '${model}' (${facts.tegraRelease ?? 'no nv_tegra_release'}), ${facts.memoryMB} MiB` }
      : { profile: null, reason: `Jetson '${model}' matches no profile's match.jetsonModel` };
  }
  if (facts.arch === 'x64') {
    const hit = profiles.filter((p) => p.match.kind === 'x86-64' && fits(p)).sort(byMem)[0];
    if (hit) return { profile: hit, reason: `x86-64 host (${facts.cpu}, ${facts.cores} cores, ${facts.memoryMB} MiB, GPU: ${facts.gpus.join(', ') || 'none'})` };
  }
  return { profile: null, reason: `no profile for ${facts.arch} (${facts.cpu}, ${facts.memoryMB} MiB)` };
}

/** {@link hostFacts} + {@link pickProfile} over the profiles in `dir`. */
export async function detectProfile(dir = PROFILES_DIR, paths: FactPaths = {}): Promise<Detection> {
  const [facts, profiles] = await Promise.all([hostFacts(paths), listProfiles(dir)]);
  return { ...pickProfile(facts, profiles), facts };
}
