/**
 * `cmd/learn` on a running device, against a real broker (a private Mosquitto; aedes when
 * Mosquitto is not installed): `run` watches a live HTTP stream (MPEG-TS made from Ped2 training
 * frames, served by a local HTTP server; the stream source reconnects when it ends) with a tiny
 * model; `cmd/learn` records the stream, learns it at the running grid (two training steps) in a
 * child process while frames keep being scored, reports progress on the retained `learn/state`,
 * and swaps the new model in without a restart. A second `cmd/learn` while one runs is refused
 * with a reason. A second learn whose post-swap check fails is rolled back to the first learnt
 * model. Waits are for messages, never for fixed times.
 */
import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readManifest } from '../../src/core/manifest.js';
import { LEARN_STAGES } from '../../src/learn/pipeline.js';
import { parseLearnRequest, type LearnAck, type LearnState } from '../../src/learn/service.js';
import { runCommand, type RunSummary } from '../../src/runtime/command.js';
import { quietExport, TINY, tinyWeights } from '../export/fixtures.js';
import { aedesBroker, HAS_MOSQUITTO, mosquittoBroker, type TestBroker } from '../mqtt/brokers.js';
import { Recorder } from '../mqtt/sub.js';
import { HAVE_PED2, ped2Video } from './fixtures.js';

describe('cmd/learn payloads', () => {
  it('takes {"minutes": N} (or nothing: the default) and refuses anything else with the reason', () => {
    assert.deepEqual(parseLearnRequest('{"minutes": 10}'), { minutes: 10 });
    assert.deepEqual(parseLearnRequest(''), { minutes: 5 });
    assert.deepEqual(parseLearnRequest('{}'), { minutes: 5 });
    assert.match((parseLearnRequest('{"minutes": 0}') as { error: string }).error, /minutes must be a number in \(0, 1440\]/);
    assert.match((parseLearnRequest('{"minutes": "10"}') as { error: string }).error, /minutes must be a number/);
    assert.match((parseLearnRequest('{"minute": 10}') as { error: string }).error, /unknown key\(s\) minute/);
    assert.match((parseLearnRequest('[1]') as { error: string }).error, /JSON object/);
    assert.match((parseLearnRequest('{"minutes":') as { error: string }).error, /malformed JSON/);
  });
});

