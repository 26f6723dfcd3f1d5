/**
 * `sfn-edge run` end to end on a short real clip: a tiny random SFN-Lite exported to ONNX, 40 Ped2
 * frames with a white square moving through frames 20-31, scored through ONNX Runtime, events over
 * MQTT. A random model's detections mean nothing, so this checks the plumbing: the message sequence
 * is well formed (per id: `new` first, then `update`s, `end` last, seq 0, 1, 2, ...), clips and
 * snapshots exist for ended events, the summary line adds up.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { defaultModel } from '../../src/core/default-model.js';
import { runCommand, type RunSummary } from '../../src/runtime/command.js';
import { quietExport, TINY, tinyWeights } from '../export/fixtures.js';
import { aedesBroker, freePort, type TestBroker } from '../mqtt/brokers.js';
import { Recorder } from '../mqtt/sub.js';

const PED2 = path.resolve('../shared/datasets/ucsd_ped2/testing/frames/04');
const have = await fs.stat(PED2).catch(() => null);

interface Msg {
  type: string;
  id: string;
  seq: number;
  start: { frame: number };
  end: { frame: number } | null;
  clip?: { recording: true };
  model_sha256: string;
}

/** Asserts the lifecycle of every event id is well formed. */
function assertWellFormed(msgs: Msg[]): Map<string, Msg[]> {
  const byId = new Map<string, Msg[]>();
  for (const m of msgs) byId.set(m.id, [...(byId.get(m.id) ?? []), m]);
  for (const [id, ms] of byId) {
    assert.equal(ms[0]!.type, 'new', `${id} starts with new`);
    assert.equal(ms.at(-1)!.type, 'end', `${id} ends with end`);
    assert.ok(ms.slice(1, -1).every((m) => m.type === 'update'), `${id}: only updates in between`);
    assert.deepEqual(ms.map((m) => m.seq), ms.map((_, i) => i), `${id}: seq 0, 1, 2, ...`);
    assert.ok(ms.every((m) => m.start.frame === ms[0]!.start.frame));
    assert.ok(ms.at(-1)!.end!.frame >= ms[0]!.start.frame);
  }
  return byId;
}

