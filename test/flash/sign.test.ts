/**
 * Signing: a signed folder verifies; every kind of tampering (changed, added, missing file, edited
 * checksum list, other key, no signature, no checksum list) is refused with its own reason.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FlashError } from '../../src/flash/errors.js';
import { generateFleetKey, readPrivateKey, readPublicKey, signBundle, SIG, SUMS, verifyBundle } from '../../src/flash/sign.js';

describe('flash signing (Ed25519 over SHA256SUMS)', () => {
  let tmp: string;
  let dir: string;
  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'sfn-sign-'));
    await generateFleetKey(path.join(tmp, 'fleet'));
    await generateFleetKey(path.join(tmp, 'other'));
  });
  after(async () => fs.rm(tmp, { recursive: true, force: true }));

  const fresh = async () => {
    dir = await fs.mkdtemp(path.join(tmp, 'b-'));
    await fs.mkdir(path.join(dir, 'models', 'int8'), { recursive: true });
    await fs.writeFile(path.join(dir, 'sfn-edge'), 'exe');
    await fs.writeFile(path.join(dir, 'models', 'int8', 'm.onnx'), 'model bytes');
    await signBundle(dir, await readPrivateKey(path.join(tmp, 'fleet.key')));
    return dir;
  };
  const refused = async (code: string, re: RegExp, key = 'fleet.pub') => {
    await assert.rejects(verifyBundle(dir, await readPublicKey(path.join(tmp, key))), (e: unknown) => {
      assert.ok(e instanceof FlashError);
      assert.equal(e.code, code);
      assert.match(e.message, re);
      return true;
    });
  };

  it('writes sha256sum-compatible lines, sorted, and verifies', async () => {
    await fresh();
    const sums = await fs.readFile(path.join(dir, SUMS), 'utf8');
    assert.match(sums, /^[0-9a-f]{64} {2}models\/int8\/m\.onnx\n[0-9a-f]{64} {2}sfn-edge\n$/);
    const v = await verifyBundle(dir, await readPublicKey(path.join(tmp, 'fleet.pub')));
    assert.equal(v.files, 2);
    // the private key file gives the same public key
    await verifyBundle(dir, await readPublicKey(path.join(tmp, 'fleet.key')));
  });
  it('refuses a changed model', async () => {
    await fresh();
    await fs.writeFile(path.join(dir, 'models', 'int8', 'm.onnx'), 'other bytes');
    await refused('tampered', /checksum mismatch for models\/int8\/m\.onnx/);
  });
  it('refuses an added file', async () => {
    await fresh();
    await fs.writeFile(path.join(dir, 'extra.sh'), 'rm -rf /');
    await refused('tampered', /extra\.sh is not in SHA256SUMS/);
  });
  it('refuses a missing file', async () => {
    await fresh();
    await fs.rm(path.join(dir, 'sfn-edge'));
    await refused('tampered', /sfn-edge is listed in SHA256SUMS but missing/);
  });
  it('refuses an edited checksum list (signature)', async () => {
    await fresh();
    await fs.appendFile(path.join(dir, SUMS), `${'0'.repeat(64)}  x\n`);
    await refused('tampered', /signature of SHA256SUMS does not verify/);
  });
  it('refuses a bundle signed with another key', async () => {
    await fresh();
    await refused('tampered', /does not verify with the fleet key/, 'other.pub');
  });
  it('refuses an unsigned bundle', async () => {
    await fresh();
    await fs.rm(path.join(dir, SIG));
    await refused('unsigned', /unsigned: SHA256SUMS\.sig is missing/);
    await fs.rm(path.join(dir, SUMS));
    await refused('unsigned', /unsigned: SHA256SUMS is missing/);
  });
  it('keygen refuses to overwrite without force', async () => {
    await assert.rejects(generateFleetKey(path.join(tmp, 'fleet')), /already exists; pass --force/);
    const st = await fs.stat(path.join(tmp, 'fleet.key'));
    assert.equal(st.mode & 0o777, 0o600);
  });
});
