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
import { existsSync } from 'node:fs';
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

/** A temp folder with a tiny exported model and a real broker for one suite, removed after it. */
function runFixture(prefix: string, seed: number): { readonly dir: string; readonly model: string; readonly broker: TestBroker } {
  const fx = { dir: '', model: '', broker: undefined as unknown as TestBroker };
  before(async () => {
    fx.dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
    const w = await tinyWeights(fx.dir, TINY, { seed });
    fx.model = path.join(fx.dir, 'tiny.onnx');
    await quietExport({ weights: w.base, out: fx.model });
    fx.broker = HAS_MOSQUITTO ? await mosquittoBroker() : await aedesBroker();
  });
  after(async () => {
    await fx.broker?.dispose();
    if (fx.dir) await fs.rm(fx.dir, { recursive: true, force: true });
  });
  return fx;
}

describe('three cameras in one process (real ffmpeg HTTP sources, real broker)', { skip: SKIP }, () => {
  const fx = runFixture('sfn-cameras-', 21);

  it('events under each camera\'s topics; a bad camera is offline and the others run; one source killed, the other two go on', async (t) => {
    const { dir, model, broker } = fx;
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

/** Processes whose command line contains `needle` (and not `-listen`: the test's camera servers), from /proc. */
async function processesWith(needle: string): Promise<string[]> {
  const out: string[] = [];
  for (const pid of (await fs.readdir('/proc')).filter((d) => /^\d+$/.test(d))) {
    const cmd = (await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0').join(' ');
    if (cmd.includes(needle) && !cmd.includes('-listen') && !cmd.includes('cli-main')) out.push(`${pid}: ${cmd}`);
  }
  return out;
}

/**
 * Many cameras in one run (16 live ffmpeg cameras, clips on, low thresholds on a tiny model): no
 * MaxListenersExceededWarning (one listener per emitter serves every camera), and SIGTERM ends the
 * run with exit 0, every camera's and the device's availability `offline`, a summary of all 16
 * cameras, and no ffmpeg decoder or clip encoder of the run left behind.
 */
describe('16 cameras in one process: no listener warning, SIGTERM ends them all', { skip: SKIP || (process.platform !== 'linux' && 'reads /proc') }, () => {
  const N = 16;
  const fx = runFixture('sfn-cameras16-', 22);

  it('16 cameras score; SIGTERM: exit 0, all offline, summary of 16, no ffmpeg of the run left', { timeout: 300_000 }, async (t) => {
    const { dir, model, broker } = fx;
    const ids = Array.from({ length: N }, (_, i) => `c${String(i).padStart(2, '0')}`);
    const urls: string[] = [];
    for (const _ of ids) urls.push(`http://127.0.0.1:${await freePort()}/live.ts`);
    const cams = urls.map((u) => spawn('ffmpeg', ['-hide_banner', '-v', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc=size=96x64:rate=5', '-c:v', 'libx264', '-g', '5',
      '-pix_fmt', 'yuv420p', '-f', 'mpegts', '-listen', '1', u], { stdio: 'ignore' }));
    const device = `cams16-${process.pid}`;
    const config = path.join(dir, 'config.json');
    const clips = path.join(dir, 'clips');
    await fs.writeFile(config, JSON.stringify({
      captions: { enabled: false }, streaming: { enabled: false }, stats_interval_s: 1, clips: { enabled: true, pre_roll_s: 1, post_roll_s: 1, max_event_s: 60 },
      threshold: { on: 0.5, off: 0, fpr: null }, min_duration_frames: 1, baseline_warmup: 5, baseline_window: 50, smoothing_sigma: 0,
      cameras: ids.map((id, i) => ({ id, source: urls[i] })),
    }));
    const sub = await Recorder.open(broker.url, `sfn/${device}/#`);
    const on = (cam: string, leaf: string) => sub.on(`sfn/${device}/${cam}/${leaf}`);
    const run = startCli(['run', '--model', model, '--config', config, '--device-id', device, '--broker', broker.url, '--providers', 'cpu', '--fps', '5',
      '--state-dir', path.join(dir, 'state'), '--clips', clips]);
    try {
      await sub.waitFor('every camera scores', () => ids.every((c) => on(c, 'stats').some((m) => (JSON.parse(m.text) as { frames: number }).frames > 0)), 180_000);
      assert.deepEqual(run.stderr.filter((l) => /MaxListenersExceededWarning/.test(l)), []);
      const t0 = Date.now();
      run.child.kill('SIGTERM');
      assert.equal(await run.exited, 0, run.stderr.slice(-8).join('\n'));
      t.diagnostic(`SIGTERM to exit with ${N} cameras: ${((Date.now() - t0) / 1000).toFixed(1)} s; ${ids.reduce((a, c) => a + on(c, 'events').length, 0)} event messages`);
      assert.deepEqual(run.stderr.filter((l) => /MaxListenersExceededWarning/.test(l)), []);
      const summary = JSON.parse(run.stdout.at(-1)!) as { cameras: Record<string, unknown> };
      assert.deepEqual(Object.keys(summary.cameras).sort(), ids);
      await sub.waitFor('the device and every camera offline', () => sub.on(`sfn/${device}/availability`).at(-1)?.text === 'offline'
        && ids.every((c) => on(c, 'availability').at(-1)?.text === 'offline'), 10_000);
      // decoders name a camera URL, encoders the clips folder; a killed child may take a moment to be reaped
      const left = async () => [...(await processesWith(clips)), ...(await Promise.all(urls.map((u) => processesWith(u)))).flat()];
      for (let i = 0; i < 50 && (await left()).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(await left(), [], 'no ffmpeg of the run outlives it');
    } finally {
      run.child.kill('SIGKILL');
      for (const c of cams) c.kill('SIGKILL');
      await sub.close();
    }
  });
});

const PED2_03 = '/work/shared/datasets/ucsd_ped2/testing/frames/03';
const FP32 = 'models/fp32/sfn-lite-ped2.onnx';

/**
 * The end of a run is bounded: with a clip encoder that never ends (a stand-in ffmpeg that hangs
 * when asked to write an MP4, real ffmpeg otherwise), SIGTERM during an event still ends the run
 * with exit 0, both cameras in the summary and offline, the hung encoder killed and its partial
 * `.part` output removed.
 */
describe('SIGTERM with a clip encoder that never ends', { skip: SKIP || (!existsSync(PED2_03) && 'Ped2 test video 03 not available') || (process.platform !== 'linux' && 'reads /proc') }, () => {
  let dir = '';
  let broker: TestBroker;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sfn-hung-encoder-'));
    broker = HAS_MOSQUITTO ? await mosquittoBroker() : await aedesBroker();
  });
  after(async () => {
    await broker?.dispose();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it('exit 0 after the bounded wait, summary and offline for both cameras, no encoder left', { timeout: 240_000 }, async () => {
    const fake = path.join(dir, 'ffmpeg');
    await fs.writeFile(fake, '#!/bin/bash\ncase " $* " in *" -movflags "*) echo partial > "${@: -1}"; while :; do sleep 1; done ;; esac\nexec ffmpeg "$@"\n', { mode: 0o755 });
    const ids = ['a', 'b'];
    const device = `hung-${process.pid}`;
    const config = path.join(dir, 'config.json');
    const clips = path.join(dir, 'clips');
    await fs.writeFile(config, JSON.stringify({ captions: { enabled: false }, streaming: { enabled: false }, cameras: ids.map((id) => ({ id, source: PED2_03 })) }));
    const sub = await Recorder.open(broker.url, `sfn/${device}/#`);
    const on = (cam: string, leaf: string) => sub.on(`sfn/${device}/${cam}/${leaf}`);
    const run = startCli(['run', '--model', FP32, '--config', config, '--device-id', device, '--broker', broker.url, '--providers', 'cpu', '--loop', '--realtime', 'false',
      '--state-dir', path.join(dir, 'state'), '--clips', clips], { env: { SFN_FFMPEG: fake } });
    try {
      // Ped2 test video 03 is anomalous from its first frames: an event opens, its clip is recorded
      await sub.waitFor('an event on each camera', () => ids.every((c) => on(c, 'events').some((m) => (JSON.parse(m.text) as { type: string }).type === 'new')), 120_000);
      run.child.kill('SIGTERM');
      assert.equal(await run.exited, 0, run.stderr.slice(-8).join('\n'));
      const summary = JSON.parse(run.stdout.at(-1)!) as { cameras: Record<string, unknown> };
      assert.deepEqual(Object.keys(summary.cameras).sort(), ids);
      await sub.waitFor('the device and both cameras offline', () => sub.on(`sfn/${device}/availability`).at(-1)?.text === 'offline'
        && ids.every((c) => on(c, 'availability').at(-1)?.text === 'offline'), 10_000);
      assert.ok(run.records('the camera\'s last clips and messages did not finish in time; ending without them').length > 0, 'the bound was reached and said so');
      for (let i = 0; i < 50 && (await processesWith(clips)).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(await processesWith(clips), [], 'the hung encoder was killed');
      const parts = (await fs.readdir(clips)).filter((f) => f.endsWith('.part'));
      assert.deepEqual(parts, [], 'the hung encoder\'s partial clip was removed');
    } finally {
      run.child.kill('SIGKILL');
      for (const p of await processesWith(clips)) process.kill(Number(p.split(':')[0]), 'SIGKILL');
      await sub.close();
    }
  });
});
