/**
 * `sfn-edge run` as a real process against a real Mosquitto, under the faults a field device meets
 * (issue 13): remote values that cannot be applied, a persisted remote configuration that no longer
 * starts, a broker that is down when the device starts, and a file or folder that cannot be read to
 * its end. A tiny random model keeps it quick; its detections mean nothing, only the plumbing does.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import mqtt from 'mqtt';
import sharp from 'sharp';
import { quietExport, TINY, tinyWeights } from '../export/fixtures.js';
import { freePort, mosquittoBroker, type TestBroker } from '../mqtt/brokers.js';
import { missingTools } from '../tools.js';
import { Recorder } from '../mqtt/sub.js';
import { startCli } from '../cli-process.js';

/** The JSON log lines of a piped run's stderr (other lines skipped). */
const jsonLines = (lines: string[]): Record<string, unknown>[] => lines.flatMap((l) => {
  try {
    const v = JSON.parse(l) as unknown;
    return v && typeof v === 'object' ? [v as Record<string, unknown>] : [];
  } catch {
    return [];
  }
});

const PED2 = path.resolve('../shared/datasets/ucsd_ped2/testing/frames/04');
const SKIP = missingTools('mosquitto') || (!(await fs.stat(PED2).catch(() => null)) && 'Ped2 not available');

