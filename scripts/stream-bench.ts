/**
 * Frame-loop speed of `sfn-edge run` with no WebRTC session and with 2 sessions streaming.
 *
 *   node --import tsx scripts/stream-bench.ts [--frames 600] [--sessions 2] [--kind clip|live] [--repeat 2] [--fps x] [--out bench/stream.json]
 *
 * The run scores Ped2 test frames (videos 01, 02, ... concatenated) with the committed fp32 model on
 * the CPU provider on an embedded broker, with `stats` every second, clip recording and captions
 * off (only streaming differs between the cases). It goes as fast as it can (`--realtime=false`),
 * or with `--fps x` at x frames/s (realtime; the frames it had to skip are counted).
 * The viewers run in a child process: wrtc receivers that decode every frame, as a remote browser
 * would (here they share the CPUs with the run, which a remote viewer would not). Each session
 * plays the Ped2 clip in a loop (`--kind clip`) or the live view (`--kind live`).
 *
 * The loop's rate comes from the `stats` messages: frames read over the stretch of time in which
 * every session was receiving frames (with no session: the whole run minus its first and last
 * second). Also recorded: the CPU time of the device process per frame, which other jobs on the
 * machine disturb less than frames/s. The two cases alternate `--repeat` times (the machine's load
 * drifts); each run records the 1-minute load average before and after it. Prints one JSON line
 * and saves it.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import mqtt from 'mqtt';

import { startEmbeddedBroker } from '../src/mqtt/broker.js';
import { runCommand } from '../src/runtime/command.js';
import { ffmpegBinary } from '../src/video/ffmpeg.js';

const PED2 = path.resolve('../shared/datasets/ucsd_ped2/testing/frames');
const TOKEN = 'bench-token-0000';
const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? (process.argv[i + 1] as string) : dflt;
};
/** `--fps <x>`: pace the source at x frames/s (realtime) instead of as fast as possible */
const PACE = Number(arg('fps', '0')) || 0;

/** Child mode: `--viewers <broker> <device> <n> <kind>`: n receiving peers; prints `receiving` once all get frames. */
async function viewers(url: string, device: string, n: number, kind: string): Promise<void> {
  const { wrtc } = await import('../src/webrtc/wrtc.js');
  const w = wrtc();
  const client = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
  const counts = new Array<number>(n).fill(0);
  let told = false;
  for (let k = 0; k < n; k++) {
    const id = `bench-${k}`;
    const base = `sfn/${device}/webrtc/${id}`;
    const pc = new w.RTCPeerConnection({ iceServers: [] });
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.onicecandidate = (ev) => {
      if (ev.candidate) client.publish(`${base}/candidate`, JSON.stringify({ candidate: ev.candidate.candidate, sdpMid: ev.candidate.sdpMid ?? null, sdpMLineIndex: ev.candidate.sdpMLineIndex ?? null }), { qos: 1 });
    };
    pc.ontrack = (ev) => {
      const sink = new w.nonstandard.RTCVideoSink(ev.track);
      sink.onframe = () => {
        counts[k] = (counts[k] as number) + 1;
        if (!told && counts.every((c) => c > 0)) {
          told = true;
          process.stdout.write('receiving\n');
        }
      };
    };
    client.on('message', (topic, payload) => {
      const body = JSON.parse(payload.toString()) as Record<string, unknown>;
      if (topic === `${base}/answer`) {
        if (typeof body.sdp !== 'string') throw new Error(`session refused: ${String(body.error)}`);
        void pc.setRemoteDescription({ type: 'answer', sdp: body.sdp });
      } else if (topic === `${base}/candidate/device`) void pc.addIceCandidate(body as never).catch(() => undefined);
    });
    await client.subscribeAsync([`${base}/answer`, `${base}/candidate/device`], { qos: 1 });
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    const what = kind === 'live' ? { live: true } : { event_id: 'bench' };
    client.publish(`${base}/offer`, JSON.stringify({ token: TOKEN, sdp: offer.sdp, ...what }), { qos: 1 });
  }
  process.on('SIGTERM', () => {
    const cpu = process.cpuUsage();
    process.stdout.write(`${JSON.stringify({ frames_received: counts, viewer_cpu_s: +((cpu.user + cpu.system) / 1e6).toFixed(2) })}\n`);
    process.exit(0);
  });
}

