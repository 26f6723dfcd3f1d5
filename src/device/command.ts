/**
 * `sfn-edge profile show <name>` and `sfn-edge profile detect`: print a device profile (JSON, with
 * defaults filled) or the profile that fits this machine and why.
 */
import { detectProfile } from './detect.js';
import { loadProfile } from './profile.js';

/** Prints profile `name` (or a path to a .json) as pretty JSON. Throws ProfileError when missing or invalid. */
export async function runProfileShow(name: string, print: (s: string) => void = (s) => process.stdout.write(`${s}\n`)): Promise<void> {
  print(JSON.stringify(await loadProfile(name), null, 2));
}

/**
 * Prints `{ profile, reason, facts }` (profile = its name or null) as JSON.
 * @throws Error when no profile fits (after printing), so that the exit status says so.
 */
export async function runProfileDetect(print: (s: string) => void = (s) => process.stdout.write(`${s}\n`)): Promise<void> {
  const d = await detectProfile();
  print(JSON.stringify({ profile: d.profile?.name ?? null, reason: d.reason, facts: d.facts }, null, 2));
  if (!d.profile) throw new Error(`no device profile fits this machine: ${d.reason}`);
}