describe('sfn-edge run (tiny model, 40 Ped2 frames)', { skip: !have && 'Ped2 not available' }, () => {
  let dir = '';
  let model = '';
  let frames = '';
  let config = '';
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sfn-run-'));
    const w = await tinyWeights(dir, TINY, { seed: 5 });
    model = path.join(dir, 'tiny.onnx');
    await quietExport({ weights: w.base, out: model });
    frames = path.join(dir, 'frames');
    await fs.mkdir(frames);
    const names = (await fs.readdir(PED2)).filter((n) => /\.(jpg|png|tif)$/i.test(n)).sort().slice(0, 40);
    const square = await sharp({ create: { width: 60, height: 60, channels: 3, background: '#ffffff' } }).png().toBuffer();
    for (const [i, n] of names.entries()) {
      let img = sharp(path.join(PED2, n));
      if (i >= 20 && i < 32) img = img.composite([{ input: square, left: 20 + 20 * (i - 20), top: 90 }]);
      await img.png().toFile(path.join(frames, `${String(i).padStart(3, '0')}.png`));
    }
    config = path.join(dir, 'config.json');
    // low thresholds: a random model's scores only need to cross them for the plumbing to be exercised
    await fs.writeFile(config, JSON.stringify({ threshold: { on: 1, off: 0.5 }, min_duration_frames: 2, smoothing_sigma: 0, baseline_window: 10, baseline_warmup: 5, update_every_frames: 3, clips: { pre_roll_s: 0.5, post_roll_s: 0.2 } }));
  });
  after(async () => {
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  for (const realtime of [false, true]) {
    it(`realtime=${realtime}: events well formed over MQTT (aedes), clips written, summary adds up`, async () => {
      const broker: TestBroker = await aedesBroker();
      const device = `run-${realtime}-${process.pid}`;
      const sub = await Recorder.open(broker.url, `sfn/${device}/#`);
      const lines: string[] = [];
      let s: RunSummary;
      try {
        s = await runCommand({
          source: frames, model, broker: broker.url, deviceId: device, config, realtime: String(realtime), fps: 200,
          clips: path.join(dir, `clips-${realtime}`), stateDir: path.join(dir, `state-${realtime}`), providers: 'cpu',
        }, (l) => lines.push(l));
        assert.equal(s.outbox_flushed, true);
        assert.equal(lines.length, 1);
        assert.deepEqual(JSON.parse(lines[0]!), s);
        assert.equal(s.frames, 40);
        assert.equal(s.scored + s.skipped, realtime ? s.scored + s.skipped : 36);
        if (!realtime) assert.equal(s.skipped, 0);
        assert.ok(s.scored >= 1 && s.scored + s.skipped <= 36);
        assert.equal(s.provider, 'cpu');
        const topic = `sfn/${device}/events`;
        await sub.waitFor('all event messages', (g) => g.filter((m) => m.topic === topic).length >= s.messages);
        const msgs = sub.on(topic).map((m) => JSON.parse(m.text) as Msg);
        assert.equal(msgs.length, s.messages);
        const byId = assertWellFormed(msgs);
        assert.equal(byId.size, s.events);
        if (!realtime) assert.ok(s.events >= 1, 'low thresholds give at least one event');
        assert.equal(s.clips.length, s.events);
        // lifecycle messages name no file; events/<id>/clip announces each clip once it is complete
        assert.ok(msgs.every((m) => !JSON.stringify(m).includes('.mp4')), 'no lifecycle message names a clip file');
        const isClip = (t: string) => /^sfn\/[^/]+\/events\/[^/]+\/clip$/.test(t);
        await sub.waitFor('all clip announcements', (g) => g.filter((m) => isClip(m.topic)).length >= s.events);
        const clipMsgs = sub.got.filter((m) => isClip(m.topic)).map((m) => ({ topic: m.topic, c: JSON.parse(m.text) as { event_id: string; video: string; snapshot: string; video_bytes: number; snapshot_bytes: number } }));
        const clipOf = new Map(clipMsgs.map(({ c }) => [c.event_id, c]));
        assert.equal(clipOf.size, s.events);
        for (const { topic: t, c } of clipMsgs) {
          assert.equal(t, `sfn/${device}/events/${c.event_id}/clip`);
          assert.ok(byId.has(c.event_id), 'a clip belongs to a reported event');
          assert.equal((await fs.stat(c.video)).size, c.video_bytes);
          assert.equal((await fs.stat(c.snapshot)).size, c.snapshot_bytes);
          assert.ok(c.video_bytes > 0 && c.snapshot_bytes > 0);
          assert.ok(s.clips.includes(c.video));
        }
        if (!realtime) {
          // each event is captioned on the device: at its start and, when it ends, at its peak frame,
          // as separate enrichment messages on events/<id>/description, and stored beside the clip
          assert.ok(s.captions !== undefined && s.captions >= 2 * s.events, `captions ${s.captions} for ${s.events} events`);
          const isDesc = (t: string) => /^sfn\/[^/]+\/events\/[^/]+\/description$/.test(t);
          await sub.waitFor('all descriptions', (g) => g.filter((m) => isDesc(m.topic)).length >= s.captions!);
          const descs = sub.got.filter((m) => isDesc(m.topic)).map((m) => ({ topic: m.topic, d: JSON.parse(m.text) as { event_id: string; stage: string; caption: string; frame: number; structured: { objects: unknown[] } } }));
          assert.equal(descs.length, s.captions);
          for (const { topic: t, d } of descs) {
            assert.equal(t, `sfn/${device}/events/${d.event_id}/description`);
            assert.ok(byId.has(d.event_id), 'a description belongs to a reported event');
            assert.ok(['start', 'peak'].includes(d.stage));
            assert.ok(d.caption.length > 0 && Array.isArray(d.structured.objects));
          }
          for (const id of byId.keys()) {
            const peak = descs.find((x) => x.d.event_id === id && x.d.stage === 'peak');
            assert.ok(peak, `event ${id} has a peak caption`);
            const stored = JSON.parse(await fs.readFile(clipOf.get(id)!.video.replace(/\.mp4$/, '.caption.json'), 'utf8'));
            assert.ok(stored.caption.length > 0, 'the caption is stored with the clip');
          }
        }
        // Home Assistant's "event active" follows each event's new and end (not the 10 s stats)
        const active = () => sub.on(`sfn/${device}/event/state`).map((m) => JSON.parse(m.text) as { active: boolean; id: string | null });
        await sub.waitFor('event states', () => active().filter((e) => e.active).length >= s.events && active().filter((e) => !e.active && e.id).length >= s.events);
        assert.deepEqual(new Set(active().filter((e) => e.active).map((e) => e.id)), new Set(byId.keys()));
        assert.equal(active().at(-1)!.active, false);
        // the source state: up while frames flowed, down (ended) at the end of the file
        const src = sub.on(`sfn/${device}/source/state`).map((m) => JSON.parse(m.text) as { state: string; reason: string | null });
        assert.deepEqual(src.map((x) => x.state), ['up', 'down']);
        assert.equal(src[1]!.reason, 'ended');
        const sha = JSON.parse(await fs.readFile(model.replace(/\.onnx$/, '.manifest.json'), 'utf8')).sha256;
        assert.ok(msgs.every((m) => m.model_sha256 === sha));
        assert.ok(sub.on(`sfn/${device}/availability`).some((m) => m.text === 'online'));
        await sub.waitFor('offline at the end', (g) => g.some((m) => m.topic === `sfn/${device}/availability` && m.text === 'offline'));
        assert.ok(sub.on(`sfn/${device}/stats`).length >= 1);
        assert.deepEqual(await fs.readdir(path.join(dir, `state-${realtime}`, 'outbox')), []);
      } finally {
        await sub.close();
        await broker.dispose();
      }
    });
  }

  it('starts the embedded broker itself and refuses a taken port clearly', async () => {
    const port = await freePort();
    const s = await runCommand({ source: frames, model, deviceId: 'emb', config, realtime: 'false', clips: path.join(dir, 'clips-emb'), stateDir: path.join(dir, 'state-emb'), providers: 'cpu', embeddedPort: port }, () => undefined);
    assert.equal(s.frames, 40);
    assert.equal(s.outbox_flushed, true);
    const broker = await aedesBroker();
    try {
      await assert.rejects(runCommand({ source: frames, model, embeddedPort: broker.port, providers: 'cpu', stateDir: path.join(dir, 'state-x') }, () => undefined), /already in use.*--broker.*--embedded-port/s);
    } finally {
      await broker.dispose();
    }
  });

  it('with no --embedded-port and 1883 taken, the embedded broker moves to a free port', async () => {
    // occupy 1883 ourselves unless something (e.g. CI's Mosquitto) already listens there
    const net = await import('node:net');
    const blocker = net.createServer();
    const held = await new Promise<boolean>((resolve) => {
      blocker.once('error', () => resolve(false));
      blocker.listen(1883, '127.0.0.1', () => resolve(true));
    });
    try {
      const s = await runCommand({ source: frames, model, deviceId: 'emb2', config, realtime: 'false', clips: path.join(dir, 'clips-emb2'), stateDir: path.join(dir, 'state-emb2'), providers: 'cpu' }, () => undefined);
      assert.equal(s.frames, 40);
      assert.equal(s.outbox_flushed, true);
    } finally {
      if (held) await new Promise<void>((r) => blocker.close(() => r()));
    }
  });

  it('no model: the default is the one models/default.json names (test/runtime/default-model.test.ts), never name order', async () => {
    const m = path.join(dir, 'models');
    await assert.rejects(defaultModel(m), /default model file .*default\.json is missing.*--model/);
    await fs.mkdir(path.join(m, 'fp32'), { recursive: true });
    for (const n of ['a.onnx', 'b.onnx']) await fs.writeFile(path.join(m, 'fp32', n), '');
    await fs.writeFile(path.join(m, 'default.json'), JSON.stringify({ model: 'fp32/b.onnx' }));
    assert.equal(await defaultModel(m), path.join(m, 'fp32', 'b.onnx'));
    assert.equal(await defaultModel(), path.join('models', 'fp32', 'sfn-lite-ped2.onnx'), 'the committed default');
  });
});
