/**
 * The `cameras` list of the runtime configuration (src/core/runtime-config.ts): each camera takes
 * the device-wide values as defaults and sets its own; ids are checked (pattern, topic words,
 * distinct); a camera whose merged values are invalid is named; secrets of every camera are
 * redacted in published copies; `config/set` cannot change the list (controller.ts).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { cameraConfig, REDACTED, redactSecrets, RESERVED_CAMERA_IDS, RuntimeConfigSchema } from '../../src/core/runtime-config.js';
import { ConfigController } from '../../src/runtime/controller.js';

describe('cameras in the runtime configuration', () => {
  it('a camera takes the device-wide values where it sets none, and its own where it does', () => {
    const c = RuntimeConfigSchema.parse({ threshold: { on: 5 }, clips: { pre_roll_s: 1 }, cameras: [{ id: 'front', source: 'a.mp4' }, { id: 'yard', source: 'b.mp4', threshold: { on: 9 }, clips: { enabled: false } }] });
    const front = cameraConfig(c, c.cameras![0]!);
    const yard = cameraConfig(c, c.cameras![1]!);
    assert.equal(front.source, 'a.mp4');
    assert.deepEqual([front.threshold.on, front.clips.enabled, front.clips.pre_roll_s], [5, true, 1]);
    assert.deepEqual([yard.threshold.on, yard.threshold.off, yard.clips.enabled, yard.clips.pre_roll_s], [9, 2, false, 1]);
    assert.equal(yard.cameras, undefined, 'a camera\'s configuration has no camera list');
  });

  it('refuses bad ids, topic words, duplicates and unknown keys; names a camera whose merged values are invalid', () => {
    for (const id of ['', 'a b', 'x/y', 'c'.repeat(65), ...RESERVED_CAMERA_IDS]) {
      assert.equal(RuntimeConfigSchema.safeParse({ cameras: [{ id, source: 's' }] }).success, false, id);
    }
    assert.equal(RuntimeConfigSchema.safeParse({ cameras: [{ id: 'a', source: 's' }, { id: 'a', source: 't' }] }).success, false);
    assert.equal(RuntimeConfigSchema.safeParse({ cameras: [{ id: 'a', source: 's', fps: 3 }] }).success, false);
    assert.equal(RuntimeConfigSchema.safeParse({ cameras: [{ id: 'a', source: 's', threshold: { on: 0.01 } }] }).success, false, 'bounds hold for a camera\'s own values');
    const c = RuntimeConfigSchema.parse({ threshold: { on: 5, off: 4 }, cameras: [{ id: 'a', source: 's', threshold: { on: 3 } }] });
    assert.throws(() => cameraConfig(c, c.cameras![0]!), /cameras\.a: threshold: threshold\.off must be <= threshold\.on/);
  });

  it('published copies redact every camera\'s streaming token', () => {
    const c = RuntimeConfigSchema.parse({ cameras: [{ id: 'a', source: 's', streaming: { token: 'secret-token-1' } }] });
    assert.equal((redactSecrets(c).cameras![0]!.streaming as { token: string }).token, REDACTED);
  });

  it('config/set cannot change the camera list; a camera controller rebases on new device-wide values and keeps its own layer', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sfn-cams-cfg-'));
    try {
      const file = path.join(dir, 'c.json');
      await fs.writeFile(file, JSON.stringify({ cameras: [{ id: 'a', source: 's' }] }));
      const { controller: device } = await ConfigController.open(file, path.join(dir, 'device.json'));
      const ack = await device.apply(JSON.stringify({ cameras: [{ id: 'b', source: 't' }] }));
      assert.equal(ack.ok, false);
      assert.match(ack.error ?? '', /^cameras: set in the --config file only/);
      const entry = device.current.cameras![0]!;
      const { controller: cam } = await ConfigController.over(cameraConfig(device.current, entry), path.join(dir, 'a.json'));
      assert.equal((await cam.apply(JSON.stringify({ stats_interval_s: 3 }))).ok, true);
      const seen: number[] = [];
      cam.onChange((c) => seen.push(c.min_duration_frames));
      assert.equal((await device.apply(JSON.stringify({ min_duration_frames: 12 }))).ok, true);
      assert.equal(cam.rebase(cameraConfig(device.current, entry)), null);
      assert.deepEqual([cam.current.min_duration_frames, cam.current.stats_interval_s, cam.current.source], [12, 3, 's']);
      assert.deepEqual(seen, [12]);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
