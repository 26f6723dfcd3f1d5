/**
 * Live sources: an MPEG-TS stream over HTTP (a local server) read by `StreamSource`, an unreachable
 * URL reported as a `VideoInputError`, and `run` reconnecting (with backoff) when the stream ends.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCommand } from '../../src/runtime/command.js';
import { inputArgs, isLiveSource, PROBE_ARGS, StreamSource } from '../../src/video/stream-source.js';
import { VideoInputError } from '../../src/video/errors.js';
import { quietExport, TINY, tinyWeights } from '../export/fixtures.js';
import { aedesBroker, freePort } from '../mqtt/brokers.js';
import { Recorder } from '../mqtt/sub.js';

describe('live stream sources', () => {
  let dir = '';
  let server: http.Server;
  let url = '';
  let requests = 0;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sfn-stream-'));
    const ts = path.join(dir, 'clip.ts');
    execFileSync('ffmpeg', ['-hide_banner', '-v', 'error', '-f', 'lavfi', '-i', 'testsrc=size=96x64:rate=10', '-frames:v', '20', '-pix_fmt', 'yuv420p', '-c:v', 'libx264', '-f', 'mpegts', ts]);
    const bytes = await fs.readFile(ts);
    server = http.createServer((_req, res) => {
      requests += 1;
      res.writeHead(200, { 'content-type': 'video/mp2t' }).end(bytes);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const a = server.address();
    url = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}/live.ts`;
  });
  after(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('tells live sources from files and picks ffmpeg input options', () => {
    assert.equal(isLiveSource('rtsp://cam/1'), true);
    assert.equal(isLiveSource('/dev/video0'), true);
    assert.equal(isLiveSource('clips/a.mp4'), false);
    assert.deepEqual(inputArgs('rtsp://cam/1'), [...PROBE_ARGS, '-rtsp_transport', 'tcp', '-i', 'rtsp://cam/1']);
    assert.deepEqual(inputArgs('http://cam/live.ts'), [...PROBE_ARGS, '-i', 'http://cam/live.ts']);
    assert.deepEqual(inputArgs('/dev/video2'), ['-f', 'v4l2', '-i', '/dev/video2']);
  });

  it('reads an HTTP stream at the model grid', async () => {
    const s = new StreamSource(url, { width: 24, height: 16, color: 'gray' });
    const got = [];
    for await (const f of s.frames()) got.push(f);
    await s.close();
    assert.equal(got.length, 20);
    assert.deepEqual(got.map((f) => f.index), [...Array(20).keys()]);
    assert.equal(got[0]!.data.length, 24 * 16);
    assert.ok(got[0]!.data.every((v) => v >= 0 && v <= 1));
  });

  it('an unreachable stream is a VideoInputError naming it', async () => {
    const port = await freePort();
    const s = new StreamSource(`http://127.0.0.1:${port}/none.ts`, { width: 24, height: 16, color: 'gray' });
    await assert.rejects(async () => {
      for await (const _ of s.frames()) void _;
    }, (err: unknown) => err instanceof VideoInputError && err.message.includes(`127.0.0.1:${port}`));
  });

  it('run reconnects when the stream ends, and stops on its signal', async () => {
    const w = await tinyWeights(dir, TINY, { seed: 3 });
    const model = path.join(dir, 'tiny.onnx');
    await quietExport({ weights: w.base, out: model });
    const broker = await aedesBroker();
    const stop = new AbortController();
    const before = requests;
    const watcher = setInterval(() => {
      if (requests - before >= 2) stop.abort();
    }, 50);
    try {
      const s = await runCommand({ source: url, model, broker: broker.url, deviceId: 'live', realtime: 'false', providers: 'cpu',
        clips: path.join(dir, 'clips'), stateDir: path.join(dir, 'state'), signal: stop.signal }, () => undefined);
      assert.ok(s.reconnects >= 1, `reconnects ${s.reconnects}`);
      assert.ok(s.frames >= 20, `frames ${s.frames}`);
      assert.equal(s.outbox_flushed, true);
    } finally {
      clearInterval(watcher);
      await broker.dispose();
    }
  });

  it('config/set swaps the model variant without a restart; a bad model is refused and the old one keeps running', async () => {
    const m1 = path.join(dir, 'tiny.onnx');
    const w2 = await tinyWeights(dir, TINY, { seed: 4, name: 'tiny2' });
    const m2 = path.join(dir, 'tiny2.onnx');
    await quietExport({ weights: w2.base, out: m2 });
    const sha2 = JSON.parse(await fs.readFile(path.join(dir, 'tiny2.manifest.json'), 'utf8')).sha256 as string;
    const broker = await aedesBroker();
    const base = 'sfn/swap';
    const sub = await Recorder.open(broker.url, `${base}/#`);
    const stop = new AbortController();
    const acks = () => sub.on(`${base}/config/ack`).map((m) => JSON.parse(m.text) as { version: number; ok: boolean; error: string | null });
    try {
      const run = runCommand({ source: url, model: m1, broker: broker.url, deviceId: 'swap', realtime: 'false', providers: 'cpu',
        clips: path.join(dir, 'clips-swap'), stateDir: path.join(dir, 'state-swap'), signal: stop.signal }, () => undefined);
      await sub.waitFor('online', (g) => g.some((m) => m.topic === `${base}/availability` && m.text === 'online'));
      await sub.client.publishAsync(`${base}/config/set`, JSON.stringify({ model: path.join(dir, 'missing.onnx') }), { qos: 1 });
      await sub.waitFor('ack 1', () => acks().length >= 1);
      assert.equal(acks()[0]!.ok, false);
      assert.match(acks()[0]!.error ?? '', /model: cannot load .*missing\.onnx/);
      await sub.client.publishAsync(`${base}/config/set`, JSON.stringify({ model: m2, stats_interval_s: 1 }), { qos: 1 });
      await sub.waitFor('ack 2', () => acks().length >= 2);
      assert.deepEqual(acks()[1], { version: 1, ok: true, error: null });
      await sub.waitFor('stats from the new model', (g) => g.some((m) => m.topic === `${base}/stats` && JSON.parse(m.text).model.sha256 === sha2), 30_000);
      await sub.client.publishAsync(`${base}/cmd/snapshot`, '', { qos: 1 });
      await sub.waitFor('snapshot', (g) => g.some((m) => m.topic === `${base}/snapshot`));
      const snap = JSON.parse(sub.on(`${base}/snapshot`)[0]!.text) as { path: string; frame: number };
      const jpg = await fs.readFile(snap.path);
      assert.equal(jpg.readUInt16BE(0), 0xffd8);
      stop.abort();
      const s = await run;
      assert.equal(s.model, m2);
    } finally {
      stop.abort();
      await sub.close();
      await broker.dispose();
    }
  });
});
