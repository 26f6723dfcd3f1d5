/** `sfn-edge viewer`: serves the browser viewer until SIGINT/SIGTERM. */
import { z } from 'zod';

import { log } from '../util/log.js';
import { startViewerServer } from './server.js';

const IceList = z.array(z.object({ urls: z.union([z.string(), z.array(z.string())]), username: z.string().optional(), credential: z.string().optional() }).strict());

/** Options of `viewer` as commander parses them. */
export interface ViewerCommandOptions {
  broker: string;
  port: number;
  host: string;
  token?: string;
  ice: string;
  /** collector API URL for the event history */
  collect?: string;
}

/**
 * Parses `--ice`.
 * @throws Error saying what is wrong with the JSON.
 */
export function parseIce(json: string): z.infer<typeof IceList> {
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch (err) {
    throw new Error(`--ice is not valid JSON: ${(err as Error).message}`);
  }
  const r = IceList.safeParse(v);
  if (!r.success) throw new Error(`--ice must be a list of {urls, username?, credential?}: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  return r.data;
}

/**
 * Runs the viewer server until a signal; prints its address on stdout.
 * @throws Error for a bad --broker, --ice or a port in use.
 */
export async function runViewer(o: ViewerCommandOptions): Promise<void> {
  const server = await startViewerServer({ broker: o.broker, port: o.port, host: o.host, iceServers: parseIce(o.ice), ...(o.token ? { token: o.token } : {}), ...(o.collect ? { collect: o.collect } : {}) });
  process.stdout.write(`${server.url}\n`);
  log.info({ url: server.url, broker: o.broker }, 'viewer: open this address in a browser');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await server.close();
}
