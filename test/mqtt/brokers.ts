/**
 * Test brokers behind one interface: the embedded aedes broker and a private Mosquitto started on a
 * free port (own config file, so tests can stop and restart it). Mosquitto keeps sessions across a
 * restart (`persistence true`), like a production broker.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import { existsSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../src/mqtt/broker.js';

export const MOSQUITTO = '/usr/sbin/mosquitto';
export const HAS_MOSQUITTO = existsSync(MOSQUITTO);

/** A broker a test can stop and start again on the same port. */
export interface TestBroker {
  readonly kind: 'aedes' | 'mosquitto';
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** stops and removes temporary files */
  dispose(): Promise<void>;
}

/** A port that was free a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = net.connect(port, '127.0.0.1');
      c.once('connect', () => {
        c.destroy();
        resolve(true);
      });
      c.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The embedded broker on a free port. */
export async function aedesBroker(): Promise<TestBroker> {
  const port = await freePort();
  let b: EmbeddedBroker | null = await startEmbeddedBroker(port);
  return {
    kind: 'aedes', url: `mqtt://127.0.0.1:${port}`, port,
    stop: async () => {
      await b?.close();
      b = null;
    },
    start: async () => {
      b = await startEmbeddedBroker(port);
    },
    dispose: async () => {
      await b?.close();
      b = null;
    },
  };
}

/**
 * A private Mosquitto on a free port (callers skip when {@link HAS_MOSQUITTO} is false).
 * @param opts.lines extra configuration lines for the listener (TLS, passwords), given the broker's temp folder;
 *   `opts.anonymous` false turns anonymous access off; `opts.scheme` names the URL scheme.
 */
export async function mosquittoBroker(opts: { lines?: (dir: string) => Promise<string[]>; anonymous?: boolean; scheme?: 'mqtt' | 'mqtts' } = {}): Promise<TestBroker & { dir: string }> {
  const port = await freePort();
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sfn-mosq-'));
  // started as root, Mosquitto drops to the `mosquitto` user, which must be able to write its database here
  await fs.chmod(dir, 0o777);
  const conf = path.join(dir, 'mosquitto.conf');
  const extra = opts.lines ? await opts.lines(dir) : [];
  await fs.writeFile(conf, [`listener ${port} 127.0.0.1`, `allow_anonymous ${opts.anonymous ?? true}`, ...extra, 'persistence true', `persistence_location ${dir}/`, 'log_dest none', ''].join('\n'));
  let child: ChildProcess | null = null;
  const start = async () => {
    child = spawn(MOSQUITTO, ['-c', conf], { stdio: 'ignore' });
    await waitForPort(port, 20_000);
  };
  const stop = async () => {
    const c = child;
    child = null;
    if (!c || c.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill('SIGTERM');
    });
  };
  await start();
  return {
    kind: 'mosquitto', url: `${opts.scheme ?? 'mqtt'}://127.0.0.1:${port}`, port, stop, start, dir,
    dispose: async () => {
      await stop();
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}
