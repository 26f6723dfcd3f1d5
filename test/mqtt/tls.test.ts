/**
 * A Mosquitto with TLS (own test CA) and a password file: the reporter connects with --ca and
 * username/password, and refuses clearly (at once, no endless retry) on a wrong password or an
 * untrusted server certificate.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it, mock } from 'node:test';
import { MemoryOutboxStore } from '../../src/mqtt/outbox.js';
import { MqttReporter } from '../../src/mqtt/reporter.js';
import { log } from '../../src/util/log.js';
import { missingTools } from '../tools.js';
import { mosquittoBroker, type TestBroker } from './brokers.js';
import { Recorder } from './sub.js';

const SKIP = missingTools('mosquitto', 'mosquitto_passwd', 'openssl');

const hooks = {
  configState: () => ({ version: 0, config: {} }),
  applyConfig: async () => ({ version: 0, ok: false, error: 'n/a' }),
  command: async () => undefined,
};

describe('MQTT over TLS with username/password (Mosquitto)', { skip: SKIP }, () => {
  let broker: TestBroker & { dir: string };
  let ca: Buffer;
  before(async () => {
    broker = await mosquittoBroker({
      scheme: 'mqtts', anonymous: false,
      lines: async (dir) => {
        const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
        run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=sfn-test-ca']);
        run(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'srv.key', '-out', 'srv.csr', '-subj', '/CN=127.0.0.1']);
        await fs.writeFile(path.join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1\n');
        run(['x509', '-req', '-in', 'srv.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'srv.crt', '-days', '2', '-extfile', 'ext.cnf']);
        await fs.writeFile(path.join(dir, 'pw'), '');
        execFileSync('mosquitto_passwd', ['-b', path.join(dir, 'pw'), 'alice', 's3cret']);
        for (const f of ['srv.key', 'srv.crt', 'ca.crt', 'pw']) await fs.chmod(path.join(dir, f), 0o644);
        return [`cafile ${dir}/ca.crt`, `certfile ${dir}/srv.crt`, `keyfile ${dir}/srv.key`, `password_file ${dir}/pw`];
      },
    });
    ca = await fs.readFile(path.join(broker.dir, 'ca.crt'));
  });
  after(async () => {
    await broker?.dispose();
  });

  it('connects with the CA and the right credentials; availability is published', async () => {
    const r = await MqttReporter.connect({ url: broker.url, deviceId: 'tls', ca, username: 'alice', password: 's3cret', store: new MemoryOutboxStore(), hooks });
    const sub = await Recorder.open(broker.url, 'sfn/tls/availability', { ca, username: 'alice', password: 's3cret' });
    try {
      await sub.waitFor('online', (g) => g.some((m) => m.text === 'online'));
    } finally {
      await r.close(5_000);
      await sub.close();
    }
  });

  it('a wrong password is refused at once with a hint', async () => {
    await assert.rejects(
      MqttReporter.connect({ url: broker.url, deviceId: 'tls2', ca, username: 'alice', password: 'wrong', store: new MemoryOutboxStore(), hooks }, 60_000),
      /refused the connection: .*(--username)/,
    );
  });

  it('plain mqtt:// to the TLS port: the device goes on, and the log says to use mqtts://', async () => {
    const said: string[] = [];
    const spy = mock.method(log, 'error', (_obj: unknown, msg?: string) => {
      said.push(String(msg));
    });
    const plain = broker.url.replace(/^mqtts:/, 'mqtt:');
    let r: MqttReporter | null = null;
    try {
      r = await MqttReporter.connect({ url: plain, deviceId: 'tls4', reconnectMs: 200, store: new MemoryOutboxStore(), hooks }, 60_000);
      for (let i = 0; i < 100 && !said.length; i++) await new Promise((res) => setTimeout(res, 100));
      assert.ok(said.some((m) => /closed the connection before answering CONNECT: if that port speaks TLS, use mqtts:\/\//.test(m)), said.join('\n'));
      assert.equal(r.connected, false);
    } finally {
      spy.mock.restore();
      await r?.client.endAsync(true);
    }
  });

  it('an untrusted server certificate is refused with a hint', async () => {
    await assert.rejects(
      MqttReporter.connect({ url: broker.url, deviceId: 'tls3', username: 'alice', password: 's3cret', store: new MemoryOutboxStore(), hooks }, 60_000),
      /refused the connection: .*--ca/,
    );
  });
});
