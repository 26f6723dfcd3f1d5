import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { OnnxPredictor } from '../../src/inference/predictor.js';
import { TfjsPredictor } from '../../src/model/predictor.js';
import type { SfnConfig } from '../../src/core/model-config.js';
import { maxDiff, quietExport, randomClips, TINY, TINY_RGB, tinyWeights, tmpDir } from '../export/fixtures.js';

for (const [label, partial] of [
  ['gray, shared expert', TINY],
  ['rgb, no shared expert, SFFM residual', TINY_RGB],
] as const) {
  describe(`OnnxPredictor parity vs TfjsPredictor (${label})`, () => {
    let dir: string;
    let onnxP: OnnxPredictor;
    let tfjsP: TfjsPredictor;
    let cfg: SfnConfig;

    before(async () => {
      dir = await tmpDir('predictor');
      const w = await tinyWeights(dir, partial, { seed: 11 });
      cfg = w.cfg;
      const model = path.join(dir, 'tiny.onnx');
      await quietExport({ weights: w.base, out: model });
      onnxP = await OnnxPredictor.load(model, { providers: ['cpu'], batchSize: 4, intraOpThreads: 1 });
      tfjsP = await TfjsPredictor.load(w.base, 8);
    });
    after(async () => {
      await onnxP.dispose();
      tfjsP.dispose();
      await fs.rm(dir, { recursive: true, force: true });
    });

    it('takes spec, name and batch size from the manifest and options', () => {
      assert.deepEqual(onnxP.spec, { width: cfg.width, height: cfg.height, color: cfg.color });
      assert.equal(onnxP.name, 'tiny');
      assert.equal(onnxP.batchSize, 4);
      assert.equal(onnxP.fixedBatch, null);
      assert.equal(onnxP.provider, 'cpu');
    });

    it('same clips, same predictions (max abs diff <= 1e-4), and the body matters', async () => {
      for (const n of [1, 3, 4]) {
        const x = randomClips(cfg, n, 100 + n);
        const got = await onnxP.predict(x, n);
        const ref = await tfjsP.predict(x, n);
        const C = cfg.color === 'gray' ? 1 : 3;
        assert.equal(got.length, n * C * cfg.height * cfg.width);
        const d = maxDiff(got, ref);
        assert.ok(d <= 1e-4, `n=${n}: max abs diff ${d}`);
        // sensitivity: the prediction is far from copy-last, so the parity covers the network body
        const frame = C * cfg.height * cfg.width;
        let fromLast = 0;
        for (let i = 0; i < n; i++) for (let j = 0; j < frame; j++) fromLast = Math.max(fromLast, Math.abs(ref[i * frame + j]! - x[(i * 4 + 3) * frame + j]!));
        assert.ok(fromLast > 0.05, `prediction differs from the last frame by ${fromLast}`);
      }
    });

    it('reads only n clips of a longer (offset) buffer and chunks n > batchSize', async () => {
      const n = 6;
      const x = randomClips(cfg, n + 2, 77);
      const clipLen = x.length / (n + 2);
      const view = x.subarray(clipLen); // offset view: clips 1..7
      const got = await onnxP.predict(view, n);
      const ref = await tfjsP.predict(x.slice(clipLen, clipLen * (n + 1)), n);
      assert.ok(maxDiff(got, ref) <= 1e-4);
    });

    it('rejects short buffers and bad n', async () => {
      const x = randomClips(cfg, 1, 1);
      await assert.rejects(onnxP.predict(x, 2), /clips hold \d+ values, need 2 x/);
      await assert.rejects(onnxP.predict(x, 0), /n must be a positive integer/);
    });
  });
}

describe('OnnxPredictor.load errors', () => {
  it('missing model', async () => {
    await assert.rejects(OnnxPredictor.load('/nonexistent/dir/m.onnx'), /model \/nonexistent\/dir\/m\.onnx not found/);
  });
});
