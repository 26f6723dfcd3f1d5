/**
 * Long-run memory check of `sfn-edge run` (issue 13): a live camera is simulated by ffmpeg serving a
 * video over HTTP on loopback in a loop, at its own pace (`-re`); `run` (the built CLI, dist/)
 * watches it with the embedded broker, captions and clips on, as on a device. The run's resident
 * set size is sampled every `--every` seconds from /proc/<pid>/status; the slope after the warm-up
 * (least squares, MB/min) is the figure, with a target of < 0.1 MB/min. The V8 heap in use and
 * the external (Buffer) memory are read from run's Prometheus metrics at the same times, so that a
 * rising RSS can be told to be JavaScript objects or native memory (ONNX Runtime, sharp, malloc).
 *
 *   node --import tsx scripts/soak.ts --minutes 120 [--video clip.mp4] [--out bench/soak.json]
 *
 * `--deployed` soaks what a device runs instead: a flash bundle for this host (`sfn-edge flash
 * build`, profile x86-64-cpu, the single executable and its runtime.json) started by the bundle's
 * own `sfn-edge-runner exec` (signature check, jemalloc preload when present), reporting to a
 * Mosquitto on loopback that the soak starts.
 *
 * Writes `{minutes, samples: [[s, rss_mb], ...], warmup_min, slope_mb_per_min, ...}` to --out and
 * prints one summary line. Every loop is bounded by --minutes.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';

const o = new Command()
  .option('--minutes <n>', 'length of the soak', Number, 120)
  .option('--every <s>', 'seconds between RSS samples', Number, 10)
  .option('--warmup <min>', 'minutes left out of the slope', Number, 10)
  .option('--video <file>', 'video served in a loop (default: Ped2 test videos 01-04 made into an mp4)')
  .option('--out <file>', 'result file', 'bench/soak.json')
  .option('--config <file>', "run's --config (e.g. captions, clips or streaming off, to tell which part grows)")
  .option('--deployed', 'soak a flash bundle for this host, started by its sfn-edge-runner (as a device runs it), against a real Mosquitto', false)
  .option('--env <k=v>', "an environment variable for run (repeatable), e.g. SFN_ORT_CPU_ARENA=0", (v: string, a: string[]) => [...a, v], [] as string[])
  .parse()
  .opts<{ minutes: number; every: number; warmup: number; video?: string; out: string; config?: string; deployed: boolean; env: string[] }>();

const freePort = () => new Promise<number>((resolve) => {
  const s = net.createServer().listen(0, '127.0.0.1', () => {
    const a = s.address();
    s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
  });
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** least-squares slope of y over x */
function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den > 0 ? num / den : 0;
}

/** `nodejs_heap_size_used_bytes` and `nodejs_external_memory_bytes` of run's /metrics, MB. */
async function heapMb(port: number): Promise<[number, number] | null> {
  const text = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(3000) }).then((r) => r.text()).catch(() => null);
  const get = (name: string) => Number(text?.match(new RegExp(`^${name} (\\S+)`, 'm'))?.[1] ?? NaN) / 2 ** 20;
  const h = get('nodejs_heap_size_used_bytes');
  const e = get('nodejs_external_memory_bytes');
  return Number.isFinite(h) && Number.isFinite(e) ? [+h.toFixed(1), +e.toFixed(1)] : null;
}

/** [anonymous MB, file-backed MB, threads] of `pid`, from /proc/<pid>/smaps_rollup and status */
async function memParts(pid: number): Promise<[number, number, number] | null> {
  const roll = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8').catch(() => null);
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => null);
  const kb = (t: string | null, k: string) => Number(t?.match(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm'))?.[1] ?? NaN);
  const rss = kb(roll, 'Rss');
  const anon = kb(roll, 'Anonymous');
  const threads = Number(status?.match(/^Threads:\s+(\d+)/m)?.[1] ?? NaN);
  return Number.isFinite(rss) && Number.isFinite(anon) ? [+(anon / 1024).toFixed(1), +((rss - anon) / 1024).toFixed(1), threads] : null;
}

/** Rss (kB) of each mapping of `pid` by its name (path, [heap], [anon:...] or the address range of an unnamed one) */
async function mappings(pid: number): Promise<Map<string, number>> {
  const text = await readFile(`/proc/${pid}/smaps`, 'utf8').catch(() => '');
  const out = new Map<string, number>();
  let name = '';
  for (const line of text.split('\n')) {
    const head = /^([0-9a-f]+-[0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) name = head[2] || `anon ${head[1]}`;
    const m = /^Rss:\s+(\d+) kB/.exec(line);
    if (m) out.set(name, (out.get(name) ?? 0) + Number(m[1]));
  }
  return out;
}

async function rssMb(pid: number): Promise<number | null> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => null);
  const m = text?.match(/^VmRSS:\s+(\d+) kB/m);
  return m ? Number(m[1]) / 1024 : null;
}

