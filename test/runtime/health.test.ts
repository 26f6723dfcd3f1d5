import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { discoveryMessages } from '../../src/mqtt/discovery.js';
import { RunMetrics, sampleHealth } from '../../src/runtime/health.js';

describe('health and metrics', () => {
  it('samples CPU / memory (numbers or null, never throws)', async () => {
    const h = await sampleHealth();
    for (const k of ['cpu_pct', 'mem_used_mb', 'mem_total_mb', 'temp_c'] as const) assert.ok(h[k] === null || typeof h[k] === 'number', k);
    assert.ok(typeof h.mem_total_mb === 'number' && h.mem_total_mb > 0);
  });

  it('serves the stats counters as Prometheus metrics', async () => {
    const m = new RunMetrics();
    m.frames.inc(12);
    m.events.inc(1);
    m.inEvent.set(1);
    const { server, port } = await m.serve(0);
    try {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      assert.match(text, /^sfn_frames_total 12$/m);
      assert.match(text, /^process_resident_memory_bytes \d+/m, "process metrics for a leak hunt");
      assert.match(text, /^nodejs_heap_size_used_bytes \d+/m);
      assert.match(text, /^sfn_events_total 1$/m);
      assert.match(text, /^sfn_event_active 1$/m);
      assert.equal((await fetch(`http://127.0.0.1:${port}/other`)).status, 404);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('Home Assistant discovery: score from stats, event active from the retained event state, source state', () => {
    const d = discoveryMessages('cam 1');
    assert.deepEqual(d.map((x) => x.topic), [
      'homeassistant/sensor/sfn_cam_1/anomaly_score/config', 'homeassistant/binary_sensor/sfn_cam_1/event_active/config', 'homeassistant/sensor/sfn_cam_1/source_state/config',
    ]);
    assert.deepEqual(d.map((x) => x.payload.state_topic), ['sfn/cam 1/stats', 'sfn/cam 1/event/state', 'sfn/cam 1/source/state']);
    for (const x of d) assert.equal(x.payload.availability_topic, 'sfn/cam 1/availability');
  });
});
