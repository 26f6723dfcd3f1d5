/**
 * The streams bench (scripts/bench/streams.ts): its pure helpers (streams-lib.ts), and one short
 * real run of the driver (1 camera, ~8 s) whose JSON must hold a row with scored frames and events
 * counted from the messages the run sent. No timing thresholds: the machine may be busy.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import {
  aggregateRow, cpuPct, formatTable, parseProcStat, parseStreamsArgs, percentile, rssMbOf, sampleOf, ticksBetween,
  type EventSample, type StatsSample,
} from '../../scripts/bench/streams-lib.js';
import { missingTools } from '../tools.js';

describe('streams bench helpers', () => {
  it('parses the arguments, with defaults, and refuses bad ones', () => {
    const o = parseStreamsArgs(['--counts', '1,4, 8', '--fps', '10', '--seconds', '60', '--json', '--out', 'bench/streams.json']);
    assert.deepEqual(o.counts, [1, 4, 8]);
    assert.equal(o.fps, 10);
    assert.equal(o.seconds, 60);
    assert.equal(o.json, true);
    assert.equal(o.out, 'bench/streams.json');
    const d = parseStreamsArgs([]);
    assert.deepEqual(d.counts, [1, 4, 8, 16, 24]);
    assert.equal(d.json, false);
    assert.equal(d.out, undefined);
    assert.equal(d.model, undefined);
    for (const bad of [['--counts', '0'], ['--counts', '1,x'], ['--counts', '33'], ['--counts', ''], ['--fps', '0'], ['--seconds', 'abc'], ['--nope']]) {
      assert.throws(() => parseStreamsArgs(bad), Error, bad.join(' '));
    }
  });

  it('percentile interpolates between closest ranks; null for nothing', () => {
    assert.equal(percentile([], 50), null);
    assert.equal(percentile([7], 95), 7);
    assert.equal(percentile([3, 1, 2, 4], 50), 2.5);
    assert.equal(percentile([1, 2, 3, 4, 5], 0), 1);
    assert.equal(percentile([1, 2, 3, 4, 5], 100), 5);
    assert.ok(Math.abs(percentile([10, 20, 30, 40, 50, 60, 70, 80, 90, 100], 95)! - 95.5) < 1e-9);
  });

  it('reads pid, ppid and utime + stime from /proc/<pid>/stat, also with spaces and parentheses in the name', () => {
    const rest = 'S 41 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 12 0 1000 500000000 4000 18446744073709551615';
    assert.deepEqual(parseProcStat(`4243 (node) ${rest}`), { pid: 4243, ppid: 41, ticks: 325 });
    assert.deepEqual(parseProcStat(`4243 (a (b) c) ${rest}`), { pid: 4243, ppid: 41, ticks: 325 });
    assert.equal(parseProcStat(''), null);
  });

  it('CPU % from tick deltas (100 % = one core), and ticks spent by processes present in both snapshots', () => {
    assert.equal(cpuPct({ ticks: 100, atMs: 0 }, { ticks: 250, atMs: 1000 }, 100), 150);
    assert.equal(cpuPct({ ticks: 100, atMs: 0 }, { ticks: 150, atMs: 2000 }, 100), 25);
    assert.equal(cpuPct({ ticks: 100, atMs: 0 }, { ticks: 90, atMs: 1000 }, 100), null);
    assert.equal(cpuPct({ ticks: 100, atMs: 5 }, { ticks: 100, atMs: 5 }, 100), null);
    const prev = new Map([[1, 10], [2, 20], [3, 30]]);
    const cur = new Map([[1, 15], [2, 20], [4, 99]]);
    assert.equal(ticksBetween(prev, cur), 5);
  });

  it('RSS in MiB from /proc/<pid>/status', () => {
    assert.equal(rssMbOf('Name:\tnode\nVmPeak:\t 9000 kB\nVmRSS:\t  204800 kB\nThreads: 12\n'), 200);
    assert.equal(rssMbOf('Name:\tzombie\n'), null);
  });

  it('turns stats and events messages into samples, and ignores the rest', () => {
    const s = sampleOf('bench', 'sfn/bench/cam01/stats', JSON.stringify({ time: '2026-01-01T00:00:10.000Z', fps: 9.5, input_fps: 10, skipped_fps: 0.5 }), 1);
    assert.deepEqual(s, { stats: { camera: 'cam01', timeMs: Date.parse('2026-01-01T00:00:10.000Z'), fps: 9.5, input_fps: 10, skipped_fps: 0.5 } });
    const e = sampleOf('bench', 'sfn/bench/cam02/events', JSON.stringify({ type: 'new', last: { frame: 9, time: '2026-01-01T00:00:10.000Z' } }), Date.parse('2026-01-01T00:00:10.120Z'));
    assert.deepEqual(e, { event: { camera: 'cam02', type: 'new', arrivedMs: Date.parse('2026-01-01T00:00:10.120Z'), frameMs: Date.parse('2026-01-01T00:00:10.000Z') } });
    const end = sampleOf('bench', 'sfn/bench/cam02/events', JSON.stringify({ type: 'end', last: { frame: 9, time: '2026-01-01T00:00:10.000Z' } }), 5);
    assert.deepEqual(end, { event: { camera: 'cam02', type: 'end', arrivedMs: 5, frameMs: null } });
    assert.equal(sampleOf('bench', 'sfn/other/cam01/stats', '{}', 1), null);
    assert.equal(sampleOf('bench', 'sfn/bench/cam01/availability', 'online', 1), null);
    assert.equal(sampleOf('bench', 'sfn/bench/cam01/stats', 'not json', 1), null);
    assert.equal(sampleOf('bench', 'sfn/bench/cam01/events/x/clip', '{}', 1), null);
  });

  it('aggregates one window into a row: per-camera rates weighted by interval, a silent camera at 0, latency of new/update only', () => {
    const T = 1_000_000;
    const st = (camera: string, s: number, fps: number, skipped = 0): StatsSample => ({ camera, timeMs: T + s * 1000, fps, input_fps: 10, skipped_fps: skipped });
    const stats = [
      st('a', 0, 1), st('a', 5, 10), st('a', 10, 10, 0.2), st('a', 20, 7), // 'a' in the window (0, 20]: 10 over 5 s, 10 over 5 s, 7 over 10 s
      st('b', 5, 8, 1), st('b', 10, 8, 1), st('b', 30, 99), // 'b': only the first two are inside
    ];
    const ev = (type: string, arrived: number, frame: number | null): EventSample => ({ camera: 'a', type, arrivedMs: T + arrived, frameMs: frame === null ? null : T + frame });
    const events = [ev('new', 100, 0), ev('update', 2500, 2300), ev('end', 3000, null), ev('new', 25_000, 24_000), ev('new', -5, -50)];
    const proc = [{ atMs: T + 1000, cpuPct: 50, childrenCpuPct: 4, rssMb: 180 }, { atMs: T + 2000, cpuPct: 70, childrenCpuPct: null, rssMb: 190.44 }, { atMs: T + 3000, cpuPct: null, childrenCpuPct: 6, rssMb: null }];
    const r = aggregateRow({ cameraIds: ['a', 'b', 'c'], fps: 10, statsS: 5, startMs: T, endMs: T + 20_000, stats, events, proc });
    assert.equal(r.cameras, 3);
    // a: (10*5 + 10*5 + 7*10) / 20 = 8.5; b: 8; c: nothing -> 0
    assert.equal(r.fps_per_camera_median, 8);
    assert.equal(r.fps_per_camera_min, 0);
    assert.equal(r.skipped_total, Math.round(0.2 * 5 + 1 * 5 + 1 * 5));
    assert.equal(r.cpu_pct, 60);
    assert.equal(r.decoders_cpu_pct, 5);
    assert.equal(r.rss_mb_max, 190.4);
    assert.equal(r.events, 1);
    assert.equal(r.event_messages, 3);
    assert.equal(r.event_latency_ms_p50, 150);
    assert.equal(r.event_latency_ms_p95, 195);
    assert.equal(r.keeps_up, false);
    const ok = aggregateRow({ cameraIds: ['a'], fps: 10, statsS: 5, startMs: T, endMs: T + 10_000, stats: [st('a', 5, 9.5), st('a', 10, 9.9)], events: [], proc: [] });
    assert.equal(ok.keeps_up, true);
    assert.equal(ok.event_latency_ms_p50, null);
    assert.equal(ok.cpu_pct, null);
    assert.match(formatTable([r, ok]), /^cameras .*\n +3 .*\n +1 .* yes$/);
  });
});

describe('streams bench, one short real run (ffmpeg cameras, Mosquitto, sfn-edge run)', { skip: missingTools('ffmpeg', 'mosquitto') }, () => {
  it('1 camera, 8 s, --json: a row with frames scored and events from real messages', { timeout: 240_000 }, async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/bench.ts', 'streams', '--counts', '1', '--fps', '10', '--seconds', '8', '--stats-s', '1', '--json'],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
    child.stderr.on('data', (b: Buffer) => { err = (err + b.toString()).slice(-8000); });
    const timer = setTimeout(() => child.kill('SIGINT'), 220_000);
    const code = await new Promise<number | null>((r) => child.once('close', (c) => r(c)));
    clearTimeout(timer);
    assert.equal(code, 0, err);
    const doc = JSON.parse(out.trim().split('\n').at(-1)!) as {
      machine: { cpus: number }; load: { start: number[]; end: number[] };
      rows: { cameras: number; fps_per_camera_median: number; cpu_pct: number | null; rss_mb_max: number | null; events: number; event_messages: number; event_messages_run: number; run_summary: { messages: number } | null }[];
    };
    assert.ok(doc.machine.cpus >= 1);
    assert.equal(doc.load.start.length, 3);
    assert.equal(doc.rows.length, 1);
    const row = doc.rows[0]!;
    assert.equal(row.cameras, 1);
    assert.ok(row.fps_per_camera_median > 0, JSON.stringify(row));
    assert.ok(row.rss_mb_max !== null && row.rss_mb_max > 0, JSON.stringify(row));
    // Ped2 test video 03 is anomalous from its first frame: the run reports events, and the subscriber got them
    assert.ok(row.event_messages_run > 0, JSON.stringify(row));
    assert.equal(row.event_messages_run, row.run_summary?.messages, 'every lifecycle message the run sent reached the subscriber');
  });
});