const dir = await mkdtemp(path.join(os.tmpdir(), 'sfn-soak-'));
let video = o.video;
if (!video) {
  video = path.join(dir, 'ped2.mp4');
  const list = path.join(dir, 'list.txt');
  const root = path.resolve('../shared/datasets/ucsd_ped2/testing/frames');
  const lines: string[] = [];
  for (const v of ['01', '02', '03', '04']) lines.push(`file '${path.join(root, v)}/%03d.jpg'`);
  // one mp4 of four test videos (they open with and contain anomalies: events all along)
  const parts: string[] = [];
  for (const v of ['01', '02', '03', '04']) {
    const part = path.join(dir, `${v}.mp4`);
    execFileSync('ffmpeg', ['-loglevel', 'error', '-y', '-framerate', '10', '-i', path.join(root, v, '%03d.jpg'), '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-g', '10', part]);
    parts.push(`file '${part}'`);
  }
  await writeFile(list, `${parts.join('\n')}\n`);
  execFileSync('ffmpeg', ['-loglevel', 'error', '-y', '-f', 'concat', '-safe', '0', '-i', list, '-c', 'copy', video]);
}
if (!existsSync('dist/cli.js')) throw new Error('build first: npm run build');

const port = await freePort();
const url = `http://127.0.0.1:${port}/live.ts`;
// ffmpeg's HTTP server serves one client: restart it whenever it exits, until the soak ends
let stopping = false;
const camera = () => {
  const c = spawn('ffmpeg', ['-hide_banner', '-v', 'error', '-re', '-stream_loop', '-1', '-i', video!, '-c', 'copy', '-f', 'mpegts', '-listen', '1', url], { stdio: 'ignore' });
  c.once('exit', () => {
    if (!stopping) setTimeout(camera, 200);
  });
  cams.push(c);
};
const cams: ReturnType<typeof spawn>[] = [];
camera();
await sleep(500);