describe('run under faults (real process, Mosquitto)', { skip: SKIP }, () => {
  let dir = '';
  let model = '';
  let config = '';
  let broker: TestBroker;
  /** 180 Ped2 frames with a white square crossing in frames 40-59 and 120-139 (something for events) */
  let frames = '';
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sfn-faults-'));
    frames = path.join(dir, 'frames');
    await fs.mkdir(frames);
    const names = (await fs.readdir(PED2)).filter((n) => /\.(jpg|png|tif)$/i.test(n)).sort();
    const square = await sharp({ create: { width: 60, height: 60, channels: 3, background: '#ffffff' } }).png().toBuffer();
    for (const [i, n] of names.entries()) {
      let img = sharp(path.join(PED2, n));
      const k = i % 80;
      if (k >= 40 && k < 60) img = img.composite([{ input: square, left: 10 + 14 * (k - 40), top: 90 }]);
      await img.png().toFile(path.join(frames, `${String(i).padStart(3, '0')}.png`));
    }
    const w = await tinyWeights(dir, TINY, { seed: 11 });
    model = path.join(dir, 'tiny.onnx');
    await quietExport({ weights: w.base, out: model });
    config = path.join(dir, 'config.json');
    // low thresholds so that a random model produces events; captions off (not under test)
    await fs.writeFile(config, JSON.stringify({
      threshold: { on: 1, off: 0.5 }, min_duration_frames: 2, smoothing_sigma: 0, baseline_window: 10, baseline_warmup: 5,
      update_every_frames: 5, captions: { enabled: false }, clips: { enabled: false }, stats_interval_s: 1,
    }));
    broker = await mosquittoBroker();
  });
  after(async () => {
    await broker?.dispose();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  const runArgs = (device: string, state: string, url: string, extra: string[]) => [
    'run', '--source', frames, '--model', model, '--config', config, '--device-id', device, '--state-dir', state,
    '--clips', path.join(dir, `clips-${device}`), '--broker', url, ...extra,
  ];

  it('every remote value that cannot be applied is acked ok:false, the run goes on, and a restart with the same state folder starts', async () => {
    const device = `bad-values-${process.pid}`;
    const state = path.join(dir, 'state-bad');
    // a model whose bytes no longer match its manifest
    const corrupt = path.join(dir, 'corrupt.onnx');
    const bytes = await fs.readFile(model);
    bytes[bytes.length >> 1]! ^= 0xff;
    await fs.writeFile(corrupt, bytes);
    await fs.copyFile(model.replace(/\.onnx$/, '.manifest.json'), corrupt.replace(/\.onnx$/, '.manifest.json'));

    const sub = await Recorder.open(broker.url, `sfn/${device}/#`);
    const run = startCli(runArgs(device, state, broker.url, ['--fps', '5']));
    try {
      await run.waitForLog(/mqtt: connected, online/);
      const BAD: [string, RegExp][] = [
        ['{"source": "/nonexistent/cam.mp4"}', /source: .*nonexistent.*no such file/],
        ['{"model": "/nonexistent/model.onnx"}', /model: cannot load .*not found/],
        [JSON.stringify({ model: corrupt }), /does not match its manifest/],
        ['{"threshold": {"on": 0.01}}', /threshold\.on/],
        ['{"__proto__": {"source": "/etc/passwd"}}', /__proto__.*refused/],
        ['{"__proto__": {"threshold": {"on": 999}}}', /__proto__.*refused/],
        ['{"constructor": {"prototype": {"source": "/etc/passwd"}}}', /constructor.*refused/],
        ['{"broker": "mqtt://127.0.0.1:1"}', /broker: set in the --config file only/],
      ];
      for (const [i, [payload, reason]] of BAD.entries()) {
        await sub.client.publishAsync(`sfn/${device}/config/set`, payload, { qos: 1 });
        await sub.waitFor(`ack ${i + 1}`, (g) => g.filter((m) => m.topic.endsWith('/config/ack')).length === i + 1, 30_000);
        const ack = JSON.parse(sub.on(`sfn/${device}/config/ack`)[i]!.text) as { ok: boolean; version: number; error: string };
        assert.equal(ack.ok, false, payload);
        assert.equal(ack.version, 0, payload);
        assert.match(ack.error, reason);
      }
      // a valid change still applies after all that
      await sub.client.publishAsync(`sfn/${device}/config/set`, '{"min_duration_frames": 3}', { qos: 1 });
      await sub.waitFor('good ack', (g) => g.filter((m) => m.topic.endsWith('/config/ack')).length === BAD.length + 1, 30_000);
      assert.deepEqual(JSON.parse(sub.on(`sfn/${device}/config/ack`).at(-1)!.text), { version: 1, ok: true, error: null });
      assert.equal(run.child.exitCode, null, 'the run goes on');
      run.child.kill('SIGTERM');
      assert.equal(await run.exited, 0);
      // every change is in the device's log: refused ones at warn with the reason, the applied one at info
      const refused = jsonLines(run.stderr).filter((l) => /config\/set refused/.test(String(l.msg))) as { level: number; error: string }[];
      assert.equal(refused.length, BAD.length, run.stderr.slice(-10).join('\n'));
      for (const [i, r] of refused.entries()) {
        assert.equal(r.level, 40);
        assert.match(r.error, BAD[i]![1]);
      }
      const applied = (jsonLines(run.stderr) as { level: number; msg: string; version?: number; layer?: unknown }[]).filter((l) => /config\/set applied/.test(l.msg));
      assert.equal(applied.length, 1);
      assert.equal(applied[0]!.level, 30);
      assert.equal(applied[0]!.version, 1);
      assert.deepEqual(applied[0]!.layer, { min_duration_frames: 3 });
    } finally {
      run.child.kill('SIGKILL');
      await sub.close();
    }
    const saved = path.join(state, 'remote-config.json');
    const persisted = JSON.parse(await fs.readFile(saved, 'utf8')) as { version: number; layer: Record<string, unknown> };
    assert.equal(persisted.version, 1);
    assert.deepEqual(persisted.layer, { min_duration_frames: 3 });
    assert.equal((await fs.stat(saved)).mode & 0o777, 0o600);

    const again = startCli(runArgs(device, state, broker.url, ['--realtime=false']));
    assert.equal(await again.exited, 0, again.stderr.slice(-10).join('\n'));
    const summary = JSON.parse(again.stdout.at(-1)!) as { frames: number; source: string };
    assert.equal(summary.frames, 180);
    assert.equal(summary.source, frames);
    // the re-applied remote configuration is logged at start, with its version and file
    const reapplied = (jsonLines(again.stderr) as { msg: string; version?: number; file?: string; layer?: unknown }[]).find((l) => /re-applying the remote configuration/.test(l.msg));
    assert.ok(reapplied, again.stderr.slice(0, 10).join('\n'));
    assert.equal(reapplied.version, 1);
    assert.equal(reapplied.file, saved);
    assert.deepEqual(reapplied.layer, { min_duration_frames: 3 });

    // `config show` prints it, `config reset` clears it, and a second reset says there is nothing
    const show = startCli(['config', 'show', '--state-dir', state]);
    assert.equal(await show.exited, 0, show.stderr.join('\n'));
    const view = JSON.parse(show.stdout.join('\n')) as { file: string; present: boolean; version: number; layer: unknown };
    assert.deepEqual({ file: view.file, present: view.present, version: view.version, layer: view.layer }, { file: saved, present: true, version: 1, layer: { min_duration_frames: 3 } });
    const reset = startCli(['config', 'reset', '--state-dir', state]);
    assert.equal(await reset.exited, 0, reset.stderr.join('\n'));
    assert.match(reset.stdout.join('\n'), /removed .*remote-config\.json \(version 1\)/);
    await assert.rejects(fs.stat(saved), /ENOENT/);
    const none = startCli(['config', 'show', '--state-dir', state]);
    assert.equal(await none.exited, 0);
    assert.equal((JSON.parse(none.stdout.join('\n')) as { present: boolean }).present, false);
    assert.ok(none.stderr.some((l) => /no remote configuration in/.test(l)));
  });

  for (const [what, layer] of [['source', { source: '/nonexistent/cam.mp4' }], ['model', { model: '/nonexistent/model.onnx' }]] as const) {
    it(`a persisted remote ${what} that no longer starts gives way to the last configuration that started`, async () => {
      const device = `fallback-${what}-${process.pid}`;
      const state = path.join(dir, `state-fallback-${what}`);
      await fs.mkdir(state, { recursive: true });
      await fs.writeFile(path.join(state, 'remote-config.json'), JSON.stringify({ version: 4, layer: { ...layer, min_duration_frames: 3 } }));
      const run = startCli(runArgs(device, state, broker.url, ['--realtime=false']));
      assert.equal(await run.exited, 0, run.stderr.slice(-10).join('\n'));
      const fell = run.records('the remote configuration failed at start; fell back to the last configuration that started');
      assert.equal(fell.length, 1);
      assert.match(String(fell[0]!.why), /nonexistent/);
      const summary = JSON.parse(run.stdout.at(-1)!) as { frames: number; source: string; model: string };
      assert.equal(summary.frames, 180);
      assert.equal(summary.source, frames);
      assert.equal(summary.model, model);
      const persisted = JSON.parse(await fs.readFile(path.join(state, 'remote-config.json'), 'utf8')) as { version: number; layer: unknown };
      assert.equal(persisted.version, 5);
      assert.deepEqual(persisted.layer, {});
    });
  }

  it('takes its broker nodes from the configuration file: a dead node first, then the live one, and every event arrives', async () => {
    const device = `config-broker-${process.pid}`;
    const dead = `mqtt://127.0.0.1:${await freePort()}`;
    const cfg = path.join(dir, 'config-broker.json');
    await fs.writeFile(cfg, JSON.stringify({ ...JSON.parse(await fs.readFile(config, 'utf8')), broker: [dead, broker.url] }));
    const sub = await Recorder.open(broker.url, `sfn/${device}/events`);
    const args = runArgs(device, path.join(dir, 'state-cfg-broker'), broker.url, ['--realtime=false']);
    args.splice(args.indexOf('--broker'), 2);
    args[args.indexOf(config)] = cfg;
    const run = startCli(args);
    try {
      assert.equal(await run.exited, 0, run.stderr.slice(-10).join('\n'));
      const from = run.records('broker from the configuration file');
      assert.equal(from.length, 1);
      assert.equal(from[0]!.broker, `${dead},${broker.url}`);
      const logged = run.records('event');
      assert.ok(logged.length > 0, 'the run flagged events');
      const distinct = () => new Set(sub.on(`sfn/${device}/events`).map((m) => { const e = JSON.parse(m.text) as { id: string; seq: number }; return `${e.id}/${e.seq}`; })).size;
      await sub.waitFor('every event', () => distinct() >= logged.length, 30_000);
      assert.equal(distinct(), logged.length);
    } finally {
      run.child.kill('SIGKILL');
      await sub.close();
    }
  });

  it('starts with its broker down: scores from the first frame, connects when the broker comes, and delivers every event', async () => {
    const down = await mosquittoBroker();
    const device = `late-broker-${process.pid}`;
    try {
      // a persistent subscriber session, kept by Mosquitto while it is down
      const sub = await Recorder.open(down.url, `sfn/${device}/events`, { clientId: `late-sub-${process.pid}`, clean: false });
      await sub.close();
      await down.stop();
      const run = startCli(runArgs(device, path.join(dir, 'state-late'), down.url, ['--fps', '10']));
      try {
        await run.waitForLog(/broker not reachable yet/, 30_000);
        await run.waitForLog(/"msg":"event"/, 30_000); // an event made while the broker is away
        await down.start();
        assert.equal(await run.exited, 0, run.stderr.slice(-10).join('\n'));
      } finally {
        run.child.kill('SIGKILL');
      }
      const summary = JSON.parse(run.stdout.at(-1)!) as { scored: number; events: number; outbox_flushed: boolean };
      assert.equal(summary.outbox_flushed, true);
      assert.ok(summary.scored > 150, `scored ${summary.scored}`);
      const logged = run.records('event');
      assert.ok(logged.length > 0);
      // listening before the connection: the queued messages follow the CONNACK at once
      const got: string[] = [];
      const back = mqtt.connect(down.url, { protocolVersion: 4, clientId: `late-sub-${process.pid}`, clean: false, reconnectPeriod: 200 });
      back.on('message', (_t, p) => got.push(p.toString()));
      try {
        const distinct = () => new Set(got.map((t) => { const e = JSON.parse(t) as { id: string; seq: number }; return `${e.id}/${e.seq}`; })).size;
        for (let i = 0; i < 300 && distinct() < logged.length; i++) await new Promise((r) => setTimeout(r, 100));
        assert.equal(distinct(), logged.length, `${got.length} messages received, ${logged.length} event messages logged`);
      } finally {
        await back.endAsync(true);
      }
    } finally {
      await down.dispose();
    }
  });

  it('a broker that never comes: the run ends and says how many messages wait, and where', async () => {
    const device = `no-broker-${process.pid}`;
    const state = path.join(dir, 'state-none');
    const run = startCli(runArgs(device, state, `mqtt://127.0.0.1:${await freePort()}`, []));
    try {
      assert.equal(await run.exited, 0, run.stderr.slice(-10).join('\n'));
    } finally {
      run.child.kill('SIGKILL');
    }
    const summary = JSON.parse(run.stdout.at(-1)!) as { events: number; outbox_flushed: boolean };
    assert.equal(summary.outbox_flushed, false);
    const warn = jsonLines(run.stderr).find((l) => /messages were not delivered/.test(String(l['msg'])));
    assert.ok(warn, run.stderr.slice(-10).join('\n'));
    const outbox = String(warn['outbox']);
    assert.ok(outbox.startsWith(state), `the outbox is in the state folder: ${outbox}`);
    assert.match(String(warn['msg']), /sent by the next run with the same --state-dir/);
    const files = (await fs.readdir(outbox)).length;
    assert.ok(files > 0 && Number(warn['pending']) > 0, `${files} files in the outbox, ${String(warn['pending'])} reported`);
    // the same ECONNREFUSED on every retry (once a second) is reported at most once a minute
    const refused = jsonLines(run.stderr).filter((l) => String(l['msg']).startsWith('mqtt: connection error')).map((l) => Number(l['time']));
    assert.ok(refused.length >= 1);
    for (let i = 1; i < refused.length; i++) assert.ok(refused[i]! - refused[i - 1]! >= 59_000, `connection errors ${refused[i]! - refused[i - 1]!} ms apart`);
  });

  it('a folder with a corrupt frame part-way exits non-zero, after scoring what came before', async () => {
    const folder = path.join(dir, 'corrupt-folder');
    await fs.mkdir(folder);
    for (let i = 0; i < 60; i++) {
      const name = `${String(i).padStart(3, '0')}.png`;
      if (i === 50) await fs.writeFile(path.join(folder, name), 'not an image');
      else await fs.copyFile(path.join(frames, name), path.join(folder, name));
    }
    const run = startCli(['run', '--source', folder, '--model', model, '--config', config, '--device-id', `corrupt-${process.pid}`,
      '--state-dir', path.join(dir, 'state-corrupt'), '--clips', path.join(dir, 'clips-corrupt'), '--broker', broker.url, '--realtime=false']);
    assert.equal(await run.exited, 1);
    assert.ok(run.stderr.some((l) => /the source could not be read to its end: .*050/.test(l)), run.stderr.slice(-5).join('\n'));
    const summary = JSON.parse(run.stdout.at(-1)!) as { frames: number; source_error?: string };
    assert.equal(summary.frames, 50);
    assert.ok(summary.source_error);
  });

  it('a truncated mp4 exits non-zero', { skip: missingTools('ffmpeg') }, async () => {
    const mp4 = path.join(dir, 'cut.mp4');
    execFileSync('ffmpeg', ['-loglevel', 'error', '-y', '-framerate', '10', '-i', path.join(frames, '%03d.png'), '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-movflags', '+faststart', mp4]);
    const full = await fs.readFile(mp4);
    await fs.writeFile(mp4, full.subarray(0, Math.floor(full.length * 0.5)));
    const run = startCli(['run', '--source', mp4, '--model', model, '--config', config, '--device-id', `cut-${process.pid}`,
      '--state-dir', path.join(dir, 'state-cut'), '--clips', path.join(dir, 'clips-cut'), '--broker', broker.url, '--realtime=false']);
    assert.equal(await run.exited, 1, run.stderr.slice(-5).join('\n'));
    assert.ok(run.stderr.some((l) => /the source could not be read to its end/.test(l)));
  });
});
