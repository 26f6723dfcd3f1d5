/**
 * Commands on a device over OpenSSH (the system `ssh` client), keys only.
 *
 * Why the system client and not the `ssh2` npm package: OpenSSH is on every build host and every
 * Jetson already, and with it the fleet's `~/.ssh/config` (ProxyJump, ports, per-host keys), the
 * agent and `known_hosts` work as the operator knows them; password and keyboard-interactive
 * authentication are switched off (`BatchMode=yes`), so a refused key fails at once instead of
 * prompting. Its exit status 255 and its stderr say what failed; {@link classifySshError} turns
 * them into a {@link FlashError} with a code.
 */
import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { FlashError } from './errors.js';

/** How to reach one device. */
export interface SshTarget {
  /** `user@host` (or a Host alias of ~/.ssh/config) */
  host: string;
  port?: number;
  /** private key file (`-i`); default: ssh's own choice (agent, ~/.ssh/id_*) */
  identity?: string;
  /** known_hosts file (default ssh's) */
  knownHosts?: string;
  /** extra `-o` options, e.g. `StrictHostKeyChecking=accept-new` */
  options?: string[];
  /** connect timeout in seconds (default 10) */
  connectTimeoutS?: number;
  /**
   * a ControlPath for connection sharing (`ControlMaster=auto`): the steps of one flash reuse one
   * SSH connection instead of a handshake each
   */
  controlPath?: string;
}

/** Output of one remote command. */
export interface SshResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The `ssh` argument list (before the remote command) for `t`. */
export function sshArgs(t: SshTarget): string[] {
  const a = ['-o', 'BatchMode=yes', '-o', 'PasswordAuthentication=no', '-o', 'KbdInteractiveAuthentication=no', '-o', `ConnectTimeout=${t.connectTimeoutS ?? 10}`, '-o', 'ServerAliveInterval=10'];
  if (t.port) a.push('-p', String(t.port));
  if (t.identity) a.push('-i', t.identity, '-o', 'IdentitiesOnly=yes');
  if (t.knownHosts) a.push('-o', `UserKnownHostsFile=${t.knownHosts}`);
  if (t.controlPath) a.push('-o', 'ControlMaster=auto', '-o', `ControlPath=${t.controlPath}`, '-o', 'ControlPersist=30');
  for (const o of t.options ?? []) a.push('-o', o);
  a.push(t.host);
  return a;
}

/** Closes the shared connection of `t` (when it has a ControlPath); never throws. */
export async function closeShared(t: SshTarget): Promise<void> {
  if (!t.controlPath) return;
  await new Promise<void>((resolve) => {
    const c = spawn('ssh', [...sshArgs(t).slice(0, -1), '-O', 'exit', t.host], { stdio: 'ignore' });
    c.once('error', () => resolve());
    c.once('close', () => resolve());
  });
}

/**
 * The FlashError for a failed ssh call (exit 255 = ssh itself failed), or null when the remote
 * command ran and failed on its own.
 */
export function classifySshError(t: SshTarget, r: SshResult): FlashError | null {
  const where = `${t.host}${t.port ? `:${t.port}` : ''}`;
  const err = r.stderr.trim().split('\n').filter((l) => !/^Warning: Permanently added/.test(l)).join(' ').slice(0, 400);
  if (/No space left on device/i.test(r.stderr)) return new FlashError('disk-full', `${where}: the device's disk is full (${err}); free space under the install root and flash again`);
  if (r.code !== 255) return null;
  if (/Permission denied \(|Too many authentication failures|no mutual signature/i.test(r.stderr))
    return new FlashError('key-refused', `${where} refused the SSH key${t.identity ? ` ${t.identity}` : ''} (${err}); add its public key to ~/.ssh/authorized_keys of that user on the device (ssh-copy-id), or pass the right key with --ssh-key`);
  if (/Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|No .* host key is known/i.test(r.stderr))
    return new FlashError('host-key', `${where}: the device's host key is not trusted (${err}); check it and add it to known_hosts (ssh-keyscan), or pass --ssh-option StrictHostKeyChecking=accept-new on first contact`);
  return new FlashError('unreachable', `${where} is unreachable over SSH (${err || `ssh exited with ${r.code}`}); check the address, the port, that sshd runs and the network`);
}

/**
 * Runs `command` (a shell command line) on the device; `stdin` is sent to it (a string or a stream).
 * @returns exit code and output; never throws for a non-zero exit of the remote command.
 * @throws FlashError when ssh itself fails (unreachable, key refused, host key) or the disk is full.
 */
export async function ssh(t: SshTarget, command: string, stdin?: string | Readable): Promise<SshResult> {
  const child = spawn('ssh', [...sshArgs(t), command], { stdio: ['pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (b: Buffer) => out.push(b));
  child.stderr.on('data', (b: Buffer) => err.push(b));
  child.stdin.on('error', () => undefined); // the remote side may close early; its exit code says why
  if (typeof stdin === 'string') child.stdin.end(stdin);
  else if (stdin) stdin.pipe(child.stdin);
  else child.stdin.end();
  const code = await new Promise<number>((resolve, reject) => {
    child.once('error', (e) => reject(new FlashError('input', `cannot run ssh (${e.message}); install openssh-client`)));
    child.once('close', (c) => resolve(c ?? 255));
  });
  const r = { code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
  const e = classifySshError(t, r);
  if (e) throw e;
  return r;
}

/**
 * Runs a POSIX shell script on the device (`sh -s`, script on stdin, `args` as $1..); with
 * `input`, the script goes in the command line and `input` on its stdin.
 * @throws like {@link ssh}.
 */
export async function sshScript(t: SshTarget, script: string, args: string[] = [], input?: string): Promise<SshResult> {
  const q = args.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  if (input === undefined) return ssh(t, `sh -s -- ${q}`, script);
  // the script travels in the command line, so that stdin carries the input
  return ssh(t, `sh -c '${script.replace(/'/g, `'\\''`)}' sh ${q}`, input);
}
