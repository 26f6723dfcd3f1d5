import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { discoveryMessages } from '../../src/mqtt/discovery.js';
import { HEALTH_MAX_AGE_MS, HealthSampler, RunMetrics, sampleHealth } from '../../src/runtime/health.js';

/** A fake `/` with `files` (path -> content) under a temporary folder; removed after `fn`. */
async function withTree(files: Record<string, string>, fn: (root: string) => Promise<void>): Promise<void> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'sfn-health-'));
  try {
    for (const [f, text] of Object.entries(files)) {
      await fs.mkdir(path.dirname(path.join(root, f)), { recursive: true });
      await fs.writeFile(path.join(root, f), text);
    }
    await fn(root);
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }
}

const MEMINFO = 'MemTotal:        8000000 kB\nMemFree:         1000000 kB\nMemAvailable:    6000000 kB\nBuffers:          100000 kB\nCached:          2000000 kB\n';
const times = (user: number, sys: number, idle: number) => ({ times: { user, nice: 0, sys, idle, irq: 0 } });

describe('health and metrics', () => {
  it('samples CPU / memory (numbers or null, never throws)', async () => {
    const h = await sampleHealth();
    for (const k of ['cpu_pct', 'mem_used_mb', 'mem_total_mb', 'temp_c'] as const) assert.ok(h[k] === null || typeof h[k] === 'number', k);
    assert.ok(typeof h.mem_total_mb === 'number' && h.mem_total_mb > 0);
  });

  it('memory from /proc/meminfo (total - available), CPU % from CPU-time deltas, the CPU thermal zone', async () => {
    await withTree({
      'proc/meminfo': MEMINFO,
      'sys/class/thermal/thermal_zone0/type': 'acpitz\n', 'sys/class/thermal/thermal_zone0/temp': '80000\n',
      'sys/class/thermal/thermal_zone1/type': 'x86_pkg_temp\n', 'sys/class/thermal/thermal_zone1/temp': '52500\n',
      'sys/class/thermal/cooling_device0/type': 'Processor\n',
    }, async (root) => {
      let t = 0;
      let cpus = [times(100, 100, 800), times(300, 100, 600)]; // since boot: 600 busy of 2000
      const h = new HealthSampler({ root, cpus: () => cpus, now: () => t });
      assert.deepEqual(await h.sample(), { cpu_pct: 30, mem_used_mb: Math.round(2000000 / 1024), mem_total_mb: Math.round(8000000 / 1024), temp_c: 52.5 });
      cpus = [times(190, 110, 800), times(300, 100, 700)]; // +100 busy, +100 idle
      t += HEALTH_MAX_AGE_MS - 1;
      assert.equal((await h.sample()).cpu_pct, 30, 'a sample younger than HEALTH_MAX_AGE_MS is given again');
      t += 1;
      assert.equal((await h.sample()).cpu_pct, 50);
    });
  });

  it('hwmon CPU sensors (Jetson / AMD names), and null for what the machine does not report', async () => {
    await withTree({
      'proc/meminfo': 'MemTotal: 4000 kB\nMemFree: 1000 kB\nBuffers: 0 kB\nCached: 1048 kB\n', // no MemAvailable: free + buffers + cached
      'sys/class/hwmon/hwmon0/name': 'nvme\n', 'sys/class/hwmon/hwmon0/temp1_input': '90000\n',
      'sys/class/hwmon/hwmon1/name': 'k10temp\n', 'sys/class/hwmon/hwmon1/temp1_input': '61000\n', 'sys/class/hwmon/hwmon1/temp3_input': '64250\n',
    }, async (root) => {
      const h = new HealthSampler({ root, cpus: () => [], now: () => 0 });
      assert.deepEqual(await h.sample(), { cpu_pct: null, mem_used_mb: 2, mem_total_mb: 4, temp_c: 64.3 });
    });
    await withTree({ 'proc/meminfo': MEMINFO }, async (root) => {
      assert.equal((await new HealthSampler({ root }).sample()).temp_c, null);
    });
  });

  it('on this machine: total memory as `free` reports it, CPU % in [0, 100]', async (t) => {
    const h = await new HealthSampler().sample();
    const free = /^Mem:\s+(\d+)\s+(\d+)\s+\d+\s+\d+\s+\d+\s+(\d+)/m.exec(execFileSync('free', ['-k'], { encoding: 'utf8' }));
    if (!free) return t.skip('no `free -k` here');
    assert.equal(h.mem_total_mb, Math.round(Number(free[1]) / 1024));
    assert.ok(h.cpu_pct !== null && h.cpu_pct >= 0 && h.cpu_pct <= 100);
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
