/**
 * Stopping `run` keeps its clips whole (a real process, real ffmpeg, real broker): SIGINT sent to
 * the run's whole process group (what a terminal's Ctrl-C does) during an event. The clip encoders
 * run in a process group of their own, so the signal (sent while one is writing) does not kill them
 * mid-clip; the run ends its open event, waits for its clips (bounded) and exits. Then every clip an `events/<id>/clip`
 * message names exists and is a whole MP4 (ffprobe reads its frames), no `.part` file is left in
 * the clips folder, and no ffmpeg of the run is left.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { aedesBroker, HAS_MOSQUITTO, mosquittoBroker, type TestBroker } from '../mqtt/brokers.js';
import { Recorder } from '../mqtt/sub.js';
import { missingTools } from '../tools.js';
import { startCli } from '../cli-process.js';

const PED2_03 = '/work/shared/datasets/ucsd_ped2/testing/frames/03';
const FP32 = 'models/fp32/sfn-lite-ped2.onnx';
const SKIP = missingTools('ffmpeg') || (!existsSync(PED2_03) && 'Ped2 test video 03 not available') || (process.platform !== 'linux' && 'reads /proc');

/** `pid: cmdline` of the processes whose command line holds `needle`. */
async function processesWith(needle: string): Promise<string[]> {
  const out: string[] = [];
  for (const pid of (await fs.readdir('/proc')).filter((d) => /^\d+$/.test(d))) {
    const cmd = (await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0').join(' ');
    if (cmd.includes(needle) && !cmd.includes('cli-main')) out.push(`${pid}: ${cmd}`);
  }
  return out;
}

/** Every file under `dir` (recursive). */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { withFileTypes: true, recursive: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name));
}

describe('SIGINT to the process group during an event', { skip: SKIP }, () => {
  let dir = '';
  let broker: TestBroker;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sfn-stop-clips-'));
    broker = HAS_MOSQUITTO ? await mosquittoBroker() : await aedesBroker();
  });
  after(async () => {
    await broker?.dispose();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it('exits; every clip a message names is a whole MP4; no .part and no ffmpeg left', { timeout: 240_000 }, async (t) => {
    const device = `stop-${process.pid}`;
    const config = path.join(dir, 'config.json');
    const clips = path.join(dir, 'clips');
    await fs.writeFile(config, JSON.stringify({ captions: { enabled: false }, streaming: { enabled: false }, clips: { enabled: true, pre_roll_s: 1, post_roll_s: 1 } }));
    const sub = await Recorder.open(broker.url, `sfn/${device}/#`);
    const run = startCli(['run', '--model', FP32, '--config', config, '--source', PED2_03, '--device-id', device, '--broker', broker.url, '--providers', 'cpu', '--loop',
      '--state-dir', path.join(dir, 'state'), '--clips', clips], { group: true });
    try {
      // Ped2 test video 03 is anomalous from its first frames: an event opens and its clip is recorded
      await sub.waitFor('an event', () => sub.on(`sfn/${device}/events`).some((m) => (JSON.parse(m.text) as { type: string }).type === 'new'), 120_000);
      // the signal while a clip encoder runs (writing its `.part`): polled, bounded in count
      let encoding = false;
      for (let i = 0; i < 3000 && !encoding && run.child.exitCode === null; i++) {
        encoding = (await processesWith(clips)).some((p) => p.includes('.mp4.part'));
        if (!encoding) await new Promise((r) => setTimeout(r, 20));
      }
      assert.ok(encoding, 'a clip encoder was seen running');
      process.kill(-run.child.pid!, 'SIGINT');
      const code = await run.exited;
      assert.ok(code === 0 || code === 130, `exit ${String(code)}:\n${run.stderr.slice(-8).join('\n')}`);
      await sub.waitFor('offline', () => sub.on(`sfn/${device}/availability`).at(-1)?.text === 'offline', 10_000);
      const named = sub.got.filter((m) => /\/events\/[^/]+\/clip$/.test(m.topic)).map((m) => (JSON.parse(m.text) as { video: string }).video);
      t.diagnostic(`${named.length} clip(s) named: ${named.join(', ')}`);
      assert.ok(named.length > 0, 'the open event\'s clip was finished and announced');
      for (const video of named) {
        const file = path.isAbsolute(video) ? video : path.resolve(video);
        assert.ok(existsSync(file), `${video} is named in a message and exists`);
        const frames = execFileSync('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', file], { encoding: 'utf8' });
        assert.ok(Number(frames.trim()) > 0, `${video} is a whole MP4 (${frames.trim()} frames)`);
      }
      assert.deepEqual((await filesUnder(clips)).filter((f) => f.endsWith('.part')), [], 'no .part file is left');
      for (let i = 0; i < 50 && (await processesWith(clips)).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(await processesWith(clips), [], 'no ffmpeg of the run is left');
    } finally {
      try {
        process.kill(-run.child.pid!, 'SIGKILL');
      } catch {
        // the group is gone
      }
      for (const p of await processesWith(clips)) process.kill(Number(p.split(':')[0]), 'SIGKILL');
      await sub.close();
    }
  });
});
