import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { DatasetError, evaluateDataset } from '../../src/eval/evaluate.js';
import { CopyLastPredictor } from '../../src/core/predictor.js';
import { frameMse, patchMaxMse } from '../../src/scoring/error.js';
import { evaluateProtocol } from '../../src/scoring/protocol.js';
import type { FrameSpec } from '../../src/core/frame.js';

const spec: FrameSpec = { width: 6, height: 4, color: 'gray' };
const LEN = 24;

// Synthetic videos: frame t is flat grey t/100, plus a bright 2x2 square at a position that moves
// fast during "anomalous" frames (label 1) and stays put otherwise.
const LABELS: Record<string, number[]> = {
  '01': [0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0],
  '02': [0, 0, 0, 0, 0, 1, 1, 0, 0, 0],
};
function synthFrames(name: string): Float32Array[] {
  const labels = LABELS[name]!;
  let x = 0;
  return labels.map((l, t) => {
    if (l === 1) x = (x + 2) % 4;
    const f = new Float32Array(LEN).fill(t / 100);
    for (let y = 1; y < 3; y++) for (let dx = 0; dx < 2; dx++) f[y * 6 + x + dx] = 0.9;
    return f;
  });
}
const readFrames = async (path: string, s: FrameSpec): Promise<Float32Array[]> => {
  assert.deepEqual(s, spec);
  return synthFrames(basename(path));
};

let root = '';
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'sfn-eval-'));
  for (const v of Object.keys(LABELS)) await mkdir(join(root, 'testing', 'frames', v), { recursive: true });
  await writeFile(join(root, 'test_frame_labels.json'), JSON.stringify(LABELS));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('evaluateDataset (synthetic data, injected frame reader)', () => {
  it('scores both measures from one pass and matches the protocol applied by hand', async () => {
    const p = new CopyLastPredictor(spec, 3); // batch 3 -> uneven last batches
    const progress: number[] = [];
    const r = await evaluateDataset(p, root, {
      sigma: 1,
      measure: 'patch-max',
      patch: 2,
      readFrames,
      onProgress: (e) => progress.push(e.framesScored),
    });
    assert.equal(r.frames, 8 + 6);
    assert.equal(progress.at(-1), 14);
    assert.equal(r.measure, 'patch-max');
    assert.equal(r.stride, 1);
    for (const m of ['mse', 'patch-max'] as const) {
      const perVideo = Object.keys(LABELS).map((name) => {
        const f = synthFrames(name);
        const errors: number[] = [];
        for (let t = 4; t < f.length; t++) {
          errors.push(m === 'mse' ? frameMse(f[t - 1]!, f[t]!) : patchMaxMse(f[t - 1]!, f[t]!, 1, 4, 6, 2, 1));
        }
        return { name, errors, labels: LABELS[name]! };
      });
      const expected = evaluateProtocol(perVideo, { sigma: 1, drop: 4 });
      assert.equal(r.measures[m].micro_auc, expected.microAuc);
      assert.equal(r.measures[m].macro_auc, expected.macroAuc);
      if (m === 'patch-max') {
        assert.equal(r.micro_auc, expected.microAuc);
        assert.deepEqual(r.scores, expected.scores);
        assert.deepEqual(r.per_video, expected.perVideo);
      }
    }
    assert.ok(r.fps > 0 && r.seconds > 0);
  });

  it('evaluates a subset of videos', async () => {
    const r = await evaluateDataset(new CopyLastPredictor(spec), root, { videos: ['02'], readFrames });
    assert.deepEqual(r.per_video.map((v) => v.name), ['02']);
    assert.equal(r.frames, 6);
    await assert.rejects(evaluateDataset(new CopyLastPredictor(spec), root, { videos: ['99'], readFrames }), /test video not found/);
  });

  it('fails clearly on a bad dataset folder', async () => {
    const p = new CopyLastPredictor(spec);
    await assert.rejects(evaluateDataset(p, join(root, 'nope'), { readFrames }), (e: unknown) => e instanceof DatasetError && /testing[/\\]frames: folder not found/.test(e.message));
    const bad = await mkdtemp(join(tmpdir(), 'sfn-eval-bad-'));
    try {
      await mkdir(join(bad, 'testing', 'frames', '01'), { recursive: true });
      await assert.rejects(evaluateDataset(p, bad, { readFrames }), /test_frame_labels.json: cannot read frame labels/);
      await writeFile(join(bad, 'test_frame_labels.json'), JSON.stringify({ '01': [0, 1, 0] }));
      await assert.rejects(evaluateDataset(p, bad, { readFrames }), /12 frames but 3 labels/);
      await writeFile(join(bad, 'test_frame_labels.json'), JSON.stringify({ '02': [0, 1, 0] }));
      await assert.rejects(evaluateDataset(p, bad, { readFrames }), /no labels for video 01/);
    } finally {
      await rm(bad, { recursive: true, force: true });
    }
  });
});

const PED2 = join(import.meta.dirname, '..', '..', '..', 'shared', 'datasets', 'ucsd_ped2');
const haveVideo = existsSync(join(import.meta.dirname, '..', '..', 'src', 'video', 'open.ts'));
describe('evaluateDataset on UCSD Ped2 (real frames)', { skip: !existsSync(PED2) || !haveVideo ? 'dataset or src/video/open.ts missing' : false }, () => {
  it('copy-last on video 01 at 48x32 gives a valid result', async () => {
    const r = await evaluateDataset(new CopyLastPredictor({ width: 48, height: 32, color: 'gray' }), PED2, { videos: ['01'] });
    assert.equal(r.frames, 176);
    assert.ok(r.micro_auc > 0.5 && r.micro_auc <= 1, `micro AUC ${r.micro_auc}`);
    assert.equal(r.macro_auc, r.micro_auc); // one video: micro = macro
  });
});
