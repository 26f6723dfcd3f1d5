/**
 * The configuration controller's layers across restarts: a remote change persists, the layer under
 * which the source last delivered frames is remembered, and `fallBack` returns to it (or to the file
 * layer), so a change that fails to start cannot keep a device down.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigController } from '../../src/runtime/controller.js';

describe('ConfigController', () => {
  let dir = '';
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sfn-ctl-'));
  });
  after(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('falls back to the last configuration that started, persisted across a restart', async () => {
    const file = path.join(dir, 'a', 'remote-config.json');
    const { controller: c } = await ConfigController.open(undefined, file);
    assert.equal(c.unproven, false);
    assert.equal(await c.fallBack(), null, 'nothing to fall back to');
    assert.equal((await c.apply('{"min_duration_frames": 5}')).ok, true);
    assert.equal(c.unproven, true);
    await c.markStarted();
    assert.equal(c.unproven, false);
    assert.equal((await c.apply('{"source": "/nonexistent/cam.mp4"}')).version, 2);
    // a restart reads the unproven change and what started before it
    const { controller: c2 } = await ConfigController.open(undefined, file);
    assert.equal(c2.current.source, '/nonexistent/cam.mp4');
    assert.equal(c2.unproven, true);
    const seen: (string | undefined)[] = [];
    c2.onChange((cfg) => seen.push(cfg.source));
    assert.equal(await c2.fallBack(), 3);
    assert.deepEqual(seen, [undefined]);
    assert.equal(c2.current.source, undefined);
    assert.equal(c2.current.min_duration_frames, 5, 'the change that started is kept');
    assert.equal(c2.unproven, false);
    const { controller: c3 } = await ConfigController.open(undefined, file);
    assert.equal(c3.version, 3);
    assert.equal(c3.current.source, undefined);
    assert.equal(c3.current.min_duration_frames, 5);
    assert.equal((await fs.stat(file)).mode & 0o777, 0o600);
  });

  it('with nothing started yet, falls back to the file layer; an invalid persisted layer gives way to the one that started', async () => {
    const file = path.join(dir, 'b', 'remote-config.json');
    await fs.mkdir(path.dirname(file));
    await fs.writeFile(file, JSON.stringify({ version: 4, layer: { source: '/nonexistent/cam.mp4' } }));
    const { controller: c } = await ConfigController.open(undefined, file);
    assert.equal(c.unproven, true);
    assert.equal(await c.fallBack(), 5);
    assert.equal(c.current.source, undefined);
    await fs.writeFile(file, JSON.stringify({ version: 7, layer: { threshold: { on: 0.01 } }, started: { version: 6, layer: { min_duration_frames: 3 } } }));
    const { controller: d, warning } = await ConfigController.open(undefined, file);
    assert.match(warning ?? '', /threshold\.on.*using the last one that started \(version 6\)/);
    assert.equal(d.current.min_duration_frames, 3);
  });

  it('refuses a remote broker (file only) and keeps the file layer\'s broker', async () => {
    const cfg = path.join(dir, 'broker.json');
    await fs.writeFile(cfg, '{"broker": "mqtt://10.0.0.2:1883"}');
    const { controller: c } = await ConfigController.open(cfg, path.join(dir, 'remote-broker', 'remote-config.json'));
    assert.equal(c.current.broker, 'mqtt://10.0.0.2:1883');
    const before = c.version;
    const ack = await c.apply('{"broker": ["mqtt://203.0.113.9:1883"], "min_duration_frames": 5}');
    assert.deepEqual(ack, { version: before, ok: false, error: 'broker: set in the --config file only; a remote message cannot move the device to another broker' });
    assert.equal(c.current.broker, 'mqtt://10.0.0.2:1883');
    assert.equal(c.current.min_duration_frames, 8, 'nothing of a refused change applies');
  });
});
