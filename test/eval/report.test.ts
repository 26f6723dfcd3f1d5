import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import sharp from 'sharp';

import type { EvaluationResult } from '../../src/eval/evaluate.js';
import { writeReport } from '../../src/eval/report.js';
import { evaluateProtocol } from '../../src/scoring/protocol.js';

function fakeResult(): EvaluationResult {
  const videos = [
    { name: '01', errors: [1, 2, 3, 9, 8, 9, 2, 1], labels: [0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0] },
    { name: '02', errors: [5, 4, 6, 1, 1, 2], labels: [0, 0, 0, 0, 1, 1, 1, 0, 0, 0] },
  ];
  const p = evaluateProtocol(videos, { sigma: 1, drop: 4 });
  const m = {
    micro_auc: p.microAuc,
    macro_auc: p.macroAuc,
    per_video: p.perVideo.map((v) => ({ name: v.name, auc: v.auc, frames: v.frames })),
  };
  return {
    predictor: 'copy-last',
    spec: { width: 8, height: 6, color: 'gray' },
    dataset: '/data/<ped2>',
    sigma: 1,
    drop: 4,
    measure: 'mse',
    patch: 2,
    stride: 1,
    micro_auc: p.microAuc,
    macro_auc: p.macroAuc,
    per_video: p.perVideo,
    measures: { mse: m, 'patch-max': m },
    frames: 14,
    seconds: 0.5,
    fps: 28,
    scores: p.scores,
    labels: p.labels,
  };
}

describe('writeReport', () => {
  it('writes an HTML page and PNGs that sharp can read back', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sfn-report-'));
    try {
      const files = await writeReport(fakeResult(), join(dir, 'out'));
      const html = await readFile(files.html, 'utf8');
      assert.match(html, /<img src="roc.png"/);
      assert.match(html, /timeline-01.png/);
      assert.match(html, /\/data\/&lt;ped2&gt;/); // escaped
      assert.equal(files.timelines.length, 2);
      const roc = await sharp(files.roc).metadata();
      assert.equal(roc.format, 'png');
      assert.equal(roc.width, 480);
      const tl = await sharp(files.timelines[0]!).metadata();
      assert.equal(tl.format, 'png');
      assert.equal(tl.width, 800);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
