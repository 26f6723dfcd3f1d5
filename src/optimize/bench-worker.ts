/**
 * One variant's benchmark in its own process (so that peak resident memory is that model's):
 *   node bench-worker.(js|ts) <model.onnx> <batch> <threads> <runs> <profile name | providers,comma,separated> [batches,comma,separated]
 * With a profile, the session is the one the device would open (createProfileSession: its providers,
 * TensorRT/CUDA options, engine cache); `threads` overrides its intra-op count.
 * Prints one JSON line: provider, skipped providers, ms per frame (p50, p95) at batch 1 and at
 * `batch`, frames/s at `batch`, peak RSS in MiB (getrusage maxrss); with a batch list, ms per frame
 * (p50, p95) at each of those batches too (`ms_batches`), and with 1 thread the process CPU time
 * per frame at each (`cpu_ms_batches`, p50): ONNX Runtime then computes on the calling thread, so
 * CPU time is the work itself, while wall time also holds the waits for cores that other processes
 * hold (on a shared machine wall times spread widely; with more threads CPU time would count the
 * pool's spinning, so it is left out).
 * Every input the model declares is fed (feeds.ts `timingFeeds`): frames `[n, 4*C, H, W]` float32 in
 * [0, 1]; a semantic model's `text` `[n, textDim]` all zeros (the embedding of an empty caption).
 */
import { readManifest } from '../core/manifest.js';
import { createProfileSession } from '../device/session-options.js';
import { loadProfile } from '../device/profile.js';
import { createSession, type ProviderName } from '../inference/session.js';
import { timingFeeds } from './feeds.js';

const [model, batchArg, threadsArg, runsArg, providersArg, batchesArg] = process.argv.slice(2);
if (!model) throw new Error('usage: bench-worker <model.onnx> <batch> <threads> <runs> <profile | providers>');
const batch = Number(batchArg ?? 8);
const threads = Number(threadsArg ?? 2);
const runs = Number(runsArg ?? 20);
const { manifest, bytes } = await readManifest(model);
const arg = providersArg ?? 'cpu';
const { session, provider, skipped } = arg.startsWith('profile:')
  ? await createProfileSession(model, { ...(await loadProfile(arg.slice('profile:'.length))), threads: { intraOp: threads, interOp: 1 } })
  : await createSession(bytes, { providers: arg.split(',') as ProviderName[], intraOpThreads: threads }, model);

const cpu: Record<string, number> = {};

async function time(n: number): Promise<{ p50: number; p95: number }> {
  // deterministic frames in [0, 1]; a semantic model's text feature: zeros
  const feed = timingFeeds(manifest, session.inputNames, n, (i) => ((i * 2654435761) % 1000) / 1000);
  for (let i = 0; i < 3; i++) await session.run(feed);
  const t: number[] = [];
  const c: number[] = [];
  for (let i = 0; i < runs; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await session.run(feed);
    t.push((performance.now() - t0) / n);
    const dc = process.cpuUsage(c0);
    c.push((dc.user + dc.system) / 1000 / n);
  }
  t.sort((a, b) => a - b);
  c.sort((a, b) => a - b);
  cpu[n] = c[Math.floor(0.5 * (c.length - 1))]!;
  return { p50: t[Math.floor(0.5 * (t.length - 1))]!, p95: t[Math.floor(0.95 * (t.length - 1))]! };
}

const b1 = await time(1);
const bn = await time(batch);
const msBatches: Record<string, { p50: number; p95: number }> = {};
for (const b of (batchesArg ?? '').split(',').filter(Boolean).map(Number)) msBatches[b] = b === 1 ? b1 : b === batch ? bn : await time(b);
await session.release();
process.stdout.write(
  `${JSON.stringify({ provider, skipped: skipped.map((s) => s.provider), batch, threads, ms_b1: b1, ms_batch: bn, fps: 1000 / bn.p50, peak_rss_mb: process.resourceUsage().maxRSS / 1024, ...(batchesArg ? { ms_batches: msBatches } : {}), ...(batchesArg && threads === 1 ? { cpu_ms_batches: Object.fromEntries(Object.keys(msBatches).map((b) => [b, cpu[b]!])) } : {}) })}\n`,
);