/** A folder of `frames` Ped2 test frames (videos 01, 02, ... in order) as symlinks 00000.jpg, ... */
async function framesFolder(dir: string, frames: number): Promise<string> {
  const out = path.join(dir, 'frames');
  await mkdir(out, { recursive: true });
  let i = 0;
  for (const v of (await readdir(PED2)).sort()) {
    for (const f of (await readdir(path.join(PED2, v))).filter((n) => n.endsWith('.jpg')).sort()) {
      if (i >= frames) return out;
      await symlink(path.join(PED2, v, f), path.join(out, `${String(i++).padStart(5, '0')}.jpg`));
    }
  }
  return out;
}

/** One run; returns frames/s of the loop while `sessions` sessions stream. */
async function measure(dir: string, frames: string, sessions: number, kind: string): Promise<Record<string, unknown>> {
  const broker = await startEmbeddedBroker(0);
  const device = `bench-${sessions}-${Date.now()}`;
  const stats: Array<{ t: number; frames: number }> = [];
  const sub = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
  sub.on('message', (_t, p) => {
    const s = JSON.parse(p.toString()) as { time: string; frames: number };
    stats.push({ t: Date.parse(s.time), frames: s.frames });
  });
  await sub.subscribeAsync(`sfn/${device}/stats`);
  let receivingAt = Number.POSITIVE_INFINITY;
  let child: ReturnType<typeof spawn> | undefined;
  let childOut = '';
  if (sessions > 0) {
    child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--viewers', broker.url, device, String(sessions), kind], { stdio: ['ignore', 'pipe', 'inherit'] });
    child.stdout?.on('data', (d: Buffer) => {
      childOut += d.toString();
      if (receivingAt === Number.POSITIVE_INFINITY && childOut.includes('receiving')) receivingAt = Date.now();
    });
  }
  const load0 = os.loadavg()[0] as number;
  const cpu0 = process.cpuUsage();
  const t0 = Date.now();
  const summary = await runCommand({
    source: frames, broker: broker.url, deviceId: device, model: 'models/fp32/sfn-lite-ped2.onnx', providers: 'cpu',
    ...(PACE ? { realtime: true, fps: PACE } : { realtime: false }),
    clips: path.join(dir, 'clips'), stateDir: path.join(dir, `state-${device}`), config: path.join(dir, 'config.json'),
  }, () => undefined);
  const cpu = process.cpuUsage(cpu0);
  const wall = (Date.now() - t0) / 1000;
  let viewer: Record<string, unknown> = {};
  if (child) {
    const exited = new Promise((r) => child?.once('exit', r));
    child.kill('SIGTERM');
    await exited;
    viewer = JSON.parse(childOut.split('\n').filter((l) => l.startsWith('{')).at(-1) ?? '{}') as Record<string, unknown>;
  }
  await sub.endAsync();
  await broker.close();
  // the stretch: stats messages after every session was receiving (or after the first), without the final partial one
  const inner = stats.slice(0, -1).filter((s, i) => (sessions > 0 ? s.t >= receivingAt : i >= 1));
  const a = inner[0];
  const b = inner.at(-1);
  const fps = a && b && b.t > a.t ? (b.frames - a.frames) / ((b.t - a.t) / 1000) : null;
  const load = [+load0.toFixed(2), +(os.loadavg()[0] as number).toFixed(2)];
  const cost = {
    // CPU time of this process (the run: decoding, model, MQTT, and with sessions WebRTC's encoders), over the run
    device_cpu_s: +((cpu.user + cpu.system) / 1e6).toFixed(2), wall_s: +wall.toFixed(1),
    device_cpu_ms_per_frame: +((cpu.user + cpu.system) / 1e3 / summary.frames).toFixed(2),
  };
  return { sessions, kind: sessions ? kind : null, load_1min_before_after: load, ...cost, loop_fps: fps === null ? null : +fps.toFixed(1), window_s: a && b ? (b.t - a.t) / 1000 : 0, run_fps: summary.fps, frames: summary.frames, scored: summary.scored, skipped: summary.skipped, inference_ms: summary.inference_ms, ...viewer };
}

