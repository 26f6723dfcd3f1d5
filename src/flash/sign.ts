/**
 * Signing and verifying bundles: a checksum list of every file (`SHA256SUMS`, the format of
 * coreutils' `sha256sum`, sorted by path) signed with the fleet's Ed25519 key (`SHA256SUMS.sig`,
 * base64), all with `node:crypto`. A bundle is accepted only when the signature verifies with the
 * fleet's public key, every listed file has its checksum, and no file is unlisted.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { FlashError } from './errors.js';

/** The checksum list and its signature, at a bundle's root. */
export const SUMS = 'SHA256SUMS';
export const SIG = 'SHA256SUMS.sig';

/** Hex SHA-256 of a file (streamed). */
export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Every regular file under `dir` as a sorted list of '/'-separated relative paths (symlinks refused). */
export async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    for (const e of await fs.readdir(path.join(dir, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(r);
      else if (e.isFile()) out.push(r);
      else throw new FlashError('tampered', `bundle ${dir} holds ${r}, which is not a regular file (links are not allowed in a bundle)`);
    }
  };
  await walk('');
  return out.sort();
}

/**
 * A short id of a public key: the first 16 hex digits of the SHA-256 of its DER (SPKI) form.
 */
export function keyId(pub: KeyObject): string {
  return createHash('sha256').update(pub.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16);
}

/**
 * Writes a new Ed25519 key pair: `<prefix>.key` (PKCS#8 PEM, mode 0600) and `<prefix>.pub`
 * (SPKI PEM).
 * @throws FlashError ('exists') when `<prefix>.key` exists and `force` is false.
 */
export async function generateFleetKey(prefix: string, force = false): Promise<{ privateKey: string; publicKey: string; id: string }> {
  const privateKey = `${prefix}.key`;
  const publicKey = `${prefix}.pub`;
  if (!force && (await fs.stat(privateKey).then(() => true, () => false)))
    throw new FlashError('exists', `${privateKey} already exists; pass --force to replace it (devices flashed with the old key will refuse bundles signed with the new one)`);
  const kp = generateKeyPairSync('ed25519');
  await fs.mkdir(path.dirname(path.resolve(privateKey)), { recursive: true });
  await fs.writeFile(privateKey, kp.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  await fs.writeFile(publicKey, kp.publicKey.export({ type: 'spki', format: 'pem' }));
  return { privateKey, publicKey, id: keyId(kp.publicKey) };
}

/** Reads a PEM private key. @throws FlashError ('key') when missing or not an Ed25519 private key. */
export async function readPrivateKey(file: string): Promise<KeyObject> {
  const pem = await fs.readFile(file, 'utf8').catch(() => {
    throw new FlashError('key', `signing key ${file} not found; create one with 'sfn-edge flash keygen --out ${file.replace(/\.key$/, '')}'`);
  });
  const k = createPrivateKey(pem);
  if (k.asymmetricKeyType !== 'ed25519') throw new FlashError('key', `${file} is a ${k.asymmetricKeyType} key; the fleet key must be Ed25519 ('sfn-edge flash keygen')`);
  return k;
}

/** Reads a PEM public key (or derives it from a private key file). @throws FlashError ('key'). */
export async function readPublicKey(file: string): Promise<KeyObject> {
  const pem = await fs.readFile(file, 'utf8').catch(() => {
    throw new FlashError('key', `public key ${file} not found`);
  });
  const k = pem.includes('PRIVATE KEY') ? createPublicKey(createPrivateKey(pem)) : createPublicKey(pem);
  if (k.asymmetricKeyType !== 'ed25519') throw new FlashError('key', `${file} is a ${k.asymmetricKeyType} key; the fleet key must be Ed25519`);
  return k;
}

/**
 * Writes `SHA256SUMS` for every file under `dir` and signs it into `SHA256SUMS.sig`.
 * @returns the number of files and the hex SHA-256 of the checksum list (the bundle's digest).
 */
export async function signBundle(dir: string, key: KeyObject): Promise<{ files: number; digest: string }> {
  await fs.rm(path.join(dir, SUMS), { force: true });
  await fs.rm(path.join(dir, SIG), { force: true });
  const files = await listFiles(dir);
  const lines = [];
  for (const f of files) lines.push(`${await sha256File(path.join(dir, f))}  ${f}\n`);
  const sums = Buffer.from(lines.join(''));
  await fs.writeFile(path.join(dir, SUMS), sums);
  await fs.writeFile(path.join(dir, SIG), `${sign(null, sums, key).toString('base64')}\n`);
  return { files: files.length, digest: createHash('sha256').update(sums).digest('hex') };
}

/** What a verified bundle holds. */
export interface Verified {
  files: number;
  digest: string;
  keyId: string;
}

/**
 * Verifies the bundle in `dir` against the fleet public key `pub`.
 * @throws FlashError 'unsigned' (no SHA256SUMS or no signature) or 'tampered' (the signature does
 *   not verify, a file's checksum differs, a listed file is missing, or a file is not listed),
 *   each naming the file and what to do.
 */
export async function verifyBundle(dir: string, pub: KeyObject): Promise<Verified> {
  const sums = await fs.readFile(path.join(dir, SUMS)).catch(() => null);
  if (!sums) throw new FlashError('unsigned', `bundle ${dir} is unsigned: ${SUMS} is missing; build it with 'sfn-edge flash build' (it signs with the fleet key)`);
  const sigText = await fs.readFile(path.join(dir, SIG), 'utf8').catch(() => null);
  if (sigText === null) throw new FlashError('unsigned', `bundle ${dir} is unsigned: ${SIG} is missing; sign it with the fleet key ('sfn-edge flash build')`);
  const sig = Buffer.from(sigText.trim(), 'base64');
  if (sig.length !== 64 || !verify(null, sums, pub, sig))
    throw new FlashError('tampered', `bundle ${dir}: the signature of ${SUMS} does not verify with the fleet key ${keyId(pub)} (signed with another key, or ${SUMS} was changed); rebuild it with the fleet key`);
  const listed = new Map<string, string>();
  for (const line of sums.toString('utf8').split('\n')) {
    if (!line) continue;
    const m = /^([0-9a-f]{64}) {2}(.+)$/.exec(line);
    if (!m?.[1] || !m[2] || m[2].split('/').includes('..') || m[2].startsWith('/')) throw new FlashError('tampered', `bundle ${dir}: malformed line in ${SUMS}: '${line.slice(0, 80)}'`);
    listed.set(m[2], m[1]);
  }
  const present = (await listFiles(dir)).filter((f) => f !== SUMS && f !== SIG);
  for (const f of present) if (!listed.has(f)) throw new FlashError('tampered', `bundle ${dir}: ${f} is not in ${SUMS} (a file was added after signing)`);
  for (const [f, want] of listed) {
    const got = await sha256File(path.join(dir, f)).catch(() => null);
    if (got === null) throw new FlashError('tampered', `bundle ${dir}: ${f} is listed in ${SUMS} but missing`);
    if (got !== want) throw new FlashError('tampered', `bundle ${dir}: checksum mismatch for ${f} (expected ${want.slice(0, 12)}…, got ${got.slice(0, 12)}…); the file was changed after signing`);
  }
  return { files: listed.size, digest: createHash('sha256').update(sums).digest('hex'), keyId: keyId(pub) };
}
