/**
 * `sfn-edge learn` end to end on a tiny budget: a 27 s mp4 made from Ped2 training frames, two
 * training steps, export, fp16/int8, calibration of every variant; the models it reports exist,
 * pass their checks and carry calibrations; the printed run command names the int8 model; progress
 * comes per stage, in order. Also:
 * recording a stream's first seconds with ffmpeg, and clear errors for a missing source and an
 * unreachable camera.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readManifest } from '../../src/core/manifest.js';
import { manifestProblems, modelProblems } from '../../src/learn/checks.js';
import { runLearnCommand } from '../../src/learn/command.js';
import { LEARN_STAGES, resumableTraining, runLearn, type LearnProgress } from '../../src/learn/pipeline.js';
import { recordStream } from '../../src/learn/record.js';
import { readAllFrames } from '../../src/video/open.js';
import { freePort } from '../mqtt/brokers.js';
import { HAVE_PED2, ped2Video } from './fixtures.js';

describe('sfn-edge learn', { skip: !HAVE_PED2 && 'Ped2 not available' }, () => {
  let dir = '';
  let video = '';
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sfn-learn-'));
    video = await ped2Video(dir);
  });
  after(async () => {
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it('learns from a video file in one command (2 training steps): models, calibrations, checks, the run command', async () => {
    const out = path.join(dir, 'cam');
    const lines: string[] = [];
    const seen: LearnProgress[] = [];
    const r = await runLearnCommand({ source: video, out, maxSteps: 2, progress: false, onProgress: (p) => seen.push(p) }, (l) => lines.push(l));
    assert.equal(lines.length, 1);
    assert.deepEqual(JSON.parse(lines[0]!), JSON.parse(JSON.stringify(r)));
    assert.deepEqual(JSON.parse(await fs.readFile(path.join(out, 'learn.json'), 'utf8')), JSON.parse(lines[0]!));
    assert.equal(r.name, 'cam');
    assert.equal(r.recording, null, 'a file is used as it is');
    assert.equal(r.data, video);
    assert.equal(r.train.steps, 2);
    assert.deepEqual(Object.keys(r.seconds), [...LEARN_STAGES]);
    for (const [precision, file] of [['fp32', r.models.fp32], ['int8', r.models.int8], ['fp16', r.models.fp16!]] as const) {
      assert.equal(file, path.join(out, 'models', precision, 'cam.onnx'));
      const { manifest } = await readManifest(file);
      assert.equal(manifest.precision, precision);
      // the grid follows the source (360x240 -> 144x96) and the calibration comes from its held-back part
      assert.deepEqual([manifest.model.width, manifest.model.height], [144, 96]);
      assert.ok(manifest.calibration, `${precision} has a calibration`);
      assert.equal(manifest.calibration.part, 'calibration');
      assert.ok(manifest.calibration.frames >= 20);
      assert.deepEqual(await modelProblems(file), []);
      assert.equal(r.calibration[`${precision}/cam`]!.mse_on, manifest.calibration.measures.mse.on_at_fpr);
    }
    assert.equal(r.run, `npx sfn-edge run --source ${video} --model ${r.models.int8}`);
    // train's own outputs, with train's defaults (the recipe holds normal video back)
    assert.ok((await fs.stat(path.join(out, 'train', 'weights.json'))).size > 0);
    const trainLog = await fs.readFile(path.join(out, 'train.log'), 'utf8');
    assert.match(trainLog, /training SFN-Lite/);
    // progress: every stage in order, each ending at 100 % with no time left; training counts its steps
    assert.deepEqual([...new Set(seen.map((p) => p.stage))], [...LEARN_STAGES]);
    for (const s of LEARN_STAGES) {
      const ps = seen.filter((p) => p.stage === s);
      assert.ok(ps.every((p) => p.percent >= 0 && p.percent <= 100));
      assert.equal(ps.at(-1)!.percent, 100, `${s} ends at 100 %`);
      assert.equal(ps.at(-1)!.eta_s, 0);
    }
    assert.ok(seen.some((p) => p.stage === 'train' && p.detail === 'step 2/2'), 'training reports its steps');
    // the checks catch what they are for
    const m8 = (await readManifest(r.models.int8)).manifest;
    const cal = m8.calibration!;
    assert.deepEqual(manifestProblems(m8), []);
    assert.match(manifestProblems({ ...m8, calibration: undefined }).join(), /calibration: missing/);
    assert.match(manifestProblems({ ...m8, parity: { ...m8.parity, relative_rms: 2 * m8.parity.tolerance } }).join(), /parity: relative rms vs fp32 = .* is not within/);
    assert.match(manifestProblems({ ...m8, calibration: { ...cal, patch: { ...cal.patch, rows: cal.patch.rows + 1 } } }).join(), /does not fit the 144x96 model grid/);
    assert.match(manifestProblems({ ...m8, calibration: { ...cal, measures: { ...cal.measures, mse: { ...cal.measures.mse, on_at_fpr: Number.NaN } } } }).join(), /mse statistics are not finite/);
    assert.match(manifestProblems({ ...m8, calibration: { ...cal, measures: { ...cal.measures, 'patch-max': { ...cal.measures['patch-max'], on_at_fpr: -0.5 } } } }).join(), /patch-max threshold .* not above the normal median/);
  });

  it('a second learn into the same folder continues the interrupted training instead of starting over', async () => {
    const out = path.join(dir, 'cam'); // the folder the first test learned into, with 2 steps
    assert.equal(await resumableTraining(path.join(out, 'train'), video), 2);
    const seen: LearnProgress[] = [];
    const r = await runLearnCommand({ source: video, out, maxSteps: 4, progress: false, onProgress: (p) => seen.push(p) }, () => undefined);
    assert.equal(r.train.steps, 4);
    assert.ok(seen.some((p) => p.stage === 'train' && /continuing the training in .* from step 2 \(same data\)/.test(p.detail)), 'says it continues');
    assert.match(await fs.readFile(path.join(out, 'train.log'), 'utf8'), /resumed from checkpoint/);
    // nothing to continue: other data, data changed since, another grid, no checkpoint
    assert.equal(await resumableTraining(path.join(out, 'train'), path.join(dir, 'other.mp4')), null);
    assert.equal(await resumableTraining(path.join(out, 'train'), video, { width: 96, height: 64, color: 'gray' }), null);
    assert.equal(await resumableTraining(path.join(dir, 'nowhere'), video), null);
    const later = new Date(Date.now() + 60_000);
    await fs.utimes(video, later, later);
    assert.equal(await resumableTraining(path.join(out, 'train'), video), null);
  });

  it('records the first seconds of a stream with ffmpeg (stream copy) into a readable file', async () => {
    const progress: number[] = [];
    const rec = await recordStream(video, 3, path.join(dir, 'rec', 'part.mp4'), { onProgress: (s) => progress.push(s) });
    assert.equal(rec.file, path.join(dir, 'rec', 'part.mkv'));
    assert.equal(rec.codec, 'copy');
    assert.ok(rec.seconds > 2 && rec.seconds <= 3, `recorded ${rec.seconds} s`);
    assert.ok(progress.length >= 1 && progress.every((s) => s <= 3));
    const frames = await readAllFrames(rec.file, { width: 36, height: 24, color: 'gray' });
    // a stream copy cuts at packets: up to one GOP (10 frames in the fixture) past the 3 s
    assert.ok(frames.length >= 25 && frames.length <= 41, `${frames.length} frames for 3 s at 10 fps`);
  });

  it('a missing source and an unreachable camera are clear errors', async () => {
    await assert.rejects(runLearn({ source: path.join(dir, 'nope.mp4'), out: path.join(dir, 'x') }), /learn \(record\).*nope\.mp4.*not found/s);
    const port = await freePort();
    await assert.rejects(runLearn({ source: `rtsp://127.0.0.1:${port}/cam`, minutes: 0.05, out: path.join(dir, 'y') }), (err: Error) => {
      assert.match(err.message, /^learn \(record\): rtsp:\/\/127\.0\.0\.1:\d+\/cam: /);
      assert.match(err.message, /Connection refused|no video within/i);
      return true;
    });
    await assert.rejects(runLearn({ source: 'rtsp://127.0.0.1:1/x', minutes: -1, out: path.join(dir, 'z') }), /--minutes must be in/);
  });
});
