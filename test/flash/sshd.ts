/**
 * A real OpenSSH server for the flash tests: Debian's `sshd` on a free loopback port, with its own
 * config file, a generated host key and a generated user key authorised for the current user
 * (sshd needs an absolute path, `StrictModes no` for keys in /tmp, `UsePAM no`, and /run/sshd).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../mqtt/brokers.js';
import { missingTools } from '../tools.js';
import type { SshTarget } from '../../src/flash/ssh.js';

export const SSHD = '/usr/sbin/sshd';
/** Why the SSH tests cannot run here, or null. */
export const NO_SSHD = missingTools('sshd', 'ssh') || null;

/** A running test sshd and how to reach it. */
export interface TestSshd {
  dir: string;
  port: number;
  /** the authorised user key */
  key: string;
  /** a key sshd does not accept */
  otherKey: string;
  target: SshTarget;
  stop(): Promise<void>;
}

async function waitForBanner(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const net = await import('node:net');
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = net.connect(port, '127.0.0.1');
      c.once('data', (d) => {
        c.destroy();
        resolve(d.toString().startsWith('SSH-'));
      });
      c.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`sshd did not answer on 127.0.0.1:${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Starts sshd in a fresh temp folder. */
export async function startSshd(): Promise<TestSshd> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sfn-sshd-'));
  const keygen = (file: string) => execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'sfn-flash-test', '-f', file]);
  keygen(path.join(dir, 'host_ed25519'));
  keygen(path.join(dir, 'user_ed25519'));
  keygen(path.join(dir, 'other_ed25519'));
  await fs.copyFile(path.join(dir, 'user_ed25519.pub'), path.join(dir, 'authorized_keys'));
  const port = await freePort();
  const user = os.userInfo().username;
  await fs.writeFile(path.join(dir, 'sshd_config'), [
    `Port ${port}`, 'ListenAddress 127.0.0.1', `HostKey ${dir}/host_ed25519`, `PidFile ${dir}/sshd.pid`,
    `AuthorizedKeysFile ${dir}/authorized_keys`, 'StrictModes no', 'UsePAM no', 'PasswordAuthentication no',
    'KbdInteractiveAuthentication no', 'PubkeyAuthentication yes', 'PermitRootLogin prohibit-password',
    `AllowUsers ${user}`, 'LogLevel ERROR', '',
  ].join('\n'));
  if (!existsSync('/run/sshd')) mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const child: ChildProcess = spawn(SSHD, ['-D', '-e', '-f', path.join(dir, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr?.on('data', (b: Buffer) => (err += b.toString()));
  await Promise.race([
    waitForBanner(port, 10_000),
    new Promise((_, reject) => child.once('exit', (c) => reject(new Error(`sshd exited with ${c}: ${err}`)))),
  ]);
  return {
    dir, port, key: path.join(dir, 'user_ed25519'), otherKey: path.join(dir, 'other_ed25519'),
    target: { host: `${user}@127.0.0.1`, port, identity: path.join(dir, 'user_ed25519'), knownHosts: path.join(dir, 'known_hosts'), options: ['StrictHostKeyChecking=accept-new'] },
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}
