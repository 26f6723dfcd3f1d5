import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import mqtt from 'mqtt';
import sharp from 'sharp';

import { startEmbeddedBroker, type EmbeddedBroker } from '../../src/mqtt/broker.js';
import { listClips, parseClipStem, startCatalog } from '../../src/webrtc/catalog.js';
import { loadProfile } from '../../src/device/profile.js';
import { sessionSettings } from '../../src/webrtc/service.js';
import { defaultConfig, REDACTED, redactSecrets } from '../../src/core/runtime-config.js';
import { Recorder } from '../mqtt/sub.js';
import { removeDir, tempDir } from './fixtures.js';

let dir = '';
let broker: EmbeddedBroker;
const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xd9]);

before(async () => {
  dir = await tempDir('stream-catalog');
  broker = await startEmbeddedBroker(0);
});
after(async () => {
  await broker.close();
  await removeDir(dir);
});

test('parseClipStem reads the recorder\'s names and rejects others', () => {
  assert.deepEqual(parseClipStem('2026-01-02T03-04-05-678Z_5f0c-aa'), { time: '2026-01-02T03:04:05.678Z', eventId: '5f0c-aa' });
  assert.equal(parseClipStem('snapshot-2026-01-02T03-04-05-678Z'), null);
  assert.equal(parseClipStem('2026-01-02T03-04-05-678Z_../x'), null);
});

test('listClips: complete clips only (MP4 + JPEG), newest first, at most max; a missing folder is empty', async () => {
  const clips = join(dir, 'clips');
  await mkdir(clips, { recursive: true });
  for (const [t, id, jpg] of [['2026-01-01T00-00-00-000Z', 'a', true], ['2026-01-02T00-00-00-000Z', 'b', true], ['2026-01-03T00-00-00-000Z', 'c', false], ['2026-01-04T00-00-00-000Z', 'd', true]] as const) {
    await writeFile(join(clips, `${t}_${id}.mp4`), 'x'.repeat(10));
    if (jpg) await writeFile(join(clips, `${t}_${id}.jpg`), JPEG);
  }
  await writeFile(join(clips, 'snapshot-2026-01-05T00-00-00-000Z.jpg'), JPEG);
  await writeFile(join(clips, '2026-01-02T00-00-00-000Z_b.caption.json'), JSON.stringify({ event_id: 'b', caption: 'a cyclist among walkers' }));
  const all = await listClips(clips);
  assert.deepEqual(all.map((c) => c.event_id), ['d', 'b', 'a'], 'c has no JPEG yet (still being written)');
  assert.equal(all[0]!.snapshot, `data:image/jpeg;base64,${JPEG.toString('base64')}`);
  assert.deepEqual([all[0]!.bytes, all[0]!.time], [10, '2026-01-04T00:00:00.000Z']);
  assert.deepEqual(all.map((c) => c.caption), [undefined, 'a cyclist among walkers', undefined], 'the caption stored beside the clip');
  assert.deepEqual((await listClips(clips, 2)).map((c) => c.event_id), ['d', 'b']);
  assert.deepEqual(await listClips(join(dir, 'nowhere')), []);
});

test('listClips: a snapshot at the source size goes in the catalog as a thumbnail 320 px wide', async () => {
  const clips = join(dir, 'clips-big');
  await mkdir(clips, { recursive: true });
  const big = await sharp({ create: { width: 1280, height: 720, channels: 3, background: '#336699' } }).jpeg().toBuffer();
  await writeFile(join(clips, '2026-01-01T00-00-00-000Z_big.mp4'), 'x');
  await writeFile(join(clips, '2026-01-01T00-00-00-000Z_big.jpg'), big);
  const [c] = await listClips(clips);
  const thumb = Buffer.from(c!.snapshot.replace(/^data:image\/jpeg;base64,/, ''), 'base64');
  const m = await sharp(thumb).metadata();
  assert.deepEqual([m.format, m.width, m.height], ['jpeg', 320, 180]);
});

test('startCatalog publishes a retained listing and republishes when the folder changes', async () => {
  const clips = join(dir, 'clips2');
  await mkdir(clips, { recursive: true });
  const client = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
  const cat = startCatalog({ client, device: 'cat1', clipsDir: clips, intervalMs: 60_000 });
  try {
    await cat.refresh();
    await writeFile(join(clips, '2026-01-01T00-00-00-000Z_e1.mp4'), 'x');
    await writeFile(join(clips, '2026-01-01T00-00-00-000Z_e1.jpg'), JPEG);
    await cat.refresh();
    await cat.refresh(); // unchanged: not republished
    const late = await Recorder.open(broker.url, 'sfn/cat1/clips');
    try {
      await late.waitFor('retained catalog', (g) => g.length > 0);
      const m = late.got[0]!;
      assert.equal(m.retain, true);
      assert.deepEqual((JSON.parse(m.text) as { clips: Array<{ event_id: string }> }).clips.map((c) => c.event_id), ['e1']);
    } finally {
      await late.close();
    }
  } finally {
    cat.close();
    await client.endAsync();
  }
  await rm(clips, { recursive: true, force: true });
});

test('session settings: the profile caps max_sessions, enabled=false means no sessions; secrets are redacted for config/state', async () => {
  assert.equal((await loadProfile('jetson-nano-4gb')).streaming.maxSessions, 1);
  assert.equal((await loadProfile('x86-64-cpu')).streaming.maxSessions, 2, 'the default');
  const c = defaultConfig();
  assert.equal(sessionSettings(c.streaming, 't', 4).maxSessions, 4);
  assert.equal(sessionSettings({ ...c.streaming, max_sessions: 8 }, 't', 2).maxSessions, 2);
  assert.equal(sessionSettings({ ...c.streaming, max_sessions: 1 }, 't', 2).maxSessions, 1);
  assert.equal(sessionSettings({ ...c.streaming, enabled: false }, 't', 2).maxSessions, 0);
  assert.equal(sessionSettings({ ...c.streaming, session_timeout_s: 30 }, 't').sessionTimeoutMs, 30_000);
  const secret = { ...c, streaming: { ...c.streaming, token: 'abcdefgh1', ice_servers: [{ urls: 'turn:x', username: 'u', credential: 'pw' }, { urls: 'stun:y' }] } };
  const r = redactSecrets(secret);
  assert.equal(r.streaming.token, REDACTED);
  assert.deepEqual(r.streaming.ice_servers, [{ urls: 'turn:x', username: 'u', credential: REDACTED }, { urls: 'stun:y' }]);
  assert.equal(secret.streaming.token, 'abcdefgh1', 'the running configuration keeps its secrets');
  assert.equal(redactSecrets(c).streaming.token, undefined);
});
