/**
 * `sfn-edge eval --online --baseline copy-last` as a real process: copy-last calibrated on the
 * normal videos' calibration part and replayed through run's loop and detector, so a model's
 * online figures have a reference. Data: 16 frames of Ped2 test video 02 (86-101: 8 normal, then
 * 8 of the cyclist) and Ped2 training videos 01 and 02 as the normal videos (symlinked).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { startCli } from '../cli-process.js';

const PED2 = path.resolve('../shared/datasets/ucsd_ped2');

describe('eval --online --baseline copy-last', { skip: !existsSync(PED2) && 'Ped2 not available' }, () => {
  let dir = '';
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sfn-online-base-'));
    const labels = JSON.parse(await fs.readFile(path.join(PED2, 'test_frame_labels.json'), 'utf8')) as Record<string, number[]>;
    const out = path.join(dir, 'testing', 'frames', '02');
    await fs.mkdir(out, { recursive: true });
    for (let i = 0; i < 16; i++) await fs.copyFile(path.join(PED2, 'testing', 'frames', '02', `${String(86 + i).padStart(3, '0')}.jpg`), path.join(out, `${String(i).padStart(3, '0')}.jpg`));
    await fs.writeFile(path.join(dir, 'test_frame_labels.json'), JSON.stringify({ '02': labels['02']!.slice(86, 102) }));
    await fs.mkdir(path.join(dir, 'training', 'frames'), { recursive: true });
    for (const v of ['01', '02']) await fs.symlink(path.join(PED2, 'training', 'frames', v), path.join(dir, 'training', 'frames', v));
  });
  after(async () => {
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it('calibrates copy-last on the normal videos and reports the online figures under "online"', async () => {
    const p = startCli(['eval', '--online', '--baseline', 'copy-last', '--dataset', dir, '--json']);
    assert.equal(await p.exited, 0, p.stderr.slice(-8).join('\n'));
    const r = JSON.parse(p.stdout.filter((l) => l.trim()).at(-1)!) as { online: Record<string, unknown> };
    assert.equal(r.online.model, 'copy-last');
    assert.equal(r.online.calibrated, true, 'scored against the calibration, not a running baseline');
    assert.equal(r.online.segments, 1);
    assert.equal(r.online.measure, 'patch-max');
    assert.ok(typeof r.online.micro_auc === 'number' && r.online.micro_auc >= 0 && r.online.micro_auc <= 1);
    // the check parts of the two normal videos (10 % each) give the false events
    assert.equal(r.online.check_frames, 12 + 15);
    assert.equal(typeof r.online.false_events_per_hour, 'number');
  });

  it('refuses --baseline together with --model', async () => {
    const p = startCli(['eval', '--online', '--baseline', 'copy-last', '--model', 'models/fp32/sfn-lite-ped2.onnx', '--dataset', dir]);
    assert.equal(await p.exited, 1);
    assert.match(p.stderr.join('\n'), /--baseline copy-last alone/);
  });
});