if (process.argv[2] === '--viewers') {
  await viewers(process.argv[3] as string, process.argv[4] as string, Number(process.argv[5]), process.argv[6] as string);
} else {
  const frames = Number(arg('frames', '600'));
  const sessions = Number(arg('sessions', '2'));
  const kind = arg('kind', 'clip');
  const out = arg('out', 'bench/stream.json');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sfn-stream-bench-'));
  try {
    const folder = await framesFolder(dir, frames);
    // the clip the sessions play: Ped2 test video 01 at the model grid, 10 frames/s, as the recorder names clips
    const clips = path.join(dir, 'clips');
    await mkdir(clips, { recursive: true });
    const stem = path.join(clips, '2026-01-01T00-00-00-000Z_bench');
    await new Promise<void>((resolve, reject) => {
      const p = spawn(ffmpegBinary(), ['-v', 'error', '-framerate', '10', '-i', path.join(PED2, '01', '%03d.jpg'), '-vf', 'scale=144:96,format=gray', '-c:v', 'libx264', '-profile:v', 'baseline', '-pix_fmt', 'yuv420p', `${stem}.mp4`], { stdio: 'inherit' });
      p.on('close', (c) => (c === 0 ? resolve() : reject(new Error(`ffmpeg exited with ${c}`))));
    });
    await writeFile(`${stem}.jpg`, '');
    await writeFile(path.join(dir, 'config.json'), JSON.stringify({ stats_interval_s: 1, clips: { enabled: false }, captions: { enabled: false }, streaming: { token: TOKEN, loop_clips: true } }));
    const runs: Array<Record<string, unknown>> = [];
    for (let r = 0; r < Number(arg('repeat', '2')); r++) {
      runs.push(await measure(dir, folder, 0, kind));
      runs.push(await measure(dir, folder, sessions, kind));
    }
    const mean = (n: number): number | null => {
      const v = runs.filter((x) => x.sessions === n).map((x) => x.loop_fps).filter((x): x is number => typeof x === 'number');
      return v.length ? +(v.reduce((a, b) => a + b, 0) / v.length).toFixed(1) : null;
    };
    const cpuPerFrame = (n: number): number | null => {
      const v = runs.filter((x) => x.sessions === n).map((x) => x.device_cpu_ms_per_frame as number);
      return v.length ? +(v.reduce((a, b) => a + b, 0) / v.length).toFixed(2) : null;
    };
    const result = {
      time: new Date().toISOString(), pace: PACE ? `realtime at ${PACE} frames/s` : 'as fast as possible', host: `${os.cpus().length} cpus, ${os.cpus()[0]?.model ?? ''}`.trim(), model: 'models/fp32/sfn-lite-ped2.onnx (cpu)', frames,
      mean_loop_fps: { none: mean(0), [`${sessions}_sessions`]: mean(sessions) },
      mean_device_cpu_ms_per_frame: { none: cpuPerFrame(0), [`${sessions}_sessions`]: cpuPerFrame(sessions) }, runs,
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
    await mkdir(path.dirname(out), { recursive: true });
    await writeFile(out, `${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  process.exit(0); // wrtc may be loaded: leave before its exit-time cleanup (see src/webrtc/wrtc.ts)
}
