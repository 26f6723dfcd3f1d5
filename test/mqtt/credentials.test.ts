/**
 * MQTT credentials kept off the command line (`--password-file`, `SFN_MQTT_PASSWORD`), and the
 * embedded broker requiring a username and password when one is set.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import mqtt from 'mqtt';
import { startEmbeddedBroker } from '../../src/mqtt/broker.js';
import { mqttCredentials } from '../../src/runtime/command.js';

describe('MQTT credentials', () => {
  it('the password comes from --password, else --password-file, else SFN_MQTT_PASSWORD; an empty or missing file is a clear error', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sfn-creds-'));
    try {
      const file = path.join(dir, 'pw');
      await fs.writeFile(file, 's3cret\n', { mode: 0o600 });
      assert.deepEqual(await mqttCredentials({ passwordFile: file, username: 'alice' }, {}), { username: 'alice', password: 's3cret' });
      assert.deepEqual(await mqttCredentials({}, { SFN_MQTT_PASSWORD: 'envpw', SFN_MQTT_USERNAME: 'bob' }), { username: 'bob', password: 'envpw' });
      assert.deepEqual(await mqttCredentials({ passwordFile: file }, { SFN_MQTT_PASSWORD: 'envpw' }), { password: 's3cret' });
      assert.deepEqual(await mqttCredentials({}, {}), {});
      await fs.writeFile(path.join(dir, 'empty'), '\n');
      await assert.rejects(mqttCredentials({ passwordFile: path.join(dir, 'empty') }, {}), /--password-file .*empty: the file is empty/);
      await assert.rejects(mqttCredentials({ passwordFile: path.join(dir, 'none') }, {}), /--password-file .*none: cannot read it/);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('the embedded broker refuses to listen beyond loopback without a password', async () => {
    await assert.rejects(startEmbeddedBroker(0, '0.0.0.0'), /listens on 0\.0\.0\.0 \(beyond loopback\) only with a username and password: set SFN_MQTT_PASSWORD or --password-file/);
    const b = await startEmbeddedBroker(0, '0.0.0.0', { auth: { username: 'sfn', password: 'pa55word' } });
    try {
      const c = await mqtt.connectAsync(b.url.replace('0.0.0.0', '127.0.0.1'), { username: 'sfn', password: 'pa55word', reconnectPeriod: 0 });
      await c.endAsync();
    } finally {
      await b.close();
    }
  });

  it('the embedded broker with auth refuses clients without the password (CONNACK 4) and lets the right one in, on both listeners', async () => {
    const b = await startEmbeddedBroker(0, '127.0.0.1', { wsPort: 0, auth: { username: 'sfn', password: 'pa55word' } });
    try {
      for (const url of [b.url, b.wsUrl!]) {
        await assert.rejects(mqtt.connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0 }), /Bad username or password|Not authorized/i);
        await assert.rejects(mqtt.connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0, username: 'sfn', password: 'wrong' }), /Bad username or password/i);
        const ok = await mqtt.connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0, username: 'sfn', password: 'pa55word' });
        await ok.publishAsync('t', 'x', { qos: 1 });
        await ok.endAsync();
      }
    } finally {
      await b.close();
    }
  });
});
