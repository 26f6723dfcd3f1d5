/**
 * Several cameras in one `sfn-edge run` (a real process, issue 14 "Cameras"): a `cameras` list of
 * three live cameras (real ffmpeg serving MPEG-TS over HTTP on loopback) on one tiny model, and a
 * fourth camera whose model file is missing (a bad configuration), against a real broker
 * (Mosquitto when installed, else the embedded aedes broker in the test process).
 *
 * - the three cameras share one ONNX Runtime session (one "session opened" log record), their
 *   clips batched into shared predict calls (the batcher's counts are logged at the end);
 * - events arrive under each camera's topics `sfn/<device>/<camera>/events`, with `camera_id`;
 * - the device and each running camera are `online`; the bad one is `offline`, with its reason on
 *   its retained `source/state`, and the others run;
 * - `config/set` on a camera changes that camera only; on the device it changes the device-wide
 *   values of every camera (and refuses a camera's `model`);
 * - one camera's source is killed: its `source/state` goes down and it reconnects, while the other
 *   two keep scoring (their stats count on) and sending events;
 * - SIGTERM ends the run with exit 0, every camera's availability `offline`.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { quietExport, TINY, tinyWeights } from '../export/fixtures.js';
import { aedesBroker, freePort, HAS_MOSQUITTO, mosquittoBroker, type TestBroker } from '../mqtt/brokers.js';
import { Recorder } from '../mqtt/sub.js';
import { missingTools } from '../tools.js';
import { startCli } from '../cli-process.js';

const SKIP = missingTools('ffmpeg');
const CAMS = ['front', 'yard', 'gate'] as const;

describe('three cameras in one process (real ffmpeg HTTP sources, real broker)', { skip: SKIP }, () => {
  let dir = '';
  let model = '';
  let broker: TestBroker;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sfn-cameras-'));
    const w = await tinyWeights(dir, TINY, { seed: 21 });
    model = path.join(dir, 'tiny.onnx');
    await quietExport({ weights: w.base, out: model });
    broker = HAS_MOSQUITTO ? await mosquittoBroker() : await aedesBroker();
  });
  after(async () => {
    await broker?.dispose();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it('events under each camera\'s topics; a bad camera is offline and the others run; one source killed, the other two go on', async (t) => {
    const ports = await Promise.all(CAMS.map(() => freePort()));
    const urls = ports.map((p) => `http://127.0.0.1:${p}/live.ts`);
    const cams = new Map<string, ChildProcess>();
    const startCamera = (i: number) => {
      cams.set(CAMS[i]!, spawn('ffmpeg', ['-hide_banner', '-v', 'error', '-re', '-f', 'lavfi', '-i', `testsrc=size=96x64:rate=10`, '-c:v', 'libx264', '-g', '5',
        '-pix_fmt', 'yuv420p', '-f', 'mpegts', '-listen', '1', urls[i]!], { stdio: 'ignore' }));
    };
    const killCamera = async (id: string) => {
      const c = cams.get(id);
      cams.delete(id);
      if (!c || c.exitCode !== null) return;
      await new Promise<void>((r) => {
        c.once('exit', () => r());
        c.kill('SIGKILL');
      });
    };
    CAMS.forEach((_, i) => startCamera(i));
    const device = `cams-${process.pid}`;
    const config = path.join(dir, 'config.json');
    // low thresholds on the running baseline: a tiny untrained model flags testsrc's moving parts often
    await fs.writeFile(config, JSON.stringify({
      captions: { enabled: false }, clips: { enabled: false }, streaming: { enabled: false }, stats_interval_s: 1,
      threshold: { on: 0.5, off: 0, fpr: null }, min_duration_frames: 1, baseline_warmup: 5, baseline_window: 50, smoothing_sigma: 0, update_every_frames: 5,
      cameras: [...CAMS.map((id, i) => ({ id, source: urls[i] })), { id: 'broken', source: urls[0], model: path.join(dir, 'missing.onnx') }],
    }));
    const sub = await Recorder.open(broker.url, `sfn/${device}/#`);
    const on = (cam: string, leaf: string) => sub.on(`sfn/${device}/${cam}/${leaf}`);
    const statsFrames = (cam: string) => Math.max(0, ...on(cam, 'stats').map((m) => (JSON.parse(m.text) as { frames: number }).frames));
    const run = startCli(['run', '--model', model, '--config', config, '--device-id', device, '--broker', broker.url, '--providers', 'cpu',
      '--state-dir', path.join(dir, 'state'), '--clips', path.join(dir, 'clips')]);
    try {
      await sub.waitFor('events from every camera', () => CAMS.every((c) => on(c, 'events').length > 0), 60_000);
      for (const c of CAMS) {
        const e = JSON.parse(on(c, 'events')[0]!.text) as { camera_id: string; device_id: string; type: string };
        assert.equal(e.camera_id, c);
        assert.equal(e.device_id, device);
      }
      assert.ok(sub.on(`sfn/${device}/events`).length === 0, 'nothing on the device\'s own events topic');
      assert.equal(sub.on(`sfn/${device}/availability`).at(-1)?.text, 'online');
      for (const c of CAMS) assert.equal(on(c, 'availability').at(-1)?.text, 'online', c);
      assert.equal(on('broken', 'availability').at(-1)?.text, 'offline');
      assert.match((JSON.parse(on('broken', 'source/state').at(-1)!.text) as { reason: string }).reason, /did not start: .*missing\.onnx/);
      assert.equal(run.records('model host: ONNX Runtime session opened (shared by every camera on this model)').filter((r) => r.model === model).length, 1, 'one session for the three cameras');
      const ha = await Recorder.open(broker.url, 'homeassistant/#');
      try {
        await ha.waitFor('Home Assistant discovery per camera', (g) => CAMS.every((c) => g.some((m) => m.topic.includes(`/sfn_${device}_${c}/`))), 10_000);
        const score = ha.got.find((m) => m.topic.endsWith(`/sfn_${device}_${CAMS[0]}/anomaly_score/config`))!;
        const cfg = JSON.parse(score.text) as { state_topic: string; availability: { topic: string }[] };
        assert.equal(cfg.state_topic, `sfn/${device}/${CAMS[0]}/stats`);
        assert.deepEqual(cfg.availability.map((a) => a.topic), [`sfn/${device}/availability`, `sfn/${device}/${CAMS[0]}/availability`]);
      } finally {
        await ha.close();
      }

      // config/set per camera and for the device: a camera's own change stays its own; a device-wide one reaches every camera
      await sub.client.publishAsync(`sfn/${device}/${CAMS[0]}/config/set`, JSON.stringify({ update_every_frames: 7 }), { qos: 1 });
      await sub.waitFor('camera ack', () => on(CAMS[0], 'config/ack').some((m) => (JSON.parse(m.text) as { ok: boolean }).ok));
      await sub.client.publishAsync(`sfn/${device}/config/set`, JSON.stringify({ baseline_window: 60 }), { qos: 1 });
      await sub.waitFor('device ack', () => sub.on(`sfn/${device}/config/ack`).length >= 1);
      await sub.client.publishAsync(`sfn/${device}/config/set`, JSON.stringify({ model: model }), { qos: 1 });
      await sub.waitFor('device acks', () => sub.on(`sfn/${device}/config/ack`).length >= 2);
      const acks = sub.on(`sfn/${device}/config/ack`).map((m) => JSON.parse(m.text) as { ok: boolean; error: string | null });
      assert.equal(acks[0]!.ok, true, acks[0]!.error ?? '');
      assert.match(acks[1]!.error ?? '', /model: a camera's/);
      const cfg = (c: string) => (JSON.parse(on(c, 'config/state').at(-1)!.text) as { config: { baseline_window: number; update_every_frames: number } }).config;
      await sub.waitFor('device-wide change in every camera', () => CAMS.every((c) => cfg(c).baseline_window === 60));
      assert.deepEqual(CAMS.map((c) => cfg(c).update_every_frames), [7, 5, 5]);

      // kill one camera's source: it goes down and reconnects; the other two go on
      const killed = CAMS[1];
      const seen = sub.got.length;
      const before = { [CAMS[0]]: statsFrames(CAMS[0]), [CAMS[2]]: statsFrames(CAMS[2]) };
      const eventsBefore = { [CAMS[0]]: on(CAMS[0], 'events').length, [CAMS[2]]: on(CAMS[2], 'events').length };
      await killCamera(killed);
      await sub.waitFor(`${killed} down`, (g) => g.slice(seen).some((m) => m.topic === `sfn/${device}/${killed}/source/state` && /"down"|"reconnecting"/.test(m.text)), 30_000);
      const down = sub.got.length;
      await sub.waitFor('the other two score on', () => [CAMS[0], CAMS[2]].every((c) => statsFrames(c) >= before[c]! + 20), 30_000);
      await sub.waitFor('the other two send events on', () => [CAMS[0], CAMS[2]].every((c) => on(c, 'events').length > eventsBefore[c]!), 30_000);
      assert.ok(!sub.got.slice(down).some((m) => m.topic === `sfn/${device}/${killed}/source/state` && /"up"/.test(m.text)), 'the killed camera stays down while its source is gone');
      t.diagnostic(`after the kill: ${CAMS[0]} ${before[CAMS[0]]} -> ${statsFrames(CAMS[0])} frames, ${CAMS[2]} ${before[CAMS[2]]} -> ${statsFrames(CAMS[2])} frames`);

      run.child.kill('SIGTERM');
      assert.equal(await run.exited, 0, run.stderr.slice(-8).join('\n'));
      const summary = JSON.parse(run.stdout.at(-1)!) as { cameras: Record<string, { scored: number }>; failed_cameras: { id: string }[] };
      assert.deepEqual(Object.keys(summary.cameras).sort(), [...CAMS].sort());
      assert.deepEqual(summary.failed_cameras.map((f) => f.id), ['broken']);
      await sub.waitFor('every camera offline', () => CAMS.every((c) => on(c, 'availability').at(-1)?.text === 'offline'), 10_000);
      const batched = run.records('model host: clips of the cameras on this model, batched').find((r) => r.model === model) as { calls: number; clips: number } | undefined;
      assert.ok(batched && batched.calls > 0, 'the shared model went through the batcher');
      t.diagnostic(`batcher: ${batched.clips} clips in ${batched.calls} calls`);
    } finally {
      run.child.kill('SIGKILL');
      for (const id of [...cams.keys()]) await killCamera(id);
      await sub.close();
    }
  });
});
