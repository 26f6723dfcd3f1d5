/**
 * The collector bench (issue 16): N simulated devices (scripts/simulate-devices.ts) -> a private
 * Mosquitto 2 -> 2 `sfn-edge collect` processes (the built CLI, dist/) on one shared-subscription
 * group -> a private PostgreSQL 15, all started here on 127.0.0.1. Mid-run one collector is killed
 * with SIGKILL and started again after `--down-s` with the same client id, so it resumes its
 * persistent sessions (docs/fleet.md says why that is what it takes with Mosquitto).
 *
 *   npm run build && npm run bench -- collect --devices 200 --seconds 120
 *
 * Reports, from the rows in PostgreSQL: messages/s stored, publish -> row latency (the simulator
 * stamps `sent_at`, the collector `stored_ms`), rows vs messages published, messages lost and
 * duplicate rows; prints them and saves them to `--out` (bench/collect.json). Every wait is bounded.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import pg from 'pg';
import { freePort, mosquittoBroker } from '../../test/mqtt/brokers.js';
import { startPostgres } from '../../test/collect/pg.js';
import { missingTools } from '../../test/tools.js';
import { keepLines } from './lines.js';

interface Options { devices: number; seconds: number; tickMs: number; collectors: number; connections: number; killAt: number; downS: number; out: string }

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A child process with its output lines and a bounded wait for a line. */
interface Proc { child: ChildProcess; lines: string[]; exited: Promise<number | null>; waitFor(re: RegExp, ms: number): Promise<void> }

