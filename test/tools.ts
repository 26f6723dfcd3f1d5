/**
 * The outside programs the tests drive, and why a suite cannot run when one is missing.
 *
 * A suite that needs one skips with `missingTools(...)`'s reason, which starts with
 * {@link MISSING_TOOL}. scripts/test.mjs names every skipped suite and test in its summary, and
 * under `CI=true` a skip for a missing tool fails the run: `.ci/run` installs all of these, so a
 * missing one there is a broken install step, not a machine without the tool.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** How every skip reason for a missing program starts (scripts/test.mjs matches it). */
export const MISSING_TOOL = 'missing tool:';

/** Each tool: where the tests run it from, and the Debian package that installs it. */
const TOOLS = {
  mosquitto: { path: '/usr/sbin/mosquitto', apt: 'mosquitto' },
  mosquitto_passwd: { path: '/usr/bin/mosquitto_passwd', apt: 'mosquitto' },
  'nats-server': { path: '/usr/sbin/nats-server', apt: 'nats-server' },
  ffmpeg: { path: '/usr/bin/ffmpeg', apt: 'ffmpeg' },
  chromium: { path: '/usr/bin/chromium', apt: 'chromium' },
  sshd: { path: '/usr/sbin/sshd', apt: 'openssh-server' },
  ssh: { path: '/usr/bin/ssh', apt: 'openssh-client' },
  qemu: { path: '/usr/bin/qemu-aarch64-static', apt: 'qemu-user-static' },
  openssl: { path: 'openssl', apt: 'openssl' },
  initdb: { path: '/usr/lib/postgresql/15/bin/initdb', apt: 'postgresql' },
  pg_ctl: { path: '/usr/lib/postgresql/15/bin/pg_ctl', apt: 'postgresql' },
  jemalloc: { path: '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2', apt: 'libjemalloc2' },
} as const;

export type Tool = keyof typeof TOOLS;

function present(t: Tool): boolean {
  const p = TOOLS[t].path;
  if (p.startsWith('/')) return existsSync(p);
  try {
    execFileSync(p, ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Why these tools cannot be used here, or false when all are present: a `skip` value for
 * `describe` / `it`, e.g. `missing tool: mosquitto (/usr/sbin/mosquitto; apt-get install mosquitto)`.
 */
export function missingTools(...tools: Tool[]): string | false {
  const gone = tools.filter((t) => !present(t));
  if (gone.length === 0) return false;
  const what = gone.map((t) => `${t} (${TOOLS[t].path}; apt-get install ${TOOLS[t].apt})`).join(', ');
  return `${MISSING_TOOL} ${what}`;
}
