/**
 * `sfn-edge collect` as a real process against a real Mosquitto, SQLite in a temp dir: an event
 * published by a device is served by the API; SIGTERM stops it with exit code 0.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { startCli } from '../cli-process.js';
import { freePort, mosquittoBroker } from '../mqtt/brokers.js';
import { missingTools } from '../tools.js';
import { eventMsg, until } from './helpers.js';

describe('sfn-edge collect (process)', { skip: missingTools('mosquitto') }, () => {
  it('stores a published event, serves it, and stops on SIGTERM', async () => {
    const broker = await mosquittoBroker();
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sfn-collect-cli-'));
    const port = await freePort();
    const cli = startCli(['collect', '--broker', broker.url, '--db', path.join(dir, 'c.db'), '--http-port', String(port), '--retention-days', '30', '--retain-mb', '50', '--client-id', 'cli-test', '--connections', '2']);
    try {
      await cli.waitForLog(/collect: running/, 30_000);
      const pub = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
      await pub.publishAsync('sfn/cam7/events', JSON.stringify(eventMsg('p1', 0, 5, new Date().toISOString())), { qos: 1 });
      await pub.publishAsync('sfn/cam7/availability', 'online', { qos: 1 });
      await pub.endAsync();
      await until(async () => {
        const r = await fetch(`http://127.0.0.1:${port}/api/events?device=cam7`);
        return ((await r.json()) as { events: unknown[] }).events.length === 1;
      });
      const d = (await (await fetch(`http://127.0.0.1:${port}/api/devices`)).json()) as { devices: { device: string; availability: string }[] };
      assert.deepEqual(d.devices.map((x) => [x.device, x.availability]), [['cam7', 'online']]);
      cli.child.kill('SIGTERM');
      assert.equal(await cli.exited, 0);
    } finally {
      if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
      await broker.dispose();
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses --retain-mb 0 and a bad --client-id with their reasons', async () => {
    for (const [args, re] of [[['--retain-mb', '0'], /--retain-mb must be above 0/], [['--client-id', 'a b'], /client id must be/]] as const) {
      const cli = startCli(['collect', '--broker', 'mqtt://127.0.0.1:9', '--db', path.join(os.tmpdir(), 'never-opened.db'), ...args]);
      assert.equal(await cli.exited, 1);
      assert.match(cli.stderr.join('\n'), re);
    }
  });
});