function start(args: string[]): Proc {
  const child = spawn(process.execPath, args, { env: { ...process.env, SFN_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  keepLines(child, lines, 10_000);
  const exited = new Promise<number | null>((r) => child.once('close', (code) => r(code)));
  const waitFor = async (re: RegExp, ms: number) => {
    for (let i = 0; i < ms / 100; i++) {
      if (lines.some((l) => re.test(l))) return;
      if (child.exitCode !== null) break;
      await sleep(100);
    }
    throw new Error(`no line matching ${re} within ${ms} ms from ${args.join(' ')}:\n${lines.slice(-20).join('\n')}`);
  };
  return { child, lines, exited, waitFor };
}

async function stopProc(p: Proc, ms = 15_000): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill('SIGTERM');
  const t = setTimeout(() => p.child.kill('SIGKILL'), ms);
  await p.exited;
  clearTimeout(t);
}

/** utime + stime of a process so far, s (from /proc). */
async function cpuSeconds(pid: number | undefined): Promise<number | null> {
  if (pid === undefined) return null;
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  const f = stat?.slice(stat.lastIndexOf(')') + 2).split(' ');
  return f ? (Number(f[11]) + Number(f[12])) / 100 : null; // clock ticks of 1/100 s (Linux USER_HZ)
}

function record(p: Proc, msg: string): Record<string, unknown> | null {
  for (const l of p.lines) {
    if (!l.startsWith('{')) continue;
    try {
      const r = JSON.parse(l) as Record<string, unknown>;
      if (r['msg'] === msg) return r;
    } catch { /* not a log record */ }
  }
  return null;
}

function parseOptions(argv: string[]): Options {
  const n = (name: string, min: number) => (v: string) => {
    const x = Number(v);
    if (!Number.isFinite(x) || x < min) throw new Error(`${name} must be a number >= ${min}, got '${v}'`);
    return x;
  };
  const o = new Command('bench collect')
    .option('--devices <n>', 'simulated devices', n('--devices', 1), 200)
    .option('--seconds <s>', 'how long the devices publish', n('--seconds', 10), 120)
    .option('--tick-ms <ms>', 'simulator update period per device (~1.4 stored messages a tick)', n('--tick-ms', 10), 100)
    .option('--collectors <n>', 'collector processes in the share group', n('--collectors', 1), 2)
    .option('--connections <n>', 'MQTT connections per collector', n('--connections', 1), 32)
    .option('--kill-at <s>', 'SIGKILL the first collector this many seconds in (0: no kill)', n('--kill-at', 0), 60)
    .option('--down-s <s>', 'seconds the killed collector stays down before it is started again', n('--down-s', 0), 5)
    .option('--out <file>', 'where to save the figures', 'bench/collect.json')
    .exitOverride()
    .parse(argv, { from: 'user' })
    .opts<Options>();
  if (o.killAt >= o.seconds) throw new Error(`--kill-at (${o.killAt}) must be before the end of --seconds (${o.seconds})`);
  return o;
}

/**
 * Runs the bench with these command-line arguments (after `collect`).
 * @throws Error when a tool is missing, dist/ is not built or older than src/, or a process fails to start
 */
export async function run(argv: string[]): Promise<void> {
  const o = parseOptions(argv);
  const missing = missingTools('mosquitto', 'initdb', 'pg_ctl');
  if (missing) throw new Error(missing);
  for (const f of ['collector', 'batch', 'postgres']) {
    const built = statSync(`dist/collect/${f}.js`, { throwIfNoEntry: false });
    if (!built || built.mtimeMs < statSync(`src/collect/${f}.ts`).mtimeMs) throw new Error(`dist/collect/${f}.js is missing or older than src/: run npm run build`);
  }
  const load0 = os.loadavg();
  const pgsrv = await startPostgres();
  const broker = await mosquittoBroker({ lines: async () => ['max_queued_messages 100000'] });
  const procs: Proc[] = [];
  const db = new pg.Client({ connectionString: pgsrv.url });
  try {
    const collectArgs = async (i: number) => ['bin/sfn-edge.js', 'collect', '--broker', broker.url, '--group', 'bench', '--db', pgsrv.url,
      '--http-port', String(await freePort()), '--client-id', `bench-c${i}`, '--connections', String(o.connections)];
    const collectors: Proc[] = [];
    for (let i = 0; i < o.collectors; i++) {
      const p = start(await collectArgs(i));
      procs.push(p);
      collectors.push(p);
      await p.waitFor(/collect: running/, 60_000);
    }
    await db.connect();
    const rows = async () => Number((await db.query('SELECT COUNT(*) AS n FROM messages')).rows[0].n);
    const t0 = Date.now();
    const sim = start(['--import', 'tsx', 'scripts/simulate-devices.ts', '--broker', broker.url, '--devices', String(o.devices),
      '--seconds', String(o.seconds), '--tick-ms', String(o.tickMs), '--event-every', String(o.tickMs / 1000)]);
    procs.push(sim);
    let kill: { at_ms: number; restarted_ms: number } | null = null;
    const cpu: (number | null)[] = [];
    for (let i = 0; i < o.seconds + 120 && sim.child.exitCode === null; i++) {
      await sleep(1000);
      const s = (Date.now() - t0) / 1000;
      if (o.killAt > 0 && !kill && s >= o.killAt) {
        const victim = collectors[0]!;
        cpu[0] = await cpuSeconds(victim.child.pid);
        victim.child.kill('SIGKILL');
        await victim.exited;
        const at = Date.now();
        await sleep(o.downS * 1000);
        const again = start(await collectArgs(0));
        procs.push(again);
        collectors[0] = again;
        await again.waitFor(/collect: running/, 60_000);
        kill = { at_ms: at, restarted_ms: Date.now() };
        process.stdout.write(`collect bench: killed collector 0 at ${((at - t0) / 1000).toFixed(1)} s, running again at ${((kill.restarted_ms - t0) / 1000).toFixed(1)} s\n`);
      }
      if (i % 10 === 9) process.stdout.write(`collect bench: ${s.toFixed(0)} s, ${await rows()} rows\n`);
    }
    await sim.exited;
    const simOut = sim.lines.map((l) => { try { return JSON.parse(l) as { published?: Record<string, number>; failed?: number }; } catch { return null; } }).find((x) => x?.published);
    if (!simOut?.published) throw new Error(`the simulator printed no result:\n${sim.lines.slice(-20).join('\n')}`);
    const published = simOut.published as { events: number; descriptions: number; stats: number };
    const expected = published.events + published.descriptions;
    const tPub = Date.now();
    // drain: until every published message is a row, or 10 s without a new row (at most 120 s)
    let last = -1;
    let still = 0;
    for (let i = 0; i < 240 && still < 20; i++) {
      const n = await rows();
      if (n >= expected) break;
      still = n === last ? still + 1 : 0;
      last = n;
      await sleep(500);
    }
    for (let i = 0; i < collectors.length; i++) cpu[i] = (cpu[i] ?? 0) + ((await cpuSeconds(collectors[i]!.child.pid)) ?? 0);
    const q = async (sql: string, args: unknown[] = []) => (await db.query(sql, args)).rows as Record<string, unknown>[];
    const byKind = Object.fromEntries((await q('SELECT kind, COUNT(*) AS n FROM messages GROUP BY kind')).map((r) => [String(r['kind']), Number(r['n'])]));
    const keys = await q('SELECT COUNT(*) AS rows, COUNT(DISTINCT (event_id, kind, seq)) AS keys, COUNT(DISTINCT payload) AS payloads, MIN(stored_ms) AS first, MAX(stored_ms) AS last FROM messages');
    const k = keys[0]!;
    const total = Number(k['rows']);
    const spanS = (Number(k['last']) - Number(k['first'])) / 1000;
    const lat = `SELECT stored_ms - EXTRACT(EPOCH FROM (payload::json->>'sent_at')::timestamptz) * 1000 AS ms,
      EXTRACT(EPOCH FROM (payload::json->>'sent_at')::timestamptz) * 1000 AS sent FROM messages WHERE kind = 'event'`;
    const pct = async (where: string, args: unknown[]) => {
      const r = (await q(`SELECT COUNT(*) AS n, percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY ms) AS p, MAX(ms) AS max FROM (${lat}) x ${where}`, args))[0]!;
      const p = (r['p'] as number[] | null) ?? [];
      const f = (v: unknown) => (v === null || v === undefined ? null : Math.round(Number(v)));
      return { messages: Number(r['n']), p50: f(p[0]), p95: f(p[1]), p99: f(p[2]), max: f(r['max']) };
    };
    const latency = await pct('', []);
    const window = kill ? [kill.at_ms - 1000, kill.restarted_ms + 10_000] : null;
    const outside = window ? await pct('WHERE sent < $1 OR sent > $2', window) : latency;
    const inside = window ? await pct('WHERE sent >= $1 AND sent <= $2', window) : null;
    const perSecond = (await q(`SELECT COUNT(*) AS n FROM messages WHERE stored_ms >= $1 AND stored_ms < $2 GROUP BY stored_ms / 1000 ORDER BY 1`, [t0 + 5000, tPub - 2000])).map((r) => Number(r['n']));
    const stopped: (Record<string, unknown> | null)[] = [];
    for (const c of collectors) {
      await stopProc(c);
      stopped.push(record(c, 'collect: stopped'));
    }
    const sum = (f: string) => stopped.reduce((a, r) => a + Number(r?.[f] ?? 0), 0);
    const storedPerS = total / spanS;
    const result = {
      command: `npm run bench -- collect ${argv.join(' ')}`.trim(),
      date: new Date().toISOString(),
      machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? '', loadavg_at_start: load0.map((x) => +x.toFixed(2)), loadavg_at_end: os.loadavg().map((x) => +x.toFixed(2)) },
      setup: { devices: o.devices, seconds: o.seconds, tick_ms: o.tickMs, collectors: o.collectors, connections_per_collector: o.connections, mosquitto: 'max_queued_messages 100000', postgres: '15, defaults (fsync and synchronous_commit on)' },
      published: { ...published, failed: simOut.failed ?? null, stored_kinds: expected, offered_per_s: +(expected / o.seconds).toFixed(1) },
      rows: { total, by_kind: byKind, distinct_keys: Number(k['keys']), distinct_payloads: Number(k['payloads']) },
      lost: expected - total,
      duplicate_rows: total - Number(k['keys']),
      duplicate_payload_rows: total - Number(k['payloads']),
      stored_per_s: +storedPerS.toFixed(1),
      stored_span_s: +spanS.toFixed(1),
      stored_per_s_each_second: perSecond.length ? { min: Math.min(...perSecond), median: [...perSecond].sort((a, b) => a - b)[perSecond.length >> 1], max: Math.max(...perSecond) } : null,
      latency_ms: latency,
      latency_ms_outside_kill_window: outside,
      latency_ms_inside_kill_window: inside,
      kill: kill ? { at_s: +((kill.at_ms - t0) / 1000).toFixed(1), down_s: o.downS, running_again_s: +((kill.restarted_ms - t0) / 1000).toFixed(1), window_ms: window } : null,
      collectors_at_stop: { received: sum('received'), stored: sum('stored'), duplicates_recognised: sum('duplicates'), dropped: sum('dropped'), failed: sum('failed'), batches: sum('batches'), rows_in_batches: sum('rows'), note: 'the SIGKILLed instance logs nothing; these are the survivors and the restarted one' },
      collector_cpu_s: cpu.map((c) => (c === null ? null : +c.toFixed(1))),
      targets: { stored_per_s_ge_2000: storedPerS >= 2000, lost_0: expected - total === 0, duplicate_rows_0: total === Number(k['keys']) && total === Number(k['payloads']) },
    };
    await mkdir(path.dirname(o.out), { recursive: true });
    await writeFile(o.out, `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`${JSON.stringify(result, null, 2)}\ncollect bench: saved ${o.out}\n`);
  } finally {
    await db.end().catch(() => undefined);
    for (const p of procs) await stopProc(p, 5000);
    await broker.dispose();
    await pgsrv.dispose();
  }
}