const metricsPort = await freePort();
const extraEnv = Object.fromEntries(o.env.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
const env = { ...process.env, SFN_LOG_LEVEL: 'info', ...extraEnv };
let broker: ReturnType<typeof spawn> | null = null;
let deployed: { bundle: string; preload: string | null } | null = null;
let run: ReturnType<typeof spawn>;
if (o.deployed) {
  // a device's set-up: a real broker, a signed bundle under <root>/versions, the fleet key at <root>/fleet.pub
  const brokerPort = await freePort();
  broker = spawn('mosquitto', ['-p', String(brokerPort)], { stdio: 'ignore' });
  const root = path.join(dir, 'root');
  const cli = (args: string[]) => execFileSync(process.execPath, ['bin/sfn-edge.js', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  cli(['flash', 'keygen', '--out', path.join(dir, 'fleet')]);
  const built = JSON.parse(cli(['flash', 'build', '--arch', 'x64', '--profile', 'x86-64-cpu', '--device-id', 'soak', '--source', url,
    '--broker', `mqtt://127.0.0.1:${brokerPort}`, '--root', root, '--key', path.join(dir, 'fleet.key'), '--out', path.join(dir, 'bundles'),
    ...(o.config ? ['--runtime-config', path.resolve(o.config)] : [])]).trim().split('\n').at(-1)!) as { dir: string };
  await mkdir(root, { recursive: true });
  await copyFile(path.join(dir, 'fleet.pub'), path.join(root, 'fleet.pub'));
  run = spawn(path.join(built.dir, 'sfn-edge-runner'), ['exec', '--metrics-port', String(metricsPort)], { stdio: ['ignore', 'ignore', 'pipe'], env });
  deployed = { bundle: built.dir, preload: null };
} else {
  run = spawn(process.execPath, ['bin/sfn-edge.js', 'run', ...(o.config ? ['--config', path.resolve(o.config)] : []), '--source', url, '--metrics-port', String(metricsPort), '--embedded-port', '0', '--ws-port', '0', '--state-dir', path.join(dir, 'state'), '--clips', path.join(dir, 'clips'), '--device-id', 'soak'], {
    stdio: ['ignore', 'ignore', 'pipe'], env,
  });
}
let events = 0;
run.stderr!.on('data', (b: Buffer) => {
  events += (b.toString().match(/"msg":"event"/g) ?? []).length;
});
const t0 = Date.now();
const samples: [number, number][] = [];
/** [s, heap used MB, external MB] */
const heap: [number, number, number][] = [];
/** [s, anonymous MB, file-backed MB, threads] */
const parts: [number, number, number, number][] = [];
let mapsAtWarmup: Map<string, number> | null = null;
const end = t0 + o.minutes * 60_000;
while (Date.now() < end && run.exitCode === null) {
  // the allocator the detector really runs on: its mappings, not the environment it was given
  if (deployed && deployed.preload === null) {
    const maps = await readFile(`/proc/${run.pid}/maps`, 'utf8').catch(() => '');
    if (/sfn-edge\0run\0/.test(await readFile(`/proc/${run.pid}/cmdline`, 'utf8').catch(() => ''))) deployed.preload = /libjemalloc/.test(maps) ? 'jemalloc' : 'glibc';
  }
  const r = await rssMb(run.pid!);
  const s = +((Date.now() - t0) / 1000).toFixed(1);
  if (r !== null) samples.push([s, +r.toFixed(1)]);
  const p = await memParts(run.pid!);
  if (p) parts.push([s, ...p]);
  if (!mapsAtWarmup && s >= o.warmup * 60) mapsAtWarmup = await mappings(run.pid!);
  const h = await heapMb(metricsPort);
  if (h) heap.push([s, ...h]);
  await sleep(o.every * 1000);
}
const mapsAtEnd = await mappings(run.pid!);
/** the mappings whose Rss grew most between the warm-up and the end, MB */
const grown = [...mapsAtEnd].map(([k, v]) => [k, +((v - (mapsAtWarmup?.get(k) ?? 0)) / 1024).toFixed(1)] as [string, number])
  .sort((a, b) => b[1] - a[1]).slice(0, 8);
const exitedEarly = run.exitCode !== null;
stopping = true;
run.kill('SIGTERM');
await new Promise((r) => (run.exitCode !== null ? r(null) : run.once('exit', r)));
for (const c of cams) c.kill('SIGKILL');
broker?.kill('SIGTERM');

const after = samples.filter(([s]) => s >= o.warmup * 60);
/** slope (MB/min) of [s, MB] pairs after the warm-up, or null with fewer than 3 */
function slopeAfter(xy: [number, number][]): number | null {
  const a = xy.filter(([s]) => s >= o.warmup * 60);
  return a.length >= 3 ? +slope(a.map(([s]) => s / 60), a.map(([, v]) => v)).toFixed(4) : null;
}
const result = {
  minutes: +((Date.now() - t0) / 60_000).toFixed(1), every_s: o.every, warmup_min: o.warmup, exited_early: exitedEarly,
  rss_mb_first: samples[0]?.[1] ?? null, rss_mb_after_warmup: after[0]?.[1] ?? null, rss_mb_last: samples.at(-1)?.[1] ?? null,
  rss_mb_max: Math.max(...samples.map(([, r]) => r)),
  slope_mb_per_min: after.length >= 3 ? +(slope(after.map(([s]) => s / 60), after.map(([, r]) => r))).toFixed(4) : null,
  target_mb_per_min: 0.1,
  heap_slope_mb_per_min: slopeAfter(heap.map(([s, h]) => [s, h])),
  external_slope_mb_per_min: slopeAfter(heap.map(([s, , e]) => [s, e])),
  heap_mb_last: heap.at(-1)?.[1] ?? null, external_mb_last: heap.at(-1)?.[2] ?? null,
  anon_slope_mb_per_min: slopeAfter(parts.map(([s, a]) => [s, a])), file_slope_mb_per_min: slopeAfter(parts.map(([s, , f]) => [s, f])),
  anon_mb_last: parts.at(-1)?.[1] ?? null, file_mb_last: parts.at(-1)?.[2] ?? null, threads_first: parts[1]?.[3] ?? null, threads_last: parts.at(-1)?.[3] ?? null,
  grown_mappings_mb: grown, config: o.config ?? null, env: extraEnv,
  deployed: deployed ? { bundle: path.basename(deployed.bundle), allocator: deployed.preload } : null,
  events_logged: events, video, machine: `${os.cpus().length} cores, ${os.cpus()[0]?.model ?? ''}`,
  samples, heap, parts,
};
await writeFile(o.out, `${JSON.stringify(result)}\n`);
const { samples: _s, heap: _h, parts: _p, ...summary } = result;
console.log(JSON.stringify(summary));
await rm(dir, { recursive: true, force: true });
