/**
 * The streaming side of `run` (src/webrtc/service.ts) on a real embedded broker: "webrtc streaming
 * ready" is logged only when streaming is on (not with streaming off; once when a change turns it on);
 * the device profile caps the live view's height.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it, mock } from 'node:test';

import mqtt, { type MqttClient } from 'mqtt';

import { defaultConfig, type RuntimeConfig } from '../../src/core/runtime-config.js';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../src/mqtt/broker.js';
import { log } from '../../src/util/log.js';
import { startStreaming, type Streaming } from '../../src/webrtc/service.js';
import { removeDir, tempDir } from './fixtures.js';

const READY = 'webrtc streaming ready';

function streaming(enabled: boolean): RuntimeConfig['streaming'] {
  return { ...defaultConfig().streaming, enabled, token: 'tok-12345678' };
}

describe('startStreaming', () => {
  let dir = '';
  let broker: EmbeddedBroker;
  let client: MqttClient;
  before(async () => {
    dir = await tempDir('stream-svc');
    broker = await startEmbeddedBroker(0);
    client = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
  });
  after(async () => {
    await client?.endAsync(true);
    await broker?.close();
    if (dir) await removeDir(dir);
  });

  /** The messages of the `log.info` calls made while `fn` runs. */
  async function infoLines(fn: () => Promise<void>): Promise<string[]> {
    const info = mock.method(log, 'info');
    try {
      await fn();
      return info.mock.calls.map((c) => c.arguments.find((a): a is string => typeof a === 'string') ?? '');
    } finally {
      info.mock.restore();
    }
  }

  it('streaming off: no "ready" line; turned on by a change: one', async () => {
    let s: Streaming | null = null;
    const atStart = await infoLines(async () => {
      s = await startStreaming({ client, device: 'off-cam', clipsDir: dir, config: streaming(false) });
    });
    try {
      assert.ok(!atStart.includes(READY), atStart.join('\n'));
      const turnedOn = await infoLines(async () => {
        s!.configure(streaming(true));
        s!.configure(streaming(true));
      });
      assert.equal(turnedOn.filter((m) => m === READY).length, 1, turnedOn.join('\n'));
    } finally {
      await s!.close();
    }
  });

  it('streaming on: "ready" at start', async () => {
    let s: Streaming | null = null;
    const lines = await infoLines(async () => {
      s = await startStreaming({ client, device: 'on-cam', clipsDir: dir, config: streaming(true) });
    });
    await s!.close();
    assert.equal(lines.filter((m) => m === READY).length, 1, lines.join('\n'));
  });

  it("the live view's height cap is live_max_height, lowered to the profile's liveMaxHeight", async () => {
    const free = await startStreaming({ client, device: 'cap-free', clipsDir: dir, config: streaming(true) });
    const nano = await startStreaming({ client, device: 'cap-nano', clipsDir: dir, config: streaming(true), profileLiveMaxHeight: 720 });
    try {
      assert.equal(free.liveMaxHeight({ ...streaming(true), live_max_height: 1080 }), 1080);
      assert.equal(nano.liveMaxHeight({ ...streaming(true), live_max_height: 1080 }), 720);
      assert.equal(nano.liveMaxHeight({ ...streaming(true), live_max_height: 480 }), 480);
    } finally {
      await free.close();
      await nano.close();
    }
  });
});
