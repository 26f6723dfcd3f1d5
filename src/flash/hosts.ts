/**
 * `--hosts <file>`: several devices in one call (JSON, validated with zod), and the summary table
 * printed after flashing them.
 *
 * ```json
 * {
 *   "defaults": { "profile": "jetson-orin-nano-8gb", "broker": "mqtt://10.0.0.2:1883", "source": "/dev/video0" },
 *   "hosts": [
 *     { "host": "nvidia@10.0.0.21", "device_id": "gate-1" },
 *     { "host": "nvidia@10.0.0.22", "device_id": "gate-2", "profile": "jetson-nano-4gb" }
 *   ]
 * }
 * ```
 */
import fs from 'node:fs/promises';
import { z } from 'zod';
import { ARCHES } from './arch.js';
import { FlashError } from './errors.js';
import type { FlashResult } from './push.js';

/** Settings one host entry or the defaults may give (the CLI's flags fill what neither gives). */
const HostFields = {
  port: z.number().int().min(1).max(65535).optional().describe('SSH port'),
  profile: z.string().min(1).optional().describe('device profile name'),
  device_id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/).optional().describe('device id (MQTT topic level); default: the host name'),
  broker: z.string().url().optional().describe('MQTT broker URL the device reports to'),
  source: z.string().min(1).optional().describe("the device's video source"),
  root: z.string().startsWith('/').optional().describe('install root on the device'),
  arch: z.enum(ARCHES).optional().describe('target architecture (default: detected)'),
  ssh_key: z.string().optional().describe('SSH private key file'),
};

/** The hosts file. */
export const HostsFileSchema = z
  .object({
    defaults: z.object(HostFields).strict().default({}),
    hosts: z.array(z.object({ host: z.string().min(1).describe('user@address'), ...HostFields }).strict()).min(1),
  })
  .strict();
/** One resolved host entry (defaults applied). */
export type HostEntry = z.infer<typeof HostsFileSchema>['hosts'][number];

/**
 * Reads a hosts file; each entry gets the file's defaults where it gives nothing.
 * @throws FlashError 'input' naming the file and each wrong field.
 */
export async function readHostsFile(file: string): Promise<HostEntry[]> {
  const raw = await fs.readFile(file, 'utf8').catch(() => {
    throw new FlashError('input', `hosts file ${file} not found`);
  });
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    throw new FlashError('input', `hosts file ${file} is not valid JSON (${(err as Error).message})`);
  }
  const r = HostsFileSchema.safeParse(json);
  if (!r.success) throw new FlashError('input', `hosts file ${file} is invalid: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  return r.data.hosts.map((h) => ({ ...r.data.defaults, ...h }));
}

/** The summary table (plain text, one row per host). */
export function summaryTable(rows: FlashResult[]): string {
  const head = ['host', 'device', 'arch', 'result', 'version', 'time', 'reason'];
  const body = rows.map((r) => [r.host, r.device, r.arch ?? '?', r.result, r.to ?? '-', `${r.seconds.toFixed(1)} s`, r.reason ?? '']);
  const width = head.map((h, i) => Math.max(h.length, ...body.map((b) => (i === 6 ? 0 : (b[i] ?? '').length))));
  const line = (cells: string[]) => cells.map((c, i) => (i === 6 ? c : c.padEnd(width[i] ?? 0))).join('  ').trimEnd();
  const ok = rows.filter((r) => r.result === 'ok').length;
  return [line(head), ...body.map(line), `${ok}/${rows.length} flashed`].join('\n');
}
