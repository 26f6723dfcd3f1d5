/**
 * A live camera that dies and comes back: a real ffmpeg serving MPEG-TS over HTTP on loopback is
 * killed and restarted while `sfn-edge run` (a real process) watches it. Each drop and each return
 * is published on the retained `source/state`, frames flow again soon after the camera returns, and
 * SIGTERM during the reconnect backoff ends the run promptly with exit 0. The latencies are printed
 * (test diagnostics); the assertions are generous so that a busy machine does not fail them.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { quietExport, TINY, tinyWeights } from '../export/fixtures.js';
import { freePort, mosquittoBroker, type TestBroker } from '../mqtt/brokers.js';
import { missingTools } from '../tools.js';
import { Recorder } from '../mqtt/sub.js';
import { startCli } from '../cli-process.js';

const SKIP = missingTools('ffmpeg', 'mosquitto');
/** drops of the camera in the test (SFN_SOURCE_DROPS raises it for a longer measurement) */
const DROPS = Number(process.env.SFN_SOURCE_DROPS ?? 3);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a live source killed and restarted (real ffmpeg over HTTP, Mosquitto)', { skip: SKIP }, () => {
  let dir = '';
  let model = '';
  let config = '';
  let broker: TestBroker;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sfn-live-faults-'));
    const w = await tinyWeights(dir, TINY, { seed: 13 });
    model = path.join(dir, 'tiny.onnx');
    await quietExport({ weights: w.base, out: model });
    config = path.join(dir, 'config.json');
    await fs.writeFile(config, JSON.stringify({ captions: { enabled: false }, clips: { enabled: false }, streaming: { enabled: false } }));
    broker = await mosquittoBroker();
  });
  after(async () => {
    await broker?.dispose();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it(`${DROPS} drops: a source state for each drop and return, frames again soon after each return, SIGTERM during the backoff honoured`, async (t) => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/live.ts`;
    let camera: ChildProcess | null = null;
    const startCamera = () => {
      camera = spawn('ffmpeg', ['-hide_banner', '-v', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc=size=96x64:rate=10', '-c:v', 'libx264', '-g', '5',
        '-pix_fmt', 'yuv420p', '-f', 'mpegts', '-listen', '1', url], { stdio: 'ignore' });
    };
    const killCamera = async () => {
      const c = camera;
      camera = null;
      if (!c || c.exitCode !== null) return;
      await new Promise<void>((r) => {
        c.once('exit', () => r());
        c.kill('SIGKILL');
      });
    };
    const device = `live-faults-${process.pid}`;
    const sub = await Recorder.open(broker.url, `sfn/${device}/source/state`);
    const states = () => sub.got.map((m) => JSON.parse(m.text) as { state: string; since: string; reason: string | null });
    startCamera();
    const run = startCli(['run', '--source', url, '--model', model, '--config', config, '--device-id', device, '--broker', broker.url,
      '--state-dir', path.join(dir, 'state'), '--clips', path.join(dir, 'clips')]);
    const returns: number[] = [];
    try {
      await sub.waitFor('source up', () => states().some((s) => s.state === 'up'), 60_000);
      for (let i = 0; i < DROPS; i++) {
        const seen = sub.got.length;
        await killCamera();
        await sub.waitFor(`drop ${i + 1} reported`, () => states().slice(seen).some((s) => s.state === 'down'), 30_000);
        await sleep(1500);
        const after = sub.got.length;
        const back = Date.now();
        startCamera();
        await sub.waitFor(`frames again after return ${i + 1}`, () => states().slice(after).some((s) => s.state === 'up'), 30_000);
        returns.push(Date.now() - back);
        await sleep(1000);
      }
      // the camera goes away for good; SIGTERM while the run waits to reconnect
      const seen = sub.got.length;
      await killCamera();
      await sub.waitFor('reconnecting', () => states().slice(seen).some((s) => s.state === 'reconnecting'), 30_000);
      const term = Date.now();
      run.child.kill('SIGTERM');
      assert.equal(await run.exited, 0, run.stderr.slice(-8).join('\n'));
      const stopMs = Date.now() - term;
      t.diagnostic(`frames again after each return (ms, from the camera's restart to source/state up): ${returns.join(', ')}`);
      t.diagnostic(`SIGTERM during the backoff to exit: ${stopMs} ms`);
      assert.ok(Math.max(...returns) < 15_000, `returns ${returns.join(', ')} ms`);
      assert.ok(stopMs < 15_000, `stop ${stopMs} ms`);
      const downs = states().filter((s) => s.state === 'down');
      assert.ok(downs.length >= DROPS + 1, `${downs.length} down states`);
      assert.ok(downs.every((s) => typeof s.reason === 'string' && s.reason.length > 0 && !Number.isNaN(Date.parse(s.since))));
      assert.equal(sub.got.at(-1)!.retain, false); // live delivery; the retained copy is checked below
      const late = await Recorder.open(broker.url, `sfn/${device}/source/state`);
      try {
        await late.waitFor('retained source state', (g) => g.length > 0, 10_000);
        assert.equal(late.got[0]!.retain, true);
        assert.notEqual((JSON.parse(late.got[0]!.text) as { state: string }).state, 'up');
      } finally {
        await late.close();
      }
    } finally {
      run.child.kill('SIGKILL');
      await killCamera();
      await sub.close();
    }
  });
});

describe('a live source that never comes (nothing listens on its port)', { skip: SKIP }, () => {
  let dir = '';
  let broker: TestBroker;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sfn-live-never-'));
    broker = await mosquittoBroker();
  });
  after(async () => {
    await broker?.dispose();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it('12 reconnects without a MaxListenersExceededWarning; SIGTERM during the backoff: exit 0', { timeout: 180_000 }, async () => {
    const w = await tinyWeights(dir, TINY, { seed: 14 });
    const model = path.join(dir, 'tiny.onnx');
    await quietExport({ weights: w.base, out: model });
    const config = path.join(dir, 'config.json');
    await fs.writeFile(config, JSON.stringify({ captions: { enabled: false }, clips: { enabled: false }, streaming: { enabled: false } }));
    const device = `never-${process.pid}`;
    const sub = await Recorder.open(broker.url, `sfn/${device}/source/state`);
    const run = startCli(['run', '--source', `http://127.0.0.1:${await freePort()}/none.ts`, '--model', model, '--config', config, '--device-id', device,
      '--broker', broker.url, '--providers', 'cpu', '--state-dir', path.join(dir, 'state'), '--clips', path.join(dir, 'clips')]);
    try {
      const reconnecting = () => sub.got.filter((m) => (JSON.parse(m.text) as { state: string }).state === 'reconnecting').length;
      await sub.waitFor('12 reconnects', () => reconnecting() >= 12, 120_000);
      run.child.kill('SIGTERM');
      assert.equal(await run.exited, 0, run.stderr.slice(-8).join('\n'));
      assert.deepEqual(run.stderr.filter((l) => /MaxListenersExceededWarning/.test(l)), []);
    } finally {
      run.child.kill('SIGKILL');
      await sub.close();
    }
  });
});
