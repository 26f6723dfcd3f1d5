import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { applyPatch, brokerOf, configJsonSchema, defaultConfig, loadLayer, MAX_CONFIG_BYTES, writeJsonAtomic } from '../../src/core/runtime-config.js';

describe('runtime config', () => {
  it('broker: one URL or a cluster\'s nodes in the file layer; other schemes, spaces and commas refused', () => {
    const one = applyPatch('{"broker": "mqtts://broker.site:8883"}', defaultConfig());
    assert.ok(one.ok);
    assert.equal(brokerOf(one.config), 'mqtts://broker.site:8883');
    const nodes = applyPatch('{"broker": ["mqtt://10.0.0.2:1883", "mqtt://10.0.0.3:1883"]}', defaultConfig());
    assert.ok(nodes.ok);
    assert.equal(brokerOf(nodes.config), 'mqtt://10.0.0.2:1883,mqtt://10.0.0.3:1883');
    assert.equal(brokerOf(defaultConfig()), undefined);
    for (const bad of ['"http://10.0.0.2"', '"mqtt://a,mqtt://b"', '"mqtt:// spaced"', '[]', JSON.stringify(Array(17).fill('mqtt://a'))]) {
      const r = applyPatch(`{"broker": ${bad}}`, defaultConfig());
      assert.equal(r.ok, false, bad);
      assert.match(r.ok ? '' : r.error, /broker/);
    }
  });

  it('defaults are valid; a valid partial change is deep-merged', () => {
    const cur = defaultConfig();
    const r = applyPatch(JSON.stringify({ threshold: { on: 9 }, clips: { pre_roll_s: 1 } }), cur);
    assert.ok(r.ok);
    assert.equal(r.config.threshold.on, 9);
    assert.equal(r.config.threshold.off, cur.threshold.off);
    assert.equal(r.config.clips.pre_roll_s, 1);
    assert.equal(r.config.clips.post_roll_s, cur.clips.post_roll_s);
    assert.deepEqual(cur, defaultConfig(), 'the running config object is not modified');
  });

  const INVALID: [string, string, RegExp][] = [
    ['malformed JSON', '{"threshold": ', /malformed JSON/],
    ['not an object', '[1,2]', /must be a JSON object/],
    ['wrong type', '{"min_duration_frames": "ten"}', /min_duration_frames: .*number/i],
    ['not an integer', '{"min_duration_frames": 2.5}', /min_duration_frames/],
    ['unknown key', '{"treshold": 3}', /Unrecognized key.*treshold/],
    ['unknown nested key', '{"clips": {"fps": 3}}', /clips: Unrecognized key.*fps/],
    ['out of range', '{"smoothing_sigma": 500}', /smoothing_sigma/],
    ['off above on', '{"threshold": {"on": 2, "off": 5}}', /off must be <= threshold.on/],
    ['warm-up above window', '{"baseline_window": 10, "baseline_warmup": 50}', /baseline_warmup/],
    ['bad enum', '{"measure": "psnr"}', /measure/],
    ['a __proto__ key', '{"__proto__": {"source": "/etc/passwd"}}', /__proto__: the keys __proto__, constructor and prototype are refused/],
    ['a nested __proto__ key', '{"threshold": {"__proto__": {"on": 999}}}', /threshold\.__proto__/],
    ['a constructor key', '{"constructor": {"prototype": {"source": "/etc/passwd"}}}', /constructor/],
    ['a prototype key', '{"clips": {"prototype": 1}}', /clips\.prototype/],
    ['oversized', JSON.stringify({ measure: 'mse', pad: 'x'.repeat(MAX_CONFIG_BYTES) }), /too large/],
  ];
  for (const [what, payload, reason] of INVALID) {
    it(`refuses ${what} with its reason`, () => {
      const cur = defaultConfig();
      const r = applyPatch(payload, cur);
      assert.equal(r.ok, false);
      if (!r.ok) assert.match(r.error, reason);
      assert.deepEqual(cur, defaultConfig());
      assert.equal(({} as Record<string, unknown>).source, undefined, 'Object.prototype untouched');
      assert.equal(cur.source, undefined);
    });
  }

  it('JSON Schema is derived from the zod tree and matches the committed file', async () => {
    const s = configJsonSchema() as { properties: Record<string, { description?: string }>; additionalProperties: boolean };
    assert.equal(s.additionalProperties, false);
    assert.ok(s.properties.threshold?.description);
    const committed = JSON.parse(await fs.readFile('schemas/runtime-config.schema.json', 'utf8'));
    assert.deepEqual(committed, s, 'regenerate with: node --import tsx scripts/runtime-schema.ts');
  });

  it('layer files load (a missing one is refused with its path) and atomic writes replace whole files', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sfn-cfg-'));
    try {
      const f = path.join(dir, 'sub', 'c.json');
      await assert.rejects(loadLayer(f, defaultConfig()), /c\.json: no such configuration file; give the path of an existing JSON file/);
      await writeJsonAtomic(f, { threshold: { on: 7 } });
      const l = await loadLayer(f, defaultConfig());
      assert.equal(l.config.threshold.on, 7);
      assert.deepEqual(await fs.readdir(path.dirname(f)), ['c.json']);
      assert.equal((await fs.stat(f)).mode & 0o777, 0o600, 'owner-only: the remote layer can hold the streaming token');
      await fs.writeFile(f, '{"nope": 1}');
      await assert.rejects(loadLayer(f, defaultConfig()), /c\.json: invalid configuration/);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