describe('cmd/learn on a running device (real broker, live HTTP stream)', { skip: !HAVE_PED2 && 'Ped2 not available' }, () => {
  let dir = '';
  let model = '';
  let server: http.Server;
  let url = '';
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sfn-learn-svc-'));
    const w = await tinyWeights(dir, TINY, { seed: 3 });
    model = path.join(dir, 'tiny.onnx');
    await quietExport({ weights: w.base, out: model });
    const video = await ped2Video(dir, 'ts');
    server = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'video/mp2t' });
      createReadStream(video).pipe(res);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const a = server.address();
    url = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}/camera.ts`;
  });
  after(async () => {
    server?.closeAllConnections();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it('reports progress, swaps the learnt model in, refuses a second request, rolls back after a failed check', async () => {
    const broker: TestBroker = HAS_MOSQUITTO ? await mosquittoBroker() : await aedesBroker();
    const device = `learn-${process.pid}`;
    const base = `sfn/${device}`;
    const sub = await Recorder.open(broker.url, `${base}/#`);
    const config = path.join(dir, 'config.json');
    await fs.writeFile(config, JSON.stringify({ captions: { enabled: false }, clips: { enabled: false }, stats_interval_s: 1 }));
    const stop = new AbortController();
    let checked = 0;
    const run = runCommand({
      source: url, model, broker: broker.url, deviceId: device, config, realtime: 'false', providers: 'cpu',
      clips: path.join(dir, 'clips'), stateDir: path.join(dir, 'state'), signal: stop.signal,
      // the second learnt model fails its post-swap check, so that it is rolled back
      learn: { maxSteps: 2, checkFrames: 5, postSwapChecks: [() => (++checked === 2 ? 'the second model is refused by this test' : null)] },
    }, () => undefined);
    let summary: RunSummary | undefined;
    const states = () => sub.on(`${base}/learn/state`).map((m) => JSON.parse(m.text) as LearnState);
    const acks = () => sub.on(`${base}/learn/ack`).map((m) => JSON.parse(m.text) as LearnAck);
    const stats = () => sub.on(`${base}/stats`).map((m) => JSON.parse(m.text) as { model: { sha256: string } });
    const configModel = () => sub.on(`${base}/config/state`).map((m) => (JSON.parse(m.text) as { config: { model?: string } }).config.model).at(-1);
    try {
      const tiny = (await readManifest(model)).manifest.sha256;
      await sub.waitFor('stats of the running tiny model', () => stats().some((s) => s.model.sha256 === tiny), 60_000);
      await sub.client.publishAsync(`${base}/cmd/learn`, JSON.stringify({ minutes: 0.5 }), { qos: 1 });
      await sub.waitFor('the first ack', () => acks().length >= 1, 30_000);
      assert.deepEqual({ ...acks()[0]!, id: null }, { ok: true, id: null, error: null });
      const id1 = acks()[0]!.id!;
      await sub.client.publishAsync(`${base}/cmd/learn`, '{"minutes": 1}', { qos: 1 });
      await sub.waitFor('the second ack', () => acks().length >= 2, 30_000);
      const refused = acks()[1]!;
      assert.equal(refused.ok, false);
      assert.match(refused.error!, new RegExp(`a learn run is in progress \\(id ${id1}, stage [a-z-]+, started`));

      await sub.waitFor('the first learn to end', () => states().some((s) => s.id === id1 && s.state !== 'running'), 150_000);
      const s1 = states().filter((s) => s.id === id1);
      const done = s1.at(-1)!;
      assert.equal(done.state, 'done', JSON.stringify(done));
      if (done.state !== 'done') return;
      // progress: every stage reported while running, with percent and ETA fields, then the swap
      const running = s1.filter((s): s is Extract<LearnState, { state: 'running' }> => s.state === 'running');
      for (const st of [...LEARN_STAGES, 'swap']) assert.ok(running.some((s) => s.stage === st), `a running state for ${st}`);
      assert.ok(running.every((s) => s.percent >= 0 && s.percent <= 100 && 'eta_s' in s));
      assert.ok(running.some((s) => s.stage === 'train' && s.percent === 100));
      // the swap: the fp32 variant (the running model is fp32), at the running grid, calibrated
      assert.equal(done.previous, model);
      assert.equal(done.model, done.result.models.fp32);
      const m1 = (await readManifest(done.model)).manifest;
      assert.deepEqual([m1.model.width, m1.model.height, m1.model.color], [24, 16, 'gray']);
      assert.ok(m1.calibration);
      assert.equal(done.result.train.steps, 2);
      assert.equal(done.result.recording?.codec, 'copy');
      assert.ok(done.result.recording!.seconds > 20, `recorded ${done.result.recording!.seconds} s of the 27 s stream`);
      await sub.waitFor('stats of the learnt model', () => stats().some((s) => s.model.sha256 === m1.sha256), 60_000);
      assert.equal(configModel(), done.model, 'config/state names the new model');
      // the retained state is the result
      const late = await Recorder.open(broker.url, `${base}/learn/state`);
      try {
        await late.waitFor('the retained learn/state', (g) => g.length >= 1);
        assert.equal(late.got[0]!.retain, true);
        assert.equal((JSON.parse(late.got[0]!.text) as LearnState).state, 'done');
      } finally {
        await late.close();
      }

      // a second learn whose post-swap check fails: swapped in, checked, rolled back to the first
      await sub.client.publishAsync(`${base}/cmd/learn`, JSON.stringify({ minutes: 0.5 }), { qos: 1 });
      await sub.waitFor('the third ack', () => acks().length >= 3, 30_000);
      const a3 = acks()[2]!;
      assert.equal(a3.ok, true, a3.error ?? '');
      await sub.waitFor('the second learn to end', () => states().some((s) => s.id === a3.id && s.state !== 'running'), 150_000);
      const failed = states().filter((s) => s.id === a3.id).at(-1)!;
      assert.equal(failed.state, 'failed', JSON.stringify(failed));
      if (failed.state !== 'failed') return;
      assert.equal(failed.stage, 'post-swap');
      assert.equal(failed.rolled_back, true);
      assert.match(failed.error, /the second model is refused by this test; rolled back to /);
      assert.equal(failed.model, done.model, 'the first learnt model is in force again');
      assert.equal(checked, 2);
      await sub.waitFor('config/state back on the first learnt model', () => configModel() === done.model, 30_000);
      const n = stats().length;
      await sub.waitFor('stats of the first learnt model after the roll-back', () => stats().slice(n).some((s) => s.model.sha256 === m1.sha256), 60_000);
    } finally {
      stop.abort();
      summary = await run.catch(() => undefined);
      await sub.close();
      await broker.dispose();
    }
    assert.ok(summary, 'run ended cleanly');
    assert.ok(summary.reconnects >= 1, 'the live stream was reopened');
  });
});
