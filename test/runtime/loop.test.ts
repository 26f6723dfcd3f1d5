/**
 * `run --loop` (issue 15, item 4): a folder source plays again from its first frame each time it
 * ends, with frame indices counting on, until SIGTERM, so the viewer recipe (docs/streaming.md)
 * keeps the device and its embedded broker up until the user stops it. Real process, 8 Ped2 frames,
 * the embedded broker on free ports.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { startCli } from '../cli-process.js';

const PED2 = path.resolve('../shared/datasets/ucsd_ped2/testing/frames/01');
const MODEL = 'models/fp32/sfn-lite-ped2.onnx';

describe('run --loop (real process)', { skip: (!existsSync(PED2) || !existsSync(MODEL)) && 'Ped2 frames or the fp32 model not available' }, () => {
  let dir = '';
  let frames = '';
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sfn-loop-'));
    frames = path.join(dir, 'frames');
    await fs.mkdir(frames);
    for (const f of (await fs.readdir(PED2)).sort().slice(0, 8)) await fs.copyFile(path.join(PED2, f), path.join(frames, f));
  });
  after(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('plays the folder again each time it ends, counting frames on, and stops cleanly on SIGTERM', async () => {
    const p = startCli(['run', '--source', frames, '--model', MODEL, '--providers', 'cpu', '--realtime', 'false', '--loop',
      '--embedded-port', '0', '--ws-port', '0', '--device-id', `loop-${process.pid}`, '--state-dir', path.join(dir, 'state'), '--clips', path.join(dir, 'clips')]);
    try {
      for (let pass = 1; pass <= 3; pass++) {
        await p.waitForLog(new RegExp(`playing it again \\(--loop\\).*"frames_so_far":${8 * pass}\\b|"frames_so_far":${8 * pass}\\b.*playing it again`), 60_000);
      }
      assert.equal(p.child.exitCode, null, 'still running after three passes');
      p.child.kill('SIGTERM');
      assert.equal(await p.exited, 0, p.stderr.slice(-5).join('\n'));
    } finally {
      p.child.kill('SIGKILL');
    }
    const summary = JSON.parse(p.stdout.at(-1)!) as { frames: number };
    assert.ok(summary.frames >= 24, `scored ${summary.frames} frames over at least three passes`);
  });

  it('without --loop the same folder ends the run after one pass', async () => {
    const p = startCli(['run', '--source', frames, '--model', MODEL, '--providers', 'cpu', '--realtime', 'false',
      '--embedded-port', '0', '--ws-port', '0', '--device-id', `noloop-${process.pid}`, '--state-dir', path.join(dir, 'state2'), '--clips', path.join(dir, 'clips2')]);
    assert.equal(await p.exited, 0, p.stderr.slice(-5).join('\n'));
    assert.ok(!p.stderr.some((l) => /playing it again/.test(l)));
    assert.equal((JSON.parse(p.stdout.at(-1)!) as { frames: number }).frames, 8);
  });
});
